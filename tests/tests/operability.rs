//! What generic gRPC tools and an operator meet (issue 16): reflection in both versions,
//! health that turns NOT_SERVING at shutdown without holding it, gzip-compressed requests
//! with a bound on what they inflate to, JSON for every stderr line, and start-up that
//! names the process in the way and creates nothing when the port is taken.

use std::process::{Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use suanli_core::ledger::InputKind;
use suanli_core::testkit::{self as tk, public, uscc};
use suanli_tests::{Grpc, Server, bin, code, envelope, runtime, v1};
use tonic::codec::CompressionEncoding;

/// A failure bound, never a timing assertion.
const BOUND: Duration = Duration::from_secs(60);

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f).await.unwrap_or_else(|_| panic!("{what}: nothing within {BOUND:?}"))
}

async fn channel(url: &str) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(url.to_string()).unwrap().connect().await.unwrap()
}

#[test]
fn reflection_answers_v1alpha_and_v1_clients() {
    let server = Server::start();
    runtime().block_on(async {
        let ch = channel(&server.url()).await;
        {
            use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
            use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
            use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
            use tonic_reflection::pb::v1alpha::{ServerReflectionRequest, ServerReflectionResponse};
            let req = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            };
            let mut c = ServerReflectionClient::new(ch.clone());
            let answers: Vec<ServerReflectionResponse> = c
                .server_reflection_info(tokio_stream::iter(vec![req]))
                .await
                .expect("v1alpha is served")
                .into_inner()
                .map(|r| r.unwrap())
                .collect()
                .await;
            let Some(MessageResponse::ListServicesResponse(list)) = &answers[0].message_response else {
                panic!("{answers:?}")
            };
            let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
            assert!(names.contains(&"suanli.v1.Ingest") && names.contains(&"grpc.health.v1.Health"), "{names:?}");
        }
        {
            use tonic_reflection::pb::v1::ServerReflectionRequest;
            use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
            use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
            let req = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            };
            let mut c = ServerReflectionClient::new(ch);
            let answers: Vec<_> = c
                .server_reflection_info(tokio_stream::iter(vec![req]))
                .await
                .expect("v1 is served")
                .into_inner()
                .collect()
                .await;
            assert!(answers[0].is_ok());
        }
    });
}

