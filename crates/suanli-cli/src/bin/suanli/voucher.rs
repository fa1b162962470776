//! `suanli voucher …`: the admin issues and revokes vouchers; the holder authorizes
//! providers to draw on them (核销) and withdraws authorizations; anyone entitled reads a
//! voucher's statement.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use ed25519_dalek::SigningKey;
use suanli_cli::Client;
use suanli_cli::v1::{self, admin_request, holder_request};
use suanli_core::time::format_rfc3339;

use crate::common::{Ctx, RequestId, load_key, parse_time, program_offset_seconds, report_ack, yes_no};

#[derive(Debug, Subcommand)]
pub enum VoucherCommand {
    /// Issue a voucher to a one-person company (admin).
    Issue(IssueArgs),
    /// Let a provider (or data supplier) draw on your voucher, optionally up to a limit (holder).
    Authorize(AuthorizeArgs),
    /// Withdraw a provider's authorization: it draws no more (holder).
    Withdraw(WithdrawArgs),
    /// Revoke a voucher: no further draws; draws already made stand (admin).
    Revoke(RevokeArgs),
    /// Show a voucher: face value, drawn, lapsed, balance, validity, authorizations.
    Statement(StatementArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    /// A compute voucher (算力券), drawn by usage records.
    Compute,
    /// A corpus voucher (语料券), drawn by corpus-purchase records.
    Corpus,
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The admin key file.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The new voucher's id, e.g. V-2026-0001.
    #[arg(long, value_name = "VID")]
    id: String,
    /// USCC of the holder, a company registered with --opc.
    #[arg(long, value_name = "USCC")]
    holder: String,
    /// What the voucher pays for.
    #[arg(long, value_enum)]
    kind: Kind,
    /// Face value in yuan, at most two decimals, e.g. 200000.00.
    #[arg(long, value_name = "YUAN", allow_hyphen_values = true)]
    amount: String,
    /// First moment it can be drawn (inclusive), RFC 3339, e.g. 2026-01-31T00:00:00+08:00.
    #[arg(long, value_name = "RFC3339")]
    valid_from: String,
    /// End of validity (exclusive): what is left then lapses. RFC 3339.
    #[arg(long, value_name = "RFC3339")]
    valid_until: String,
    #[command(flatten)]
    request: RequestId,
}

#[derive(Debug, Args)]
pub struct AuthorizeArgs {
    /// A key file of the voucher's holder.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The voucher's id.
    #[arg(long, value_name = "VID")]
    voucher: String,
    /// USCC of the provider (or data supplier) allowed to draw.
    #[arg(long, value_name = "USCC")]
    provider: String,
    /// The most this provider may draw in total, in yuan; no limit when left out.
    /// Authorizing again replaces the limit (what was drawn stays counted).
    #[arg(long, value_name = "YUAN", allow_hyphen_values = true)]
    limit: Option<String>,
    /// USCC of the holder. When left out it is looked up from the voucher (a signed read).
    #[arg(long, value_name = "USCC")]
    holder: Option<String>,
    #[command(flatten)]
    request: RequestId,
}

#[derive(Debug, Args)]
pub struct WithdrawArgs {
    /// A key file of the voucher's holder.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The voucher's id.
    #[arg(long, value_name = "VID")]
    voucher: String,
    /// USCC of the provider whose authorization ends.
    #[arg(long, value_name = "USCC")]
    provider: String,
    /// USCC of the holder. When left out it is looked up from the voucher (a signed read).
    #[arg(long, value_name = "USCC")]
    holder: Option<String>,
    #[command(flatten)]
    request: RequestId,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The admin key file.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The voucher's id.
    #[arg(long, value_name = "VID")]
    voucher: String,
    #[command(flatten)]
    request: RequestId,
}

#[derive(Debug, Args)]
pub struct StatementArgs {
    /// A key file of the holder, or the admin or finance key.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The voucher's id.
    #[arg(long, value_name = "VID")]
    voucher: String,
}

pub async fn run(ctx: &Ctx, command: VoucherCommand) -> anyhow::Result<()> {
    match command {
        VoucherCommand::Issue(a) => {
            let op = admin_request::Op::IssueVoucher(v1::IssueVoucher {
                voucher_id: a.id,
                holder_id: a.holder,
                kind: match a.kind {
                    Kind::Compute => v1::VoucherKind::Compute as i32,
                    Kind::Corpus => v1::VoucherKind::Corpus as i32,
                },
                face_value: a.amount,
                valid_from: parse_time("--valid-from", &a.valid_from)?,
                valid_until: parse_time("--valid-until", &a.valid_until)?,
            });
            let key = load_key(&a.key)?;
            report_ack(&ctx.client().await?.admin(&key, a.request.request_id.as_deref(), op).await?)
        }
        VoucherCommand::Revoke(a) => {
            let op = admin_request::Op::RevokeVoucher(v1::RevokeVoucher { voucher_id: a.voucher });
            let key = load_key(&a.key)?;
            report_ack(&ctx.client().await?.admin(&key, a.request.request_id.as_deref(), op).await?)
        }
        VoucherCommand::Authorize(a) => {
            let key = load_key(&a.key)?;
            let client = ctx.client().await?;
            let holder = holder_of(&client, &key, &a.voucher, a.holder).await?;
            let op = holder_request::Op::Authorize(v1::Authorize {
                voucher_id: a.voucher,
                provider_id: a.provider,
                limit: a.limit.unwrap_or_default(),
            });
            report_ack(&client.holder(&key, &holder, a.request.request_id.as_deref(), op).await?)
        }
        VoucherCommand::Withdraw(a) => {
            let key = load_key(&a.key)?;
            let client = ctx.client().await?;
            let holder = holder_of(&client, &key, &a.voucher, a.holder).await?;
            let op = holder_request::Op::Withdraw(v1::Withdraw { voucher_id: a.voucher, provider_id: a.provider });
            report_ack(&client.holder(&key, &holder, a.request.request_id.as_deref(), op).await?)
        }
        VoucherCommand::Statement(a) => statement(ctx, &a).await,
    }
}

/// The holder named with --holder, or else the voucher's holder as the ledger tells the key.
async fn holder_of(client: &Client, key: &SigningKey, voucher: &str, given: Option<String>) -> anyhow::Result<String> {
    if let Some(h) = given {
        return Ok(h);
    }
    let v = client
        .get_voucher(key, voucher)
        .await
        .with_context(|| format!("looking up the holder of voucher {voucher:?} (or give --holder USCC)"))?;
    Ok(v.holder_id)
}

async fn statement(ctx: &Ctx, a: &StatementArgs) -> anyhow::Result<()> {
    let key = load_key(&a.key)?;
    let client = ctx.client().await?;
    let v = client.get_voucher(&key, &a.voucher).await?;
    let offset = program_offset_seconds(&client).await;
    let kind = match v.kind() {
        v1::VoucherKind::Compute => "compute",
        v1::VoucherKind::Corpus => "corpus",
        v1::VoucherKind::Unspecified => "unspecified",
    };
    println!("voucher_id: {}", v.voucher_id);
    println!("holder_id: {}", v.holder_id);
    println!("kind: {kind}");
    println!("face_value: {}", v.face_value);
    println!("drawn: {}", v.drawn);
    println!("lapsed: {}", v.lapsed);
    println!("balance: {}", v.balance);
    println!("valid_from: {}", format_rfc3339(v.valid_from, offset));
    println!("valid_until: {}", format_rfc3339(v.valid_until, offset));
    println!("revoked: {}", yes_no(v.revoked));
    for au in &v.authorizations {
        let limit = if au.limit.is_empty() { "none" } else { &au.limit };
        let state = if au.withdrawn { "withdrawn" } else { "active" };
        println!("authorization: {} limit={limit} drawn={} {state}", au.provider_id, au.drawn);
    }
    Ok(())
}
