//! `/static/…`: the stylesheet and the ES modules, compiled into the binary. A file added
//! to `web/static/` is added to [`ASSETS`] too (a test checks that every file there is).

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::secure;
use crate::web::WebState;

macro_rules! assets {
    ($($name:literal),* $(,)?) => {
        /// Every file under `/static/`: its name and contents.
        pub const ASSETS: &[(&str, &str)] = &[$(($name, include_str!(concat!("../static/", $name))),)*];
    };
}

assets!(
    "console.css",
    "pb.js",
    "messages.js",
    "summary.js",
    "keys.js",
    "i18n.js",
    "fmt.js",
    "api.js",
    "ui.js",
    "founder.js",
    "entity.js",
    "auditor.js",
    "verify.js",
    "finance.js",
    "summary_finance.js",
);

fn content_type(name: &str) -> &'static str {
    if name.ends_with(".css") {
        "text/css; charset=utf-8"
    } else if name.ends_with(".js") {
        "text/javascript; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

async fn asset(Path(name): Path<String>) -> Response {
    let Some((_, body)) = ASSETS.iter().find(|(n, _)| *n == name) else {
        return secure((StatusCode::NOT_FOUND, "no such file").into_response(), None);
    };
    let mut resp = (*body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&name)));
    // Small files, and a new suanlid must never be served stale scripts: revalidate.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure(resp, None)
}

pub fn router() -> Router<Arc<WebState>> {
    Router::new().route("/static/{name}", get(asset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_static_file_is_served() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web/static");
        for e in std::fs::read_dir(dir).expect("static dir") {
            let name = e.expect("entry").file_name().to_string_lossy().into_owned();
            assert!(ASSETS.iter().any(|(n, _)| *n == name), "web/static/{name} is not in ASSETS");
        }
    }
}
