//! Hostile clients against a real `suanlid`: while a well-behaved compute center keeps
//! submitting new records on its own connection, others
//! - trickle one record every 200 ms on a stream that stays open (slow clients),
//! - open many streams over several connections that send forever and never read an ack,
//! - send a message far beyond the size limit, on the stream and as a unary batch,
//! - send a stream that never ends (and read its acks),
//! - hold connections open that send nothing at all.
//!
//! The well-behaved client must get every answer, each round within seconds, and the
//! server's resident memory (`VmRSS`) must stay within a generous bound of what it used
//! before, and stop growing once the hostile clients go away; SIGTERM must still stop it
//! although the hostile streams never end (`shutdown_grace_ms`).
//!
//! Measured when this was written: 128 non-reading streams took the server from 17 MiB to
//! 364 MiB, since every stream could hold 4 chunks of 512 records in the pipeline and 4096
//! acks, whatever the number of streams; and SIGTERM never stopped it. Now chunks in the
//! pipeline are bounded across all streams (`limits.chunks_in_flight_max`), the ack queue
//! is 1024 deep, and the peak is about 120 MiB.

use std::time::{Duration, Instant};

use suanli_core::ledger::InputKind;
use suanli_core::testkit::{self as tk, public, uscc};
use suanli_tests::{Grpc, Server, code, envelope, rss_kib, runtime, scrape_metrics, v1};
use tokio_stream::StreamExt;
use v1::ingest_client::IngestClient;

type Channel = tonic::transport::Channel;

async fn channel(url: &str) -> Channel {
    tonic::transport::Endpoint::from_shared(url.to_string()).unwrap().connect().await.expect("connect")
}

fn record(id: &str) -> v1::Envelope {
    let end = suanli_core::time::parse_rfc3339("2026-06-30T12:00:00+08:00").unwrap();
    let r = tk::usage_record(id, &uscc(1), &uscc(3), "8", "12.50", "100.00", end, None);
    envelope(&tk::sign(InputKind::Usage, &tk::key(11), &r))
}

async fn setup(url: &str, admin: &ed25519_dalek::SigningKey) {
    let mut g = Grpc::connect(url).await;
    let ops = [
        tk::register(&uscc(1), "P", tk::flags(true, false, true, false, false), None),
        tk::add_key(&uscc(1), &public(&tk::key(11))),
        tk::register(&uscc(3), "R", tk::flags(false, true, false, false, false), None),
    ];
    g.admin_accepted(admin, ops).await;
}

/// One round of the well-behaved client: `n` new records on one stream, every ack read.
async fn good_round(client: &mut IngestClient<Channel>, round: u64, n: u64) -> Duration {
    let t = Instant::now();
    let envs: Vec<v1::Envelope> = (0..n).map(|i| record(&format!("good-{round}-{i}"))).collect();
    let acks: Vec<v1::Ack> =
        client.submit_usage(tokio_stream::iter(envs)).await.unwrap().into_inner().map(|a| a.unwrap()).collect().await;
    assert_eq!(acks.len() as u64, n, "round {round}: every record is answered");
    assert!(
        acks.iter().all(|a| code(a) == "ACCEPTED"),
        "round {round}: {:?}",
        acks.iter().map(code).collect::<Vec<_>>()
    );
    t.elapsed()
}

