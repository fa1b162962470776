//! suanli-server: the ledger as a gRPC service (`suanlid`).
//!
//! [`serve`] wires the parts together: the services accept signed envelopes, the
//! [`verify::Verifier`] checks signatures in batches on every core, the one
//! [`sequencer::Sequencer`] thread decides and group-commits, and answers flow back only
//! once durable. [`recovery`] creates or recovers the ledger before anything listens.

pub mod admission;
pub mod audit;
pub mod config;
pub mod dashboard;
pub mod health;
pub mod metrics;
pub mod mirror;
pub mod net;
pub mod notice;
pub mod recovery;
pub mod reports;
pub mod restore;
pub mod sequencer;
pub mod service;
pub mod tls;
pub mod verify;
pub mod web;
pub mod witness;

use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use suanli_proto::v1;
use suanli_store::Store;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::recovery::Opened;
use crate::sequencer::{Clock, Command, Sequencer, SequencerConfig};
use crate::service::{ReadReplayCache, Services, Shared};

/// How often a node on a store shared with other nodes catches up with their entries when
/// it has nothing of its own to write: the most its reads can lag behind the shared log.
/// HTTP/2 receive window of one stream, bytes, by default (`limits.stream_window_bytes`;
/// see `serve`). Measured (batch-signed, 1M records, load generator on the same 2-core
/// machine): full-speed ack p99 555 ms with 256 KiB, 285 ms with 64 KiB, 189 ms with
/// 32 KiB, at the same throughput.
pub const HTTP2_STREAM_WINDOW: u32 = 32 * 1024;
/// HTTP/2 receive window of one connection, bytes.
pub const HTTP2_CONNECTION_WINDOW: u32 = 1024 * 1024;

pub const SHARED_STORE_CATCH_UP: Duration = Duration::from_millis(200);

/// Requests may come gzip-compressed (compute centers on thin links send 8 MiB batches).
/// Every message limit bounds the *decompressed* size: tonic stops inflating at the limit,
/// so a small compressed message cannot become a large one in memory.
const GZIP: tonic::codec::CompressionEncoding = tonic::codec::CompressionEncoding::Gzip;

/// The gRPC services of the ledger, by their full names (health and reflection list them).
pub const SERVICES: &[&str] = &[
    "suanli.v1.Ingest",
    "suanli.v1.Registry",
    "suanli.v1.Vouchers",
    "suanli.v1.Settlement",
    "suanli.v1.Ledger",
    "suanli.v1.Reports",
    "suanli.v1.Audit",
];

/// Serves an opened ledger on `listener` until `shutdown` resolves; then stops accepting,
/// lets in-flight calls finish, flushes the last round (with a snapshot and a checkpoint)
/// and returns.
pub async fn serve(
    config: &Config,
    opened: Opened,
    store: Arc<dyn Store>,
    listener: TcpListener,
    clock: Clock,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    serve_with(config, opened, store, listener, HttpListeners::default(), clock, shutdown).await
}

/// The HTTP listeners besides gRPC, each optional: the web listener (console, log tiles,
/// `/metrics`; see [`web`]) and a metrics-only listener.
#[derive(Debug, Default)]
pub struct HttpListeners {
    pub web: Option<TcpListener>,
    pub metrics: Option<TcpListener>,
}

/// [`serve`], and also the HTTP listeners given (see [`web`]). TLS is taken from
/// `config.tls`, for gRPC and the web listener alike (the metrics-only listener stays
/// plain HTTP, for an internal address).
pub async fn serve_with(
    config: &Config,
    opened: Opened,
    store: Arc<dyn Store>,
    listener: TcpListener,
    http: HttpListeners,
    clock: Clock,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    serve_role(config, Role::Primary(opened), store, listener, http, clock, shutdown).await
}

/// Serves a read-only mirror ([`mirror`]): the same read services, tiles and metrics as a
/// ledger, every write refused; its follower thread keeps the store up with the primary.
pub async fn serve_mirror(
    config: &Config,
    mirror: mirror::Mirror,
    store: Arc<dyn Store>,
    listener: TcpListener,
    http: HttpListeners,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    serve_role(config, Role::Mirror(mirror), store, listener, http, sequencer::system_clock(), shutdown).await
}

