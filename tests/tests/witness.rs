//! Witness cosignatures (issue 15, item 3), with the real binaries: `suanli witness` cosigns
//! a growing ledger's checkpoints as `suanlid` asks it to; the cosigned checkpoints pass
//! `log checkpoint` and `log verify` with `--witness-key … --witness-threshold 1`; too few
//! cosignatures are refused. Then a fork made on purpose — the backup restored under the
//! same origin and the same key, claiming that nothing came after it — grows another
//! history: the witness that saw the original refuses to cosign it, says so, and keeps the
//! original's tree, and no auditor requiring its cosignature accepts the fork's checkpoint.
//! Every wait is for a condition (a cosigned checkpoint of a size, a line in a log).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use suanli_core::checkpoint::Checkpoint;
use suanli_core::ledger::InputKind;
use suanli_core::testkit::{self as tk, uscc};
use suanli_core::witness::{CosignerKey, verify_cosignatures};
use suanli_tests::{Grpc, Server, bin, checkpoint_body, code, envelope, now, runtime, text, v1};

/// A running `suanli witness`, its stderr copied to `log`.
struct Witness {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Witness {
    fn start(dir: &Path, name: &str, log_key: &str) -> Witness {
        std::fs::create_dir_all(dir).unwrap();
        let log = dir.join("witness.log");
        let mut child = Command::new(bin("suanli"))
            .args(["witness", "--name", name, "--listen", "127.0.0.1:0", "--log-key", log_key])
            .arg("--key")
            .arg(dir.join("witness.key"))
            .arg("--state")
            .arg(dir.join("witness.state"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn suanli witness");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log_path = log.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut file = std::fs::File::create(&log_path).unwrap();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(file, "{line}");
                let _ = file.flush();
                if let Some(url) = line.split("listening on ").nth(1) {
                    let _ = tx.send(url.split_whitespace().next().unwrap_or("").trim_end_matches('/').to_string());
                }
            }
        });
        let url = rx.recv_timeout(Duration::from_secs(60)).expect("the witness did not listen");
        Witness { child, url, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn witness_vkey(dir: &Path, name: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let out = Command::new(bin("suanli"))
        .args(["witness", "--name", name, "--print-key", "--key"])
        .arg(dir.join("witness.key"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

/// A configuration file naming the witnesses, with fast checkpoints.
fn config(path: &Path, witnesses: &[(&str, &str)]) -> String {
    let mut s = "checkpoint_interval_ms = 200\nwitness_timeout_ms = 5000\n".to_string();
    for (url, key) in witnesses {
        s.push_str(&format!("[[witnesses]]\nurl = \"{url}\"\nkey = \"{key}\"\n"));
    }
    std::fs::write(path, s).unwrap();
    path.to_str().unwrap().to_string()
}

/// Submits usage records `u{from}..u{to}`, each ACCEPTED; returns the log's entry count.
fn submit(server: &Server, from: u64, to: u64) -> u64 {
    runtime().block_on(async {
        let mut g = Grpc::connect(&server.url()).await;
        let end = now() - 7200;
        let envs = (from..to)
            .map(|n| {
                let r = tk::usage_record(&format!("u{n}"), &uscc(1), &uscc(3), "8", "12.50", "100.00", end, None);
                envelope(&tk::sign(InputKind::Usage, &tk::key(11), &r))
            })
            .collect();
        let acks = g.ingest.submit_usage_batch(v1::EnvelopeBatch { envelopes: envs }).await.unwrap().into_inner();
        assert!(acks.acks.iter().all(|a| code(a) == "ACCEPTED"));
        g.log_state().await.0
    })
}

/// The latest checkpoint as served on `/log/checkpoint` (tlog-tiles), over plain HTTP.
fn served_checkpoint(server: &Server) -> String {
    served(server, "/log/checkpoint")
}

/// Waits until the server's `/metrics` has a line containing every one of `parts`.
fn wait_for_metric(server: &Server, parts: &[&str]) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let text = served(server, "/metrics");
        if let Some(line) = text.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
            return line.to_string();
        }
        assert!(std::time::Instant::now() < deadline, "no metric line with {parts:?}:\n{text}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A page of the web listener, over plain HTTP.
fn served(server: &Server, path: &str) -> String {
    let addr = server.web_addr.as_deref().expect("web listener");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    use std::io::{Read, Write};
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, rest) = out.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        // One chunk: size line, data, then the last chunk.
        let (_, data) = rest.split_once("\r\n").unwrap();
        data[..data.rfind("\r\n0\r\n").unwrap()].to_string()
    } else {
        rest.to_string()
    }
}

/// Waits until the served checkpoint covers `size` entries and carries a valid cosignature
/// from `key`, on `/log/checkpoint` and from the gRPC checkpoint call alike.
fn wait_cosigned(server: &Server, key: &CosignerKey, size: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let note = served_checkpoint(server);
        if checkpoint_body(&note).size == size
            && verify_cosignatures(&note, std::slice::from_ref(key)).unwrap().len() == 1
        {
            let grpc = runtime().block_on(async {
                let mut audit = v1::audit_client::AuditClient::connect(server.url()).await.unwrap();
                audit.get_checkpoint(v1::AuditCheckpointRequest { at_or_before: None }).await.unwrap().into_inner()
            });
            assert_eq!(grpc.note, note, "the gRPC checkpoint carries the same cosignatures");
            return note;
        }
        assert!(Instant::now() < deadline, "no cosigned checkpoint of size {size}; served:\n{note}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_for_line(w: &Witness, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let log = w.log();
        if let Some(line) = log.lines().find(|l| l.contains(needle)) {
            return line.to_string();
        }
        assert!(Instant::now() < deadline, "the witness never logged {needle:?}:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// POSTs `body` to the witness's `/add-checkpoint`: (status, content type, body).
fn post(w: &Witness, body: &[u8]) -> (u16, String, String) {
    use std::io::{Read, Write};
    let addr = w.url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /add-checkpoint HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body); // a refused oversized body may be cut short
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let out = text(&out);
    let (head, rest) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type: ").map(str::to_string))
        .unwrap_or_default();
    (status, content_type, rest.to_string())
}

fn cli(server: &Server, args: &[&str]) -> Output {
    server.cli(args)
}

#[test]
fn a_witness_cosigns_one_history_and_refuses_a_fork() {
    let tmp = tempfile::tempdir().unwrap();
    let path = |n: &str| -> PathBuf { tmp.path().join(n) };

    // The ledger first, to learn its verifier key; then the witness following it.
    let source_dir = path("source");
    let mut first = Server::start_in(&source_dir, &[]);
    let log_vkey = first.cli_ok(&["log", "vkey"]).trim().to_string();
    let ledger_key = source_dir.join("ledger.key");
    let pubkey = first.cli_ok(&["pubkey", ledger_key.to_str().unwrap()]).trim().to_string();
    first.stop();
    drop(first);
    let wkey_str = witness_vkey(&path("w1"), "witness.test/w1");
    let wkey = CosignerKey::parse(&wkey_str).unwrap();
    let other_key = witness_vkey(&path("w2"), "witness.test/w2"); // never asked
    let witness = Witness::start(&path("w1"), "witness.test/w1", &log_vkey);
    let cfg = config(&path("source.toml"), &[(&witness.url, &wkey_str)]);
    let source = Server::start_in(&source_dir, &["--config", &cfg]);

    // A growing ledger: every new checkpoint is cosigned.
    runtime().block_on(async {
        let mut g = Grpc::connect(&source.url()).await;
        g.register_provider_and_renter(&source).await;
    });
    let mut size = 0;
    for round in 0..3 {
        size = submit(&source, round * 100, (round + 1) * 100);
        wait_cosigned(&source, &wkey, size);
        wait_for_line(&witness, &format!("size {size} "));
    }

    // What the witness refuses, with the spec's status codes; none of it changes its state.
    let note = served_checkpoint(&source);
    let log_note = format!("{}\n", note.trim_end().rsplit_once('\n').unwrap().0); // without the cosignature
    let (status, content_type, said) = post(&witness, format!("old 0\n\n{log_note}").as_bytes());
    assert_eq!((status, content_type.as_str(), said.clone()), (409, "text/x.tlog.size", format!("{size}\n")));
    assert_eq!(post(&witness, b"old 0\nnot base64\n\n").0, 400);
    assert_eq!(post(&witness, &vec![b'a'; 70 * 1024]).0, 413, "the body is bounded");
    let stranger = suanli_core::note::Signer::new("other.example/log", tk::key(9)).unwrap();
    let other = suanli_core::checkpoint::sign_checkpoint(&Checkpoint::new("other.example/log", 1, [1; 32]), &stranger);
    assert_eq!(post(&witness, format!("old 0\n\n{}", other.unwrap()).as_bytes()).0, 404);
    let origin = checkpoint_body(&note).origin;
    let impostor = suanli_core::note::Signer::new(&origin, tk::key(9)).unwrap();
    let forged = suanli_core::checkpoint::sign_checkpoint(&Checkpoint::new(&origin, size + 1, [1; 32]), &impostor);
    assert_eq!(post(&witness, format!("old {size}\n\n{}", forged.unwrap()).as_bytes()).0, 403);
    wait_for_line(&witness, "REFUSED (403)");
    let state = std::fs::read_to_string(path("w1").join("witness.state")).unwrap();
    assert!(state.contains(&format!("\"size\": {size}")), "{state}");

    let backup = path("ledger.backup");
    let out = source.cli_ok(&["backup", "--out", backup.to_str().unwrap()]);
    assert!(out.contains("backed up"), "{out}");
    let backup_cp = format!("{}.checkpoint", backup.display());
    let later = submit(&source, 300, 400);
    assert!(later > size);
    wait_cosigned(&source, &wkey, later);

    // An auditor requiring the witness: the checkpoint passes, and so does the export.
    let out = cli(&source, &["log", "checkpoint", "--witness-key", &wkey_str, "--witness-threshold", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("witnessed: 1 of 1 witnesses"), "{}", text(&out.stderr));
    let cp_note = text(&out.stdout);
    assert_eq!(checkpoint_body(&cp_note).size, later);
    let cp_file = path("audited.cp");
    std::fs::write(&cp_file, &cp_note).unwrap();
    let export = path("ledger.export");
    source.cli_ok(&["log", "export", "--out", export.to_str().unwrap(), "--to", &later.to_string()]);
    let verify = |extra: &[&str]| {
        let mut args = vec!["log", "verify", "--export", export.to_str().unwrap(), "--checkpoint"];
        args.extend([cp_file.to_str().unwrap(), "--ledger-pubkey", &pubkey]);
        args.extend_from_slice(extra);
        cli(&source, &args)
    };
    let out = verify(&["--witness-key", &wkey_str, "--witness-threshold", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.starts_with("verified: "), "SPEC §11 lines stay first: {said}");
    assert!(
        said.contains("witnessed: 1 of 1 witnesses cosigned the checkpoint (threshold 1): witness.test/w1"),
        "{said}"
    );

    // Threshold not met: a witness that never cosigned, or more cosignatures than there are.
    let out = verify(&["--witness-key", &other_key]);
    assert!(!out.status.success(), "a checkpoint without the required cosignature passed");
    assert!(text(&out.stderr).contains("not enough witness cosignatures"), "{}", text(&out.stderr));
    let out = verify(&["--witness-key", &wkey_str, "--witness-key", &other_key, "--witness-threshold", "2"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("1 of the 2"), "{}", text(&out.stderr));
    let out = cli(&source, &["log", "checkpoint", "--witness-key", &other_key]);
    assert!(!out.status.success() && out.stdout.is_empty(), "{}", text(&out.stdout));
    // A tampered cosignature under the trusted key is refused loudly, not skipped.
    let line_start = cp_note.find("\u{2014} witness.test/w1 ").unwrap();
    let mut tampered = cp_note.clone();
    let at = line_start + "\u{2014} witness.test/w1 ".len() + 20;
    let c = if &tampered[at..at + 1] == "A" { "B" } else { "A" };
    tampered.replace_range(at..at + 1, c);
    std::fs::write(&cp_file, &tampered).unwrap();
    let out = verify(&["--witness-key", &wkey_str]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("witness cosignature on the checkpoint is invalid"), "{}", text(&out.stderr));
    // In Chinese when the locale is Chinese.
    std::fs::write(&cp_file, &cp_note).unwrap();
    let mut args = vec!["log", "verify", "--export", export.to_str().unwrap(), "--checkpoint"];
    args.extend([cp_file.to_str().unwrap(), "--ledger-pubkey", &pubkey, "--witness-key", &other_key]);
    let out = Command::new(bin("suanli")).args(&args).env("LANG", "zh_CN.UTF-8").env("LC_ALL", "").output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("见证联署不足"), "{}", text(&out.stderr));

    // The fork: the backup restored under the same origin and key, its operator claiming
    // that the backup's checkpoint is the newest; it then grows another history, longer
    // than the one the witness saw.
    let fork_dir = path("fork");
    let out = Command::new(bin("suanlid"))
        .args(["restore", "--from", backup.to_str().unwrap(), "--ledger-key", ledger_key.to_str().unwrap()])
        .args(["--latest-checkpoint", &backup_cp, "--data-dir", fork_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let fork_cfg = config(&path("fork.toml"), &[(&witness.url, &wkey_str)]);
    let fork = Server::start_in(&fork_dir, &["--config", &fork_cfg]);
    let fork_size = submit(&fork, 5000, 5250);
    assert!(fork_size > later, "the fork outgrows the original ({fork_size} vs {later})");
    let refusal = wait_for_line(&witness, &format!("from size {later} to {fork_size}"));
    assert!(refusal.contains("REFUSED (422)") && refusal.contains("does not verify"), "{refusal}");
    // It never got a cosignature, by any path; the auditor's check refuses it.
    let note = served_checkpoint(&fork);
    assert_eq!(checkpoint_body(&note).size, fork_size);
    assert!(verify_cosignatures(&note, std::slice::from_ref(&wkey)).unwrap().is_empty(), "{note}");
    let out = cli(&fork, &["log", "checkpoint", "--witness-key", &wkey_str, "--witness-threshold", "1"]);
    assert!(!out.status.success(), "the fork's checkpoint passed the witness check");
    assert!(text(&out.stderr).contains("not enough witness cosignatures"), "{}", text(&out.stderr));
    // The fork's operator hears of it too.
    let fork_log = std::fs::read_to_string(&fork.log).unwrap();
    assert!(fork_log.contains("the witness refused the checkpoint"), "{fork_log}");
    wait_for_metric(&fork, &["suanli_witness_calls_total{", "outcome=\"refused\""]);
    // The witness still holds the original's tree, and goes on cosigning the original.
    let state = std::fs::read_to_string(path("w1").join("witness.state")).unwrap();
    assert!(state.contains(&format!("\"size\": {later}")), "{state}");
    let grown = submit(&source, 400, 450);
    wait_cosigned(&source, &wkey, grown);
    // The original's operator sees the witness on /metrics: cosigned calls and the size.
    wait_for_metric(&source, &["suanli_witness_calls_total{", "outcome=\"cosigned\""]);
    wait_for_metric(&source, &["suanli_witness_cosigned_size{", &format!("}} {grown}")]);
    assert!(!witness.log().contains(&format!("cosigned {} size {fork_size}", checkpoint_body(&note).origin)));
}
