//! The shared store: the ledger on PostgreSQL, so that several `suanlid` nodes can append
//! to one log (SPEC §5 pipeline, DESIGN "growing past one machine").
//!
//! # Schema (version [`PG_SCHEMA_VERSION`], created and migrated by [`PgStore::open`])
//!
//! The ledger's own tables hold exactly what the sled store holds, in the same encodings:
//!
//! | table | columns |
//! | --- | --- |
//! | `suanli_meta` | `key text`, `value bytea`: `schema`, `count`, `frontier`, `snapshot` |
//! | `suanli_entries` | `seq bigint` (primary key), `bytes bytea`, `leaf bytea` (RFC 6962 leaf hash) |
//! | `suanli_records` | `key bytea` ([`RecordKey::encode`]), `summary bytea` |
//! | `suanli_requests` | `key bytea` ([`RequestKey::encode`]), `summary bytea` |
//! | `suanli_nodes` | `level smallint`, `idx bigint`, `hash bytea` |
//! | `suanli_checkpoints` | `size bigint`, `note text` |
//!
//! Next to them, written in the same transaction, are tables for people with SQL:
//! `ledger_records` (one row per accepted usage or corpus record with its three money
//! lines and reasons, marked when reversed), `ledger_statement_lines` (what each period
//! close gathered per payee and kind) and `ledger_entries` (the kind and time of every log
//! entry). They are derived from the log and never read by the ledger; docs/POSTGRES.md
//! describes them.
//!
//! # Several nodes, one log
//!
//! A write round of a node runs in one transaction that starts by locking the `count` row
//! of `suanli_meta` (`SELECT … FOR UPDATE`): rounds of different nodes are serialised by
//! the database, and a round first reads the entries other nodes appended since it last
//! looked ([`Store::begin_round`]) so that it decides on the whole log. Entries are keyed
//! by sequence number, so even a node with a wrong idea of the log cannot fork it: its
//! commit fails and it stops. The acknowledgement of a record is sent after `COMMIT`
//! returns, which with PostgreSQL's default `synchronous_commit = on` means the WAL is on
//! disk (and on synchronous standbys, when the operator configures them).
//!
//! # Blocking
//!
//! The store trait is synchronous. The `postgres` client blocks on its own runtime, which
//! tokio forbids on a runtime thread, so every call made from inside a runtime moves off it
//! first ([`blocking`]).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use postgres::{Client, NoTls};
use prost::Message;
use suanli_core::entry::{Body, Entry};
use suanli_core::index::{RecordKey, RecordSummary, RequestKey, RequestSummary};
use suanli_core::wire;

use crate::{CommitBatch, Hash, NodeKey, Result, Store, StoreError};

/// Version of the PostgreSQL schema written by this code; see [`MIGRATIONS`].
pub const PG_SCHEMA_VERSION: u32 = 1;

/// Reader connections per node, besides the writer's.
pub const READERS: usize = 4;

/// Entries fetched per query when iterating the log.
const PAGE: i64 = 2048;

/// Schema migrations, in order: `MIGRATIONS[v]` takes a database from version `v` to
/// `v + 1`. Each runs in one transaction with the schema version update.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE suanli_entries (seq bigint PRIMARY KEY, bytes bytea NOT NULL, leaf bytea NOT NULL);
CREATE INDEX suanli_entries_leaf ON suanli_entries (leaf);
CREATE TABLE suanli_records (key bytea PRIMARY KEY, summary bytea NOT NULL);
CREATE TABLE suanli_requests (key bytea PRIMARY KEY, summary bytea NOT NULL);
CREATE TABLE suanli_nodes (level smallint NOT NULL, idx bigint NOT NULL, hash bytea NOT NULL,
    PRIMARY KEY (level, idx));
CREATE TABLE suanli_checkpoints (size bigint PRIMARY KEY, note text NOT NULL);
INSERT INTO suanli_meta (key, value) VALUES ('count', int8send(0));
CREATE TABLE ledger_entries (seq bigint PRIMARY KEY, kind text NOT NULL, time timestamptz NOT NULL);
CREATE TABLE ledger_records (
    kind text NOT NULL,
    provider_id text NOT NULL,
    record_id text NOT NULL,
    seq bigint NOT NULL,
    renter_id text NOT NULL,
    voucher_id text,
    gpu_hours numeric(20, 6) NOT NULL,
    amount numeric(20, 2) NOT NULL,
    cap_year integer NOT NULL,
    voucher_drawn numeric(20, 2) NOT NULL,
    renter_subsidy numeric(20, 2) NOT NULL,
    supplier_subsidy numeric(20, 2) NOT NULL,
    reasons text NOT NULL,
    reversed_by bigint,
    PRIMARY KEY (kind, provider_id, record_id));
