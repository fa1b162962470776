//! The Python client of `examples/python/` against a real ledger: a fresh virtualenv with
//! the example's requirements from PyPI, entities registered with the real `suanli`, and
//! a record signed in Python answered ACCEPTED (then DUPLICATE on a retry).
//!
//! Needs `python3` with the `venv` module and access to PyPI. Without them the test fails
//! and says so: a Python example that is never run rots.

use std::path::{Path, PathBuf};
use std::process::Command;

use suanli_tests::Server;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot run it: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn python_client_signs_a_record_the_ledger_accepts() {
    let root = repo_root();
    let example = root.join("examples/python");
    let venv = tempfile::tempdir().expect("tempdir");
    run(
        Command::new("python3").args(["-m", "venv"]).arg(venv.path()),
        "python3 -m venv (install python3 and its venv module)",
    );
    let python = venv.path().join("bin/python");
    run(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(example.join("requirements.txt")),
        "pip install -r examples/python/requirements.txt (this test needs PyPI; it does not pass without it)",
    );

    let server = Server::start();
    let admin = server.admin_key().to_string_lossy().into_owned();
    let keys = tempfile::tempdir().expect("tempdir");
    let p_key = keys.path().join("p.key").to_string_lossy().into_owned();
    let (p, r) = (suanli_core::testkit::uscc(1).to_string(), suanli_core::testkit::uscc(3).to_string());
    server.cli_ok(&[
        "entity",
        "register",
        "--key",
        &admin,
        "--id",
        &p,
        "--name",
        "P",
        "--provider",
        "--supplier-eligible",
    ]);
    server.cli_ok(&["entity", "register", "--key", &admin, "--id", &r, "--name", "R", "--renter-eligible"]);
    let pubkey = server.cli_ok(&["keygen", "--out", &p_key]).trim().to_string();
    server.cli_ok(&["entity", "add-key", "--key", &admin, "--id", &p, "--pubkey", &pubkey]);

    let submit = || {
        let mut cmd = Command::new(&python);
        cmd.arg(example.join("suanli_client.py"))
            .args(["--server", &server.addr, "--key", &p_key, "--provider", &p, "--renter", &r])
            .args(["--record-id", "py-0001", "--gpu-count", "8", "--gpu-hours", "8", "--unit-price", "12.50"])
            .args(["--end", "2026-06-30T12:00:00+08:00"]);
        run(&mut cmd, "examples/python/suanli_client.py")
    };
    let first = submit();
    // 8 GPU-hours at 12.50: 100.00; renter 30 % = 30.00, supplier 10 % = 10.00.
    assert!(first.contains("py-0001,ACCEPTED,4,0.00,30.00,10.00,NO_VOUCHER|GRANTED|GRANTED"), "{first}");
    let again = submit();
    assert!(again.contains("py-0001,DUPLICATE,4,0.00,30.00,10.00"), "{again}");

    // The Rust CLI sees the record the Python client signed.
    let statement = server.cli_ok(&["statement", "--key", &server.finance_key().to_string_lossy(), "--id", &r]);
    assert!(statement.contains("py-0001"), "{statement}");
}
