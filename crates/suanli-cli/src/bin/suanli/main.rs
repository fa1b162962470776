//! `suanli`: the command-line client of the suanli compute-voucher (算力券) ledger (SPEC §11).
//!
//! Commands are grouped by who uses them; each group is a module with its clap arguments and
//! its `run`. A new group is a new module and one variant of [`Command`].

mod common;
mod entity;
mod help_zh;
mod keys;
mod log;
mod records;
mod report;
mod settle;
mod voucher;
mod witness;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::common::Ctx;

/// The default `--server`.
const DEFAULT_SERVER: &str = "http://127.0.0.1:7420";

const EXAMPLES: &str = "\
Examples (a ledger started with `suanlid --data-dir data`, which wrote data/admin.key and data/finance.key):
  suanli keygen --out provider.key
  suanli entity register --key data/admin.key --id 91350100M000100Y43 --name 'Suzhou AI Compute Center' --provider --supplier-eligible
  suanli entity add-key --key data/admin.key --id 91350100M000100Y43 --pubkey \"$(suanli pubkey provider.key)\"
  suanli usage submit --key provider.key --csv usage-2026-03.csv > results.csv
  suanli settle close --key data/finance.key --period 2026-Q1
  suanli settle list --key data/finance.key

Commands that change the ledger print `ACCEPTED seq=N` (or `DUPLICATE seq=N` for a retry that was already done)
and exit 0; a refusal prints `suanli: rejected: CODE: detail` on stderr and exits 1. Every other error prints one
line starting `suanli:` on stderr and exits non-zero. Money is in yuan with at most two decimals (12500.00); times
are RFC 3339 with an offset (2026-03-01T00:00:00+08:00).";

/// suanli — the client of the compute-voucher (算力券) ledger.
///
/// Registers companies and their keys, issues and authorizes vouchers, submits signed usage
/// and corpus records, reverses mistakes, and closes and pays settlement periods. Every
/// request is signed with the key file given by --key; create one with `suanli keygen`.
#[derive(Debug, Parser)]
#[command(name = "suanli", version, after_help = EXAMPLES)]
struct Cli {
    /// Address of the ledger server (suanlid). Accepted before or after the command.
    #[arg(long, global = true, value_name = "URL", default_value = DEFAULT_SERVER, env = "SUANLI_SERVER")]
    server: String,

    /// For an https:// server: the CA certificate (PEM) that signed the server's certificate.
    #[arg(long, global = true, value_name = "FILE", env = "SUANLI_CA")]
    ca: Option<std::path::PathBuf>,
    /// For a server that requires client certificates: this client's certificate (PEM).
    #[arg(long, global = true, value_name = "FILE", env = "SUANLI_CLIENT_CERT")]
    client_cert: Option<std::path::PathBuf>,
    /// The private key (PEM) of --client-cert.
    #[arg(long, global = true, value_name = "FILE", env = "SUANLI_CLIENT_KEY")]
    client_key: Option<std::path::PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new key file (mode 0600) and print its public key.
    Keygen(keys::KeygenArgs),
    /// Print the public key (base64) of a key file.
    Pubkey(keys::PubkeyArgs),
    /// Register companies, manage their keys and flags (registry operator, admin key).
    #[command(subcommand)]
    Entity(entity::EntityCommand),
    /// Issue, authorize, withdraw, revoke and inspect vouchers.
    #[command(subcommand)]
    Voucher(voucher::VoucherCommand),
    /// Submit and reverse GPU usage records (compute providers).
    #[command(subcommand)]
    Usage(records::UsageCommand),
    /// Submit and reverse corpus-purchase records paid by corpus vouchers (data suppliers).
    #[command(subcommand)]
    Corpus(records::CorpusCommand),
    /// Close settlement periods and years, record payouts, list statements (finance key).
    #[command(subcommand)]
    Settle(settle::SettleCommand),
    /// One entity's statement, record by record, with totals accrued, paid and owed (CSV).
    Statement(report::StatementArgs),
    /// The annual settlement report (finance key) and its offline verification.
    #[command(subcommand)]
    Report(report::ReportCommand),
    /// The verifiable log: signed checkpoints, inclusion proofs, exports and their offline verification.
    #[command(subcommand)]
    Log(log::LogCommand),
    /// Back up a running ledger: its whole log and a checkpoint signed now (restore with `suanlid restore`).
    Backup(log::BackupArgs),
    /// Run a witness (C2SP tlog-witness): cosign the checkpoints of the logs it follows, each
    /// only with a consistency proof from the last one it cosigned, and refuse any other.
    Witness(witness::WitnessArgs),
    /// Explain the reason codes (REJECTED reasons and money-line reasons), in Chinese when the
    /// locale is Chinese (LANG=zh_CN.UTF-8), in English otherwise.
    Explain(ExplainArgs),
    /// Print a shell completion script, generated from this command line's definition
    /// (e.g. `suanli completions bash > /etc/bash_completion.d/suanli`).
    Completions(CompletionsArgs),
    /// Write man pages for suanli and every subcommand into a directory (suanli.1,
    /// suanli-usage-submit.1, …), generated from this command line's definition.
    Man(ManArgs),
}

#[derive(Debug, clap::Args)]
struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
struct ManArgs {
    /// The directory to write the pages into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: std::path::PathBuf,
}

fn completions(a: &CompletionsArgs) -> anyhow::Result<()> {
    use clap::CommandFactory;
    use std::io::Write;
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut Cli::command(), "suanli", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)?;
    Ok(out.flush()?)
}

