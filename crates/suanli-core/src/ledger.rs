//! The policy state machine (SPEC §5–§8): the single place where ledger state changes.
//!
//! A submission is first *evaluated* against the current state (read-only): it is either
//! refused (`DUPLICATE`, `REJECTED`) or accepted with an outcome and an effect. An accepted
//! submission becomes a log entry, and the effect is *applied* by [`Ledger::mutate`], the
//! one function that writes state. Replay ([`Ledger::apply`]) runs the same evaluation on
//! a stored entry's input at the entry's recorded time and insists that the outcome equals
//! the stored one, so the server, restart recovery, the offline verifier and the tests all
//! share one implementation of the rules.
//!
//! The invariants of SPEC §6 are asserted where the state changes: a failure is a bug in
//! this code, and the only safe reaction for a ledger of public money is to stop.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use crate::codes::{LineReason, RejectCode};
use crate::entry::{Body, Entry, Genesis, Lines, RecordFacts, Signed, StatementLine};
use crate::ids::Uscc;
use crate::index::{Index, PayloadHash, RecordKey, RecordSummary, RequestKey, RequestNamespace, RequestSummary};
use crate::model::{Authorization, Entity, Flags, KeyState, PayableKind, PublicKey, RecordKind, Voucher, VoucherKind};
use crate::money::{self, round_fen, times_sign};
use crate::program::Program;
use crate::validate::{self, Malformed};
use crate::wire;

/// How far past the ledger's clock a record's end may be (SPEC §5): five minutes.
pub const FUTURE_TOLERANCE_MS: i64 = 5 * 60 * 1000;

/// The kinds of signed input, each with its own domain tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputKind {
    Usage,
    Corpus,
    Reversal,
    Admin,
    Holder,
    Finance,
}

impl InputKind {
    /// The domain tag this kind of message is signed under.
    pub fn domain(self) -> crate::sig::Domain {
        use crate::sig::Domain;
        match self {
            InputKind::Usage => Domain::Usage,
            InputKind::Corpus => Domain::Corpus,
            InputKind::Reversal => Domain::Reversal,
            InputKind::Admin => Domain::Admin,
            InputKind::Holder => Domain::Holder,
            InputKind::Finance => Domain::Finance,
        }
    }
}

/// A signed submission waiting for a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub kind: InputKind,
    pub signed: Signed,
}

/// A refusal: nothing changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: RejectCode,
    /// A sentence for the human who has to fix it; for `MALFORMED` it starts with the field.
    pub detail: String,
}

impl Rejection {
    fn new(code: RejectCode, detail: impl Into<String>) -> Self {
        Rejection { code, detail: detail.into() }
    }
}

impl From<Malformed> for Rejection {
    fn from(m: Malformed) -> Self {
        Rejection { code: RejectCode::Malformed, detail: m.to_string() }
    }
}

/// A resubmission of something already accepted: nothing changed, and the answer repeats
/// the original sequence number and (for records and reversals) money lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub seq: u64,
    pub lines: Option<Lines>,
}

/// The answer to one submission. Not boxed: one is made per record on the hot path, and
/// the accepted entry moves on into the commit batch.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Accepted(Entry),
    Duplicate(Duplicate),
    Rejected(Rejection),
}

/// What the submitter is told: the decision without the entry's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Accepted { seq: u64, lines: Option<Lines> },
    Duplicate { seq: u64, lines: Option<Lines> },
    Rejected(Rejection),
}

impl Decision {
    pub fn answer(&self) -> Answer {
        match self {
            Decision::Accepted(e) => {
                let lines = match &e.body {
                    Body::Usage { lines, .. } | Body::Corpus { lines, .. } => Some(*lines),
                    Body::Reversal { reversed, .. } => Some(reversed.lines.negated()),
                    _ => None,
                };
                Answer::Accepted { seq: e.seq, lines }
            }
            Decision::Duplicate(d) => Answer::Duplicate { seq: d.seq, lines: d.lines },
            Decision::Rejected(r) => Answer::Rejected(r.clone()),
        }
    }
}

/// Why a stored entry does not replay: the log and the rules disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("entry {seq}: {what}")]
pub struct Divergence {
    pub seq: u64,
    pub what: String,
}

/// A statement line of a closed period, with what has been paid against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodLine {
    pub line: StatementLine,
    pub paid: Decimal,
}

/// A closed settlement period (SPEC §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub name: String,
    /// The sequence number of the closing entry: the period covers payables before it.
    pub closed_at: u64,
    pub lines: BTreeMap<(Uscc, PayableKind, i32), PeriodLine>,
}

/// A recorded payout, by bank reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutRecord {
    pub seq: u64,
    pub period: String,
    pub payee: Uscc,
    pub kind: PayableKind,
    pub year: i32,
    pub amount: Decimal,
}

/// Everything the ledger holds in memory: small (entities, keys, vouchers, counters,
/// periods), rebuilt from the log alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    pub(crate) genesis: Genesis,
    pub(crate) program: Program,
    pub(crate) next_seq: u64,
    pub(crate) last_time_ms: i64,
    pub(crate) entities: BTreeMap<Uscc, Entity>,
    pub(crate) keys: HashMap<PublicKey, KeyState>,
    pub(crate) vouchers: BTreeMap<String, Voucher>,
    /// Face value issued per holder and kind, and in total per kind (for the limits of §7).
    pub(crate) holder_issued: BTreeMap<(Uscc, VoucherKind), Decimal>,
    pub(crate) kind_issued: BTreeMap<VoucherKind, Decimal>,
    /// R granted per renter and cap year, S per supplier and cap year, R+S per cap year.
    pub(crate) renter_used: BTreeMap<(Uscc, i32), Decimal>,
    pub(crate) supplier_used: BTreeMap<(Uscc, i32), Decimal>,
    pub(crate) budget_used: BTreeMap<i32, Decimal>,
    /// Payables not yet gathered into a period, per payee, kind and cap year.
    pub(crate) unsettled: BTreeMap<(Uscc, PayableKind, i32), Decimal>,
    pub(crate) periods: Vec<Period>,
    pub(crate) payouts: BTreeMap<String, PayoutRecord>,
    pub(crate) closed_years: BTreeSet<i32>,
}

/// What an accepted submission will do to the state.
#[derive(Debug, Clone)]
enum Effect {
    Record { key: RecordKey, summary: RecordSummary },
    Reversal { key: RecordKey, summary: RecordSummary, returned_to_voucher: bool },
    Register(Entity),
    AddKey(Uscc, PublicKey),
    RevokeKey(PublicKey),
    Update(Uscc, EntityUpdate),
    IssueVoucher(Voucher),
    RevokeVoucher(String),
    Authorize { voucher: String, provider: Uscc, limit: Option<Decimal> },
    Withdraw { voucher: String, provider: Uscc },
    ClosePeriod { name: String, lines: Vec<StatementLine> },
    Payout { bank_ref: String, record: PayoutRecord },
    CloseYear(i32),
}

#[derive(Debug, Clone, Default)]
struct EntityUpdate {
    name: Option<String>,
    provider: Option<bool>,
    renter_eligible: Option<bool>,
    supplier_eligible: Option<bool>,
    opc: Option<bool>,
    data_supplier: Option<bool>,
    related_group: Option<Option<String>>,
}

struct Accepted {
    body: Body,
    effect: Effect,
    request: Option<(RequestKey, PayloadHash)>,
}

/// An accepted usage record: its entry holds the signed record and its money lines.
fn usage_accepted(signed: Signed, lines: Lines, effect: Effect) -> Accepted {
    Accepted { body: Body::Usage { input: signed, lines }, effect, request: None }
}

enum Refusal {
    Duplicate(Duplicate),
    Rejected(Rejection),
}

impl From<Rejection> for Refusal {
    fn from(r: Rejection) -> Self {
        Refusal::Rejected(r)
    }
}

