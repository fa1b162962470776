//! The log as C2SP tlog-tiles under `/log/` (issue 15 fills this in).

use std::sync::Arc;

use axum::Router;

use super::WebState;

pub fn router() -> Router<Arc<WebState>> {
    Router::new()
}