/// What writes the store: this ledger's sequencer, or a mirror's follower.
enum Role {
    Primary(Opened),
    Mirror(mirror::Mirror),
}

/// The thread that writes the store, and how to stop it.
enum Writer {
    Sequencer(std::thread::JoinHandle<()>),
    Follower(std::thread::JoinHandle<()>, std::sync::mpsc::Sender<()>, Arc<std::sync::atomic::AtomicBool>),
}

async fn serve_role(
    config: &Config,
    role: Role,
    store: Arc<dyn Store>,
    listener: TcpListener,
    http: HttpListeners,
    clock: Clock,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let tls = tls::server_config(&config.tls)?;
    let web_tls = tls::web_acceptor(&config.tls)?;
    let metrics = Arc::new(Metrics::default());
    let (utc_offset, next_seq) = match &role {
        Role::Primary(o) => (o.ledger.program().utc_offset_seconds, o.ledger.next_seq()),
        Role::Mirror(m) => {
            let l = m.ledger.read().expect("ledger lock");
            (l.program().utc_offset_seconds, l.next_seq())
        }
    };
    // The statement index's sealed blocks go to a scratch file in the data directory,
    // unlinked from the start (it is rebuilt from the log at every start; nothing is left
    // behind), so that they cost page cache rather than the server's memory.
    let scratch = anyhow::Context::with_context(tempfile::tempfile_in(&config.data_dir), || {
        format!("creating the statement index's scratch file in {}", config.data_dir.display())
    })?;
    let dashboard =
        dashboard::LiveDashboard::new(utc_offset, next_seq, suanli_core::entity_index::Spill::in_file(scratch));
    let dashboard_rebuild = dashboard.rebuild(store.clone());
    let (tx, rx) = mpsc::channel(config.limits.sequencer_queue_depth);
    let (ledger, origin, report_signer, read_only, writer, ticker) = match role {
        Role::Primary(opened) => {
            let ledger = Arc::new(RwLock::new(opened.ledger));
            let report_signer = opened.signer.clone();
            let origin = opened.origin.clone();
            let sequencer = Sequencer {
                ledger: ledger.clone(),
                store: store.clone(),
                frontier: opened.frontier,
                signer: opened.signer,
                origin: opened.origin,
                clock: clock.clone(),
                config: SequencerConfig {
                    commit_records_max: config.limits.commit_records_max,
                    checkpoint_interval: Duration::from_millis(config.checkpoint_interval_ms),
                    snapshot_interval_entries: config.snapshot_interval_entries,
                },
                last_checkpoint_size: opened.last_checkpoint_size,
                last_checkpoint_at: Instant::now(),
                last_snapshot_count: opened.last_snapshot_count,
                last_checkpoint: store.latest_checkpoint()?,
                metrics: metrics.clone(),
                witness_dir: Some(config.data_dir.clone()),
                dashboard: Some(dashboard.clone()),
            };
            let sequencer_thread = std::thread::Builder::new().name("suanli-sequencer".into()).spawn(move || {
                // A failed invariant is a bug: stop the whole process rather than keep serving
                // from a state nobody can vouch for.
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sequencer.run(rx))).is_err() {
                    notice::error("the sequencer stopped on a failed invariant; exiting");
                    std::process::exit(70);
                }
            })?;
            let ticker = {
                let tx = tx.clone();
                let mut every = Duration::from_millis(config.checkpoint_interval_ms);
                if !store.pipelined() {
                    // A store shared with other nodes: an idle node still catches up with their
                    // entries (each round starts by reading them) so its reads are at most this old.
                    every = every.min(SHARED_STORE_CATCH_UP);
                }
                tokio::spawn(async move {
                    let mut interval = tokio::time::interval(every);
                    loop {
                        interval.tick().await;
                        if tx.send(Command::Tick).await.is_err() {
                            break;
                        }
                    }
                })
            };
            (ledger, origin, Some(report_signer), None, Writer::Sequencer(sequencer_thread), ticker)
        }
        Role::Mirror(m) => {
            let mut follower = m.follower;
            follower.set_dashboard(dashboard.clone());
            let _ = metrics.mirror.set(follower.metrics());
            let primary = follower.url().to_string();
            let (stop_tx, stop_rx) = std::sync::mpsc::channel();
            let stopping = follower.stopper();
            let thread =
                std::thread::Builder::new().name("suanli-mirror".into()).spawn(move || follower.run(stop_rx))?;
            // No sequencer: a request for a fresh checkpoint gets the newest verified one.
            let answers = {
                let store = store.clone();
                let mut rx = rx;
                tokio::spawn(async move {
                    while let Some(cmd) = rx.recv().await {
                        if let Command::Checkpoint { reply } = cmd {
                            let store = store.clone();
                            let latest =
                                tokio::task::spawn_blocking(move || store.latest_checkpoint().ok().flatten()).await;
                            let _ = reply.send(latest.ok().flatten());
                        }
                    }
                })
            };
            (m.ledger, m.origin, None, Some(primary), Writer::Follower(thread, stop_tx, stopping), answers)
        }
    };

    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let shared = Arc::new(Shared {
        ledger,
        store,
        verifier: Arc::new(verify::Verifier::new(threads, origin)),
        sequencer: tx,
        limits: config.limits.clone(),
        clock,
        read_skew_ms: config.read_skew_ms,
        reads_seen: Mutex::new(ReadReplayCache::default()),
        signer: report_signer,
        read_only,
        metrics: metrics.clone(),
        chunk_permits: Arc::new(admission::Admission::new(config.limits.chunks_in_flight_max)),
        dashboard: dashboard.clone(),
        cosignatures: Arc::default(),
    });
    // Witnesses are asked apart from sequencing: a slow or absent one delays nothing.
    let witness_task = (!config.witnesses.is_empty()).then(|| {
        witness::spawn(
            shared.clone(),
            config.witness_keys().expect("validated with the configuration"),
            Duration::from_millis(config.checkpoint_interval_ms),
            Duration::from_millis(config.witness_timeout_ms),
        )
    });
    let web_state =
        Arc::new(web::WebState { shared: shared.clone(), metrics: metrics.clone(), tls: web_tls.is_some() });
    // The HTTP listeners stop when the gRPC server does (their `stop` is dropped or sent).
    let (http_stop_tx, http_stop) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let mut http_tasks = Vec::new();
    if let Some(l) = http.web {
        let app = web::router(web_state.clone());
        let limits = config.limits.clone();
        let stop = stopped(http_stop.clone());
        http_tasks.push(tokio::spawn(async move { web::serve(l, app, web_tls, &limits, stop).await }));
    }
    if let Some(l) = http.metrics {
        let app = web::metrics_router(web_state.clone());
        let limits = config.limits.clone();
        let stop = stopped(http_stop.clone());
        http_tasks.push(tokio::spawn(async move { web::serve(l, app, None, &limits, stop).await }));
    }
    drop(web_state);
    let services = Services(shared.clone());
    let limits = &config.limits;

    let (health_switch, health) = health::health(SERVICES);
    // Reflection in both versions: grpcurl ≤ 1.8.7, Postman and the Python grpcio-reflection
    // client speak v1alpha, newer tools v1.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(suanli_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;

    let local = listener.local_addr()?;
    info!(address = %local, tls = tls.is_some(), "serving");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let signalled = async move {
        shutdown.await;
        // Health first: watchers see NOT_SERVING and their streams end, so they do not
        // hold the graceful stop.
        health_switch.stopping();
        let _ = stop_tx.send(());
    };
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls)?;
    }
    let server = builder
        .max_concurrent_streams(Some(limits.streams_per_connection_max))
        .tcp_nodelay(true)
        // Small receive windows: what a client has sent but the ledger has not admitted
        // (see `admission`) waits in the client, not in buffers here where it would add
        // to every record's latency (at 400 bytes a record, 256 KiB is 650 records). A
        // tonic/h2 client also buffers up to 400 KiB a stream of its own (h2's default
        // send buffer), which no server setting reaches.
        .initial_stream_window_size(Some(limits.stream_window_bytes))
        .initial_connection_window_size(Some(HTTP2_CONNECTION_WINDOW.max(limits.stream_window_bytes)))
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .add_service(IngestLimits {
            streams: v1::ingest_server::IngestServer::new(services.clone())
                .accept_compressed(GZIP)
                .max_decoding_message_size(limits.stream_message_bytes_max),
            batches: v1::ingest_server::IngestServer::new(services.clone())
                .accept_compressed(GZIP)
                .max_decoding_message_size(limits.batch_message_bytes_max),
        })
        .add_service(
            v1::registry_server::RegistryServer::new(services.clone())
                .accept_compressed(GZIP)
                .max_decoding_message_size(limits.stream_message_bytes_max),
        )
        .add_service(
            v1::vouchers_server::VouchersServer::new(services.clone())
                .accept_compressed(GZIP)
                .max_decoding_message_size(limits.stream_message_bytes_max),
        )
        .add_service(
            v1::settlement_server::SettlementServer::new(services.clone())
                .accept_compressed(GZIP)
                .max_decoding_message_size(limits.stream_message_bytes_max),
        )
        .add_service(v1::ledger_server::LedgerServer::new(services.clone()).accept_compressed(GZIP))
        .add_service(
            v1::reports_server::ReportsServer::new(services.clone())
                .accept_compressed(GZIP)
                .max_decoding_message_size(limits.stream_message_bytes_max),
        )
        // The verifiable log (audit.rs): public proofs, entries and exports.
        .add_service(
            v1::audit_server::AuditServer::new(audit::AuditService::new(shared.clone())).accept_compressed(GZIP),
        )
        .add_service(health.server())
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(
            net::incoming(listener, limits.connections_max, Duration::from_millis(limits.handshake_timeout_ms)),
            signalled,
        );
    // A graceful stop waits for open calls to end, but a client can keep a stream open
    // forever. After the grace period the server stops without them: every acknowledged
    // record is already durable, and a restart recovers exactly as after a crash.
    let grace = async {
        let _ = stop_rx.await;
        tokio::time::sleep(Duration::from_millis(config.shutdown_grace_ms)).await;
    };
    tokio::select! {
        served = server => served?,
        () = grace => {
            warn!(grace_ms = config.shutdown_grace_ms, "calls still open after the shutdown grace period; stopping without them");
            return Ok(());
        }
    }

    info!("stopped accepting; finishing the last round");
    dashboard.stop();
    ticker.abort();
    if let Some(t) = witness_task {
        t.abort();
        let _ = t.await;
    }
    let _ = http_stop_tx.send(true);
    for t in http_tasks {
        let _ = t.await;
    }
    drop(services);
    drop(shared);
    // The sequencer ends when its queue has no senders left: every in-flight call has been
    // answered by then, and it writes a final snapshot and checkpoint. A mirror's follower
    // stops at its next step (every commit it made is complete).
    match writer {
        Writer::Sequencer(thread) => {
            tokio::task::spawn_blocking(move || thread.join()).await?.ok();
        }
        Writer::Follower(thread, stop, stopping) => {
            stopping.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = stop.send(());
            tokio::task::spawn_blocking(move || thread.join()).await?.ok();
        }
    }
    // The rebuild holds the store open; it stops at its next chunk.
    tokio::task::spawn_blocking(move || dashboard_rebuild.join()).await?.ok();
    info!("stopped");
    Ok(())
}