impl From<Malformed> for Refusal {
    fn from(m: Malformed) -> Self {
        Refusal::Rejected(m.into())
    }
}

fn reject(code: RejectCode, detail: impl Into<String>) -> Refusal {
    Refusal::Rejected(Rejection::new(code, detail))
}

pub(crate) fn payload_hash(payload: &[u8]) -> PayloadHash {
    Sha256::digest(payload).into()
}

/// Related parties (关联方): the same entity, or two entities sharing a group label.
pub fn related(a: &Entity, b: &Entity) -> bool {
    a.id == b.id || matches!((&a.related_group, &b.related_group), (Some(x), Some(y)) if x == y)
}

/// Whether a public key may be registered: a canonical, valid point of large order.
fn key_is_acceptable(key: &PublicKey) -> bool {
    crate::sig::check_public_key(key).is_ok()
}

fn add(map: &mut BTreeMap<(Uscc, PayableKind, i32), Decimal>, key: (Uscc, PayableKind, i32), amount: Decimal) {
    if amount.is_zero() {
        return;
    }
    let v = map.entry(key).or_insert(Decimal::ZERO);
    *v += amount;
    if v.is_zero() {
        map.remove(&key);
    }
}

impl Ledger {
    /// Starts a new ledger: the program is validated and recorded in entry 0.
    pub fn create(genesis: Genesis, time_ms: i64) -> Result<(Ledger, Entry), crate::program::ProgramError> {
        Program::from_toml(&genesis.program_toml)?;
        let entry = Entry { seq: 0, time_ms, body: Body::Genesis(genesis) };
        let ledger = Ledger::from_genesis(&entry).expect("a freshly built genesis entry is valid");
        Ok((ledger, entry))
    }

    /// The state right after entry 0.
    pub fn from_genesis(entry: &Entry) -> Result<Ledger, Divergence> {
        let diverge = |what: String| Divergence { seq: entry.seq, what };
        let Body::Genesis(genesis) = &entry.body else {
            return Err(diverge("the first entry is not a genesis entry".into()));
        };
        if entry.seq != 0 {
            return Err(diverge("the genesis entry must be entry 0".into()));
        }
        let program = Program::from_toml(&genesis.program_toml).map_err(|e| diverge(format!("program: {e}")))?;
        if program.to_toml() != genesis.program_toml {
            return Err(diverge("the program is not in canonical form".into()));
        }
        Ok(Ledger {
            genesis: genesis.clone(),
            program,
            next_seq: 1,
            last_time_ms: entry.time_ms,
            entities: BTreeMap::new(),
            keys: HashMap::new(),
            vouchers: BTreeMap::new(),
            holder_issued: BTreeMap::new(),
            kind_issued: BTreeMap::new(),
            renter_used: BTreeMap::new(),
            supplier_used: BTreeMap::new(),
            budget_used: BTreeMap::new(),
            unsettled: BTreeMap::new(),
            periods: Vec::new(),
            payouts: BTreeMap::new(),
            closed_years: BTreeSet::new(),
        })
    }

    // ----- reading -----