#[test]
fn hostile_clients_do_not_starve_a_good_one_or_grow_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("suanlid.toml");
    // Hostile streams never end: a short grace lets SIGTERM stop the server without them.
    std::fs::write(&config, "shutdown_grace_ms = 1500\n").unwrap();
    let mut server = Server::start_in(&tmp.path().join("data"), &["--config", &config.to_string_lossy()]);
    let pid = server.child.as_ref().unwrap().id();
    let admin = Server::read_key(&server.admin_key());
    let url = server.url();
    let rt = runtime();
    rt.block_on(async {
        setup(&url, &admin).await;
        let mut good = IngestClient::new(channel(&url).await);
        // Warm up, so that the baseline includes the caches a running server fills.
        for round in 0..5 {
            good_round(&mut good, round, 100).await;
        }
        let before = rss_kib(pid).expect("VmRSS of suanlid");
        let pool: Vec<v1::Envelope> = (0..200).map(|i| record(&format!("pool-{i}"))).collect();
        let ack = good.submit_usage(tokio_stream::iter(pool.clone())).await.unwrap().into_inner();
        let acks: Vec<_> = ack.collect().await;
        assert!(acks.iter().all(|a| a.as_ref().is_ok_and(|a| code(a) == "ACCEPTED")));

        let mut hostile = Vec::new();
        // Streams that send forever and never read an ack: 4 connections × 32 streams.
        for _ in 0..4 {
            let ch = channel(&url).await;
            for _ in 0..32 {
                let mut c = IngestClient::new(ch.clone());
                let pool = pool.clone();
                hostile.push(tokio::spawn(async move {
                    let endless = tokio_stream::iter(pool.into_iter().cycle());
                    if let Ok(resp) = c.submit_usage(endless).await {
                        let _unread = resp;
                        std::future::pending::<()>().await;
                    }
                }));
            }
        }
        // Slow clients: one record every 200 ms on streams that stay open.
        for s in 0..8 {
            let mut c = IngestClient::new(channel(&url).await);
            let pool = pool.clone();
            hostile.push(tokio::spawn(async move {
                let slow = futures::stream::unfold(0usize, move |i| {
                    let env = pool[(i + s * 7) % pool.len()].clone();
                    async move {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        Some((env, i + 1))
                    }
                });
                if let Ok(resp) = c.submit_usage(slow).await {
                    let mut acks = resp.into_inner();
                    while let Some(Ok(_)) = acks.next().await {}
                }
            }));
        }
        // A never-ending stream whose acks are read as fast as they come.
        {
            let mut c = IngestClient::new(channel(&url).await);
            let pool = pool.clone();
            hostile.push(tokio::spawn(async move {
                if let Ok(resp) = c.submit_usage(tokio_stream::iter(pool.into_iter().cycle())).await {
                    let mut acks = resp.into_inner();
                    while let Some(Ok(_)) = acks.next().await {}
                }
            }));
        }
        // Idle connections that send nothing.
        let mut idle = Vec::new();
        for _ in 0..32 {
            idle.push(tokio::net::TcpStream::connect(server.addr.as_str()).await.unwrap());
        }

        // Huge messages: refused, and the server goes on.
        let huge = v1::Envelope { payload: vec![7u8; 20 << 20], public_key: vec![1; 32], signature: vec![2; 64] };
        let mut c = IngestClient::new(channel(&url).await).max_encoding_message_size(64 << 20);
        match c.submit_usage(tokio_stream::iter(vec![huge.clone()])).await {
            Err(status) => assert!(status.code() != tonic::Code::Ok),
            Ok(resp) => {
                let answers: Vec<_> = resp.into_inner().collect().await;
                assert!(
                    answers.iter().all(|a| a.as_ref().is_err() || a.as_ref().is_ok_and(|a| code(a) != "ACCEPTED")),
                    "a 20 MiB envelope was not refused: {answers:?}"
                );
            }
        }
        let batch = v1::EnvelopeBatch { envelopes: vec![huge; 1] };
        let refused = c.submit_usage_batch(batch).await;
        assert!(refused.is_err(), "a 20 MiB batch was accepted");
        // Within the message limit but beyond the payload limit: refused per record.
        let big = v1::Envelope { payload: vec![7u8; 60 << 10], public_key: vec![1; 32], signature: vec![2; 64] };
        if let Ok(resp) = c.submit_usage(tokio_stream::iter(vec![big])).await {
            let answers: Vec<_> = resp.into_inner().collect().await;
            assert!(answers.iter().all(|a| a.as_ref().is_err() || a.as_ref().is_ok_and(|a| code(a) == "MALFORMED")));
        }

        // Meanwhile the good client keeps being served.
        let mut slowest = Duration::ZERO;
        let mut peak = 0;
        for round in 5..25 {
            let took = good_round(&mut good, round, 50).await;
            assert!(took < Duration::from_secs(15), "round {round} took {took:?} under hostile load");
            slowest = slowest.max(took);
            peak = peak.max(rss_kib(pid).unwrap());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let during = rss_kib(pid).unwrap();
        eprintln!(
            "VmRSS before {} MiB, peak under hostile load {} MiB; slowest good round {slowest:?}",
            before / 1024,
            peak / 1024
        );
        assert!(peak < before + 256 * 1024, "memory grew from {before} KiB to {peak} KiB under hostile clients");

        for h in &hostile {
            h.abort();
        }
        drop(idle);
        tokio::time::sleep(Duration::from_millis(500)).await;
        for round in 25..30 {
            good_round(&mut good, round, 50).await;
        }
        let after = rss_kib(pid).unwrap();
        eprintln!("VmRSS after the hostile clients left {} MiB (during {} MiB)", after / 1024, during / 1024);
        assert!(after < before + 256 * 1024, "memory stayed at {after} KiB after the hostile clients left");
    });
    server.stop();
}

