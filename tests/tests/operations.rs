//! Running suanlid for real: configuration checks, TLS (and client certificates), the
//! Prometheus metrics listener, and online backup and restore — each through the real
//! binaries, as an operator would use them.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use suanli_tests::{Example, Server, bin, cli_at, metric_samples, metrics_http, scrape_metrics, text};

fn suanlid(args: &[&str]) -> std::process::Output {
    Command::new(bin("suanlid")).args(args).output().expect("run suanlid")
}

/// `suanlid restore --from FROM [--checkpoint CP] --ledger-key KEY --data-dir DIR EXTRA…`.
fn restore(
    from: &Path,
    checkpoint: Option<&Path>,
    ledger_key: &Path,
    data_dir: &Path,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec!["restore", "--from", from.to_str().unwrap()];
    if let Some(cp) = checkpoint {
        args.extend(["--checkpoint", cp.to_str().unwrap()]);
    }
    args.extend(["--ledger-key", ledger_key.to_str().unwrap(), "--data-dir", data_dir.to_str().unwrap()]);
    args.extend_from_slice(extra);
    suanlid(&args)
}

#[test]
fn check_config_accepts_good_files_and_names_the_bad_field() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "data_dir = \"/var/lib/suanli\"\nlisten = \"0.0.0.0:7420\"\nmetrics_listen = \"127.0.0.1:9464\"\n\
         checkpoint_interval_ms = 1000\n[limits]\nconnections_max = 256\n",
    )
    .unwrap();
    let out = suanlid(&["--config", good.to_str().unwrap(), "--check-config"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "configuration is valid");

    let cases: &[(&str, &str)] = &[
        ("listen = \"nowhere\"\n", "listen"),
        ("bogus_field = 1\n", "bogus_field"),
        ("[limits]\nconnections_max = 0\n", "limits.connections_max"),
        ("metrics_listen = \"x:y\"\n", "metrics_listen"),
        ("[tls]\ncert = \"server.crt\"\n", "tls.key"),
        ("[tls]\nclient_ca = \"ca.crt\"\n", "tls.client_ca"),
        ("[tls]\ncert = \"/nonexistent/server.crt\"\nkey = \"/nonexistent/server.key\"\n", "/nonexistent/server.crt"),
    ];
    for (body, needle) in cases {
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, body).unwrap();
        let out = suanlid(&["--config", bad.to_str().unwrap(), "--check-config"]);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{body:?} was accepted");
        assert!(err.contains(needle), "{body:?}: the error should name {needle:?}: {err}");
    }
    // A flag overrides the file, and is checked the same way.
    let out = suanlid(&["--config", good.to_str().unwrap(), "--listen", "bad", "--check-config"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("listen"));
}

/// A CA, a server certificate for localhost/127.0.0.1 and a client certificate, as PEM files.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, pem: String| std::fs::write(dir.path().join(name), pem).unwrap();

        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.distinguished_name.push(DnType::CommonName, "suanli test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        write("ca.crt", ca_cert.pem());
        let ca = Issuer::new(ca_params, ca_key);

        let mut server = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        server.distinguished_name.push(DnType::CommonName, "suanlid");
        let server_key = KeyPair::generate().unwrap();
        write("server.crt", server.signed_by(&server_key, &ca).unwrap().pem());
        write("server.key", server_key.serialize_pem());

        let mut client = CertificateParams::new(Vec::<String>::new()).unwrap();
        client.distinguished_name.push(DnType::CommonName, "compute center 91350100M000100Y43");
        client.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let client_key = KeyPair::generate().unwrap();
        write("client.crt", client.signed_by(&client_key, &ca).unwrap().pem());
        write("client.key", client_key.serialize_pem());

        // A certificate from a CA the server does not trust.
        let mut stranger = CertificateParams::new(Vec::<String>::new()).unwrap();
        stranger.distinguished_name.push(DnType::CommonName, "stranger");
        let stranger_key = KeyPair::generate().unwrap();
        write("stranger.crt", stranger.self_signed(&stranger_key).unwrap().pem());
        write("stranger.key", stranger_key.serialize_pem());
        Pki { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }
}

fn register_args<'a>(admin: &'a str, id: &'a str) -> Vec<&'a str> {
    vec!["entity", "register", "--key", admin, "--id", id, "--name", "TLS test", "--renter-eligible"]
}

