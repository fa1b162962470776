//! The languages people read the ledger in: Simplified Chinese first, English second.
//!
//! Every text meant for a person (console pages, CLI messages, reason explanations) is
//! chosen by a [`Lang`]; codes and CSV columns stay the same in every language, because
//! programs read those.

/// A language a person reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    /// Simplified Chinese (zh-CN), the default.
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The BCP 47 tag (`zh-CN`, `en`), for `lang=""` attributes and `Content-Language`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// `zh`/`en`, as written in URLs (`?lang=en`) and cookies.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// Parses `zh`, `zh-CN`, `zh_CN.UTF-8`, `en`, `en-US`, … (case-insensitive); other
    /// languages are `None`.
    pub fn parse(s: &str) -> Option<Lang> {
        let s = s.trim().to_ascii_lowercase();
        if s.starts_with("zh") {
            Some(Lang::Zh)
        } else if s.starts_with("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The preferred language of an HTTP `Accept-Language` header: the first of zh or en
    /// by quality (ties keep the header's order); `None` when it names neither.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(u32, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let Some(lang) = pieces.next().and_then(Lang::parse) else { continue };
            let q = pieces.find_map(|p| p.trim().strip_prefix("q=")).map_or(1000, |q| parse_quality(q.trim()));
            if q > 0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l)
    }

    /// The language of a POSIX locale: `LC_ALL`, then `LC_MESSAGES`, then `LANG` (the
    /// first that is set and not empty decides, as the C library does). Chinese when it
    /// names Chinese, English otherwise.
    pub fn from_locale(lc_all: Option<&str>, lc_messages: Option<&str>, lang: Option<&str>) -> Lang {
        let chosen = [lc_all, lc_messages, lang].into_iter().flatten().find(|v| !v.is_empty());
        match chosen.and_then(Lang::parse) {
            Some(Lang::Zh) => Lang::Zh,
            _ => Lang::En,
        }
    }
}

/// An HTTP quality value (`0.8`) in thousandths; malformed values count as 0.
fn parse_quality(q: &str) -> u32 {
    let (whole, frac) = q.split_once('.').unwrap_or((q, ""));
    let whole: u32 = match whole {
        "0" => 0,
        "1" => 1000,
        _ => return 0,
    };
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    let frac_value = format!("{frac:0<3}").parse::<u32>().unwrap_or(0);
    (whole + frac_value).min(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_by_quality() {
        assert_eq!(Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"), Some(Lang::Zh));
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9,zh-CN;q=0.8"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("fr;q=1, en;q=0.5, zh;q=0.7"), Some(Lang::Zh));
        assert_eq!(Lang::from_accept_language("fr, de"), None);
        assert_eq!(Lang::from_accept_language("zh;q=0, en"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language(""), None);
    }

    #[test]
    fn locale_order_follows_libc() {
        assert_eq!(Lang::from_locale(Some("zh_CN.UTF-8"), None, Some("en_US.UTF-8")), Lang::Zh);
        assert_eq!(Lang::from_locale(Some(""), None, Some("zh_CN.UTF-8")), Lang::Zh);
        assert_eq!(Lang::from_locale(None, None, Some("C.UTF-8")), Lang::En);
        assert_eq!(Lang::from_locale(None, None, None), Lang::En);
    }
}
