//! The few lines `suanlid` always writes on stderr, whatever the log filter: what it
//! generated, where it listens, why it stopped. In the human format they are plain
//! `suanlid: …` lines (the listening address last, where scripts read it); with
//! `--log-format json` every one is a JSON object shaped like the tracing log's lines
//! (`timestamp`, `level`, `target`, `fields.message`, and the facts as more fields), so a
//! log collector never sees a line it cannot parse.

use std::sync::atomic::{AtomicBool, Ordering};

static JSON: AtomicBool = AtomicBool::new(false);

/// Chooses the format of every later notice (and is what `--log-format json` sets).
pub fn set_json(json: bool) {
    JSON.store(json, Ordering::Relaxed);
}

pub fn json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// One notice: `message` for people, `fields` for machines (in JSON only; the human line
/// already says them).
pub fn info(message: &str, fields: &[(&str, String)]) {
    emit("INFO", message, fields);
}

/// A fatal error: the last line before `suanlid` exits.
pub fn error(message: &str) {
    emit("ERROR", &format!("error: {message}"), &[]);
}

/// A warning people must not miss.
pub fn warn(message: &str, fields: &[(&str, String)]) {
    emit("WARN", message, fields);
}

fn emit(level: &str, message: &str, fields: &[(&str, String)]) {
    if json() {
        let mut f = serde_json::Map::new();
        f.insert("message".into(), message.into());
        for (k, v) in fields {
            f.insert((*k).into(), v.clone().into());
        }
        let line = serde_json::json!({
            "timestamp": timestamp(),
            "level": level,
            "fields": f,
            "target": "suanlid",
        });
        eprintln!("{line}");
    } else {
        eprintln!("suanlid: {message}");
    }
}

fn timestamp() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = suanli_core::time::format_rfc3339(now.as_secs() as i64, 0);
    // 2026-12-06T08:17:27+00:00 → 2026-12-06T08:17:27.123456Z, as tracing writes it.
    let base = secs.trim_end_matches("+00:00").trim_end_matches('Z');
    format!("{base}.{:06}Z", now.subsec_micros())
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_look_like_the_tracing_log() {
        let t = super::timestamp();
        assert!(t.ends_with('Z') && t.contains('T') && t.contains('.'), "{t}");
    }
}