#[test]
fn tls_serves_https_and_can_require_client_certificates() {
    let pki = Pki::new();
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key, ca) = (pki.path("server.crt"), pki.path("server.key"), pki.path("ca.crt"));
    let server = Server::start_in(&tmp.path().join("a"), &["--tls-cert", &cert, "--tls-key", &key]);
    let admin = server.admin_key().to_string_lossy().into_owned();
    let https = format!("https://{}", server.addr);
    let id1 = suanli_core::testkit::uscc(1).to_string();

    let out = cli_at(&https, &[&["--ca", &ca][..], &register_args(&admin, &id1)].concat(), None);
    assert!(out.status.success(), "over TLS with the CA: {}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("ACCEPTED seq="));

    // Without the CA the client says what is missing; plain HTTP gets no answer.
    let out = cli_at(&https, &["log", "checkpoint"], None);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--ca"), "{}", text(&out.stderr));
    let out = cli_at(&format!("http://{}", server.addr), &["log", "checkpoint"], None);
    assert!(!out.status.success(), "plain HTTP/2 must not be served on a TLS port");
    assert!(text(&out.stderr).contains("https://"), "the client suggests https://: {}", text(&out.stderr));
    // The server logs the handshakes it refused.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !file_text(&server.log).contains("tls accept error") {
        assert!(Instant::now() < deadline, "no refused handshake in the log:\n{}", file_text(&server.log));
        std::thread::sleep(Duration::from_millis(50));
    }
    // A CA that did not sign the server's certificate is refused.
    let out = cli_at(&https, &["--ca", &pki.path("stranger.crt"), "log", "checkpoint"], None);
    assert!(!out.status.success(), "a server certificate from an untrusted CA was accepted");

    // Mutual TLS: the same CA signs client certificates.
    let server =
        Server::start_in(&tmp.path().join("b"), &["--tls-cert", &cert, "--tls-key", &key, "--tls-client-ca", &ca]);
    let admin = server.admin_key().to_string_lossy().into_owned();
    let https = format!("https://{}", server.addr);
    let out = cli_at(&https, &[&["--ca", &ca][..], &register_args(&admin, &id1)].concat(), None);
    assert!(!out.status.success(), "a client without a certificate was served");
    assert!(text(&out.stderr).contains("--client-cert"), "{}", text(&out.stderr));
    let out = cli_at(
        &https,
        &[
            &["--ca", &ca, "--client-cert", &pki.path("stranger.crt"), "--client-key", &pki.path("stranger.key")][..],
            &register_args(&admin, &id1),
        ]
        .concat(),
        None,
    );
    assert!(!out.status.success(), "a client certificate from an untrusted CA was accepted");
    assert!(text(&out.stderr).contains("CA"), "the client names the CA: {}", text(&out.stderr));
    let out = cli_at(
        &https,
        &[
            &["--ca", &ca, "--client-cert", &pki.path("client.crt"), "--client-key", &pki.path("client.key")][..],
            &register_args(&admin, &id1),
        ]
        .concat(),
        None,
    );
    assert!(out.status.success(), "with a client certificate: {}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("ACCEPTED seq="));
}

