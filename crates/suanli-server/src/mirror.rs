//! A read-only mirror of another ledger (`suanlid --mirror-of URL`): it follows the
//! primary's public log, verifies every entry as `suanli log verify` does, keeps it in
//! its own store and serves it (the Audit gRPC API, `/log/` tiles, `/metrics`) — a read
//! replica for auditors, and the place a restore catches up from (`suanlid restore
//! --catch-up-from URL`, see [`fetch_catch_up`]).
//!
//! **What it reads: the primary's C2SP tlog-tiles on its web listener** (`/log/checkpoint`,
//! `/log/tile/0/N[.p/W]`, `/log/tile/entries/N[.p/W]`), not the gRPC Audit export. Tiles
//! are plain, cacheable HTTP GETs of at most 256 entries each, so every request is small
//! and bounded (size and time), a failed one is retried alone, a CDN or any static copy of
//! the log can stand in for the primary, and the same reader also follows another mirror.
//! The export stream would tie the mirror to a long-lived gRPC call on the primary's
//! export slots (`limits.exports_concurrent_max`) and to suanli's own protocol.
//!
//! **Trust.** The primary's log key is either given by the operator (`mirror_key`, the
//! note verifier key `suanli log vkey` prints) or pinned on first contact from the
//! primary's genesis entry (whose origin must follow the origin rule for its program and
//! key); from then on the genesis entry in the mirror's own store is the pin, and a
//! `mirror_key` that disagrees with it is refused. Nothing else the primary says is
//! believed: each round
//!
//! 1. takes the checkpoint and checks its signature with that key;
//! 2. takes the level-0 hash tiles for the new entries and checks that, appended to the
//!    entries the mirror already holds, they hash to the checkpoint's root — so the new
//!    checkpoint extends exactly what the mirror holds (and is consistent with every
//!    checkpoint it verified before). If they do not, the primary's own consistency proof
//!    (from its tiles) decides: a proof that fails means the primary signed a history that
//!    is not an extension of one it signed before, and the mirror **refuses** it (an error
//!    line, `suanli_mirror_refused 1`) and stops following; a proof that verifies means the
//!    tiles were bad, and the round is retried;
//! 3. takes the entry bundles, checks every entry's leaf hash against the verified ones,
//!    its position, its input's signature under its domain, and replays it through the
//!    same policy code (`Ledger::apply`) so the state matches; an entry the primary signed
//!    that the replay refuses also makes the mirror refuse the primary;
//! 4. only then stores the entries, with the checkpoint, in commits shaped like the
//!    sequencer's (the same store, so the Audit API, the tiles and a restore work on it).
//!
//! So the mirror never stores an entry whose leaf hash a verified checkpoint does not
//! cover. A checkpoint smaller than what the mirror holds must have the root of the
//! mirror's first entries, or the primary is refused as above.
//!
//! **Bounds.** Every response is size-capped ([`CHECKPOINT_BYTES_MAX`], 8 KiB per hash
//! tile, [`BUNDLE_BYTES_MAX`]), every request time-capped ([`REQUEST_TIMEOUT`],
//! [`CONNECT_TIMEOUT`]) and retried at most [`REQUEST_ATTEMPTS`] times with doubling
//! backoff; a failed round changes nothing and the next one waits longer (up to
//! [`ROUND_BACKOFF_MAX`]). A round keeps 32 bytes per new entry in memory (leaf hashes).
//! Plain `http://` only: the client has no TLS connector, so run the mirror on the
//! primary's network or through a tunnel (the data is public and every byte is verified).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use axum::http::{Request, StatusCode, Uri, header};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use suanli_core::audit::signature_items;
use suanli_core::checkpoint::{Checkpoint, ledger_origin, open_checkpoint};
use suanli_core::entry::{Body, Entry};
use suanli_core::ledger::Ledger;
use suanli_core::merkle::{Frontier, Hash, consistency_proof, leaf_hash, root_at, verify_consistency};
use suanli_core::note::Verifier;
use suanli_core::program::Program;
use suanli_core::tiles::{BUNDLE_ENTRY_BYTES_MAX, TILE_WIDTH, Tile, TileKind, TileNodes, parse_bundle};
use suanli_store::ledger_index::LedgerIndex;
use suanli_store::{CommitBatch, Store};

use crate::audit::StoreNodes;
use crate::metrics::MirrorMetrics;
use crate::notice;
use crate::recovery::{LEDGER_KEY_FILE, replay_stored, write_checkpoint_witness};
use crate::sequencer::{NODE_LEVEL_MIN, encode_snapshot};

