//! Mirrors (issue 15 item 2), with the real binaries: `suanlid --mirror-of URL` follows a
//! primary's log over its C2SP tlog-tiles, verifies every entry and serves it read-only.
//! The primary is killed (-9) mid-stream: the mirror holds every entry of the checkpoint
//! it serves, which is one the primary signed, answers inclusion proofs, and an old backup
//! of the primary restored with catch-up from the mirror reaches the original's root. A
//! mirror refuses writes, and refuses (and stops following) a forked primary.
//!
//! Every wait is for a condition, with a deadline; none is for a duration.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use suanli_core::checkpoint::Checkpoint;
use suanli_core::ledger::InputKind;
use suanli_core::merkle::verify_inclusion;
use suanli_core::note::{Verifier, open_note};
use suanli_core::testkit::{self as tk, uscc};
use suanli_tests::{Grpc, Server, bin, checkpoint_body, code, envelope, now, runtime, text, v1};

const DEADLINE: Duration = Duration::from_secs(120);

/// `GET path` on a web listener: (status, body).
fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = text(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").expect("a response head");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

/// A metric's value on a server's `/metrics`.
fn metric(server: &Server, name: &str) -> Option<f64> {
    let (status, body) = http_get(server.web_addr.as_deref().unwrap(), "/metrics");
    assert_eq!(status, 200);
    body.lines()
        .find(|l| l.split(' ').next() == Some(name))
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|v| v.parse().ok())
}

/// Waits until `cond` holds, polling, or fails the test after [`DEADLINE`].
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn mirror_of(primary: &Server) -> String {
    format!("http://{}", primary.web_addr.as_deref().unwrap())
}

fn batch(tag: &str, from: u64, to: u64) -> v1::EnvelopeBatch {
    let end = now() - 7200;
    let envelopes = (from..to)
        .map(|n| {
            let r = tk::usage_record(&format!("{tag}{n}"), &uscc(1), &uscc(3), "8", "12.50", "100.00", end, None);
            envelope(&tk::sign(InputKind::Usage, &tk::key(11), &r))
        })
        .collect();
    v1::EnvelopeBatch { envelopes }
}

async fn submit(g: &mut Grpc, tag: &str, from: u64, to: u64) {
    let mut i = from;
    while i < to {
        let upto = (i + 500).min(to);
        let acks = g.ingest.submit_usage_batch(batch(tag, i, upto)).await.unwrap().into_inner();
        assert!(acks.acks.iter().all(|a| code(a) == "ACCEPTED"));
        i = upto;
    }
}

fn suanlid(args: &[&str]) -> Output {
    Command::new(bin("suanlid")).args(args).output().expect("run suanlid")
}

/// The mirror's served checkpoint, its signature checked with the primary's key.
fn served_checkpoint(mirror: &Server, vkey: &Verifier) -> (String, Checkpoint) {
    let (status, note) = http_get(mirror.web_addr.as_deref().unwrap(), "/log/checkpoint");
    assert_eq!(status, 200, "{note}");
    open_note(&note, std::slice::from_ref(vkey)).expect("the mirror serves a checkpoint the primary signed");
    let cp = checkpoint_body(&note);
    (note, cp)
}

