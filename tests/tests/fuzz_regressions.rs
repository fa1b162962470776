//! Replays every input kept under `fuzz/regressions/<target>/` (crashes the fuzzers found,
//! and seeds worth keeping) through the same target code the fuzzers run
//! (`suanli_tests::fuzzing`), so a fixed decoder stays fixed. A target with no kept input
//! still runs on a few built-in edge cases.

use std::path::PathBuf;

use suanli_tests::fuzzing::TARGETS;

fn regressions_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions")
}

#[test]
fn every_kept_fuzz_input_passes_its_target() {
    let mut ran = 0;
    for (name, target) in TARGETS {
        for edge in [&b""[..], b"\0", b"\xff\xff\xff\xff", b"\n\n\n", b"record_id\n"] {
            target(edge);
        }
        let dir = regressions_dir().join(name);
        let Ok(files) = std::fs::read_dir(&dir) else { continue };
        for file in files {
            let path = file.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            eprintln!("{name}: {}", path.display());
            target(&data);
            ran += 1;
        }
    }
    eprintln!("{ran} kept inputs replayed");
}

#[test]
fn every_target_has_a_fuzz_binary() {
    let fuzz = regressions_dir().join("../fuzz_targets");
    for (name, _) in TARGETS {
        let path = fuzz.join(format!("{name}.rs"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(text.contains(&format!("fuzzing::{name}(")), "{} does not call fuzzing::{name}", path.display());
    }
}

/// Writes starting inputs for the fuzzers to `fuzz/corpus/<target>/` (valid examples of
/// each format, so that mutation starts deep inside the decoders). Run before fuzzing:
/// `cargo test -p suanli-tests --test fuzz_regressions -- --ignored --exact write_fuzz_seeds`.
#[test]
#[ignore]
fn write_fuzz_seeds() {
    use prost::Message;
    use suanli_core::checkpoint::{Checkpoint, sign_checkpoint};
    use suanli_core::ledger::InputKind;
    use suanli_core::testkit::{self as tk, uscc};
    use suanli_core::wire;

    let corpus = regressions_dir().join("../corpus");
    let put = |target: &str, name: &str, data: &[u8]| {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), data).unwrap();
    };
    let end = 1_782_800_000;
    let usage = tk::usage_record("u1", &uscc(1), &uscc(3), "8", "12.50", "100.00", end, None);
    let voucher = tk::usage_record("u2", &uscc(1), &uscc(5), "800", "12.50", "10000.00", end, Some("V1"));
    let reversal = tk::reversal(&uscc(1), "u1", "typo");
    let corpus_rec = wire::CorpusRecord {
        record_id: "c1".into(),
        supplier_id: uscc(1).to_string(),
        buyer_id: uscc(5).to_string(),
        voucher_id: "V1".into(),
        amount: "100.00".into(),
        purchased_at: end,
        description: "语料".into(),
        invoice_no: String::new(),
    };
    let admin = wire::AdminRequest {
        request_id: "a1".into(),
        op: Some(tk::register(&uscc(7), "X", tk::flags(true, true, true, false, false), Some("g"))),
    };
    let finance = wire::FinanceRequest {
        request_id: "f1".into(),
        op: Some(wire::finance_request::Op::ClosePeriod(wire::ClosePeriod { name: "2026-Q1".into() })),
    };
    let payloads: Vec<(u8, Vec<u8>)> = vec![
        (0, usage.encode_to_vec()),
        (0, voucher.encode_to_vec()),
        (1, corpus_rec.encode_to_vec()),
        (2, reversal.encode_to_vec()),
        (3, admin.encode_to_vec()),
        (5, finance.encode_to_vec()),
    ];
    for (i, (kind, payload)) in payloads.iter().enumerate() {
        let signed = tk::sign(InputKind::Usage, &tk::key(11), &usage);
        let env = suanli_proto::v1::Envelope {
            payload: payload.clone(),
            public_key: signed.signed.public_key.to_vec(),
            signature: signed.signed.signature.to_vec(),
        };
        let mut data = vec![*kind];
        data.extend(env.encode_to_vec());
        put("envelope", &format!("seed{i}"), &data);
        put("record", &format!("seed{i}"), payload);
    }
    // Entries: decided against a fresh ledger by the envelope target's own setup.
    let program = suanli_core::program::Program::suzhou_2026();
    let genesis = suanli_core::entry::Genesis {
        program_toml: program.to_toml(),
        admin_key: tk::public(&tk::key(1)),
        finance_key: tk::public(&tk::key(2)),
        ledger_key: tk::public(&tk::key(3)),
        origin: "suanli/fuzz".into(),
    };
    let (mut ledger, g) = suanli_core::ledger::Ledger::create(genesis, 1_782_000_000_000).unwrap();
    let mut index = suanli_core::index::MemIndex::default();
    let mut entries = vec![g.encode()];
    put("log_entry", "genesis", &entries[0]);
    let inputs = [
        tk::admin(&tk::key(1), "a1", tk::register(&uscc(1), "P", tk::flags(true, false, true, false, false), None)),
        tk::admin(&tk::key(1), "a2", tk::add_key(&uscc(1), &tk::public(&tk::key(11)))),
        tk::admin(&tk::key(1), "a3", tk::register(&uscc(3), "R", tk::flags(false, true, false, false, false), None)),
        tk::sign(InputKind::Usage, &tk::key(11), &usage),
        tk::sign(InputKind::Reversal, &tk::key(11), &reversal),
    ];
    for (i, input) in inputs.iter().enumerate() {
        if let suanli_core::ledger::Decision::Accepted(e) = ledger.decide(&mut index, 1_782_835_200_000, input, true) {
            put("log_entry", &format!("entry{i}"), &e.encode());
            entries.push(e.encode());
        }
    }
    put("log_entry", "snapshot", &ledger.encode_snapshot());
    put("program", "suzhou-2026.toml", program.to_toml().as_bytes());
    let signer = suanli_core::note::Signer::new("suanli/fuzz", tk::key(3)).unwrap();
    let note = sign_checkpoint(&Checkpoint::new("suanli/fuzz", 6, [7; 32]), &signer).unwrap();
    put("checkpoint", "signed", note.as_bytes());
    put("checkpoint", "vkey", signer.verifier().to_string().as_bytes());
    // add-checkpoint requests the fuzzed witness (holding size 5, root [7; 32]) can reach
    // deep into: first contact, a wrong old size, equal sizes, and a witness key.
    for (name, old, cp) in [
        ("first", 0, &note),
        ("old5", 5, &note),
        ("same", 5, &{ sign_checkpoint(&Checkpoint::new("suanli/fuzz", 5, [7; 32]), &signer).unwrap() }),
    ] {
        let req = suanli_core::witness::AddCheckpoint {
            old_size: old,
            proof: if name == "same" { vec![] } else { vec![[1; 32]] },
            checkpoint: cp.clone(),
        };
        put("witness", name, req.encode().as_bytes());
    }
    let w = suanli_core::witness::Cosigner::new("witness.fuzz/w1", tk::key(4)).unwrap();
    put("witness", "vkey", w.verifier().to_string().as_bytes());
    put(
        "csv",
        "usage.csv",
        b"record_id,provider_id,renter_id,contract_id,gpu_model,gpu_count,start,end,gpu_hours,unit_price,amount,voucher_id,invoice_no\n\
u1,91350100M000100Y43,91110108551385082Q,HT-1,H100,8,2026-03-01T00:00:00+08:00,2026-03-06T05:00:00+08:00,1000,12.50,12500.00,,\n\
\"u,2\",91350100M000100Y43,91110108551385082Q,\"HT\"\"2\",H100,8,2026-03-01T00:00:00+08:00,2026-03-06T05:00:00+08:00,1000,12.50,12500.00,V1,INV-1\r\n",
    );
    put(
        "csv",
        "corpus.csv",
        b"record_id,supplier_id,buyer_id,voucher_id,amount,purchased_at,description,invoice_no\nc1,91350100M000100Y43,91110108551385082Q,V2,100.00,2026-03-01T00:00:00+08:00,corpus,\n",
    );
    let header = suanli_core::export::Header { origin: "suanli/fuzz".into(), first: 0, entries: entries.len() as u64 };
    let mut w = suanli_core::export::ExportWriter::new(Vec::new(), &header).unwrap();
    for e in &entries {
        w.write_entry(e).unwrap();
    }
    put("export", "full.export", &w.finish().unwrap());
}
