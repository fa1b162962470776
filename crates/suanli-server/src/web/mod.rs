//! The HTTP side of `suanlid`: one listener (`web_listen`, default `127.0.0.1:7421`) for
//! everything served over HTTP — the web console for people ([`console`]), the log as
//! C2SP tlog-tiles for witnesses and monitors ([`tiles`]) and Prometheus metrics
//! ([`metrics`]). One stack: axum routers on hyper, the same rustls settings as gRPC.
//!
//! Every connection and request is bounded (`limits.web_*`): at most
//! `web_connections_max` connections (the next waits in the listen backlog), a request
//! head must arrive within `web_request_timeout_ms`, bodies larger than
//! `web_request_bytes_max` are refused with 413, and a request that takes longer than
//! `web_request_timeout_ms` is answered 408.

pub mod console;
pub mod metrics;
pub mod tiles;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower_http::timeout::TimeoutLayer;
use tracing::debug;

use crate::config::Limits;
use crate::metrics::Metrics;
use crate::service::Shared;

/// What every HTTP handler can reach: the same state the gRPC services read.
pub struct WebState {
    /// The ledger, the store, the sequencer queue and the limits, shared with gRPC.
    pub shared: Arc<Shared>,
    pub metrics: Arc<Metrics>,
    /// Whether pages are served over TLS (links and the `Secure` cookie attribute).
    pub tls: bool,
}

/// Every route of the web listener.
pub fn router(state: Arc<WebState>) -> Router {
    let limits = &state.shared.limits;
    let body_max = limits.web_request_bytes_max;
    let timeout = Duration::from_millis(limits.web_request_timeout_ms);
    Router::new()
        .merge(console::router())
        .merge(tiles::router())
        .merge(metrics::router())
        .layer(DefaultBodyLimit::max(body_max))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, timeout))
        .with_state(state)
}

/// Only the metrics route, for the separate `metrics_listen` listener.
pub fn metrics_router(state: Arc<WebState>) -> Router {
    metrics::router().with_state(state)
}

/// Serves `app` on `listener` until `shutdown` resolves, with the connection and
/// header-time bounds of `limits`, over TLS when `tls` is given. Open connections are
/// then closed gracefully (answers in flight are finished).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let permits = Arc::new(Semaphore::new(limits.web_connections_max));
    let head_timeout = Duration::from_millis(limits.web_request_timeout_ms);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(head_timeout).max_buf_size(64 * 1024);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(64)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(10));
    let builder = Arc::new(builder);
    // Every connection's task, so that none outlives the listener: they hold the shared
    // state, and the sequencer finishes only once nobody can submit any more.
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
        };
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    debug!(error = %e, "web accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let (builder, tls) = (builder.clone(), tls.clone());
        let watcher = graceful.watcher();
        while connections.try_join_next().is_some() {}
        connections.spawn(async move {
            let _permit = permit;
            let result = match tls {
                Some(acceptor) => match tokio::time::timeout(head_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
                        watcher.watch(conn).await
                    }
                    Ok(Err(e)) => {
                        debug!(peer = %peer, error = %e, "web TLS handshake refused");
                        return;
                    }
                    Err(_) => {
                        debug!(peer = %peer, "web TLS handshake timed out");
                        return;
                    }
                },
                None => {
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service).into_owned();
                    watcher.watch(conn).await
                }
            };
            if let Err(e) = result {
                debug!(peer = %peer, error = %e, "web connection ended with an error");
            }
        });
    }
    drop(listener);
    // Finish what is in flight, but not forever: a client may hold a connection open.
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}