/// Starts a server with `toml` as its configuration file.
fn start_configured(toml: &str) -> (tempfile::TempDir, Server) {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("suanlid.toml");
    std::fs::write(&config, toml).unwrap();
    let server = Server::start_in(&tmp.path().join("data"), &["--config", &config.to_string_lossy()]);
    (tmp, server)
}

/// A failure bound, not a timing assertion: what must happen happens long before it, and
/// before a fix it never happens at all.
const BOUND: Duration = Duration::from_secs(60);

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f).await.unwrap_or_else(|_| panic!("{what}: nothing within {BOUND:?}"))
}

/// Finding 1: 64 `SubmitUsage` streams that send nothing used to take all 64 shared chunk
/// permits (each took one before waiting for its first message), after which nobody's
/// submissions were served. An idle stream now holds nothing shared.
#[test]
fn idle_streams_hold_nothing_that_others_need() {
    let server = Server::start();
    let admin = Server::read_key(&server.admin_key());
    let url = server.url();
    runtime().block_on(async {
        setup(&url, &admin).await;
        let idle_channel = channel(&url).await;
        let mut idle = Vec::new();
        for _ in 0..64 {
            let mut c = IngestClient::new(idle_channel.clone());
            let resp = within("an idle stream opens", c.submit_usage(futures::stream::pending::<v1::Envelope>())).await;
            idle.push(resp.expect("the stream opens"));
        }
        // While all 64 stay open, a good client is served: a batch and a stream.
        let mut good = IngestClient::new(channel(&url).await);
        let batch = v1::EnvelopeBatch { envelopes: (0..10).map(|i| record(&format!("b-{i}"))).collect() };
        let acks = within("a batch beside 64 idle streams", good.submit_usage_batch(batch)).await.unwrap();
        assert!(acks.into_inner().acks.iter().all(|a| code(a) == "ACCEPTED"));
        within("a stream beside 64 idle streams", good_round(&mut good, 0, 20)).await;
        drop(idle);
    });
}

