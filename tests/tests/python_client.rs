//! The Python client of `examples/python/` against a real ledger: the package installed
//! (`pip install ./examples/python`, dependencies from PyPI) into a fresh virtualenv,
//! entities registered with the real `suanli`, and records signed in Python: one record
//! ACCEPTED, then DUPLICATE on a retry "an hour later" (the same explicit --end); a CSV file
//! in batch mode with one rejection (exit 1), signed as one batch (one signature for many
//! records), whose kept batch is resent unchanged on the retry, and the same records signed
//! one by one (DUPLICATE); the documented batch example; and usage errors that exit 2, not 1.
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
        Command::new(&python).args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]).arg(&example),
        "pip install ./examples/python (this test needs PyPI; it does not pass without it)",
    );
    let cache = tempfile::tempdir().expect("tempdir");
    let client = |args: &[&str]| {
        let mut cmd = Command::new(&python);
        // The installed package, run from elsewhere: the proto directory is given.
        cmd.current_dir(cache.path())
            .env("XDG_CACHE_HOME", cache.path())
            .args(["-m", "suanli_client", "--proto-dir"])
            .arg(root.join("proto"))
            .args(args);
        cmd.output().expect("run python -m suanli_client")
    };

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

    let one = ["--server", &server.addr, "--key", &p_key, "--provider", &p, "--renter", &r, "--record-id", "py-0001"];
    let record =
        ["--gpu-count", "8", "--gpu-hours", "8", "--unit-price", "12.50", "--end", "2026-06-30T12:00:00+08:00"];
    let submit = || {
        let out = client(&[&one[..], &record[..]].concat());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let first = submit();
    // 8 GPU-hours at 12.50: 100.00; renter 30 % = 30.00, supplier 10 % = 10.00.
    assert!(first.contains("py-0001,ACCEPTED,4,0.00,30.00,10.00,NO_VOUCHER|GRANTED|GRANTED"), "{first}");
    // A retry an hour later: the record's bytes depend on its fields only (the end is given),
    // so it is the same record, answered DUPLICATE, never CONFLICT.
    let again = submit();
    assert!(again.contains("py-0001,DUPLICATE,4,0.00,30.00,10.00"), "{again}");
    // The stubs were generated in the private cache directory (mode 0700).
    use std::os::unix::fs::PermissionsExt;
    let stubs = cache.path().join("suanli-client");
    assert_eq!(std::fs::metadata(&stubs).unwrap().permissions().mode() & 0o777, 0o700);

    // Usage errors exit 2 (a rejection exits 1): no --end, a bad key file, a URL for --server.
    let no_end = client(&[&one[..], &["--gpu-hours", "8"]].concat());
    assert_eq!(no_end.status.code(), Some(2), "{}", String::from_utf8_lossy(&no_end.stderr));
    assert!(String::from_utf8_lossy(&no_end.stderr).contains("--end"));
    let bad_key = client(&["--key", "/nonexistent.key", "--csv", "x.csv"]);
    assert_eq!(bad_key.status.code(), Some(2));
    let url = client(&[&["--server", "http://127.0.0.1:7420"][..], &one[2..], &record[..]].concat());
    assert_eq!(url.status.code(), Some(2), "{}", String::from_utf8_lossy(&url.stderr));

    // Batch mode: a CSV file, one call, one line per record; one rejection exits 1.
    let csv_path = keys.path().join("usage.csv");
    std::fs::write(
        &csv_path,
        format!(
            "record_id,provider_id,renter_id,contract_id,gpu_model,gpu_count,start,end,gpu_hours,unit_price,amount,voucher_id,invoice_no\n\
             b1,{p},{r},HT-1,H100,8,2026-06-30T11:00:00+08:00,2026-06-30T12:00:00+08:00,8,12.50,100.00,,\n\
             b2,{p},{r},HT-1,H100,8,2026-06-30T11:00:00+08:00,2026-06-30T12:00:00+08:00,4,12.50,50.00,,INV-2\n\
             b3,{p},{r},HT-1,H100,8,2026-06-30T11:00:00+08:00,2026-06-30T12:00:00+08:00,4,12.50,49.99,,\n"
        ),
    )
    .unwrap();
    let csv_arg = csv_path.to_string_lossy().into_owned();
    let batch = || client(&["--server", &server.addr, "--key", &p_key, "--csv", &csv_arg]);
    let out = batch();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "record_id,status,seq,voucher_drawn,renter_subsidy,supplier_subsidy,reason");
    assert!(lines[1].starts_with("b1,ACCEPTED,") && lines[2].starts_with("b2,ACCEPTED,"), "{stdout}");
    assert_eq!(lines[3], "b3,REJECTED,,,,,AMOUNT_MISMATCH");
    assert!(String::from_utf8_lossy(&out.stderr).contains("b3 rejected: AMOUNT_MISMATCH"));
    // The records were signed together, one batch (one line) kept beside the file; the
    // retry sends it as it is.
    let kept = keys.path().join("usage.csv.signed");
    let before = std::fs::read(&kept).unwrap();
    assert_eq!(before.iter().filter(|&&b| b == b'\n').count(), 1, "one batch of three records");
    let out = batch();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("b1,DUPLICATE,") && stdout.contains("b2,DUPLICATE,"), "{stdout}");
    assert_eq!(std::fs::read(&kept).unwrap(), before);
    // The same records signed one by one are the same records: DUPLICATE, whatever signed them.
    let single_kept = keys.path().join("single.signed").to_string_lossy().into_owned();
    let out = client(&[
        "--server",
        &server.addr,
        "--key",
        &p_key,
        "--csv",
        &csv_arg,
        "--single-signatures",
        "--envelopes",
        &single_kept,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("b1,DUPLICATE,") && stdout.contains("b2,DUPLICATE,"), "{stdout}");
    let single = std::fs::read(&single_kept).unwrap();
    assert_eq!(single.iter().filter(|&&b| b == b'\n').count(), 3, "three single envelopes");

    // The batch signature is the one docs/INTEGRATION.md specifies: its worked example.
    let example = run(
        Command::new(&python).args([
            "-c",
            "import hashlib\n\
             from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey as K\n\
             from suanli_client import cli\n\
             import sys\n\
             signed_pb2, _, _ = cli.generated_stubs(sys.argv[1])\n\
             head = cli.batch_head('example.org/suanli', [b'r-0', b'r-1'], signed_pb2)\n\
             b = cli.sign_batches(K.from_private_bytes(bytes([1]) * 32), b'', 'example.org/suanli', [b'r-0', b'r-1'], signed_pb2)\n\
             print(head.hex()); print(b[0].signature.hex())",
            &root.join("proto").to_string_lossy(),
        ]),
        "the documented batch example in Python",
    );
    assert_eq!(
        example.lines().collect::<Vec<_>>(),
        vec![
            "0a126578616d706c652e6f72672f7375616e6c6910021a208ca1dd1a47b6c101cb8e08ef97a7e9bd621994a9e514efc73d36ebba946c7d32",
            "0cbafee2e58543a2a9a4de71249a02dde582b0c97bf1e9f091e7ed6347bab2970f2bb77b06c0a7b9dd7f23e4f0c85e27ba1833102d0e5aa5fc0f2a66e88be70b",
        ],
        "the Python batch signer disagrees with docs/INTEGRATION.md"
    );

    // The Rust CLI sees the record the Python client signed.
    let statement = server.cli_ok(&["statement", "--key", &server.finance_key().to_string_lossy(), "--id", &r]);
    assert!(statement.contains("py-0001"), "{statement}");
}
