//! Hostile and mistaken input against a running `suanlid`: one case per `REJECTED` reason,
//! signatures made for one message type sent as another, replayed requests, revoked keys,
//! oversized messages and garbage on the stream. Each gets a clear answer and leaves the
//! log exactly as it was (same size, same root).

use ed25519_dalek::SigningKey;
use suanli_core::ledger::{Input, InputKind};
use suanli_core::testkit::{self as tk, public, uscc};
use suanli_core::time::parse_rfc3339;
use suanli_core::wire;
use suanli_tests::{Grpc, Server, code, envelope, now, runtime, v1};
use tokio_stream::StreamExt;

struct World {
    g: Grpc,
    admin: SigningKey,
    finance: SigningKey,
    kp: SigningKey,
    p: suanli_core::ids::Uscc,
    r1: suanli_core::ids::Uscc,
}

async fn admin_ok(g: &mut Grpc, admin: &SigningKey, id: &str, op: wire::admin_request::Op) {
    let ack = g.registry.apply(envelope(&tk::admin(admin, id, op))).await.unwrap().into_inner();
    assert_eq!(code(&ack), "ACCEPTED", "{ack:?}");
}

async fn setup(server: &Server) -> World {
    let mut g = Grpc::connect(&server.url()).await;
    let admin = Server::read_key(&server.admin_key());
    let finance = Server::read_key(&server.finance_key());
    let (p, q, r1, o) = (uscc(1), uscc(2), uscc(3), uscc(5));
    admin_ok(&mut g, &admin, "r-p", tk::register(&p, "P", tk::flags(true, false, true, false, false), None)).await;
    admin_ok(&mut g, &admin, "r-q", tk::register(&q, "Q", tk::flags(false, true, false, false, false), None)).await;
    admin_ok(&mut g, &admin, "r-r1", tk::register(&r1, "R1", tk::flags(false, true, false, false, false), None)).await;
    admin_ok(&mut g, &admin, "r-o", tk::register(&o, "O", tk::flags(false, true, false, true, false), None)).await;
    let kp = tk::key(11);
    admin_ok(&mut g, &admin, "k-p", tk::add_key(&p, &public(&kp))).await;
    admin_ok(&mut g, &admin, "k-q", tk::add_key(&q, &public(&tk::key(12)))).await;
    admin_ok(&mut g, &admin, "k-p-old", tk::add_key(&p, &public(&tk::key(13)))).await;
    let revoke = wire::admin_request::Op::RevokeKey(wire::RevokeKey {
        id: p.to_string(),
        public_key: public(&tk::key(13)).to_vec(),
    });
    admin_ok(&mut g, &admin, "rk-p-old", revoke).await;
    let issue = wire::admin_request::Op::IssueVoucher(wire::IssueVoucher {
        voucher_id: "V1".into(),
        holder_id: o.to_string(),
        kind: wire::VoucherKind::Compute as i32,
        face_value: "1000.00".into(),
        valid_from: parse_rfc3339("2026-01-01T00:00:00+08:00").unwrap(),
        valid_until: parse_rfc3339("2027-01-01T00:00:00+08:00").unwrap(),
    });
    admin_ok(&mut g, &admin, "v1", issue).await;
    let close = wire::finance_request::Op::CloseYear(wire::CloseYear { year: 2025 });
    let ack = g.settlement.apply(envelope(&tk::finance(&finance, "cy-2025", close))).await.unwrap().into_inner();
    assert_eq!(code(&ack), "ACCEPTED");
    World { g, admin, finance, kp, p, r1 }
}

async fn submit(g: &mut Grpc, inputs: Vec<Input>) -> Vec<v1::Ack> {
    let envs: Vec<v1::Envelope> = inputs.iter().map(envelope).collect();
    let resp = g.ingest.submit_usage(tokio_stream::iter(envs)).await.expect("stream opens");
    let mut acks = Vec::new();
    let mut stream = resp.into_inner();
    while let Some(a) = stream.next().await {
        acks.push(a.expect("ack"));
    }
    acks
}

fn record(w: &World, id: &str, f: impl FnOnce(&mut wire::UsageRecord)) -> wire::UsageRecord {
    let end = now() - 3600;
    let mut r = tk::usage_record(id, &w.p, &w.r1, "8", "12.50", "100.00", end, None);
    f(&mut r);
    r
}

