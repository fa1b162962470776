//! The web console in a real browser: Playwright (Python, from PyPI, in a private
//! virtualenv) drives Debian's Chromium (`scripts/install-browser.sh`) against a real
//! `suanlid` started by the harness, running the scenarios of `tests/browser/`
//! (`run.py`, `scenarios_*.py`): a founder authorizes a provider in the browser and the
//! provider's next record draws the voucher; a company's statement and its CSV; the
//! auditor's in-browser checks, a tampered proof and report shown invalid; "what you see
//! is what you sign"; an entity named `<script>…`; bad key files, keys of another role,
//! expired reads and an unreachable server.
//!
//! Needs `python3` with `venv`, PyPI, and `/usr/bin/chromium` with CJK fonts; without
//! them the test fails and says what to install. The virtualenv is kept in the target
//! directory (`browser-venv/`) and rebuilt when `tests/browser/requirements.txt` changes.
//!
//! Screenshots of every page (Chinese and English, desktop and phone) are saved when
//! `SUANLI_SCREENSHOTS` names a directory (relative to the repository root), e.g.
//! `SUANLI_SCREENSHOTS=docs/screenshots cargo test -p suanli-tests --test browser`.

use std::path::{Path, PathBuf};
use std::process::Command;

use suanli_tests::{Server, bin, bin_dir, repo_root, run_ok as run};

const CHROMIUM: &str = "/usr/bin/chromium";

/// The virtualenv with Playwright, made once per requirements file.
fn venv() -> PathBuf {
    let requirements = repo_root().join("tests/browser/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).expect("tests/browser/requirements.txt");
    let dir = bin_dir().join("browser-venv");
    let stamp = dir.join("suanli-requirements.txt");
    let python = dir.join("bin/python");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) && python.exists() {
        return python;
    }
    let _ = std::fs::remove_dir_all(&dir);
    run(
        Command::new("python3").args(["-m", "venv"]).arg(&dir),
        "python3 -m venv (install python3 and its venv module)",
    );
    run(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&requirements),
        "pip install -r tests/browser/requirements.txt (this test needs PyPI)",
    );
    std::fs::write(&stamp, wanted).expect("stamp");
    python
}

/// The preset program with an effective window around today, so the scenarios' records
/// (which end two hours ago) earn subsidies whatever the date.
fn program(dir: &Path) -> PathBuf {
    let preset = std::fs::read_to_string(repo_root().join("crates/suanli-core/programs/suzhou-2026.toml"))
        .expect("the preset program");
    let text: String = preset
        .lines()
        .map(|l| {
            if l.starts_with("id = ") {
                "id = \"suzhou-demo\"".to_string()
            } else if l.starts_with("window_start = ") {
                "window_start = \"2020-01-01T00:00:00+08:00\"".to_string()
            } else if l.starts_with("window_end = ") {
                "window_end = \"2199-01-01T00:00:00+08:00\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = dir.join("program.toml");
    std::fs::write(&path, text + "\n").expect("program file");
    path
}

#[test]
fn console_scenarios_in_chromium() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/install-browser.sh (Debian's chromium and fonts-noto-cjk)"
    );
    let python = venv();
    let work = tempfile::tempdir().expect("tempdir");
    let program = program(work.path());
    let server = Server::start_with(&["--program", program.to_str().expect("utf-8 path")]);
    let shots = std::env::var("SUANLI_SCREENSHOTS").ok().filter(|s| !s.is_empty()).map(|s| repo_root().join(s));
    let keys = work.path().join("keys");
    std::fs::create_dir_all(&keys).expect("keys dir");
    let config = serde_json::json!({
        "web_url": server.web_url(),
        "grpc_url": server.url(),
        "suanli": bin("suanli"),
        "admin_key": server.admin_key(),
        "finance_key": server.finance_key(),
        "work_dir": keys,
        "chromium": CHROMIUM,
        "screenshots": shots,
    });
    let config_path = work.path().join("config.json");
    std::fs::write(&config_path, serde_json::to_vec_pretty(&config).expect("json")).expect("config");
    let mut cmd = Command::new(&python);
    cmd.arg(repo_root().join("tests/browser/run.py")).arg(&config_path);
    // Only the scenarios named in SUANLI_BROWSER_ONLY (space-separated), when set.
    if let Ok(only) = std::env::var("SUANLI_BROWSER_ONLY") {
        cmd.args(only.split_whitespace());
    }
    let out = cmd.output().expect("run tests/browser/run.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "browser scenarios failed ({}):\n{stdout}\n{}\nsuanlid's log: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        server.log.display()
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