#[test]
fn a_mirror_keeps_what_the_primary_signed_and_a_restore_catches_up_from_it() {
    let tmp = tempfile::tempdir().unwrap();
    let path = |n: &str| -> PathBuf { tmp.path().join(n) };
    let mut primary = Server::start_in(&path("primary"), &[]);
    let rt = runtime();
    rt.block_on(async {
        let mut g = Grpc::connect(&primary.url()).await;
        g.register_provider_and_renter(&primary).await;
        submit(&mut g, "u", 0, 300).await;
    });
    let backup = path("primary.backup");
    primary.cli_ok(&["backup", "--out", backup.to_str().unwrap()]);
    let vkey = Verifier::parse(primary.cli_ok(&["log", "vkey"]).trim()).unwrap();
    let ledger_key = primary.data_dir.join("ledger.key");

    let mirror = Server::start_in(&path("mirror"), &["--mirror-of", &mirror_of(&primary)]);
    assert!(!path("mirror").join("ledger.key").exists(), "a mirror holds no ledger key");

    // (c) A mirror refuses every write, saying why.
    rt.block_on(async {
        let mut m = Grpc::connect(&mirror.url()).await;
        let e = m.ingest.submit_usage_batch(batch("m", 0, 2)).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
        assert!(e.message().contains("read-only mirror of http://"), "{}", e.message());
        let stream = tokio_stream::iter(batch("m", 2, 3).envelopes);
        let e = m.ingest.submit_usage(stream).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
        let admin = Server::read_key(&primary.admin_key());
        let reg = envelope(&tk::admin(
            &admin,
            "m1",
            tk::register(&uscc(5), "X", tk::flags(true, false, false, false, false), None),
        ));
        let e = m.registry.apply(reg).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
    });

    // (a) Stream records into the primary and kill it (-9) while they flow.
    let streamer = {
        let url = primary.url();
        std::thread::spawn(move || {
            runtime().block_on(async {
                let mut g = Grpc::connect(&url).await;
                let mut i = 1000;
                loop {
                    match g.ingest.submit_usage_batch(batch("s", i, i + 100)).await {
                        Ok(_) => i += 100,
                        Err(_) => return i,
                    }
                }
            })
        })
    };
    wait_for("the mirror to follow the stream", || metric(&mirror, "suanli_mirror_entries").unwrap_or(0.0) >= 1500.0);
    primary.kill();
    let sent = streamer.join().unwrap();
    assert!(sent > 1000, "the stream was running when the primary died");
    let errors = metric(&mirror, "suanli_mirror_errors_total").unwrap_or(0.0);
    wait_for("the mirror to notice the primary is gone", || {
        metric(&mirror, "suanli_mirror_errors_total").unwrap_or(0.0) > errors
    });

    // Everything the mirror holds is covered by the checkpoint it serves, one the primary signed.
    let (note, cp) = served_checkpoint(&mirror, &vkey);
    assert_eq!(metric(&mirror, "suanli_mirror_entries"), Some(cp.size as f64));
    assert!(cp.size > 1300, "{cp:?}");
    let (m_info, proof) = rt.block_on(async {
        let mut m = Grpc::connect(&mirror.url()).await;
        let info = m.ledger.get_info(v1::InfoRequest {}).await.unwrap().into_inner();
        let mut audit = v1::audit_client::AuditClient::connect(mirror.url()).await.unwrap();
        let proof = audit
            .get_inclusion_proof(v1::InclusionProofRequest {
                leaf: Some(v1::inclusion_proof_request::Leaf::Index(cp.size - 7)),
                tree_size: 0,
            })
            .await
            .unwrap()
            .into_inner();
        (info, proof)
    });
    assert_eq!(m_info.entry_count, cp.size);
    assert_eq!(proof.tree_size, cp.size);
    let hashes: Vec<[u8; 32]> = proof.hashes.iter().map(|h| h.as_slice().try_into().unwrap()).collect();
    let leaf: [u8; 32] = proof.leaf_hash.as_slice().try_into().unwrap();
    verify_inclusion(&leaf, cp.size - 7, cp.size, &hashes, &cp.root).expect("the mirror's inclusion proof verifies");

    // The primary's data, reopened: it signed exactly this checkpoint, and holds at least as much.
    primary.restart();
    let (p_note, p_count) = rt.block_on(async {
        let mut audit = v1::audit_client::AuditClient::connect(primary.url()).await.unwrap();
        let at = audit
            .get_checkpoint(v1::AuditCheckpointRequest { at_or_before: Some(cp.size) })
            .await
            .unwrap()
            .into_inner();
        let mut g = Grpc::connect(&primary.url()).await;
        (at.note, g.ledger.get_info(v1::InfoRequest {}).await.unwrap().into_inner().entry_count)
    });
    assert_eq!(p_note, note, "the mirror's checkpoint is one the primary stored");
    assert!(p_count >= cp.size);

    // (b) The old backup plus catch-up from the mirror: the original's root, then appends.
    let restored_dir = path("restored");
    let out = suanlid(&[
        "restore",
        "--from",
        backup.to_str().unwrap(),
        "--ledger-key",
        ledger_key.to_str().unwrap(),
        "--data-dir",
        restored_dir.to_str().unwrap(),
        "--catch-up-from",
        &format!("http://{}", mirror.web_addr.as_deref().unwrap()),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains(&format!("restored {} entries", cp.size)), "{said}");
    assert!(said.contains(&cp.root.iter().map(|b| format!("{b:02x}")).collect::<String>()), "{said}");
    assert!(!restored_dir.join("catch-up-from-mirror.export").exists(), "the fetched export is removed");
    let restored = Server::start_in(&restored_dir, &[]);
    let r_note = restored.cli_ok(&["log", "checkpoint"]);
    let r_cp = checkpoint_body(&r_note);
    assert_eq!((r_cp.size, r_cp.root), (cp.size, cp.root));
}

#[test]
fn a_mirror_refuses_a_forked_primary_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let path = |n: &str| -> PathBuf { tmp.path().join(n) };
    let mut primary = Server::start_in(&path("primary"), &[]);
    let rt = runtime();
    rt.block_on(async {
        let mut g = Grpc::connect(&primary.url()).await;
        g.register_provider_and_renter(&primary).await;
        submit(&mut g, "u", 0, 200).await;
    });
    let backup = path("primary.backup");
    primary.cli_ok(&["backup", "--out", backup.to_str().unwrap()]);
    rt.block_on(async {
        let mut g = Grpc::connect(&primary.url()).await;
        submit(&mut g, "u", 200, 600).await;
    });
    let newest = checkpoint_body(&primary.cli_ok(&["log", "checkpoint"])).size;
    let vkey = Verifier::parse(primary.cli_ok(&["log", "vkey"]).trim()).unwrap();
    let mirror_dir = path("mirror");
    let mut mirror = Server::start_in(&mirror_dir, &["--mirror-of", &mirror_of(&primary)]);
    wait_for("the mirror to catch up", || metric(&mirror, "suanli_mirror_entries") == Some(newest as f64));
    let (before_note, before) = served_checkpoint(&mirror, &vkey);
    assert_eq!(before.size, newest);
    primary.stop();

    // A fork made on purpose: the old backup restored as if nothing came after it, then
    // different records appended, under the same origin and key.
    let fork_dir = path("fork");
    let ledger_key = primary.data_dir.join("ledger.key");
    let out = suanlid(&[
        "restore",
        "--from",
        backup.to_str().unwrap(),
        "--ledger-key",
        ledger_key.to_str().unwrap(),
        "--data-dir",
        fork_dir.to_str().unwrap(),
        "--backup-is-latest",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let fork = Server::start_in(&fork_dir, &[]);
    rt.block_on(async {
        let mut g = Grpc::connect(&fork.url()).await;
        submit(&mut g, "fork", 0, 700).await;
    });
    let fork_size = checkpoint_body(&fork.cli_ok(&["log", "checkpoint"])).size;
    assert!(fork_size > newest, "the fork is longer than what the mirror holds");

    // The mirror, pointed at the fork, refuses it, says so and stops following.
    mirror.stop();
    let mirror = Server::start_in(&mirror_dir, &["--mirror-of", &mirror_of(&fork)]);
    wait_for("the mirror to refuse the fork", || metric(&mirror, "suanli_mirror_refused") == Some(1.0));
    let log = std::fs::read_to_string(&mirror.log).unwrap();
    assert!(log.contains("refusing the primary") && log.contains("not consistent"), "{log}");
    // It keeps serving what it verified, and stored nothing of the fork.
    let (after_note, after) = served_checkpoint(&mirror, &vkey);
    assert_eq!((after_note, after.size), (before_note, before.size));
    assert_eq!(metric(&mirror, "suanli_mirror_entries"), Some(newest as f64));
}
