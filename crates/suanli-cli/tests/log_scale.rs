//! How `log verify` scales: a log of many records, built with the policy core, written
//! as an export and verified offline, reporting time and peak memory. Ignored by default
//! (minutes in a debug build); run it with
//!
//! ```sh
//! SUANLI_SCALE_RECORDS=1000000 cargo test --release -p suanli-cli --test log_scale -- --ignored --nocapture
//! ```

use std::io::BufWriter;
use std::time::Instant;

use suanli_core::checkpoint::{Checkpoint, sign_checkpoint};
use suanli_core::entry::Genesis;
use suanli_core::export::{ExportWriter, Header};
use suanli_core::index::MemIndex;
use suanli_core::ledger::{Decision, InputKind, Ledger};
use suanli_core::merkle::{Frontier, leaf_hash};
use suanli_core::note::Signer;
use suanli_core::program::Program;
use suanli_core::testkit::{self as tk, key, public, uscc};

/// Peak resident memory of this process, from /proc (Linux), in MiB.
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb / 1024)
}

#[test]
#[ignore = "a scale run: minutes; see the module documentation"]
fn verify_an_export_of_many_records() {
    let n: u64 = std::env::var("SUANLI_SCALE_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    const ORIGIN: &str = "suanli.test/scale";
    let genesis = Genesis {
        program_toml: Program::suzhou_2026().to_toml(),
        admin_key: public(&key(1)),
        finance_key: public(&key(2)),
        ledger_key: public(&key(3)),
        origin: ORIGIN.into(),
    };
    let t0 = suanli_core::time::parse_rfc3339("2026-12-01T00:00:00+08:00").unwrap() * 1000;
    let (mut ledger, g) = Ledger::create(genesis, t0).unwrap();
    let mut index = MemIndex::default();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scale.export");
    let setup = [
        tk::admin(&key(1), "a", tk::register(&uscc(1), "P", tk::flags(true, false, true, false, false), None)),
        tk::admin(&key(1), "b", tk::register(&uscc(3), "R", tk::flags(false, true, false, false, false), None)),
        tk::admin(&key(1), "c", tk::add_key(&uscc(1), &public(&key(11)))),
    ];
    let total = 1 + setup.len() as u64 + n;
    let header = Header { origin: ORIGIN.into(), first: 0, entries: total };
    let file = std::fs::File::create(&path).unwrap();
    let mut w = ExportWriter::new(BufWriter::with_capacity(1 << 20, file), &header).unwrap();
    let mut frontier = Frontier::new();
    let mut put = |bytes: Vec<u8>| {
        frontier.append(leaf_hash(&bytes), |_, _| {});
        w.write_entry(&bytes).unwrap();
    };
    put(g.encode());
    let started = Instant::now();
    let end = t0 / 1000 - 7200;
    for (i, input) in setup.iter().enumerate() {
        let Decision::Accepted(e) = ledger.decide(&mut index, t0 + i as i64, input, true) else { panic!("setup {i}") };
        put(e.encode());
    }
    for i in 0..n {
        let r = tk::usage_record(&format!("u{i}"), &uscc(1), &uscc(3), "8", "12.50", "100.00", end, None);
        let input = tk::sign(InputKind::Usage, &key(11), &r);
        let Decision::Accepted(e) = ledger.decide(&mut index, t0 + 10, &input, true) else { panic!("record {i}") };
        put(e.encode());
    }
    w.finish().unwrap();
    drop(index);
    let built = started.elapsed();
    let bytes = std::fs::metadata(&path).unwrap().len();
    let signer = Signer::new(ORIGIN, key(3)).unwrap();
    let note = sign_checkpoint(&Checkpoint::new(ORIGIN, total, frontier.root()), &signer).unwrap();

    // Reset the high-water mark (Linux: clear_refs 5), so the peak below is the verifier's.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = peak_rss_mib();
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let v = suanli_cli::log::verify_export(&path, &note, None, &public(&key(3)), threads).unwrap();
    let took = started.elapsed();
    assert_eq!(v.summary.entries, total);
    assert_eq!(v.summary.records_indexed as u64, n);
    eprintln!(
        "{total} entries ({} MiB export) built in {built:.1?}; verified in {took:.1?} ({:.0} entries/s) on {threads} \
         threads; peak RSS {:?} MiB before verifying, {:?} MiB while verifying (the replay's record index dominates)",
        bytes >> 20,
        total as f64 / took.as_secs_f64(),
        rss_before,
        peak_rss_mib()
    );
}
