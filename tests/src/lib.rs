//! The end-to-end test harness: starts the real `suanlid` binary on port 0 in a temporary
//! data directory, finds the port it bound, runs the real `suanli` binary against it, and
//! stops the server with SIGTERM (graceful) or SIGKILL (crash).
//!
//! Binaries are looked up next to the test executable (`target/<profile>/`), where
//! `cargo test --workspace` puts them; if they are missing the harness builds them.

pub mod fuzzing;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use suanli_core::keyfile;

/// `target/<profile>/`, the directory holding the workspace's binaries.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("profile dir").to_path_buf()
}

static BUILD: Mutex<()> = Mutex::new(());

/// The path of a workspace binary (`suanlid` or `suanli`), built if it is missing.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if !path.exists() {
        let package = if name == "suanlid" { "suanli-server" } else { "suanli-cli" };
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.args(["build", "-p", package, "--bin", name]);
        if bin_dir().ends_with("release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building {name} failed");
    }
    assert!(path.exists(), "{} not found; run `cargo build --workspace --bins`", path.display());
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let test_time = std::env::current_exe().ok().as_deref().and_then(modified);
    if modified(&path).zip(test_time).is_some_and(|(bin_time, test_time)| bin_time < test_time) {
        eprintln!(
            "warning: {} is older than this test; `cargo test --workspace` rebuilds it, `-p suanli-tests` alone does not",
            path.display()
        );
    }
    path
}

/// A running `suanlid`.
pub struct Server {
    pub child: Option<Child>,
    pub addr: String,
    /// The web listener's `host:port` (console, log tiles, metrics), unless started with
    /// `--web-listen off`.
    pub web_addr: Option<String>,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub log: PathBuf,
    /// The extra flags it was started with, used again by [`Server::restart`].
    pub extra: Vec<String>,
}

impl Server {
    /// Starts a new ledger in a fresh temporary directory.
    pub fn start() -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("data");
        let mut s = Server::start_in(&data, &[]);
        s._tmp = Some(tmp);
        s
    }

    /// Starts a new ledger in a fresh temporary directory with extra flags.
    pub fn start_with(extra: &[&str]) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("data");
        let mut s = Server::start_in(&data, extra);
        s._tmp = Some(tmp);
        s
    }

    /// Starts `suanlid` on `data_dir` with extra flags, waiting until it listens.
    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Server {
        Server::try_start_in(data_dir, extra).unwrap_or_else(|e| panic!("suanlid did not start: {e}"))
    }

    /// Like [`Server::start_in`], but returns the server's error output if it exits.
    pub fn try_start_in(data_dir: &Path, extra: &[&str]) -> Result<Server, String> {
        std::fs::create_dir_all(data_dir).expect("data dir");
        let log = data_dir.with_extension(format!("log.{}", std::process::id()));
        // Each server gets its own free web port unless the test chooses one.
        let web_flag = extra.iter().position(|a| *a == "--web-listen");
        let default_web: &[&str] = if web_flag.is_some() { &[] } else { &["--web-listen", "127.0.0.1:0"] };
        let expect_web = web_flag.is_none_or(|i| extra.get(i + 1) != Some(&"off"));
        let mut child = Command::new(bin("suanlid"))
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(default_web)
            .args(extra)
            .env("SUANLI_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn suanlid");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let log_path = log.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut file = std::fs::File::create(&log_path).ok();
            let mut sent = false;
            let mut grpc: Option<String> = None;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(f) = file.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
                if !sent {
                    if grpc.is_none()
                        && let Some(addr) = line.split("listening on ").nth(1)
                    {
                        grpc = Some(addr.trim().to_string());
                        if !expect_web {
                            let _ = tx.send(Ok((grpc.clone().unwrap_or_default(), None)));
                            sent = true;
                        }
                    } else if let Some(url) = line.split("web console ").nth(1) {
                        let web = url.trim().trim_start_matches("http://").trim_start_matches("https://");
                        let web = web.trim_end_matches('/').to_string();
                        let _ = tx.send(Ok((grpc.clone().unwrap_or_default(), Some(web))));
                        sent = true;
                    } else if line.contains("error") {
                        let _ = tx.send(Err(line.clone()));
                        sent = true;
                    }
                }
            }
            if !sent {
                let _ = tx.send(Err("suanlid exited before listening".into()));
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok((addr, web_addr))) => Ok(Server {
                child: Some(child),
                addr,
                web_addr,
                data_dir: data_dir.to_path_buf(),
                _tmp: None,
                log,
                extra: extra.iter().map(|s| s.to_string()).collect(),
            }),
            Ok(Err(e)) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err("suanlid did not listen within 60 s".into())
            }
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://host:port` of the web listener (console, `/log/…` tiles, `/metrics`).
    pub fn web_url(&self) -> String {
        format!("http://{}", self.web_addr.as_deref().expect("started without --web-listen off"))
    }

    pub fn admin_key(&self) -> PathBuf {
        self.data_dir.join("admin.key")
    }

    pub fn finance_key(&self) -> PathBuf {
        self.data_dir.join("finance.key")
    }

    pub fn read_key(path: &Path) -> SigningKey {
        keyfile::parse_secret(&std::fs::read_to_string(path).expect("key file")).expect("key file format")
    }

    /// SIGTERM, then wait: the graceful path.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("suanlid did not stop within 30 s of SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// SIGKILL: a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops (gracefully) and starts again on the same directory.
    pub fn restart(&mut self) {
        self.stop();
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        let mut s = Server::start_in(&self.data_dir, &extra);
        self.child = s.child.take();
        self.addr = std::mem::take(&mut s.addr);
        self.web_addr = s.web_addr.take();
    }

    /// Runs `suanli --server <this> args...`.
    pub fn cli(&self, args: &[&str]) -> Output {
        cli_at(&self.url(), args, None)
    }

    /// Runs `suanli`, asserting success, returning stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "suanli {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `suanli` against `url`, optionally in a working directory.