/// The address after `metrics listening on ` in the server's log.
fn metrics_addr(server: &Server) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = std::fs::read_to_string(&server.log).unwrap_or_default();
        if let Some(rest) = log.split("metrics listening on ").nth(1) {
            return rest.lines().next().unwrap().trim().to_string();
        }
        assert!(Instant::now() < deadline, "no metrics address in the log:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn metrics_count_what_was_submitted() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_in(&tmp.path().join("data"), &["--metrics-listen", "127.0.0.1:0"]);
    let addr = metrics_addr(&server);
    let ex = Example::setup(&server);
    let csv = ex.csv(
        "m.csv",
        &[
            ("m1", &ex.p, &ex.r1, "1000", "12500.00", ""),
            ("m2", &ex.p, &ex.o, "8", "100.00", "V1"),
            ("m3", &ex.p, &ex.r1, "8", "99.00", ""),
        ],
    );
    let first = server.cli_ok(&["usage", "submit", "--key", &ex.p_key, "--csv", &csv]);
    let again = server.cli_ok(&["usage", "submit", "--key", &ex.p_key, "--csv", &csv]);
    assert!(first.contains("m3,REJECTED,,,,,AMOUNT_MISMATCH"), "{first}");
    assert!(again.contains("m1,DUPLICATE"), "{again}");
    let last_seq: u64 =
        first.lines().find(|l| l.starts_with("m2,")).unwrap().split(',').nth(2).unwrap().parse().unwrap();

    // Before any input of a kind, its counters are there, at zero.
    let m = scrape_metrics(&addr);
    assert_eq!(m.get("suanli_inputs_total{kind=\"corpus\",outcome=\"accepted\"}").map(String::as_str), Some("0"));
    let get = |k: &str| m.get(k).cloned().unwrap_or_else(|| panic!("{k} missing from:\n{m:#?}"));
    let num = |k: &str| get(k).parse::<f64>().unwrap_or_else(|e| panic!("{k}: {e}"));
    assert_eq!(get("suanli_inputs_total{kind=\"usage\",outcome=\"accepted\"}"), "2");
    assert_eq!(get("suanli_inputs_total{kind=\"usage\",outcome=\"duplicate\"}"), "2");
    assert_eq!(get("suanli_inputs_total{kind=\"usage\",outcome=\"rejected\"}"), "2");
    assert_eq!(get("suanli_inputs_rejected_total{kind=\"usage\",reason=\"AMOUNT_MISMATCH\"}"), "2");
    // Example::setup: 5 registrations, 3 keys and a voucher (admin), one authorization (holder).
    assert_eq!(get("suanli_inputs_total{kind=\"admin\",outcome=\"accepted\"}"), "9");
    assert_eq!(get("suanli_inputs_total{kind=\"holder\",outcome=\"accepted\"}"), "1");
    assert_eq!(get("suanli_log_entries"), (last_seq + 1).to_string());
    // m1: R 3750.00, S 1250.00; m2: V 100.00 (covered), S 10.00.
    assert_eq!(num("suanli_subsidy_granted_yuan{line=\"renter\",year=\"2026\"}"), 3750.0);
    assert_eq!(num("suanli_subsidy_granted_yuan{line=\"supplier\",year=\"2026\"}"), 1260.0);
    assert_eq!(num("suanli_voucher_drawn_yuan{kind=\"compute\"}"), 100.0);
    assert_eq!(num("suanli_voucher_face_value_yuan{kind=\"compute\"}"), 200000.0);
    assert_eq!(num("suanli_cap_utilisation_max_ratio{line=\"renter\",year=\"2026\"}"), 0.0019);
    assert_eq!(num("suanli_cap_exhausted_entities{line=\"renter\",year=\"2026\"}"), 0.0);
    // Every accepted entry went through a group commit, and every answer was timed.
    assert_eq!(num("suanli_commit_entries_sum"), last_seq as f64, "entries committed after genesis");
    let acks = num("suanli_ack_seconds_count");
    assert!(acks >= 12.0, "{acks} acks timed");
    // Each acknowledged chunk is also timed stage by stage, and no stage takes longer than
    // the whole acknowledgement.
    for stage in ["verify", "sequencer_queue", "decide", "commit_queue", "commit"] {
        assert_eq!(num(&format!("suanli_stage_seconds_count{{stage=\"{stage}\"}}")), acks, "{stage}");
        let (part, whole) =
            (num(&format!("suanli_stage_seconds_sum{{stage=\"{stage}\"}}")), num("suanli_ack_seconds_sum"));
        assert!(part >= 0.0 && part <= whole, "{stage}: {part} s of {whole} s");
    }
    // The sled store's index: the records accepted are in at least one run, and the
    // merges running are reported (how many depends on the moment).
    assert!(num("suanli_index_runs{index=\"record\"}") >= 1.0, "{m:#?}");
    assert!(num("suanli_index_runs{index=\"request\"}") >= 0.0, "{m:#?}");
    assert!(num("suanli_index_merges_running") >= 0.0, "{m:#?}");
    // The admission gate: idle, nothing in flight, and its limit at least the floor.
    assert_eq!(num("suanli_admission_in_flight"), 0.0, "{m:#?}");
    assert!(num("suanli_admission_limit") >= 4.0, "{m:#?}");
    // The process and the build.
    assert!(num("process_resident_memory_bytes") > 0.0 && num("process_open_fds") > 0.0);
    assert!(num("process_cpu_seconds_total") >= 0.0 && num("process_start_time_seconds") > 1.7e9);
    assert!(m.keys().any(|k| k.starts_with("suanli_build_info{version=")), "{m:#?}");
    // Prometheus asks for OpenMetrics and gets it; HEAD is answered without a body.
    let (head, body) =
        metrics_http(&addr, "GET", Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"));
    assert!(head.contains("application/openmetrics-text; version=1.0.0"), "{head}");
    assert!(body.ends_with("# EOF\n"), "{body}");
    let om = metric_samples(&body, true);
    assert_eq!(om.get("suanli_inputs_total{kind=\"usage\",outcome=\"accepted\"}").map(String::as_str), Some("2"));
    let (head, body) = metrics_http(&addr, "HEAD", None);
    assert!(head.contains("text/plain; version=0.0.4") && body.is_empty(), "{head}\n{body}");
    assert_eq!(get("suanli_commit_seconds_bucket{le=\"+Inf\"}"), get("suanli_commit_seconds_count"));

    // Anything but /metrics is not found.
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.write_all(b"GET /other HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
    let mut r = String::new();
    conn.read_to_string(&mut r).unwrap();
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
}

fn file_text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The size and root lines of a signed checkpoint note.
fn size_and_root(note: &str) -> (String, String) {
    let mut lines = note.lines().skip(1);
    (lines.next().unwrap().to_string(), lines.next().unwrap().to_string())
}

#[test]
fn backup_while_records_arrive_restores_the_same_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_in(&tmp.path().join("source"), &[]);
    let ex = Example::setup(&server);
    let url = server.url();
    // Load: batches of records keep arriving before, during and after the backup.
    use std::sync::atomic::{AtomicUsize, Ordering};
    let sent = std::sync::Arc::new(AtomicUsize::new(0));
    let stop_at = std::sync::Arc::new(AtomicUsize::new(usize::MAX));
    let csvs: Vec<String> = (0..40)
        .map(|b| {
            // 8 to 17 GPU-hours at 12.50 yuan each.
            let owned: Vec<(String, String, String)> = (0..10u64)
                .map(|i| {
                    let gh = 8 + i;
                    let amount = format!("{}.{}", gh * 25 / 2, if gh % 2 == 1 { "50" } else { "00" });
                    (format!("b{b}r{i}"), gh.to_string(), amount)
                })
                .collect();
            let rows: Vec<_> = owned
                .iter()
                .map(|(id, gh, a)| (id.as_str(), ex.p.as_str(), ex.r1.as_str(), gh.as_str(), a.as_str(), ""))
                .collect();
            ex.csv(&format!("load{b}.csv"), &rows)
        })
        .collect();
    let load = {
        let (sent, stop_at, url, key) = (sent.clone(), stop_at.clone(), url.clone(), ex.p_key.clone());
        std::thread::spawn(move || {
            for csv in csvs {
                if sent.load(Ordering::SeqCst) >= stop_at.load(Ordering::SeqCst) {
                    break;
                }
                let out = cli_at(&url, &["usage", "submit", "--key", &key, "--csv", &csv], None);
                assert!(out.status.success(), "{}", text(&out.stderr));
                assert!(!text(&out.stdout).contains("REJECTED"), "{}", text(&out.stdout));
                sent.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while sent.load(Ordering::SeqCst) < 2 {
        assert!(Instant::now() < deadline, "the load did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let backup = tmp.path().join("ledger.backup");
    let out = server.cli_ok(&["backup", "--out", backup.to_str().unwrap()]);
    assert!(out.contains("backed up"), "{out}");
    // Two more batches after the backup, so the source is ahead of it.
    stop_at.store(sent.load(Ordering::SeqCst) + 2, Ordering::SeqCst);
    load.join().unwrap();
    let note = file_text(&PathBuf::from(format!("{}.checkpoint", backup.display())));
    let (size_line, _) = size_and_root(&note);
    let size: u64 = size_line.parse().unwrap();

    // Refusals: the wrong key, and a directory that already holds a ledger.
    let restored_dir = tmp.path().join("restored");
    let ledger_key = server.data_dir.join("ledger.key");
    let wrong = restore(&backup, None, &server.admin_key(), &restored_dir, &["--backup-is-latest"]);
    assert!(!wrong.status.success(), "restored with the admin key as the ledger key");
    assert!(text(&wrong.stderr).contains("not signed by the given ledger key"), "{}", text(&wrong.stderr));
    let busy = restore(&backup, None, &ledger_key, &server.data_dir, &["--backup-is-latest"]);
    assert!(!busy.status.success(), "restored over a live ledger");
    assert!(text(&busy.stderr).contains("new data directory"), "{}", text(&busy.stderr));

    // A damaged backup (one byte of the last entry changed) is refused, and leaves nothing behind.
    let damaged = tmp.path().join("damaged.backup");
    let mut bytes = std::fs::read(&backup).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&damaged, bytes).unwrap();
    let damaged_dir = tmp.path().join("damaged");
    let checkpoint = PathBuf::from(format!("{}.checkpoint", backup.display()));
    let out = restore(&damaged, Some(&checkpoint), &ledger_key, &damaged_dir, &["--backup-is-latest"]);
    assert!(!out.status.success(), "a damaged backup was restored: {}", text(&out.stdout));
    assert!(text(&out.stderr).contains("suanlid: error:"), "{}", text(&out.stderr));
    assert!(!damaged_dir.join("store").exists() && !damaged_dir.join("ledger.key").exists());

    // A checkpoint signed by the right key but naming another root: the replay matches
    // rule by rule, and the root check still refuses it.
    let origin = note.lines().next().unwrap().to_string();
    let signer = suanli_core::note::Signer::new(&origin, Server::read_key(&ledger_key)).unwrap();
    let forged = suanli_core::checkpoint::Checkpoint::new(origin, size, [7u8; 32]);
    let forged_path = tmp.path().join("forged.checkpoint");
    std::fs::write(&forged_path, suanli_core::checkpoint::sign_checkpoint(&forged, &signer).unwrap()).unwrap();
    let out = restore(&backup, Some(&forged_path), &ledger_key, &damaged_dir, &["--backup-is-latest"]);
    assert!(!out.status.success(), "restored against a checkpoint with another root");
    assert!(text(&out.stderr).contains("differs from the checkpoint's"), "{}", text(&out.stderr));
    assert!(!damaged_dir.join("store").exists());

    let (g, _) = size_and_root(&server.cli_ok(&["log", "checkpoint"]));
    assert!(g.parse::<u64>().unwrap() > size, "the source did not grow after the backup");

    // The source moved past the backup: the restore catches up from a later export, to the
    // source's newest checkpoint (its checkpoint.latest), so the two never fork (issue 15).
    let later = tmp.path().join("later.export");
    server.cli_ok(&["log", "export", "--out", later.to_str().unwrap()]);
    let latest = server.data_dir.join("checkpoint.latest");
    let catch_up = ["--latest-checkpoint", latest.to_str().unwrap(), "--catch-up", later.to_str().unwrap()];
    let ok = restore(&backup, None, &ledger_key, &restored_dir, &catch_up);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let later_note = file_text(&PathBuf::from(format!("{}.checkpoint", later.display())));
    let (later_size, later_root) = size_and_root(&later_note);
    assert!(text(&ok.stdout).contains(&format!("restored {later_size} entries")), "{}", text(&ok.stdout));

    let restored = Server::start_in(&restored_dir, &[]);
    // The restored log has the source's root at the source's size.
    let pubkey = server.cli_ok(&["pubkey", ledger_key.to_str().unwrap()]).trim().to_string();
    let cp = restored.cli_ok(&["log", "checkpoint", "--ledger-pubkey", &pubkey]);
    assert_eq!(size_and_root(&cp), (later_size, later_root), "restored checkpoint:\n{cp}");
    // Reports as of the backup's last entry are identical, byte for byte (signature too).
    let as_of = (size - 1).to_string();
    let report = |s: &Server, name: &str| {
        let out = tmp.path().join(name);
        s.cli_ok(&[
            "report",
            "annual",
            "--key",
            &ex.finance_key,
            "--year",
            "2026",
            "--out",
            out.to_str().unwrap(),
            "--as-of",
            &as_of,
        ]);
        (file_text(&out), file_text(&PathBuf::from(format!("{}.sig", out.display()))))
    };
    let (a, b) = (report(&server, "source.csv"), report(&restored, "restored.csv"));
    assert!(a.0.lines().count() > 2, "{}", a.0);
    assert_eq!(a, b, "the annual report as of entry {as_of} differs after restore");
    // Deduplication survived: a record from the backup is a duplicate on the restored ledger.
    let csv = ex.csv("again.csv", &[("b0r0", &ex.p, &ex.r1, "8", "100.00", "")]);
    let out = restored.cli_ok(&["usage", "submit", "--key", &ex.p_key, "--csv", &csv]);
    assert!(out.contains("b0r0,DUPLICATE"), "{out}");
    // The whole restored log verifies offline.
    let export = tmp.path().join("restored.export");
    restored.cli_ok(&["log", "export", "--out", export.to_str().unwrap()]);
    let v = restored.cli_ok(&[
        "log",
        "verify",
        "--export",
        export.to_str().unwrap(),
        "--checkpoint",
        &format!("{}.checkpoint", export.display()),
        "--ledger-pubkey",
        &pubkey,
        "--old-checkpoint",
        &format!("{}.checkpoint", backup.display()),
    ]);
    assert!(!v.is_empty());
}
