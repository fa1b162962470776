//! `GET /metrics` (and `HEAD`): Prometheus metrics on the web listener (and on
//! `metrics_listen` when that is set), rendered by [`crate::metrics::Metrics::render_as`]
//! in the format the scraper's `Accept` header asks for: OpenMetrics when it names
//! `application/openmetrics-text` (as Prometheus does), the classic text format otherwise.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::WebState;
use crate::metrics::Format;

pub fn router() -> Router<Arc<WebState>> {
    // axum answers HEAD on a GET route with the same headers and no body.
    Router::new().route("/metrics", get(scrape))
}

async fn scrape(State(state): State<Arc<WebState>>, headers: HeaderMap) -> impl IntoResponse {
    let format = Format::from_accept(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let runs = state.shared.store.index_runs();
    let gate = &state.shared.chunk_permits;
    state.metrics.set_admission(gate.limit(), gate.in_flight());
    let body = state.metrics.render_as(&state.shared.ledger.read().expect("ledger lock"), runs, format);
    ([(header::CONTENT_TYPE, format.content_type())], body)
}