/// Finding 2: a `SubmitUsage` stream message may be 64 KiB (`limits.stream_message_bytes_max`),
/// but the Ingest service applied its batch limit (8 MiB) to every call, so a header
/// promising 8,000,000 bytes followed by part of them held megabytes per stream for as
/// long as the client liked. Now the stream is refused at that header.
#[test]
fn a_stream_message_header_beyond_the_stream_limit_is_refused_at_once() {
    let server = Server::start();
    let addr = server.addr.clone();
    runtime().block_on(async {
        let tcp = tokio::net::TcpStream::connect(addr.as_str()).await.unwrap();
        let (client, connection) = h2::client::handshake(tcp).await.expect("HTTP/2 handshake");
        tokio::spawn(connection);
        let mut client = client.ready().await.unwrap();
        let request = http::Request::post(format!("http://{addr}/suanli.v1.Ingest/SubmitUsage"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .unwrap();
        let (response, mut send) = client.send_request(request, false).unwrap();
        // Uncompressed, 8,000,000 bytes promised, 100,000 sent, and then nothing more.
        let mut frame = vec![0u8];
        frame.extend_from_slice(&8_000_000u32.to_be_bytes());
        frame.extend_from_slice(&vec![0u8; 100_000]);
        send.send_data(bytes::Bytes::from(frame), false).unwrap();
        let response = within("the server answers the stalled stream", response).await.expect("a response");
        let mut body = response.into_body();
        let trailers = within("the stalled stream ends", async {
            while let Some(data) = body.data().await {
                let _ = data;
            }
            body.trailers().await
        })
        .await
        .expect("trailers")
        .expect("a gRPC status");
        let status = trailers.get("grpc-status").and_then(|v| v.to_str().ok()).unwrap_or("?").to_string();
        let message = trailers.get("grpc-message").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        assert_ne!(status, "0", "a message beyond the stream limit was not refused");
        assert!(message.contains("8000000") || message.contains("too large"), "{status}: {message}");
        drop(send);
    });
}

/// Finding 3: with every connection slot held by a socket that never sent a byte, new
/// clients waited forever. A connection now has `limits.handshake_timeout_ms` to send its
/// first bytes.
#[test]
fn idle_sockets_cannot_hold_every_connection_slot() {
    let (_tmp, server) = start_configured("[limits]\nconnections_max = 8\nhandshake_timeout_ms = 500\n");
    let url = server.url();
    runtime().block_on(async {
        let mut idle = Vec::new();
        for _ in 0..16 {
            idle.push(tokio::net::TcpStream::connect(server.addr.as_str()).await.unwrap());
        }
        let mut ledger = v1::ledger_client::LedgerClient::new(within("a good client connects", channel(&url)).await);
        let info = within("a good client is served", ledger.get_info(v1::InfoRequest {})).await;
        assert!(info.is_ok(), "{info:?}");
        // The idle sockets were closed by the server (after its own SETTINGS frame), not
        // left holding slots.
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 1024];
        within("an idle socket is closed", async {
            while let Ok(n) = idle[0].read(&mut buf).await
                && n > 0
            {}
        })
        .await;
    });
}

/// Finding 4: exports whose clients never read held every export slot forever, and every
/// other auditor was refused. An export whose client takes nothing for
/// `limits.export_stall_timeout_ms` now ends with an error and frees its slot.
#[test]
fn stalled_exports_do_not_lock_out_other_auditors() {
    let (_tmp, server) = start_configured("[limits]\nexports_concurrent_max = 1\nexport_stall_timeout_ms = 500\n");
    let admin = Server::read_key(&server.admin_key());
    let url = server.url();
    runtime().block_on(async {
        setup(&url, &admin).await;
        // More than the server buffers ahead of a reader (an export chunk is at most 1 MiB).
        let mut g = Grpc::connect(&url).await;
        for round in 0..5 {
            let envs: Vec<v1::Envelope> = (0..5000).map(|i| record(&format!("x-{round}-{i}"))).collect();
            let acks = g.submit_all(envs).await;
            assert!(acks.iter().all(|a| code(a) == "ACCEPTED"));
        }
        let (size, _) = g.log_state().await;
        // The stalled auditor: a 64 KiB receive window and nothing read.
        let tight = tonic::transport::Endpoint::from_shared(url.clone())
            .unwrap()
            .initial_stream_window_size(65_535)
            .initial_connection_window_size(65_535)
            .connect()
            .await
            .unwrap();
        let mut stalled = v1::audit_client::AuditClient::new(tight);
        let held = stalled.export_entries(v1::ExportRequest { from: 0, to: 0 }).await.expect("the first export starts");
        // Another auditor is refused while the slot is busy, then served once it is freed.
        let mut auditor = v1::audit_client::AuditClient::new(channel(&url).await);
        let chunks = within("another auditor gets an export", async {
            loop {
                match auditor.export_entries(v1::ExportRequest { from: 0, to: 0 }).await {
                    Ok(resp) => break resp.into_inner(),
                    Err(s) if s.code() == tonic::Code::ResourceExhausted => {
                        tokio::time::sleep(Duration::from_millis(50)).await
                    }
                    Err(s) => panic!("{s}"),
                }
            }
        })
        .await;
        let chunks: Vec<v1::EntryChunk> = within("the export completes", chunks.map(|c| c.unwrap()).collect()).await;
        let last = chunks.last().unwrap();
        assert!(last.first + last.entries.len() as u64 >= size.min(last.to), "the export is complete");
        // The stalled export, read at last, ends with an error rather than looking complete.
        let mut held = held.into_inner();
        let mut end = None;
        while let Some(item) = within("the stalled export ends", held.next()).await {
            if let Err(s) = item {
                end = Some(s);
                break;
            }
        }
        let end = end.expect("the stalled export ends with an error, not as if it were complete");
        assert_eq!(end.code(), tonic::Code::DeadlineExceeded, "{end}");
    });
}

/// Finding 5: reads signed by keys nobody registered were refused, but only after taking a
/// place in the read-replay cache; a few thousand filled it and every signed read was
/// refused for the skew window. Only reads that authenticate take a place now.
#[test]
fn reads_from_unknown_keys_do_not_fill_the_replay_cache() {
    let (_tmp, server) = start_configured("[limits]\nread_replay_cache_max = 16\n");
    let admin = Server::read_key(&server.admin_key());
    let url = server.url();
    runtime().block_on(async {
        let mut g = Grpc::connect(&url).await;
        for i in 0..64u8 {
            let stranger = ed25519_dalek::SigningKey::from_bytes(&[i.wrapping_add(100); 32]);
            let q = v1::read_request::Query::Periods(v1::PeriodsQuery {});
            let refused = g.settlement.list_periods(suanli_tests::read(&stranger, q)).await.unwrap_err();
            assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused}");
        }
        let q = v1::read_request::Query::Periods(v1::PeriodsQuery {});
        let served = g.settlement.list_periods(suanli_tests::read(&admin, q)).await;
        assert!(served.is_ok(), "the admin's read after 64 strangers' reads: {served:?}");
    });
}

