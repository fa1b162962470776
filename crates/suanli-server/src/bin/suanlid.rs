//! `suanlid`: parses flags, loads configuration, installs logging, opens or creates the
//! ledger, and serves until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use suanli_server::config::Config;
use suanli_server::recovery::{self, StartOptions};
use suanli_server::sequencer::system_clock;
use suanli_store::Store;
use suanli_store::sled_store::SledStore;

/// The suanli compute-voucher (算力券) ledger server.
///
/// On first start in an empty data directory it creates a new ledger: the program is
/// recorded in the genesis entry, a ledger signing key is generated, and admin.key and
/// finance.key are generated (mode 0600) unless their public keys are given. Later starts
/// recover the ledger from the directory and refuse to run on an inconsistent store.
#[derive(Debug, Parser)]
#[command(name = "suanlid", version)]
struct Args {
    /// Data directory (store and keys). Default: ./data
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
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
        let config = load_config(&args)?;
        if args.check_config {
            if let Some(p) = &config.program {
                recovery::load_program(p)?;
            }
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
    let store_dir = config.data_dir.join(recovery::STORE_DIR);
    let store: Arc<dyn Store> =
        Arc::new(SledStore::open(&store_dir).with_context(|| format!("opening the store in {}", store_dir.display()))?);
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
    eprintln!("suanlid: ledger {} ({} entries) listening on {local}", opened.origin, opened.ledger.next_seq());
    suanli_server::serve(&config, opened, store, listener, clock, shutdown_signal()).await
}
