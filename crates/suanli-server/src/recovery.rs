//! Starting a ledger: creating a new one on an empty data directory, or bringing an
//! existing one back — from its latest snapshot, replaying the entries after it — and
//! refusing to run if the store disagrees with its own log.
//!
//! Data directory layout: `ledger.key` (signs checkpoints and reports), `admin.key` and
//! `finance.key` (only when generated here), `store/` (the sled database), and
//! `checkpoint.latest`, the latest signed checkpoint known to be durable in the store.
//!
//! Why a checkpoint outside the store: every other check here compares the store with
//! itself. A store that lost a stretch of its own log (sled, finding a damaged page in
//! its log file, keeps what comes before it and drops the rest; a truncated file does the
//! same) is consistent with itself, and would be served as if the lost records had never
//! been acknowledged. The witness file is written (atomically, fsync'd) after each commit
//! that stores a new checkpoint, so at start the store must hold at least that many
//! entries and its log must extend that checkpoint (a consistency proof from the
//! checkpoint's signed root to the recomputed root); otherwise the ledger refuses to run.

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use suanli_core::checkpoint::{Checkpoint, sign_checkpoint};
use suanli_core::entry::{Body, Entry, Genesis};
use suanli_core::keyfile;
use suanli_core::ledger::Ledger;
use suanli_core::merkle::{Frontier, Hash, leaf_hash};
use suanli_core::model::PublicKey;
use suanli_core::note::Signer;
use suanli_core::program::Program;
use suanli_store::ledger_index::LedgerIndex;
use suanli_store::{CommitBatch, Store};
use tracing::info;

use crate::sequencer::{self, Clock, NODE_LEVEL_MIN};

pub const LEDGER_KEY_FILE: &str = "ledger.key";
pub const ADMIN_KEY_FILE: &str = "admin.key";
pub const FINANCE_KEY_FILE: &str = "finance.key";
pub const STORE_DIR: &str = "store";
pub const CHECKPOINT_WITNESS_FILE: &str = "checkpoint.latest";

/// Replaces the witness file with `note` (write, fsync, rename, fsync the directory), so
/// that it always holds one whole checkpoint, the old one or the new one.
pub fn write_checkpoint_witness(data_dir: &Path, note: &str) -> std::io::Result<()> {
    use std::io::Write;
    let path = data_dir.join(CHECKPOINT_WITNESS_FILE);
    let tmp = data_dir.join(format!("{CHECKPOINT_WITNESS_FILE}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(note.as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(data_dir)?.sync_all()
}

/// Checks the log against the checkpoint witness, if there is one: it must verify with the
/// ledger key, and the log (of `count` entries, root `root`) must extend it.
fn check_witness(
    store: &dyn Store,
    data_dir: &Path,
    signer: &Signer,
    count: u64,
    root: &Hash,
) -> Result<(), StartError> {
    let path = data_dir.join(CHECKPOINT_WITNESS_FILE);
    let note = match std::fs::read_to_string(&path) {
        Ok(note) => note,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(path = %path.display(), "no checkpoint witness; it is written with the next checkpoint");
            return Ok(());
        }
        Err(e) => return Err(StartError::File { path, problem: e.to_string() }),
    };
    let damaged = |problem: String| StartError::File {
        path: path.clone(),
        problem: format!(
            "{problem}. Refusing to start: restore the data directory from a backup (or, if only this file is damaged, remove it)"
        ),
    };
    let cp = suanli_core::checkpoint::open_checkpoint(&note, &signer.verifier())
        .map_err(|e| damaged(format!("the checkpoint witness does not verify with the ledger key ({e})")))?;
    if cp.size > count {
        return Err(StartError::Inconsistent(format!(
            "the store holds {count} entries, but {} records a checkpoint of {} entries that was durable: \
             the store lost entries it had acknowledged (a damaged or truncated file in {})",
            path.display(),
            cp.size,
            data_dir.join(STORE_DIR).display()
        )));
    }
    let proof = crate::audit::consistency(store, cp.size, count).map_err(|e| {
        StartError::Inconsistent(format!("cannot prove the log extends {}: {}", path.display(), e.message()))
    })?;
    suanli_core::merkle::verify_consistency(cp.size, count, &cp.root, root, &proof).map_err(|e| {
        StartError::Inconsistent(format!(
            "the log of {count} entries does not extend the checkpoint of {} entries in {} ({e}): the store is damaged",
            cp.size,
            path.display()
        ))
    })?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error("{path}: {problem}")]
    File { path: PathBuf, problem: String },
    #[error("the store is inconsistent with its log: {0}. Refusing to start; restore from a backup or investigate.")]
    Inconsistent(String),
    #[error(transparent)]
    Store(#[from] suanli_store::StoreError),
}

/// What a started ledger hands to the sequencer and the services.
pub struct Opened {
    pub ledger: Ledger,
    pub frontier: Frontier,
    pub signer: Signer,
    pub origin: String,
    pub last_checkpoint_size: u64,
    pub last_snapshot_count: u64,
    /// Key files written by this start (first start only), for the operator to collect.
    pub generated: Vec<PathBuf>,
    pub replayed: u64,
}

/// Resolves `--program`: a preset name or a path to a program TOML file.
pub fn load_program(spec: &str) -> Result<Program, StartError> {
    if let Some(p) = Program::preset(spec) {
        return Ok(p);
    }
    let path = Path::new(spec);
    let text = std::fs::read_to_string(path).map_err(|e| StartError::File {
        path: path.to_path_buf(),
        problem: format!("not a preset name and not a readable program file ({e})"),
    })?;
    Program::from_toml(&text).map_err(|e| StartError::File { path: path.to_path_buf(), problem: e.to_string() })
}

/// Writes a secret key file readable only by its owner.
pub fn write_key_file(path: &Path, key: &SigningKey) -> Result<(), StartError> {
    use std::io::Write;
    let err = |e: std::io::Error| StartError::File { path: path.to_path_buf(), problem: e.to_string() };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(err)?;
    f.write_all(keyfile::encode_secret(key).as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)?;
    Ok(())
}

/// Reads a secret key file, refusing one that others than its owner may read.
pub fn read_key_file(path: &Path) -> Result<SigningKey, StartError> {
    keyfile::check_private(path).map_err(|problem| StartError::File { path: path.to_path_buf(), problem })?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| StartError::File { path: path.to_path_buf(), problem: e.to_string() })?;
    keyfile::parse_secret(&text).map_err(|e| StartError::File { path: path.to_path_buf(), problem: e.to_string() })
}

