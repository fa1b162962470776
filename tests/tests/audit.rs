//! The verifiable log from an auditor's side, with the real binaries: `suanli log export`
//! of a running ledger verifies offline with `suanli log verify`; a flipped byte, a
//! dropped entry or two swapped entries are each named by the verifier with a non-zero
//! exit; `suanli log prove` proves a record, and refuses a tampered checkpoint or a wrong
//! pinned key.

use std::path::{Path, PathBuf};
use std::process::Output;

use suanli_core::checkpoint::{Checkpoint, sign_checkpoint};
use suanli_core::export::{ExportReader, ExportWriter, Header};
use suanli_core::ledger::InputKind;
use suanli_core::note::Signer;
use suanli_core::testkit::{self as tk, public, uscc};
use suanli_core::wire;
use suanli_tests::{Grpc, Server, code, envelope, now, runtime, v1};

/// Base64 of a 32-byte key or hash.
fn b64(bytes: &[u8]) -> String {
    suanli_core::keyfile::encode_public(&bytes.try_into().expect("32 bytes"))
}

/// Registers a provider, a renter and a voucher holder, then submits `n` usage records
/// (every third drawing on the voucher) and reverses one.
async fn populate(g: &mut Grpc, server: &Server, n: u64) {
    let admin = Server::read_key(&server.admin_key());
    let ops = vec![
        tk::register(&uscc(1), "P", tk::flags(true, false, true, false, false), None),
        tk::register(&uscc(3), "R1", tk::flags(false, true, false, false, false), None),
        tk::register(&uscc(5), "O", tk::flags(false, true, false, true, false), None),
        tk::add_key(&uscc(1), &public(&tk::key(11))),
        tk::add_key(&uscc(5), &public(&tk::key(15))),
        wire::admin_request::Op::IssueVoucher(wire::IssueVoucher {
            voucher_id: "V1".into(),
            holder_id: uscc(5).to_string(),
            kind: wire::VoucherKind::Compute as i32,
            face_value: "1000.00".into(),
            valid_from: now() - 30 * 86400,
            valid_until: now() + 30 * 86400,
        }),
    ];
    g.admin_accepted(&admin, ops).await;
    let auth = wire::holder_request::Op::Authorize(wire::Authorize {
        voucher_id: "V1".into(),
        provider_id: uscc(1).to_string(),
        limit: String::new(),
    });
    let ack = g.vouchers.apply(envelope(&tk::holder(&tk::key(15), &uscc(5), "a1", auth))).await.unwrap().into_inner();
    assert_eq!(code(&ack), "ACCEPTED");
    let end = now() - 7200;
    let envs = (0..n)
        .map(|i| {
            let v = (i % 3 == 0).then_some("V1");
            let renter = if v.is_some() { uscc(5) } else { uscc(3) };
            let r = tk::usage_record(&format!("u{i}"), &uscc(1), &renter, "8", "12.50", "100.00", end, v);
            envelope(&tk::sign(InputKind::Usage, &tk::key(11), &r))
        })
        .collect();
    let acks = g.ingest.submit_usage_batch(v1::EnvelopeBatch { envelopes: envs }).await.unwrap().into_inner();
    assert!(acks.acks.iter().all(|a| code(a) == "ACCEPTED"));
    let rev = tk::sign(InputKind::Reversal, &tk::key(11), &tk::reversal(&uscc(1), "u4", "wrong meter"));
    assert_eq!(code(&g.ingest.reverse(envelope(&rev)).await.unwrap().into_inner()), "ACCEPTED");
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn verify(server: &Server, export: &Path, checkpoint: &Path, key: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "log",
        "verify",
        "--export",
        export.to_str().unwrap(),
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--ledger-pubkey",
        key,
    ];
    args.extend_from_slice(extra);
    server.cli(&args)
}

/// Asserts that the verifier failed and named `entry {seq}`.
fn assert_names(out: &Output, seq: u64, what: &str) {
    let err = stderr(out);
    assert!(!out.status.success(), "{what}: the verifier accepted a tampered export");
    assert!(err.contains(&format!("entry {seq}:")), "{what}: expected entry {seq} to be named, got: {err}");
}

