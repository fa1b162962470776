//! The bodies of the fuzz targets in `fuzz/` (one function per decoder that reads outside
//! input), kept here so that the inputs the fuzzer found are replayed by an ordinary test
//! (`tests/tests/fuzz_regressions.rs`) through exactly the same code.
//!
//! Each function takes arbitrary bytes and must return without panicking; where a decoder
//! has an encoder, it also checks that what was decoded encodes and decodes back to itself,
//! and the envelope target checks that a decided entry replays to the same state.

use std::sync::OnceLock;

use prost::Message;
use suanli_core::checkpoint::{Checkpoint, open_checkpoint, sign_checkpoint};
use suanli_core::entry::{Entry, Genesis, Signed};
use suanli_core::export::ExportReader;
use suanli_core::index::{MemIndex, RecordSummary, RequestSummary};
use suanli_core::ledger::{Decision, Input, InputKind, Ledger};
use suanli_core::merkle::Frontier;
use suanli_core::note::{Signer, Verifier, open_note};
use suanli_core::program::Program;
use suanli_core::testkit::{self as tk, public, uscc};
use suanli_core::{sig, validate, wire};

/// 2026-07-01T00:00:00+08:00, inside the preset's window.
const NOW_MS: i64 = 1_782_835_200_000;

/// A small ledger to decide fuzzed inputs against: a provider (key 11), an eligible
/// renter, a voucher holder (key 15) with a voucher the provider may draw on.
fn base() -> &'static (Ledger, MemIndex) {
    static BASE: OnceLock<(Ledger, MemIndex)> = OnceLock::new();
    BASE.get_or_init(|| {
        let program = Program::suzhou_2026();
        let genesis = Genesis {
            program_toml: program.to_toml(),
            admin_key: public(&tk::key(1)),
            finance_key: public(&tk::key(2)),
            ledger_key: public(&tk::key(3)),
            origin: "suanli/fuzz".into(),
        };
        let (mut ledger, _) = Ledger::create(genesis, NOW_MS - 1000).expect("genesis");
        let mut index = MemIndex::default();
        let ops = vec![
            tk::register(&uscc(1), "P", tk::flags(true, false, true, false, false), None),
            tk::add_key(&uscc(1), &public(&tk::key(11))),
            tk::register(&uscc(3), "R", tk::flags(false, true, false, false, false), None),
            tk::register(&uscc(5), "O", tk::flags(false, true, false, true, false), None),
            tk::add_key(&uscc(5), &public(&tk::key(15))),
            wire::admin_request::Op::IssueVoucher(wire::IssueVoucher {
                voucher_id: "V1".into(),
                holder_id: uscc(5).to_string(),
                kind: wire::VoucherKind::Compute as i32,
                face_value: "200000.00".into(),
                valid_from: 1_767_196_800,
                valid_until: 1_798_732_800,
            }),
        ];
        for (i, op) in ops.into_iter().enumerate() {
            let d = ledger.decide(&mut index, NOW_MS - 900, &tk::admin(&tk::key(1), &format!("s{i}"), op), true);
            assert!(matches!(d, Decision::Accepted(_)), "setup: {d:?}");
        }
        let auth = wire::holder_request::Op::Authorize(wire::Authorize {
            voucher_id: "V1".into(),
            provider_id: uscc(1).to_string(),
            limit: String::new(),
        });
        let d = ledger.decide(&mut index, NOW_MS - 800, &tk::holder(&tk::key(15), &uscc(5), "h1", auth), true);
        assert!(matches!(d, Decision::Accepted(_)), "setup: {d:?}");
        (ledger, index)
    })
}