/// An existing key file, or a new one.
fn key_in_dir(dir: &Path, name: &str, generated: &mut Vec<PathBuf>) -> Result<SigningKey, StartError> {
    let path = dir.join(name);
    if path.exists() {
        return read_key_file(&path);
    }
    let key = sequencer::generate_key();
    write_key_file(&path, &key)?;
    generated.push(path);
    Ok(key)
}

fn role_key(
    given: Option<&str>,
    dir: &Path,
    file: &str,
    flag: &str,
    generated: &mut Vec<PathBuf>,
) -> Result<PublicKey, StartError> {
    match given {
        Some(b64) => keyfile::parse_public(b64).map_err(|e| StartError::Config(format!("{flag}: {e}"))),
        None => Ok(key_in_dir(dir, file, generated)?.verifying_key().to_bytes()),
    }
}

/// The checkpoint origin (and signed-note key name) of a ledger: names the program and
/// the ledger key, so two ledgers never share an origin.
/// The rule itself lives in `suanli_core::checkpoint::ledger_origin`, where auditors'
/// tools (`suanli log vkey`) compute it too.
pub fn origin_for(program_id: &str, ledger_key: &PublicKey) -> String {
    suanli_core::checkpoint::ledger_origin(program_id, ledger_key)
}

pub struct StartOptions<'a> {
    pub data_dir: &'a Path,
    pub program: Option<&'a str>,
    pub admin_pubkey: Option<&'a str>,
    pub finance_pubkey: Option<&'a str>,
    pub clock: Clock,
}

/// Creates the ledger if the store is empty, otherwise recovers it.
pub fn open_or_init(store: &dyn Store, opts: &StartOptions<'_>) -> Result<Opened, StartError> {
    std::fs::create_dir_all(opts.data_dir)
        .map_err(|e| StartError::File { path: opts.data_dir.to_path_buf(), problem: e.to_string() })?;
    if store.entry_count()? > 0 {
        return recover(store, opts);
    }
    // An empty store beside a checkpoint witness is a ledger whose store was lost or
    // damaged beyond reading, not a new one: starting afresh would replace it.
    let witness = opts.data_dir.join(CHECKPOINT_WITNESS_FILE);
    if witness.exists() {
        return Err(StartError::Inconsistent(format!(
            "the store in {} is empty, but {} shows this data directory held a ledger: \
             its store was lost or damaged",
            opts.data_dir.join(STORE_DIR).display(),
            witness.display()
        )));
    }
    init(store, opts)
}

