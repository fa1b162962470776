//! A company's statement rows for the console, one page at a time.
//!
//! Which entries concern each company, and its statement totals per cap year, are kept
//! by the sequencer beside the finance dashboard's totals
//! ([`suanli_core::entity_index::EntityIndex`] in [`crate::dashboard::LiveDashboard`]):
//! one pass over the log after a restart feeds both. A view then reads one page of the
//! company's own entries from the store and turns each into a row with
//! [`reports::statement_row`] — the same function that writes `suanli statement`'s file —
//! so a page costs its own rows, however long the log or the company's history.

use std::sync::Arc;

use suanli_core::entity_index::Totals;
use suanli_core::entry::Entry;
use suanli_core::ids::Uscc;

use crate::reports::{self, StatementRow, StatementTotals};
use crate::service::Shared;

/// Rows per page of the statement view (a request may ask for fewer or more, up to
/// [`MAX_PER_PAGE`]).
pub const PER_PAGE: usize = 100;
pub const MAX_PER_PAGE: usize = 500;
/// Voucher draws shown on the holder's page (newest first); the statement has them all.
pub const DRAWS_SHOWN: usize = 200;

/// One page of a company's statement, newest entry first.
#[derive(Debug)]
pub struct Page {
    pub rows: Vec<StatementRow>,
    /// Per cap year, oldest first.
    pub totals: Vec<(i32, Totals)>,
    /// Rows on the statement in all.
    pub count: usize,
    /// 1-based page number and the number of pages (at least 1).
    pub page: usize,
    pub pages: usize,
    pub per_page: usize,
}

/// What the index could answer.
#[derive(Debug)]
pub enum Answer<T> {
    Ready(T),
    /// The index is still being rebuilt after a restart: `counted` of `total` entries.
    Counting {
        counted: u64,
        total: u64,
    },
}

fn rows_of(shared: &Shared, id: &Uscc, seqs: &[u64]) -> Result<Vec<StatementRow>, String> {
    let offset = shared.ledger.read().map_err(|_| "the ledger lock is poisoned")?.program().utc_offset_seconds;
    let mut scratch = StatementTotals::new();
    let mut rows = Vec::with_capacity(seqs.len());
    for &seq in seqs {
        let bytes = shared.store.entry(seq).map_err(|e| e.to_string())?.ok_or(format!("entry {seq} is missing"))?;
        let entry = Entry::decode(&bytes).map_err(|e| format!("entry {seq}: {e}"))?;
        if let Some(row) = reports::statement_row(&entry, id, None, offset, &mut scratch).map_err(|e| e.to_string())? {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// The error a page shows when the statement index's scratch file cannot be read.
fn scratch_error(e: std::io::Error) -> String {
    format!("the statement index's scratch file cannot be read: {e}")
}

/// Page `page` (1-based; past the end gives the last) of the statement of `id`
/// (`year`: that cap year only), on the blocking pool.
pub async fn statement(
    shared: &Arc<Shared>,
    id: Uscc,
    year: Option<i32>,
    page: usize,
    per_page: usize,
) -> Result<Answer<Page>, String> {
    let shared = shared.clone();
    let per_page = per_page.clamp(1, MAX_PER_PAGE);
    tokio::task::spawn_blocking(move || {
        // Only entries the store holds (the index counts them when they are decided).
        let count_in_store = shared.store.entry_count().map_err(|e| e.to_string())?;
        let picked = shared.dashboard.entities(|ix, p| {
            if p.failed || p.counted < count_in_store {
                return Ok(Err((p.counted, p.total.max(count_in_store))));
            }
            let count = ix.count(&id, year, count_in_store)?;
            let pages = count.div_ceil(per_page).max(1);
            let page = page.clamp(1, pages);
            let seqs = ix.newest(&id, year, count_in_store, (page - 1) * per_page, per_page)?;
            Ok(Ok((seqs, ix.totals(&id, year), count, page, pages)))
        });
        let (seqs, totals, count, page, pages) = match picked.map_err(scratch_error)? {
            Ok(x) => x,
            Err((counted, total)) => return Ok(Answer::Counting { counted, total }),
        };
        let rows = rows_of(&shared, &id, &seqs)?;
        Ok(Answer::Ready(Page { rows, totals, count, page, pages, per_page }))
    })
    .await
    .map_err(|e| e.to_string())?
}

/// The latest voucher draws of holder `id` (at most [`DRAWS_SHOWN`], newest first) and
/// how many there are in all, on the blocking pool.
pub async fn draws(shared: &Arc<Shared>, id: Uscc) -> Result<Answer<(Vec<StatementRow>, usize)>, String> {
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || {
        let count_in_store = shared.store.entry_count().map_err(|e| e.to_string())?;
        let picked = shared.dashboard.entities(|ix, p| {
            if p.failed || p.counted < count_in_store {
                return Ok(Err((p.counted, p.total.max(count_in_store))));
            }
            ix.draws(&id, count_in_store, DRAWS_SHOWN).map(Ok)
        });
        match picked.map_err(scratch_error)? {
            Ok((seqs, all)) => Ok(Answer::Ready((rows_of(&shared, &id, &seqs)?, all))),
            Err((counted, total)) => Ok(Answer::Counting { counted, total }),
        }
    })
    .await
    .map_err(|e| e.to_string())?
}