/// A signed envelope as a client sends it: the first byte picks the message kind, the rest
/// is the protobuf `Envelope`. Its signature is checked (any bytes), then its payload is
/// decided as if the signature held, signed by the key of the role the kind needs, so that
/// every payload decoder and validation rule is reached. An accepted entry must encode and
/// decode to itself, and replaying it on the same state must give the same state.
pub fn envelope(data: &[u8]) {
    let Some((&k, rest)) = data.split_first() else { return };
    let kinds = [
        InputKind::Usage,
        InputKind::Corpus,
        InputKind::Reversal,
        InputKind::Admin,
        InputKind::Holder,
        InputKind::Finance,
    ];
    let kind = kinds[k as usize % kinds.len()];
    let Ok(env) = suanli_proto::v1::Envelope::decode(rest) else { return };
    if let (Ok(key), Ok(signature)) =
        (<[u8; 32]>::try_from(env.public_key.as_slice()), <[u8; 64]>::try_from(env.signature.as_slice()))
    {
        let _ = sig::verify(&key, kind.domain(), &env.payload, &signature);
    }
    let signer = match kind {
        InputKind::Admin => 1,
        InputKind::Finance => 2,
        InputKind::Holder => 15,
        _ => 11,
    };
    let input = Input { kind, signed: Signed::single(env.payload, public(&tk::key(signer)), [0; 64]) };
    let (ledger, index) = base();
    let (mut ledger, mut index) = (ledger.clone(), index.clone());
    let (before, before_index) = (ledger.clone(), index.clone());
    if let Decision::Accepted(entry) = ledger.decide(&mut index, NOW_MS, &input, true) {
        let bytes = entry.encode();
        assert_eq!(Entry::decode(&bytes).as_ref(), Ok(&entry), "an accepted entry round-trips");
        let (mut replayed, mut replay_index) = (before, before_index);
        replayed.apply(&mut replay_index, &entry).expect("a decided entry replays");
        assert_eq!(replayed, ledger, "replaying a decided entry gives the state deciding it gave");
    }
}

/// A usage or corpus record payload (protobuf), decoded and validated as the ledger does.
pub fn record(data: &[u8]) {
    if let Ok(r) = validate::decode::<wire::UsageRecord>(data) {
        let _ = validate::usage(&r);
    }
    if let Ok(r) = validate::decode::<wire::CorpusRecord>(data) {
        let _ = validate::corpus(&r);
    }
    if let Ok(r) = validate::decode::<wire::Reversal>(data) {
        let _ = r.encoded_len();
    }
}

/// A stored log entry (also an export's entries and an audit's input), and the other binary
/// values the store keeps: snapshots, Merkle frontiers, index summaries.
pub fn log_entry(data: &[u8]) {
    if let Ok(e) = Entry::decode(data) {
        assert_eq!(Entry::decode(&e.encode()).as_ref(), Ok(&e), "a decoded entry re-encodes to itself");
        let _ = suanli_core::ledger::record_facts(&e);
        let (ledger, index) = base();
        let (mut ledger, mut index) = (ledger.clone(), index.clone());
        let _ = ledger.apply(&mut index, &e);
    }
    if let Ok(l) = Ledger::decode_snapshot(data) {
        assert_eq!(Ledger::decode_snapshot(&l.encode_snapshot()).as_ref(), Ok(&l), "a snapshot round-trips");
    }
    if let Ok(f) = Frontier::decode(data) {
        let g = Frontier::decode(&f.encode()).expect("an encoded frontier decodes");
        assert_eq!((g.size(), g.root()), (f.size(), f.root()), "a frontier round-trips");
    }
    let _ = RecordSummary::decode(data);
    let _ = RequestSummary::decode(data);
}

/// A program file (TOML), as `suanlid --program FILE` reads it.
pub fn program(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(p) = Program::from_toml(text) {
        let canonical = p.to_toml();
        let again = Program::from_toml(&canonical).expect("a program's canonical form parses");
        assert_eq!(again, p, "a program round-trips through its canonical form");
        assert_eq!(again.to_toml(), canonical, "the canonical form is stable");
    }
}

fn signer() -> &'static Signer {
    static SIGNER: OnceLock<Signer> = OnceLock::new();
    SIGNER.get_or_init(|| Signer::new("suanli/fuzz", tk::key(3)).expect("signer"))
}

