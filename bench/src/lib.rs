//! Shared pieces of the benchmarks: a realistic workload (providers, renters, vouchers,
//! records that hit caps) built the same way for the stage benches and the load generator.

use ed25519_dalek::SigningKey;
use rayon::prelude::*;
use suanli_core::ids::Uscc;
use suanli_core::ledger::{Input, InputKind};
use suanli_core::testkit::{self as tk};
use suanli_core::wire;

/// Shape of a workload.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    pub records: u64,
    pub providers: u64,
    pub renters: u64,
    /// Every `voucher_every`-th renter is a one-person company holding a voucher.
    pub voucher_every: u64,
    /// Record ends are spread backwards from here (Unix seconds).
    pub end_base: i64,
    /// Distinguishes the record ids of two runs against the same ledger.
    pub run: u64,
}

pub fn provider_id(i: u64) -> Uscc {
    tk::uscc(1_000 + i)
}

pub fn renter_id(i: u64) -> Uscc {
    tk::uscc(100_000 + i)
}

pub fn provider_key(i: u64) -> SigningKey {
    tk::key(1_000 + i)
}

pub fn holder_key(i: u64) -> SigningKey {
    tk::key(100_000 + i)
}

pub fn voucher_id(renter: u64) -> String {
    format!("BV{renter}")
}

impl Workload {
    pub fn has_voucher(&self, renter: u64) -> bool {
        self.voucher_every > 0 && renter % self.voucher_every == 1
    }

    /// The registry operator's setup: entities, keys, vouchers (as admin inputs) and the
    /// authorizations (as holder inputs).
    pub fn setup(&self, admin: &SigningKey) -> (Vec<Input>, Vec<Input>) {
        let mut admin_ops = Vec::new();
        let mut holder_ops = Vec::new();
        let rid = |s: String| format!("bench-{s}");
        for p in 0..self.providers {
            let id = provider_id(p);
            admin_ops.push(tk::admin(
                admin,
                &rid(format!("p{p}")),
                tk::register(&id, &format!("算力供给方 {p}"), tk::flags(true, false, true, false, false), None),
            ));
            admin_ops.push(tk::admin(admin, &rid(format!("pk{p}")), tk::add_key(&id, &tk::public(&provider_key(p)))));
        }
        for r in 0..self.renters {
            let id = renter_id(r);
            let opc = self.has_voucher(r);
            admin_ops.push(tk::admin(
                admin,
                &rid(format!("r{r}")),
                tk::register(&id, &format!("研发企业 {r}"), tk::flags(false, true, false, opc, false), None),
            ));
            if opc {
                admin_ops.push(tk::admin(admin, &rid(format!("rk{r}")), tk::add_key(&id, &tk::public(&holder_key(r)))));
                admin_ops.push(tk::admin(
                    admin,
                    &rid(format!("v{r}")),
                    wire::admin_request::Op::IssueVoucher(wire::IssueVoucher {
                        voucher_id: voucher_id(r),
                        holder_id: id.to_string(),
                        kind: wire::VoucherKind::Compute as i32,
                        face_value: "200000.00".into(),
                        valid_from: self.end_base - 366 * 86_400,
                        valid_until: self.end_base + 86_400,
                    }),
                ));
                for p in 0..self.providers {
                    holder_ops.push(tk::holder(
                        &holder_key(r),
                        &id,
                        &format!("bench-a{r}-{p}"),
                        wire::holder_request::Op::Authorize(wire::Authorize {
                            voucher_id: voucher_id(r),
                            provider_id: provider_id(p).to_string(),
                            limit: String::new(),
                        }),
                    ));
                }
            }
        }
        (admin_ops, holder_ops)
    }

    /// Record `i`: provider `i mod M`, renter `(i / M) mod K`; renter 0 rents big and hits
    /// its cap early, voucher holders draw their vouchers down to exhaustion.
    pub fn record(&self, i: u64) -> (u64, wire::UsageRecord) {
        let p = i % self.providers;
        let r = (i / self.providers) % self.renters;
        let (gpu_hours, amount) = if r == 0 { ("8000", "100000.00") } else { ("8", "100.00") };
        let voucher = if self.has_voucher(r) { Some(voucher_id(r)) } else { None };
        let end = self.end_base - (i % 10_000_000) as i64;
        let mut rec = tk::usage_record(
            &format!("run{}-{i}", self.run),
            &provider_id(p),
            &renter_id(r),
            gpu_hours,
            "12.50",
            amount,
            end,
            voucher.as_deref(),
        );
        rec.contract_id = format!("HT-2026-{p:03}-{r:05}");
        rec.invoice_no = format!("{:020}", i);
        (p, rec)
    }

    /// Every record, signed by its provider, in parallel. Returned per provider, in order.
    pub fn signed_by_provider(&self) -> Vec<Vec<Input>> {
        let keys: Vec<SigningKey> = (0..self.providers).map(provider_key).collect();
        let all: Vec<(u64, Input)> = (0..self.records)
            .into_par_iter()
            .map(|i| {
                let (p, rec) = self.record(i);
                (p, tk::sign(InputKind::Usage, &keys[p as usize], &rec))
            })
            .collect();
        let mut out: Vec<Vec<Input>> = (0..self.providers).map(|_| Vec::new()).collect();
        for (p, input) in all {
            out[p as usize].push(input);
        }
        out
    }
}

/// The percentile `q` (0..=1) of sorted samples.
pub fn percentile(sorted: &[u64], q_per_mille: u64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() as u64 - 1) * q_per_mille / 1000) as usize;
    sorted[idx]
}
