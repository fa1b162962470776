//! The offline audit of a log (SPEC §9): feed every entry of an export, in order, and
//! the [`Auditor`] recomputes the Merkle root (checking it against signed checkpoints as
//! it passes their sizes) and replays the business rules — the same [`Ledger::apply`]
//! the server runs — so every money line and every balance is recomputed from the signed
//! inputs alone. The first entry that disagrees is named, with the reason.
//!
//! What is checked for each entry, in this order (the first failure is the finding):
//! it decodes; its sequence number is its position (so a dropped, repeated or reordered
//! entry is named where it happens); entry 0 is the genesis of this ledger (its ledger
//! key is the pinned key, its origin the checkpoint's); the signature of its input
//! verifies under its domain tag ([`signature_items`], checked in batches by the caller);
//! replaying it gives exactly the stored outcome. A change that none of these notice
//! (a byte the rules never read, such as the low bits of a timestamp) still changes the
//! root, and then the finding names the range of entries between the last matching
//! checkpoint and the first failing one, since a root cannot say more.
//!
//! Memory: the Merkle frontier is O(log n) and the ledger state is small, but replay
//! needs the per-record index ([`MemIndex`]), which grows by just under 1 KB per accepted
//! record (measured: 266 MiB peak verifying 300,000 records, `suanli-cli/tests/log_scale.rs`),
//! so auditing an export of ten million records takes about 9 GB. Acceptable for an audit
//! machine; a disk-backed index would lift it. Pure: no I/O; the command line reads the
//! file and runs the signature batches on every core.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::codec::DecodeError;
use crate::entry::{Body, Entry};
use crate::index::MemIndex;
use crate::ledger::{InputKind, Ledger};
use crate::merkle::{Frontier, Hash, empty_root, leaf_hash};
use crate::model::PublicKey;
use crate::sig::{self, Domain, SigError};

/// What the audit found wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Finding {
    /// This entry is wrong (the first that is).
    #[error("entry {seq}: {what}")]
    Entry { seq: u64, what: String },
    /// The log as a whole disagrees with a checkpoint, and no single entry can be named.
    #[error("{0}")]
    Log(String),
}

fn at(seq: u64, what: impl Into<String>) -> Finding {
    Finding::Entry { seq, what: what.into() }
}

/// The domain a stored entry's input was signed under (`None` for the genesis entry).
pub fn domain_of(body: &Body) -> Option<Domain> {
    let kind = match body {
        Body::Genesis(_) => return None,
        Body::Usage { .. } => InputKind::Usage,
        Body::Corpus { .. } => InputKind::Corpus,
        Body::Reversal { .. } => InputKind::Reversal,
        Body::Admin { .. } => InputKind::Admin,
        Body::Holder { .. } => InputKind::Holder,
        Body::Finance { .. } => InputKind::Finance,
    };
    Some(kind.domain())
}

/// A batch signature check: (public key, signature, batch head).
type BatchKey<'a> = (&'a [u8; 32], &'a [u8; 64], Vec<u8>);

