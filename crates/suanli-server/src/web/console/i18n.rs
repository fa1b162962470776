//! Which language a page is in, and the one message catalogue per language (`zh.toml`,
//! `en.toml`, compiled into the binary). Keys are named by meaning (`voucher.balance`),
//! never assembled from pieces; `{name}` placeholders are filled by [`Catalog::f`].
//!
//! The language is chosen, in order, by `?lang=zh|en` (which also sets the `lang`
//! cookie), the `lang` cookie, and the browser's `Accept-Language`; Chinese otherwise.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::http::HeaderMap;
use suanli_core::lang::Lang;

/// The cookie that keeps the reader's language choice (not an authority: nothing else is
/// kept in cookies).
pub const LANG_COOKIE: &str = "lang";

pub fn other(lang: Lang) -> Lang {
    match lang {
        Lang::Zh => Lang::En,
        Lang::En => Lang::Zh,
    }
}

/// The language of a request: `?lang=`, then the cookie, then `Accept-Language`.
pub fn negotiate(query_lang: Option<&str>, headers: &HeaderMap) -> Lang {
    if let Some(l) = query_lang.and_then(Lang::parse) {
        return l;
    }
    if let Some(l) = cookie(headers, LANG_COOKIE).and_then(|v| Lang::parse(&v)) {
        return l;
    }
    let accept = headers.get(axum::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
    Lang::from_accept_language(accept).unwrap_or(Lang::Zh)
}

/// A cookie's value from the request headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(axum::http::header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        v.split(';').find_map(|c| {
            let (k, val) = c.trim().split_once('=')?;
            (k == name).then(|| val.to_string())
        })
    })
}

/// One language's messages, flattened to `section.key` (`key.js.loading`).
#[derive(Debug)]
pub struct Catalog {
    lang: Lang,
    messages: BTreeMap<String, String>,
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            toml::Value::Table(t) => flatten(&key, t, out),
            other => panic!("message {key} is not a string: {other:?}"),
        }
    }
}

impl Catalog {
    fn load(lang: Lang, text: &str) -> Catalog {
        let table: toml::Table = text.parse().expect("the message catalogue is valid TOML");
        let mut messages = BTreeMap::new();
        flatten("", &table, &mut messages);
        Catalog { lang, messages }
    }

    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// The message for `key`; the key itself when it is missing (a test keeps both
    /// catalogues complete, so a reader never sees one).
    pub fn s<'a>(&'a self, key: &'a str) -> &'a str {
        self.messages.get(key).map_or(key, String::as_str)
    }

    /// The message for `key` with its `{name}` placeholders filled.
    pub fn f(&self, key: &str, args: &[(&str, &str)]) -> String {
        let mut out = self.s(key).to_string();
        for (name, value) in args {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }

    /// The messages the browser's scripts use (keys with a `js` segment), as JSON.
    pub fn js_json(&self) -> String {
        let js: BTreeMap<&str, &str> = self
            .messages
            .iter()
            .filter(|(k, _)| k.split('.').any(|seg| seg == "js"))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        serde_json::to_string(&js).expect("strings serialize")
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.messages.keys().map(String::as_str)
    }
}

static ZH: LazyLock<Catalog> = LazyLock::new(|| Catalog::load(Lang::Zh, include_str!("zh.toml")));
static EN: LazyLock<Catalog> = LazyLock::new(|| Catalog::load(Lang::En, include_str!("en.toml")));

pub fn catalog(lang: Lang) -> &'static Catalog {
    match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_catalogues_have_the_same_keys_and_placeholders() {
        let zh: Vec<&str> = catalog(Lang::Zh).keys().collect();
        let en: Vec<&str> = catalog(Lang::En).keys().collect();
        assert_eq!(zh, en, "zh.toml and en.toml must have the same keys");
        let holes = |s: &str| {
            let mut v: Vec<String> =
                s.split('{').skip(1).filter_map(|p| p.split_once('}').map(|(n, _)| n.to_string())).collect();
            v.sort();
            v
        };
        for k in zh {
            assert_eq!(holes(catalog(Lang::Zh).s(k)), holes(catalog(Lang::En).s(k)), "placeholders of {k}");
        }
    }

    #[test]
    fn every_key_used_in_templates_and_scripts_exists() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
        let mut files = Vec::new();
        for sub in ["console/templates", "static"] {
            for e in std::fs::read_dir(dir.join(sub)).expect("dir") {
                files.push(e.expect("entry").path());
            }
        }
        let mut used = 0;
        for f in files {
            let text = std::fs::read_to_string(&f).expect("text");
            // Templates: t.s("key") / t.f("key", ...); scripts: t("key") / t("key", {...}).
            for pat in ["s(\"", "f(\"", "t(\""] {
                for part in text.split(pat).skip(1) {
                    let key = part.split('"').next().unwrap_or("");
                    if key.contains('.') && !key.contains(' ') {
                        used += 1;
                        assert_ne!(catalog(Lang::Zh).s(key), key, "{} uses the unknown message key {key}", f.display());
                        if pat == "t(\"" {
                            assert!(
                                key.split('.').any(|s| s == "js"),
                                "{} uses {key}, not sent to scripts",
                                f.display()
                            );
                        }
                    }
                }
            }
        }
        assert!(used > 50, "found only {used} message keys in use");
    }

    #[test]
    fn languages_are_negotiated() {
        let mut h = HeaderMap::new();
        assert_eq!(negotiate(None, &h), Lang::Zh);
        h.insert("accept-language", "en-US,en;q=0.9,zh-CN;q=0.8".parse().unwrap());
        assert_eq!(negotiate(None, &h), Lang::En);
        h.insert("accept-language", "fr,zh-CN;q=0.9,en;q=0.8".parse().unwrap());
        assert_eq!(negotiate(None, &h), Lang::Zh);
        h.insert("cookie", "a=b; lang=en".parse().unwrap());
        assert_eq!(negotiate(None, &h), Lang::En);
        assert_eq!(negotiate(Some("zh"), &h), Lang::Zh);
        assert_eq!(negotiate(Some("xx"), &h), Lang::En);
    }

    #[test]
    fn placeholders_fill() {
        let c = catalog(Lang::En);
        assert_eq!(c.f("errors.js.accepted", &[("seq", "7")]), "Recorded in the ledger (entry 7).");
        assert!(c.js_json().contains("\"key.js.bad_file\""));
        assert!(!c.js_json().contains("\"voucher.balance\""));
    }
}
