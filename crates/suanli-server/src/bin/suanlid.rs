//! `suanlid`: parses flags, loads configuration, installs logging, opens or creates the
//! ledger, and serves until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use suanli_server::config::Config;
use suanli_server::notice;
use suanli_server::recovery::{self, StartOptions};
use suanli_server::restore::{self, RestoreOptions};
use suanli_server::sequencer::system_clock;
use suanli_store::Store;
use suanli_store::pg::PgStore;
use suanli_store::sled_store::SledStore;

/// mimalloc instead of glibc's malloc: under load the sequencer thread was put to sleep
/// hundreds of times a second waiting for the lock of a glibc malloc arena it shared with
/// the gRPC and verification threads (seen with `perf record -e sched:sched_switch`); the
/// one writer must not wait for another thread's allocation. mimalloc keeps a heap per
/// thread. Its version 2 (the `v2` feature) is used: in 1M-record runs it held the
/// server's peak RSS at 387–493 MiB where version 3 reached 544–577 MiB, at the same
/// throughput. Measured in bench/run.sh; the README's performance section has the figures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The suanli compute-voucher (算力券) ledger server.
///
/// On first start in an empty data directory it creates a new ledger: the program is
/// recorded in the genesis entry, a ledger signing key is generated, and admin.key and
/// finance.key are generated (mode 0600) unless their public keys are given. Later starts
/// recover the ledger from the directory and refuse to run on an inconsistent store.
///
/// `suanlid restore` rebuilds a ledger from a backup (`suanli backup`) into a new data
/// directory, then exits; start `suanlid --data-dir NEW` on it afterwards.
#[derive(Debug, Parser)]
#[command(name = "suanlid", version, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Data directory (store and keys). Default: ./data
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Keep the log in PostgreSQL instead of sled under the data directory; several nodes
    /// may share one database. Example: postgres://suanli@db.example:5432/suanli
    #[arg(long, value_name = "postgres://...")]
    store: Option<String>,
    /// Address to listen on for gRPC. Default: 127.0.0.1:7420
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Program of a new ledger: a preset name (suzhou-2026) or a program TOML file.
    #[arg(long, value_name = "FILE|suzhou-2026")]
    program: Option<String>,
    /// The admin's public key (base64); without it, admin.key is generated on first start.
    #[arg(long, value_name = "B64")]
    admin_pubkey: Option<String>,
    /// The finance bureau's public key (base64); without it, finance.key is generated.
    #[arg(long, value_name = "B64")]
    finance_pubkey: Option<String>,
    /// A TOML configuration file; flags override its values.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Check the configuration (file and flags) and exit.
    #[arg(long)]
    check_config: bool,
    /// Log format: human or json.
    #[arg(long, default_value = "human", value_parser = ["human", "json"])]
    log_format: String,
    /// Serve Prometheus metrics (plain HTTP, GET /metrics) on this address, e.g. 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
    /// Address of the web listener: the console for people, the log as C2SP tlog-tiles
    /// (/log/...) and /metrics. "off" turns it off. Default: 127.0.0.1:7421
    #[arg(long, value_name = "ADDR|off")]
    web_listen: Option<String>,
    /// TLS: the server's certificate chain (PEM). Needs --tls-key; the gRPC port then speaks only TLS.
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// TLS: the private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// TLS: require every client to present a certificate signed by this CA (PEM).
    #[arg(long, value_name = "FILE")]
    tls_client_ca: Option<PathBuf>,
    /// Run as a read-only mirror of the ledger whose web listener is at URL
    /// (http://HOST:PORT): follow its log, verify every entry, serve it, refuse every write.
    #[arg(long, value_name = "URL")]
    mirror_of: Option<String>,
    /// The primary's log verifier key (suanli log vkey) for --mirror-of. Without it, the key
    /// is pinned from the primary's genesis entry on first contact.
    #[arg(long, value_name = "VKEY")]
    mirror_key: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Rebuild a ledger from a backup (`suanli backup`) into a new data directory, checking
    /// the checkpoint's signature and that the replayed log has the checkpoint's root.
    Restore(RestoreArgs),
}

