//! `GET /metrics`: Prometheus metrics on the web listener (and on `metrics_listen` when
//! that is set), rendered by [`crate::metrics::Metrics::render`].

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::WebState;

pub fn router() -> Router<Arc<WebState>> {
    Router::new().route("/metrics", get(scrape))
}

async fn scrape(State(state): State<Arc<WebState>>) -> impl IntoResponse {
    let body = state.metrics.render(&state.shared.ledger.read().expect("ledger lock"));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}