fn init(store: &dyn Store, opts: &StartOptions<'_>) -> Result<Opened, StartError> {
    let program = load_program(opts.program.unwrap_or(suanli_core::program::SUZHOU_2026))?;
    let mut generated = Vec::new();
    let admin_key = role_key(opts.admin_pubkey, opts.data_dir, ADMIN_KEY_FILE, "--admin-pubkey", &mut generated)?;
    let finance_key =
        role_key(opts.finance_pubkey, opts.data_dir, FINANCE_KEY_FILE, "--finance-pubkey", &mut generated)?;
    if admin_key == finance_key {
        return Err(StartError::Config("the admin and finance keys must differ: they are different roles".into()));
    }
    let ledger_sk = key_in_dir(opts.data_dir, LEDGER_KEY_FILE, &mut generated)?;
    let ledger_key = ledger_sk.verifying_key().to_bytes();
    let origin = origin_for(&program.id, &ledger_key);
    let genesis =
        Genesis { program_toml: program.to_toml(), admin_key, finance_key, ledger_key, origin: origin.clone() };
    let (ledger, entry) = Ledger::create(genesis, (opts.clock)()).map_err(|e| StartError::Config(e.to_string()))?;
    let signer = Signer::new(&origin, ledger_sk).map_err(|e| StartError::Config(format!("ledger key name: {e}")))?;
    let mut frontier = Frontier::new();
    let mut batch = CommitBatch::default();
    let bytes = entry.encode();
    batch.leaf_hashes.push(leaf_hash(&bytes));
    frontier.append(leaf_hash(&bytes), |id, h| {
        if id.level >= NODE_LEVEL_MIN {
            batch.nodes.push(((id.level, id.index), h));
        }
    });
    batch.entries.push((0, bytes));
    batch.frontier = frontier.encode();
    let cp = Checkpoint::new(origin.clone(), 1, frontier.root());
    let note = sign_checkpoint(&cp, &signer).map_err(|e| StartError::Config(e.to_string()))?;
    batch.checkpoints.push((1, note.clone()));
    batch.snapshot = Some((1, sequencer::encode_snapshot(&frontier, &ledger)));
    store.commit(&batch)?;
    write_checkpoint_witness(opts.data_dir, &note)
        .map_err(|e| StartError::File { path: opts.data_dir.join(CHECKPOINT_WITNESS_FILE), problem: e.to_string() })?;
    info!(program = %program.id, origin = %origin, "initialized a new ledger");
    Ok(Opened {
        ledger,
        frontier,
        signer,
        origin,
        last_checkpoint_size: 1,
        last_snapshot_count: 1,
        generated,
        replayed: 0,
    })
}

fn recover(store: &dyn Store, opts: &StartOptions<'_>) -> Result<Opened, StartError> {
    let count = store.entry_count()?;
    let first = store.entry(0)?.ok_or_else(|| StartError::Inconsistent("entry 0 is missing".into()))?;
    let genesis_entry = Entry::decode(&first).map_err(|e| StartError::Inconsistent(format!("entry 0: {e}")))?;
    let Body::Genesis(genesis) = &genesis_entry.body else {
        return Err(StartError::Inconsistent("entry 0 is not a genesis entry".into()));
    };
    let ledger_path = opts.data_dir.join(LEDGER_KEY_FILE);
    let ledger_sk = read_key_file(&ledger_path)?;
    if ledger_sk.verifying_key().to_bytes() != genesis.ledger_key {
        return Err(StartError::File {
            path: ledger_path,
            problem: "this is not the key this ledger was created with".into(),
        });
    }
    if let Some(spec) = opts.program {
        let p = load_program(spec)?;
        if p.to_toml() != genesis.program_toml {
            return Err(StartError::Config(format!(
                "--program {spec} differs from the program this ledger was created with; a ledger's program never changes"
            )));
        }
    }
    for (given, recorded, flag) in [
        (opts.admin_pubkey, genesis.admin_key, "--admin-pubkey"),
        (opts.finance_pubkey, genesis.finance_key, "--finance-pubkey"),
    ] {
        if let Some(b64) = given {
            let k = keyfile::parse_public(b64).map_err(|e| StartError::Config(format!("{flag}: {e}")))?;
            if k != recorded {
                return Err(StartError::Config(format!("{flag} differs from the key recorded in the genesis entry")));
            }
        }
    }
    let origin = genesis.origin.clone();
    let signer = Signer::new(&origin, ledger_sk).map_err(|e| StartError::Config(e.to_string()))?;

    let (frontier, ledger, from) = replay_stored(store, &genesis_entry, &first)?;
    let (last_checkpoint_size, _) = match store.latest_checkpoint()? {
        Some((size, note)) => {
            if size > count {
                return Err(StartError::Inconsistent(format!(
                    "a checkpoint of size {size} exists but the log has {count} entries"
                )));
            }
            if size == count {
                let cp = suanli_core::checkpoint::open_checkpoint(&note, &signer.verifier())
                    .map_err(|e| StartError::Inconsistent(format!("the latest checkpoint does not verify: {e}")))?;
                if cp.root != frontier.root() {
                    return Err(StartError::Inconsistent("the latest checkpoint's root differs from the log's".into()));
                }
            }
            (size, note)
        }
        None => (0, String::new()),
    };
    check_witness(store, opts.data_dir, &signer, count, &frontier.root())?;
    let replayed = count - from;
    info!(entries = count, replayed, "recovered the ledger");
    Ok(Opened {
        ledger,
        frontier,
        signer,
        origin,
        last_checkpoint_size,
        last_snapshot_count: from,
        generated: Vec::new(),
        replayed,
    })
}