#[derive(Debug, clap::Args)]
struct RestoreArgs {
    /// The backup file (a log export, from `suanli backup --out FILE`).
    #[arg(long, value_name = "FILE")]
    from: PathBuf,
    /// The signed checkpoint of the backup. Default: FILE.checkpoint beside it.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// The ledger signing key of the source ledger (its data directory's ledger.key);
    /// copied into the new data directory.
    #[arg(long, value_name = "FILE")]
    ledger_key: PathBuf,
    /// The new data directory; it must not hold a ledger.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// A later export of the same log (a later backup, `suanli log export` of the source or
    /// of a mirror), checked against FILE.checkpoint beside it: the entries written after the
    /// backup are caught up from it, each replayed and its root checked. Repeatable.
    #[arg(long, value_name = "EXPORT")]
    catch_up: Vec<PathBuf>,
    /// The newest checkpoint the ledger is known to have signed: the source data directory's
    /// checkpoint.latest, or one a mirror, witness or auditor holds. The restore must reach it
    /// (with --catch-up) before the restored ledger may append anything. Repeatable.
    #[arg(long, value_name = "FILE")]
    latest_checkpoint: Vec<PathBuf>,
    /// State that the ledger signed nothing after the backup (it never ran again); needed
    /// when neither --latest-checkpoint nor --catch-up is given.
    #[arg(long)]
    backup_is_latest: bool,
    /// Entries after the last verified checkpoint are truly lost: restore up to it as a new
    /// log whose origin names that checkpoint (<origin>/continued/<size>/<root hex>), so that
    /// the break is visible to every auditor instead of a second history under the old origin.
    #[arg(long)]
    new_origin: bool,
    /// Catch up the entries after the backup from a mirror's (or the primary's) web listener
    /// (http://HOST:PORT): its newest signed checkpoint and every entry up to it, each checked
    /// like --catch-up's, before the restored ledger appends anything.
    #[arg(long, value_name = "URL")]
    catch_up_from: Option<String>,
}

fn load_config(args: &Args) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Config::from_toml(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => Config::default(),
    };
    if let Some(d) = &args.data_dir {
        config.data_dir = d.clone();
    }
    if args.store.is_some() {
        config.store = args.store.clone();
    }
    if let Some(l) = &args.listen {
        config.listen = l.clone();
    }
    if args.program.is_some() {
        config.program = args.program.clone();
    }
    if args.admin_pubkey.is_some() {
        config.admin_pubkey = args.admin_pubkey.clone();
    }
    if args.finance_pubkey.is_some() {
        config.finance_pubkey = args.finance_pubkey.clone();
    }
    if args.metrics_listen.is_some() {
        config.metrics_listen = args.metrics_listen.clone();
    }
    if let Some(w) = &args.web_listen {
        config.web_listen = w.clone();
    }
    if args.tls_cert.is_some() {
        config.tls.cert = args.tls_cert.clone();
    }
    if args.tls_key.is_some() {
        config.tls.key = args.tls_key.clone();
    }
    if args.tls_client_ca.is_some() {
        config.tls.client_ca = args.tls_client_ca.clone();
    }
    if args.mirror_of.is_some() {
        config.mirror_of = args.mirror_of.clone();
    }
    if args.mirror_key.is_some() {
        config.mirror_key = args.mirror_key.clone();
    }
    config.validate()?;
    Ok(config)
}

fn init_tracing(format: &str) {
    use std::io::IsTerminal;
    notice::set_json(format == "json");
    // tonic reports a refused TLS handshake (wrong CA, no client certificate, plaintext
    // sent to the TLS port) only at debug level; the operator should see them whatever the
    // level, unless SUANLI_LOG names that target itself.
    const TLS_REFUSALS: &str = "tonic::transport::server::io_stream=debug";
    let given = std::env::var("SUANLI_LOG").ok();
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("SUANLI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if !given.is_some_and(|g| g.contains("tonic::transport::server::io_stream"))
        && let Ok(d) = TLS_REFUSALS.parse()
    {
        filter = filter.add_directive(d);
    }
    // Colours only for a person at a terminal: never in a redirected log, nor with NO_COLOR.
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// SIGINT or SIGTERM. The handlers are installed when this is called (before the
/// listening line is printed), so a signal sent as soon as the address is known already
/// stops the server gracefully instead of killing it.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutdown requested");
    })
}

fn main() {
    let args = Args::parse();
    notice::set_json(args.log_format == "json");
    // suanlid stops on a failed invariant by panicking (e.g. a damaged index found while
    // recovering: answering "not found" could count a record twice). Say so as the error
    // line people and scripts look for, then let the default hook print the details.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a failed invariant".into());
        notice::error(&format!("stopping: {what}"));
        default_hook(info);
    }));
    let result = (|| -> anyhow::Result<()> {
        if let Some(Cmd::Restore(r)) = &args.command {
            return run_restore(r);
        }
        let config = load_config(&args)?;
        if args.check_config {
            if let Some(p) = &config.program {
                recovery::load_program(p)?;
            }
            suanli_server::tls::server_config(&config.tls)?;
            println!("configuration is valid");
            return Ok(());
        }
        init_tracing(&args.log_format);
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        runtime.block_on(run(config))
    })();
    if let Err(e) = result {
        notice::error(&format!("{e:#}"));
        std::process::exit(1);
    }
}

