//! Batch-signed usage records (`Ingest.SubmitUsageBatchSigned`, `suanli/v1/usage-batch\n`)
//! against a real `suanlid`: accepted, each record decided on its own, DUPLICATE and
//! CONFLICT across batches and single signatures, a bad batch signature refusing the whole
//! batch, a batch signed for another ledger refused, and `suanli log verify` / `log prove`
//! checking batch signatures (and naming a tampered one).

use std::path::Path;
use std::process::Output;

use futures::StreamExt;
use prost::Message;
use suanli_core::batch;
use suanli_core::entry::{Body, Entry};
use suanli_core::export::{ExportReader, ExportWriter, Header};
use suanli_core::ledger::InputKind;
use suanli_core::testkit::{self as tk, public, uscc};
use suanli_core::wire;
use suanli_tests::{Grpc, Server, code, envelope, runtime, v1};

fn end() -> i64 {
    suanli_core::time::parse_rfc3339("2026-06-30T12:00:00+08:00").unwrap()
}

/// A usage record of provider `p` (uscc) for renter 3.
fn record(p: u64, id: &str, amount: &str) -> wire::UsageRecord {
    let hours = match amount {
        "100.00" => "8",
        "200.00" => "16",
        other => panic!("no hours for {other}"),
    };
    tk::usage_record(id, &uscc(p), &uscc(3), hours, "12.50", amount, end(), None)
}

fn batch_of(key: &ed25519_dalek::SigningKey, origin: &str, records: &[wire::UsageRecord]) -> v1::BatchEnvelope {
    let bytes: Vec<Vec<u8>> = records.iter().map(Message::encode_to_vec).collect();
    let (signature, _) = batch::sign(key, origin, &bytes).unwrap();
    v1::BatchEnvelope { records: bytes, public_key: public(key).to_vec(), signature: signature.to_vec() }
}

async fn submit_batches(g: &mut Grpc, batches: Vec<v1::BatchEnvelope>) -> Vec<v1::Ack> {
    let acks = g.ingest.submit_usage_batch_signed(tokio_stream::iter(batches)).await.expect("stream opens");
    acks.into_inner().map(|a| a.expect("an ack")).collect().await
}

async fn setup(g: &mut Grpc, admin: &ed25519_dalek::SigningKey) -> String {
    g.admin_accepted(
        admin,
        [
            tk::register(&uscc(1), "P", tk::flags(true, false, true, false, false), None),
            tk::add_key(&uscc(1), &public(&tk::key(11))),
            tk::register(&uscc(2), "P2", tk::flags(true, false, true, false, false), None),
            tk::add_key(&uscc(2), &public(&tk::key(12))),
            tk::register(&uscc(3), "R", tk::flags(false, true, false, false, false), None),
        ],
    )
    .await;
    g.ledger.get_info(v1::InfoRequest {}).await.unwrap().into_inner().origin
}

fn codes(acks: &[v1::Ack]) -> Vec<String> {
    acks.iter().map(code).collect()
}

