//! One history, provably (issue 15): the scenario that used to fork the log, with the real
//! binaries. A ledger is backed up, keeps running and signs more checkpoints; an auditor
//! holds one of them. Restoring the old backup elsewhere must not produce a second history
//! under the same origin: without the newer entries the restore refuses; with a later
//! export it catches up, entry by entry, to the original's root, and only then appends;
//! with the entries truly lost it becomes a new log whose origin names the old log's last
//! verified checkpoint. Afterwards no two checkpoints of one origin disagree.
//!
//! The sizes default to a few hundred entries; `SUANLI_FORK_BACKUP_RECORDS=6000
//! SUANLI_FORK_LATER_RECORDS=34000` replays the 6,004 → 40,004.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use suanli_core::checkpoint::Checkpoint;
use suanli_core::ledger::InputKind;
use suanli_core::note::{Verifier, open_note};
use suanli_core::testkit::{self as tk, uscc};
use suanli_tests::{Grpc, Server, bin, checkpoint_body, code, env_u64, envelope, now, runtime, text, v1};

fn suanlid(args: &[&str]) -> Output {
    Command::new(bin("suanlid")).args(args).output().expect("run suanlid")
}

/// Submits usage records `u{from}..u{to}` in batches of 1000, each ACCEPTED.
async fn submit(g: &mut Grpc, from: u64, to: u64) {
    let end = now() - 7200;
    let mut i = from;
    while i < to {
        let upto = (i + 1000).min(to);
        let envs = (i..upto)
            .map(|n| {
                let r = tk::usage_record(&format!("u{n}"), &uscc(1), &uscc(3), "8", "12.50", "100.00", end, None);
                envelope(&tk::sign(InputKind::Usage, &tk::key(11), &r))
            })
            .collect();
        let acks = g.ingest.submit_usage_batch(v1::EnvelopeBatch { envelopes: envs }).await.unwrap().into_inner();
        assert!(acks.acks.iter().all(|a| code(a) == "ACCEPTED"));
        i = upto;
    }
}

fn restore(backup: &Path, ledger_key: &Path, data_dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["restore", "--from", backup.to_str().unwrap(), "--ledger-key", ledger_key.to_str().unwrap()];
    args.extend(["--data-dir", data_dir.to_str().unwrap()]);
    args.extend_from_slice(extra);
    suanlid(&args)
}

/// Every checkpoint `server` stores, as (size, root), found by walking `at_or_before` down.
fn stored_checkpoints(server: &Server) -> Vec<Checkpoint> {
    runtime().block_on(async {
        let mut audit = v1::audit_client::AuditClient::connect(server.url()).await.unwrap();
        let mut out = Vec::new();
        let mut at = u64::MAX;
        while let Ok(cp) = audit.get_checkpoint(v1::AuditCheckpointRequest { at_or_before: Some(at) }).await {
            let cp = cp.into_inner();
            out.push(checkpoint_body(&cp.note));
            if cp.size == 0 {
                break;
            }
            at = cp.size - 1;
        }
        out
    })
}