/// Checks the signatures of decoded entries as one batch ([`sig::verify_batch`]: the same
/// verdicts as one at a time). One verdict per entry; `None` for entries without a signed
/// input (genesis) and for entries that did not decode.
///
/// A batch-signed usage record ([`crate::batch`]) is checked against the batch head its
/// proof leads to for the log named `origin`; records of one batch share their head and
/// signature, so each batch signature is checked once.
pub fn signature_items(origin: &str, entries: &[Result<Entry, DecodeError>]) -> Vec<Option<Result<(), SigError>>> {
    // Batch heads first (the items borrow them), one per distinct (key, signature, head).
    let mut heads: Vec<Vec<u8>> = Vec::new();
    let mut head_of: Vec<Option<Result<usize, SigError>>> = vec![None; entries.len()];
    let mut seen: std::collections::HashMap<BatchKey<'_>, usize> = Default::default();
    for (i, e) in entries.iter().enumerate() {
        if let Ok(entry) = e
            && let Body::Usage { input, .. } = &entry.body
            && let Some(proof) = &input.batch
        {
            head_of[i] = Some(match crate::batch::signed_head(origin, &input.payload, proof) {
                Err(_) => Err(SigError::BatchProof),
                Ok(head) => Ok(*seen.entry((&input.public_key, &input.signature, head.clone())).or_insert_with(|| {
                    heads.push(head);
                    heads.len() - 1
                })),
            });
        }
    }
    let mut items = Vec::with_capacity(entries.len());
    let mut owners: Vec<Vec<usize>> = Vec::with_capacity(entries.len());
    let mut verdicts = vec![None; entries.len()];
    let mut head_item: Vec<Option<usize>> = vec![None; heads.len()];
    for (i, e) in entries.iter().enumerate() {
        let Ok(entry) = e else { continue };
        let (Some(domain), Some(s)) = (domain_of(&entry.body), entry.body.signed()) else { continue };
        match &head_of[i] {
            None => {
                items.push(sig::Item::new(&s.public_key, domain, &s.payload, &s.signature));
                owners.push(vec![i]);
            }
            Some(Err(e)) => verdicts[i] = Some(Err(*e)),
            Some(Ok(h)) => match head_item[*h] {
                Some(item) => owners[item].push(i),
                None => {
                    head_item[*h] = Some(items.len());
                    items.push(sig::Item::new(&s.public_key, Domain::UsageBatch, &heads[*h], &s.signature));
                    owners.push(vec![i]);
                }
            },
        }
    }
    for (owned, v) in owners.into_iter().zip(sig::verify_batch(&items)) {
        for i in owned {
            verdicts[i] = Some(v);
        }
    }
    verdicts
}

/// Sums recomputed by the replay, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub entries: u64,
    pub root: Hash,
    /// Entries by kind (`usage`, `reversal`, …).
    pub kinds: BTreeMap<&'static str, u64>,
    pub signatures_checked: u64,
    /// Money lines of records net of reversals: voucher drawn, renter and supplier subsidy.
    pub voucher: Decimal,
    pub renter: Decimal,
    pub supplier: Decimal,
    pub entities: usize,
    pub vouchers: usize,
    pub periods: usize,
    /// Payables not yet in a closed period, summed.
    pub unsettled: Decimal,
    /// Records held by the replay's index (its memory grows with this).
    pub records_indexed: usize,
    /// The checkpoints whose roots were matched: (tree size, label).
    pub roots_matched: Vec<(u64, String)>,
}

/// Replays a log from entry 0; see the module documentation.
#[derive(Debug)]
pub struct Auditor {
    ledger_key: PublicKey,
    origin: String,
    frontier: Frontier,
    ledger: Option<Ledger>,
    index: MemIndex,
    /// Roots to check, by tree size: (root, label).
    expected: BTreeMap<u64, Vec<(Hash, String)>>,
    summary: Summary,
}

impl Auditor {
    /// An audit of the log named `origin` whose checkpoints `ledger_key` signs.
    pub fn new(ledger_key: PublicKey, origin: impl Into<String>) -> Auditor {
        Auditor {
            ledger_key,
            origin: origin.into(),
            frontier: Frontier::new(),
            ledger: None,
            index: MemIndex::default(),
            expected: BTreeMap::new(),
            summary: Summary::default(),
        }
    }

    /// Asks that the root of the first `size` entries be `root` (a checkpoint's, already
    /// verified by the caller); `label` names it in findings ("the checkpoint").
    pub fn expect_root(&mut self, size: u64, root: Hash, label: impl Into<String>) {
        self.expected.entry(size).or_default().push((root, label.into()));
    }

    /// Entries replayed so far.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The largest tree size a root is expected for.
    pub fn last_expected_size(&self) -> Option<u64> {
        self.expected.keys().next_back().copied()
    }

