//! Restarts: a graceful stop and a crash (SIGKILL) both come back with every balance,
//! voucher, period and the log root as they were; acknowledged records stay acknowledged.

use suanli_core::ledger::InputKind;
use suanli_core::testkit::{self as tk, public, uscc};
use suanli_core::time::parse_rfc3339;
use suanli_core::wire;
use suanli_tests::{Grpc, Server, code, envelope, now, read, runtime, v1};

/// Everything a user could see, as one comparable value.
async fn observe(g: &mut Grpc, admin: &ed25519_dalek::SigningKey, finance: &ed25519_dalek::SigningKey) -> String {
    let mut out = String::new();
    for n in [1, 3, 5] {
        let q = v1::read_request::Query::Entity(v1::EntityQuery { id: uscc(n).to_string() });
        let e = g.registry.get_entity(read(admin, q)).await.unwrap().into_inner();
        out += &format!("{e:?}\n");
    }
    let q = v1::read_request::Query::Voucher(v1::VoucherQuery { voucher_id: "V1".into() });
    out += &format!("{:?}\n", g.vouchers.get_voucher(read(admin, q)).await.unwrap().into_inner());
    let q = v1::read_request::Query::Periods(v1::PeriodsQuery {});
    out += &format!("{:?}\n", g.settlement.list_periods(read(finance, q)).await.unwrap().into_inner());
    let (size, note) = g.log_state().await;
    let root = note.lines().nth(2).unwrap_or_default().to_string();
    out += &format!("size {size} root {root}\n");
    out
}

/// The usage end of every record the test sends, fixed once: records resubmitted after
/// the crash must be byte for byte the ones acknowledged before it (computing it from the
/// clock on each call made them CONFLICT whenever a second passed between the two).
fn record_end() -> i64 {
    static END: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *END.get_or_init(|| now() - 7200)
}

async fn populate(g: &mut Grpc, server: &Server, from: u64, n: u64) -> Vec<v1::Ack> {
    let kp = tk::key(11);
    let end = record_end();
    let inputs: Vec<v1::Envelope> = (from..from + n)
        .map(|i| {
            let v = if i % 3 == 0 { Some("V1") } else { None };
            let renter = if v.is_some() { uscc(5) } else { uscc(3) };
            let r = tk::usage_record(&format!("u{i}"), &uscc(1), &renter, "8", "12.50", "100.00", end, v);
            envelope(&tk::sign(InputKind::Usage, &kp, &r))
        })
        .collect();
    let _ = server;
    g.submit_all(inputs).await
}

async fn setup(g: &mut Grpc, server: &Server) {
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
            valid_from: parse_rfc3339("2026-01-01T00:00:00+08:00").unwrap(),
            valid_until: parse_rfc3339("2027-01-01T00:00:00+08:00").unwrap(),
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
}

#[test]
fn graceful_restart_and_crash_restart_keep_everything() {
    let mut server = Server::start();
    let admin = Server::read_key(&server.admin_key());
    let finance = Server::read_key(&server.finance_key());
    let rt = runtime();
    let before = rt.block_on(async {
        let mut g = Grpc::connect(&server.url()).await;
        setup(&mut g, &server).await;
        let acks = populate(&mut g, &server, 0, 300).await;
        assert!(acks.iter().all(|a| code(a) == "ACCEPTED"));
        let close = wire::finance_request::Op::ClosePeriod(wire::ClosePeriod { name: "P1".into() });
        let ack = g.settlement.apply(envelope(&tk::finance(&finance, "c1", close))).await.unwrap().into_inner();
        assert_eq!(code(&ack), "ACCEPTED");
        observe(&mut g, &admin, &finance).await
    });

    server.restart();
    let after = rt.block_on(async {
        let mut g = Grpc::connect(&server.url()).await;
        observe(&mut g, &admin, &finance).await
    });
    assert_eq!(before, after, "a graceful restart changes nothing");

    // More records, then a crash right after they were acknowledged.
    let (acked, seen) = rt.block_on(async {
        let mut g = Grpc::connect(&server.url()).await;
        let acks = populate(&mut g, &server, 300, 200).await;
        (acks, observe(&mut g, &admin, &finance).await)
    });
    server.kill();
    let mut server = Server::start_in(&server.data_dir.clone(), &[]);
    rt.block_on(async {
        let mut g = Grpc::connect(&server.url()).await;
        assert_eq!(observe(&mut g, &admin, &finance).await, seen, "a crash loses nothing acknowledged");
        // Every acknowledged record is there exactly once: resubmitting is DUPLICATE with its seq.
        let again = populate(&mut g, &server, 300, 200).await;
        for (a, b) in acked.iter().zip(&again) {
            assert_eq!(code(b), "DUPLICATE");
            assert_eq!(a.seq, b.seq);
            assert_eq!(a.lines, b.lines);
        }
    });
    server.stop();
}
