//! `suanli entity …`: the registry operator registers companies (by USCC), their keys and
//! flags. Every change is signed with the admin key.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Subcommand};
use suanli_cli::v1::{self, admin_request::Op};
use suanli_core::keyfile;

use crate::common::{Ctx, RequestId, load_key, parse_pubkey, report_ack, yes_no};

#[derive(Debug, Subcommand)]
pub enum EntityCommand {
    /// Register a company with its flags (admin).
    Register(RegisterArgs),
    /// Add a public key to a company, so records and requests it signs are accepted (admin).
    AddKey(KeyArgs),
    /// Revoke one of a company's keys: it signs nothing from then on (admin).
    RevokeKey(KeyArgs),
    /// Change a company's flags, related-party group or name; only what is given changes (admin).
    Update(UpdateArgs),
    /// Show a company: flags, group, keys and subsidy used per cap year.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// The admin key file (admin.key in suanlid's data directory unless given at its first start).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The company's 18-character unified social credit code (统一社会信用代码).
    #[arg(long, value_name = "USCC")]
    id: String,
    /// The company's name, 1-100 characters.
    #[arg(long, value_name = "NAME")]
    name: String,
    /// It is a compute provider: it may submit usage records.
    #[arg(long)]
    provider: bool,
    /// Its rentals earn the renter subsidy (算力租赁补贴).
    #[arg(long)]
    renter_eligible: bool,
    /// Its usage records earn the supplier subsidy.
    #[arg(long)]
    supplier_eligible: bool,
    /// It is a one-person company (OPC) and may hold vouchers.
    #[arg(long)]
    opc: bool,
    /// It is a data supplier: it may submit corpus-purchase records.
    #[arg(long)]
    data_supplier: bool,
    /// Related-party group label: companies sharing a group are related parties (关联方),
    /// whose usage earns no subsidy and draws no voucher.
    #[arg(long, value_name = "G")]
    related_group: Option<String>,
    #[command(flatten)]
    request: RequestId,
}

#[derive(Debug, Args)]
pub struct KeyArgs {
    /// The admin key file.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The company's USCC.
    #[arg(long, value_name = "USCC")]
    id: String,
    /// The public key, base64 (as printed by `suanli keygen` or `suanli pubkey FILE`).
    #[arg(long, value_name = "B64")]
    pubkey: String,
    #[command(flatten)]
    request: RequestId,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("change").required(true).multiple(true)))]
pub struct UpdateArgs {
    /// The admin key file.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The company's USCC.
    #[arg(long, value_name = "USCC")]
    id: String,
    /// May it submit usage records?
    #[arg(long, value_name = "true|false", group = "change")]
    provider: Option<bool>,
    /// Do its rentals earn the renter subsidy?
    #[arg(long, value_name = "true|false", group = "change")]
    renter_eligible: Option<bool>,
    /// Do its usage records earn the supplier subsidy?
    #[arg(long, value_name = "true|false", group = "change")]
    supplier_eligible: Option<bool>,
    /// May it hold vouchers (one-person company)?
    #[arg(long, value_name = "true|false", group = "change")]
    opc: Option<bool>,
    /// May it submit corpus-purchase records?
    #[arg(long, value_name = "true|false", group = "change")]
    data_supplier: Option<bool>,
    /// Put it in this related-party group.
    #[arg(long, value_name = "G", group = "change", conflicts_with = "no_related_group")]
    related_group: Option<String>,
    /// Take it out of its related-party group.
    #[arg(long, group = "change")]
    no_related_group: bool,
    /// A new name.
    #[arg(long, value_name = "NAME", group = "change")]
    name: Option<String>,
    #[command(flatten)]
    request: RequestId,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A key of the company itself, or the admin or finance key.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The company's USCC.
    #[arg(long, value_name = "USCC")]
    id: String,
}

pub async fn run(ctx: &Ctx, command: EntityCommand) -> anyhow::Result<()> {
    let (key, request, op) = match command {
        EntityCommand::Register(a) => {
            let op = Op::RegisterEntity(v1::RegisterEntity {
                id: a.id,
                name: a.name,
                flags: Some(v1::Flags {
                    provider: a.provider,
                    renter_eligible: a.renter_eligible,
                    supplier_eligible: a.supplier_eligible,
                    opc: a.opc,
                    data_supplier: a.data_supplier,
                }),
                related_group: a.related_group.unwrap_or_default(),
            });
            (a.key, a.request, op)
        }
        EntityCommand::AddKey(a) => {
            let public_key = parse_pubkey(&a.pubkey)?.to_vec();
            (a.key, a.request, Op::AddKey(v1::AddKey { id: a.id, public_key }))
        }
        EntityCommand::RevokeKey(a) => {
            let public_key = parse_pubkey(&a.pubkey)?.to_vec();
            (a.key, a.request, Op::RevokeKey(v1::RevokeKey { id: a.id, public_key }))
        }
        EntityCommand::Update(a) => {
            let op = Op::UpdateEntity(v1::UpdateEntity {
                id: a.id,
                provider: a.provider,
                renter_eligible: a.renter_eligible,
                supplier_eligible: a.supplier_eligible,
                opc: a.opc,
                data_supplier: a.data_supplier,
                related_group: a.related_group,
                clear_related_group: a.no_related_group,
                name: a.name,
            });
            (a.key, a.request, op)
        }
        EntityCommand::Show(a) => return show(ctx, &a).await,
    };
    let key = load_key(&key)?;
    let client = ctx.client().await?;
    report_ack(&client.admin(&key, request.request_id.as_deref(), op).await?)
}

async fn show(ctx: &Ctx, a: &ShowArgs) -> anyhow::Result<()> {
    let key = load_key(&a.key)?;
    let client = ctx.client().await?;
    let e = client.get_entity(&key, &a.id).await?;
    let f = e.flags.unwrap_or_default();
    println!("id: {}", e.id);
    println!("name: {}", e.name);
    println!("provider: {}", yes_no(f.provider));
    println!("renter_eligible: {}", yes_no(f.renter_eligible));
    println!("supplier_eligible: {}", yes_no(f.supplier_eligible));
    println!("opc: {}", yes_no(f.opc));
    println!("data_supplier: {}", yes_no(f.data_supplier));
    println!("related_group: {}", if e.related_group.is_empty() { "(none)" } else { &e.related_group });
    for k in &e.keys {
        let b64 = <[u8; 32]>::try_from(k.public_key.as_slice())
            .map_or_else(|_| format!("(malformed: {} bytes)", k.public_key.len()), |p| keyfile::encode_public(&p));
        println!("key: {b64} {}", if k.revoked { "revoked" } else { "active" });
    }
    for c in &e.cap_use {
        println!("cap_use: {} renter_subsidy={} supplier_subsidy={}", c.year, c.renter_subsidy, c.supplier_subsidy);
    }
    Ok(())
}