/// The Ingest service with one message limit per kind of call: a `SubmitUsageBatch`
/// message may be `limits.batch_message_bytes_max`, a stream message (one envelope) only
/// `limits.stream_message_bytes_max`. tonic sets limits per service, so the calls are
/// routed by path to two copies of the service that differ only in their limit; a stream
/// message that declares more than its limit is refused at its header, before its bytes
/// are buffered.
#[derive(Clone)]
struct IngestLimits {
    streams: v1::ingest_server::IngestServer<Services>,
    batches: v1::ingest_server::IngestServer<Services>,
}

type HttpRequest = tonic::codegen::http::Request<tonic::body::Body>;

impl tonic::codegen::Service<HttpRequest> for IngestLimits {
    type Response = <v1::ingest_server::IngestServer<Services> as tonic::codegen::Service<HttpRequest>>::Response;
    type Error = std::convert::Infallible;
    type Future = <v1::ingest_server::IngestServer<Services> as tonic::codegen::Service<HttpRequest>>::Future;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: HttpRequest) -> Self::Future {
        if req.uri().path() == "/suanli.v1.Ingest/SubmitUsageBatch" {
            self.batches.call(req)
        } else {
            self.streams.call(req)
        }
    }
}

impl tonic::server::NamedService for IngestLimits {
    const NAME: &'static str = <v1::ingest_server::IngestServer<Services> as tonic::server::NamedService>::NAME;
}