    /// The ledger state after the entries replayed so far.
    pub fn ledger(&self) -> Option<&Ledger> {
        self.ledger.as_ref()
    }

    /// Checks and replays the entry at `position` (0, 1, 2, … with no gaps): `bytes` as
    /// they appear in the export, `entry` their decoding, `signature` the verdict of
    /// [`signature_items`] for it.
    pub fn push(
        &mut self,
        position: u64,
        bytes: &[u8],
        entry: &Result<Entry, DecodeError>,
        signature: Option<Result<(), SigError>>,
    ) -> Result<(), Finding> {
        assert_eq!(position, self.frontier.size(), "entries are pushed in order");
        if position == 0 {
            self.check_roots()?; // a root expected for the empty tree
        }
        let entry = entry.as_ref().map_err(|e| at(position, format!("does not decode: {e}")))?;
        if entry.seq > position {
            return Err(at(
                position,
                format!("is missing: the export holds entry {} in its place (entries dropped or reordered)", entry.seq),
            ));
        }
        if entry.seq < position {
            return Err(at(
                position,
                format!(
                    "is not where it should be: entry {} appears again in its place (repeated or reordered)",
                    entry.seq
                ),
            ));
        }
        match &entry.body {
            Body::Genesis(g) => {
                if position != 0 {
                    return Err(at(position, "is a second genesis entry"));
                }
                if g.ledger_key != self.ledger_key {
                    return Err(at(0, "the genesis names another ledger key than the one given to check checkpoints"));
                }
                if g.origin != self.origin {
                    return Err(at(
                        0,
                        format!("the genesis names the log {:?}, the checkpoint {:?}", g.origin, self.origin),
                    ));
                }
                self.ledger = Some(Ledger::from_genesis(entry).map_err(|d| at(0, d.what))?);
            }
            body => {
                let ledger =
                    self.ledger.as_mut().ok_or_else(|| at(position, "the log does not start with a genesis entry"))?;
                match signature {
                    Some(Ok(())) => self.summary.signatures_checked += 1,
                    Some(Err(e)) => {
                        return Err(at(
                            position,
                            format!("the signature of its {} input does not verify: {e}", body.kind_name()),
                        ));
                    }
                    None => return Err(at(position, "its signature was not checked")),
                }
                ledger.apply(&mut self.index, entry).map_err(|d| at(d.seq, format!("replay disagrees: {}", d.what)))?;
                self.count_money(body);
            }
        }
        *self.summary.kinds.entry(entry.body.kind_name()).or_default() += 1;
        self.frontier.append(leaf_hash(bytes), |_, _| {});
        self.check_roots()
    }

    fn count_money(&mut self, body: &Body) {
        let s = &mut self.summary;
        match body {
            Body::Usage { lines, .. } | Body::Corpus { lines, .. } => {
                s.voucher += lines.voucher;
                s.renter += lines.renter;
                s.supplier += lines.supplier;
            }
            Body::Reversal { reversed, .. } => {
                s.voucher -= reversed.lines.voucher;
                s.renter -= reversed.lines.renter;
                s.supplier -= reversed.lines.supplier;
            }
            _ => {}
        }
    }

    /// Compares the roots expected at the current size.
    fn check_roots(&mut self) -> Result<(), Finding> {
        let size = self.frontier.size();
        let Some(wanted) = self.expected.remove(&size) else {
            return Ok(());
        };
        let root = if size == 0 { empty_root() } else { self.frontier.root() };
        for (want, label) in wanted {
            if want != root {
                let since = self.summary.roots_matched.last().map_or(0, |(s, _)| *s);
                return Err(Finding::Log(format!(
                    "the first {size} entries do not hash to the root of {label} (tree size {size}), although each \
                     of them replays: bytes the rules do not read (such as a timestamp) differ in entries \
                     {since}..{size}, or the export is not this log"
                )));
            }
            self.summary.roots_matched.push((size, label));
        }
        Ok(())
    }