    pub fn program(&self) -> &Program {
        &self.program
    }
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }
    /// The sequence number the next entry will get; also the number of entries.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
    pub fn last_time_ms(&self) -> i64 {
        self.last_time_ms
    }
    pub fn entity(&self, id: &Uscc) -> Option<&Entity> {
        self.entities.get(id)
    }
    pub fn entities(&self) -> impl Iterator<Item = &Entity> {
        self.entities.values()
    }
    /// Which role key of the genesis `key` is (admin, finance, ledger), if any.
    pub fn role_of(&self, key: &PublicKey) -> Option<&'static str> {
        let g = &self.genesis;
        if *key == g.admin_key {
            Some("admin")
        } else if *key == g.finance_key {
            Some("finance")
        } else if *key == g.ledger_key {
            Some("ledger signing")
        } else {
            None
        }
    }

    pub fn key(&self, key: &PublicKey) -> Option<KeyState> {
        self.keys.get(key).copied()
    }
    pub fn voucher(&self, id: &str) -> Option<&Voucher> {
        self.vouchers.get(id)
    }
    pub fn vouchers(&self) -> impl Iterator<Item = &Voucher> {
        self.vouchers.values()
    }
    /// The vouchers with an id after `after` (all with `None`), in id order.
    pub fn vouchers_after(&self, after: Option<&str>) -> impl Iterator<Item = &Voucher> {
        use std::ops::Bound;
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.vouchers.range::<str, _>((start, Bound::Unbounded)).map(|(_, v)| v)
    }
    pub fn renter_used(&self, renter: &Uscc, year: i32) -> Decimal {
        self.renter_used.get(&(*renter, year)).copied().unwrap_or_default()
    }
    pub fn supplier_used(&self, supplier: &Uscc, year: i32) -> Decimal {
        self.supplier_used.get(&(*supplier, year)).copied().unwrap_or_default()
    }
    /// Renter and supplier subsidy granted to `id`, per cap year with any.
    pub fn cap_use(&self, id: &Uscc) -> BTreeMap<i32, (Decimal, Decimal)> {
        let mut out: BTreeMap<i32, (Decimal, Decimal)> = BTreeMap::new();
        for (&(_, y), &v) in self.renter_used.range((*id, i32::MIN)..=(*id, i32::MAX)) {
            out.entry(y).or_default().0 = v;
        }
        for (&(_, y), &v) in self.supplier_used.range((*id, i32::MIN)..=(*id, i32::MAX)) {
            out.entry(y).or_default().1 = v;
        }
        out
    }
    pub fn budget_used(&self, year: i32) -> Decimal {
        self.budget_used.get(&year).copied().unwrap_or_default()
    }
    pub fn unsettled(&self) -> &BTreeMap<(Uscc, PayableKind, i32), Decimal> {
        &self.unsettled
    }
    pub fn periods(&self) -> &[Period] {
        &self.periods
    }
    pub fn period(&self, name: &str) -> Option<&Period> {
        self.periods.iter().find(|p| p.name == name)
    }
    pub fn payouts(&self) -> &BTreeMap<String, PayoutRecord> {
        &self.payouts
    }
    pub fn closed_years(&self) -> &BTreeSet<i32> {
        &self.closed_years
    }

    // ----- deciding -----

    /// Decides one submission at the ledger's time `time_ms` (clamped so the log's time
    /// never goes backwards). `signature_ok` is the verdict of the signature check over the
    /// input's domain tag and payload, made beforehand (in parallel, in batches). When the
    /// submission is accepted its entry has already been applied.
    pub fn decide(&mut self, index: &mut dyn Index, time_ms: i64, input: &Input, signature_ok: bool) -> Decision {
        self.decide_parsed(index, time_ms, input, signature_ok, None)
    }

    /// [`Ledger::decide`] of a usage record whose payload was already decoded and field
    /// checked: `parsed` must be `validate::parse_usage(&input.signed.payload)`, possibly
    /// [`validate::ParsedUsage::trimmed`] (the verification threads make it, so the one
    /// writer does not). Every check runs in the
    /// same order as in `decide`, and its errors are given at the same step; `None` decodes
    /// here.
    pub fn decide_parsed(
        &mut self,
        index: &mut dyn Index,
        time_ms: i64,
        input: &Input,
        signature_ok: bool,
        parsed: Option<&Result<validate::ParsedUsage, Malformed>>,
    ) -> Decision {
        let time_ms = time_ms.max(self.last_time_ms);
        let outcome = self.evaluate(index, time_ms, input, signature_ok, parsed);
        self.conclude(index, time_ms, outcome)
    }

    /// [`Ledger::decide_parsed`] for a caller that has no further use for the input: an
    /// accepted usage record's signed bytes move into its entry instead of being copied
    /// (`input.signed` is then left empty). The sequencer decides this way; the decision
    /// is the same.
    pub fn decide_taking(
        &mut self,
        index: &mut dyn Index,
        time_ms: i64,
        input: &mut Input,
        signature_ok: bool,
        parsed: Option<&Result<validate::ParsedUsage, Malformed>>,
    ) -> Decision {
        if input.kind != InputKind::Usage {
            return self.decide_parsed(index, time_ms, input, signature_ok, parsed);
        }
        let time_ms = time_ms.max(self.last_time_ms);
        let outcome = Self::signed_as_its_kind(input, signature_ok)
            .and_then(|()| self.eval_usage(index, time_ms, &input.signed, parsed))
            .map(|(lines, effect)| {
                let empty = Signed::single(Vec::new(), [0; 32], [0; 64]);
                usage_accepted(std::mem::replace(&mut input.signed, empty), lines, effect)
            });
        self.conclude(index, time_ms, outcome)
    }

    /// Applies an accepted submission's effect and makes its entry, or passes the refusal on.
    fn conclude(&mut self, index: &mut dyn Index, time_ms: i64, outcome: Result<Accepted, Refusal>) -> Decision {
        match outcome {
            Err(Refusal::Duplicate(d)) => Decision::Duplicate(d),
            Err(Refusal::Rejected(r)) => Decision::Rejected(r),
            Ok(accepted) => {
                let entry = Entry { seq: self.next_seq, time_ms, body: accepted.body };
                self.mutate(index, entry.seq, time_ms, &accepted.effect, accepted.request);
                Decision::Accepted(entry)
            }
        }
    }

    /// Replays a stored entry: its input must be accepted again at its recorded time with
    /// exactly the stored outcome. Signatures are not re-checked here (the verifier checks
    /// them separately, in batches).
    pub fn apply(&mut self, index: &mut dyn Index, entry: &Entry) -> Result<(), Divergence> {
        let diverge = |what: String| Divergence { seq: entry.seq, what };
        if entry.seq != self.next_seq {
            return Err(diverge(format!("expected entry {} here", self.next_seq)));
        }
        if entry.time_ms < self.last_time_ms {
            return Err(diverge("time goes backwards".into()));
        }
        let kind = match &entry.body {
            Body::Genesis(_) => return Err(diverge("a second genesis entry".into())),
            Body::Usage { .. } => InputKind::Usage,
            Body::Corpus { .. } => InputKind::Corpus,
            Body::Reversal { .. } => InputKind::Reversal,
            Body::Admin { .. } => InputKind::Admin,
            Body::Holder { .. } => InputKind::Holder,
            Body::Finance { .. } => InputKind::Finance,
        };
        let signed = entry.body.signed().expect("not genesis").clone();
        let input = Input { kind, signed };
        match self.evaluate(index, entry.time_ms, &input, true, None) {
            Err(Refusal::Duplicate(d)) => Err(diverge(format!("replays as a duplicate of entry {}", d.seq))),
            Err(Refusal::Rejected(r)) => Err(diverge(format!("replays as rejected: {} {}", r.code, r.detail))),
            Ok(accepted) => {
                if accepted.body != entry.body {
                    return Err(diverge(format!(
                        "stored outcome differs from the recomputed one: stored {:?}, recomputed {:?}",
                        outcome_of(&entry.body),
                        outcome_of(&accepted.body)
                    )));
                }
                self.mutate(index, entry.seq, entry.time_ms, &accepted.effect, accepted.request);
                Ok(())
            }
        }
    }

    fn evaluate(
        &self,
        index: &dyn Index,
        time_ms: i64,
        input: &Input,
        signature_ok: bool,
        parsed: Option<&Result<validate::ParsedUsage, Malformed>>,
    ) -> Result<Accepted, Refusal> {
        Self::signed_as_its_kind(input, signature_ok)?;
        match input.kind {
            InputKind::Usage => self
                .eval_usage(index, time_ms, &input.signed, parsed)
                .map(|(lines, effect)| usage_accepted(input.signed.clone(), lines, effect)),
            InputKind::Corpus => self.eval_corpus(index, time_ms, &input.signed),
            InputKind::Reversal => self.eval_reversal(index, time_ms, &input.signed),
            InputKind::Admin => self.eval_admin(index, &input.signed),
            InputKind::Holder => self.eval_holder(index, &input.signed),
            InputKind::Finance => self.eval_finance(index, &input.signed),
        }
    }

    /// The first checks of every input, before its kind's own: the signature holds, and
    /// only usage records come signed in batches.
    fn signed_as_its_kind(input: &Input, signature_ok: bool) -> Result<(), Refusal> {
        if !signature_ok {
            return Err(reject(RejectCode::BadSignature, "the signature does not verify for this message type"));
        }
        if input.signed.batch.is_some() && input.kind != InputKind::Usage {
            return Err(reject(RejectCode::BadSignature, "only usage records are signed in batches"));
        }
        Ok(())
    }

    /// The owner of a registered, unrevoked key.
    fn signer(&self, key: &PublicKey) -> Result<&Entity, Refusal> {
        let state =
            self.keys.get(key).ok_or_else(|| reject(RejectCode::UnknownKey, "the signing key is not registered"))?;
        if state.revoked {
            return Err(reject(RejectCode::RevokedKey, format!("the signing key of {} was revoked", state.owner)));
        }
        Ok(self.entities.get(&state.owner).expect("every key has an owner"))
    }

    fn year_closed(&self, year: i32) -> Result<(), Refusal> {
        if self.closed_years.contains(&year) {
            return Err(reject(RejectCode::YearClosed, format!("cap year {year} is closed")));
        }
        Ok(())
    }

    fn not_future(time_ms: i64, t: i64, field: &str) -> Result<(), Refusal> {
        if i128::from(t) * 1000 > i128::from(time_ms) + i128::from(FUTURE_TOLERANCE_MS) {
            return Err(reject(
                RejectCode::FutureUsage,
                format!("{field} is more than 5 minutes after the ledger's clock"),
            ));
        }
        Ok(())
    }

    /// The §5 voucher check for a record of `provider` for `renter` at time `t`.
    fn voucher_valid(
        &self,
        voucher_id: &str,
        kind: VoucherKind,
        provider: &Entity,
        renter: &Uscc,
        t: i64,
    ) -> Result<&Voucher, Refusal> {
        let invalid = |why: String| reject(RejectCode::VoucherInvalid, why);
        let v = self.vouchers.get(voucher_id).ok_or_else(|| invalid(format!("no voucher {voucher_id}")))?;
        if v.holder != *renter {
            return Err(invalid(format!("voucher {voucher_id} is held by {}, not by {renter}", v.holder)));
        }
        if v.kind != kind {
            return Err(invalid(format!("voucher {voucher_id} is a {} voucher", v.kind.as_str())));
        }
        if v.revoked {
            return Err(invalid(format!("voucher {voucher_id} is revoked")));
        }
        if !(v.valid_from <= t && t < v.valid_until) {
            return Err(invalid(format!("voucher {voucher_id} is not valid at the record's time")));
        }
        match v.authorizations.get(&provider.id) {
            Some(a) if !a.withdrawn => {}
            _ => {
                return Err(invalid(format!("{} holds no authorization on voucher {voucher_id}", provider.id)));
            }
        }
        let holder = self.entities.get(&v.holder).expect("voucher holders are registered");
        if related(provider, holder) {
            return Err(invalid(format!("{} is a related party of the holder", provider.id)));
        }
        Ok(v)
    }

    /// The record-id check (§5 step 2): the same bytes are a duplicate, other bytes a conflict.
    fn dedupe_record(index: &dyn Index, key: &RecordKey, hash: &PayloadHash) -> Result<(), Refusal> {
        if let Some(s) = index.record(key) {
            if s.payload_hash == *hash {
                return Err(Refusal::Duplicate(Duplicate { seq: s.facts.seq, lines: Some(s.facts.lines) }));
            }
            return Err(reject(
                RejectCode::Conflict,
                format!("record {} was already accepted with different content (entry {})", key.record_id, s.facts.seq),
            ));
        }
        Ok(())
    }

    fn eval_usage(
        &self,
        index: &dyn Index,
        time_ms: i64,
        signed: &Signed,
        parsed: Option<&Result<validate::ParsedUsage, Malformed>>,
    ) -> Result<(Lines, Effect), Refusal> {
        let owner = self.signer(&signed.public_key)?;
        if !owner.flags.provider {
            return Err(reject(RejectCode::NotAProvider, format!("{} is not a registered provider", owner.id)));
        }
        let here;
        let parsed = match parsed {
            Some(p) => p,
            None => {
                here = validate::parse_usage(&signed.payload);
                &here
            }
        };
        let parsed = parsed.as_ref().map_err(|m| Rejection::from(m.clone()))?;
        let record = &parsed.record;
        if record.provider_id != owner.id.as_str() {
            return Err(reject(
                RejectCode::ProviderMismatch,
                format!("provider_id {:?} is not the key's owner {}", record.provider_id, owner.id),
            ));
        }
        let hash = parsed.payload_hash;
        let key = RecordKey { kind: RecordKind::Usage, provider: owner.id, record_id: record.record_id.clone() };
        Self::dedupe_record(index, &key, &hash)?;
        let u = parsed.usage.as_ref().map_err(|m| Rejection::from(m.clone()))?;
        let year = self.program.cap_year(u.end);
        self.year_closed(year)?;
        let renter = self
            .entities
            .get(&u.renter)
            .ok_or_else(|| reject(RejectCode::UnknownRenter, format!("renter {} is not registered", u.renter)))?;
        Self::not_future(time_ms, u.end, "end")?;
        // gpu_hours × 3600 ≤ gpu_count × span, in exact integers of micro-GPU-hours.
        let span = Decimal::from(u.end - u.start);
        if u.gpu_hours * Decimal::from(3600) > Decimal::from(u.gpu_count) * span {
            return Err(reject(
                RejectCode::ImpossibleUsage,
                format!("{} GPU-hours exceed {} GPUs over {} seconds", u.gpu_hours, u.gpu_count, u.end - u.start),
            ));
        }
        let expected = round_fen(u.gpu_hours * u.unit_price);
        if u.amount != expected {
            return Err(reject(
                RejectCode::AmountMismatch,
                format!("amount {} is not gpu_hours × unit_price = {}", u.amount, money::fmt_money(expected)),
            ));
        }
        let voucher = match &u.voucher_id {
            None => None,
            Some(id) => Some(self.voucher_valid(id, VoucherKind::Compute, owner, &u.renter, u.end)?),
        };
        let lines = self.settle_usage(u, owner, renter, voucher);
        let facts = RecordFacts {
            seq: self.next_seq,
            kind: RecordKind::Usage,
            provider: owner.id,
            renter: u.renter,
            voucher_id: u.voucher_id.clone(),
            gpu_hours: u.gpu_hours,
            amount: u.amount,
            lines,
        };
        Ok((lines, Effect::Record { key, summary: RecordSummary { facts, payload_hash: hash, reversed_by: None } }))
    }

    /// SPEC §6, steps 1–5, for a record that passed every check of §5.
    fn settle_usage(
        &self,
        u: &validate::Usage,
        provider: &Entity,
        renter: &Entity,
        voucher: Option<&Voucher>,
    ) -> Lines {
        let p = &self.program;
        let year = p.cap_year(u.end);
        let a = u.amount;
        // Step 1: the window.
        if !p.in_window(u.end) {
            return Lines::zero(year, LineReason::OutsideWindow, LineReason::OutsideWindow, LineReason::OutsideWindow);
        }
        // Step 3 (step 2 only affects R and S): the voucher draw.
        let (v, v_reason) = match voucher {
            None => (Decimal::ZERO, LineReason::NoVoucher),
            Some(vch) => {
                let wanted = round_fen(a * p.compute_voucher_coverage);
                self.draw(vch, &provider.id, wanted)
            }
        };
        // Step 2: related parties earn no subsidy.
        if related(provider, renter) {
            let mut l = Lines::zero(year, v_reason, LineReason::RelatedParty, LineReason::RelatedParty);
            l.voucher = v;
            return l;
        }
        let (renter_rate, supplier_rate) = p.rates_for(&u.gpu_model);
        let budget_left = p.subsidy_budget.map(|b| b - self.budget_used(year));
        // Step 4: the renter subsidy on what the voucher did not pay (就高、不重复).
        let (r, r_uncapped, r_reason) = if !renter.flags.renter_eligible {
            (Decimal::ZERO, Decimal::ZERO, LineReason::NotEligible)
        } else if (a - v).is_zero() {
            (Decimal::ZERO, Decimal::ZERO, LineReason::CoveredByVoucher)
        } else {
            let uncapped = round_fen((a - v) * renter_rate);
            let cap_left = p.renter_cap - self.renter_used(&renter.id, year);
            let (r, reason) = capped(uncapped, cap_left, budget_left);
            (r, uncapped, reason)
        };
        // Step 5: the supplier subsidy on the whole amount, within what the budget has left after R.
        let (s, s_uncapped, s_reason) = if !provider.flags.supplier_eligible {
            (Decimal::ZERO, Decimal::ZERO, LineReason::NotEligible)
        } else {
            let uncapped = round_fen(a * supplier_rate);
            let cap_left = p.supplier_cap - self.supplier_used(&provider.id, year);
            let (s, reason) = capped(uncapped, cap_left, budget_left.map(|b| b - r));
            (s, uncapped, reason)
        };
        Lines {
            cap_year: year,
            voucher: v,
            voucher_reason: v_reason,
            renter: r,
            renter_uncapped: r_uncapped,
            renter_reason: r_reason,
            supplier: s,
            supplier_uncapped: s_uncapped,
            supplier_reason: s_reason,
        }
    }

    /// `V = min(wanted, balance, authorization left)`; `VOUCHER_EXHAUSTED` when the voucher
    /// or the authorization has nothing left.
    fn draw(&self, v: &Voucher, provider: &Uscc, wanted: Decimal) -> (Decimal, LineReason) {
        let balance = v.available();
        let auth = v.authorizations.get(provider).expect("validated: the provider is authorized");
        let mut left = balance;
        if let Some(a) = auth.left() {
            left = money::min(left, a);
        }
        if left.is_zero() {
            return (Decimal::ZERO, LineReason::VoucherExhausted);
        }
        (money::min(wanted, left), LineReason::Voucher)
    }

    fn eval_corpus(&self, index: &dyn Index, time_ms: i64, signed: &Signed) -> Result<Accepted, Refusal> {
        let owner = self.signer(&signed.public_key)?;
        if !owner.flags.data_supplier {
            return Err(reject(
                RejectCode::NotADataSupplier,
                format!("{} is not a registered data supplier", owner.id),
            ));
        }
        let record: wire::CorpusRecord = validate::decode(&signed.payload)?;
        if record.supplier_id != owner.id.as_str() {
            return Err(reject(
                RejectCode::ProviderMismatch,
                format!("supplier_id {:?} is not the key's owner {}", record.supplier_id, owner.id),
            ));
        }
        let hash = payload_hash(&signed.payload);
        let key = RecordKey { kind: RecordKind::Corpus, provider: owner.id, record_id: record.record_id.clone() };
        Self::dedupe_record(index, &key, &hash)?;
        let c = validate::corpus(&record)?;
        let year = self.program.cap_year(c.purchased_at);
        self.year_closed(year)?;
        if !self.entities.contains_key(&c.buyer) {
            return Err(reject(RejectCode::UnknownRenter, format!("buyer {} is not registered", c.buyer)));
        }
        Self::not_future(time_ms, c.purchased_at, "purchased_at")?;
        let voucher = self.voucher_valid(&c.voucher_id, VoucherKind::Corpus, owner, &c.buyer, c.purchased_at)?;
        let na = LineReason::NotApplicable;
        let lines = if self.program.in_window(c.purchased_at) {
            let (v, v_reason) = self.draw(voucher, &owner.id, c.amount);
            let mut l = Lines::zero(year, v_reason, na, na);
            l.voucher = v;
            l
        } else {
            Lines::zero(year, LineReason::OutsideWindow, LineReason::OutsideWindow, LineReason::OutsideWindow)
        };
        let facts = RecordFacts {
            seq: self.next_seq,
            kind: RecordKind::Corpus,
            provider: owner.id,
            renter: c.buyer,
            voucher_id: Some(c.voucher_id.clone()),
            gpu_hours: Decimal::ZERO,
            amount: c.amount,
            lines,
        };
        Ok(Accepted {
            body: Body::Corpus { input: signed.clone(), lines },
            effect: Effect::Record { key, summary: RecordSummary { facts, payload_hash: hash, reversed_by: None } },
            request: None,
        })
    }

    fn eval_reversal(&self, index: &dyn Index, time_ms: i64, signed: &Signed) -> Result<Accepted, Refusal> {
        let owner = self.signer(&signed.public_key)?;
        let rev: wire::Reversal = validate::decode(&signed.payload)?;
        if rev.provider_id != owner.id.as_str() {
            return Err(reject(
                RejectCode::ProviderMismatch,
                format!("provider_id {:?} is not the key's owner {}", rev.provider_id, owner.id),
            ));
        }
        let record_id = validate::id("record_id", &rev.record_id)?;
        validate::text("reason", &rev.reason, validate::REASON_CHARS_MAX)?;
        let kind = match wire::RecordKind::try_from(rev.kind) {
            Ok(wire::RecordKind::Usage) => RecordKind::Usage,
            Ok(wire::RecordKind::Corpus) => RecordKind::Corpus,
            Err(_) => {
                return Err(Malformed { field: "kind", detail: format!("unknown record kind {}", rev.kind) }.into());
            }
        };
        let key = RecordKey { kind, provider: owner.id, record_id };
        let summary = index.record(&key).ok_or_else(|| {
            reject(
                RejectCode::UnknownRecord,
                format!("{} has no accepted {} record {}", owner.id, kind.as_str(), key.record_id),
            )
        })?;
        if let Some(first) = summary.reversed_by {
            return Err(Refusal::Duplicate(Duplicate { seq: first, lines: Some(summary.facts.lines.negated()) }));
        }
        let facts = summary.facts.clone();
        let returned_to_voucher = match &facts.voucher_id {
            Some(id) if !facts.lines.voucher.is_zero() => {
                let v = self.vouchers.get(id).expect("a drawn voucher exists");
                v.open_at(time_ms.div_euclid(1000))
            }
            _ => false,
        };
        Ok(Accepted {
            body: Body::Reversal { input: signed.clone(), reversed: facts, returned_to_voucher },
            effect: Effect::Reversal { key, summary, returned_to_voucher },
            request: None,
        })
    }

    /// The request-id check shared by admin, holder and finance requests.
    fn dedupe_request(index: &dyn Index, key: &RequestKey, hash: &PayloadHash) -> Result<(), Refusal> {
        if let Some(s) = index.request(key) {
            if s.payload_hash == *hash {
                return Err(Refusal::Duplicate(Duplicate { seq: s.seq, lines: None }));
            }
            return Err(reject(
                RejectCode::Conflict,
                format!("request id {} was already used for a different request (entry {})", key.request_id, s.seq),
            ));
        }
        Ok(())
    }

    fn entity_of(&self, field: &'static str, id: &str) -> Result<&Entity, Refusal> {
        let u = validate::uscc(field, id)?;
        self.entities.get(&u).ok_or_else(|| reject(RejectCode::UnknownEntity, format!("{u} is not registered")))
    }

    fn eval_admin(&self, index: &dyn Index, signed: &Signed) -> Result<Accepted, Refusal> {
        if signed.public_key != self.genesis.admin_key {
            return Err(reject(RejectCode::Unauthorized, "registry changes must be signed by the admin key"));
        }
        let req: wire::AdminRequest = validate::decode(&signed.payload)?;
        let request_id = validate::id("request_id", &req.request_id)?;
        let hash = payload_hash(&signed.payload);
        let rkey = RequestKey { namespace: RequestNamespace::Admin, request_id };
        Self::dedupe_request(index, &rkey, &hash)?;
        use wire::admin_request::Op;
        let effect = match req.op {
            None => {
                return Err(Malformed { field: "op", detail: "no operation given".into() }.into());
            }
            Some(Op::RegisterEntity(r)) => {
                let id = validate::uscc("id", &r.id)?;
                let name = validate::entity_name("name", &r.name)?;
                let related_group = validate::opt_id("related_group", &r.related_group)?;
                if self.entities.contains_key(&id) {
                    return Err(reject(RejectCode::EntityExists, format!("{id} is already registered")));
                }
                let f = r.flags.unwrap_or_default();
                Effect::Register(Entity {
                    id,
                    name,
                    flags: Flags {
                        provider: f.provider,
                        renter_eligible: f.renter_eligible,
                        supplier_eligible: f.supplier_eligible,
                        opc: f.opc,
                        data_supplier: f.data_supplier,
                    },
                    related_group,
                    keys: Vec::new(),
                })
            }
            Some(Op::AddKey(k)) => {
                let entity = self.entity_of("id", &k.id)?;
                let key = validate::public_key("public_key", &k.public_key)?;
                if !key_is_acceptable(&key) {
                    return Err(reject(
                        RejectCode::WeakKey,
                        "the public key is not a canonical ed25519 point of large order (a weak key)",
                    ));
                }
                if let Some(role) = self.role_of(&key) {
                    // A role key registered to an entity would sign usage, reversals and
                    // holder requests as that entity: role and entity keys never coincide.
                    return Err(reject(
                        RejectCode::KeyExists,
                        format!("this is the ledger's {role} key; an entity needs a key of its own"),
                    ));
                }
                if let Some(s) = self.keys.get(&key) {
                    return Err(reject(
                        RejectCode::KeyExists,
                        format!("this key is already registered to {}", s.owner),
                    ));
                }
                Effect::AddKey(entity.id, key)
            }
            Some(Op::RevokeKey(k)) => {
                let entity = self.entity_of("id", &k.id)?;
                let key = validate::public_key("public_key", &k.public_key)?;
                match self.keys.get(&key) {
                    Some(s) if s.owner == entity.id => {
                        if s.revoked {
                            return Err(reject(RejectCode::AlreadyRevoked, "this key is already revoked"));
                        }
                    }
                    _ => {
                        return Err(reject(RejectCode::UnknownKey, format!("{} has no such key", entity.id)));
                    }
                }
                Effect::RevokeKey(key)
            }
            Some(Op::UpdateEntity(u)) => {
                let entity = self.entity_of("id", &u.id)?;
                let mut up = EntityUpdate {
                    name: u.name.as_deref().map(|n| validate::entity_name("name", n)).transpose()?,
                    provider: u.provider,
                    renter_eligible: u.renter_eligible,
                    supplier_eligible: u.supplier_eligible,
                    opc: u.opc,
                    data_supplier: u.data_supplier,
                    related_group: None,
                };
                match (&u.related_group, u.clear_related_group) {
                    (Some(_), true) => {
                        return Err(Malformed {
                            field: "related_group",
                            detail: "set a group or clear it, not both".into(),
                        }
                        .into());
                    }
                    (Some(g), false) => up.related_group = Some(Some(validate::id("related_group", g)?)),
                    (None, true) => up.related_group = Some(None),
                    (None, false) => {}
                }
                let changes = up.name.is_some()
                    || up.provider.is_some()
                    || up.renter_eligible.is_some()
                    || up.supplier_eligible.is_some()
                    || up.opc.is_some()
                    || up.data_supplier.is_some()
                    || up.related_group.is_some();
                if !changes {
                    return Err(reject(RejectCode::NothingToChange, "the update names no field to change"));
                }
                Effect::Update(entity.id, up)
            }
            Some(Op::IssueVoucher(v)) => Effect::IssueVoucher(self.eval_issue(&v)?),
            Some(Op::RevokeVoucher(r)) => {
                let id = validate::id("voucher_id", &r.voucher_id)?;
                let v = self
                    .vouchers
                    .get(&id)
                    .ok_or_else(|| reject(RejectCode::UnknownVoucher, format!("no voucher {id}")))?;
                if v.revoked {
                    return Err(reject(RejectCode::AlreadyRevoked, format!("voucher {id} is already revoked")));
                }
                Effect::RevokeVoucher(id)
            }
        };
        Ok(Accepted { body: Body::Admin { input: signed.clone() }, effect, request: Some((rkey, hash)) })
    }

    fn eval_issue(&self, v: &wire::IssueVoucher) -> Result<Voucher, Refusal> {
        let id = validate::id("voucher_id", &v.voucher_id)?;
        let kind = match wire::VoucherKind::try_from(v.kind) {
            Ok(wire::VoucherKind::Compute) => VoucherKind::Compute,
            Ok(wire::VoucherKind::Corpus) => VoucherKind::Corpus,
            _ => {
                return Err(Malformed { field: "kind", detail: "must be compute or corpus".into() }.into());
            }
        };
        let face = validate::amount("face_value", &v.face_value)?;
        if face.is_zero() {
            return Err(Malformed { field: "face_value", detail: "must be greater than zero".into() }.into());
        }
        let valid_from = validate::instant("valid_from", v.valid_from)?;
        let valid_until = validate::instant("valid_until", v.valid_until)?;
        if valid_from >= valid_until {
            return Err(Malformed { field: "valid_until", detail: "must be after valid_from".into() }.into());
        }
        if self.vouchers.contains_key(&id) {
            return Err(reject(RejectCode::VoucherExists, format!("voucher {id} already exists")));
        }
        let holder = self.entity_of("holder_id", &v.holder_id)?;
        if !holder.flags.opc {
            return Err(reject(RejectCode::NotOpc, format!("{} is not a one-person company (opc)", holder.id)));
        }
        let p = &self.program;
        let (holder_max, budget) = match kind {
            VoucherKind::Compute => (p.compute_voucher_holder_max, p.compute_voucher_budget),
            VoucherKind::Corpus => (p.corpus_voucher_holder_max, p.corpus_voucher_budget),
        };
        let held = self.holder_issued.get(&(holder.id, kind)).copied().unwrap_or_default();
        if held + face > holder_max {
            return Err(reject(
                RejectCode::HolderLimit,
                format!(
                    "{} already holds {} of {} vouchers; {} more would pass the {} limit",
                    holder.id,
                    money::fmt_money(held),
                    kind.as_str(),
                    money::fmt_money(face),
                    money::fmt_money(holder_max)
                ),
            ));
        }
        if let Some(b) = budget {
            let issued = self.kind_issued.get(&kind).copied().unwrap_or_default();
            if issued + face > b {
                return Err(reject(
                    RejectCode::BudgetExceeded,
                    format!("the {} voucher budget has {} left", kind.as_str(), money::fmt_money(b - issued)),
                ));
            }
        }
        Ok(Voucher {
            id,
            holder: holder.id,
            kind,
            face_value: face,
            valid_from,
            valid_until,
            revoked: false,
            drawn: Decimal::ZERO,
            lapsed_returns: Decimal::ZERO,
            authorizations: BTreeMap::new(),
        })
    }

    fn eval_holder(&self, index: &dyn Index, signed: &Signed) -> Result<Accepted, Refusal> {
        let owner = self.signer(&signed.public_key)?;
        let req: wire::HolderRequest = validate::decode(&signed.payload)?;
        if req.holder_id != owner.id.as_str() {
            return Err(reject(
                RejectCode::SignerMismatch,
                format!("holder_id {:?} is not the key's owner {}", req.holder_id, owner.id),
            ));
        }
        let request_id = validate::id("request_id", &req.request_id)?;
        let hash = payload_hash(&signed.payload);
        let rkey = RequestKey { namespace: RequestNamespace::Holder(owner.id), request_id };
        Self::dedupe_request(index, &rkey, &hash)?;
        let voucher_of = |id: &str| -> Result<&Voucher, Refusal> {
            let id = validate::id("voucher_id", id)?;
            let v =
                self.vouchers.get(&id).ok_or_else(|| reject(RejectCode::UnknownVoucher, format!("no voucher {id}")))?;
            if v.holder != owner.id {
                return Err(reject(RejectCode::NotHolder, format!("voucher {id} is held by {}", v.holder)));
            }
            Ok(v)
        };
        use wire::holder_request::Op;
        let effect = match req.op {
            None => {
                return Err(Malformed { field: "op", detail: "no operation given".into() }.into());
            }
            Some(Op::Authorize(a)) => {
                let v = voucher_of(&a.voucher_id)?;
                let provider = self.entity_of("provider_id", &a.provider_id)?;
                let limit = if a.limit.is_empty() { None } else { Some(validate::amount("limit", &a.limit)?) };
                match v.kind {
                    VoucherKind::Compute if !provider.flags.provider => {
                        return Err(reject(
                            RejectCode::NotAProvider,
                            format!("{} is not a registered provider", provider.id),
                        ));
                    }
                    VoucherKind::Corpus if !provider.flags.data_supplier => {
                        return Err(reject(
                            RejectCode::NotADataSupplier,
                            format!("{} is not a registered data supplier", provider.id),
                        ));
                    }
                    _ => {}
                }
                if related(provider, owner) {
                    return Err(reject(
                        RejectCode::RelatedParty,
                        format!("{} is a related party of the holder", provider.id),
                    ));
                }
                if v.revoked {
                    return Err(reject(RejectCode::VoucherInvalid, format!("voucher {} is revoked", v.id)));
                }
                Effect::Authorize { voucher: v.id.clone(), provider: provider.id, limit }
            }
            Some(Op::Withdraw(w)) => {
                let v = voucher_of(&w.voucher_id)?;
                let provider = validate::uscc("provider_id", &w.provider_id)?;
                match v.authorizations.get(&provider) {
                    Some(a) if !a.withdrawn => {}
                    _ => {
                        return Err(reject(
                            RejectCode::NoAuthorization,
                            format!("{provider} holds no authorization on voucher {}", v.id),
                        ));
                    }
                }
                Effect::Withdraw { voucher: v.id.clone(), provider }
            }
        };
        Ok(Accepted { body: Body::Holder { input: signed.clone() }, effect, request: Some((rkey, hash)) })
    }

    fn eval_finance(&self, index: &dyn Index, signed: &Signed) -> Result<Accepted, Refusal> {
        if signed.public_key != self.genesis.finance_key {
            return Err(reject(RejectCode::Unauthorized, "settlement actions must be signed by the finance key"));
        }
        let req: wire::FinanceRequest = validate::decode(&signed.payload)?;
        let request_id = validate::id("request_id", &req.request_id)?;
        let hash = payload_hash(&signed.payload);
        let rkey = RequestKey { namespace: RequestNamespace::Finance, request_id };
        Self::dedupe_request(index, &rkey, &hash)?;
        use wire::finance_request::Op;
        let mut statement = Vec::new();
        let effect = match req.op {
            None => {
                return Err(Malformed { field: "op", detail: "no operation given".into() }.into());
            }
            Some(Op::ClosePeriod(c)) => {
                let name = validate::id("name", &c.name)?;
                if self.period(&name).is_some() {
                    return Err(reject(RejectCode::PeriodExists, format!("period {name} is already closed")));
                }
                statement = self
                    .unsettled
                    .iter()
                    .map(|(&(payee, kind, year), &amount)| StatementLine { payee, kind, year, amount })
                    .collect();
                Effect::ClosePeriod { name, lines: statement.clone() }
            }
            Some(Op::Payout(p)) => Effect::Payout { bank_ref: p.bank_ref.clone(), record: self.eval_payout(&p)? },
            Some(Op::CloseYear(c)) => {
                if !(2000..2200).contains(&c.year) {
                    return Err(Malformed {
                        field: "year",
                        detail: format!("{} is not a year between 2000 and 2199", c.year),
                    }
                    .into());
                }
                if self.closed_years.contains(&c.year) {
                    return Err(reject(
                        RejectCode::YearAlreadyClosed,
                        format!("cap year {} is already closed", c.year),
                    ));
                }
                Effect::CloseYear(c.year)
            }
        };
        Ok(Accepted { body: Body::Finance { input: signed.clone(), statement }, effect, request: Some((rkey, hash)) })
    }

    fn eval_payout(&self, p: &wire::Payout) -> Result<PayoutRecord, Refusal> {
        let period_name = validate::id("period", &p.period)?;
        let payee = validate::uscc("payee_id", &p.payee_id)?;
        let kind = match wire::PayableKind::try_from(p.kind) {
            Ok(wire::PayableKind::Renter) => PayableKind::Renter,
            Ok(wire::PayableKind::Supplier) => PayableKind::Supplier,
            Ok(wire::PayableKind::Voucher) => PayableKind::Voucher,
            _ => {
                return Err(Malformed { field: "kind", detail: "must be renter, supplier or voucher".into() }.into());
            }
        };
        let amount = validate::signed_amount("amount", &p.amount)?;
        let bank_ref = validate::text("bank_ref", &p.bank_ref, validate::BANK_REF_CHARS_MAX)?;
        let record =
            PayoutRecord { seq: self.next_seq, period: period_name.clone(), payee, kind, year: p.year, amount };
        if let Some(prior) = self.payouts.get(&bank_ref) {
            let same = PayoutRecord { seq: prior.seq, ..record.clone() };
            if *prior == same {
                return Err(Refusal::Duplicate(Duplicate { seq: prior.seq, lines: None }));
            }
            return Err(reject(
                RejectCode::Conflict,
                format!("bank reference {bank_ref} was already recorded for another payout (entry {})", prior.seq),
            ));
        }
        let period = self
            .period(&period_name)
            .ok_or_else(|| reject(RejectCode::UnknownPeriod, format!("no closed period {period_name}")))?;
        let line = period.lines.get(&(payee, kind, p.year)).ok_or_else(|| {
            reject(
                RejectCode::UnknownLine,
                format!("period {period_name} has no {} line for {payee} in {}", kind.as_str(), p.year),
            )
        })?;
        let owed = line.line.amount;
        if owed.is_sign_negative() != amount.is_sign_negative() {
            return Err(reject(
                RejectCode::Overpaid,
                format!(
                    "the line is {}; a payout on it must have the same sign (a claw-back is settled with a negative payout)",
                    money::fmt_money(owed)
                ),
            ));
        }
        if (line.paid + amount).abs() > owed.abs() {
            return Err(reject(
                RejectCode::Overpaid,
                format!(
                    "the line is {} and {} is already paid; {} more would pass it",
                    money::fmt_money(owed),
                    money::fmt_money(line.paid),
                    money::fmt_money(amount)
                ),
            ));
        }
        Ok(record)
    }

    // ----- changing -----

    /// The only function that changes the ledger: applies an accepted effect as entry `seq`.
    fn mutate(
        &mut self,
        index: &mut dyn Index,
        seq: u64,
        time_ms: i64,
        effect: &Effect,
        request: Option<(RequestKey, PayloadHash)>,
    ) {
        assert_eq!(seq, self.next_seq, "entries are numbered without gaps");
        assert!(time_ms >= self.last_time_ms, "the log's time never goes backwards");
        match effect {
            Effect::Record { key, summary } => self.mutate_record(index, key, summary),
            Effect::Reversal { key, summary, returned_to_voucher } => {
                self.mutate_reversal(index, seq, key, summary, *returned_to_voucher)
            }
            Effect::Register(e) => {
                assert!(self.entities.insert(e.id, e.clone()).is_none(), "entity registered twice");
            }
            Effect::AddKey(id, key) => {
                assert!(self.keys.insert(*key, KeyState { owner: *id, revoked: false }).is_none(), "key added twice");
                self.entities.get_mut(id).expect("validated").keys.push(*key);
            }
            Effect::RevokeKey(key) => {
                let k = self.keys.get_mut(key).expect("validated");
                assert!(!k.revoked);
                k.revoked = true;
            }
            Effect::Update(id, up) => {
                let e = self.entities.get_mut(id).expect("validated");
                if let Some(n) = &up.name {
                    e.name.clone_from(n);
                }
                let f = &mut e.flags;
                for (field, value) in [
                    (&mut f.provider, up.provider),
                    (&mut f.renter_eligible, up.renter_eligible),
                    (&mut f.supplier_eligible, up.supplier_eligible),
                    (&mut f.opc, up.opc),
                    (&mut f.data_supplier, up.data_supplier),
                ] {
                    if let Some(v) = value {
                        *field = v;
                    }
                }
                if let Some(g) = &up.related_group {
                    e.related_group.clone_from(g);
                }
            }
            Effect::IssueVoucher(v) => {
                *self.holder_issued.entry((v.holder, v.kind)).or_default() += v.face_value;
                *self.kind_issued.entry(v.kind).or_default() += v.face_value;
                let (max, budget) = match v.kind {
                    VoucherKind::Compute => {
                        (self.program.compute_voucher_holder_max, self.program.compute_voucher_budget)
                    }
                    VoucherKind::Corpus => (self.program.corpus_voucher_holder_max, self.program.corpus_voucher_budget),
                };
                assert!(self.holder_issued[&(v.holder, v.kind)] <= max, "per-holder voucher maximum passed");
                if let Some(b) = budget {
                    assert!(self.kind_issued[&v.kind] <= b, "voucher budget passed");
                }
                assert!(self.vouchers.insert(v.id.clone(), v.clone()).is_none(), "voucher issued twice");
            }
            Effect::RevokeVoucher(id) => {
                self.vouchers.get_mut(id).expect("validated").revoked = true;
            }
            Effect::Authorize { voucher, provider, limit } => {
                let v = self.vouchers.get_mut(voucher).expect("validated");
                let a = v.authorizations.entry(*provider).or_insert(Authorization {
                    limit: None,
                    drawn: Decimal::ZERO,
                    withdrawn: false,
                });
                a.limit = *limit;
                a.withdrawn = false;
            }
            Effect::Withdraw { voucher, provider } => {
                let v = self.vouchers.get_mut(voucher).expect("validated");
                v.authorizations.get_mut(provider).expect("validated").withdrawn = true;
            }
            Effect::ClosePeriod { name, lines } => {
                let mut map = BTreeMap::new();
                for l in lines {
                    let k = (l.payee, l.kind, l.year);
                    assert_eq!(self.unsettled.remove(&k), Some(l.amount), "a period gathers exactly what is unsettled");
                    map.insert(k, PeriodLine { line: l.clone(), paid: Decimal::ZERO });
                }
                assert!(self.unsettled.is_empty(), "a period gathers every unsettled payable");
                self.periods.push(Period { name: name.clone(), closed_at: seq, lines: map });
            }
            Effect::Payout { bank_ref, record } => {
                let period = self.periods.iter_mut().find(|p| p.name == record.period).expect("validated");
                let line = period.lines.get_mut(&(record.payee, record.kind, record.year)).expect("validated");
                line.paid += record.amount;
                assert!(line.paid.abs() <= line.line.amount.abs(), "paid never exceeds payable");
                assert_eq!(line.paid.is_sign_negative() && !line.paid.is_zero(), line.line.amount.is_sign_negative());
                assert!(self.payouts.insert(bank_ref.clone(), PayoutRecord { seq, ..record.clone() }).is_none());
            }
            Effect::CloseYear(y) => {
                assert!(self.closed_years.insert(*y), "year closed twice");
            }
        }
        if let Some((key, payload_hash)) = request {
            index.put_request(&key, &RequestSummary { seq, payload_hash });
        }
        self.next_seq += 1;
        self.last_time_ms = time_ms;
    }

    fn mutate_record(&mut self, index: &mut dyn Index, key: &RecordKey, summary: &RecordSummary) {
        let f = &summary.facts;
        let l = &f.lines;
        assert_eq!(f.seq, self.next_seq);
        // 0 ≤ V ≤ A, and R ≤ round(rate × (A − V)) (its uncapped value), S likewise.
        assert!(l.voucher >= Decimal::ZERO && l.voucher <= f.amount, "0 <= V <= A");
        assert!(l.renter >= Decimal::ZERO && l.renter <= l.renter_uncapped, "0 <= R <= uncapped R");
        assert!(l.supplier >= Decimal::ZERO && l.supplier <= l.supplier_uncapped, "0 <= S <= uncapped S");
        self.count_lines(&f.provider, &f.renter, f.voucher_id.as_deref(), l, Decimal::ONE, true);
        index.put_record(key, summary);
    }

    fn mutate_reversal(
        &mut self,
        index: &mut dyn Index,
        seq: u64,
        key: &RecordKey,
        summary: &RecordSummary,
        returned_to_voucher: bool,
    ) {
        assert!(summary.reversed_by.is_none(), "a record is reversed at most once");
        let f = &summary.facts;
        self.count_lines(
            &f.provider,
            &f.renter,
            f.voucher_id.as_deref(),
            &f.lines,
            Decimal::NEGATIVE_ONE,
            returned_to_voucher,
        );
        let mut s = summary.clone();
        s.reversed_by = Some(seq);
        index.put_record(key, &s);
    }

    /// Adds (`sign` = 1) or takes back (`sign` = −1) a record's lines: caps, budget,
    /// voucher and authorization, payables. Checks the §6 invariants after the change.
    fn count_lines(
        &mut self,
        provider: &Uscc,
        renter: &Uscc,
        voucher_id: Option<&str>,
        l: &Lines,
        sign: Decimal,
        returned: bool,
    ) {
        let y = l.cap_year;
        let (r, s, v) = (times_sign(l.renter, sign), times_sign(l.supplier, sign), times_sign(l.voucher, sign));
        let p = &self.program;
        if !r.is_zero() {
            let used = self.renter_used.entry((*renter, y)).or_default();
            *used += r;
            assert!(*used >= Decimal::ZERO && *used <= p.renter_cap, "renter cap holds");
        }
        if !s.is_zero() {
            let used = self.supplier_used.entry((*provider, y)).or_default();
            *used += s;
            assert!(*used >= Decimal::ZERO && *used <= p.supplier_cap, "supplier cap holds");
        }
        if !(r + s).is_zero() {
            let used = self.budget_used.entry(y).or_default();
            *used += r + s;
            assert!(*used >= Decimal::ZERO, "budget use is never negative");
            if let Some(b) = p.subsidy_budget {
                assert!(*used <= b, "subsidy budget holds");
            }
        }
        if !v.is_zero() {
            let id = voucher_id.expect("a voucher line names its voucher");
            let vch = self.vouchers.get_mut(id).expect("drawn vouchers exist");
            vch.drawn += v;
            if returned {
                let a = vch.authorizations.get_mut(provider).expect("drawn through an authorization");
                a.drawn += v;
                assert!(a.drawn >= Decimal::ZERO, "authorization draws are never negative");
                if let Some(limit) = a.limit.filter(|_| sign.is_sign_positive()) {
                    assert!(a.drawn <= limit, "authorization limit holds");
                }
            } else {
                // A reversal after the voucher closed: the money lapses instead of returning.
                vch.lapsed_returns -= v;
            }
            assert!(
                vch.drawn >= Decimal::ZERO && vch.drawn + vch.lapsed_returns <= vch.face_value,
                "draws stay within face value"
            );
        }
        add(&mut self.unsettled, (*renter, PayableKind::Renter, y), r);
        add(&mut self.unsettled, (*provider, PayableKind::Supplier, y), s);
        add(&mut self.unsettled, (*provider, PayableKind::Voucher, y), v);
    }
}

