//! Damage on disk: a ledger is filled, crashed (SIGKILL), and copies of its data directory
//! are damaged, one way per copy — every file of the sled store truncated (a torn last
//! write: a few bytes, a page, half the file), and single bytes flipped at spread
//! positions of every file. Each damaged copy is started.
//!
//! The server must either refuse to start with a message naming what is damaged, or come
//! up with everything: the same Merkle root, and the balances of replaying the original
//! log. It must never serve a state that lost acknowledged entries — which sled alone
//! would: finding a damaged page in its log file it keeps what precedes it, so half a
//! truncated `db` file once came back as a consistent 354 of 604 entries. The checkpoint
//! witness (`recovery.rs`) catches that. Damage to `ledger.key` and to the witness file
//! itself is covered too (refused, naming the file).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use std::str::FromStr;
use suanli_core::checkpoint::open_checkpoint;
use suanli_core::entry::Entry;
use suanli_core::export::ExportReader;
use suanli_core::index::MemIndex;
use suanli_core::ledger::{InputKind, Ledger};
use suanli_core::merkle::{Frontier, Hash, leaf_hash};
use suanli_core::note::Verifier;
use suanli_core::testkit::{self as tk, public, uscc};
use suanli_tests::{Grpc, Rng, Server, code, envelope, read, runtime, seed_from_env, v1};

/// One way of damaging a copy of the data directory.
type Damage = Box<dyn Fn(&Path)>;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            files(&e.path(), out);
        } else {
            out.push(e.path());
        }
    }
    out.sort();
}

/// The original log: its entries, the root of every prefix, and the renter's subsidy
/// after every prefix.
struct Original {
    roots: Vec<Hash>,
    renter_used: Vec<Decimal>,
}

fn original(export: &Path) -> Original {
    let mut reader = ExportReader::new(std::io::BufReader::new(std::fs::File::open(export).unwrap())).unwrap();
    let mut frontier = Frontier::new();
    let mut roots = vec![frontier.root()];
    let mut renter_used = vec![Decimal::ZERO];
    let mut ledger: Option<Ledger> = None;
    let mut index = MemIndex::default();
    while let Some((_, bytes)) = reader.next_entry().unwrap() {
        let entry = Entry::decode(&bytes).unwrap();
        match ledger.as_mut() {
            None => ledger = Some(Ledger::from_genesis(&entry).unwrap()),
            Some(l) => l.apply(&mut index, &entry).unwrap(),
        }
        frontier.append(leaf_hash(&bytes), |_, _| {});
        roots.push(frontier.root());
        renter_used.push(ledger.as_ref().unwrap().renter_used(&uscc(3), 2026));
    }
    Original { roots, renter_used }
}

/// Fills a ledger: a provider, a renter that reaches its cap, 600 records in chunks.
async fn fill(url: &str, admin: &ed25519_dalek::SigningKey) {
    let mut g = Grpc::connect(url).await;
    let ops = [
        tk::register(&uscc(1), "P", tk::flags(true, false, true, false, false), None),
        tk::add_key(&uscc(1), &public(&tk::key(11))),
        tk::register(&uscc(3), "R", tk::flags(false, true, false, false, false), None),
    ];
    g.admin_accepted(admin, ops).await;
    let end = suanli_core::time::parse_rfc3339("2026-06-30T12:00:00+08:00").unwrap();
    for chunk in 0..12 {
        let envs: Vec<v1::Envelope> = (0..50)
            .map(|i| {
                let n = chunk * 50 + i;
                let (gh, amount) = if n % 10 == 0 { ("40000", "500000.00") } else { ("8", "100.00") };
                let r = tk::usage_record(&format!("u{n}"), &uscc(1), &uscc(3), gh, "12.50", amount, end, None);
                envelope(&tk::sign(InputKind::Usage, &tk::key(11), &r))
            })
            .collect();
        let acks = g.submit_all(envs).await;
        assert!(acks.iter().all(|a| code(a) == "ACCEPTED"));
    }
}

/// (size, root, renter subsidy) as a started server serves them.
async fn served(url: &str, admin: &ed25519_dalek::SigningKey, ledger_key: [u8; 32]) -> (u64, Hash, Decimal) {
    let mut g = Grpc::connect(url).await;
    let (size, note) = g.log_state().await;
    let origin = note.lines().next().unwrap().to_string();
    let cp = open_checkpoint(&note, &Verifier::from_public_key(&origin, ledger_key).unwrap()).expect("checkpoint");
    assert_eq!(cp.size, size);
    let q = v1::read_request::Query::Entity(v1::EntityQuery { id: uscc(3).to_string() });
    let used: Decimal = match g.registry.get_entity(read(admin, q)).await {
        Ok(info) => info.into_inner().cap_use.iter().map(|u| Decimal::from_str(&u.renter_subsidy).unwrap()).sum(),
        Err(status) if status.code() == tonic::Code::NotFound => Decimal::ZERO,
        Err(status) => panic!("reading the renter: {status}"),
    };
    (size, cp.root, used)
}

