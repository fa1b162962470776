//! The configuration reference (docs/OPERATIONS.md) and the example file
//! (deploy/suanlid.toml) against the code's defaults (`Config::default()`): every field is
//! in both, and every default they state is the code's. A new field, or a changed default,
//! fails here until the docs say so.

use std::collections::BTreeMap;
use std::path::PathBuf;

use suanli_server::config::Config;

fn repo_file(path: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every field of the configuration with its default, by dotted name (`limits.x`); `None`
/// for fields whose default is unset.
fn defaults() -> BTreeMap<String, Option<toml::Value>> {
    let value = toml::Value::try_from(Config::default()).expect("the configuration serializes");
    let mut out = BTreeMap::new();
    for (k, v) in value.as_table().unwrap() {
        match v {
            toml::Value::Table(t) => {
                for (k2, v2) in t {
                    out.insert(format!("{k}.{k2}"), Some(v2.clone()));
                }
            }
            v => {
                out.insert(k.clone(), Some(v.clone()));
            }
        }
    }
    // Unset options are left out by the serializer: the fields that exist are the ones the
    // parser accepts, so ask it field by field.
    for name in [
        "store",
        "program",
        "admin_pubkey",
        "finance_pubkey",
        "metrics_listen",
        "tls.cert",
        "tls.key",
        "tls.client_ca",
        "mirror_of",
        "mirror_key",
    ] {
        out.entry(name.to_string()).or_insert(None);
    }
    out
}

fn plain(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn every_field_the_parser_takes_is_listed_here() {
    // A field missing from `defaults()` would be missed by the checks below.
    for name in defaults().keys() {
        let (table, field) = name.split_once('.').map_or((None, name.as_str()), |(t, f)| (Some(t), f));
        let text = match table {
            Some(t) => format!("[{t}]\n{field} = \"x\"\n"),
            None => format!("{field} = \"x\"\n"),
        };
        let e = toml::from_str::<Config>(&text).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(!e.contains("unknown field"), "{name} is not a configuration field: {e}");
    }
}

#[test]
fn the_operations_guide_states_every_field_with_its_default() {
    let doc = repo_file("docs/OPERATIONS.md");
    // `| `name` | [flag |] default | meaning |` rows of the two tables.
    let mut rows: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut in_limits = false;
    for line in doc.lines() {
        if line.starts_with("The `[limits]` table") {
            in_limits = true;
        }
        let cells: Vec<String> = line.split('|').map(|c| c.trim().to_string()).collect();
        if cells.len() < 4 || !cells[1].starts_with('`') {
            continue;
        }
        let name = cells[1].trim_matches('`').to_string();
        let name = if in_limits && !name.contains('.') { format!("limits.{name}") } else { name };
        rows.entry(name).or_insert_with(|| cells[2..].to_vec());
    }
    for (name, default) in defaults() {
        let row = rows.get(&name).unwrap_or_else(|| panic!("docs/OPERATIONS.md has no row for `{name}`"));
        let Some(default) = default else { continue };
        let want = plain(&default);
        // The default is the first cell after the flag column (top table) or the name (limits).
        let cell = if name.starts_with("limits.") { &row[0] } else { &row[1] };
        assert_eq!(cell.trim_matches('`'), want, "docs/OPERATIONS.md: the default of `{name}`");
    }
}

/// Fields the example sets on purpose to something else than the default (a container
/// listens on every interface, keeps its data under /data and serves metrics); each says
/// `# default …` on its line.
const DEPLOY_CHOICES: &[&str] = &["data_dir", "listen", "web_listen", "metrics_listen"];

#[test]
fn the_example_file_lists_every_field_with_its_default() {
    let text = repo_file("deploy/suanlid.toml");
    let parsed = Config::from_toml(&text).expect("deploy/suanlid.toml is a valid configuration");
    let file: toml::Value = toml::from_str(&text).unwrap();
    let defaults = defaults();
    for (name, default) in &defaults {
        let (table, field) = name.split_once('.').map_or((None, name.as_str()), |(t, f)| (Some(t), f));
        let set = match table {
            Some(t) => file.get(t).and_then(|t| t.get(field)),
            None => file.get(field),
        };
        // Unset in the file: it must at least be shown, commented out.
        let shown = text.lines().any(|l| {
            let l = l.trim_start_matches('#').trim();
            l.starts_with(&format!("{field} =")) || l.starts_with(&format!("{field}="))
        });
        assert!(set.is_some() || shown, "deploy/suanlid.toml does not mention `{name}`");
        if let (Some(v), Some(d)) = (set, default)
            && !DEPLOY_CHOICES.contains(&name.as_str())
        {
            assert_eq!(plain(v), plain(d), "deploy/suanlid.toml: `{name}` is not the default");
        }
    }
    for name in DEPLOY_CHOICES {
        let line = text.lines().find(|l| l.starts_with(&format!("{name} ="))).unwrap();
        if let Some(Some(d)) = defaults.get(*name) {
            assert!(line.contains(&format!("default {}", plain(d))), "{line}");
        }
    }
    assert_eq!(parsed.limits, Config::default().limits, "the example's limits are the defaults");
}