/// The facts of an accepted usage or corpus record, read back from its entry (for reports,
/// statements and stores that keep only slim index values). `None` for other entries or a
/// payload that does not decode (never the case for entries this ledger wrote).
pub fn record_facts(entry: &Entry) -> Option<RecordFacts> {
    match &entry.body {
        Body::Usage { input, lines } => {
            let r: wire::UsageRecord = validate::decode(&input.payload).ok()?;
            let u = validate::usage(&r).ok()?;
            Some(RecordFacts {
                seq: entry.seq,
                kind: RecordKind::Usage,
                provider: u.provider,
                renter: u.renter,
                voucher_id: u.voucher_id,
                gpu_hours: u.gpu_hours,
                amount: u.amount,
                lines: *lines,
            })
        }
        Body::Corpus { input, lines } => {
            let r: wire::CorpusRecord = validate::decode(&input.payload).ok()?;
            let c = validate::corpus(&r).ok()?;
            Some(RecordFacts {
                seq: entry.seq,
                kind: RecordKind::Corpus,
                provider: c.supplier,
                renter: c.buyer,
                voucher_id: Some(c.voucher_id),
                gpu_hours: Decimal::ZERO,
                amount: c.amount,
                lines: *lines,
            })
        }
        _ => None,
    }
}

/// R when capped by what the cap and the budget have left (SPEC §6 step 4/5 reasons).
fn capped(uncapped: Decimal, cap_left: Decimal, budget_left: Option<Decimal>) -> (Decimal, LineReason) {
    let cap_left = cap_left.max(Decimal::ZERO);
    let budget_left = budget_left.map(|b| b.max(Decimal::ZERO));
    let mut granted = money::min(uncapped, cap_left);
    if let Some(b) = budget_left {
        granted = money::min(granted, b);
    }
    let reason = if granted == uncapped {
        LineReason::Granted
    } else if granted.is_zero() && cap_left.is_zero() {
        LineReason::CapExhausted
    } else if granted.is_zero() {
        LineReason::BudgetExhausted
    } else {
        LineReason::Capped
    };
    (granted, reason)
}

