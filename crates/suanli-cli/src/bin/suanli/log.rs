//! `suanli log …`: the verifiable log (SPEC §9) from an auditor's side — the latest signed
//! checkpoint, a record's inclusion proof, an export of the entries, and the offline
//! verification of an export. The checks themselves are `suanli_cli::log`.

use std::path::PathBuf;

use anyhow::Context;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as STD_B64;
use suanli_cli::log::{self, LogError};
use suanli_core::checkpoint::{Checkpoint, ledger_origin};
use suanli_core::keyfile;
use suanli_core::model::{PublicKey, RecordKind};
use suanli_core::money::fmt_money;
use suanli_core::note::Verifier;

use crate::common::Ctx;

#[derive(Debug, clap::Subcommand)]
pub enum LogCommand {
    /// Print the latest signed checkpoint (a C2SP signed note), after checking its signature.
    ///
    /// The ledger first signs one covering every durable entry. Save it to check an export
    /// or a later checkpoint against it: `suanli log checkpoint > cp.txt`.
    Checkpoint(CheckpointArgs),
    /// Fetch a record's entry and inclusion proof and check them against a signed checkpoint.
    Prove(ProveArgs),
    /// Write the log's entries to an export file, for `log verify` (format: docs/EXPORT.md).
    Export(ExportArgs),
    /// Verify an export offline: the checkpoint's signature, the Merkle root, every signature
    /// and every money line, replayed under the ledger's rules. Needs no server.
    Verify(VerifyArgs),
    /// Print the ledger's C2SP signed-note verifier key, `<origin>+<key id>+<base64 key>`, the
    /// one string any signed-note library (e.g. Go's sumdb/note) needs to check checkpoints.
    ///
    /// The origin is `suanli/<program id>/<hex of the first 8 bytes of SHA-256(ledger public
    /// key)>`. With --ledger-pubkey and --program it is computed offline, without a server.
    Vkey(VkeyArgs),
    /// Fetch and check a consistency proof: the log a signed checkpoint of size N covers is a
    /// prefix of the log the latest (or --new M) signed checkpoint covers.
    Consistency(ConsistencyArgs),
}

#[derive(Debug, clap::Args)]
pub struct VkeyArgs {
    /// The ledger's public key (base64). Without it, the key the server reports is used.
    #[arg(long, value_name = "B64")]
    ledger_pubkey: Option<String>,
    /// The ledger's program id (e.g. suzhou-2026). With --ledger-pubkey, no server is asked.
    #[arg(long, value_name = "ID", requires = "ledger_pubkey")]
    program: Option<String>,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("old_tree").required(true).args(["old", "old_checkpoint"])))]
pub struct ConsistencyArgs {
    /// The old tree size: a signed checkpoint of exactly this size must be stored by the ledger.
    #[arg(long, value_name = "N")]
    old: Option<u64>,
    /// The old tree as a signed checkpoint you hold (from `log checkpoint`), instead of --old.
    #[arg(long, value_name = "FILE")]
    old_checkpoint: Option<PathBuf>,
    /// The new tree size (a stored signed checkpoint of exactly this size). Default: the latest checkpoint.
    #[arg(long, value_name = "M")]
    new: Option<u64>,
    /// The ledger's public key (base64). Without it, the key the server reports is used;
    /// an auditor pins it.
    #[arg(long, value_name = "B64")]
    ledger_pubkey: Option<String>,
    /// Print the proof as JSON (sizes, base64 roots and hashes, both checkpoint notes).
    #[arg(long)]
    json: bool,
}

/// Which witnesses must have cosigned a checkpoint (C2SP tlog-cosignature).
#[derive(Debug, clap::Args)]
pub struct WitnessPolicy {
    /// A witness whose cosignature counts: its verifier key `<name>+<key id>+<base64>` (as
    /// `suanli witness --print-key` prints it). Repeat for more witnesses.
    #[arg(long = "witness-key", value_name = "VKEY")]
    witness_keys: Vec<String>,
    /// How many of the --witness-key witnesses must have validly cosigned the checkpoint;
    /// fewer and the checkpoint is refused. Default: 1 when --witness-key is given.
    #[arg(long, value_name = "N", requires = "witness_keys")]
    witness_threshold: Option<usize>,
}