/// Rebuilds the ledger state and the Merkle frontier of a store from its snapshot (if
/// any) and the entries after it, checking the result against the frontier recorded with
/// them: `(frontier, ledger, entries covered by the snapshot)`. Shared by a ledger's
/// restart and a mirror's ([`crate::mirror`]), which holds no ledger key.
pub fn replay_stored(
    store: &dyn Store,
    genesis_entry: &Entry,
    first: &[u8],
) -> Result<(Frontier, Ledger, u64), StartError> {
    let count = store.entry_count()?;
    let Body::Genesis(genesis) = &genesis_entry.body else {
        return Err(StartError::Inconsistent("entry 0 is not a genesis entry".into()));
    };
    let (mut frontier, mut ledger, from) = match store.snapshot()? {
        Some((covered, bytes)) => {
            let (f, l) = sequencer::decode_snapshot(&bytes)
                .map_err(|e| StartError::Inconsistent(format!("the snapshot cannot be read: {e}")))?;
            if f.size() != covered || l.next_seq() != covered || covered > count {
                return Err(StartError::Inconsistent(format!(
                    "the snapshot claims {covered} entries but holds a tree of {} and a state of {}, with {count} in the log",
                    f.size(),
                    l.next_seq()
                )));
            }
            if l.genesis() != genesis {
                return Err(StartError::Inconsistent("the snapshot belongs to another ledger".into()));
            }
            (f, l, covered)
        }
        None => {
            let l = Ledger::from_genesis(genesis_entry).map_err(|e| StartError::Inconsistent(e.to_string()))?;
            let mut f = Frontier::new();
            f.append(leaf_hash(first), |_, _| {});
            (f, l, 1)
        }
    };
    let mut index = LedgerIndex::new(store);
    for item in store.entries(from, count) {
        let (seq, bytes) = item?;
        let entry = Entry::decode(&bytes).map_err(|e| StartError::Inconsistent(format!("entry {seq}: {e}")))?;
        if entry.seq != seq {
            return Err(StartError::Inconsistent(format!("entry stored at {seq} says it is entry {}", entry.seq)));
        }
        index.set_as_of(Some(seq));
        ledger.apply(&mut index, &entry).map_err(|e| StartError::Inconsistent(e.to_string()))?;
        index.discard_writes();
        frontier.append(leaf_hash(&bytes), |_, _| {});
    }
    drop(index);
    if ledger.next_seq() != count {
        return Err(StartError::Inconsistent(format!(
            "the store records {count} entries but only {} could be read",
            ledger.next_seq()
        )));
    }
    let stored = store.frontier()?.ok_or_else(|| StartError::Inconsistent("no Merkle frontier recorded".into()))?;
    let stored = Frontier::decode(&stored)
        .map_err(|e| StartError::Inconsistent(format!("the recorded Merkle frontier cannot be read: {e}")))?;
    if stored.size() != count || stored.root() != frontier.root() {
        return Err(StartError::Inconsistent(format!(
            "the log root recomputed from its {count} entries differs from the root recorded with them (size {})",
            stored.size()
        )));
    }
    Ok((frontier, ledger, from))
}