pub fn cli_at(url: &str, args: &[&str], cwd: Option<&Path>) -> Output {
    let mut cmd = Command::new(bin("suanli"));
    cmd.arg("--server").arg(url).args(args);
    // Messages in English whatever the machine's locale: tests read them.
    cmd.env("LANG", "C").env_remove("LC_ALL").env_remove("LC_MESSAGES");
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    cmd.output().expect("run suanli")
}

/// A new, empty database in this test process's throwaway PostgreSQL cluster (started on
/// first use, stopped when the process exits), as a `postgres://` connection string.
pub fn pg_database() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use suanli_store::pg_cluster::Cluster;
    static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let cluster = CLUSTER
        .get_or_init(|| Cluster::start(false))
        .as_ref()
        .unwrap_or_else(|e| panic!("cannot start a throwaway PostgreSQL cluster: {e}"));
    cluster.create_database(&format!("e2e{}", NEXT.fetch_add(1, Ordering::Relaxed))).expect("create a database")
}

/// A tokio runtime for tests that talk gRPC directly.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

pub use suanli_proto::v1;

/// Direct gRPC clients, for tests that need to send what the CLI never would.
pub struct Grpc {
    pub ingest: v1::ingest_client::IngestClient<tonic::transport::Channel>,
    pub registry: v1::registry_client::RegistryClient<tonic::transport::Channel>,
    pub vouchers: v1::vouchers_client::VouchersClient<tonic::transport::Channel>,
    pub settlement: v1::settlement_client::SettlementClient<tonic::transport::Channel>,
    pub ledger: v1::ledger_client::LedgerClient<tonic::transport::Channel>,
}

impl Grpc {
    pub async fn connect(url: &str) -> Grpc {
        let channel = tonic::transport::Endpoint::from_shared(url.to_string())
            .expect("url")
            .connect()
            .await
            .expect("connect to suanlid");
        let big = 64 * 1024 * 1024;
        Grpc {
            ingest: v1::ingest_client::IngestClient::new(channel.clone()).max_encoding_message_size(big),
            registry: v1::registry_client::RegistryClient::new(channel.clone()),
            vouchers: v1::vouchers_client::VouchersClient::new(channel.clone()),
            settlement: v1::settlement_client::SettlementClient::new(channel.clone()),
            ledger: v1::ledger_client::LedgerClient::new(channel),
        }
    }

    /// Applies registry changes in order, with request ids `s0`, `s1`, …; each must be ACCEPTED.
    pub async fn admin_accepted(
        &mut self,
        admin: &SigningKey,
        ops: impl IntoIterator<Item = suanli_core::wire::admin_request::Op>,
    ) {
        for (i, op) in ops.into_iter().enumerate() {
            let input = suanli_core::testkit::admin(admin, &format!("s{i}"), op);
            let ack = self.registry.apply(envelope(&input)).await.expect("registry call").into_inner();
            assert_eq!(code(&ack), "ACCEPTED", "registry change s{i}: {}", ack.detail);
        }
    }

    /// The smallest ledger the log tests use: provider P (`uscc(1)`, supplier-eligible, key
    /// `testkit::key(11)`) and renter R1 (`uscc(3)`, renter-eligible), registered with the
    /// server's admin key.
    pub async fn register_provider_and_renter(&mut self, server: &Server) {
        use suanli_core::testkit::{self as tk, uscc};
        let admin = Server::read_key(&server.admin_key());
        self.admin_accepted(
            &admin,
            [
                tk::register(&uscc(1), "P", tk::flags(true, false, true, false, false), None),
                tk::register(&uscc(3), "R1", tk::flags(false, true, false, false, false), None),
                tk::add_key(&uscc(1), &tk::public(&tk::key(11))),
            ],
        )
        .await;
    }

