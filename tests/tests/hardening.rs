//! Findings 6–9 of issue 16 against a real `suanlid`: extreme numbers in any gRPC request
//! get clear errors (never a panic), a signed `-0.00` is refused, role keys are never
//! entity keys, and a secret key file others can read is refused by `suanlid` and named by
//! `suanli`.

use std::os::unix::fs::PermissionsExt;

use suanli_core::ledger::InputKind;
use suanli_core::testkit::{self as tk, public, uscc};
use suanli_tests::{Grpc, Server, code, envelope, runtime, v1};

/// Calls that must end in a clear status: never the Unknown/Internal of a handler that
/// panicked and dropped the stream, and the server must go on answering.
fn assert_clear(what: &str, r: Result<(), tonic::Status>) {
    if let Err(s) = r {
        assert!(!matches!(s.code(), tonic::Code::Unknown | tonic::Code::Internal), "{what}: {s}");
    }
}

fn panicked(server: &Server) -> bool {
    std::fs::read_to_string(&server.log).unwrap_or_default().contains("panicked")
}

/// Finding 6: `GetInclusionProof{index: 2^64-1}` and a read signed at -2^63 ms panicked
/// (`index + 1` and `now - issued_at` overflowed). Every Audit call and every signed read
/// is now tried with the extreme values of each numeric field.
#[test]
fn extreme_numbers_in_requests_get_clear_errors() {
    let server = Server::start();
    let admin = Server::read_key(&server.admin_key());
    runtime().block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(server.url()).unwrap().connect().await.unwrap();
        let mut audit = v1::audit_client::AuditClient::new(channel.clone());
        let mut g = Grpc::connect(&server.url()).await;
        let extremes = [0, 1, 2, u64::MAX / 2, (1 << 63) + 1, u64::MAX - 1, u64::MAX];
        use v1::inclusion_proof_request::Leaf;
        for &a in &extremes {
            let r =
                audit.get_inclusion_proof(v1::InclusionProofRequest { leaf: Some(Leaf::Index(a)), tree_size: 0 }).await;
            assert_clear(&format!("inclusion proof of {a}"), r.map(drop));
            let r = audit.get_entry(v1::EntryRequest { index: a }).await;
            assert_clear(&format!("entry {a}"), r.map(drop));
            let r = audit.get_checkpoint(v1::AuditCheckpointRequest { at_or_before: Some(a) }).await;
            assert_clear(&format!("checkpoint at or before {a}"), r.map(drop));
            for &b in &extremes {
                let r = audit
                    .get_inclusion_proof(v1::InclusionProofRequest { leaf: Some(Leaf::Index(a)), tree_size: b })
                    .await;
                assert_clear(&format!("inclusion proof of {a} in {b}"), r.map(drop));
                let leaf = Leaf::LeafHash(vec![a as u8; 32]);
                let r = audit.get_inclusion_proof(v1::InclusionProofRequest { leaf: Some(leaf), tree_size: b }).await;
                assert_clear(&format!("inclusion proof by hash in {b}"), r.map(drop));
                let r = audit.get_consistency_proof(v1::ConsistencyProofRequest { old_size: a, new_size: b }).await;
                assert_clear(&format!("consistency {a}..{b}"), r.map(drop));
                let r = match audit.export_entries(v1::ExportRequest { from: a, to: b }).await {
                    Ok(s) => {
                        use tokio_stream::StreamExt;
                        let items: Vec<_> = s.into_inner().collect().await;
                        items.into_iter().try_for_each(|i| i.map(drop))
                    }
                    Err(s) => Err(s),
                };
                assert_clear(&format!("export {a}..{b}"), r);
                let r = audit
                    .find_record(v1::FindRecordRequest {
                        provider_id: uscc(1).to_string(),
                        record_id: "r".into(),
                        kind: 0,
                        tree_size: b,
                    })
                    .await;
                assert_clear(&format!("find record in {b}"), r.map(drop));
            }
        }
        // Signed reads: the time, the years and the as-of sequence at their extremes.
        let read_at = |issued_at_ms: i64, query: v1::read_request::Query| {
            use prost::Message;
            let req = v1::ReadRequest { issued_at_ms, nonce: vec![1], query: Some(query) };
            let payload = req.encode_to_vec();
            let signature = suanli_core::sig::sign(&admin, suanli_core::sig::Domain::Read, &payload);
            v1::Envelope { payload, public_key: public(&admin).to_vec(), signature: signature.to_vec() }
        };
        for t in [i64::MIN, i64::MIN + 1, -1, i64::MAX - 1, i64::MAX] {
            let r = g.settlement.list_periods(read_at(t, v1::read_request::Query::Periods(v1::PeriodsQuery {}))).await;
            let s = r.expect_err("a read signed far from now is refused");
            assert_eq!(s.code(), tonic::Code::Unauthenticated, "issued_at_ms {t}: {s}");
        }
        let mut reports = v1::reports_client::ReportsClient::new(channel.clone());
        for year in [i32::MIN, -1, 0, 1999, 2200, i32::MAX] {
            for as_of in [None, Some(0), Some(u64::MAX)] {
                let q = v1::read_request::Query::Report(v1::ReportQuery { year, as_of_seq: as_of, format: 0 });
                let r = reports.annual_report(suanli_tests::read(&admin, q)).await.map(drop);
                assert_clear(&format!("annual report {year} as of {as_of:?}"), r);
                let q = v1::read_request::Query::Statement(v1::StatementQuery { id: uscc(1).to_string(), year });
                let r = reports.entity_statement(suanli_tests::read(&admin, q)).await.map(drop);
                assert_clear(&format!("statement {year}"), r);
            }
        }
        let q = v1::read_request::Query::Report(v1::ReportQuery { year: 2026, as_of_seq: None, format: i32::MAX });
        assert_clear("report format", reports.annual_report(suanli_tests::read(&admin, q)).await.map(drop));
        // Still serving, and nothing panicked.
        let info = g.ledger.get_info(v1::InfoRequest {}).await;
        assert!(info.is_ok(), "{info:?}");
    });
    assert!(!panicked(&server), "suanlid panicked: see {}", server.log.display());
}