/// The data directory's lock file: held (an OS file lock) by the one `suanlid` using the
/// directory, and holding its pid, so that a second one can say who is in the way.
const LOCK_FILE: &str = "suanlid.lock";

/// Takes the data directory for this process, or says which process has it.
fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    let path = dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let who = match pid.trim() {
                "" => "another suanlid".to_string(),
                pid => format!("another suanlid (pid {pid})"),
            };
            anyhow::bail!(
                "{who} is using the data directory {}; stop it first, or give another --data-dir",
                dir.display()
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
    }
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    Ok(file)
}

async fn run(config: Config) -> anyhow::Result<()> {
    let addr = config.listen_addr()?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    let _lock = lock_data_dir(&config.data_dir)?;
    let shutdown = shutdown_signal()?;
    // Bind before anything is created: a taken port must not leave a brand-new ledger and
    // its keys behind. Connections wait in the backlog until the ledger is ready.
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?;
    let metrics = match config.metrics_addr()? {
        Some(addr) => {
            Some(tokio::net::TcpListener::bind(addr).await.with_context(|| format!("metrics listener on {addr}"))?)
        }
        None => None,
    };
    let web = match config.web_addr()? {
        Some(addr) => {
            Some(tokio::net::TcpListener::bind(addr).await.with_context(|| format!("web listener on {addr}"))?)
        }
        None => None,
    };
    if let Some(url) = config.mirror_of.clone() {
        return run_mirror(config, url, listener, metrics, web, shutdown).await;
    }
    let store: Arc<dyn Store> = match &config.store {
        Some(url) => {
            let pg = PgStore::open(url).context("opening the PostgreSQL store")?;
            notice::info(&format!("store {}", pg.describe()), &[("store", pg.describe())]);
            Arc::new(pg)
        }
        None => Arc::new(open_sled(&config.data_dir)?),
    };
    let clock = system_clock();
    let opened = recovery::open_or_init(
        &*store,
        &StartOptions {
            data_dir: &config.data_dir,
            program: config.program.as_deref(),
            admin_pubkey: config.admin_pubkey.as_deref(),
            finance_pubkey: config.finance_pubkey.as_deref(),
            clock: clock.clone(),
        },
    )?;
    for path in &opened.generated {
        let file = path.display().to_string();
        notice::warn(&format!("generated {file} (mode 0600) — keep it safe"), &[("generated", file.clone())]);
    }
    let local = listener.local_addr()?;
    // The address stays last on the line: scripts and the test harness read it from there.
    let tls = if config.tls.enabled() { ", TLS" } else { "" };
    notice::info(
        &format!("ledger {} ({} entries{tls}) listening on {local}", opened.origin, opened.ledger.next_seq()),
        &[
            ("origin", opened.origin.clone()),
            ("entries", opened.ledger.next_seq().to_string()),
            ("address", local.to_string()),
        ],
    );
    if let Some(l) = &metrics {
        let local = l.local_addr()?;
        notice::info(&format!("metrics listening on {local}"), &[("metrics_address", local.to_string())]);
    }
    if let Some(l) = &web {
        let scheme = if config.tls.enabled() { "https" } else { "http" };
        let url = format!("{scheme}://{}/", l.local_addr()?);
        notice::info(&format!("web console {url}"), &[("web_url", url.clone())]);
    }
    let http = suanli_server::HttpListeners { web, metrics };
    suanli_server::serve_with(&config, opened, store, listener, http, clock, shutdown).await
}

/// `suanlid --mirror-of URL`: a read-only follower of another ledger (see `mirror.rs`).
async fn run_mirror(
    config: Config,
    url: String,
    listener: tokio::net::TcpListener,
    metrics: Option<tokio::net::TcpListener>,
    web: Option<tokio::net::TcpListener>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let store: Arc<dyn Store> = Arc::new(open_sled(&config.data_dir)?);
    let (data_dir, key, every) = (config.data_dir.clone(), config.mirror_key.clone(), config.snapshot_interval_entries);
    let opened_store = store.clone();
    let mirror = tokio::task::spawn_blocking(move || {
        suanli_server::mirror::open(opened_store, &data_dir, &url, key.as_deref(), every)
    })
    .await??;
    let local = listener.local_addr()?;
    let entries = mirror.ledger.read().expect("ledger lock").next_seq();
    // The address stays last on the line: scripts and the test harness read it from there.
    notice::info(
        &format!(
            "read-only mirror of {} ({}, {entries} verified entries) listening on {local}",
            mirror.follower.url(),
            mirror.origin
        ),
        &[("origin", mirror.origin.clone()), ("entries", entries.to_string()), ("address", local.to_string())],
    );
    if let Some(l) = &metrics {
        let local = l.local_addr()?;
        notice::info(&format!("metrics listening on {local}"), &[("metrics_address", local.to_string())]);
    }
    if let Some(l) = &web {
        let scheme = if config.tls.enabled() { "https" } else { "http" };
        let url = format!("{scheme}://{}/", l.local_addr()?);
        notice::info(&format!("web console {url}"), &[("web_url", url.clone())]);
    }
    let http = suanli_server::HttpListeners { web, metrics };
    suanli_server::serve_mirror(&config, mirror, store, listener, http, shutdown).await
}