/// One sample of the server's Prometheus exposition (on its web listener), by name.
fn metric(server: &Server, name: &str) -> f64 {
    let samples = scrape_metrics(server.web_url().trim_start_matches("http://"));
    let value = samples.get(name).unwrap_or_else(|| panic!("{name} missing from:\n{samples:#?}"));
    value.parse().unwrap_or_else(|e| panic!("{name} {value}: {e}"))
}

/// Finding 6: a stream that sends without end and never reads its acks blocks while
/// sending them, and its pump kept the admission permits of the chunks behind those acks
/// (up to `stream_chunks_in_flight_max − 1`, already decided) until it could send again:
/// 128 such streams held every permit and the server stopped serving anyone (the
/// hostile-clients test hung in CI). A permit now goes with its chunk to the sequencer and
/// is given back when the chunk is answered, whoever reads the answer.
#[test]
fn a_stream_that_never_reads_its_acks_keeps_no_permits() {
    // One record a chunk and three chunks in the pipeline at most: one such stream could
    // hold every permit.
    let (_tmp, server) = start_configured(
        "[limits]\nchunk_records_max = 1\nstream_chunks_in_flight_max = 4\nchunks_in_flight_max = 3\n",
    );
    let admin = Server::read_key(&server.admin_key());
    let url = server.url();
    runtime().block_on(async {
        setup(&url, &admin).await;
        let pool: Vec<v1::Envelope> = (0..50).map(|i| record(&format!("deaf-{i}"))).collect();
        let mut c = IngestClient::new(channel(&url).await);
        let deaf = tokio::spawn(async move {
            if let Ok(resp) = c.submit_usage(tokio_stream::iter(pool.into_iter().cycle())).await {
                let _unread = resp;
                std::future::pending::<()>().await;
            }
        });
        // Wait until the server has stopped answering it (its acks fill the stream's
        // window): the count of answers stays the same over several reads.
        let answered = || {
            ["accepted", "duplicate"]
                .iter()
                .map(|o| metric(&server, &format!("suanli_inputs_total{{kind=\"usage\",outcome=\"{o}\"}}")))
                .sum::<f64>()
        };
        within("the deaf stream stops being answered", async {
            let (mut last, mut same) = (answered(), 0);
            while last < 100.0 || same < 5 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let now = answered();
                same = if now == last { same + 1 } else { 0 };
                last = now;
            }
        })
        .await;
        // Every chunk it had in the pipeline was answered and gave its permit back.
        within("the deaf stream's permits come back", async {
            while metric(&server, "suanli_admission_in_flight") > 0.0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        // So others are served: a batch and a stream.
        let mut good = IngestClient::new(channel(&url).await);
        let batch = v1::EnvelopeBatch { envelopes: (0..10).map(|i| record(&format!("b-{i}"))).collect() };
        let acks = within("a batch beside a deaf stream", good.submit_usage_batch(batch)).await.unwrap();
        assert!(acks.into_inner().acks.iter().all(|a| code(a) == "ACCEPTED"));
        within("a stream beside a deaf stream", good_round(&mut good, 0, 20)).await;
        deaf.abort();
    });
}