CREATE INDEX ledger_records_renter ON ledger_records (renter_id, cap_year);
CREATE TABLE ledger_entities (
    id text PRIMARY KEY,
    name text NOT NULL,
    provider boolean NOT NULL,
    renter_eligible boolean NOT NULL,
    supplier_eligible boolean NOT NULL,
    opc boolean NOT NULL,
    data_supplier boolean NOT NULL,
    related_group text,
    registered_seq bigint NOT NULL,
    updated_seq bigint NOT NULL);
CREATE TABLE ledger_vouchers (
    voucher_id text PRIMARY KEY,
    holder_id text NOT NULL,
    kind text NOT NULL,
    face_value numeric(20, 2) NOT NULL,
    valid_from timestamptz NOT NULL,
    valid_until timestamptz NOT NULL,
    issued_seq bigint NOT NULL,
    revoked_seq bigint);
CREATE TABLE ledger_payouts (
    seq bigint PRIMARY KEY,
    period text NOT NULL,
    payee_id text NOT NULL,
    kind text NOT NULL,
    year integer NOT NULL,
    amount numeric(20, 2) NOT NULL,
    bank_ref text NOT NULL);
CREATE TABLE ledger_statement_lines (
    seq bigint NOT NULL,
    line integer NOT NULL,
    payee_id text NOT NULL,
    kind text NOT NULL,
    year integer NOT NULL,
    amount numeric(20, 2) NOT NULL,
    PRIMARY KEY (seq, line));
CREATE VIEW ledger_voucher_balances AS
    SELECT v.voucher_id, v.holder_id, v.kind, v.face_value,
           coalesce(sum(r.voucher_drawn) FILTER (WHERE r.reversed_by IS NULL), 0) AS drawn,
           v.revoked_seq IS NOT NULL AS revoked
    FROM ledger_vouchers v LEFT JOIN ledger_records r ON r.voucher_id = v.voucher_id
    GROUP BY v.voucher_id;
"#];

/// Runs `f`, off the async runtime if called from one (the `postgres` client blocks).
fn blocking<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    match tokio::runtime::Handle::try_current() {
        Err(_) => f(),
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        Ok(_) => std::thread::scope(|s| s.spawn(f).join().expect("store call panicked")),
    }
}

