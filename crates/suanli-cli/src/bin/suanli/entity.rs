//! `suanli entity …`: the registry operator registers companies (by USCC), their keys and
//! flags. Every change is signed with the admin key.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Subcommand};
use suanli_cli::v1::{self, admin_request::Op};
use suanli_core::keyfile;
use suanli_core::sheet::{self, Column, Kind, Table, col};

use crate::common::{Ctx, RequestId, load_key, parse_pubkey, report_ack, yes_no};
use crate::report::{FileFormat, write_output};

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
    /// List every registered company (admin or finance key), as CSV or XLSX.
    ///
    /// Columns: id,name,provider,renter_eligible,supplier_eligible,opc,data_supplier,
    /// related_group,active_keys,revoked_keys, ordered by id; flags are true or false.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The admin or finance key file.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// csv (default) or xlsx (Chinese column titles, frozen header, filters; needs --out).
    #[arg(long, value_enum, default_value = "csv")]
    format: FileFormat,
    /// With csv: the form for double-clicking in Excel/WPS (byte-order mark, CRLF, Chinese
    /// column titles, ids kept as text).
    #[arg(long)]
    excel: bool,
    /// Write to FILE instead of standard output (required for xlsx).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

const LIST_COLUMNS: [Column; 10] = [
    col("id", "统一社会信用代码", Kind::Id),
    col("name", "企业名称", Kind::Text),
    col("provider", "算力供给方", Kind::Text),
    col("renter_eligible", "可享租用补贴", Kind::Text),
    col("supplier_eligible", "可享供给补贴", Kind::Text),
    col("opc", "一人公司", Kind::Text),
    col("data_supplier", "数据供给方", Kind::Text),
    col("related_group", "关联方组", Kind::Text),
    col("active_keys", "有效密钥数", Kind::Count),
    col("revoked_keys", "已吊销密钥数", Kind::Count),
];

async fn list(ctx: &Ctx, a: &ListArgs) -> anyhow::Result<()> {
    let key = load_key(&a.key)?;
    let list = ctx.client().await?.list_entities(&key).await?;
    let rows = list
        .entities
        .iter()
        .map(|e| {
            let f = e.flags.unwrap_or_default();
            let revoked = e.keys.iter().filter(|k| k.revoked).count();
            vec![
                e.id.clone(),
                e.name.clone(),
                f.provider.to_string(),
                f.renter_eligible.to_string(),
                f.supplier_eligible.to_string(),
                f.opc.to_string(),
                f.data_supplier.to_string(),
                e.related_group.clone(),
                (e.keys.len() - revoked).to_string(),
                revoked.to_string(),
            ]
        })
        .collect();
    let table =
        Table { sheet: "企业 Entities".into(), columns: LIST_COLUMNS.to_vec(), rows, bold_rows: Vec::new(), frozen_columns: 2 };
    let bytes = match (a.format, a.excel) {
        (FileFormat::Csv, false) => sheet::to_csv(&table).into_bytes(),
        (FileFormat::Csv, true) => sheet::to_excel_csv(&table),
        (FileFormat::Xlsx, false) => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
            let x = |e: rust_xlsxwriter::XlsxError| anyhow::anyhow!("cannot write the workbook: {e}");
            let mut wb = sheet::new_workbook("登记企业 registered entities", now).map_err(x)?;
            sheet::add_table(&mut wb, &table).map_err(x)?;
            sheet::add_columns_sheet(&mut wb, &table).map_err(x)?;
            wb.save_to_buffer().map_err(x)?
        }
        (FileFormat::Xlsx, true) => anyhow::bail!("{}", suanli_cli::i18n::t(suanli_cli::i18n::Msg::ExcelNeedsCsv)),
    };
    write_output(a.out.as_deref(), &bytes, a.format == FileFormat::Xlsx)
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
        EntityCommand::List(a) => return list(ctx, &a).await,
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
