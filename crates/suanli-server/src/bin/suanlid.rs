//! `suanlid`: parses flags, loads configuration, installs logging, opens or creates the
//! ledger, and serves until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use suanli_server::config::Config;
use suanli_server::recovery::{self, StartOptions};
use suanli_server::restore::{self, RestoreOptions};
use suanli_server::sequencer::system_clock;
use suanli_store::Store;
use suanli_store::pg::PgStore;
use suanli_store::sled_store::SledStore;

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
    config.validate()?;
    Ok(config)
}

fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SUANLI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutdown requested");
}

fn main() {
    let args = Args::parse();
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
        eprintln!("suanlid: error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let addr = config.listen_addr()?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    let store: Arc<dyn Store> = match &config.store {
        Some(url) => {
            let pg = PgStore::open(url).context("opening the PostgreSQL store")?;
            eprintln!("suanlid: store {}", pg.describe());
            Arc::new(pg)
        }
        None => {
            let store_dir = config.data_dir.join(recovery::STORE_DIR);
            Arc::new(
                SledStore::open(&store_dir).with_context(|| format!("opening the store in {}", store_dir.display()))?,
            )
        }
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
        eprintln!("suanlid: generated {} (mode 0600) — keep it safe", path.display());
    }
    // Listen only once the ledger is ready to serve.
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?;
    let local = listener.local_addr()?;
    // The address stays last on the line: scripts and the test harness read it from there.
    let tls = if config.tls.enabled() { ", TLS" } else { "" };
    eprintln!("suanlid: ledger {} ({} entries{tls}) listening on {local}", opened.origin, opened.ledger.next_seq());
    let metrics = match config.metrics_addr()? {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("metrics listener on {addr}"))?;
            eprintln!("suanlid: metrics listening on {}", l.local_addr()?);
            Some(l)
        }
        None => None,
    };
    let web = match config.web_addr()? {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("web listener on {addr}"))?;
            let scheme = if config.tls.enabled() { "https" } else { "http" };
            eprintln!("suanlid: web console {scheme}://{}/", l.local_addr()?);
            Some(l)
        }
        None => None,
    };
    let http = suanli_server::HttpListeners { web, metrics };
    suanli_server::serve_with(&config, opened, store, listener, http, clock, shutdown_signal()).await
}

fn run_restore(r: &RestoreArgs) -> anyhow::Result<()> {
    let checkpoint = r.checkpoint.clone().unwrap_or_else(|| restore::checkpoint_beside(&r.from));
    let restored = restore::restore(&RestoreOptions {
        export: &r.from,
        checkpoint: &checkpoint,
        ledger_key: &r.ledger_key,
        data_dir: &r.data_dir,
    })?;
    println!(
        "restored {} entries of the log {} into {}; root {} matches the signed checkpoint",
        restored.entries,
        restored.origin,
        r.data_dir.display(),
        hex::encode(restored.root)
    );
    if restored.ignored > 0 {
        println!("{} entries after the checkpoint were left out (no signature vouches for them)", restored.ignored);
    }
    Ok(())
}
