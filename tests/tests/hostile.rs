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
use suanli_tests::{Grpc, Server, code, envelope, rss_kib, runtime, v1};
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
