//! The web console (issue 13): pages for the people who use the ledger — voucher holders,
//! renters and compute centers, the finance bureau, auditors — in Chinese first, with an
//! English switch.
//!
//! The console is a window on the same ledger, not a second application:
//! - pages are HTML rendered here from templates compiled into the binary (askama,
//!   auto-escaped: every name a company registered is text, never markup), with one
//!   stylesheet and small ES modules (`web/static/`), all embedded; no CDN, no Node.js;
//! - the browser is the signer: the person loads their key file into a non-extractable
//!   WebCrypto Ed25519 key, and every action and every private read is the same signed
//!   envelope the CLI sends (same domain tags, same `ReadRequest` with `issued_at_ms` and a
//!   nonce), posted as protobuf bytes to `/api/…`, which hands it to the same service code
//!   the gRPC server runs ([`Services`]), so the rules are identical;
//! - what the person sees before "确认签名" is decoded in the browser from the bytes about to
//!   be signed (`static/summary.js`), so a wrong or hostile page cannot get a signature on
//!   something other than what was shown;
//! - the auditor page checks inclusion proofs and signatures in the browser.
//!
//! Nothing secret is kept by the server: no sessions, no passwords; the only cookie is
//! the reader's language. Responses carry a strict Content-Security-Policy (scripts and
//! styles from this origin only, no inline script or style).
//!
//! Layout: `console/i18n.rs` (languages, message catalogues `zh.toml`/`en.toml`),
//! `console/fmt.rs` (money and times, each in one place), `console/views.rs` (what the
//! private views show, rendered as HTML fragments), `console/api.rs` (`/api/…`),
//! `console/assets.rs` (`/static/…`), `console/templates/` (the pages).

pub mod api;
pub mod assets;
pub mod fmt;
pub mod i18n;
pub mod index;
pub mod views;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use suanli_core::lang::Lang;

use self::i18n::Catalog;
use super::WebState;

/// The Content-Security-Policy of every console response: everything from this origin
/// only, no inline script, no inline style, no plugins, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// One entry of the navigation bar: its path, the message key of its label and of the
/// sentence on the home page. A page added to the console adds one line here.
#[derive(Debug, Clone, Copy)]
pub struct NavEntry {
    pub href: &'static str,
    pub key: &'static str,
    pub blurb: &'static str,
}

pub const NAV: &[NavEntry] = &[
    NavEntry { href: "/", key: "nav.home", blurb: "home.lead" },
    NavEntry { href: "/founder", key: "nav.founder", blurb: "home.founder" },
    NavEntry { href: "/entity", key: "nav.entity", blurb: "home.entity" },
    NavEntry { href: "/finance", key: "nav.finance", blurb: "home.finance" },
    NavEntry { href: "/auditor", key: "nav.auditor", blurb: "home.auditor" },
];

/// A navigation entry as one page shows it.
#[derive(Debug)]
pub struct NavItem {
    pub href: &'static str,
    pub key: &'static str,
    pub blurb: &'static str,
    pub current: bool,
}

/// What every page has around its content: language, navigation, footer, the messages
/// its scripts use, and the module it loads.
#[derive(Debug)]
pub struct Chrome {
    pub t: &'static Catalog,
    pub lang: Lang,
    pub lang_code: &'static str,
    pub html_lang: &'static str,
    pub other_code: &'static str,
    pub page: &'static str,
    pub switch_href: String,
    pub nav: Vec<NavItem>,
    pub footer: String,
    /// The catalogue's `js` messages as JSON (an attribute value, escaped by the template).
    pub msgs: String,
    /// The page's ES module under `/static/`, or empty.
    pub script: &'static str,
    /// The program's time zone, seconds east of UTC.
    pub offset: i32,
}

impl Chrome {
    pub fn new(state: &WebState, lang: Lang, path: &'static str, page: &'static str, script: &'static str) -> Chrome {
        let t = i18n::catalog(lang);
        let (origin, program, offset) = {
            let ledger = state.shared.ledger.read().expect("ledger lock");
            (ledger.genesis().origin.clone(), ledger.program().id.clone(), ledger.program().utc_offset_seconds)
        };
        Chrome {
            t,
            lang,
            lang_code: lang.code(),
            html_lang: lang.tag(),
            other_code: i18n::other(lang).code(),
            page,
            switch_href: format!("{path}?lang={}", i18n::other(lang).code()),
            nav: NAV
                .iter()
                .map(|n| NavItem { href: n.href, key: n.key, blurb: n.blurb, current: n.href == path })
                .collect(),
            footer: t.f("app.footer", &[("origin", &origin), ("program", &program), ("zone", &fmt::zone(offset))]),
            msgs: t.js_json(),
            script,
            offset,
        }
    }
}

/// `?lang=` on any page.
#[derive(Debug, Deserialize, Default)]
pub struct LangQuery {
    pub lang: Option<String>,
}

/// The language of a request (see [`i18n::negotiate`]).
pub fn lang_of(q: Option<&str>, headers: &HeaderMap) -> Lang {
    i18n::negotiate(q, headers)
}

/// Adds the console's security headers, and keeps a `?lang=` choice in the `lang` cookie.
pub fn secure(resp: Response, set_lang: Option<Lang>) -> Response {
    secure_with(resp, set_lang, false)
}