fn db(e: postgres::Error) -> StoreError {
    StoreError::Io(format!("PostgreSQL: {e}"))
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn be_u64(what: &str, bytes: &[u8]) -> Result<u64> {
    let b: [u8; 8] = bytes.try_into().map_err(|_| corrupt(format_args!("{what}: expected 8 bytes")))?;
    Ok(u64::from_be_bytes(b))
}

fn seq_i64(seq: u64) -> i64 {
    i64::try_from(seq).expect("sequence numbers stay below 2^63")
}

/// The writer's connection and the round it may be in.
struct Writer {
    client: Client,
    /// A round's transaction is open and holds the log lock; `count` is the log size it saw.
    round: Option<u64>,
}

pub struct PgStore {
    url: String,
    writer: Mutex<Writer>,
    readers: Vec<Mutex<Client>>,
    next_reader: AtomicUsize,
    /// Set when a commit failed in a way that leaves its outcome unknown.
    failed: AtomicBool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("failed", &self.failed.load(Ordering::Acquire)).finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`), creating or migrating the schema
    /// and refusing a database written by a newer version or whose log and count disagree.
    pub fn open(url: &str) -> Result<PgStore> {
        blocking(|| {
            let mut client = Client::connect(url, NoTls).map_err(db)?;
            Self::migrate(&mut client)?;
            Self::check_count(&mut client)?;
            let mut readers = Vec::with_capacity(READERS);
            for _ in 0..READERS {
                readers.push(Mutex::new(Client::connect(url, NoTls).map_err(db)?));
            }
            Ok(PgStore {
                url: url.to_string(),
                writer: Mutex::new(Writer { client, round: None }),
                readers,
                next_reader: AtomicUsize::new(0),
                failed: AtomicBool::new(false),
            })
        })
    }

    /// The connection string, without its password, for messages.
    pub fn describe(&self) -> String {
        match self.url.split_once('@') {
            Some((creds, rest)) => match creds.split_once("://") {
                Some((scheme, user)) => format!("{scheme}://{}@{rest}", user.split(':').next().unwrap_or("")),
                None => rest.to_string(),
            },
            None => self.url.clone(),
        }
    }

    fn migrate(client: &mut Client) -> Result<()> {
        let mut tx = client.transaction().map_err(db)?;
        // Serialise migrations of nodes starting together.
        tx.batch_execute(
            "SELECT pg_advisory_xact_lock(7420);
             CREATE TABLE IF NOT EXISTS suanli_meta (key text PRIMARY KEY, value bytea NOT NULL);",
        )
        .map_err(db)?;
        let version = match tx.query_opt("SELECT value FROM suanli_meta WHERE key = 'schema'", &[]).map_err(db)? {
            None => 0,
            Some(row) => {
                let v: Vec<u8> = row.get(0);
                let b: [u8; 4] = v.as_slice().try_into().map_err(|_| corrupt("schema version: expected 4 bytes"))?;
                u32::from_be_bytes(b)
            }
        };
        if version > PG_SCHEMA_VERSION {
            return Err(StoreError::Schema { found: version, expected: PG_SCHEMA_VERSION });
        }
        for migration in &MIGRATIONS[version as usize..] {
            tx.batch_execute(migration).map_err(db)?;
        }
        if version < PG_SCHEMA_VERSION {
            tx.execute(
                "INSERT INTO suanli_meta (key, value) VALUES ('schema', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&PG_SCHEMA_VERSION.to_be_bytes().to_vec()],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    fn read_count(client: &mut Client, lock: bool) -> Result<u64> {
        let sql = if lock {
            "SELECT value FROM suanli_meta WHERE key = 'count' FOR UPDATE"
        } else {
            "SELECT value FROM suanli_meta WHERE key = 'count'"
        };
        let row = client.query_opt(sql, &[]).map_err(db)?.ok_or_else(|| corrupt("the entry count is missing"))?;
        be_u64("the entry count", &row.get::<_, Vec<u8>>(0))
    }

    /// The count must name exactly the entries present: 0..count, no more, no fewer.
    fn check_count(client: &mut Client) -> Result<u64> {
        let count = Self::read_count(client, false)?;
        let row = client
            .query_one("SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), -1) FROM suanli_entries", &[])
            .map_err(db)?;
        let (n, min, max): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        if n as u64 != count || (count > 0 && (min != 0 || max as u64 != count - 1)) {
            return Err(corrupt(format!(
                "the entry count says {count} entries, the log table holds {n} (sequence numbers {min}..={max})"
            )));
        }
        Ok(count)
    }

    fn reader(&self) -> MutexGuard<'_, Client> {
        let n = self.readers.len();
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            if let Ok(g) = self.readers[(start + i) % n].try_lock() {
                return g;
            }
        }
        self.readers[start % n].lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        blocking(|| {
            let row = self.reader().query_opt("SELECT value FROM suanli_meta WHERE key = $1", &[&key]).map_err(db)?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    /// The encoded summary `sql` finds for an index key, if any.
    fn summary(&self, sql: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        blocking(|| Ok(self.reader().query_opt(sql, &[&key]).map_err(db)?.map(|r| r.get(0))))
    }

    fn checkpoint_query(&self, sql: &str, size: Option<i64>) -> Result<Option<(u64, String)>> {
        blocking(|| {
            let mut c = self.reader();
            let row = match size {
                Some(s) => c.query_opt(sql, &[&s]),
                None => c.query_opt(sql, &[]),
            }
            .map_err(db)?;
            Ok(row.map(|r| (r.get::<_, i64>(0) as u64, r.get(1))))
        })
    }

    /// Writes the batch inside the open transaction of `w`, whose log has `have` entries.
    fn write(w: &mut Writer, have: u64, batch: &CommitBatch) -> Result<()> {
        let new_count = crate::check_batch(batch, have)?;
        let c = &mut w.client;
        if !batch.entries.is_empty() {
            let seqs: Vec<i64> = batch.entries.iter().map(|(s, _)| seq_i64(*s)).collect();
            let bytes: Vec<&[u8]> = batch.entries.iter().map(|(_, b)| b.as_slice()).collect();
            let leaves: Vec<Vec<u8>> = if batch.leaf_hashes.len() == batch.entries.len() {
                batch.leaf_hashes.iter().map(|h| h.to_vec()).collect()
            } else {
                batch.entries.iter().map(|(_, b)| suanli_core::merkle::leaf_hash(b).to_vec()).collect()
            };
            c.execute(
                "INSERT INTO suanli_entries (seq, bytes, leaf) SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[])",
                &[&seqs, &bytes, &leaves],
            )
            .map_err(db)?;
            c.execute("UPDATE suanli_meta SET value = int8send($1) WHERE key = 'count'", &[&seq_i64(new_count)])
                .map_err(db)?;
            Self::write_entry_tables(c, &batch.entries)?;
        }
        if !batch.records.is_empty() {
            // Each key once (`Writes`), with its last value.
            let keys: Vec<Vec<u8>> = batch.records.iter().map(|(k, _)| k.encode()).collect();
            let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            let values: Vec<Vec<u8>> = batch.records.iter().map(|(_, v)| v.encode()).collect();
            c.execute(
                "INSERT INTO suanli_records (key, summary) SELECT * FROM unnest($1::bytea[], $2::bytea[])
                 ON CONFLICT (key) DO UPDATE SET summary = excluded.summary",
                &[&keys, &values],
            )
            .map_err(db)?;
            let rows: Vec<&(RecordKey, RecordSummary)> = batch.records.iter().collect();
            Self::write_record_table(c, &rows)?;
        }
        if !batch.requests.is_empty() {
            let (keys, values): (Vec<Vec<u8>>, Vec<Vec<u8>>) =
                batch.requests.iter().map(|(k, v)| (k.encode(), v.encode())).unzip();
            c.execute(
                "INSERT INTO suanli_requests (key, summary) SELECT * FROM unnest($1::bytea[], $2::bytea[])
                 ON CONFLICT (key) DO UPDATE SET summary = excluded.summary",
                &[&keys, &values],
            )
            .map_err(db)?;
        }
        if !batch.nodes.is_empty() {
            let levels: Vec<i16> = batch.nodes.iter().map(|((l, _), _)| i16::from(*l)).collect();
            let idx: Vec<i64> = batch.nodes.iter().map(|((_, i), _)| seq_i64(*i)).collect();
            let hashes: Vec<&[u8]> = batch.nodes.iter().map(|(_, h)| &h[..]).collect();
            c.execute(
                "INSERT INTO suanli_nodes (level, idx, hash) SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])
                 ON CONFLICT (level, idx) DO UPDATE SET hash = excluded.hash",
                &[&levels, &idx, &hashes],
            )
            .map_err(db)?;
        }
        let mut meta: Vec<(&str, Vec<u8>)> = Vec::new();
        if !batch.frontier.is_empty() {
            meta.push(("frontier", batch.frontier.clone()));
        }
        if let Some((covered, bytes)) = &batch.snapshot {
            let mut v = Vec::with_capacity(8 + bytes.len());
            v.extend_from_slice(&covered.to_be_bytes());
            v.extend_from_slice(bytes);
            meta.push(("snapshot", v));
        }
        for (k, v) in meta {
            c.execute(
                "INSERT INTO suanli_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&k, &v],
            )
            .map_err(db)?;
        }
        for (size, note) in &batch.checkpoints {
            c.execute(
                "INSERT INTO suanli_checkpoints (size, note) VALUES ($1, $2)
                 ON CONFLICT (size) DO UPDATE SET note = excluded.note",
                &[&seq_i64(*size), note],
            )
            .map_err(db)?;
        }
        Ok(())
    }

    /// `ledger_entries` and `ledger_statement_lines` for new entries. Bytes that are not a
    /// log entry (the conformance suite stores arbitrary bytes) get kind `opaque`.
    fn write_entry_tables(c: &mut Client, entries: &[(u64, Vec<u8>)]) -> Result<()> {
        let mut seqs = Vec::with_capacity(entries.len());
        let mut kinds = Vec::with_capacity(entries.len());
        let mut times = Vec::with_capacity(entries.len());
        let (mut l_seq, mut l_no, mut l_payee, mut l_kind, mut l_year, mut l_amount) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (seq, bytes) in entries {
            seqs.push(seq_i64(*seq));
            match Entry::decode(bytes) {
                Ok(e) => {
                    kinds.push(e.body.kind_name());
                    times.push(e.time_ms);
                    match &e.body {
                        Body::Admin { input } => Self::write_admin(c, *seq, &input.payload)?,
                        Body::Finance { input, .. } => Self::write_payout(c, *seq, &input.payload)?,
                        _ => {}
                    }
                    if let Body::Finance { statement, .. } = &e.body {
                        for (i, line) in statement.iter().enumerate() {
                            l_seq.push(seq_i64(*seq));
                            l_no.push(i as i32);
                            l_payee.push(line.payee.to_string());
                            l_kind.push(line.kind.as_str());
                            l_year.push(line.year);
                            l_amount.push(line.amount.to_string());
                        }
                    }
                }
                Err(_) => {
                    kinds.push("opaque");
                    times.push(0);
                }
            }
        }
        c.execute(
            "INSERT INTO ledger_entries (seq, kind, time)
             SELECT s, k, 'epoch'::timestamptz + t * interval '1 millisecond' FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS u(s, k, t)",
            &[&seqs, &kinds, &times],
        )
        .map_err(db)?;
        if !l_seq.is_empty() {
            c.execute(
                "INSERT INTO ledger_statement_lines (seq, line, payee_id, kind, year, amount)
                 SELECT s, l, p, k, y, a::numeric
                 FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::int[], $6::text[]) AS u(s, l, p, k, y, a)",
                &[&l_seq, &l_no, &l_payee, &l_kind, &l_year, &l_amount],
            )
            .map_err(db)?;
        }
        Ok(())
    }

    /// `ledger_entities` and `ledger_vouchers` from an accepted registry change (only
    /// accepted changes are in the log).
    fn write_admin(c: &mut Client, seq: u64, payload: &[u8]) -> Result<()> {
        use suanli_core::wire::admin_request::Op;
        let Ok(req) = wire::AdminRequest::decode(payload) else { return Ok(()) };
        let seq = seq_i64(seq);
        match req.op {
            Some(Op::RegisterEntity(r)) => {
                let f = r.flags.unwrap_or_default();
                let group = (!r.related_group.is_empty()).then_some(r.related_group);
                c.execute(
                    "INSERT INTO ledger_entities VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
                    &[
                        &r.id,
                        &r.name,
                        &f.provider,
                        &f.renter_eligible,
                        &f.supplier_eligible,
                        &f.opc,
                        &f.data_supplier,
                        &group,
                        &seq,
                    ],
                )
                .map_err(db)?;
            }
            Some(Op::UpdateEntity(u)) => {
                c.execute(
                    "UPDATE ledger_entities SET provider = coalesce($2, provider),
                         renter_eligible = coalesce($3, renter_eligible),
                         supplier_eligible = coalesce($4, supplier_eligible), opc = coalesce($5, opc),
                         data_supplier = coalesce($6, data_supplier), name = coalesce($7, name),
                         related_group = CASE WHEN $8 THEN NULL ELSE coalesce($9, related_group) END,
                         updated_seq = $10
                     WHERE id = $1",
                    &[
                        &u.id,
                        &u.provider,
                        &u.renter_eligible,
                        &u.supplier_eligible,
                        &u.opc,
                        &u.data_supplier,
                        &u.name,
                        &u.clear_related_group,
                        &u.related_group,
                        &seq,
                    ],
                )
                .map_err(db)?;
            }
            Some(Op::IssueVoucher(v)) => {
                let kind = match wire::VoucherKind::try_from(v.kind) {
                    Ok(wire::VoucherKind::Corpus) => "corpus",
                    _ => "compute",
                };
                c.execute(
                    "INSERT INTO ledger_vouchers VALUES ($1, $2, $3, $4::text::numeric, 'epoch'::timestamptz + $5::bigint * interval '1 second', 'epoch'::timestamptz + $6::bigint * interval '1 second', $7, NULL)",
                    &[&v.voucher_id, &v.holder_id, &kind, &v.face_value, &v.valid_from, &v.valid_until, &seq],
                )
                .map_err(db)?;
            }
            Some(Op::RevokeVoucher(v)) => {
                c.execute("UPDATE ledger_vouchers SET revoked_seq = $2 WHERE voucher_id = $1", &[&v.voucher_id, &seq])
                    .map_err(db)?;
            }
            Some(Op::AddKey(_)) | Some(Op::RevokeKey(_)) | None => {}
        }
        Ok(())
    }

    /// `ledger_payouts` from an accepted payout.
    fn write_payout(c: &mut Client, seq: u64, payload: &[u8]) -> Result<()> {
        use suanli_core::wire::finance_request::Op;
        let Ok(wire::FinanceRequest { op: Some(Op::Payout(p)), .. }) = wire::FinanceRequest::decode(payload) else {
            return Ok(());
        };
        let kind = match wire::PayableKind::try_from(p.kind) {
            Ok(wire::PayableKind::Renter) => "renter",
            Ok(wire::PayableKind::Supplier) => "supplier",
            _ => "voucher",
        };
        c.execute(
            "INSERT INTO ledger_payouts VALUES ($1, $2, $3, $4, $5, $6::text::numeric, $7)",
            &[&seq_i64(seq), &p.period, &p.payee_id, &kind, &p.year, &p.amount, &p.bank_ref],
        )
        .map_err(db)?;
        Ok(())
    }

    /// `ledger_records`: one row per record key, its latest summary.
    fn write_record_table(c: &mut Client, rows: &[&(RecordKey, RecordSummary)]) -> Result<()> {
        let n = rows.len();
        let mut cols: [Vec<String>; 10] = Default::default();
        let mut seq = Vec::with_capacity(n);
        let mut year = Vec::with_capacity(n);
        let mut reversed = Vec::with_capacity(n);
        let mut voucher: Vec<Option<String>> = Vec::with_capacity(n);
        for (k, s) in rows {
            let f = &s.facts;
            let l = &f.lines;
            let texts = [
                k.kind.as_str().to_string(),
                k.provider.to_string(),
                k.record_id.clone(),
                f.renter.to_string(),
                f.gpu_hours.to_string(),
                f.amount.to_string(),
                l.voucher.to_string(),
                l.renter.to_string(),
                l.supplier.to_string(),
                l.reasons(),
            ];
            for (col, t) in cols.iter_mut().zip(texts) {
                col.push(t);
            }
            seq.push(seq_i64(f.seq));
            year.push(l.cap_year);
            reversed.push(s.reversed_by.map(seq_i64));
            voucher.push(f.voucher_id.clone());
        }
        let [kind, provider, record, renter, hours, amount, drawn, rsub, ssub, reasons] = &cols;
        c.execute(
            "INSERT INTO ledger_records (kind, provider_id, record_id, seq, renter_id, voucher_id, gpu_hours, amount,
                 cap_year, voucher_drawn, renter_subsidy, supplier_subsidy, reasons, reversed_by)
             SELECT k, p, r, s, re, v, h::numeric, a::numeric, y, d::numeric, rs::numeric, ss::numeric, rn, rb
             FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::int[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bigint[])
                  AS u(k, p, r, s, re, v, h, a, y, d, rs, ss, rn, rb)
             ON CONFLICT (kind, provider_id, record_id) DO UPDATE SET
                 seq = excluded.seq, renter_id = excluded.renter_id, voucher_id = excluded.voucher_id,
                 gpu_hours = excluded.gpu_hours, amount = excluded.amount, cap_year = excluded.cap_year,
                 voucher_drawn = excluded.voucher_drawn, renter_subsidy = excluded.renter_subsidy,
                 supplier_subsidy = excluded.supplier_subsidy, reasons = excluded.reasons,
                 reversed_by = excluded.reversed_by",
            &[
                kind, provider, record, &seq, renter, &voucher, hours, amount, &year, drawn, rsub, ssub, reasons,
                &reversed,
            ],
        )
        .map_err(db)?;
        Ok(())
    }

    /// Starts a transaction holding the log lock; returns the log size.
    fn lock_log(w: &mut Writer) -> Result<u64> {
        w.client.batch_execute("BEGIN").map_err(db)?;
        match Self::read_count(&mut w.client, true) {
            Ok(n) => {
                w.round = Some(n);
                Ok(n)
            }
            Err(e) => {
                let _ = w.client.batch_execute("ROLLBACK");
                Err(e)
            }
        }
    }

    fn writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Store for PgStore {
    fn begin_round(&self, known_count: u64) -> Result<Vec<(u64, Vec<u8>)>> {
        blocking(|| {
            let mut w = self.writer();
            if w.round.is_some() {
                // A round left open (the previous one was decided empty and not aborted).
                let _ = w.client.batch_execute("ROLLBACK");
                w.round = None;
            }
            let count = Self::lock_log(&mut w)?;
            if count < known_count {
                let _ = w.client.batch_execute("ROLLBACK");
                w.round = None;
                return Err(corrupt(format!(
                    "the shared log holds {count} entries, this node has applied {known_count}"
                )));
            }
            if count == known_count {
                return Ok(Vec::new());
            }
            let rows = w
                .client
                .query("SELECT seq, bytes FROM suanli_entries WHERE seq >= $1 ORDER BY seq", &[&seq_i64(known_count)])
                .map_err(db)?;
            Ok(rows.into_iter().map(|r| (r.get::<_, i64>(0) as u64, r.get(1))).collect())
        })
    }

    fn abort_round(&self) {
        blocking(|| {
            let mut w = self.writer();
            if w.round.take().is_some() {
                let _ = w.client.batch_execute("ROLLBACK");
            }
        })
    }

    fn pipelined(&self) -> bool {
        false
    }

    fn commit(&self, batch: &CommitBatch) -> Result<()> {
        blocking(|| {
            let mut w = self.writer();
            if self.failed.load(Ordering::Acquire) {
                return Err(StoreError::Io("an earlier commit failed; reopen the store before writing again".into()));
            }
            let have = match w.round {
                Some(n) => n,
                None => Self::lock_log(&mut w)?,
            };
            let written = Self::write(&mut w, have, batch);
            w.round = None;
            match written {
                Ok(()) => match w.client.batch_execute("COMMIT") {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        // The outcome of a failed COMMIT is unknown (the connection may
                        // have dropped after the server committed).
                        self.failed.store(true, Ordering::Release);
                        Err(db(e))
                    }
                },
                Err(e) => {
                    let _ = w.client.batch_execute("ROLLBACK");
                    Err(e)
                }
            }
        })
    }

    fn entry_count(&self) -> Result<u64> {
        blocking(|| Self::read_count(&mut self.reader(), false))
    }

    fn entry(&self, seq: u64) -> Result<Option<Vec<u8>>> {
        let Ok(seq) = i64::try_from(seq) else { return Ok(None) };
        blocking(|| {
            let row =
                self.reader().query_opt("SELECT bytes FROM suanli_entries WHERE seq = $1", &[&seq]).map_err(db)?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn entries(&self, from: u64, to: u64) -> Box<dyn Iterator<Item = Result<(u64, Vec<u8>)>> + Send + '_> {
        let end = match self.entry_count() {
            Ok(n) => to.min(n),
            Err(e) => return Box::new(std::iter::once(Err(e))),
        };
        Box::new(PagedEntries { store: self, next: from, end, page: Vec::new().into_iter(), done: false })
    }

    fn record(&self, key: &RecordKey) -> Result<Option<RecordSummary>> {
        self.summary("SELECT summary FROM suanli_records WHERE key = $1", &key.encode())?
            .map(|v| RecordSummary::decode(&v).map_err(|e| corrupt(format!("record summary: {e}"))))
            .transpose()
    }

    fn record_keys(&self) -> Box<dyn Iterator<Item = Result<Vec<u8>>> + Send + '_> {
        Box::new(PagedKeys { store: self, after: None, page: Vec::new().into_iter(), done: false })
    }

    fn request(&self, key: &RequestKey) -> Result<Option<RequestSummary>> {
        self.summary("SELECT summary FROM suanli_requests WHERE key = $1", &key.encode())?
            .map(|v| RequestSummary::decode(&v).map_err(|e| corrupt(format!("request summary: {e}"))))
            .transpose()
    }

    fn node(&self, key: NodeKey) -> Result<Option<Hash>> {
        let Ok(idx) = i64::try_from(key.1) else { return Ok(None) };
        blocking(|| {
            let row = self
                .reader()
                .query_opt("SELECT hash FROM suanli_nodes WHERE level = $1 AND idx = $2", &[&i16::from(key.0), &idx])
                .map_err(db)?;
            row.map(|r| {
                let v: Vec<u8> = r.get(0);
                Hash::try_from(v.as_slice()).map_err(|_| corrupt(format!("node {key:?}: expected 32 bytes")))
            })
            .transpose()
        })
    }

    fn frontier(&self) -> Result<Option<Vec<u8>>> {
        self.get_meta("frontier")
    }

    fn snapshot(&self) -> Result<Option<(u64, Vec<u8>)>> {
        self.get_meta("snapshot")?
            .map(|v| {
                if v.len() < 8 {
                    return Err(corrupt("snapshot: too short"));
                }
                Ok((be_u64("snapshot", &v[..8])?, v[8..].to_vec()))
            })
            .transpose()
    }

    fn latest_checkpoint(&self) -> Result<Option<(u64, String)>> {
        self.checkpoint_query("SELECT size, note FROM suanli_checkpoints ORDER BY size DESC LIMIT 1", None)
    }

    fn checkpoint_at_or_before(&self, size: u64) -> Result<Option<(u64, String)>> {
        self.checkpoint_query(
            "SELECT size, note FROM suanli_checkpoints WHERE size <= $1 ORDER BY size DESC LIMIT 1",
            Some(i64::try_from(size).unwrap_or(i64::MAX)),
        )
    }

    fn find_leaf(&self, leaf: &Hash, to: u64) -> Result<Option<u64>> {
        let to = i64::try_from(to).unwrap_or(i64::MAX);
        blocking(|| {
            let row = self
                .reader()
                .query_opt(
                    "SELECT seq FROM suanli_entries WHERE leaf = $1 AND seq < $2 ORDER BY seq LIMIT 1",
                    &[&leaf.to_vec(), &to],
                )
                .map_err(db)?;
            Ok(row.map(|r| r.get::<_, i64>(0) as u64))
        })
    }

    fn size_on_disk(&self) -> Result<u64> {
        blocking(|| {
            let row = self
                .reader()
                .query_one(
                    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
                     WHERE c.relkind = 'r' AND (c.relname LIKE 'suanli\\_%' OR c.relname LIKE 'ledger\\_%')",
                    &[],
                )
                .map_err(db)?;
            Ok(row.get::<_, i64>(0) as u64)
        })
    }

    fn close(&self) -> Result<()> {
        self.abort_round();
        Ok(())
    }
}

/// The log read page by page, so an export of millions of entries holds one page.
struct PagedEntries<'a> {
    store: &'a PgStore,
    next: u64,
    end: u64,
    page: std::vec::IntoIter<(u64, Vec<u8>)>,
    done: bool,
}

impl Iterator for PagedEntries<'_> {
    type Item = Result<(u64, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.next >= self.end {
            return None;
        }
        if let Some((seq, bytes)) = self.page.next() {
            if seq != self.next {
                self.done = true;
                return Some(Err(corrupt(format!("entry {} is missing (the next stored entry is {seq})", self.next))));
            }
            self.next += 1;
            return Some(Ok((seq, bytes)));
        }
        let (from, end) = (seq_i64(self.next), seq_i64(self.end));
        let rows = blocking(|| {
            self.store
                .reader()
                .query(
                    "SELECT seq, bytes FROM suanli_entries WHERE seq >= $1 AND seq < $2 ORDER BY seq LIMIT $3",
                    &[&from, &end, &PAGE],
                )
                .map_err(db)
        });
        match rows {
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
            Ok(rows) if rows.is_empty() => {
                self.done = true;
                Some(Err(corrupt(format!("entries {}..{} are missing below the entry count", self.next, self.end))))
            }
            Ok(rows) => {
                self.page =
                    rows.into_iter().map(|r| (r.get::<_, i64>(0) as u64, r.get(1))).collect::<Vec<_>>().into_iter();
                self.next()
            }
        }
    }
}

/// Record keys in key order, page by page.
struct PagedKeys<'a> {
    store: &'a PgStore,
    after: Option<Vec<u8>>,
    page: std::vec::IntoIter<Vec<u8>>,
    done: bool,
}

impl Iterator for PagedKeys<'_> {
    type Item = Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some(k) = self.page.next() {
            self.after = Some(k.clone());
            return Some(Ok(k));
        }
        let after = self.after.clone().unwrap_or_default();
        let rows = blocking(|| {
            self.store
                .reader()
                .query("SELECT key FROM suanli_records WHERE key > $1 ORDER BY key LIMIT $2", &[&after, &PAGE])
                .map_err(db)
        });
        match rows {
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
            Ok(rows) if rows.is_empty() => {
                self.done = true;
                None
            }
            Ok(rows) => {
                self.page = rows.into_iter().map(|r| r.get(0)).collect::<Vec<_>>().into_iter();
                self.next()
            }
        }
    }
}