#[test]
fn every_rejection_leaves_the_log_unchanged() {
    let server = Server::start();
    runtime().block_on(async {
        let mut w = setup(&server).await;
        // One good record first, so CONFLICT has something to conflict with.
        let good = tk::sign(InputKind::Usage, &w.kp, &record(&w, "good", |_| {}));
        let acks = submit(&mut w.g, vec![good]).await;
        assert_eq!(code(&acks[0]), "ACCEPTED");
        let before = w.g.log_state().await;

        let sign = |k: &SigningKey, r: &wire::UsageRecord| tk::sign(InputKind::Usage, k, r);
        let mut bad_sig = sign(&w.kp, &record(&w, "b1", |_| {}));
        bad_sig.signed.signature[10] ^= 0x40;
        let cases: Vec<(&str, Input)> = vec![
            ("BAD_SIGNATURE", bad_sig),
            // A usage record signed under the admin domain: the signature is for another kind.
            ("BAD_SIGNATURE", tk::sign(InputKind::Admin, &w.kp, &record(&w, "b2", |_| {})).with_kind(InputKind::Usage)),
            ("UNKNOWN_KEY", sign(&tk::key(99), &record(&w, "b3", |_| {}))),
            ("REVOKED_KEY", sign(&tk::key(13), &record(&w, "b4", |_| {}))),
            ("NOT_A_PROVIDER", sign(&tk::key(12), &record(&w, "b5", |r| r.provider_id = uscc(2).to_string()))),
            ("PROVIDER_MISMATCH", sign(&w.kp, &record(&w, "b6", |r| r.provider_id = uscc(3).to_string()))),
            ("CONFLICT", sign(&w.kp, &record(&w, "good", |r| r.invoice_no = "INV-2".into()))),
            ("MALFORMED", sign(&w.kp, &record(&w, "b7", |r| r.amount = "100.000".into()))),
            ("MALFORMED", sign(&w.kp, &record(&w, "b8", |r| r.gpu_count = 0))),
            (
                "YEAR_CLOSED",
                sign(
                    &w.kp,
                    &record(&w, "b9", |r| {
                        r.end = parse_rfc3339("2025-06-01T00:00:00+08:00").unwrap();
                        r.start = r.end - 3600;
                    }),
                ),
            ),
            ("UNKNOWN_RENTER", sign(&w.kp, &record(&w, "b10", |r| r.renter_id = uscc(77).to_string()))),
            (
                "FUTURE_USAGE",
                sign(
                    &w.kp,
                    &record(&w, "b11", |r| {
                        r.end = now() + 3600;
                        r.start = r.end - 3600;
                    }),
                ),
            ),
            (
                "IMPOSSIBLE_USAGE",
                sign(
                    &w.kp,
                    &record(&w, "b12", |r| {
                        r.gpu_hours = "10".into();
                        r.amount = "125.00".into();
                    }),
                ),
            ),
            ("AMOUNT_MISMATCH", sign(&w.kp, &record(&w, "b13", |r| r.amount = "100.01".into()))),
            ("VOUCHER_INVALID", sign(&w.kp, &record(&w, "b14", |r| r.voucher_id = "V1".into()))),
            ("VOUCHER_INVALID", sign(&w.kp, &record(&w, "b15", |r| r.voucher_id = "NOPE".into()))),
        ];
        let (expected, inputs): (Vec<&str>, Vec<Input>) = cases.into_iter().unzip();
        let acks = submit(&mut w.g, inputs).await;
        assert_eq!(acks.len(), expected.len());
        for (i, (ack, want)) in acks.iter().zip(&expected).enumerate() {
            assert_eq!(ack.index, i as u64);
            assert_eq!(&code(ack), want, "case {i}: {ack:?}");
            assert!(!ack.detail.is_empty(), "case {i} explains itself");
        }
        assert!(acks[7].detail.starts_with("amount"), "MALFORMED names the field: {}", acks[7].detail);
        assert_eq!(w.g.log_state().await, before, "rejections change nothing");
    });
}

trait WithKind {
    fn with_kind(self, kind: InputKind) -> Self;
}

impl WithKind for Input {
    fn with_kind(mut self, kind: InputKind) -> Self {
        self.kind = kind;
        self
    }
}

#[test]
fn requests_are_signed_by_the_right_role_and_applied_once() {
    let server = Server::start();
    runtime().block_on(async {
        let mut w = setup(&server).await;
        let before = w.g.log_state().await;
        let op = || tk::register(&uscc(40), "X", tk::flags(true, false, false, false, false), None);

        // A registry change signed by the finance key, or by a provider key.
        for key in [&w.finance, &w.kp] {
            let ack = w.g.registry.apply(envelope(&tk::admin(key, "x1", op()))).await.unwrap().into_inner();
            assert_eq!(code(&ack), "UNAUTHORIZED", "{ack:?}");
        }
        // An admin request signed under the usage domain and sent to the registry.
        let cross = tk::admin(&w.admin, "x2", op()).with_kind(InputKind::Usage);
        let mut env = envelope(&cross);
        env.signature =
            tk::sign(InputKind::Usage, &w.admin, &wire::AdminRequest { request_id: "x2".into(), op: Some(op()) })
                .signed
                .signature
                .to_vec();
        let ack = w.g.registry.apply(env).await.unwrap().into_inner();
        assert_eq!(code(&ack), "BAD_SIGNATURE");
        // A usage record sent to the registry: its signature is for the usage domain.
        let rec = tk::sign(InputKind::Usage, &w.kp, &record(&w, "r1", |_| {}));
        let ack = w.g.registry.apply(envelope(&rec)).await.unwrap().into_inner();
        assert_eq!(code(&ack), "BAD_SIGNATURE");
        // A finance action signed by the admin key.
        let close = wire::finance_request::Op::ClosePeriod(wire::ClosePeriod { name: "Q1".into() });
        let ack = w.g.settlement.apply(envelope(&tk::finance(&w.admin, "f1", close))).await.unwrap().into_inner();
        assert_eq!(code(&ack), "UNAUTHORIZED");
        assert_eq!(w.g.log_state().await, before, "refused requests change nothing");

        // A replayed admin request is answered DUPLICATE and applied once.
        let req = envelope(&tk::admin(&w.admin, "reg-x", op()));
        let first = w.g.registry.apply(req.clone()).await.unwrap().into_inner();
        assert_eq!(code(&first), "ACCEPTED");
        let after_first = w.g.log_state().await;
        assert_eq!(after_first.0, before.0 + 1);
        let again = w.g.registry.apply(req).await.unwrap().into_inner();
        assert_eq!(code(&again), "DUPLICATE");
        assert_eq!(again.seq, first.seq);
        // The same request id with other content is a conflict.
        let other = tk::register(&uscc(41), "Y", tk::flags(true, false, false, false, false), None);
        let ack = w.g.registry.apply(envelope(&tk::admin(&w.admin, "reg-x", other))).await.unwrap().into_inner();
        assert_eq!(code(&ack), "CONFLICT");
        assert_eq!(w.g.log_state().await, after_first);
    });
}