/// [`secure`], with the cookie marked `Secure` when the console is served over TLS.
pub fn secure_with(mut resp: Response, set_lang: Option<Lang>, tls: bool) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some(l) = set_lang
        && let Ok(v) = HeaderValue::from_str(&format!(
            "{}={}; Path=/; Max-Age=31536000; SameSite=Lax{}",
            i18n::LANG_COOKIE,
            l.code(),
            if tls { "; Secure" } else { "" }
        ))
    {
        h.append(header::SET_COOKIE, v);
    }
    resp
}

/// Renders a page template, with the security headers.
pub fn page(t: &impl Template, set_lang: Option<Lang>) -> Response {
    render(t, set_lang, false)
}

/// [`page`], with the language cookie marked `Secure` when `state` serves over TLS.
pub fn page_for(state: &WebState, t: &impl Template, set_lang: Option<Lang>) -> Response {
    render(t, set_lang, state.tls)
}

fn render(t: &impl Template, set_lang: Option<Lang>, tls: bool) -> Response {
    match t.render() {
        Ok(html) => secure_with(Html(html).into_response(), set_lang, tls),
        Err(e) => secure((StatusCode::INTERNAL_SERVER_ERROR, format!("template: {e}")).into_response(), None),
    }
}

/// The language of a page request and whether to remember it in the cookie.
pub fn choose(q: &LangQuery, headers: &HeaderMap) -> (Lang, Option<Lang>) {
    let lang = lang_of(q.lang.as_deref(), headers);
    (lang, q.lang.as_deref().and_then(Lang::parse))
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    c: Chrome,
}

#[derive(Template)]
#[template(path = "founder.html")]
struct FounderPage {
    c: Chrome,
}

#[derive(Template)]
#[template(path = "entity.html")]
struct EntityPage {
    c: Chrome,
    years: Vec<i32>,
    this_year: i32,
}

#[derive(Template)]
#[template(path = "auditor.html")]
struct AuditorPage {
    c: Chrome,
    ledger_key: String,
    origin: String,
    provider: String,
    record: String,
    corpus: bool,
}

async fn home(State(state): State<Arc<WebState>>, Query(q): Query<LangQuery>, headers: HeaderMap) -> Response {
    let (lang, set) = choose(&q, &headers);
    page_for(&state, &HomePage { c: Chrome::new(&state, lang, "/", "home", "") }, set)
}

async fn founder(State(state): State<Arc<WebState>>, Query(q): Query<LangQuery>, headers: HeaderMap) -> Response {
    let (lang, set) = choose(&q, &headers);
    page_for(&state, &FounderPage { c: Chrome::new(&state, lang, "/founder", "founder", "founder.js") }, set)
}

/// The cap years a statement can be asked for: the program's window, and this year.
fn statement_years(state: &WebState) -> (Vec<i32>, i32) {
    use suanli_core::time::year_at;
    let ledger = state.shared.ledger.read().expect("ledger lock");
    let p = ledger.program();
    let now = (state.shared.clock)().div_euclid(1000);
    let this = year_at(now, p.utc_offset_seconds);
    let first = year_at(p.window_start, p.utc_offset_seconds);
    let last = year_at(p.window_end - 1, p.utc_offset_seconds).max(this);
    let years: Vec<i32> = (first.min(this)..=last).rev().collect();
    let shown = this.clamp(first, year_at(p.window_end - 1, p.utc_offset_seconds));
    (years, shown)
}

async fn entity(State(state): State<Arc<WebState>>, Query(q): Query<LangQuery>, headers: HeaderMap) -> Response {
    let (lang, set) = choose(&q, &headers);
    let (years, this_year) = statement_years(&state);
    page_for(
        &state,
        &EntityPage { c: Chrome::new(&state, lang, "/entity", "entity", "entity.js"), years, this_year },
        set,
    )
}

#[derive(Debug, Deserialize, Default)]
struct AuditorQuery {
    lang: Option<String>,
    provider: Option<String>,
    record: Option<String>,
    kind: Option<String>,
}

async fn auditor(State(state): State<Arc<WebState>>, Query(q): Query<AuditorQuery>, headers: HeaderMap) -> Response {
    let lq = LangQuery { lang: q.lang.clone() };
    let (lang, set) = choose(&lq, &headers);
    let (ledger_key, origin) = {
        let ledger = state.shared.ledger.read().expect("ledger lock");
        let g = ledger.genesis();
        (suanli_core::keyfile::encode_public(&g.ledger_key), g.origin.clone())
    };
    page_for(
        &state,
        &AuditorPage {
            c: Chrome::new(&state, lang, "/auditor", "auditor", "auditor.js"),
            ledger_key,
            origin,
            provider: q.provider.unwrap_or_default(),
            record: q.record.unwrap_or_default(),
            corpus: q.kind.as_deref() == Some("corpus"),
        },
        set,
    )
}

/// The console: pages at `/`, `/founder`, `/entity`, `/auditor`, assets at `/static/…`
/// and the signed and public endpoints at `/api/…`.
pub fn router() -> Router<Arc<WebState>> {
    Router::new()
        .route("/", get(home))
        .route("/founder", get(founder))
        .route("/entity", get(entity))
        .route("/auditor", get(auditor))
        .merge(assets::router())
        .merge(api::router())
}
