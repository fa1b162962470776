//! Which log entries concern each company, kept incrementally so that a company's view
//! costs its own entries, not the whole log: `reports::statement` (the `EntityStatement`
//! RPC, the CLI's `suanli statement`, the CSV download) reads every entry, which at a
//! million records is seconds per view.
//!
//! The index is a list of sequence numbers per entity — the records it rented, supplied
//! or bought, the reversals of those, the payouts to it — extended on each use by reading
//! only the entries appended since the last one (and once, in the background, from the
//! start when the console is first opened). It holds nothing that is not in the log, and
//! the rows it gives are the statement's rows, column for column (`tests/tests/console.rs`
//! checks them against `suanli statement`).
//!
//! One index per ledger (per [`Shared`]), found through a small registry, so that the
//! console needs no state of its own in [`crate::web::WebState`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};

use prost::Message;
use rust_decimal::Decimal;
use suanli_core::entry::{Body, Entry};
use suanli_core::ids::Uscc;
use suanli_core::ledger::record_facts;
use suanli_core::model::RecordKind;
use suanli_core::money::{fmt_money, fmt_plain};
use suanli_core::time::format_rfc3339;
use suanli_core::wire;

use super::views::{StatementRow, StatementTotal};
use crate::service::Shared;

/// The entries that concern each entity, up to `next`.
#[derive(Debug, Default)]
pub struct EntityEntries {
    next: u64,
    offset_seconds: i32,
    by_entity: HashMap<Uscc, Vec<u64>>,
}

type Registry = Vec<(Weak<Shared>, Arc<Mutex<EntityEntries>>)>;
static INDEXES: Mutex<Registry> = Mutex::new(Vec::new());

/// The index of the ledger behind `shared`.
pub fn of(shared: &Arc<Shared>) -> Arc<Mutex<EntityEntries>> {
    let mut all = INDEXES.lock().expect("index registry");
    all.retain(|(w, _)| w.strong_count() > 0);
    if let Some((_, index)) = all.iter().find(|(w, _)| w.upgrade().is_some_and(|s| Arc::ptr_eq(&s, shared))) {
        return index.clone();
    }
    let index = Arc::new(Mutex::new(EntityEntries { offset_seconds: 8 * 3600, ..EntityEntries::default() }));
    all.push((Arc::downgrade(shared), index.clone()));
    index
}

/// Starts reading the log into the index in the background, if nothing has yet: the first
/// page of the console is shown at once, and the first view finds the index ready.
pub fn warm(shared: &Arc<Shared>) {
    let index = of(shared);
    if index.lock().map(|i| i.next > 0).unwrap_or(true) {
        return;
    }
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || {
        let index = of(&shared);
        let _ = index.lock().expect("entity index").catch_up(&shared);
    });
}

fn payload_record_id(body: &Body) -> String {
    match body {
        Body::Usage { input, .. } => wire::UsageRecord::decode(input.payload.as_slice()).map(|r| r.record_id),
        Body::Corpus { input, .. } => wire::CorpusRecord::decode(input.payload.as_slice()).map(|r| r.record_id),
        Body::Reversal { input, .. } => wire::Reversal::decode(input.payload.as_slice()).map(|r| r.record_id),
        _ => Ok(String::new()),
    }
    .unwrap_or_default()
}

fn payout(body: &Body) -> Option<wire::Payout> {
    let Body::Finance { input, .. } = body else { return None };
    match wire::FinanceRequest::decode(input.payload.as_slice()).ok()?.op {
        Some(wire::finance_request::Op::Payout(p)) => Some(p),
        _ => None,
    }
}

impl EntityEntries {
    /// Reads the entries appended since the last look.
    pub fn catch_up(&mut self, shared: &Shared) -> Result<(), String> {
        let store = &*shared.store;
        let count = store.entry_count().map_err(|e| e.to_string())?;
        if count <= self.next {
            return Ok(());
        }
        for item in store.entries(self.next, count) {
            let (seq, bytes) = item.map_err(|e| e.to_string())?;
            let entry = Entry::decode(&bytes).map_err(|e| format!("entry {seq}: {e}"))?;
            let mut add = |id: Uscc| {
                let list = self.by_entity.entry(id).or_default();
                if list.last() != Some(&seq) {
                    list.push(seq);
                }
            };
            match &entry.body {
                Body::Genesis(g) => self.offset_seconds = g.program().utc_offset_seconds,
                Body::Usage { .. } | Body::Corpus { .. } => {
                    if let Some(f) = record_facts(&entry) {
                        add(f.renter);
                        add(f.provider);
                    }
                }
                Body::Reversal { reversed, .. } => {
                    add(reversed.renter);
                    add(reversed.provider);
                }
                body @ Body::Finance { .. } => {
                    if let Some(id) = payout(body).and_then(|p| Uscc::parse(&p.payee_id).ok()) {
                        add(id);
                    }
                }
                Body::Admin { .. } | Body::Holder { .. } => {}
            }
            self.next = seq + 1;
        }
        Ok(())
    }

