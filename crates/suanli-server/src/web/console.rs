//! The web console for people: founders, renters, compute centers, the finance bureau and
//! auditors (issue 13 fills this in).

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::WebState;

pub fn router() -> Router<Arc<WebState>> {
    Router::new().route("/", get(index))
}

async fn index() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'self'; frame-ancestors 'none'"),
        ],
        "<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>算力券账本</title><h1>算力券账本 suanli</h1>\n",
    )
}
