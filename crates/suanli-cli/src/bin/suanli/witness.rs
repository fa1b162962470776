//! `suanli witness`: a C2SP tlog-witness (<https://c2sp.org/tlog-witness>). It follows the
//! logs whose verifier keys it is given, keeps for each the latest checkpoint it cosigned
//! (in a state file, written durably before it answers), and cosigns a newer checkpoint
//! only with a consistency proof from that one (format and decision:
//! `suanli_core::witness`). Anything else is refused with the status code the spec gives
//! and a line on stderr: a refusal may be the evidence that a log showed two histories.
//!
//! Served on the project's one HTTP stack (axum on hyper), bounded: at most
//! `--connections-max` connections, a request head within [`REQUEST_TIMEOUT`], bodies of
//! at most `suanli_core::witness::REQUEST_BYTES_MAX` bytes, every answer within
//! [`REQUEST_TIMEOUT`]. Plain HTTP: put a TLS-terminating proxy in front to serve HTTPS.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as STD_B64;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use suanli_core::note::Verifier;
use suanli_core::witness::{AddCheckpoint, Cosigned, Cosigner, REQUEST_BYTES_MAX, Refusal, SIZE_CONTENT_TYPE, decide};
use tokio::sync::{Mutex, Semaphore};
use tower_http::timeout::TimeoutLayer;

use crate::common::load_key;

/// How long a request may take, from its first byte to its answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, clap::Args)]
pub struct WitnessArgs {
    /// The witness's name: the key name of its cosignatures, by convention a schema-less URL
    /// (e.g. witness.finance.example/w1). Logs and auditors configure it with the key.
    #[arg(long, value_name = "NAME")]
    name: String,
    /// The witness's key file (Ed25519). Created with mode 0600 on first use; keep it secret.
    #[arg(long, value_name = "FILE", default_value = "witness.key")]
    key: PathBuf,
    /// Where the latest cosigned checkpoint of each log is kept (written durably before
    /// every answer). Losing it lets the witness be rolled back: keep it with the key.
    #[arg(long, value_name = "FILE", default_value = "witness.state")]
    state: PathBuf,
    /// A log to witness: its C2SP signed-note verifier key, as `suanli log vkey` prints it
    /// (the key name is the log's origin). Repeat for more logs or keys.
    #[arg(long = "log-key", value_name = "VKEY", required_unless_present = "print_key")]
    log_keys: Vec<String>,
    /// Address to listen on (plain HTTP; POST /add-checkpoint).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7422")]
    listen: String,
    /// Connections served at once; further clients wait in the listen backlog.
    #[arg(long, value_name = "N", default_value_t = 64)]
    connections_max: usize,
    /// Print the witness's verifier key (creating the key file if needed) and exit.
    #[arg(long)]
    print_key: bool,
}

/// What the witness keeps per log, as written to the state file.
#[derive(Debug, Default)]
struct StateFile {
    logs: BTreeMap<String, Cosigned>,
}

impl StateFile {
    fn load(path: &Path) -> anyhow::Result<StateFile> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(StateFile::default()),
            Err(e) => return Err(e).with_context(|| format!("reading the witness state {}", path.display())),
        };
        let bad = |what: &str| anyhow::anyhow!("the witness state {} is damaged: {what}", path.display());
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
        let mut logs = BTreeMap::new();
        for (origin, entry) in v.get("logs").and_then(|l| l.as_object()).ok_or_else(|| bad("no `logs` object"))? {
            let size = entry.get("size").and_then(|s| s.as_u64()).ok_or_else(|| bad("a size is missing"))?;
            let root = entry
                .get("root")
                .and_then(|r| r.as_str())
                .and_then(|r| STD_B64.decode(r).ok())
                .and_then(|r| <[u8; 32]>::try_from(r.as_slice()).ok())
                .ok_or_else(|| bad("a root is not base64 of 32 bytes"))?;
            logs.insert(origin.clone(), Cosigned { size, root });
        }
        Ok(StateFile { logs })
    }

    /// Written to a temporary file, flushed, renamed over the old one and the directory
    /// flushed: after a crash the file is the old state or the new one, never a mix.
    fn store(&self, path: &Path) -> std::io::Result<()> {
        let logs: serde_json::Map<String, serde_json::Value> = self
            .logs
            .iter()
            .map(|(o, c)| (o.clone(), serde_json::json!({ "size": c.size, "root": STD_B64.encode(c.root) })))
            .collect();
        let text = serde_json::to_string_pretty(&serde_json::json!({ "logs": logs }))? + "\n";
        let tmp = path.with_extension("tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::File::open(dir)?.sync_all()
    }
}

struct Witness {
    cosigner: Cosigner,
    log_keys: Vec<Verifier>,
    state_path: PathBuf,
    /// Held from the check to the durable write, so two requests cannot roll each other back.
    state: Mutex<StateFile>,
}