/// Writes one page per command, named by its path (`suanli-usage-submit.1`).
fn man_pages(a: &ManArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    use clap::CommandFactory;
    fn write(cmd: clap::Command, name: String, dir: &std::path::Path, count: &mut usize) -> anyhow::Result<()> {
        let cmd = cmd.display_name(name.clone());
        let path = dir.join(format!("{name}.1"));
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
        std::fs::write(&path, out).with_context(|| format!("writing {}", path.display()))?;
        *count += 1;
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            write(sub.clone(), format!("{name}-{}", sub.get_name()), dir, count)?;
        }
        Ok(())
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let mut count = 0;
    let mut cmd = Cli::command();
    cmd.build();
    write(cmd, "suanli".into(), &a.out, &mut count)?;
    println!("{count} man pages in {}", a.out.display());
    Ok(())
}

#[derive(Debug, clap::Args)]
struct ExplainArgs {
    /// Only these codes (e.g. AMOUNT_MISMATCH CAPPED); all when left out.
    codes: Vec<String>,
    /// The language: zh or en (default: from the locale).
    #[arg(long, value_name = "zh|en")]
    lang: Option<String>,
}

fn explain(a: &ExplainArgs) -> anyhow::Result<()> {
    use suanli_cli::i18n::{self, Lang};
    use suanli_core::codes::{LineReason, RejectCode};
    let lang = match a.lang.as_deref() {
        None => i18n::lang(),
        Some(l) => Lang::parse(l).ok_or_else(|| anyhow::anyhow!("--lang {l:?}: zh or en"))?,
    };
    if a.codes.is_empty() {
        print!("{}", i18n::codes_help(lang));
        return Ok(());
    }
    for c in &a.codes {
        let code = c.trim().to_ascii_uppercase();
        let text = RejectCode::parse(&code)
            .map(|r| r.explain(lang))
            .or_else(|| LineReason::parse(&code).map(|r| r.explain(lang)))
            .ok_or_else(|| anyhow::anyhow!("{c:?} is not a reason code (see `suanli explain`)"))?;
        println!("{code}\t{text}");
    }
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let tls = suanli_cli::TlsOptions { ca: cli.ca, client_cert: cli.client_cert, client_key: cli.client_key };
    let ctx = Ctx { server: cli.server, tls };
    match cli.command {
        Command::Keygen(a) => keys::keygen(&a),
        Command::Pubkey(a) => keys::pubkey(&a),
        Command::Entity(c) => entity::run(&ctx, c).await,
        Command::Voucher(c) => voucher::run(&ctx, c).await,
        Command::Usage(c) => records::run_usage(&ctx, c).await,
        Command::Corpus(c) => records::run_corpus(&ctx, c).await,
        Command::Settle(c) => settle::run(&ctx, c).await,
        Command::Statement(a) => report::statement(&ctx, a).await,
        Command::Report(c) => report::run(&ctx, c).await,
        Command::Log(c) => log::run(&ctx, c).await,
        Command::Backup(a) => log::backup(&ctx, a).await,
        Command::Witness(a) => witness::run(a).await,
        Command::Explain(a) => explain(&a),
        Command::Completions(a) => completions(&a),
        Command::Man(a) => man_pages(&a),
    }
}

/// Parses the command line with help in the locale's language.
fn parse() -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let cmd = match suanli_cli::i18n::lang() {
        suanli_cli::i18n::Lang::Zh => help_zh::chinese(Cli::command()),
        suanli_cli::i18n::Lang::En => help_zh::english(Cli::command()),
    };
    Cli::from_arg_matches(&cmd.try_get_matches()?)
}

/// A clap error as one line: the message, then the usage line.
fn one_line(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let mut paragraphs = rendered.split("\n\n");
    let message = paragraphs.next().unwrap_or_default();
    let message = message.strip_prefix("error: ").unwrap_or(message);
    let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    match rendered.lines().find_map(|l| l.strip_prefix("Usage: ")) {
        Some(usage) => format!("{message} (usage: {}; see --help)", usage.trim()),
        None => message,
    }
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = e.print();
                    ExitCode::SUCCESS
                }
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    eprintln!("suanli: {}\n", suanli_cli::i18n::t(suanli_cli::i18n::Msg::CommandNeeded));
                    let _ = e.print();
                    ExitCode::from(2)
                }
                _ => {
                    match suanli_cli::i18n::lang() {
                        // Chinese first, clap's English (with the usage) as the second line.
                        suanli_cli::i18n::Lang::Zh => {
                            eprintln!("suanli: {}\nsuanli: {}", help_zh::error(&e), one_line(&e))
                        }
                        suanli_cli::i18n::Lang::En => eprintln!("suanli: {}", one_line(&e)),
                    }
                    ExitCode::from(2)
                }
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("suanli: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Under a Chinese locale, what kind of error it is in Chinese first; the English
            // text after it carries the details as the ledger or the system gave them.
            if suanli_cli::i18n::lang() == suanli_cli::i18n::Lang::Zh && e.downcast_ref::<records::Exit>().is_none() {
                eprintln!("suanli: {}", suanli_cli::i18n::error_zh(e.as_ref()));
            }
            eprintln!("suanli: {e:#}");
            match e.downcast_ref::<records::Exit>() {
                Some(exit) => ExitCode::from(exit.code),
                None => ExitCode::FAILURE,
            }
        }
    }
}