#[test]
fn a_restored_backup_never_forks_the_log() {
    let backup_records = env_u64("SUANLI_FORK_BACKUP_RECORDS", 300);
    let later_records = env_u64("SUANLI_FORK_LATER_RECORDS", 900);
    let tmp = tempfile::tempdir().unwrap();
    let path = |n: &str| -> PathBuf { tmp.path().join(n) };
    let mut source = Server::start_in(&path("source"), &[]);
    let rt = runtime();
    rt.block_on(async {
        let mut g = Grpc::connect(&source.url()).await;
        g.register_provider_and_renter(&source).await;
        submit(&mut g, 0, backup_records).await;
    });
    let backup = path("ledger.backup");
    let out = source.cli_ok(&["backup", "--out", backup.to_str().unwrap()]);
    assert!(out.contains("backed up"), "{out}");
    let backup_cp = checkpoint_body(&std::fs::read_to_string(format!("{}.checkpoint", backup.display())).unwrap());

    // The ledger keeps running; an auditor keeps the latest checkpoint it saw.
    rt.block_on(async {
        let mut g = Grpc::connect(&source.url()).await;
        submit(&mut g, backup_records, backup_records + later_records).await;
    });
    let audited = source.cli_ok(&["log", "checkpoint"]);
    std::fs::write(path("auditor.cp"), &audited).unwrap();
    let audited_cp = checkpoint_body(&audited);
    assert!(audited_cp.size > backup_cp.size + later_records / 2, "{audited}");
    let ledger_key = source.data_dir.join("ledger.key");
    let pubkey = source.cli_ok(&["pubkey", ledger_key.to_str().unwrap()]).trim().to_string();
    let old_vkey = Verifier::parse(source.cli_ok(&["log", "vkey"]).trim()).unwrap();

    // 1. The backup alone: the restore does not guess that nothing came after it.
    let dir = path("r1");
    let out = restore(&backup, &ledger_key, &dir, &[]);
    assert!(!out.status.success(), "restored a backup without asking what came after it");
    assert!(text(&out.stderr).contains("--latest-checkpoint"), "{}", text(&out.stderr));
    assert!(!dir.join("store").exists() && !dir.join("ledger.key").exists());

    // 2. Knowing the auditor's checkpoint, but without the entries after the backup: refused.
    let auditor_cp = path("auditor.cp");
    let latest = ["--latest-checkpoint", auditor_cp.to_str().unwrap()];
    let out = restore(&backup, &ledger_key, &dir, &latest);
    assert!(!out.status.success(), "restored a backup behind a checkpoint the ledger signed");
    let err = text(&out.stderr);
    assert!(err.contains("second history") && err.contains(&audited_cp.size.to_string()), "{err}");
    assert!(!dir.join("store").exists() && !dir.join("ledger.key").exists());

    // The source data directory's own witness file serves as well as the auditor's copy.
    let witness = source.data_dir.join("checkpoint.latest");
    let out = restore(&backup, &ledger_key, &dir, &["--latest-checkpoint", witness.to_str().unwrap()]);
    assert!(!out.status.success() && text(&out.stderr).contains("second history"), "{}", text(&out.stderr));

    // 3. With a later export of the source: caught up to the original's root, then appends.
    let later = path("later.export");
    source.cli_ok(&["log", "export", "--out", later.to_str().unwrap()]);
    let later_cp = checkpoint_body(&std::fs::read_to_string(format!("{}.checkpoint", later.display())).unwrap());
    // A damaged catch-up export is refused by the root check, and leaves nothing behind.
    let damaged = path("damaged.export");
    let mut bytes = std::fs::read(&later).unwrap();
    let at = bytes.len() - 20;
    bytes[at] ^= 0x01;
    std::fs::write(&damaged, bytes).unwrap();
    std::fs::copy(format!("{}.checkpoint", later.display()), format!("{}.checkpoint", damaged.display())).unwrap();
    let out = restore(&backup, &ledger_key, &dir, &["--catch-up", damaged.to_str().unwrap()]);
    assert!(!out.status.success(), "caught up from a damaged export");
    assert!(!dir.join("store").exists());

    let out = restore(&backup, &ledger_key, &dir, &[&latest[..], &["--catch-up", later.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains(&format!("restored {} entries", later_cp.size)) && said.contains("caught up"), "{said}");
    // The same from two partial exports, given in the wrong order: each source continues
    // where the others end, and both are checked against the checkpoints.
    let mid = backup_cp.size + later_records / 2;
    let (part1, part2) = (path("part1.export"), path("part2.export"));
    source.cli_ok(&["log", "export", "--out", part2.to_str().unwrap(), "--from", &mid.to_string()]);
    let from = (backup_cp.size - 5).to_string();
    source.cli_ok(&["log", "export", "--out", part1.to_str().unwrap(), "--from", &from, "--to", &mid.to_string()]);
    let parts = ["--catch-up", part2.to_str().unwrap(), "--catch-up", part1.to_str().unwrap()];
    let out = restore(&backup, &ledger_key, &path("r3"), &[&latest[..], &parts].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("restored {} entries", later_cp.size)), "{}", text(&out.stdout));
    source.stop(); // the original is gone; the restored ledger carries on
    let restored = Server::start_in(&dir, &[]);
    let cp = checkpoint_body(&restored.cli_ok(&["log", "checkpoint", "--ledger-pubkey", &pubkey]));
    assert_eq!((cp.origin.as_str(), cp.size, cp.root), (later_cp.origin.as_str(), later_cp.size, later_cp.root));
    rt.block_on(async {
        let mut g = Grpc::connect(&restored.url()).await;
        submit(&mut g, 1_000_000, 1_000_050).await;
    });
    // Every checkpoint the original ever signed is consistent with the restored log.
    let out = restored.cli_ok(&["log", "consistency", "--old-checkpoint", path("auditor.cp").to_str().unwrap()]);
    assert!(out.starts_with("consistent:"), "{out}");
    let export = path("restored.export");
    restored.cli_ok(&["log", "export", "--out", export.to_str().unwrap()]);
    let out = restored.cli(&[
        "log",
        "verify",
        "--export",
        export.to_str().unwrap(),
        "--checkpoint",
        &format!("{}.checkpoint", export.display()),
        "--ledger-pubkey",
        &pubkey,
        "--old-checkpoint",
        path("auditor.cp").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut all = stored_checkpoints(&restored);
    all.push(audited_cp.clone());
    all.push(backup_cp.clone());
    assert_no_two_disagree(&all, &export);

    // 4. The entries after the backup truly lost: a new log, never the old name.
    let dir2 = path("r2");
    let out = restore(&backup, &ledger_key, &dir2, &[&latest[..], &["--new-origin"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    let new_origin = format!(
        "{}/continued/{}/{}",
        backup_cp.origin,
        backup_cp.size,
        backup_cp.root.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    assert!(said.contains(&new_origin), "{said}");
    let continued = Server::start_in(&dir2, &[]);
    let note = continued.cli_ok(&["log", "checkpoint", "--ledger-pubkey", &pubkey]);
    let cp = checkpoint_body(&note);
    assert_eq!((cp.origin.as_str(), cp.size), (new_origin.as_str(), backup_cp.size));
    assert_ne!(cp.root, backup_cp.root, "the new log's first entry differs: it names the new origin");
    // No signature of one log passes for the other.
    assert!(open_note(&note, std::slice::from_ref(&old_vkey)).is_err());
    let new_vkey = Verifier::parse(continued.cli_ok(&["log", "vkey"]).trim()).unwrap();
    assert_eq!(new_vkey.name(), new_origin);
    assert!(open_note(&audited, std::slice::from_ref(&new_vkey)).is_err());
    rt.block_on(async {
        let mut g = Grpc::connect(&continued.url()).await;
        submit(&mut g, 2_000_000, 2_000_020).await;
        // Records caught in the lost stretch can be submitted again: they are new here.
        submit(&mut g, backup_records, backup_records + 10).await;
    });
    let export2 = path("continued.export");
    continued.cli_ok(&["log", "export", "--out", export2.to_str().unwrap()]);
    let out = continued.cli(&[
        "log",
        "verify",
        "--export",
        export2.to_str().unwrap(),
        "--checkpoint",
        &format!("{}.checkpoint", export2.display()),
        "--ledger-pubkey",
        &pubkey,
    ]);
    assert!(out.status.success(), "the new log does not verify: {}", text(&out.stderr));
    let mut all2 = stored_checkpoints(&continued);
    all2.extend(all);
    assert_no_two_disagree(&all2, &export);
}

/// No two checkpoints of one origin disagree: same size, same root; and each one's root is
/// the root of that many entries of the log of its origin (here: of `export`, which holds
/// the old origin's log; the other origin's checkpoints are checked among themselves).
fn assert_no_two_disagree(all: &[Checkpoint], export: &Path) {
    use std::collections::BTreeMap;
    let mut by: BTreeMap<(String, u64), [u8; 32]> = BTreeMap::new();
    for cp in all {
        if let Some(root) = by.insert((cp.origin.clone(), cp.size), cp.root) {
            assert_eq!(root, cp.root, "two checkpoints of {} at size {} disagree", cp.origin, cp.size);
        }
    }
    let reader =
        suanli_core::export::ExportReader::new(std::io::BufReader::new(std::fs::File::open(export).unwrap())).unwrap();
    let origin = reader.header().origin.clone();
    let mut f = suanli_core::merkle::Frontier::new();
    for item in reader {
        f.append(suanli_core::merkle::leaf_hash(&item.unwrap().1), |_, _| {});
        if let Some(root) = by.get(&(origin.clone(), f.size())) {
            assert_eq!(root, &f.root(), "checkpoint of {origin} at {} is not the log's root", f.size());
        }
    }
    let checked = by.keys().filter(|(o, s)| o == &origin && *s <= f.size()).count();
    assert!(checked >= 3, "only {checked} checkpoints of {origin} were compared with the log");
}