/// Largest checkpoint note accepted (a checkpoint with up to 100 signatures is far smaller).
pub const CHECKPOINT_BYTES_MAX: usize = 64 * 1024;
/// Largest entry bundle accepted: 256 entries of the largest size a bundle can hold.
pub const BUNDLE_BYTES_MAX: usize = TILE_WIDTH as usize * (2 + BUNDLE_ENTRY_BYTES_MAX);
/// Longest one request may take, from sending it to the last byte of its answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a connection to the primary may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries of one request (timeouts, refused connections, 5xx) before the round fails.
pub const REQUEST_ATTEMPTS: u32 = 4;
/// Wait before the first retry of a request; doubled for each further one.
pub const RETRY_BACKOFF_FIRST: Duration = Duration::from_millis(200);
/// Wait between rounds while the mirror is caught up.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Longest wait between rounds after failures (doubling from [`POLL_INTERVAL`]).
pub const ROUND_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Rounds a new mirror tries before giving up on a primary it cannot read at all.
pub const BOOTSTRAP_ROUNDS: u32 = 8;
/// Entries stored per commit while catching up.
pub const COMMIT_ENTRIES: usize = 4096;

/// Why one request to the primary failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: not found (404)")]
    NotFound { url: String },
    #[error("{url}: {what}")]
    Failed { url: String, what: String, retry: bool },
}

/// The primary's log over HTTP: its tlog-tiles prefix (`http://HOST:PORT/log`).
#[derive(Clone)]
pub struct Source {
    base: String,
    prefix: String,
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").field("base", &self.base).finish()
    }
}

/// Checks a primary's URL: `http://HOST:PORT` (its web listener), optionally ending in
/// `/` or `/log`. Returns the base without a trailing slash.
pub fn parse_primary_url(url: &str) -> Result<String, String> {
    let uri: Uri = url.parse().map_err(|e| format!("{url:?} is not a URL ({e})"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "{url:?}: https is not supported yet; give the primary's web listener as http://HOST:PORT \
                 (every byte read is verified against the primary's signed checkpoints)"
            ));
        }
        _ => return Err(format!("{url:?} must start with http://")),
    }
    let authority = uri.authority().ok_or_else(|| format!("{url:?} names no host"))?;
    if uri.query().is_some() {
        return Err(format!("{url:?}: a query is not allowed"));
    }
    match uri.path() {
        "" | "/" | "/log" | "/log/" => Ok(format!("http://{authority}")),
        p => Err(format!("{url:?}: the path must be empty or /log (the web listener's base), not {p:?}")),
    }
}

impl Source {
    pub fn new(url: &str) -> anyhow::Result<Source> {
        let base = parse_primary_url(url).map_err(|e| anyhow::anyhow!(e))?;
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(2)
            .build(connector);
        Ok(Source { prefix: format!("{base}/log"), base, client })
    }

    /// The primary's web listener, as given.
    pub fn url(&self) -> &str {
        &self.base
    }