    /// Sends `envs` on one `SubmitUsage` stream and reads every ack.
    pub async fn submit_all(&mut self, envs: Vec<v1::Envelope>) -> Vec<v1::Ack> {
        use futures::StreamExt;
        let acks = self.ingest.submit_usage(tokio_stream::iter(envs)).await.expect("stream opens").into_inner();
        acks.map(|a| a.expect("an ack")).collect().await
    }

    /// (entry count, signed checkpoint note) after asking for a fresh checkpoint.
    pub async fn log_state(&mut self) -> (u64, String) {
        let cp = self.ledger.get_checkpoint(v1::CheckpointRequest { fresh: true }).await.expect("checkpoint");
        let cp = cp.into_inner();
        (cp.size, cp.note)
    }
}

/// The envelope of a signed core input.
pub fn envelope(input: &suanli_core::ledger::Input) -> v1::Envelope {
    v1::Envelope {
        payload: input.signed.payload.clone(),
        public_key: input.signed.public_key.to_vec(),
        signature: input.signed.signature.to_vec(),
    }
}

/// The reason code (or status name) of an ack.
pub fn code(ack: &v1::Ack) -> String {
    match v1::Status::try_from(ack.status) {
        Ok(v1::Status::Rejected) => ack.reason.clone(),
        Ok(s) => s.as_str_name().to_string(),
        Err(_) => "?".into(),
    }
}

/// A signed read (domain `suanli/v1/read`), fresh now.
pub fn read(key: &SigningKey, query: v1::read_request::Query) -> v1::Envelope {
    use prost::Message;
    static NONCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NONCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let issued_at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    let req = v1::ReadRequest { issued_at_ms, nonce: n.to_le_bytes().to_vec(), query: Some(query) };
    let payload = req.encode_to_vec();
    let signature = suanli_core::sig::sign(key, suanli_core::sig::Domain::Read, &payload);
    v1::Envelope { payload, public_key: key.verifying_key().to_bytes().to_vec(), signature: signature.to_vec() }
}

/// The parties of the SPEC §12 worked example, registered through the real `suanli`.
pub struct Example {
    pub dir: tempfile::TempDir,
    pub p: String,
    pub p2: String,
    pub r1: String,
    pub r2: String,
    pub o: String,
    pub p_key: String,
    pub p2_key: String,
    pub o_key: String,
    pub admin_key: String,
    pub finance_key: String,
}

impl Example {
    /// Registers P, P2, R1, R2, O with their keys, issues V1 to O and authorizes P (SPEC §12).
    pub fn setup(server: &Server) -> Example {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
        let u = |n| suanli_core::testkit::uscc(n).to_string();
        let ex = Example {
            p: u(1),
            p2: u(2),
            r1: u(3),
            r2: u(4),
            o: u(5),
            p_key: path("p.key"),
            p2_key: path("p2.key"),
            o_key: path("o.key"),
            admin_key: server.admin_key().to_string_lossy().into_owned(),
            finance_key: server.finance_key().to_string_lossy().into_owned(),
            dir,
        };
        let admin = ex.admin_key.as_str();
        let reg = |id: &str, name: &str, flags: &[&str]| {
            let mut args = vec!["entity", "register", "--key", admin, "--id", id, "--name", name];
            args.extend_from_slice(flags);
            assert!(server.cli_ok(&args).starts_with("ACCEPTED seq="));
        };
        reg(&ex.p, "P 苏州智算中心", &["--provider", "--supplier-eligible"]);
        reg(&ex.p2, "P2", &["--provider", "--supplier-eligible", "--related-group", "g1"]);
        reg(&ex.r1, "R1 研发企业", &["--renter-eligible"]);
        reg(&ex.r2, "R2", &["--renter-eligible", "--related-group", "g1"]);
        reg(&ex.o, "O 一人公司", &["--opc", "--renter-eligible"]);
        for (key, id) in [(&ex.p_key, &ex.p), (&ex.p2_key, &ex.p2), (&ex.o_key, &ex.o)] {
            let pubkey = server.cli_ok(&["keygen", "--out", key]).trim().to_string();
            server.cli_ok(&["entity", "add-key", "--key", admin, "--id", id, "--pubkey", &pubkey]);
        }
        server.cli_ok(&[
            "voucher",
            "issue",
            "--key",
            admin,
            "--id",
            "V1",
            "--holder",
            &ex.o,
            "--kind",
            "compute",
            "--amount",
            "200000.00",
            "--valid-from",
            "2026-01-01T00:00:00+08:00",
            "--valid-until",
            "2027-01-01T00:00:00+08:00",
        ]);
        server.cli_ok(&["voucher", "authorize", "--key", &ex.o_key, "--voucher", "V1", "--provider", &ex.p]);
        ex
    }