/// Finding 7: an amount of `-0.00` was accepted and kept in the signed log.
#[test]
fn negative_zero_amounts_are_malformed() {
    let server = Server::start();
    let admin = Server::read_key(&server.admin_key());
    runtime().block_on(async {
        let mut g = Grpc::connect(&server.url()).await;
        let ops = [
            tk::register(&uscc(1), "P", tk::flags(true, false, true, false, false), None),
            tk::add_key(&uscc(1), &public(&tk::key(11))),
            tk::register(&uscc(3), "R", tk::flags(false, true, false, false, false), None),
        ];
        g.admin_accepted(&admin, ops).await;
        let (before, _) = g.log_state().await;
        let end = suanli_core::time::parse_rfc3339("2026-06-30T12:00:00+08:00").unwrap();
        let mut envs = Vec::new();
        for (i, amount) in ["-0.00", "-0", "-0.0"].into_iter().enumerate() {
            let r = tk::usage_record(&format!("nz-{i}"), &uscc(1), &uscc(3), "0.000001", "0.0001", amount, end, None);
            envs.push(envelope(&tk::sign(InputKind::Usage, &tk::key(11), &r)));
        }
        let acks = g.submit_all(envs).await;
        for a in &acks {
            assert_eq!(code(a), "MALFORMED", "{a:?}");
            assert!(a.detail.contains("amount"), "{}", a.detail);
        }
        assert_eq!(g.log_state().await.0, before, "nothing was written");
    });
}

/// Finding 8: the admin could register the finance key (or its own, or the ledger's) as an
/// entity's key, and that role key then signed usage as the entity.
#[test]
fn role_keys_are_never_entity_keys() {
    let server = Server::start();
    let admin = Server::read_key(&server.admin_key());
    let finance = Server::read_key(&server.finance_key());
    let ledger_key = Server::read_key(&server.data_dir.join("ledger.key"));
    runtime().block_on(async {
        let mut g = Grpc::connect(&server.url()).await;
        g.admin_accepted(&admin, [tk::register(&uscc(1), "P", tk::flags(true, false, true, false, false), None)]).await;
        for (role, key) in [("finance", &finance), ("admin", &admin), ("ledger signing", &ledger_key)] {
            let input =
                tk::admin(&admin, &format!("role-{}", role.replace(' ', "-")), tk::add_key(&uscc(1), &public(key)));
            let ack = g.registry.apply(envelope(&input)).await.unwrap().into_inner();
            assert_eq!(code(&ack), "KEY_EXISTS", "{role}: {ack:?}");
            assert!(ack.detail.contains(role), "{}", ack.detail);
        }
        // The finance key still cannot sign usage as the entity.
        let end = suanli_core::time::parse_rfc3339("2026-06-30T12:00:00+08:00").unwrap();
        let r = tk::usage_record("f-1", &uscc(1), &uscc(1), "8", "12.50", "100.00", end, None);
        let acks = g.submit_all(vec![envelope(&tk::sign(InputKind::Usage, &finance, &r))]).await;
        assert_ne!(code(&acks[0]), "ACCEPTED");
    });
}

/// Finding 9: a `ledger.key` anyone could read was used without a word. `suanlid` now
/// refuses it (like ssh), and `suanli` warns about an admin key others can read.
#[test]
fn secret_key_files_others_can_read_are_refused_or_named() {
    let mut server = Server::start();
    let data = server.data_dir.clone();
    server.stop();
    let ledger_key = data.join("ledger.key");
    std::fs::set_permissions(&ledger_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = match Server::try_start_in(&data, &[]) {
        Ok(_) => panic!("suanlid started with a world-readable ledger.key"),
        Err(e) => e,
    };
    assert!(err.contains("ledger.key") && err.contains("chmod 600"), "{err}");
    std::fs::set_permissions(&ledger_key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let server = Server::start_in(&data, &[]);
    let admin_key = server.admin_key();
    std::fs::set_permissions(&admin_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let admin = admin_key.to_string_lossy().into_owned();
    let args = ["entity", "register", "--key", &admin, "--id", &uscc(1).to_string(), "--name", "P", "--provider"];
    let out = server.cli(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("WARNING") && stderr.contains("chmod 600"), "{stderr}");
}