    async fn get_once(&self, path: &str, max: usize) -> Result<Vec<u8>, FetchError> {
        let url = format!("{}/{path}", self.prefix);
        let fail = |what: String, retry: bool| FetchError::Failed { url: url.clone(), what, retry };
        let request = Request::get(&url)
            .header(header::USER_AGENT, concat!("suanlid-mirror/", env!("CARGO_PKG_VERSION")))
            .body(Empty::<Bytes>::new())
            .map_err(|e| fail(e.to_string(), false))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| fail(format!("{e}"), true))?;
            let status = response.status();
            if status == StatusCode::NOT_FOUND {
                return Err(FetchError::NotFound { url: url.clone() });
            }
            if !status.is_success() {
                let retry = status.is_server_error()
                    || status == StatusCode::TOO_MANY_REQUESTS
                    || status == StatusCode::REQUEST_TIMEOUT;
                return Err(fail(format!("answered {status}"), retry));
            }
            if let Some(enc) = response.headers().get(header::CONTENT_ENCODING)
                && enc.as_bytes() != b"identity"
            {
                return Err(fail(format!("answered with content encoding {enc:?}, which was not asked for"), false));
            }
            let declared = response
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > max as u64) {
                return Err(fail(
                    format!("the answer declares {} bytes; at most {max} are read", declared.unwrap_or(0)),
                    false,
                ));
            }
            let body = Limited::new(response.into_body(), max)
                .collect()
                .await
                .map_err(|e| fail(format!("reading the answer (at most {max} bytes): {e}"), true))?;
            Ok(body.to_bytes().to_vec())
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(r) => r,
            Err(_) => Err(fail(format!("no complete answer within {} s", REQUEST_TIMEOUT.as_secs()), true)),
        }
    }

    /// GET `path` below the log prefix, at most `max` bytes, retried with backoff.
    pub async fn get(&self, path: &str, max: usize) -> Result<Vec<u8>, FetchError> {
        let mut wait = RETRY_BACKOFF_FIRST;
        let mut attempt = 1;
        loop {
            match self.get_once(path, max).await {
                Err(FetchError::Failed { retry: true, .. }) if attempt < REQUEST_ATTEMPTS => {
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// The signed checkpoint note, unverified.
    pub async fn checkpoint(&self) -> Result<String, FetchError> {
        let bytes = self.get("checkpoint", CHECKPOINT_BYTES_MAX).await?;
        String::from_utf8(bytes).map_err(|_| FetchError::Failed {
            url: format!("{}/checkpoint", self.prefix),
            what: "the checkpoint is not UTF-8 text".into(),
            retry: false,
        })
    }

    /// The tile's bytes, checked for the length its width gives (hash tiles).
    pub async fn hash_tile(&self, tile: &Tile) -> Result<Vec<Hash>, FetchError> {
        let want = 32 * usize::from(tile.width);
        let bytes = self.get(&tile.path(), want).await?;
        if bytes.len() != want {
            return Err(FetchError::Failed {
                url: format!("{}/{}", self.prefix, tile.path()),
                what: format!("the tile holds {} bytes, {want} were expected", bytes.len()),
                retry: false,
            });
        }
        Ok(bytes.chunks_exact(32).map(|c| c.try_into().expect("32-byte chunk")).collect())
    }

    /// The entries of an entry bundle, checked to be exactly `tile.width` of them.
    pub async fn bundle(&self, tile: &Tile) -> Result<Vec<Vec<u8>>, FetchError> {
        let bytes = self.get(&tile.path(), BUNDLE_BYTES_MAX).await?;
        let entries = parse_bundle(&bytes, usize::from(tile.width)).map_err(|e| FetchError::Failed {
            url: format!("{}/{}", self.prefix, tile.path()),
            what: format!("not an entry bundle of {} entries: {e}", tile.width),
            retry: false,
        })?;
        Ok(entries.into_iter().map(<[u8]>::to_vec).collect())
    }
}

/// The text part of a signed note (everything before the blank line), for reading an
/// unverified checkpoint's size; nothing read this way is trusted.
fn note_text(note: &str) -> &str {
    note.split_once("\n\n").map_or(note, |(t, _)| t)
}

/// The verifier key of a log from its genesis entry, checking the origin rule.
fn genesis_verifier(entry: &Entry) -> anyhow::Result<Verifier> {
    let Body::Genesis(g) = &entry.body else { bail!("the primary's entry 0 is not a genesis entry") };
    let program = Program::from_toml(&g.program_toml)
        .map_err(|e| anyhow::anyhow!("the primary's genesis entry holds no valid program: {e}"))?;
    let want = ledger_origin(&program.id, &g.ledger_key);
    if g.origin != want {
        bail!("the primary's genesis names the log {:?}; its program and key give {want:?}", g.origin);
    }
    Verifier::from_public_key(&g.origin, g.ledger_key)
        .map_err(|e| anyhow::anyhow!("the primary's origin {:?} is not a key name: {e}", g.origin))
}

/// How a round ended badly.
#[derive(Debug)]
enum RoundError {
    /// Unreachable, unverifiable or malformed input: nothing was stored that is not
    /// covered by a verified checkpoint; try again later.
    Transient(anyhow::Error),
    /// The primary signed something inconsistent with what the mirror verified before.
    Refuse(String),
}

impl From<FetchError> for RoundError {
    fn from(e: FetchError) -> Self {
        RoundError::Transient(e.into())
    }
}

/// A mirror, opened or bootstrapped, ready to serve and follow.
pub struct Mirror {
    pub ledger: Arc<RwLock<Ledger>>,
    pub origin: String,
    pub follower: Follower,
}

/// The follower: one thread with its own small runtime for the HTTP reads; the store
/// work in between is blocking, like the sequencer's.
pub struct Follower {
    source: Source,
    store: Arc<dyn Store>,
    ledger: Option<Arc<RwLock<Ledger>>>,
    frontier: Frontier,
    /// The frontier of what is committed (the state the services see).
    flushed: Frontier,
    verifier: Verifier,
    data_dir: PathBuf,
    metrics: MirrorMetrics,
    dashboard: Option<Arc<crate::dashboard::LiveDashboard>>,
    snapshot_interval: u64,
    last_snapshot: u64,
    /// Size of the newest checkpoint seen, and since when the mirror is behind it.
    newest: u64,
    behind_since: Option<Instant>,
    runtime: tokio::runtime::Runtime,
    /// Set when the server stops: a long catch-up ends at its next bundle (what it
    /// committed so far stays, all of it verified).
    stopping: Arc<std::sync::atomic::AtomicBool>,
}

/// Opens the mirror in `data_dir` on `store`: recovers what it holds, or (an empty store)
/// takes the whole log from the primary first. `key`: the primary's note verifier key,
/// if the operator gives it.
pub fn open(
    store: Arc<dyn Store>,
    data_dir: &Path,
    url: &str,
    key: Option<&str>,
    snapshot_interval: u64,
) -> anyhow::Result<Mirror> {
    if data_dir.join(LEDGER_KEY_FILE).exists() {
        bail!(
            "{} holds a ledger key: this data directory is a ledger's, not a mirror's; give the mirror its own \
             --data-dir",
            data_dir.join(LEDGER_KEY_FILE).display()
        );
    }
    let given = key
        .map(|k| {
            Verifier::parse(k.trim()).map_err(|e| anyhow::anyhow!("mirror_key {k:?} is not a note verifier key: {e}"))
        })
        .transpose()?;
    let source = Source::new(url)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let held = store.entry_count()?;
    let (verifier, recovered) = if held > 0 {
        let first = store.entry(0)?.context("the mirror's store has no entry 0")?;
        let genesis = Entry::decode(&first).map_err(|e| anyhow::anyhow!("the mirror's entry 0: {e}"))?;
        let verifier = genesis_verifier(&genesis)?;
        if let Some(g) = &given
            && g.to_string() != verifier.to_string()
        {
            bail!(
                "this data directory mirrors the log {verifier}, not {g}: give the mirror of another log its own \
                 --data-dir"
            );
        }
        (verifier, Some(replay_stored(&*store, &genesis, &first)?))
    } else {
        (first_contact(&source, &runtime, given.as_ref())?, None)
    };
    let mut follower = Follower {
        source,
        store: store.clone(),
        ledger: None,
        frontier: Frontier::new(),
        flushed: Frontier::new(),
        verifier,
        data_dir: data_dir.to_path_buf(),
        metrics: MirrorMetrics::default(),
        dashboard: None,
        snapshot_interval: snapshot_interval.max(1),
        last_snapshot: 0,
        newest: 0,
        behind_since: None,
        runtime,
        stopping: Arc::default(),
    };
    if let Some((frontier, ledger, from)) = recovered {
        follower.frontier = frontier.clone();
        follower.flushed = frontier;
        follower.last_snapshot = from;
        follower.ledger = Some(Arc::new(RwLock::new(ledger)));
        notice::info(
            &format!(
                "mirror of {} holds {} verified entries of {}",
                follower.source.url(),
                follower.frontier.size(),
                follower.verifier.name()
            ),
            &[("entries", follower.frontier.size().to_string())],
        );
    } else {
        let mut wait = POLL_INTERVAL;
        let mut attempt = 1;
        loop {
            match follower.round() {
                Ok(_) if follower.ledger.is_some() => break,
                Ok(_) => bail!("the primary at {} serves an empty log", follower.source.url()),
                Err(RoundError::Refuse(why)) => bail!("{why}"),
                Err(RoundError::Transient(e)) if attempt < BOOTSTRAP_ROUNDS => {
                    notice::warn(
                        &format!("mirror: reading {} failed, trying again: {e:#}", follower.source.url()),
                        &[],
                    );
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(ROUND_BACKOFF_MAX);
                    attempt += 1;
                }
                Err(RoundError::Transient(e)) => {
                    return Err(e.context(format!("reading the log of {} for a new mirror", follower.source.url())));
                }
            }
        }
    }
    let ledger = follower.ledger.clone().expect("the mirror holds a ledger");
    let origin = follower.verifier.name().to_string();
    Ok(Mirror { ledger, origin, follower })
}

/// The log key of a new mirror: the operator's, or the one the primary's genesis
/// entry names (pinned from then on by the genesis stored in the mirror).
fn first_contact(
    source: &Source,
    runtime: &tokio::runtime::Runtime,
    given: Option<&Verifier>,
) -> anyhow::Result<Verifier> {
    let mut wait = POLL_INTERVAL;
    let mut attempt = 1;
    let (note, genesis) = loop {
        let got = runtime.block_on(async {
            let note = source.checkpoint().await?;
            let cp = Checkpoint::parse(&format!("{}\n", note_text(&note)))
                .map_err(|e| anyhow::anyhow!("the primary's checkpoint cannot be read: {e}"))?;
            if cp.size == 0 {
                bail!("the primary's checkpoint covers no entries");
            }
            let tile = Tile::in_tree(TileKind::Entries, 0, cp.size).context("entry bundle 0")?;
            let bundle = source.bundle(&tile).await?;
            let genesis = Entry::decode(&bundle[0]).map_err(|e| anyhow::anyhow!("the primary's entry 0: {e}"))?;
            anyhow::Ok((note, genesis))
        });
        match got {
            Ok(g) => break g,
            Err(e) if attempt < BOOTSTRAP_ROUNDS => {
                notice::warn(&format!("mirror: reading {} failed, trying again: {e:#}", source.url()), &[]);
                std::thread::sleep(wait);
                wait = (wait * 2).min(ROUND_BACKOFF_MAX);
                attempt += 1;
            }
            Err(e) => return Err(e.context(format!("first contact with the primary {}", source.url()))),
        }
    };
    let from_genesis = genesis_verifier(&genesis)?;
    if let Some(g) = given {
        if g.to_string() != from_genesis.to_string() {
            bail!(
                "the primary at {} serves the log {from_genesis}, not the log key given ({g}): refusing to mirror it",
                source.url()
            );
        }
    } else {
        notice::warn(
            &format!(
                "mirror: pinned the primary's log key {from_genesis} on first contact (from its genesis entry); \
                 compare it with the one the ledger's operator publishes (suanli log vkey), or give it with \
                 --mirror-key"
            ),
            &[("vkey", from_genesis.to_string())],
        );
    }
    open_checkpoint(&note, &from_genesis)
        .map_err(|e| anyhow::anyhow!("the primary's checkpoint is not signed by the key its genesis names: {e}"))?;
    Ok(from_genesis)
}

impl Follower {
    /// The metrics this follower keeps (registered on `/metrics` by the server).
    pub fn metrics(&self) -> MirrorMetrics {
        self.metrics.clone()
    }

    /// Setting this stops a round in progress at its next bundle ([`Follower::run`] also
    /// needs its `stop` signal).
    pub fn stopper(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.stopping.clone()
    }

    /// The primary's URL.
    pub fn url(&self) -> &str {
        self.source.url()
    }

    /// Counts every stored entry for the finance dashboard.
    pub fn set_dashboard(&mut self, dashboard: Arc<crate::dashboard::LiveDashboard>) {
        self.dashboard = Some(dashboard);
    }

    /// Follows the primary until `stop` is signalled (or dropped), or the primary is refused.
    pub fn run(mut self, stop: std::sync::mpsc::Receiver<()>) {
        self.metrics.entries.set(self.frontier.size() as i64);
        let mut wait = POLL_INTERVAL;
        loop {
            let next = match self.round() {
                Ok(added) => {
                    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
                    self.metrics.last_success.set(now.as_secs_f64());
                    wait = POLL_INTERVAL;
                    if added > 0 { Duration::ZERO } else { POLL_INTERVAL }
                }
                Err(RoundError::Transient(e)) => {
                    self.metrics.errors.inc();
                    notice::warn(
                        &format!(
                            "mirror: round failed, nothing unverified was stored; next try in {} s: {e:#}",
                            wait.as_secs()
                        ),
                        &[("primary", self.source.url().to_string())],
                    );
                    let w = wait;
                    wait = (wait * 2).min(ROUND_BACKOFF_MAX);
                    w
                }
                Err(RoundError::Refuse(why)) => {
                    self.metrics.refused.set(1);
                    notice::error(&format!(
                        "mirror: refusing the primary {} and no longer following it: {why}. This mirror keeps serving \
                         the {} entries it verified; keep its data directory as evidence",
                        self.source.url(),
                        self.frontier.size()
                    ));
                    let _ = stop.recv();
                    return;
                }
            };
            self.update_lag();
            match stop.recv_timeout(next) {
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                _ => return,
            }
        }
    }

    fn update_lag(&mut self) {
        let held = self.frontier.size();
        self.metrics.entries.set(held as i64);
        self.metrics.primary_size.set(self.newest as i64);
        if self.newest > held {
            let since = *self.behind_since.get_or_insert_with(Instant::now);
            self.metrics.lag_entries.set((self.newest - held) as i64);
            self.metrics.lag_seconds.set(since.elapsed().as_secs_f64());
        } else {
            self.behind_since = None;
            self.metrics.lag_entries.set(0);
            self.metrics.lag_seconds.set(0.0);
        }
    }

    /// One round: the primary's checkpoint, verified, and every entry it adds. Returns
    /// how many entries were stored.
    fn round(&mut self) -> Result<u64, RoundError> {
        let note = self.runtime.block_on(self.source.checkpoint())?;
        let cp = open_checkpoint(&note, &self.verifier).map_err(|e| {
            RoundError::Transient(anyhow::anyhow!(
                "the primary's checkpoint does not verify with its log key {}: {e}",
                self.verifier
            ))
        })?;
        if cp.origin != self.verifier.name() {
            return Err(RoundError::Transient(anyhow::anyhow!("the checkpoint names the log {:?}", cp.origin)));
        }
        let held = self.frontier.size();
        if cp.size > self.newest {
            self.newest = cp.size;
        }
        if cp.size > held && self.behind_since.is_none() {
            self.behind_since = Some(Instant::now());
        }
        if cp.size <= held {
            let mine = if cp.size == held {
                self.frontier.root()
            } else {
                root_at(&StoreNodes::new(&*self.store, held), cp.size)
                    .map_err(|e| RoundError::Transient(anyhow::anyhow!("reading the mirror's own tree: {e}")))?
            };
            if mine != cp.root {
                return Err(RoundError::Refuse(format!(
                    "its checkpoint of {} entries has root {}, but the first {} entries this mirror verified against \
                     its earlier checkpoints hash to {}: the primary signed two different histories",
                    cp.size,
                    hex::encode(cp.root),
                    cp.size,
                    hex::encode(mine)
                )));
            }
            return Ok(0);
        }

        // The new leaves, authenticated by the signed root before any entry is read.
        let first_tile = held / u64::from(TILE_WIDTH);
        let last_tile = (cp.size - 1) / u64::from(TILE_WIDTH);
        let mut leaves: Vec<Hash> = Vec::with_capacity((cp.size - held) as usize);
        for t in first_tile..=last_tile {
            let tile = Tile::in_tree(TileKind::Hashes { level: 0 }, t, cp.size).expect("a tile inside the tree");
            let hashes = self.runtime.block_on(self.source.hash_tile(&tile))?;
            let start = t * u64::from(TILE_WIDTH);
            leaves.extend(hashes.into_iter().enumerate().filter(|(i, _)| start + *i as u64 >= held).map(|(_, h)| h));
        }
        let mut extended = self.frontier.clone();
        for h in &leaves {
            extended.append(*h, |_, _| {});
        }
        if extended.root() != cp.root {
            return Err(self.judge_inconsistency(held, &cp));
        }

        // The entries: each checked against its verified leaf hash, its signature and the replay.
        let mut working: Option<Ledger> = self.ledger.as_ref().map(|l| l.read().expect("ledger lock").clone());
        let store = self.store.clone();
        let mut index = LedgerIndex::new(&*store);
        let mut batch = CommitBatch::default();
        let mut stored = 0u64;
        let origin = self.verifier.name().to_string();
        let ledger_key = self.verifier.verifying_key().to_bytes();
        for t in first_tile..=last_tile {
            if self.stopping.load(std::sync::atomic::Ordering::Relaxed) {
                self.flush(&mut index, &mut batch, None, working)?;
                return Err(RoundError::Transient(anyhow::anyhow!("stopping")));
            }
            let tile = Tile::in_tree(TileKind::Entries, t, cp.size).expect("a bundle inside the tree");
            let bundle = match self.runtime.block_on(self.source.bundle(&tile)) {
                Ok(b) => b,
                Err(e) => {
                    self.flush(&mut index, &mut batch, None, working)?;
                    return Err(e.into());
                }
            };
            let start = t * u64::from(TILE_WIDTH);
            let fresh: Vec<(u64, Vec<u8>)> = bundle
                .into_iter()
                .enumerate()
                .map(|(i, b)| (start + i as u64, b))
                .filter(|(seq, _)| *seq >= self.frontier.size())
                .collect();
            // Everything that does not depend on the state first: a bad bundle changes nothing.
            let mut bad = None;
            for (seq, bytes) in &fresh {
                if leaf_hash(bytes) != leaves[(*seq - held) as usize] {
                    bad = Some(format!("entry {seq} in {tile} does not hash to the leaf the signed tree holds"));
                    break;
                }
            }
            let decoded: Vec<_> = fresh.iter().map(|(_, b)| Entry::decode(b)).collect();
            let verdicts = signature_items(&origin, &decoded);
            if bad.is_none() {
                for ((seq, _), (entry, verdict)) in fresh.iter().zip(decoded.iter().zip(&verdicts)) {
                    let problem = match entry {
                        Err(e) => Some(format!("does not decode: {e}")),
                        Ok(e) if e.seq != *seq => Some(format!("says it is entry {}", e.seq)),
                        Ok(e) => match (&e.body, verdict) {
                            (Body::Genesis(g), _) if *seq == 0 => (g.ledger_key != ledger_key || g.origin != origin)
                                .then(|| "is the genesis of another log".to_string()),
                            (Body::Genesis(_), _) => Some("is a second genesis entry".into()),
                            (_, Some(Ok(()))) => None,
                            (_, Some(Err(e))) => Some(format!("its input's signature does not verify: {e}")),
                            (_, None) => Some("its signature was not checked".into()),
                        },
                    };
                    if let Some(p) = problem {
                        // Its bytes are what the primary signed: the primary signed a bad entry.
                        self.flush(&mut index, &mut batch, None, working)?;
                        return Err(RoundError::Refuse(format!("entry {seq}, which the primary signed, {p}")));
                    }
                }
            } else {
                self.flush(&mut index, &mut batch, None, working)?;
                return Err(RoundError::Transient(anyhow::anyhow!("{}", bad.unwrap_or_default())));
            }
            for ((seq, bytes), entry) in fresh.into_iter().zip(decoded) {
                let entry = entry.expect("checked above");
                let applied = match &mut working {
                    None => Ledger::from_genesis(&entry).map(|l| working = Some(l)),
                    Some(l) => l.apply(&mut index, &entry),
                };
                if let Err(d) = applied {
                    // The working state may hold part of this entry: store nothing more, and
                    // keep serving the last committed state.
                    self.frontier = self.flushed.clone();
                    return Err(RoundError::Refuse(format!(
                        "entry {seq}, which the primary signed, does not replay through the program's rules: {}",
                        d.what
                    )));
                }
                if let Some(d) = &self.dashboard {
                    d.decided(&entry);
                }
                push_entry(&mut self.frontier, &mut batch, seq, bytes);
                stored += 1;
            }
            if batch.entries.len() >= COMMIT_ENTRIES {
                let w = working.clone();
                self.flush(&mut index, &mut batch, None, w)?;
            }
        }
        debug_assert_eq!(self.frontier.size(), cp.size);
        self.flush(&mut index, &mut batch, Some((cp.size, note.clone())), working)?;
        if let Err(e) = write_checkpoint_witness(&self.data_dir, &note) {
            notice::warn(&format!("mirror: writing checkpoint.latest: {e}"), &[]);
        }
        Ok(stored)
    }

    /// Commits what `batch` holds (entries whose leaves a verified checkpoint covers) and
    /// publishes `ledger` (the state after exactly those entries) to the services.
    fn flush(
        &mut self,
        index: &mut LedgerIndex<'_>,
        batch: &mut CommitBatch,
        checkpoint: Option<(u64, String)>,
        ledger: Option<Ledger>,
    ) -> Result<(), RoundError> {
        let (records, requests) = index.take_writes();
        batch.records = records;
        batch.requests = requests;
        batch.frontier = self.frontier.encode();
        let size = self.frontier.size();
        if let Some(cp) = checkpoint {
            batch.checkpoints.push(cp);
        }
        if let Some(l) = &ledger
            && size >= self.last_snapshot + self.snapshot_interval
        {
            batch.snapshot = Some((size, encode_snapshot(&self.frontier, l)));
            self.last_snapshot = size;
        }
        if !batch.entries.is_empty() || !batch.checkpoints.is_empty() {
            self.store
                .commit(&std::mem::take(batch))
                .map_err(|e| RoundError::Transient(anyhow::anyhow!("writing the mirror's store: {e}")))?;
        }
        *batch = CommitBatch::default();
        self.flushed = self.frontier.clone();
        if let Some(l) = ledger {
            match &self.ledger {
                Some(shared) => *shared.write().expect("ledger lock") = l,
                None => self.ledger = Some(Arc::new(RwLock::new(l))),
            }
        }
        Ok(())
    }

    /// The new leaves do not hash to the signed root: ask the primary's own tiles for a
    /// consistency proof from what the mirror holds. A proof that fails to verify is the
    /// primary's own word that its new tree does not extend the old one.
    fn judge_inconsistency(&self, held: u64, cp: &Checkpoint) -> RoundError {
        if held == 0 {
            return RoundError::Transient(anyhow::anyhow!(
                "the primary's leaf tiles do not hash to its checkpoint's root"
            ));
        }
        let source = &self.source;
        let runtime = &self.runtime;
        let nodes = TileNodes::new(cp.size, |tile: &Tile| {
            runtime.block_on(source.get(&tile.path(), 32 * usize::from(tile.width)))
        });
        let proof = match consistency_proof(&nodes, held, cp.size) {
            Ok(p) => p,
            Err(e) => {
                return RoundError::Transient(anyhow::anyhow!(
                    "the primary's leaf tiles do not hash to its checkpoint's root, and its tiles give no consistency \
                     proof: {e}"
                ));
            }
        };
        match verify_consistency(held, cp.size, &self.frontier.root(), &cp.root, &proof) {
            Ok(()) => RoundError::Transient(anyhow::anyhow!(
                "the primary's leaf tiles do not hash to its checkpoint's root, though its tree is consistent with \
                 this mirror's; retrying"
            )),
            Err(e) => RoundError::Refuse(format!(
                "its checkpoint of {} entries (root {}) is not consistent with the {held} entries this mirror verified \
                 before (root {}): {e}. The primary signed a history that does not extend the one it signed before (a \
                 restore without catch-up, or a fork)",
                cp.size,
                hex::encode(cp.root),
                hex::encode(self.frontier.root())
            )),
        }
    }
}

fn push_entry(frontier: &mut Frontier, batch: &mut CommitBatch, seq: u64, bytes: Vec<u8>) {
    let leaf = leaf_hash(&bytes);
    let nodes = &mut batch.nodes;
    frontier.append(leaf, |id, h| {
        if id.level >= NODE_LEVEL_MIN {
            nodes.push(((id.level, id.index), h));
        }
    });
    batch.leaf_hashes.push(leaf);
    batch.entries.push((seq, bytes));
}

/// What [`fetch_catch_up`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The export file, when there are entries after `from` (its signed checkpoint is
    /// beside it, `FILE.checkpoint`, written in any case).
    pub export: Option<PathBuf>,
    /// The signed checkpoint read there (`FILE.checkpoint`).
    pub checkpoint: PathBuf,
    /// The first entry it holds (the start of the bundle holding `from`).
    pub first: u64,
    /// The size of the checkpoint found there: the export ends at it.
    pub size: u64,
}

/// For a restore's catch-up (`suanlid restore --catch-up-from URL`): reads the newest
/// signed checkpoint of a mirror's (or the primary's) `/log/` and every entry from `from`
/// up to it, and writes them to `out` as a log export with the checkpoint beside it
/// (`out.checkpoint`). Nothing is trusted here: the restore checks the checkpoint's
/// signature with the ledger key and replays and hashes every entry, as for any export.
/// When the log there holds nothing after `from`, only the checkpoint is written.
pub fn fetch_catch_up(url: &str, from: u64, out: &Path) -> anyhow::Result<Fetched> {
    use std::io::Write as _;
    let source = Source::new(url)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let note = runtime.block_on(source.checkpoint())?;
    let cp = Checkpoint::parse(&format!("{}\n", note_text(&note)))
        .map_err(|e| anyhow::anyhow!("the checkpoint at {} cannot be read: {e}", source.url()))?;
    let beside = crate::restore::checkpoint_beside(out);
    let mut f = std::fs::File::create(&beside).with_context(|| format!("creating {}", beside.display()))?;
    f.write_all(note.as_bytes())?;
    f.sync_all()?;
    if cp.size <= from {
        return Ok(Fetched { export: None, checkpoint: beside, first: from, size: cp.size });
    }
    let first = from - from % u64::from(TILE_WIDTH);
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let header = suanli_core::export::Header { origin: cp.origin.clone(), first, entries: cp.size - first };
    let mut writer = suanli_core::export::ExportWriter::new(std::io::BufWriter::new(file), &header)?;
    for t in first / u64::from(TILE_WIDTH)..=(cp.size - 1) / u64::from(TILE_WIDTH) {
        let tile = Tile::in_tree(TileKind::Entries, t, cp.size).expect("a bundle inside the tree");
        for entry in runtime.block_on(source.bundle(&tile))? {
            writer.write_entry(&entry)?;
        }
    }
    writer.finish()?.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(Fetched { export: Some(out.to_path_buf()), checkpoint: beside, first, size: cp.size })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::get;

    #[test]
    fn primary_urls() {
        assert_eq!(parse_primary_url("http://10.0.0.5:7421").unwrap(), "http://10.0.0.5:7421");
        assert_eq!(parse_primary_url("http://h:1/").unwrap(), "http://h:1");
        assert_eq!(parse_primary_url("http://h:1/log/").unwrap(), "http://h:1");
        for bad in ["https://h:1", "h:1", "ftp://h", "http://h:1/other", "http://h:1/?x=1", "not a url", ""] {
            assert!(parse_primary_url(bad).is_err(), "{bad}");
        }
    }

    /// A hostile or broken "primary": every answer is bounded and refused with a reason.
    #[test]
    fn answers_from_outside_are_bounded_and_checked() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let app = Router::new()
                .route("/log/checkpoint", get(|| async { "x".repeat(CHECKPOINT_BYTES_MAX + 1) }))
                .route("/log/tile/0/000", get(|| async { vec![7u8; 100] }))
                .route("/log/tile/entries/000", get(|| async { vec![0u8, 5, 1] }))
                .route("/log/tile/0/001", get(|| async { axum::http::StatusCode::INTERNAL_SERVER_ERROR }));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            let source = Source::new(&format!("http://{addr}")).unwrap();
            let e = source.checkpoint().await.unwrap_err().to_string();
            assert!(e.contains("at most"), "{e}");
            let tile = Tile::new(TileKind::Hashes { level: 0 }, 0, 256).unwrap();
            let e = source.hash_tile(&tile).await.unwrap_err().to_string();
            assert!(e.contains("8192 were expected"), "{e}");
            let bundle = Tile::new(TileKind::Entries, 0, 256).unwrap();
            let e = source.bundle(&bundle).await.unwrap_err().to_string();
            assert!(e.contains("not an entry bundle"), "{e}");
            // A failing server is retried, then the error says what it answered.
            let started = std::time::Instant::now();
            let tile = Tile::new(TileKind::Hashes { level: 0 }, 1, 256).unwrap();
            let e = source.hash_tile(&tile).await.unwrap_err().to_string();
            assert!(e.contains("500"), "{e}");
            assert!(started.elapsed() >= RETRY_BACKOFF_FIRST * 7, "retried with backoff");
            let e = source.get("tile/0/002", 10).await.unwrap_err();
            assert!(matches!(e, FetchError::NotFound { .. }), "{e}");
        });
    }
}