    /// Ends the audit: every expected root must have been reached.
    pub fn finish(mut self) -> Result<Summary, Finding> {
        let size = self.frontier.size();
        if let Some((want, labels)) = self.expected.iter().next() {
            let label = labels.first().map_or("a checkpoint", |(_, l)| l.as_str());
            return Err(at(size, format!("is missing: the export ends after {size} entries, {label} covers {want}")));
        }
        let ledger = self.ledger.as_ref().ok_or_else(|| at(0, "is missing: the export holds no entries"))?;
        let s = &mut self.summary;
        s.entries = size;
        s.root = self.frontier.root();
        s.entities = ledger.entities().count();
        s.vouchers = ledger.vouchers().count();
        s.periods = ledger.periods().len();
        s.unsettled = ledger.unsettled().values().copied().sum();
        s.records_indexed = self.index.records.len();
        Ok(self.summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Genesis;
    use crate::ledger::{Decision, Input};
    use crate::program::Program;
    use crate::testkit::{self as tk, key, public, uscc};

    const ORIGIN: &str = "suanli.test/audit";

    /// A small real log: genesis, registrations, records (one reversed), encoded.
    fn log() -> Vec<Vec<u8>> {
        let genesis = Genesis {
            program_toml: Program::suzhou_2026().to_toml(),
            admin_key: public(&key(1)),
            finance_key: public(&key(2)),
            ledger_key: public(&key(3)),
            origin: ORIGIN.into(),
        };
        let t0 = crate::time::parse_rfc3339("2026-12-01T00:00:00+08:00").unwrap() * 1000;
        let (mut ledger, g) = Ledger::create(genesis, t0).unwrap();
        let mut index = MemIndex::default();
        let mut out = vec![g.encode()];
        let mut inputs: Vec<Input> = vec![
            tk::admin(&key(1), "a", tk::register(&uscc(1), "P", tk::flags(true, false, true, false, false), None)),
            tk::admin(&key(1), "b", tk::register(&uscc(3), "R", tk::flags(false, true, false, false, false), None)),
            tk::admin(&key(1), "c", tk::add_key(&uscc(1), &public(&key(11)))),
        ];
        let end = t0 / 1000 - 7200;
        for i in 0..40 {
            let r = tk::usage_record(&format!("u{i}"), &uscc(1), &uscc(3), "8", "12.50", "100.00", end, None);
            inputs.push(tk::sign(InputKind::Usage, &key(11), &r));
        }
        inputs.push(tk::sign(InputKind::Reversal, &key(11), &tk::reversal(&uscc(1), "u7", "typo")));
        for (i, input) in inputs.iter().enumerate() {
            match ledger.decide(&mut index, t0 + 1000 * i as i64, input, true) {
                Decision::Accepted(e) => out.push(e.encode()),
                other => panic!("input {i}: {other:?}"),
            }
        }
        out
    }

    fn root_of(entries: &[Vec<u8>]) -> Hash {
        let mut f = Frontier::new();
        for e in entries {
            f.append(leaf_hash(e), |_, _| {});
        }
        f.root()
    }

    /// Audits `entries` against the root of `honest` (the untampered log) at its full size.
    fn audit(entries: &[Vec<u8>], honest: &[Vec<u8>], old: Option<u64>) -> Result<Summary, Finding> {
        let mut a = Auditor::new(public(&key(3)), ORIGIN);
        a.expect_root(honest.len() as u64, root_of(honest), "the checkpoint");
        if let Some(m) = old {
            a.expect_root(m, root_of(&honest[..m as usize]), "the old checkpoint");
        }
        let decoded: Vec<_> = entries.iter().map(|b| Entry::decode(b)).collect();
        let sigs = signature_items(ORIGIN, &decoded);
        for (i, ((bytes, entry), sig)) in entries.iter().zip(&decoded).zip(sigs).enumerate() {
            a.push(i as u64, bytes, entry, sig)?;
        }
        a.finish()
    }

    fn seq_of(f: Finding) -> u64 {
        match f {
            Finding::Entry { seq, .. } => seq,
            Finding::Log(what) => panic!("no entry named: {what}"),
        }
    }

    #[test]
    fn an_honest_log_replays_and_matches_its_roots() {
        let log = log();
        let s = audit(&log, &log, Some(9)).unwrap();
        assert_eq!(s.entries, log.len() as u64);
        assert_eq!(s.kinds["usage"], 40);
        assert_eq!(s.kinds["reversal"], 1);
        assert_eq!(s.signatures_checked, log.len() as u64 - 1);
        // 39 records stand: R 30.00 and S 10.00 each.
        assert_eq!(s.renter, Decimal::new(39 * 3000, 2));
        assert_eq!(s.supplier, Decimal::new(39 * 1000, 2));
        assert_eq!(s.roots_matched.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![9, log.len() as u64]);
        assert_eq!(s.records_indexed, 40);
    }

    #[test]
    fn tampering_names_the_first_entry_that_disagrees() {
        let log = log();
        // A byte of a signed payload: the signature fails.
        let mut t = log.clone();
        let n = t[20].len();
        t[20][n / 2] ^= 0x01;
        assert_eq!(seq_of(audit(&t, &log, None).unwrap_err()), 20);
        // The last byte: the supplier line's reason code.
        let mut t = log.clone();
        *t[12].last_mut().unwrap() ^= 0x01;
        assert_eq!(seq_of(audit(&t, &log, None).unwrap_err()), 12);
        // A money line (the supplier amount's low byte): replay recomputes it.
        let mut t = log.clone();
        let n = t[12].len();
        t[12][n - 2] ^= 0x01;
        let f = audit(&t, &log, None).unwrap_err();
        assert!(f.to_string().contains("replay disagrees"), "{f}");
        assert_eq!(seq_of(f), 12);
        // Dropped, repeated, swapped.
        let mut t = log.clone();
        t.remove(15);
        assert_eq!(seq_of(audit(&t, &log, None).unwrap_err()), 15);
        let mut t = log.clone();
        t.insert(16, log[15].clone());
        assert_eq!(seq_of(audit(&t, &log, None).unwrap_err()), 16);
        let mut t = log.clone();
        t.swap(30, 33);
        assert_eq!(seq_of(audit(&t, &log, None).unwrap_err()), 30);
        // Cut short: the entry after the end is missing.
        assert_eq!(seq_of(audit(&log[..25], &log, None).unwrap_err()), 25);
        // Another ledger's key or origin.
        let mut a = Auditor::new(public(&key(4)), ORIGIN);
        let e = Entry::decode(&log[0]);
        assert_eq!(seq_of(a.push(0, &log[0], &e, None).unwrap_err()), 0);
        let mut a = Auditor::new(public(&key(3)), "suanli.test/other");
        assert_eq!(seq_of(a.push(0, &log[0], &e, None).unwrap_err()), 0);
    }

    #[test]
    fn a_change_the_rules_never_read_is_caught_by_the_root() {
        let log = log();
        // time_ms sits at bytes 9..17; its lowest byte changes no rule here.
        let mut t = log.clone();
        t[30][16] ^= 0x01;
        match audit(&t, &log, Some(20)).unwrap_err() {
            Finding::Log(what) => assert!(what.contains("entries 20..45"), "{what}"),
            other => panic!("{other}"),
        }
        // Before the old checkpoint's size: caught there.
        let mut t = log.clone();
        t[5][16] ^= 0x01;
        let f = audit(&t, &log, Some(20)).unwrap_err();
        assert!(f.to_string().contains("old checkpoint"), "{f}");
    }
}