    /// One entity's statement rows and totals per cap year (`year`: only that cap year),
    /// as `reports::statement` writes them, from the entity's own entries.
    pub fn statement(
        &mut self,
        shared: &Shared,
        id: &Uscc,
        year: Option<i32>,
    ) -> Result<(Vec<StatementRow>, Vec<StatementTotal>), String> {
        self.catch_up(shared)?;
        let offset = self.offset_seconds;
        let mut rows = Vec::new();
        // Per cap year: (renter subsidy, supplier subsidy, voucher reimbursement, paid).
        let mut totals: BTreeMap<i32, [Decimal; 4]> = BTreeMap::new();
        for &seq in self.by_entity.get(id).map(Vec::as_slice).unwrap_or(&[]) {
            let bytes = shared.store.entry(seq).map_err(|e| e.to_string())?.ok_or(format!("entry {seq} is missing"))?;
            let entry = Entry::decode(&bytes).map_err(|e| format!("entry {seq}: {e}"))?;
            let time = format_rfc3339(entry.time_ms.div_euclid(1000), offset);
            let (facts, sign, kind) = match &entry.body {
                Body::Usage { .. } | Body::Corpus { .. } => {
                    let f = record_facts(&entry).ok_or(format!("entry {seq}: record payload"))?;
                    let kind = if matches!(entry.body, Body::Usage { .. }) { "usage" } else { "corpus" };
                    (f, Decimal::ONE, kind)
                }
                Body::Reversal { reversed, .. } => (reversed.clone(), Decimal::NEGATIVE_ONE, "reversal"),
                body @ Body::Finance { .. } => {
                    if let Some(p) =
                        payout(body).filter(|p| p.payee_id == id.as_str() && year.is_none_or(|y| y == p.year))
                    {
                        let amount =
                            suanli_core::money::parse_decimal(&p.amount, 2).map_err(|e| format!("entry {seq}: {e}"))?;
                        totals.entry(p.year).or_default()[3] += amount;
                        let kind = match wire::PayableKind::try_from(p.kind) {
                            Ok(wire::PayableKind::Renter) => "renter",
                            Ok(wire::PayableKind::Supplier) => "supplier",
                            Ok(wire::PayableKind::Voucher) => "voucher",
                            _ => "?",
                        };
                        rows.push(StatementRow {
                            seq,
                            time,
                            kind: "payout".into(),
                            record_id: p.bank_ref.clone(),
                            role: "payee".into(),
                            cap_year: p.year.to_string(),
                            amount: fmt_money(amount),
                            reasons: format!("{} {kind}", p.period),
                            ..StatementRow::default()
                        });
                    }
                    continue;
                }
                _ => continue,
            };
            let l = facts.lines;
            if year.is_some_and(|y| y != l.cap_year) {
                continue;
            }
            let role = if facts.renter == *id && facts.provider == *id {
                "renter+provider"
            } else if facts.renter == *id {
                if facts.kind == RecordKind::Corpus { "buyer" } else { "renter" }
            } else if facts.provider == *id {
                "provider"
            } else {
                continue;
            };
            let counterparty = if facts.renter == *id { facts.provider } else { facts.renter };
            let t = totals.entry(l.cap_year).or_default();
            if facts.renter == *id {
                t[0] += l.renter * sign;
            }
            if facts.provider == *id {
                t[1] += l.supplier * sign;
                t[2] += l.voucher * sign;
            }
            rows.push(StatementRow {
                seq,
                time,
                kind: kind.into(),
                record_id: payload_record_id(&entry.body),
                role: role.into(),
                counterparty: counterparty.to_string(),
                cap_year: l.cap_year.to_string(),
                gpu_hours: fmt_plain(facts.gpu_hours * sign),
                amount: fmt_money(facts.amount * sign),
                voucher_id: facts.voucher_id.clone().unwrap_or_default(),
                voucher_drawn: fmt_money(l.voucher * sign),
                renter_subsidy: fmt_money(l.renter * sign),
                supplier_subsidy: fmt_money(l.supplier * sign),
                reasons: l.reasons(),
            });
        }
        let totals = totals
            .into_iter()
            .map(|(y, [r, s, v, paid])| StatementTotal {
                cap_year: y.to_string(),
                renter_subsidy: fmt_money(r),
                supplier_subsidy: fmt_money(s),
                voucher_reimbursement: fmt_money(v),
                total_accrued: fmt_money(r + s + v),
                paid: fmt_money(paid),
                owed: fmt_money(r + s + v - paid),
            })
            .collect();
        Ok((rows, totals))
    }
}

/// One entity's statement rows from the index (on the blocking pool: it reads the store).
pub async fn statement(
    shared: &Arc<Shared>,
    id: Uscc,
    year: Option<i32>,
) -> Result<(Vec<StatementRow>, Vec<StatementTotal>), String> {
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || {
        let index = of(&shared);
        let mut index = index.lock().map_err(|_| "the entity index is poisoned".to_string())?;
        index.statement(&shared, &id, year)
    })
    .await
    .map_err(|e| e.to_string())?
}