    /// A usage CSV of `(record_id, provider, renter, gpu_hours, amount, voucher)` rows at
    /// 12.50 yuan per GPU-hour, ending 2026-06-30 12:00 in Shanghai, over spans that make
    /// the GPU-hours possible.
    pub fn csv(&self, name: &str, rows: &[(&str, &str, &str, &str, &str, &str)]) -> String {
        let mut s = String::from(
            "record_id,provider_id,renter_id,contract_id,gpu_model,gpu_count,start,end,gpu_hours,unit_price,amount,voucher_id,invoice_no\n",
        );
        for (id, p, r, gh, amount, v) in rows {
            let hours: u64 = gh.parse().expect("whole GPU-hours in the example");
            let count = hours.clamp(1, 1000);
            let span_h = hours.div_ceil(count) as i64;
            let end = suanli_core::time::parse_rfc3339("2026-06-30T12:00:00+08:00").expect("time");
            let start = suanli_core::time::format_rfc3339(end - span_h * 3600, 8 * 3600);
            s.push_str(&format!(
                "{id},{p},{r},HT-{id},H100,{count},{start},2026-06-30T12:00:00+08:00,{gh},12.50,{amount},{v},\n"
            ));
        }
        let path = self.dir.path().join(name);
        std::fs::write(&path, s).expect("write csv");
        path.to_string_lossy().into_owned()
    }
}

/// A small seeded generator (SplitMix64) for reproducible random tests: the same seed
/// gives the same run, and a failing run prints its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The seed of a randomized test: `env_var` if set, otherwise `default`. Printed so that
/// a failure can be replayed.
pub fn seed_from_env(env_var: &str, default: u64) -> u64 {
    let seed = std::env::var(env_var).ok().and_then(|s| s.parse().ok()).unwrap_or(default);
    eprintln!("{env_var}={seed}");
    seed
}

/// A numeric setting from the environment (e.g. a longer run), or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// Resident memory of a process, KiB (`VmRSS` in `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The workspace's root directory (where `Cargo.toml`, `proto/` and `examples/` are).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// Runs a helper program that must succeed (a venv, pip); its standard output. `what`
/// names it, and what to install, in the failure message.
pub fn run_ok(cmd: &mut Command, what: &str) -> String {
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

/// Now, in Unix seconds (the time signed reads and usage records carry).
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs() as i64
}

/// A process's output as text (lossy: a test shows it, it does not parse bytes).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The checkpoint inside a signed note (its signatures are not checked here).
pub fn checkpoint_body(note: &str) -> suanli_core::checkpoint::Checkpoint {
    suanli_core::checkpoint::Checkpoint::parse(&format!("{}\n", note.split("\n\n").next().expect("a note")))
        .expect("a well-formed checkpoint")
}

/// One HTTP/1.1 request for `/metrics` at `addr` (the metrics or web listener): (head, body).
pub fn metrics_http(addr: &str, method: &str, accept: Option<&str>) -> (String, String) {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr).expect("connect to the metrics listener");
    let accept = accept.map(|a| format!("Accept: {a}\r\n")).unwrap_or_default();
    let request = format!("{method} /metrics HTTP/1.1\r\nHost: test\r\n{accept}Connection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    (head.to_string(), body.to_string())
}

/// Samples of an exposition: `name{labels}` → value.
pub fn metric_samples(body: &str, openmetrics: bool) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for line in body.lines() {
        if line.starts_with('#') || line.is_empty() {
            let allowed =
                if openmetrics { &["# HELP ", "# TYPE ", "# UNIT ", "# EOF"][..] } else { &["# HELP ", "# TYPE "][..] };
            assert!(line.is_empty() || allowed.iter().any(|p| line.starts_with(p)), "bad comment line {line:?}");
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad sample line {line:?}"));
        assert!(value == "+Inf" || value.parse::<f64>().is_ok(), "bad value in {line:?}");
        assert!(out.insert(series.to_string(), value.to_string()).is_none(), "{series} twice");
    }
    out
}

/// GET /metrics in the classic text format, parsed.
pub fn scrape_metrics(addr: &str) -> std::collections::BTreeMap<String, String> {
    let (head, body) = metrics_http(addr, "GET", None);
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    assert!(!body.contains("# EOF"), "the classic format has no EOF line");
    metric_samples(&body, false)
}