#[test]
fn batch_signed_records_end_to_end() {
    let server = Server::start();
    let admin = Server::read_key(&server.admin_key());
    let p = tk::key(11);
    let rt = runtime();
    let (origin, first_seq) = rt.block_on(async {
        let mut g = Grpc::connect(&server.url()).await;
        let origin = setup(&mut g, &admin).await;

        // Ten records, one signature: each accepted, in order, on consecutive entries.
        let a: Vec<_> = (0..10).map(|i| record(1, &format!("a{i}"), "100.00")).collect();
        let acks = submit_batches(&mut g, vec![batch_of(&p, &origin, &a)]).await;
        assert_eq!(codes(&acks), vec!["ACCEPTED"; 10]);
        assert_eq!(acks.iter().map(|a| a.index).collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
        assert!(acks.windows(2).all(|w| w[1].seq == w[0].seq + 1), "one entry per record, in order");
        let first_seq = acks[0].seq;

        // Two batches on one stream: acks count records across them. The first repeats a3
        // (DUPLICATE, the original entry), changes a4 (CONFLICT), adds b0, and holds a
        // record of another provider (decided on its own: PROVIDER_MISMATCH). The second
        // batch's signature is broken: all of it is refused.
        let b = vec![a[3].clone(), record(1, "a4", "200.00"), record(1, "b0", "100.00"), record(2, "x0", "100.00")];
        let mut broken = batch_of(&p, &origin, &[record(1, "c0", "100.00"), record(1, "c1", "100.00")]);
        broken.signature[10] ^= 0x01;
        let acks = submit_batches(&mut g, vec![batch_of(&p, &origin, &b), broken]).await;
        assert_eq!(
            codes(&acks),
            vec!["DUPLICATE", "CONFLICT", "ACCEPTED", "PROVIDER_MISMATCH", "BAD_SIGNATURE", "BAD_SIGNATURE"]
        );
        assert_eq!(acks.iter().map(|a| a.index).collect::<Vec<_>>(), (0..6).collect::<Vec<_>>());
        assert_eq!(acks[0].seq, first_seq + 3, "the duplicate names the original entry");

        // A record moved within its batch, or one swapped for another, breaks the batch.
        let mut moved = batch_of(&p, &origin, &[record(1, "d0", "100.00"), record(1, "d1", "100.00")]);
        moved.records.swap(0, 1);
        let mut swapped = batch_of(&p, &origin, &[record(1, "d2", "100.00"), record(1, "d3", "100.00")]);
        swapped.records[1] = record(1, "d4", "100.00").encode_to_vec();
        let acks = submit_batches(&mut g, vec![moved, swapped]).await;
        assert_eq!(codes(&acks), vec!["BAD_SIGNATURE"; 4]);

        // Across single and batch signatures: the bytes decide, not how they were signed.
        let single = |r: &wire::UsageRecord| envelope(&tk::sign(InputKind::Usage, &p, r));
        let acks = g
            .submit_all(vec![single(&a[5]), single(&record(1, "a6", "200.00")), single(&record(1, "s0", "100.00"))])
            .await;
        assert_eq!(codes(&acks), vec!["DUPLICATE", "CONFLICT", "ACCEPTED"]);
        assert_eq!(acks[0].seq, first_seq + 5);
        let acks = submit_batches(
            &mut g,
            vec![batch_of(&p, &origin, &[record(1, "s0", "100.00"), record(1, "s0x", "100.00")])],
        )
        .await;
        assert_eq!(codes(&acks), vec!["DUPLICATE", "ACCEPTED"]);

        // Shape errors answer every record of the batch; an empty batch ends the call.
        let mut short_key = batch_of(&p, &origin, &[record(1, "e0", "100.00")]);
        short_key.public_key.pop();
        let too_many: Vec<_> = (0..65).map(|i| record(1, &format!("f{i}"), "100.00")).collect();
        let too_many = v1::BatchEnvelope {
            records: too_many.iter().map(Message::encode_to_vec).collect(),
            public_key: public(&p).to_vec(),
            signature: vec![0; 64],
        };
        let acks = submit_batches(&mut g, vec![short_key, too_many]).await;
        assert_eq!(acks.len(), 66);
        assert_eq!(code(&acks[0]), "BAD_SIGNATURE");
        assert!(acks[1..].iter().all(|a| code(a) == "MALFORMED"), "{:?}", codes(&acks[1..4]));
        let empty = v1::BatchEnvelope { records: vec![], public_key: public(&p).to_vec(), signature: vec![0; 64] };
        let mut acks = g.ingest.submit_usage_batch_signed(tokio_stream::iter(vec![empty])).await.unwrap().into_inner();
        let status = acks.next().await.expect("an answer").expect_err("an error");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status}");
        (origin, first_seq)
    });

    // The same provider and key at another ledger: a batch signed for this one is refused
    // there whole, and the same records signed for that ledger are accepted.
    let other = Server::start();
    let other_admin = Server::read_key(&other.admin_key());
    rt.block_on(async {
        let mut g = Grpc::connect(&other.url()).await;
        let other_origin = setup(&mut g, &other_admin).await;
        assert_ne!(other_origin, origin);
        let a: Vec<_> = (0..3).map(|i| record(1, &format!("a{i}"), "100.00")).collect();
        let acks = submit_batches(&mut g, vec![batch_of(&p, &origin, &a)]).await;
        assert_eq!(codes(&acks), vec!["BAD_SIGNATURE"; 3], "replayed from another ledger");
        let acks = submit_batches(&mut g, vec![batch_of(&p, &other_origin, &a)]).await;
        assert_eq!(codes(&acks), vec!["ACCEPTED"; 3]);
    });

    // Each batch-signed record is provable on its own.
    let out = server.cli_ok(&["log", "prove", "--provider", &uscc(1).to_string(), "--record-id", "a7"]);
    assert!(out.contains("proved"), "{out}");

    // The log verifies offline, batch signatures included; a tampered batch signature, or
    // a tampered audit path, is named.
    let dir = tempfile::tempdir().unwrap();
    let path = |n: &str| dir.path().join(n);
    let cp = server.cli_ok(&["log", "checkpoint"]);
    std::fs::write(path("cp"), &cp).unwrap();
    let export = path("log.export");
    server.cli_ok(&["log", "export", "--out", export.to_str().unwrap()]);
    let ledger_key = rt.block_on(async {
        let mut g = Grpc::connect(&server.url()).await;
        g.ledger.get_info(v1::InfoRequest {}).await.unwrap().into_inner().ledger_public_key
    });
    let key = suanli_core::keyfile::encode_public(&ledger_key.try_into().unwrap());
    let out = verify(&server, &export, &path("cp"), &key);
    assert!(out.status.success(), "verify failed: {}", String::from_utf8_lossy(&out.stderr));

    let target = first_seq + 2;
    let tampered = path("tampered.export");
    for what in ["signature", "path"] {
        rewrite(&export, &tampered, |entries| {
            let mut e = Entry::decode(&entries[target as usize]).unwrap();
            let Body::Usage { input, .. } = &mut e.body else { panic!("entry {target} is a usage record") };
            let proof = input.batch.as_mut().expect("batch-signed");
            match what {
                "signature" => input.signature[5] ^= 0x01,
                _ => proof.path[0][0] ^= 0x01,
            }
            entries[target as usize] = e.encode();
        });
        let out = verify(&server, &tampered, &path("cp"), &key);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "a tampered batch {what} was accepted");
        assert!(err.contains(&format!("entry {target}:")) && err.contains("signature"), "{what}: {err}");
    }
}

fn verify(server: &Server, export: &Path, checkpoint: &Path, key: &str) -> Output {
    server.cli(&[
        "log",
        "verify",
        "--export",
        export.to_str().unwrap(),
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--ledger-pubkey",
        key,
    ])
}

/// Rewrites an export with `edit` applied to its entries.
fn rewrite(from: &Path, to: &Path, edit: impl FnOnce(&mut Vec<Vec<u8>>)) {
    let reader = ExportReader::new(std::io::BufReader::new(std::fs::File::open(from).unwrap())).unwrap();
    let header: Header = reader.header().clone();
    let mut entries: Vec<Vec<u8>> = reader.map(|e| e.unwrap().1).collect();
    edit(&mut entries);
    let mut w = ExportWriter::new(std::fs::File::create(to).unwrap(), &header).unwrap();
    for e in &entries {
        w.write_entry(e).unwrap();
    }
    w.finish().unwrap();
}