#[test]
fn health_turns_not_serving_at_shutdown_and_an_open_watch_does_not_hold_it() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("suanlid.toml");
    // The longest grace allowed: if a Watch held the stop, the failure bound would end the test.
    std::fs::write(&config, "shutdown_grace_ms = 600000\n").unwrap();
    let mut server = Server::start_in(&tmp.path().join("data"), &["--config", &config.to_string_lossy()]);
    let pid = server.child.as_ref().unwrap().id();
    runtime().block_on(async {
        use tonic_health::pb::HealthCheckRequest;
        use tonic_health::pb::health_check_response::ServingStatus;
        use tonic_health::pb::health_client::HealthClient;
        let mut h = HealthClient::new(channel(&server.url()).await);
        let req = |s: &str| HealthCheckRequest { service: s.into() };
        assert_eq!(h.check(req("suanli.v1.Ingest")).await.unwrap().into_inner().status, ServingStatus::Serving as i32);
        assert_eq!(h.check(req("nope.Nope")).await.unwrap_err().code(), tonic::Code::NotFound);
        let mut unknown = h.watch(req("nope.Nope")).await.expect("watching an unknown service is allowed").into_inner();
        let first = within("SERVICE_UNKNOWN", unknown.next()).await.unwrap().unwrap();
        assert_eq!(first.status, ServingStatus::ServiceUnknown as i32);
        let mut watch = h.watch(req("")).await.unwrap().into_inner();
        assert_eq!(within("SERVING", watch.next()).await.unwrap().unwrap().status, ServingStatus::Serving as i32);
        Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
        let next = within("NOT_SERVING", watch.next()).await.unwrap().unwrap();
        assert_eq!(next.status, ServingStatus::NotServing as i32);
        assert!(within("the watch ends", watch.next()).await.is_none_or(|r| r.is_err()));
    });
    let mut child = server.child.take().unwrap();
    let deadline = std::time::Instant::now() + BOUND;
    while child.try_wait().unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "an open Watch held the shutdown");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn gzip_requests_are_accepted_and_bounded_when_inflated() {
    let server = Server::start();
    let admin = Server::read_key(&server.admin_key());
    runtime().block_on(async {
        let ch = channel(&server.url()).await;
        let mut registry =
            v1::registry_client::RegistryClient::new(ch.clone()).send_compressed(CompressionEncoding::Gzip);
        for (i, op) in [
            tk::register(&uscc(1), "P", tk::flags(true, false, true, false, false), None),
            tk::add_key(&uscc(1), &public(&tk::key(11))),
            tk::register(&uscc(3), "R", tk::flags(false, true, false, false, false), None),
        ]
        .into_iter()
        .enumerate()
        {
            let ack = registry.apply(envelope(&tk::admin(&admin, &format!("s{i}"), op))).await.expect("a gzip request");
            assert_eq!(code(&ack.into_inner()), "ACCEPTED");
        }
        let end = suanli_core::time::parse_rfc3339("2026-06-30T12:00:00+08:00").unwrap();
        let envs: Vec<v1::Envelope> = (0..1000)
            .map(|i| {
                let r = tk::usage_record(&format!("gz-{i}"), &uscc(1), &uscc(3), "8", "12.50", "100.00", end, None);
                envelope(&tk::sign(InputKind::Usage, &tk::key(11), &r))
            })
            .collect();
        let mut ingest = v1::ingest_client::IngestClient::new(ch.clone())
            .send_compressed(CompressionEncoding::Gzip)
            .max_encoding_message_size(64 << 20);
        let acks = ingest.submit_usage_batch(v1::EnvelopeBatch { envelopes: envs.clone() }).await.expect("gzip batch");
        assert!(acks.into_inner().acks.iter().all(|a| code(a) == "ACCEPTED"));
        let acks: Vec<_> =
            ingest.submit_usage(tokio_stream::iter(envs)).await.expect("gzip stream").into_inner().collect().await;
        assert!(acks.iter().all(|a| a.as_ref().is_ok_and(|a| code(a) == "DUPLICATE")));
        // 16 MiB of zeros compress to a few KiB; inflated they are beyond the 8 MiB batch
        // limit, and the server stops inflating there.
        let bomb = v1::Envelope { payload: vec![0; 16 << 20], public_key: vec![0; 32], signature: vec![0; 64] };
        let refused = ingest.submit_usage_batch(v1::EnvelopeBatch { envelopes: vec![bomb] }).await.unwrap_err();
        assert!(refused.message().contains("limit"), "{refused}");
        // And the server goes on.
        let mut g = Grpc::connect(&server.url()).await;
        assert!(g.ledger.get_info(v1::InfoRequest {}).await.is_ok());
    });
}

fn suanlid_output(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(bin("suanlid"));
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn a_second_suanlid_on_the_same_data_dir_names_the_first() {
    let server = Server::start();
    let pid = server.child.as_ref().unwrap().id();
    let out = suanlid_output(&["--data-dir", &server.data_dir.to_string_lossy(), "--listen", "127.0.0.1:0"], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another suanlid") && err.contains(&format!("pid {pid}")), "{err}");
}

#[test]
fn a_taken_port_creates_no_ledger_and_no_keys() {
    let server = Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("new");
    let out = suanlid_output(&["--data-dir", &data.to_string_lossy(), "--listen", &server.addr], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listening on"), "{err}");
    for key in ["admin.key", "finance.key", "ledger.key"] {
        assert!(!data.join(key).exists(), "{key} was created although the port was taken");
    }
    assert!(!data.join("store").exists(), "a store was created although the port was taken");
}

#[test]
fn json_logs_have_no_plain_lines_and_no_colours() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut child = Command::new(bin("suanlid"))
        .args(["--data-dir", &data.to_string_lossy(), "--listen", "127.0.0.1:0", "--log-format", "json"])
        .args(["--metrics-listen", "127.0.0.1:0"])
        .env("SUANLI_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let mut address = None;
    while address.is_none() {
        let line = rx.recv_timeout(BOUND).expect("suanlid says where it listens");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        address = v["fields"]["address"].as_str().map(str::to_string);
        lines.push(line);
    }
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    while let Ok(line) = rx.recv_timeout(BOUND) {
        lines.push(line);
    }
    child.wait().unwrap();
    for line in &lines {
        assert!(serde_json::from_str::<serde_json::Value>(line).is_ok(), "not JSON: {line}");
        assert!(!line.contains('\u{1b}'), "an ANSI escape in a redirected log: {line}");
    }
    assert!(lines.iter().any(|l| l.contains("generated")), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("metrics_address")), "{lines:?}");
    // Human logs to a pipe carry no colours either.
    let out = suanlid_output(&["--data-dir", &data.to_string_lossy(), "--listen", "bad address"], &[]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains('\u{1b}'));
}
