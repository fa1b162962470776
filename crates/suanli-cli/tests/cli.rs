//! Smoke test of every `suanli` command against a real ledger: an in-process `suanlid`
//! (the server library on an in-memory store, listening on 127.0.0.1:0) and the real
//! `suanli` binary. Uses the numbers of SPEC §12 where it submits records.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use suanli_core::testkit::uscc;
use suanli_server::config::Config;
use suanli_server::recovery::{StartOptions, open_or_init};
use suanli_server::sequencer::system_clock;
use suanli_store::Store;
use suanli_store::mem::MemStore;

/// A ledger served in a thread of its own, stopped on drop.
struct Ledger {
    url: String,
    dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ledger {
    fn start() -> Ledger {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let config = Config { data_dir: data.clone(), ..Config::default() };
                let store: Arc<dyn Store> = Arc::new(MemStore::new());
                let clock = system_clock();
                let opts = StartOptions {
                    data_dir: &data,
                    program: None,
                    admin_pubkey: None,
                    finance_pubkey: None,
                    clock: clock.clone(),
                };
                let opened = open_or_init(&*store, &opts).unwrap();
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let shutdown = async move {
                    let _ = stopped.await;
                };
                suanli_server::serve(&config, opened, store, listener, clock, shutdown).await.unwrap();
            });
        });
        let addr = addr_rx.recv().expect("the ledger starts");
        Ledger { url: format!("http://{addr}"), dir, stop: Some(stop), thread: Some(thread) }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn admin(&self) -> String {
        self.path("data/admin.key").display().to_string()
    }

    fn finance(&self) -> String {
        self.path("data/finance.key").display().to_string()
    }

    /// Runs `suanli ARGS --server URL` (the global flag after the command).
    fn run(&self, args: &[&str]) -> Out {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--server", &self.url]);
        suanli(&all)
    }

    /// Runs a command that must succeed and returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.code == 0, "suanli {args:?} failed: {out:?}");
        out.stdout
    }

    fn key(&self, name: &str) -> (String, String) {
        let path = self.path(name).display().to_string();
        let public = self.ok(&["keygen", "--out", &path]).trim().to_string();
        (path, public)
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn suanli(args: &[&str]) -> Out {
    let Output { status, stdout, stderr } = Command::new(env!("CARGO_BIN_EXE_suanli"))
        .args(args)
        .env_remove("SUANLI_SERVER")
        // Messages in English whatever the machine's locale (they are checked below).
        .env("LANG", "C")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .output()
        .unwrap();
    Out {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

/// `ACCEPTED seq=N` → N.
fn accepted(stdout: &str) -> u64 {
    let seq = stdout.strip_prefix("ACCEPTED seq=").and_then(|s| s.strip_suffix('\n'));
    seq.unwrap_or_else(|| panic!("not an ACCEPTED line: {stdout:?}")).parse().unwrap()
}

const HEADER: &str = "record_id,status,seq,voucher_drawn,renter_subsidy,supplier_subsidy,reason";

/// One usage row: `gpus` GPUs over `hours` hours ending 2026-03-02T00:00:00+08:00 plus `day` days.
#[allow(clippy::too_many_arguments)]
fn usage_row(
    id: &str,
    p: &str,
    r: &str,
    contract: &str,
    gpus: u32,
    hours: u32,
    day: u32,
    gh: &str,
    amount: &str,
    v: &str,
) -> String {
    let end = format!("2026-03-{:02}T00:00:00+08:00", 2 + day);
    let start_day = 2 + day - hours.div_ceil(24);
    let start_hour = (24 - hours % 24) % 24;
    let start = format!("2026-03-{start_day:02}T{start_hour:02}:00:00+08:00");
    format!("{id},{p},{r},{contract},H100,{gpus},{start},{end},{gh},12.50,{amount},{v},\r\n")
}

fn write(path: &Path, text: &str) -> String {
    std::fs::write(path, text).unwrap();
    path.display().to_string()
}

#[test]
fn every_command_against_a_real_ledger() {
    let l = Ledger::start();
    let (admin, finance) = (l.admin(), l.finance());
    let [p, p2, r1, r2, o, d] = [1, 2, 3, 4, 5, 6].map(|n| uscc(n).to_string());

    // keygen / pubkey
    let (pkey, ppub) = l.key("p.key");
    assert_eq!(ppub.len(), 44);
    assert_eq!(l.ok(&["pubkey", &pkey]).trim(), ppub);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&pkey).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let again = l.run(&["keygen", "--out", &pkey]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.starts_with("suanli: ") && again.stderr.contains("already exists"), "{again:?}");
    let (p2key, p2pub) = l.key("p2.key");
    let (okey, opub) = l.key("o.key");
    let (dkey, dpub) = l.key("d.key");
    let (spare, sparepub) = l.key("spare.key");

    // entity register / add-key / revoke-key / update / show
    let register = |id: &str, name: &str, flags: &[&str]| {
        let mut args = vec!["entity", "register", "--key", &admin, "--id", id, "--name", name];
        args.extend_from_slice(flags);
        accepted(&l.ok(&args))
    };
    register(&p, "Provider P", &["--provider", "--supplier-eligible"]);
    register(&p2, "Provider P2", &["--provider", "--supplier-eligible", "--related-group", "g1"]);
    register(&r1, "Renter R1", &["--renter-eligible"]);
    // The global flag before the command works too, and a retry with the same id is a DUPLICATE.
    let retry = ["--server", &l.url, "entity", "register", "--key", &admin, "--id", &r2, "--name", "Renter R2"];
    let retry = [&retry[..], &["--renter-eligible", "--related-group", "g1", "--request-id", "reg-r2"]].concat();
    let first = suanli(&retry);
    assert_eq!(first.code, 0, "{first:?}");
    let seq = accepted(&first.stdout);
    assert_eq!(suanli(&retry).stdout, format!("DUPLICATE seq={seq}\n"));
    register(&o, "Founder O", &["--opc", "--renter-eligible"]);
    register(&d, "Data D", &["--data-supplier"]);
    let exists = l.run(&["entity", "register", "--key", &admin, "--id", &p, "--name", "P again"]);
    assert_eq!(exists.code, 1);
    assert_eq!(exists.stdout, "");
    assert!(exists.stderr.starts_with("suanli: rejected: ENTITY_EXISTS: "), "{exists:?}");
    for (id, public) in [(&p, &ppub), (&p2, &p2pub), (&o, &opub), (&d, &dpub), (&p, &sparepub)] {
        accepted(&l.ok(&["entity", "add-key", "--key", &admin, "--id", id, "--pubkey", public]));
    }
    accepted(&l.ok(&["entity", "revoke-key", "--key", &admin, "--id", &p, "--pubkey", &sparepub]));
    let shown = l.ok(&["entity", "show", "--key", &pkey, "--id", &p]);
    assert!(shown.contains(&format!("id: {p}\nname: Provider P\nprovider: yes\n")), "{shown}");
    assert!(shown.contains(&format!("key: {ppub} active\n")) && shown.contains(&format!("key: {sparepub} revoked\n")));
    // A revoked key signs nothing.
    let refused = l.run(&["entity", "show", "--key", &spare, "--id", &p]);
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.starts_with("suanli: ") && refused.stderr.contains("revoked"), "{refused:?}");

    // voucher issue / authorize (holder looked up) / statement
    let valid = ["--valid-from", "2026-01-01T00:00:00+08:00", "--valid-until", "2027-01-01T00:00:00+08:00"];
    let issue = [&["voucher", "issue", "--key", &admin, "--id", "V1", "--holder", &o][..], &["--kind", "compute"]];
    accepted(&l.ok(&[&issue.concat()[..], &["--amount", "200000.00"], &valid[..]].concat()));
    accepted(&l.ok(&["voucher", "authorize", "--key", &okey, "--voucher", "V1", "--provider", &p]));
    let statement = l.ok(&["voucher", "statement", "--key", &okey, "--voucher", "V1"]);
    assert!(statement.starts_with(&format!("voucher_id: V1\nholder_id: {o}\nkind: compute\nface_value: 200000.00\n")));
    assert!(statement.contains("valid_from: 2026-01-01T00:00:00+08:00\nvalid_until: 2027-01-01T00:00:00+08:00\n"));
    assert!(statement.contains(&format!("authorization: {p} limit=none drawn=0.00 active\n")), "{statement}");

    // usage submit: the records of SPEC §12, CRLF, a quoted contract id.
    let mut csv = String::from(
        "record_id,provider_id,renter_id,contract_id,gpu_model,gpu_count,start,end,gpu_hours,unit_price,amount,voucher_id,invoice_no\r\n",
    );
    csv += &usage_row("u1", &p, &r1, "\"HT-1, \"\"A\"\"\"", 100, 10, 0, "1000", "12500.00", "");
    csv += &usage_row("u2", &p, &r1, "", 1000, 480, 20, "480000", "6000000.00", "");
    csv += &usage_row("u3", &p, &r1, "", 1000, 80, 21, "80000", "1000000.00", "");
    csv += &usage_row("u4", &p, &r1, "", 1, 8, 22, "8", "100.00", "");
    csv += &usage_row("u5", &p, &o, "", 1000, 12, 23, "12000", "150000.00", "V1");
    csv += &usage_row("u6", &p, &o, "", 1000, 7, 24, "6400", "80000.00", "V1");
    csv += &usage_row("u7", &p, &o, "", 1, 8, 25, "8", "100.00", "V1");
    csv += &usage_row("u8", &p2, &r2, "", 100, 4, 26, "400", "5000.00", "");
    csv += &usage_row("u1", &p, &r1, "\"HT-1, \"\"A\"\"\"", 100, 10, 0, "1000", "12500.00", "");
    csv += &usage_row("u1", &p, &r1, "\"HT-1, \"\"A\"\"\"", 100, 10, 0, "1000", "12500.01", "");
    csv += &usage_row("u10", &p, &r1, "", 1, 8, 27, "8", "99.99", "");
    // P2's records must be signed by P2: submit u8 separately.
    let (mine, p2_rows): (Vec<&str>, Vec<&str>) = csv.split_inclusive("\r\n").partition(|row| !row.starts_with("u8,"));
    let file_p = write(&l.path("usage-p.csv"), &mine.concat());
    let file_p2 = write(&l.path("usage-p2.csv"), &[mine[0], mine[4], p2_rows[0]].concat());
    let out = l.run(&["usage", "submit", "--key", &pkey, "--csv", &file_p]);
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], HEADER);
    let s0: u64 = lines[1].split(',').nth(2).unwrap().parse().unwrap();
    let expected = [
        format!("u1,ACCEPTED,{},0.00,3750.00,1250.00,NO_VOUCHER|GRANTED|GRANTED", s0),
        format!("u2,ACCEPTED,{},0.00,1800000.00,600000.00,NO_VOUCHER|GRANTED|GRANTED", s0 + 1),
        format!("u3,ACCEPTED,{},0.00,196250.00,100000.00,NO_VOUCHER|CAPPED|GRANTED", s0 + 2),
        format!("u4,ACCEPTED,{},0.00,0.00,10.00,NO_VOUCHER|CAP_EXHAUSTED|GRANTED", s0 + 3),
        format!("u5,ACCEPTED,{},150000.00,0.00,15000.00,VOUCHER|COVERED_BY_VOUCHER|GRANTED", s0 + 4),
        format!("u6,ACCEPTED,{},50000.00,9000.00,8000.00,VOUCHER|GRANTED|GRANTED", s0 + 5),
        format!("u7,ACCEPTED,{},0.00,30.00,10.00,VOUCHER_EXHAUSTED|GRANTED|GRANTED", s0 + 6),
        format!("u1,DUPLICATE,{},0.00,3750.00,1250.00,NO_VOUCHER|GRANTED|GRANTED", s0),
        "u1,REJECTED,,,,,CONFLICT".to_string(),
        "u10,REJECTED,,,,,AMOUNT_MISMATCH".to_string(),
    ];
    assert_eq!(lines[1..], expected.iter().map(String::as_str).collect::<Vec<_>>()[..], "{}", out.stdout);
    let err: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(err.len(), 3, "{}", out.stderr);
    assert!(err[0].starts_with("suanli: line 10 record u1: REJECTED CONFLICT: "), "{}", out.stderr);
    assert!(err[1].starts_with("suanli: line 11 record u10: REJECTED AMOUNT_MISMATCH: "), "{}", out.stderr);
    // The summary is written also when stderr is not a terminal.
    assert_eq!(err[2], "suanli: 10 records: 7 accepted, 1 duplicate, 2 rejected", "{}", out.stderr);
    // P2 signs u8 (and u4 of P is refused: P2 is not P).
    let out = l.run(&["usage", "submit", "--key", &p2key, "--csv", &file_p2]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.lines().nth(1), Some("u4,REJECTED,,,,,PROVIDER_MISMATCH"));
    let u8_line = out.stdout.lines().nth(2).unwrap();
    assert!(
        u8_line.starts_with("u8,ACCEPTED,")
            && u8_line.ends_with(",0.00,0.00,0.00,NO_VOUCHER|RELATED_PARTY|RELATED_PARTY")
    );

    // A row that cannot be encoded stops everything before sending: u11 is not in the ledger after.
    let good = usage_row("u11", &p, &r1, "", 1, 8, 27, "8", "100.00", "");
    let bad = usage_row("u12", &p, &r1, "", 1, 8, 27, "8", "100.00", "").replace(",1,2026", ",1.5,2026");
    let broken = write(&l.path("broken.csv"), &format!("{}{good}{bad}", mine[0]));
    let out = l.run(&["usage", "submit", "--key", &pkey, "--csv", &broken]);
    assert_eq!((out.code, out.stdout.as_str()), (1, ""));
    assert!(out.stderr.starts_with("suanli: ") && out.stderr.contains("line 3: gpu_count \"1.5\" is not an integer"));
    let just_good = write(&l.path("good.csv"), &format!("{}{good}", mine[0]));
    let out = l.ok(&["usage", "submit", "--key", &pkey, "--csv", &just_good]);
    assert!(out.lines().nth(1).unwrap().starts_with("u11,ACCEPTED,"), "{out}");

    // usage reverse: now, again (DUPLICATE), and of an unknown record.
    let reverse =
        ["usage", "reverse", "--key", &pkey, "--provider", &p, "--record-id", "u3", "--reason", "meter fault"];
    let out = l.ok(&reverse);
    let rev: Vec<&str> = out.lines().collect();
    assert_eq!(rev[0], HEADER);
    let rseq = rev[1].split(',').nth(2).unwrap().to_string();
    assert_eq!(rev[1], format!("u3,ACCEPTED,{rseq},0.00,-196250.00,-100000.00,NO_VOUCHER|CAPPED|GRANTED"));
    assert_eq!(l.ok(&reverse), format!("{HEADER}\n{}\n", rev[1].replace("ACCEPTED", "DUPLICATE")));
    let unknown =
        l.run(&["usage", "reverse", "--key", &pkey, "--provider", &p, "--record-id", "nope", "--reason", "x"]);
    assert_eq!(unknown.code, 1);
    assert_eq!(unknown.stdout, format!("{HEADER}\nnope,REJECTED,,,,,UNKNOWN_RECORD\n"));
    assert!(unknown.stderr.starts_with("suanli: rejected: UNKNOWN_RECORD: "), "{unknown:?}");
    let u9 = write(
        &l.path("u9.csv"),
        &format!("{}{}", mine[0], usage_row("u9", &p, &r1, "", 1000, 40, 28, "40000", "500000.00", "")),
    );
    let out = l.ok(&["usage", "submit", "--key", &pkey, "--csv", &u9]);
    assert!(out.ends_with(",0.00,150000.00,50000.00,NO_VOUCHER|GRANTED|GRANTED\n"), "{out}");

    // corpus: a corpus voucher for O, authorized to D, drawn by one purchase.
    let issue = [&["voucher", "issue", "--key", &admin, "--id", "CV1", "--holder", &o][..], &["--kind", "corpus"]];
    accepted(&l.ok(&[&issue.concat()[..], &["--amount", "100000.00"], &valid[..]].concat()));
    accepted(&l.ok(&[
        "voucher",
        "authorize",
        "--key",
        &okey,
        "--voucher",
        "CV1",
        "--provider",
        &d,
        "--limit",
        "8000.00",
        "--holder",
        &o,
    ]));
    let corpus = format!(
        "record_id,supplier_id,buyer_id,voucher_id,amount,purchased_at,description\n\
         c1,{d},{o},CV1,5000.00,2026-04-01T09:00:00+08:00,\"Dialect speech, 200 h\"\n\
         c2,{d},{o},CV1,5000.00,2026-04-02T09:00:00+08:00,More speech\n"
    );
    let corpus = write(&l.path("corpus.csv"), &corpus);
    let out = l.ok(&["corpus", "submit", "--key", &dkey, "--csv", &corpus]);
    let c: Vec<&str> = out.lines().collect();
    assert_eq!((c.len(), c[0]), (3, HEADER));
    assert!(c[1].starts_with("c1,ACCEPTED,") && c[1].contains(",5000.00,0.00,0.00,VOUCHER|"), "{out}");
    assert!(c[2].starts_with("c2,ACCEPTED,") && c[2].contains(",3000.00,0.00,0.00,VOUCHER|"), "{out}");
    let out =
        l.ok(&["corpus", "reverse", "--key", &dkey, "--supplier", &d, "--record-id", "c2", "--reason", "returned"]);
    assert!(out.lines().nth(1).unwrap().starts_with("c2,ACCEPTED,"), "{out}");

    // voucher withdraw / revoke
    accepted(&l.ok(&["voucher", "withdraw", "--key", &okey, "--voucher", "CV1", "--provider", &d]));
    accepted(&l.ok(&["voucher", "revoke", "--key", &admin, "--voucher", "CV1"]));
    let statement = l.ok(&["voucher", "statement", "--key", &finance, "--voucher", "CV1"]);
    assert!(statement.contains("drawn: 5000.00\n") && statement.contains("revoked: yes\n"), "{statement}");
    assert!(statement.contains(&format!("authorization: {d} limit=8000.00 drawn=5000.00 withdrawn\n")), "{statement}");

    // entity update
    accepted(&l.ok(&["entity", "update", "--key", &admin, "--id", &p2, "--no-related-group", "--opc", "true"]));
    let shown = l.ok(&["entity", "show", "--key", &admin, "--id", &p2]);
    assert!(shown.contains("opc: yes\n") && shown.contains("related_group: (none)\n"), "{shown}");

    // settle list / close / pay / close-year
    let open = l.ok(&["settle", "list", "--key", &finance]);
    assert!(open.starts_with("period,closed_at_seq,payee_id,kind,year,amount,paid,outstanding\n"));
    assert!(open.contains(&format!("OPEN,,{r1},renter,2026,1953750.00,0.00,1953750.00\n")), "{open}");
    let closed_at = accepted(&l.ok(&["settle", "close", "--key", &finance, "--period", "2026-Q1"]));
    let pay = ["settle", "pay", "--key", &finance, "--period", "2026-Q1", "--payee", &p, "--kind", "supplier"];
    let pay = [&pay[..], &["--year", "2026", "--amount", "1000.00", "--bank-ref", "ICBC-0001"]].concat();
    let paid = accepted(&l.ok(&pay));
    assert_eq!(l.ok(&pay), format!("DUPLICATE seq={paid}\n"));
    let list = l.ok(&["settle", "list", "--key", &finance]);
    let rows: HashSet<&str> = list.lines().skip(1).collect();
    for want in [
        format!("2026-Q1,{closed_at},{r1},renter,2026,1953750.00,0.00,1953750.00"),
        format!("2026-Q1,{closed_at},{p},supplier,2026,674280.00,1000.00,673280.00"),
        format!("2026-Q1,{closed_at},{p},voucher,2026,200000.00,0.00,200000.00"),
        format!("2026-Q1,{closed_at},{o},renter,2026,9030.00,0.00,9030.00"),
        format!("2026-Q1,{closed_at},{d},voucher,2026,5000.00,0.00,5000.00"),
    ] {
        assert!(rows.contains(want.as_str()), "no {want} in\n{list}");
    }
    assert!(!list.contains("OPEN,"), "{list}");
    let overpaid = [&pay[..pay.len() - 4], &["--amount", "-5.00", "--bank-ref", "ICBC-0002"]].concat();
    let out = l.run(&overpaid);
    assert_eq!((out.code, out.stdout.as_str()), (1, ""));
    assert!(out.stderr.starts_with("suanli: rejected: OVERPAID: "), "{out:?}");
    accepted(&l.ok(&["settle", "close-year", "--key", &finance, "--year", "2025"]));
}