#[test]
fn oversized_and_garbage_messages_are_refused_and_the_server_keeps_serving() {
    let server = Server::start();
    runtime().block_on(async {
        let mut w = setup(&server).await;
        let before = w.g.log_state().await;

        // A payload over the per-record limit: a clear MALFORMED answer.
        let mut big = record(&w, "big", |_| {});
        big.contract_id = "x".repeat(20_000);
        let acks = submit(&mut w.g, vec![tk::sign(InputKind::Usage, &w.kp, &big)]).await;
        assert_eq!(code(&acks[0]), "MALFORMED");
        assert!(acks[0].detail.contains("payload"), "{}", acks[0].detail);

        // A message over the gRPC limit: the call fails with a clear status.
        let huge =
            v1::Envelope { payload: vec![0u8; 9 * 1024 * 1024], public_key: vec![0; 32], signature: vec![0; 64] };
        let resp = w.g.ingest.submit_usage(tokio_stream::iter(vec![huge])).await;
        let err = match resp {
            Err(status) => status,
            Ok(r) => r.into_inner().next().await.expect("an answer").expect_err("an error status"),
        };
        assert!(
            matches!(err.code(), tonic::Code::OutOfRange | tonic::Code::ResourceExhausted | tonic::Code::Internal),
            "{err:?}"
        );

        // Garbage where an envelope should be: the stream ends with an error status.
        let garbage = raw_stream(&server.url(), vec![vec![0xff, 0xff, 0xff, 0xff, 0x0f]]).await;
        assert!(garbage.is_err(), "garbage must not be answered as a record");

        // Envelopes of the wrong shape are answered, not crashed on.
        let odd = v1::Envelope { payload: b"hello".to_vec(), public_key: vec![1, 2, 3], signature: vec![] };
        let resp = w.g.ingest.submit_usage(tokio_stream::iter(vec![odd])).await.unwrap();
        let acks: Vec<_> = resp.into_inner().collect::<Vec<_>>().await;
        assert_eq!(code(acks[0].as_ref().unwrap()), "BAD_SIGNATURE");

        assert_eq!(w.g.log_state().await, before, "nothing was appended");
        // And well-formed traffic still works.
        let ok = tk::sign(InputKind::Usage, &w.kp, &record(&w, "after", |_| {}));
        let acks = submit(&mut w.g, vec![ok]).await;
        assert_eq!(code(&acks[0]), "ACCEPTED");
    });
}

/// Sends raw bytes as the messages of a SubmitUsage stream, bypassing protobuf encoding.
async fn raw_stream(url: &str, messages: Vec<Vec<u8>>) -> Result<Vec<v1::Ack>, tonic::Status> {
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
    struct Raw;
    struct RawEnc;
    struct AckDec;
    impl Encoder for RawEnc {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
            bytes::BufMut::put_slice(dst, &item);
            Ok(())
        }
    }
    impl Decoder for AckDec {
        type Item = v1::Ack;
        type Error = tonic::Status;
        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<v1::Ack>, tonic::Status> {
            use prost::Message;
            v1::Ack::decode(src).map(Some).map_err(|e| tonic::Status::internal(e.to_string()))
        }
    }
    impl Codec for Raw {
        type Encode = Vec<u8>;
        type Decode = v1::Ack;
        type Encoder = RawEnc;
        type Decoder = AckDec;
        fn encoder(&mut self) -> RawEnc {
            RawEnc
        }
        fn decoder(&mut self) -> AckDec {
            AckDec
        }
    }
    let channel = tonic::transport::Endpoint::from_shared(url.to_string()).unwrap().connect().await.unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/suanli.v1.Ingest/SubmitUsage");
    let resp = grpc.streaming(tonic::Request::new(tokio_stream::iter(messages)), path, Raw).await?;
    let mut out = Vec::new();
    let mut s = resp.into_inner();
    while let Some(a) = s.next().await {
        out.push(a?);
    }
    Ok(out)
}