/// A checkpoint or any signed note (C2SP formats), as `suanli log verify` and `report
/// verify` read them, and verifier key strings.
pub fn checkpoint(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let verifier = signer().verifier();
    let _ = open_checkpoint(text, &verifier);
    let _ = open_note(text, std::slice::from_ref(&verifier));
    let _ = Verifier::parse(text);
    if let Ok(cp) = Checkpoint::parse(text) {
        assert_eq!(Checkpoint::parse(&cp.to_note_text()).as_ref(), Ok(&cp), "a checkpoint round-trips");
        if cp.origin == "suanli/fuzz"
            && let Ok(signed) = sign_checkpoint(&cp, signer())
        {
            assert_eq!(open_checkpoint(&signed, &verifier).as_ref(), Ok(&cp), "a signed checkpoint opens");
        }
    }
}

/// A C2SP tlog-tiles path, as a web request names one (`web/tiles.rs`), and an entry
/// bundle, as a client of the tiles reads one: the first byte picks the bundle's width.
pub fn tiles(data: &[u8]) {
    use suanli_core::tiles::{encode_bundle, parse_bundle, parse_tile_path};
    if let Ok(path) = std::str::from_utf8(data)
        && let Ok(tile) = parse_tile_path(path)
    {
        assert_eq!(tile.path(), path, "one spelling per tile");
        let _ = tile.node_ids().map(|ids| ids.count());
        let _ = tile.leaves_needed();
    }
    let width = data.first().map_or(0, |b| usize::from(*b)) + 1;
    let bundle = data.get(1..).unwrap_or_default();
    if let Ok(entries) = parse_bundle(bundle, width) {
        assert_eq!(encode_bundle(0, &entries).expect("parsed entries fit"), bundle, "a bundle round-trips");
    }
}

/// A usage or corpus CSV file, as `suanli usage submit --csv` and `corpus submit` read it.
pub fn csv(data: &[u8]) {
    if let Ok(rows) = suanli_cli::records::parse_usage_csv(data) {
        for row in rows {
            let _ = validate::usage(&row.record);
        }
    }
    if let Ok(rows) = suanli_cli::records::parse_corpus_csv(data) {
        for row in rows {
            let _ = validate::corpus(&row.record);
        }
    }
}

/// An export file, as `suanli log verify` reads it.
pub fn export(data: &[u8]) {
    let Ok(mut reader) = ExportReader::new(data) else { return };
    for _ in 0..10_000 {
        match reader.next_entry() {
            Ok(Some((_, bytes))) => {
                let _ = Entry::decode(&bytes);
            }
            _ => return,
        }
    }
}

/// An `add-checkpoint` request, as `suanli witness` reads it from the network, decided
/// against a witness that follows one log and holds a tree of size 5; a witness key
/// string; the cosignatures on the request's checkpoint. A request that parses encodes
/// back to the same bytes.
pub fn witness(data: &[u8]) {
    use suanli_core::witness::{AddCheckpoint, Cosigned, Cosigner, CosignerKey, decide, verify_cosignatures};
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(k) = CosignerKey::parse(s)
    {
        assert_eq!(k.to_string(), s, "one spelling per witness key");
    }
    let Ok(req) = AddCheckpoint::parse(data) else { return };
    assert_eq!(req.encode().as_bytes(), data, "a request round-trips");
    let log = Signer::new("suanli/fuzz", tk::key(3)).expect("key name");
    let witness = Cosigner::new("witness.fuzz/w1", tk::key(4)).expect("key name");
    let held = Cosigned { size: 5, root: [7; 32] };
    if let Ok(cp) = decide(&req, &[log.verifier()], |_| Some(held)) {
        assert!(cp.size >= held.size, "never cosigns a smaller tree");
        assert!(cp.size > held.size || cp.root == held.root, "never cosigns another root of the same size");
    }
    let _ = verify_cosignatures(&req.checkpoint, &[witness.verifier()]);
}

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target, by the name of its `fuzz/fuzz_targets/<name>.rs` and regression folder.
pub const TARGETS: [(&str, Target); 9] = [
    ("envelope", envelope),
    ("record", record),
    ("log_entry", log_entry),
    ("program", program),
    ("checkpoint", checkpoint),
    ("csv", csv),
    ("export", export),
    ("tiles", tiles),
    ("witness", witness),
];