#[test]
fn errors_are_one_line_and_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key").display().to_string();
    assert_eq!(suanli(&["keygen", "--out", &key]).code, 0);

    let out = suanli(&["--server", "http://127.0.0.1:1", "settle", "list", "--key", &key]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.starts_with("suanli: cannot reach the ledger at http://127.0.0.1:1: "), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1);

    let out = suanli(&["settle", "list", "--key", &dir.path().join("none.key").display().to_string()]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.starts_with("suanli: ") && out.stderr.contains("none.key: cannot read the key file"), "{out:?}");

    for args in [&["settle", "list"][..], &["entity", "register", "--key", &key, "--id", "X", "--name", "N", "--bogus"]]
    {
        let out = suanli(args);
        assert_eq!(out.code, 2, "{out:?}");
        assert!(out.stderr.starts_with("suanli: ") && out.stderr.lines().count() == 1, "{out:?}");
    }
    let out = suanli(&["usage", "submit", "--key", &key, "--csv", "/nonexistent/usage.csv"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.starts_with("suanli: /nonexistent/usage.csv: cannot open"), "{out:?}");

    let out = suanli(&["--help"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("Examples") && out.stdout.contains("--server <URL>"));
}

#[test]
fn completions_and_man_pages_come_from_the_definition() {
    let out = suanli(&["completions", "bash"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("_suanli()")
            && out.stdout.contains("--dry-run")
            && out.stdout.contains("--fail-on-rejected")
    );
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        assert_eq!(suanli(&["completions", shell]).code, 0, "{shell}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = suanli(&["man", "--out", &dir.path().display().to_string()]);
    assert_eq!(out.code, 0, "{out:?}");
    for page in ["suanli.1", "suanli-usage-submit.1", "suanli-report-annual.1", "suanli-settle-list.1"] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.starts_with(".ie") && text.contains(".SH NAME"), "{page}");
    }
    let submit = std::fs::read_to_string(dir.path().join("suanli-usage-submit.1")).unwrap();
    assert!(submit.contains("dry\\-run"), "{submit}");
}

#[test]
fn passphrase_protected_key_files() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("p.key").display().to_string();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_suanli"));
        cmd.args(args).env("LANG", "C").env_remove("SUANLI_PASSPHRASE").env_remove("SUANLI_PASSPHRASE_FILE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        // No terminal: the passphrase must come from the environment.
        cmd.stdin(std::process::Stdio::null()).output().unwrap()
    };
    let made = run(&["keygen", "--out", &key, "--passphrase"], &[("SUANLI_PASSPHRASE", "芝麻开门")]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let public = String::from_utf8(made.stdout).unwrap();
    let text = std::fs::read_to_string(&key).unwrap();
    assert!(text.starts_with("suanli-ed25519-secret-key-encrypted-v1\n"), "{text}");

    let shown = run(&["pubkey", &key], &[("SUANLI_PASSPHRASE", "芝麻开门")]);
    assert_eq!(String::from_utf8(shown.stdout).unwrap(), public);
    let pass_file = dir.path().join("pass.txt");
    std::fs::write(&pass_file, "芝麻开门\n").unwrap();
    let shown = run(&["pubkey", &key], &[("SUANLI_PASSPHRASE_FILE", &pass_file.display().to_string())]);
    assert_eq!(String::from_utf8(shown.stdout).unwrap(), public);

    let wrong = run(&["pubkey", &key], &[("SUANLI_PASSPHRASE", "wrong")]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("the passphrase is wrong"));
    let none = run(&["pubkey", &key], &[]);
    assert!(!none.status.success());
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("SUANLI_PASSPHRASE_FILE"),
        "{}",
        String::from_utf8_lossy(&none.stderr)
    );
}

