//! The log over plain HTTP as C2SP `tlog-tiles` (<https://c2sp.org/tlog-tiles>), on the web
//! listener: `/log/checkpoint`, `/log/tile/<L>/<N>[.p/<W>]` (Merkle hashes) and
//! `/log/tile/entries/<N>[.p/<W>]` (entry bundles), so that witnesses, monitors and mirrors
//! built for other transparency logs read this one with no suanli code.
//!
//! Why it is shaped this way:
//!
//! - **Nothing new is computed.** Tiles are read from the nodes and entries the store
//!   already keeps (`audit::tile_bytes`); a tile is served only once every entry it covers
//!   is durable, so its bytes never change: full tiles are cacheable forever, partial ones
//!   briefly (a client should move on to the full tile once the log has it).
//! - **Strict paths.** The path is read from the raw URI (no percent-decoding) and parsed
//!   by `suanli_core::tiles::parse_tile_path`, which accepts exactly one spelling per tile:
//!   anything else is 400, a well-formed tile the log does not hold yet is 404.
//! - **Bounded.** A tile costs at most 256 entry reads; at most [`TILE_READS_CONCURRENT_MAX`]
//!   run at once (others wait), on the blocking pool, never on the async runtime.

use std::io::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use suanli_core::tiles::{TileKind, parse_tile_path};
use tokio::sync::Semaphore;

use super::WebState;
use crate::audit::{TileError, tile_bytes};

/// Tile reads running at once; more wait for a permit.
pub const TILE_READS_CONCURRENT_MAX: usize = 8;
/// Where the log lives on the web listener: the tlog-tiles *prefix* is `http(s)://ADDR/log`.
pub const PREFIX: &str = "/log/";
/// Cache-Control of a full tile or bundle: its bytes never change.
pub const CACHE_FULL: &str = "public, max-age=31536000, immutable";
/// Cache-Control of a partial tile or bundle: it stays valid, but the full one replaces it soon.
pub const CACHE_PARTIAL: &str = "public, max-age=10";
/// Cache-Control of the checkpoint: it changes every few seconds while the log grows.
pub const CACHE_CHECKPOINT: &str = "no-cache";

#[derive(Clone)]
struct TileReads(Arc<Semaphore>);

pub fn router() -> Router<Arc<WebState>> {
    Router::new()
        .route("/log/checkpoint", get(checkpoint))
        .route("/log/tile/{*rest}", get(tile))
        .layer(Extension(TileReads(Arc::new(Semaphore::new(TILE_READS_CONCURRENT_MAX)))))
}

fn text(status: StatusCode, message: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], message + "\n").into_response()
}

async fn checkpoint(State(state): State<Arc<WebState>>) -> Response {
    let store = state.shared.store.clone();
    let latest = tokio::task::spawn_blocking(move || store.latest_checkpoint()).await;
    match latest {
        Ok(Ok(Some((size, note)))) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, CACHE_CHECKPOINT)],
            // With the witnesses' cosignatures, once they have cosigned it (crate::witness).
            state.shared.cosignatures.attach(size, note),
        )
            .into_response(),
        Ok(Ok(None)) => text(StatusCode::NOT_FOUND, "no checkpoint has been signed yet".into()),
        Ok(Err(e)) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("reading the checkpoint: {e}")),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("checkpoint task failed: {e}")),
    }
}

/// Whether the client takes gzip (entry bundles SHOULD be compressed, tlog-tiles §Log entries).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
            coding.eq_ignore_ascii_case("gzip") && !refused
        })
    })
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 2), flate2::Compression::fast());
    enc.write_all(bytes)?;
    enc.finish()
}

async fn tile(
    State(state): State<Arc<WebState>>,
    Extension(TileReads(reads)): Extension<TileReads>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path().strip_prefix(PREFIX).unwrap_or_default();
    let tile = match parse_tile_path(path) {
        Ok(t) => t,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("not a tlog-tiles path: {e}")),
    };
    let Ok(_permit) = reads.acquire().await else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down".into());
    };
    let store = state.shared.store.clone();
    let bytes = match tokio::task::spawn_blocking(move || tile_bytes(&*store, &tile)).await {
        Ok(Ok(b)) => b,
        Ok(Err(e @ TileError::NotInLog { .. })) => return text(StatusCode::NOT_FOUND, e.to_string()),
        Ok(Err(e)) => return text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, format!("tile task failed: {e}")),
    };
    let cache = if tile.is_full() { CACHE_FULL } else { CACHE_PARTIAL };
    let mut response_headers = HeaderMap::new();
    response_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    let body = if tile.kind == TileKind::Entries {
        response_headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        if accepts_gzip(&headers) {
            match gzip(&bytes) {
                Ok(z) => {
                    response_headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                    z
                }
                Err(_) => bytes,
            }
        } else {
            bytes
        }
    } else {
        bytes
    };
    (StatusCode::OK, response_headers, body).into_response()
}