/// Loads the key file, creating it (0600) if it does not exist.
fn load_or_create_key(path: &Path) -> anyhow::Result<ed25519_dalek::SigningKey> {
    if !path.exists() {
        let key = suanli_cli::signing::generate_key();
        suanli_cli::keys::write_key(path, &key)?;
        eprintln!("suanli witness: created a new witness key in {}", path.display());
    }
    load_key(path)
}

pub async fn run(a: WitnessArgs) -> anyhow::Result<()> {
    let key = load_or_create_key(&a.key)?;
    let cosigner = Cosigner::new(&a.name, key).map_err(|e| anyhow::anyhow!("--name {:?}: {e}", a.name))?;
    let vkey = cosigner.verifier().to_string();
    if a.print_key {
        println!("{vkey}");
        return Ok(());
    }
    let log_keys = a
        .log_keys
        .iter()
        .map(|k| Verifier::parse(k).map_err(|e| anyhow::anyhow!("--log-key {k:?}: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if !(1..=10_000).contains(&a.connections_max) {
        anyhow::bail!("--connections-max {} is not between 1 and 10000", a.connections_max);
    }
    let state = StateFile::load(&a.state)?;
    let listener =
        tokio::net::TcpListener::bind(&a.listen).await.with_context(|| format!("cannot listen on {}", a.listen))?;
    let addr = listener.local_addr()?;
    let witness = Arc::new(Witness { cosigner, log_keys, state_path: a.state.clone(), state: Mutex::new(state) });
    eprintln!("suanli witness: verifier key {vkey}");
    for k in &witness.log_keys {
        let held = witness.state.lock().await.logs.get(k.name()).map_or(0, |c| c.size);
        eprintln!("suanli witness: following the log {} (last cosigned size {held})", k.name());
    }
    eprintln!("suanli witness: {} listening on http://{addr}/ (POST /add-checkpoint)", a.name);
    let app = Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/", get(about))
        .layer(DefaultBodyLimit::max(REQUEST_BYTES_MAX))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .with_state(witness);
    serve(listener, app, a.connections_max).await;
    Ok(())
}

async fn serve(listener: tokio::net::TcpListener, app: Router, connections_max: usize) {
    let permits = Arc::new(Semaphore::new(connections_max));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(REQUEST_TIMEOUT).max_buf_size(64 * 1024);
    builder.http2().timer(TokioTimer::new()).max_concurrent_streams(16);
    let builder = Arc::new(builder);
    let shutdown = async {
        #[cfg(unix)]
        {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing the SIGTERM handler");
            tokio::select! { _ = term.recv() => {}, _ = tokio::signal::ctrl_c() => {} }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    };
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
        };
        let (tcp, _) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(app.clone());
        let builder = builder.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
        });
    }
    eprintln!("suanli witness: stopped");
}

fn plain(status: StatusCode, text: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text + "\n").into_response()
}

async fn about(State(w): State<Arc<Witness>>) -> Response {
    let state = w.state.lock().await;
    let mut out = format!("suanli witness {}\nverifier key {}\n", w.cosigner.name(), w.cosigner.verifier());
    for k in &w.log_keys {
        let held = state.logs.get(k.name()).map_or(0, |c| c.size);
        out.push_str(&format!("log {} cosigned size {held}\n", k.name()));
    }
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], out).into_response()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

async fn add_checkpoint(State(w): State<Arc<Witness>>, body: Bytes) -> Response {
    let req = match AddCheckpoint::parse(&body) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("suanli witness: refused a request (400): {e}");
            return plain(StatusCode::BAD_REQUEST, e.to_string());
        }
    };
    let mut state = w.state.lock().await;
    let decided = decide(&req, &w.log_keys, |origin| state.logs.get(origin).copied());
    let cp = match decided {
        Ok(cp) => cp,
        Err(refusal) => {
            let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST);
            eprintln!("suanli witness: REFUSED ({}): {refusal}", status.as_u16());
            return match refusal {
                Refusal::WrongOldSize { witness, .. } => {
                    (status, [(header::CONTENT_TYPE, SIZE_CONTENT_TYPE)], format!("{witness}\n")).into_response()
                }
                other => plain(status, other.to_string()),
            };
        }
    };
    let before = state.logs.insert(cp.origin.clone(), Cosigned { size: cp.size, root: cp.root });
    let path = w.state_path.clone();
    if let Err(e) = state.store(&path) {
        // Not durable, so not cosigned: put the old state back and say so.
        match before {
            Some(b) => state.logs.insert(cp.origin.clone(), b),
            None => state.logs.remove(&cp.origin),
        };
        eprintln!("suanli witness: cannot write the state file {}: {e}", path.display());
        return plain(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot store the witness state: {e}"));
    }
    drop(state);
    let text = cp.to_note_text();
    let line = w.cosigner.cosign(&text, now());
    eprintln!("suanli witness: cosigned {} size {} (from size {})", cp.origin, cp.size, req.old_size);
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], line).into_response()
}