/// `suanli` under a Chinese locale.
fn suanli_zh(args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_suanli"))
        .args(args)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "zh_CN.UTF-8")
        .output()
        .expect("run suanli");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn chinese_help_of_every_command_and_chinese_usage_errors() {
    let cjk = |s: &str| s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
    // Walk the commands as a user would, from the command lists of the help itself.
    let mut todo = vec![Vec::<String>::new()];
    let mut seen = 0;
    while let Some(path) = todo.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = suanli_zh(&args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        seen += 1;
        let mut section = "";
        for line in out.stdout.lines() {
            if !line.starts_with(' ') && line.ends_with(':') {
                section = line;
                continue;
            }
            // A flag, argument or command line (indented two), not a continuation or note.
            let Some(item) = line.strip_prefix("  ").filter(|t| !t.starts_with(' ')) else { continue };
            if section.starts_with("命令") {
                let name = item.split_whitespace().next().unwrap();
                assert!(cjk(item), "{path:?}: command without a Chinese description: {line}");
                if name != "help" {
                    let mut sub = path.clone();
                    sub.push(name.to_string());
                    todo.push(sub);
                }
            } else if section.starts_with("选项") || section.starts_with("参数") {
                // In the long help the description is on the following lines.
                let desc = item.split_once("  ").map(|(_, d)| d.to_string()).unwrap_or_else(|| {
                    let rest = out.stdout.split(line).nth(1).unwrap_or_default();
                    rest.lines().nth(1).unwrap_or_default().to_string()
                });
                assert!(cjk(&desc), "{path:?}: untranslated description of {line:?}: {desc:?}");
            } else {
                assert!(section.is_empty() || cjk(section), "{path:?}: English heading {section:?}");
            }
        }
    }
    assert!(seen > 40, "only {seen} commands were walked");

    // A wrong flag: Chinese first, clap's English with the usage after it, exit status 2.
    let out = suanli_zh(&["voucher", "list", "--key", "k", "--holdr", "x"]);
    assert_eq!(out.code, 2);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stderr);
    assert!(lines[0].starts_with("suanli: 没有这个选项: --holdr; 也许你想用 --holder"), "{}", lines[0]);
    assert!(lines[1].contains("unexpected argument '--holdr'") && lines[1].contains("usage:"), "{}", lines[1]);
    let out = suanli_zh(&["voucher", "issue", "--key", "k", "--kind", "gold"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.starts_with("suanli: --kind <KIND> 的值 \"gold\" 无效; 可选的值: compute, corpus"),
        "{}",
        out.stderr
    );
    // An error after parsing: what kind in Chinese, then the English details.
    let out = suanli_zh(&["pubkey", "/nonexistent/suanli.key"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.starts_with("suanli: 密钥文件 /nonexistent/suanli.key 无法读取"), "{}", out.stderr);
}