fn run_restore(r: &RestoreArgs) -> anyhow::Result<()> {
    let checkpoint = r.checkpoint.clone().unwrap_or_else(|| restore::checkpoint_beside(&r.from));
    let mut catch_up = r.catch_up.clone();
    let mut latest = r.latest_checkpoint.clone();
    let mut fetched = None;
    if let Some(url) = &r.catch_up_from {
        // Where the backup ends (read unverified; the restore verifies everything).
        let note = std::fs::read_to_string(&checkpoint)
            .with_context(|| format!("reading the checkpoint {}", checkpoint.display()))?;
        let text = note.split_once("\n\n").map_or(note.as_str(), |(t, _)| t);
        let backup = suanli_core::checkpoint::Checkpoint::parse(&format!("{text}\n"))
            .map_err(|e| anyhow::anyhow!("{}: {e}", checkpoint.display()))?;
        for held in [recovery::STORE_DIR, recovery::LEDGER_KEY_FILE] {
            let p = r.data_dir.join(held);
            anyhow::ensure!(!p.exists(), "{} already exists: restore only into a new data directory", p.display());
        }
        std::fs::create_dir_all(&r.data_dir)
            .with_context(|| format!("creating the data directory {}", r.data_dir.display()))?;
        let out = r.data_dir.join("catch-up-from-mirror.export");
        let f = suanli_server::mirror::fetch_catch_up(url, backup.size, &out)
            .with_context(|| format!("catching up from {url}"))?;
        match &f.export {
            Some(export) => {
                println!("read entries {}..{} and the checkpoint of {} entries from {url}", f.first, f.size, f.size);
                catch_up.push(export.clone());
            }
            None => println!(
                "{url} holds nothing after the backup's {} entries (its checkpoint covers {})",
                backup.size, f.size
            ),
        }
        // Its checkpoint is one the restore must reach, whatever else is given.
        latest.push(f.checkpoint.clone());
        fetched = Some(f);
    }
    let result = restore::restore(&RestoreOptions {
        export: &r.from,
        checkpoint: &checkpoint,
        ledger_key: &r.ledger_key,
        data_dir: &r.data_dir,
        catch_up: &catch_up,
        latest: &latest,
        backup_is_latest: r.backup_is_latest,
        new_origin: r.new_origin,
    });
    if let Some(f) = &fetched {
        if let Some(e) = &f.export {
            let _ = std::fs::remove_file(e);
        }
        let _ = std::fs::remove_file(&f.checkpoint);
    }
    let restored = result?;
    if let Some((old, size, root)) = &restored.continues {
        println!(
            "restored {} entries as the new log {} into {}; it continues the log {old} after its checkpoint of {size} \
             entries (root {}); entries after it are lost. Publish the new verifier key (suanli log vkey) to every \
             auditor and witness",
            restored.entries,
            restored.origin,
            r.data_dir.display(),
            hex::encode(root)
        );
    } else {
        println!(
            "restored {} entries of the log {} into {}; root {} matches the signed checkpoint",
            restored.entries,
            restored.origin,
            r.data_dir.display(),
            hex::encode(restored.root)
        );
    }
    if restored.caught_up > 0 {
        println!(
            "{} of them were caught up from later exports, each replayed and its root checked",
            restored.caught_up
        );
    }
    if restored.ignored > 0 {
        println!("{} entries after the checkpoint were left out (no signature vouches for them)", restored.ignored);
    }
    Ok(())
}

/// Opens the embedded store of `data_dir`, warning when it was made with sled's small log
/// segments, whose large tree nodes sled writes to files it never fsyncs.
fn open_sled(data_dir: &std::path::Path) -> anyhow::Result<SledStore> {
    let store_dir = data_dir.join(recovery::STORE_DIR);
    let store = SledStore::open(&store_dir).with_context(|| format!("opening the store in {}", store_dir.display()))?;
    if store.segment_bytes() != suanli_store::sled_store::SEGMENT_BYTES {
        notice::warn(
            "this store was made before suanli kept every value in sled's synced log: sled writes its large \
             nodes to blob files it never fsyncs, so a power cut can lose acknowledged entries; move it into a \
             new data directory with `suanli backup` and `suanlid restore` (docs/OPERATIONS.md)",
            &[("segment_bytes", store.segment_bytes().to_string())],
        );
    }
    Ok(store)
}