/// Rewrites an export with `edit` applied to its entries (keeping the header honest about
/// the count, as a careful forger would).
fn rewrite(from: &Path, to: &Path, edit: impl FnOnce(&mut Vec<Vec<u8>>)) {
    let reader = ExportReader::new(std::io::BufReader::new(std::fs::File::open(from).unwrap())).unwrap();
    let header = reader.header().clone();
    let mut entries: Vec<Vec<u8>> = reader.map(|e| e.unwrap().1).collect();
    edit(&mut entries);
    let header = Header { entries: entries.len() as u64, ..header };
    let mut w = ExportWriter::new(std::fs::File::create(to).unwrap(), &header).unwrap();
    for e in &entries {
        w.write_entry(e).unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn export_verifies_offline_and_tampering_is_named() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| -> PathBuf { dir.path().join(name) };
    let rt = runtime();
    let ledger_key = rt.block_on(async {
        let mut g = Grpc::connect(&server.url()).await;
        populate(&mut g, &server, 10).await;
        g.ledger.get_info(v1::InfoRequest {}).await.unwrap().into_inner().ledger_public_key
    });
    let key = b64(&ledger_key);

    // An early checkpoint, kept by the auditor, then more records.
    let early = server.cli_ok(&["log", "checkpoint"]);
    std::fs::write(path("early.cp"), &early).unwrap();
    rt.block_on(async {
        let mut g = Grpc::connect(&server.url()).await;
        let end = now() - 3600;
        let envs = (100..400)
            .map(|i| {
                let r = tk::usage_record(&format!("u{i}"), &uscc(1), &uscc(3), "8", "12.50", "100.00", end, None);
                envelope(&tk::sign(InputKind::Usage, &tk::key(11), &r))
            })
            .collect();
        let acks = g.ingest.submit_usage_batch(v1::EnvelopeBatch { envelopes: envs }).await.unwrap().into_inner();
        assert!(acks.acks.iter().all(|a| code(a) == "ACCEPTED"));
    });

    let cp = server.cli_ok(&["log", "checkpoint"]);
    assert!(cp.lines().nth(1).unwrap().parse::<u64>().unwrap() > 300, "{cp}");
    assert!(cp.contains("\n\n\u{2014} "), "a signed note: {cp}");
    std::fs::write(path("cp"), &cp).unwrap();
    let export = path("log.export");
    let out = server.cli_ok(&["log", "export", "--out", export.to_str().unwrap()]);
    assert!(out.contains("exported"), "{out}");
    assert_eq!(std::fs::read_to_string(path("log.export.checkpoint")).unwrap(), cp, "the export's checkpoint");

    // The honest export verifies offline, alone and against the earlier checkpoint.
    let out = verify(&server, &export, &path("cp"), &key, &[]);
    assert!(out.status.success(), "verify failed: {}", stderr(&out));
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(report.contains("verified"), "{report}");
    let out = verify(&server, &export, &path("cp"), &key, &["--old-checkpoint", path("early.cp").to_str().unwrap()]);
    assert!(out.status.success(), "verify with the old checkpoint failed: {}", stderr(&out));
    // Against an older checkpoint alone: its prefix verifies, the rest is reported unchecked.
    let out = verify(&server, &export, &path("early.cp"), &key, &[]);
    assert!(out.status.success(), "verify against the early checkpoint failed: {}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("beyond the checkpoint"));
    // Offline means offline: no server at all.
    let offline = suanli_tests::cli_at(
        "http://127.0.0.1:1",
        &[
            "log",
            "verify",
            "--export",
            export.to_str().unwrap(),
            "--checkpoint",
            path("cp").to_str().unwrap(),
            "--ledger-pubkey",
            &key,
        ],
        None,
    );
    assert!(offline.status.success(), "verify needed a server: {}", stderr(&offline));

    // A flipped byte in a signed payload, in a money line; a dropped entry; two swapped.
    let tampered = path("tampered.export");
    rewrite(&export, &tampered, |e| {
        let n = e[20].len();
        e[20][n / 2] ^= 0x40;
    });
    assert_names(&verify(&server, &tampered, &path("cp"), &key, &[]), 20, "flipped payload byte");
    rewrite(&export, &tampered, |e| {
        let n = e[33].len();
        e[33][n - 2] ^= 0x01; // the supplier subsidy's last byte
    });
    assert_names(&verify(&server, &tampered, &path("cp"), &key, &[]), 33, "flipped money line");
    rewrite(&export, &tampered, |e| {
        e.remove(40);
    });
    assert_names(&verify(&server, &tampered, &path("cp"), &key, &[]), 40, "dropped entry");
    rewrite(&export, &tampered, |e| e.swap(50, 60));
    assert_names(&verify(&server, &tampered, &path("cp"), &key, &[]), 50, "swapped entries");
    // The byte flipped in place in the file, header untouched.
    let mut bytes = std::fs::read(&export).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x01;
    std::fs::write(&tampered, &bytes).unwrap();
    let out = verify(&server, &tampered, &path("cp"), &key, &[]);
    assert!(!out.status.success(), "a flipped byte in the last entry went unnoticed");

    // A wrong key, a tampered checkpoint, a checkpoint from another ledger key.
    let wrong = b64(&public(&tk::key(99)));
    let out = verify(&server, &export, &path("cp"), &wrong, &[]);
    assert!(!out.status.success() && stderr(&out).contains("signature"), "{}", stderr(&out));
    let mut lines: Vec<&str> = cp.split('\n').collect();
    let fake_root = b64(&[7u8; 32]);
    lines[2] = &fake_root;
    std::fs::write(path("forged.cp"), lines.join("\n")).unwrap();
    let out = verify(&server, &export, &path("forged.cp"), &key, &[]);
    assert!(!out.status.success(), "a checkpoint with a changed root was accepted");

    // The ledger's own key signing a second history is caught by the old checkpoint.
    let ledger_sk = Server::read_key(&server.data_dir.join("ledger.key"));
    let real =
        suanli_core::checkpoint::Checkpoint::parse(&format!("{}\n", early.split("\n\n").next().unwrap())).unwrap();
    let signer = Signer::new(&real.origin, ledger_sk).unwrap();
    let fork = sign_checkpoint(&Checkpoint::new(real.origin.clone(), real.size, [9; 32]), &signer).unwrap();
    std::fs::write(path("fork.cp"), fork).unwrap();
    let out = verify(&server, &export, &path("cp"), &key, &["--old-checkpoint", path("fork.cp").to_str().unwrap()]);
    assert!(!out.status.success() && stderr(&out).contains("old checkpoint"), "{}", stderr(&out));
}

#[test]
fn prove_checks_a_record_against_a_signed_checkpoint() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let ledger_key = rt.block_on(async {
        let mut g = Grpc::connect(&server.url()).await;
        populate(&mut g, &server, 30).await;
        g.ledger.get_info(v1::InfoRequest {}).await.unwrap().into_inner().ledger_public_key
    });
    let key = b64(&ledger_key);
    let provider = uscc(1).to_string();

    // Right after acceptance, before any periodic checkpoint: a fresh one is signed.
    let out = server.cli_ok(&["log", "prove", "--provider", &provider, "--record-id", "u7"]);
    assert!(out.contains("proved"), "{out}");
    let out = server.cli_ok(&["log", "prove", "--provider", &provider, "--record-id", "u4", "--ledger-pubkey", &key]);
    assert!(out.contains("reversed by entry"), "{out}");

    // Against a checkpoint the auditor holds.
    let cp = server.cli_ok(&["log", "checkpoint", "--ledger-pubkey", &key]);
    let cp_path = dir.path().join("cp");
    std::fs::write(&cp_path, &cp).unwrap();
    let cp_arg = cp_path.to_str().unwrap();
    server.cli_ok(&["log", "prove", "--provider", &provider, "--record-id", "u9", "--checkpoint", cp_arg]);

    // A wrong pinned key.
    let wrong = b64(&public(&tk::key(99)));
    let out = server.cli(&["log", "prove", "--provider", &provider, "--record-id", "u7", "--ledger-pubkey", &wrong]);
    assert!(!out.status.success(), "a wrong pinned key was accepted");
    assert!(stderr(&out).contains("signature"), "{}", stderr(&out));
    let out = server.cli(&["log", "checkpoint", "--ledger-pubkey", &wrong]);
    assert!(!out.status.success(), "log checkpoint accepted a wrong pinned key");

    // A tampered checkpoint: the root changed, or the size.
    for line in [2usize, 1] {
        let mut lines: Vec<String> = cp.split('\n').map(str::to_string).collect();
        lines[line] = if line == 2 { b64(&[7u8; 32]) } else { "5".into() };
        let bad = dir.path().join(format!("bad{line}.cp"));
        std::fs::write(&bad, lines.join("\n")).unwrap();
        let out = server.cli(&[
            "log",
            "prove",
            "--provider",
            &provider,
            "--record-id",
            "u7",
            "--checkpoint",
            bad.to_str().unwrap(),
            "--ledger-pubkey",
            &key,
        ]);
        assert!(!out.status.success(), "a tampered checkpoint (line {line}) was accepted");
    }

    // A record that does not exist.
    let out = server.cli(&["log", "prove", "--provider", &provider, "--record-id", "nope"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
}

/// What an outside auditor with any RFC 6962 / signed-note library needs: the verifier key
/// (`log vkey`, also computed offline), the inclusion proof as data (`log prove --json`) and
/// consistency proofs (`log consistency`). Everything printed is re-checked here from the
/// printed values alone, as such a library would.
#[test]
fn vkey_prove_json_and_consistency_give_an_auditor_everything() {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use suanli_core::merkle::{leaf_hash, verify_consistency, verify_inclusion};
    use suanli_core::note::{Verifier, open_note};

    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| -> PathBuf { dir.path().join(name) };
    let rt = runtime();
    let ledger_key = rt.block_on(async {
        let mut g = Grpc::connect(&server.url()).await;
        populate(&mut g, &server, 30).await;
        g.ledger.get_info(v1::InfoRequest {}).await.unwrap().into_inner().ledger_public_key
    });
    let key = b64(&ledger_key);
    let provider = uscc(1).to_string();

    // The verifier key: from the server, pinned, and offline from the program id alone.
    let vkey = server.cli_ok(&["log", "vkey"]).trim().to_string();
    assert_eq!(server.cli_ok(&["log", "vkey", "--ledger-pubkey", &key]).trim(), vkey);
    let offline = suanli_tests::cli_at(
        "http://127.0.0.1:1",
        &["log", "vkey", "--ledger-pubkey", &key, "--program", "suzhou-2026"],
        None,
    );
    assert!(offline.status.success(), "offline vkey: {}", stderr(&offline));
    assert_eq!(String::from_utf8_lossy(&offline.stdout).trim(), vkey);
    let verifier = Verifier::parse(&vkey).unwrap();
    assert!(vkey.starts_with("suanli/suzhou-2026/"), "{vkey}");
    let early = server.cli_ok(&["log", "checkpoint"]);
    open_note(&early, std::slice::from_ref(&verifier)).expect("the checkpoint verifies under the printed vkey");
    std::fs::write(path("early.cp"), &early).unwrap();
    let early_size: u64 = early.lines().nth(1).unwrap().parse().unwrap();
    let wrong = b64(&public(&tk::key(99)));
    let out = server.cli(&["log", "vkey", "--ledger-pubkey", &wrong]);
    assert!(!out.status.success(), "vkey printed a key the ledger's checkpoints do not verify under");

    rt.block_on(async {
        let mut g = Grpc::connect(&server.url()).await;
        let end = now() - 3600;
        let envs = (100..200)
            .map(|i| {
                let r = tk::usage_record(&format!("u{i}"), &uscc(1), &uscc(3), "8", "12.50", "100.00", end, None);
                envelope(&tk::sign(InputKind::Usage, &tk::key(11), &r))
            })
            .collect();
        let acks = g.ingest.submit_usage_batch(v1::EnvelopeBatch { envelopes: envs }).await.unwrap().into_inner();
        assert!(acks.acks.iter().all(|a| code(a) == "ACCEPTED"));
    });

    // The inclusion proof as data: leaf hash from the entry, path to the note's root.
    let json = server.cli_ok(&["log", "prove", "--provider", &provider, "--record-id", "u150", "--json"]);
    let p: serde_json::Value = serde_json::from_str(&json).unwrap();
    let b = |v: &serde_json::Value| STANDARD.decode(v.as_str().unwrap()).unwrap();
    let h = |v: &serde_json::Value| -> [u8; 32] { b(v).try_into().unwrap() };
    let entry = b(&p["entry"]);
    assert_eq!(leaf_hash(&entry), h(&p["leaf_hash"]));
    let note = p["checkpoint"].as_str().unwrap();
    let opened = open_note(note, std::slice::from_ref(&verifier)).unwrap();
    let cp = Checkpoint::parse(&opened.text).unwrap();
    assert_eq!((cp.size, cp.root), (p["tree_size"].as_u64().unwrap(), h(&p["root"])));
    assert_eq!(p["vkey"].as_str().unwrap(), vkey);
    let proof: Vec<[u8; 32]> = p["proof"].as_array().unwrap().iter().map(h).collect();
    let index = p["index"].as_u64().unwrap();
    verify_inclusion(&h(&p["leaf_hash"]), index, cp.size, &proof, &cp.root).unwrap();
    // The text output is unchanged by the new flag.
    let text = server.cli_ok(&["log", "prove", "--provider", &provider, "--record-id", "u150"]);
    assert!(text.starts_with("proved: usage record u150"), "{text}");

    // Consistency from the early checkpoint to the latest: by size and by file, text and JSON.
    let out = server.cli_ok(&["log", "consistency", "--old", &early_size.to_string()]);
    assert!(out.starts_with(&format!("consistent: the tree of size {early_size} ")), "{out}");
    let json = server.cli_ok(&["log", "consistency", "--old-checkpoint", path("early.cp").to_str().unwrap(), "--json"]);
    let c: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(c["old_size"].as_u64().unwrap(), early_size);
    let new_note = c["new_checkpoint"].as_str().unwrap();
    let new_cp = Checkpoint::parse(&open_note(new_note, std::slice::from_ref(&verifier)).unwrap().text).unwrap();
    assert_eq!((new_cp.size, new_cp.root), (c["new_size"].as_u64().unwrap(), h(&c["new_root"])));
    let early_cp = Checkpoint::parse(&open_note(&early, std::slice::from_ref(&verifier)).unwrap().text).unwrap();
    let proof: Vec<[u8; 32]> = c["proof"].as_array().unwrap().iter().map(h).collect();
    verify_consistency(early_size, new_cp.size, &early_cp.root, &new_cp.root, &proof).unwrap();
    assert!(new_cp.size > early_size);

    // A size the ledger signed no checkpoint for is refused with the nearest one named.
    let unsigned = rt.block_on(async {
        let mut audit = v1::audit_client::AuditClient::connect(server.url()).await.unwrap();
        let mut k = new_cp.size - 1;
        loop {
            let at = audit.get_checkpoint(v1::AuditCheckpointRequest { at_or_before: Some(k) }).await;
            if at.unwrap().into_inner().size != k {
                return k;
            }
            k -= 1;
        }
    });
    let out = server.cli(&["log", "consistency", "--old", &unsigned.to_string()]);
    assert!(!out.status.success() && stderr(&out).contains("no signed checkpoint of tree size"), "{}", stderr(&out));
    let out = server.cli(&["log", "consistency", "--old", "0"]);
    assert!(!out.status.success());
    let out = server.cli(&["log", "consistency"]);
    assert!(!out.status.success(), "--old or --old-checkpoint is required");

    // The ledger key signing another root at the early size: caught, and called what it is.
    let ledger_sk = Server::read_key(&server.data_dir.join("ledger.key"));
    let signer = Signer::new(&early_cp.origin, ledger_sk).unwrap();
    let fork = sign_checkpoint(&Checkpoint::new(early_cp.origin.clone(), early_size, [9; 32]), &signer).unwrap();
    std::fs::write(path("fork.cp"), fork).unwrap();
    let out = server.cli(&["log", "consistency", "--old-checkpoint", path("fork.cp").to_str().unwrap()]);
    assert!(!out.status.success() && stderr(&out).contains("two histories"), "{}", stderr(&out));
}