#[test]
fn damaged_stores_are_refused_or_recover_a_vouched_state() {
    let seed = seed_from_env("SUANLI_DAMAGE_SEED", 6);
    let mut rng = Rng::new(seed);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start_in(&data, &[]);
    let admin = Server::read_key(&server.admin_key());
    let ledger_key = public(&Server::read_key(&data.join("ledger.key")));
    let rt = runtime();
    rt.block_on(fill(&server.url(), &admin));
    let export = tmp.path().join("log.export");
    server.cli_ok(&["log", "export", "--out", &export.to_string_lossy()]);
    let whole = rt.block_on(served(&server.url(), &admin, ledger_key));
    server.kill();
    let orig = original(&export);
    assert_eq!(orig.roots.len() as u64 - 1, whole.0);
    assert_eq!(orig.roots[whole.0 as usize], whole.1);

    // The undamaged copy recovers everything.
    let pristine = tmp.path().join("pristine");
    copy_dir(&data, &pristine);
    let mut damages: Vec<(String, Damage)> = Vec::new();
    let mut store_files = Vec::new();
    files(&pristine.join("store"), &mut store_files);
    for f in &store_files {
        let rel = f.strip_prefix(&pristine).unwrap().to_path_buf();
        let len = std::fs::metadata(f).unwrap().len();
        for cut in [1, 37, 4096, len / 2] {
            if cut == 0 || cut >= len {
                continue;
            }
            let r = rel.clone();
            damages.push((
                format!("{} truncated by {cut} of {len} bytes", rel.display()),
                Box::new(move |d: &Path| {
                    let f = std::fs::OpenOptions::new().write(true).open(d.join(&r)).unwrap();
                    f.set_len(len - cut).unwrap();
                }),
            ));
        }
        let mut positions = vec![0, len / 3, len - 1];
        positions.extend((0..5).map(|_| rng.below(len.max(1))));
        for pos in positions {
            let bit = rng.below(8) as u8;
            let r = rel.clone();
            damages.push((
                format!("{} byte {pos} of {len} flipped", rel.display()),
                Box::new(move |d: &Path| {
                    let p = d.join(&r);
                    let mut b = std::fs::read(&p).unwrap();
                    b[pos as usize] ^= 1 << bit;
                    std::fs::write(&p, b).unwrap();
                }),
            ));
        }
    }
    damages.push((
        "checkpoint.latest byte 40 flipped".into(),
        Box::new(|d: &Path| {
            let p = d.join("checkpoint.latest");
            let mut b = std::fs::read(&p).unwrap();
            b[40] ^= 0x04;
            std::fs::write(&p, b).unwrap();
        }),
    ));
    damages.push((
        "ledger.key byte 10 flipped".into(),
        Box::new(|d: &Path| {
            let p = d.join("ledger.key");
            let mut b = std::fs::read(&p).unwrap();
            b[10] ^= 0x01;
            std::fs::write(&p, b).unwrap();
        }),
    ));

    let mut outcomes: BTreeMap<&str, u64> = BTreeMap::new();
    for (i, (what, damage)) in damages.iter().enumerate() {
        let dir = tmp.path().join(format!("case{i}"));
        copy_dir(&pristine, &dir);
        damage(&dir);
        match Server::try_start_in(&dir, &[]) {
            Err(msg) => {
                eprintln!("{what}: refused: {msg}");
                assert!(msg.contains("error"), "{what}: {msg}");
                *outcomes.entry("refused").or_default() += 1;
            }
            Ok(mut s) => {
                let (size, root, used) = rt.block_on(served(&s.url(), &admin, ledger_key));
                s.kill();
                assert!(
                    size <= whole.0,
                    "seed {seed}: {what}: the damaged store serves {size} entries, more than {}",
                    whole.0
                );
                assert_eq!(
                    root, orig.roots[size as usize],
                    "seed {seed}: {what}: the served log is not the original's prefix"
                );
                assert_eq!(used, orig.renter_used[size as usize], "seed {seed}: {what}: wrong balance served");
                // Every entry was acknowledged and covered by a checkpoint before the crash:
                // serving fewer would drop acknowledged records.
                assert_eq!(
                    size,
                    whole.0,
                    "seed {seed}: {what}: started without {} acknowledged entries",
                    whole.0 - size
                );
                eprintln!("{what}: recovered everything");
                *outcomes.entry("recovered everything").or_default() += 1;
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    eprintln!("seed {seed}: {} damaged copies: {outcomes:?}", damages.len());
}