impl WitnessPolicy {
    /// Checks `note`'s cosignatures; `None` when no witness is asked for. The names of the
    /// witnesses whose cosignatures verified are returned with the threshold met.
    fn check(&self, note: &str) -> anyhow::Result<Option<(Vec<String>, usize)>> {
        use suanli_cli::i18n::{lang, witness_cosignature_invalid, witness_threshold_not_met};
        use suanli_core::witness::{CosignerKey, WitnessError, verify_cosignatures};
        if self.witness_keys.is_empty() {
            return Ok(None);
        }
        let keys = self
            .witness_keys
            .iter()
            .map(|k| CosignerKey::parse(k).map_err(|e| anyhow::anyhow!("--witness-key {k:?}: {e}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let threshold = self.witness_threshold.unwrap_or(1);
        if threshold > keys.len() {
            anyhow::bail!(
                "--witness-threshold {threshold} is more than the {} witness keys given: it could never be met",
                keys.len()
            );
        }
        let valid = match verify_cosignatures(note, &keys) {
            Ok(v) => v,
            Err(e @ WitnessError::BadCosignature { .. }) => {
                anyhow::bail!("{}", witness_cosignature_invalid(lang(), &e.to_string()))
            }
            Err(e) => anyhow::bail!("the checkpoint is not a well-formed signed note: {e}"),
        };
        let names: Vec<String> = valid.into_iter().map(|c| c.name).collect();
        if names.len() < threshold {
            anyhow::bail!("{}", witness_threshold_not_met(lang(), &names, threshold, keys.len()));
        }
        Ok(Some((names, threshold)))
    }

    fn count(&self) -> usize {
        self.witness_keys.len()
    }
}

#[derive(Debug, clap::Args)]
pub struct CheckpointArgs {
    /// The ledger's public key (base64) to check the signature with. Without it, the key
    /// the server reports is used; pin it to be sure you talk to the ledger you mean.
    #[arg(long, value_name = "B64")]
    ledger_pubkey: Option<String>,
    #[command(flatten)]
    witnesses: WitnessPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Kind {
    Usage,
    Corpus,
}

#[derive(Debug, clap::Args)]
pub struct ProveArgs {
    /// USCC of the provider (or data supplier) that submitted the record.
    #[arg(long, value_name = "USCC")]
    provider: String,
    /// The record's id, as its submitter gave it.
    #[arg(long, value_name = "RID")]
    record_id: String,
    /// A usage record or a corpus-purchase record.
    #[arg(long, value_enum, default_value = "usage")]
    kind: Kind,
    /// Prove inclusion in the tree of this signed checkpoint (a file written by `log
    /// checkpoint`) instead of the latest one.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// The ledger's public key (base64). Without it, the key the server reports is used;
    /// an auditor pins it.
    #[arg(long, value_name = "B64")]
    ledger_pubkey: Option<String>,
    /// Print the proof as JSON: the entry (base64), its leaf hash, index, tree size, every
    /// proof hash (base64, leaf side first), the root and the checkpoint note, for checking
    /// with any RFC 6962 library (docs/EXPORT.md).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The export file to write (replaced if it exists); its signed checkpoint goes to FILE.checkpoint.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// First entry to export. Only an export from 0 can be verified.
    #[arg(long, value_name = "N", default_value_t = 0)]
    from: u64,
    /// Export up to this entry, exclusive. Default: a checkpoint the ledger signs now,
    /// covering every durable entry.
    #[arg(long, value_name = "M")]
    to: Option<u64>,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The export file (from `suanli log export`).
    #[arg(long, value_name = "FILE")]
    export: PathBuf,
    /// A signed checkpoint (from `suanli log checkpoint`, or FILE.checkpoint of the export).
    #[arg(long, value_name = "FILE")]
    checkpoint: PathBuf,
    /// The ledger's public key (base64): the only thing the verifier trusts.
    #[arg(long, value_name = "B64")]
    ledger_pubkey: String,
    /// An older signed checkpoint: the log it signed must be a prefix of the export.
    #[arg(long, value_name = "FILE")]
    old_checkpoint: Option<PathBuf>,
    #[command(flatten)]
    witnesses: WitnessPolicy,
}

pub async fn run(ctx: &Ctx, cmd: LogCommand) -> anyhow::Result<()> {
    match cmd {
        LogCommand::Checkpoint(a) => checkpoint(ctx, a).await,
        LogCommand::Prove(a) => prove(ctx, a).await,
        LogCommand::Export(a) => export(ctx, a).await,
        LogCommand::Verify(a) => verify(a),
        LogCommand::Vkey(a) => vkey(ctx, a).await,
        LogCommand::Consistency(a) => consistency(ctx, a).await,
    }
}

/// Base64 of a key or a hash (both 32 bytes), as keys are written everywhere.
fn b64(bytes: &[u8; 32]) -> String {
    keyfile::encode_public(bytes)
}

fn parse_key(value: &str) -> anyhow::Result<PublicKey> {
    keyfile::parse_public(value).with_context(|| format!("--ledger-pubkey {value:?}"))
}

fn read_note(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read the checkpoint file {}", path.display()))
}

/// The key to check checkpoints with: the pinned one, or the one the server reports
/// (then also the origin the server reports, which the checkpoint must name).
async fn ledger_key(
    client: &suanli_cli::Client,
    pinned: Option<&str>,
) -> anyhow::Result<(PublicKey, Option<String>, &'static str)> {
    match pinned {
        Some(k) => Ok((parse_key(k)?, None, "pinned")),
        None => {
            let info = client.info().await?;
            let key = info
                .ledger_public_key
                .as_slice()
                .try_into()
                .map_err(|_| anyhow::anyhow!("the ledger reports a public key that is not 32 bytes"))?;
            Ok((key, Some(info.origin), "as the server reports it; pin it with --ledger-pubkey"))
        }
    }
}

fn same_origin(cp: &suanli_core::checkpoint::Checkpoint, origin: Option<&String>) -> anyhow::Result<()> {
    match origin {
        Some(o) if &cp.origin != o => {
            anyhow::bail!("the checkpoint names the log {:?}, but this ledger is {o:?}", cp.origin)
        }
        _ => Ok(()),
    }
}

async fn checkpoint(ctx: &Ctx, a: CheckpointArgs) -> anyhow::Result<()> {
    let client = ctx.client().await?;
    let (key, origin, _) = ledger_key(&client, a.ledger_pubkey.as_deref()).await?;
    // With witnesses required, the latest stored checkpoint (which they may have cosigned
    // already), not one signed now (which none has seen yet).
    let signed = client.checkpoint(a.witnesses.count() == 0).await?;
    let cp = log::open_signed_checkpoint(&signed.note, &key, "the ledger's checkpoint")?;
    same_origin(&cp, origin.as_ref())?;
    if cp.size != signed.size {
        anyhow::bail!(
            "the ledger says its checkpoint covers {} entries, the signed note says {}",
            signed.size,
            cp.size
        );
    }
    if let Some((names, threshold)) = a.witnesses.check(&signed.note)? {
        eprintln!("{}", suanli_cli::i18n::witnessed(suanli_cli::i18n::lang(), &names, threshold, a.witnesses.count()));
    }
    print!("{}", signed.note);
    Ok(())
}

async fn prove(ctx: &Ctx, a: ProveArgs) -> anyhow::Result<()> {
    let client = ctx.client().await?;
    let (key, origin, key_source) = ledger_key(&client, a.ledger_pubkey.as_deref()).await?;
    let kind = match a.kind {
        Kind::Usage => RecordKind::Usage,
        Kind::Corpus => RecordKind::Corpus,
    };
    // The checkpoint first, when the auditor holds one: the proof is asked for its size.
    let held = match &a.checkpoint {
        Some(path) => Some(log::open_signed_checkpoint(&read_note(path)?, &key, "the checkpoint file")?),
        None => None,
    };
    let answer = client.find_record(kind, &a.provider, &a.record_id, held.as_ref().map_or(0, |c| c.size)).await?;
    let cp = match held {
        Some(cp) => cp,
        None => {
            let note = answer
                .proof
                .as_ref()
                .and_then(|p| p.checkpoint.as_ref())
                .ok_or_else(|| anyhow::anyhow!("the ledger sent no checkpoint with the proof"))?;
            log::open_signed_checkpoint(&note.note, &key, "the ledger's checkpoint")?
        }
    };
    same_origin(&cp, origin.as_ref())?;
    let p = log::check_record_proof(&answer, &cp, kind, &a.provider, &a.record_id)?;
    if a.json {
        let proof = answer.proof.as_ref().map_or(&[][..], |p| &p.hashes[..]);
        let note = match &a.checkpoint {
            Some(path) => read_note(path)?,
            None => {
                answer.proof.as_ref().and_then(|p| p.checkpoint.as_ref()).map(|c| c.note.clone()).unwrap_or_default()
            }
        };
        let out = serde_json::json!({
            "origin": p.checkpoint.origin,
            "vkey": vkey_of(&p.checkpoint.origin, &key)?,
            "kind": p.kind.as_str(),
            "provider": p.provider,
            "record_id": p.record_id,
            "index": p.seq,
            "tree_size": p.checkpoint.size,
            "entry": STD_B64.encode(&answer.entry),
            "leaf_hash": STD_B64.encode(p.leaf),
            "proof": proof.iter().map(|h| STD_B64.encode(h)).collect::<Vec<_>>(),
            "root": STD_B64.encode(p.checkpoint.root),
            "checkpoint": note,
            "reversed_by": p.reversed_by,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let l = &p.lines;
    println!(
        "proved: {} record {} of {} is entry {} of the log {}",
        p.kind.as_str(),
        p.record_id,
        p.provider,
        p.seq,
        p.checkpoint.origin
    );
    println!("  leaf hash {}", hex::encode(p.leaf));
    println!(
        "  included in the tree of size {} with root {}; checkpoint signature verified with ledger key {} ({key_source})",
        p.checkpoint.size,
        b64(&p.checkpoint.root),
        b64(&key)
    );
    println!("  record signed by key {}", b64(&p.signer));
    println!(
        "  money lines (cap year {}): voucher {} {}, renter subsidy {} {}, supplier subsidy {} {}",
        l.cap_year,
        fmt_money(l.voucher),
        l.voucher_reason,
        fmt_money(l.renter),
        l.renter_reason,
        fmt_money(l.supplier),
        l.supplier_reason
    );
    if let Some(r) = p.reversed_by {
        println!("  reversed by entry {r}");
    }
    Ok(())
}

async fn export(ctx: &Ctx, a: ExportArgs) -> anyhow::Result<()> {
    if let Some(to) = a.to
        && to < a.from
    {
        anyhow::bail!("--to {to} is before --from {}", a.from);
    }
    let client = ctx.client().await?;
    let e = log::export(&client, a.from, a.to, &a.out).await?;
    println!(
        "exported entries {}..{} ({} entries, {} bytes) of the log {} to {}",
        e.from,
        e.to,
        e.to - e.from,
        e.bytes,
        e.origin,
        a.out.display()
    );
    match &e.checkpoint {
        Some(path) => println!("the signed checkpoint of tree size {} is in {}", e.to, path.display()),
        None => println!(
            "no stored checkpoint has tree size {}, so none was written beside the export; leave out --to to export up \
             to a checkpoint the ledger signs now",
            e.to
        ),
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The backup file to write (replaced if it exists); its signed checkpoint goes to FILE.checkpoint.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// A backup is a full export up to a checkpoint the ledger signs now: the log is
/// append-only, so the entries below that checkpoint never change while the export runs,
/// and the server keeps accepting records meanwhile.
pub async fn backup(ctx: &Ctx, a: BackupArgs) -> anyhow::Result<()> {
    let client = ctx.client().await?;
    let e = log::export(&client, 0, None, &a.out).await?;
    let Some(cp) = &e.checkpoint else {
        anyhow::bail!("the ledger signed no checkpoint of tree size {}; the backup is incomplete", e.to);
    };
    println!("backed up {} entries ({} bytes) of the log {} to {}", e.to, e.bytes, e.origin, a.out.display());
    println!("the signed checkpoint of tree size {} is in {}", e.to, cp.display());
    println!(
        "restore with: suanlid restore --from {} --ledger-key LEDGER_KEY_FILE --data-dir NEW_DIR",
        a.out.display()
    );
    Ok(())
}

fn verify(a: VerifyArgs) -> anyhow::Result<()> {
    let key = parse_key(&a.ledger_pubkey)?;
    let note = read_note(&a.checkpoint)?;
    let old = a.old_checkpoint.as_ref().map(read_note).transpose()?;
    // The witnesses first: a checkpoint they did not vouch for is not worth replaying.
    let witnessed = a.witnesses.check(&note)?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let v = match log::verify_export(&a.export, &note, old.as_deref(), &key, threads) {
        Ok(v) => v,
        Err(e @ LogError::Verify(_)) => anyhow::bail!("{e}"),
        Err(e) => return Err(e.into()),
    };
    let s = &v.summary;
    println!(
        "verified: the first {} entries of {} are the tree of size {} with root {}, signed by the ledger key {}",
        s.entries,
        a.export.display(),
        v.checkpoint.size,
        b64(&s.root),
        b64(&key)
    );
    if let Some(old) = &v.old_checkpoint {
        println!(
            "consistent: the old checkpoint's tree of size {} is a prefix of it (its root is the root of the first {} entries)",
            old.size, old.size
        );
    }
    if let Some((names, threshold)) = &witnessed {
        println!(
            "witnessed: {} of {} witnesses cosigned the checkpoint (threshold {threshold}): {}",
            names.len(),
            a.witnesses.count(),
            names.join(", ")
        );
    }
    println!(
        "replayed every entry under the ledger's program: every stored money line and balance was recomputed and agrees"
    );
    let kinds: Vec<String> = s.kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!("  entries: {}", kinds.join(", "));
    println!("  signatures checked: {}", s.signatures_checked);
    println!(
        "  money lines, net of reversals: voucher drawn {}, renter subsidy {}, supplier subsidy {}",
        fmt_money(s.voucher),
        fmt_money(s.renter),
        fmt_money(s.supplier)
    );
    println!(
        "  state after entry {}: {} entities, {} vouchers, {} closed periods, {} payable not yet in a period",
        s.entries.saturating_sub(1),
        s.entities,
        s.vouchers,
        s.periods,
        fmt_money(s.unsettled)
    );
    println!("  the replay held {} records in memory", s.records_indexed);
    if v.beyond > 0 {
        println!(
            "note: the export holds {} more entries beyond the checkpoint; no signature covers them, they were not checked",
            v.beyond
        );
    }
    Ok(())
}

/// The C2SP signed-note verifier key of the ledger key under `origin`.
fn vkey_of(origin: &str, key: &PublicKey) -> anyhow::Result<String> {
    Ok(Verifier::from_public_key(origin, *key)
        .map_err(|e| anyhow::anyhow!("the origin {origin:?} with the ledger key {} is no verifier key: {e}", b64(key)))?
        .to_string())
}

async fn vkey(ctx: &Ctx, a: VkeyArgs) -> anyhow::Result<()> {
    let (origin, key) = match (&a.ledger_pubkey, &a.program) {
        (Some(k), Some(program)) => {
            let key = parse_key(k)?;
            (ledger_origin(program, &key), key)
        }
        (pinned, _) => {
            let client = ctx.client().await?;
            let (key, _, source) = ledger_key(&client, pinned.as_deref()).await?;
            let info = client.info().await?;
            // The origin is not taken on trust either: it follows from the program and the
            // key (a log continued after lost entries adds `/continued/<size>/<root>`, see
            // docs/OPERATIONS.md), and the latest checkpoint must verify under the key.
            let expected = ledger_origin(&info.program_id, &key);
            if info.origin != expected && !info.origin.starts_with(&format!("{expected}/continued/")) {
                anyhow::bail!(
                    "the ledger says its origin is {:?}, but program {:?} with the ledger key {} gives {expected:?}",
                    info.origin,
                    info.program_id,
                    b64(&key)
                );
            }
            let latest = client.checkpoint(false).await?;
            log::open_signed_checkpoint(&latest.note, &key, "the ledger's latest checkpoint")?;
            if pinned.is_none() {
                eprintln!("note: ledger key {} {source}", b64(&key));
            }
            (info.origin, key)
        }
    };
    println!("{}", vkey_of(&origin, &key)?);
    Ok(())
}

/// A stored signed checkpoint of exactly `size` entries, checked with the ledger key.
async fn checkpoint_of_size(
    client: &suanli_cli::Client,
    size: u64,
    key: &PublicKey,
    what: &str,
) -> anyhow::Result<(Checkpoint, String)> {
    match client.checkpoint_at_or_before(size).await? {
        Some(c) if c.size == size => Ok((log::open_signed_checkpoint(&c.note, key, what)?, c.note)),
        Some(c) => anyhow::bail!(
            "the ledger stores no signed checkpoint of tree size {size} (the nearest below is {}); give a size it \
             signed, or the checkpoint itself with --old-checkpoint FILE",
            c.size
        ),
        None => anyhow::bail!("the ledger stores no signed checkpoint of tree size {size} or less"),
    }
}

async fn consistency(ctx: &Ctx, a: ConsistencyArgs) -> anyhow::Result<()> {
    let client = ctx.client().await?;
    let (key, origin, key_source) = ledger_key(&client, a.ledger_pubkey.as_deref()).await?;
    let (old, old_note) = match (&a.old_checkpoint, a.old) {
        (Some(path), _) => {
            let note = read_note(path)?;
            (log::open_signed_checkpoint(&note, &key, "the old checkpoint")?, note)
        }
        (None, Some(n)) => checkpoint_of_size(&client, n, &key, "the old checkpoint").await?,
        (None, None) => unreachable!("clap requires --old or --old-checkpoint"),
    };
    same_origin(&old, origin.as_ref())?;
    let (new, new_note) = match a.new {
        Some(m) => checkpoint_of_size(&client, m, &key, "the new checkpoint").await?,
        None => {
            let latest = client.checkpoint(false).await?;
            (log::open_signed_checkpoint(&latest.note, &key, "the latest checkpoint")?, latest.note)
        }
    };
    same_origin(&new, origin.as_ref())?;
    if old.size > new.size {
        anyhow::bail!("the old tree ({} entries) is larger than the new one ({} entries)", old.size, new.size);
    }
    let answer = client.consistency_proof(old.size, new.size).await?;
    let proof = log::check_consistency_proof(&answer, &old, &new)?;
    if a.json {
        let out = serde_json::json!({
            "origin": new.origin,
            "vkey": vkey_of(&new.origin, &key)?,
            "old_size": old.size,
            "old_root": STD_B64.encode(old.root),
            "new_size": new.size,
            "new_root": STD_B64.encode(new.root),
            "proof": proof.iter().map(|h| STD_B64.encode(h)).collect::<Vec<_>>(),
            "old_checkpoint": old_note,
            "new_checkpoint": new_note,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "consistent: the tree of size {} (root {}) is a prefix of the tree of size {} (root {}) of the log {}",
        old.size,
        b64(&old.root),
        new.size,
        b64(&new.root),
        new.origin
    );
    println!("  both checkpoints verified with ledger key {} ({key_source})", b64(&key));
    println!("  proof, {} hashes, smallest subtree first (RFC 9162 §2.1.4):", proof.len());
    for h in &proof {
        println!("    {}", b64(h));
    }
    Ok(())
}