fn outcome_of(body: &Body) -> String {
    match body {
        Body::Usage { lines, .. } | Body::Corpus { lines, .. } => format!("{lines:?}"),
        Body::Reversal { reversed, returned_to_voucher, .. } => format!("{reversed:?} returned={returned_to_voucher}"),
        Body::Finance { statement, .. } => format!("{statement:?}"),
        other => other.kind_name().to_string(),
    }
}

impl Lines {
    /// All three lines zero, with the given reasons.
    pub fn zero(cap_year: i32, v: LineReason, r: LineReason, s: LineReason) -> Lines {
        Lines {
            cap_year,
            voucher: Decimal::ZERO,
            voucher_reason: v,
            renter: Decimal::ZERO,
            renter_uncapped: Decimal::ZERO,
            renter_reason: r,
            supplier: Decimal::ZERO,
            supplier_uncapped: Decimal::ZERO,
            supplier_reason: s,
        }
    }

    /// The lines of a reversal: −V, −R, −S (never `-0.00`).
    pub fn negated(&self) -> Lines {
        let neg = |d: Decimal| if d.is_zero() { Decimal::ZERO } else { -d };
        Lines {
            voucher: neg(self.voucher),
            renter: neg(self.renter),
            renter_uncapped: neg(self.renter_uncapped),
            supplier: neg(self.supplier),
            supplier_uncapped: neg(self.supplier_uncapped),
            ..*self
        }
    }
}
