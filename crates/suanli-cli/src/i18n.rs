//! What the command line says to people, in Simplified Chinese or English: the one place
//! where its messages are written, keyed by meaning.
//!
//! The language is chosen once per process from the POSIX locale (`LC_ALL`, then
//! `LC_MESSAGES`, then `LANG`): Chinese when it names Chinese (`zh_CN.UTF-8`), English
//! otherwise. Only messages for people change: the CSV that `usage submit` prints on
//! stdout, its columns, status words and reason codes are the same in every language,
//! because programs read them (SPEC §11).

use std::sync::OnceLock;

pub use suanli_core::lang::Lang;

static LANG: OnceLock<Lang> = OnceLock::new();

/// The language of this process's messages.
pub fn lang() -> Lang {
    *LANG.get_or_init(|| {
        let var = |k: &str| std::env::var(k).ok();
        Lang::from_locale(var("LC_ALL").as_deref(), var("LC_MESSAGES").as_deref(), var("LANG").as_deref())
    })
}

/// Fixed messages, by meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Msg {
    XlsxNeedsOut,
    ExcelNeedsCsv,
    ConvertedFromGb18030,
    DryRunNothingSent,
    CommandNeeded,
}

/// A fixed message in the process's language.
pub fn t(m: Msg) -> &'static str {
    text(lang(), m)
}

/// A fixed message in `lang`.
pub fn text(lang: Lang, m: Msg) -> &'static str {
    use Msg::*;
    match lang {
        Lang::Zh => match m {
            XlsxNeedsOut => "XLSX 是二进制文件, 不能输出到终端: 请用 --out 文件名 指定输出文件",
            ExcelNeedsCsv => "--excel 只用于 CSV 格式 (给 Excel/WPS 双击打开的 CSV); XLSX 本身就适合 Excel/WPS",
            ConvertedFromGb18030 => "文件不是 UTF-8 编码, 已按 GBK/GB18030 读取并转换为 UTF-8 (签名的是转换后的内容)",
            DryRunNothingSent => "试运行 (--dry-run): 没有签名, 也没有发送任何记录",
            CommandNeeded => "这里需要一个命令; 可选的命令如下:",
        },
        Lang::En => match m {
            XlsxNeedsOut => "XLSX is a binary file and is not written to a terminal: give --out FILE",
            ExcelNeedsCsv => {
                "--excel applies to the CSV format (a CSV for double-clicking in Excel/WPS); XLSX already suits Excel/WPS"
            }
            ConvertedFromGb18030 => {
                "the file is not UTF-8; it was read as GBK/GB18030 and converted to UTF-8 (what is signed is the converted text)"
            }
            DryRunNothingSent => "dry run (--dry-run): nothing was signed or sent",
            CommandNeeded => "a command is needed here; these are the choices:",
        },
    }
}

/// `N records: A accepted, D duplicate, R rejected`.
pub fn summary(total: usize, accepted: usize, duplicate: usize, rejected: usize) -> String {
    match lang() {
        Lang::Zh => format!("共 {total} 条记录: 接受 {accepted}, 重复 {duplicate}, 拒绝 {rejected}"),
        Lang::En => format!("{total} records: {accepted} accepted, {duplicate} duplicate, {rejected} rejected"),
    }
}

/// A rejected row, on stderr: its line, id, code, the ledger's detail and what the code means.
pub fn rejected_row(line: u64, record_id: &str, code: &str, detail: &str) -> String {
    let explained = suanli_core::codes::RejectCode::parse(code).map(|c| c.explain(lang()));
    match lang() {
        Lang::Zh => {
            let why = explained.map(|e| format!(" ({e})")).unwrap_or_default();
            format!("第 {line} 行 记录 {record_id}: 被拒绝 {code}: {detail}{why}")
        }
        Lang::En => {
            let why = explained.map(|e| format!(" ({e})")).unwrap_or_default();
            format!("line {line} record {record_id}: REJECTED {code}: {detail}{why}")
        }
    }
}

/// Some records got no answer (the connection broke, the ledger stopped).
pub fn unanswered(unanswered: usize, total: usize, cause: &str) -> String {
    match lang() {
        Lang::Zh => format!(
            "{total} 条记录中有 {unanswered} 条没有得到答复 ({cause}); 已答复的结果已写到标准输出. \
             可以放心地重新提交同一个文件: 已接受的记录会答复 DUPLICATE, 不会重复计算"
        ),
        Lang::En => format!(
            "{unanswered} of {total} records got no answer ({cause}); the answers received are on standard output. \
             Submit the same file again: records already accepted are answered DUPLICATE, never counted twice"
        ),
    }
}

/// The run was interrupted (Ctrl-C, SIGTERM).
pub fn interrupted(answered: usize, total: usize) -> String {
    match lang() {
        Lang::Zh => format!(
            "已中断: {total} 条记录中已答复 {answered} 条, 结果已写到标准输出. \
             可以放心地重新提交同一个文件: 已接受的记录会答复 DUPLICATE, 不会重复计算"
        ),
        Lang::En => format!(
            "interrupted: {answered} of {total} records were answered and their results written to standard output. \
             Submitting the same file again is safe: records already accepted are answered DUPLICATE, never counted twice"
        ),
    }
}

/// `--fail-on-rejected` and some records were rejected.
pub fn some_rejected(rejected: usize) -> String {
    match lang() {
        Lang::Zh => format!("有 {rejected} 条记录被拒绝 (--fail-on-rejected)"),
        Lang::En => format!("{rejected} records were rejected (--fail-on-rejected)"),
    }
}

/// A cell rewritten before signing.
pub fn normalized(line: u64, column: &str, before: &str, after: &str) -> String {
    match lang() {
        Lang::Zh => format!("第 {line} 行 {column}: {before:?} 规范化为 {after} (签名的是规范化后的值)"),
        Lang::En => format!("line {line} {column}: {before:?} normalised to {after} (the normalised value is signed)"),
    }
}

/// The sheet of a workbook that was read.
pub fn read_sheet(name: &str) -> String {
    match lang() {
        Lang::Zh => format!("读取工作表 {name:?}"),
        Lang::En => format!("reading sheet {name:?}"),
    }
}

/// One problem of a dry run.
pub fn problem(line: u64, column: &str, message: &str, warning: bool) -> String {
    match (lang(), warning, column.is_empty()) {
        (Lang::Zh, false, false) => format!("第 {line} 行 {column} 列: {message}"),
        (Lang::Zh, false, true) => format!("第 {line} 行: {message}"),
        (Lang::Zh, true, _) => format!("第 {line} 行 {column} 列 (提醒): {message}"),
        (Lang::En, false, false) => format!("line {line}, column {column}: {message}"),
        (Lang::En, false, true) => format!("line {line}: {message}"),
        (Lang::En, true, _) => format!("line {line}, column {column} (warning): {message}"),
    }
}

/// A checkpoint without enough valid witness cosignatures (`--witness-threshold`).
pub fn witness_threshold_not_met(lang: Lang, valid: &[String], threshold: usize, keys: usize) -> String {
    let names = if valid.is_empty() { "-".to_string() } else { valid.join(", ") };
    match lang {
        Lang::Zh => format!(
            "检查点的见证联署不足: 需要 {threshold} 个 (--witness-threshold), 在给出的 {keys} 个见证者 (--witness-key) 中只有 {} 个的联署有效 ({names}). \
             这个检查点没有被足够多的独立见证者确认与它们见过的日志一致, 不予采信",
            valid.len()
        ),
        Lang::En => format!(
            "not enough witness cosignatures on the checkpoint: {threshold} needed (--witness-threshold), {} of the {keys} \
             witnesses given (--witness-key) cosigned it validly ({names}). Not enough independent witnesses confirmed that \
             this checkpoint is consistent with the log they saw; it is not trusted",
            valid.len()
        ),
    }
}

/// A cosignature under a trusted witness key that does not verify.
pub fn witness_cosignature_invalid(lang: Lang, detail: &str) -> String {
    match lang {
        Lang::Zh => format!("检查点上的见证联署无效 ({detail}): 联署被伪造或被改动, 检查点不予采信"),
        Lang::En => format!(
            "a witness cosignature on the checkpoint is invalid ({detail}): forged or altered; the checkpoint is not trusted"
        ),
    }
}

/// The checkpoint has enough cosignatures (stderr of `log checkpoint`).
pub fn witnessed(lang: Lang, valid: &[String], threshold: usize, keys: usize) -> String {
    let names = valid.join(", ");
    match lang {
        Lang::Zh => format!("见证: {keys} 个见证者中有 {} 个联署了这个检查点 (门限 {threshold}): {names}", valid.len()),
        Lang::En => format!(
            "witnessed: {} of {keys} witnesses cosigned the checkpoint (threshold {threshold}): {names}",
            valid.len()
        ),
    }
}

/// The end of a dry run.
pub fn dry_run_result(rows: usize, problems: usize, warnings: usize) -> String {
    match lang() {
        Lang::Zh if problems == 0 => format!("检查了 {rows} 行, 没有发现问题 (提醒 {warnings} 条)"),
        Lang::Zh => format!("检查了 {rows} 行, 发现 {problems} 个问题 (提醒 {warnings} 条)"),
        Lang::En if problems == 0 => format!("{rows} rows checked: no problems ({warnings} warnings)"),
        Lang::En => format!("{rows} rows checked: {problems} problems ({warnings} warnings)"),
    }
}

/// A Chinese sentence that says what kind of error `err` is, to be shown before its English
/// text (which carries the details from the ledger, the network or the system): the gRPC
/// code of a refusal, an unreachable server, a key file, a system error by its kind, or a
/// rejected request with its reason code explained.
pub fn error_zh(err: &(dyn std::error::Error + 'static)) -> String {
    use crate::error::ClientError;
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(c) = e.downcast_ref::<ClientError>() {
            return match c {
                ClientError::BadUrl { .. } => "服务器地址 (--server) 不可用, 应形如 http://127.0.0.1:7420".into(),
                ClientError::Unreachable { url, .. } => format!("连不上账本服务器 {url}: 请检查地址、网络和 TLS 设置"),
                ClientError::Rpc { code, .. } => format!("账本拒绝了这次调用: {}", grpc_code_zh(code)),
                ClientError::Tls(_) => "TLS 设置或证书文件有误".into(),
                ClientError::KeyFile { path, .. } => format!("密钥文件 {} 无法读取、解析或写入", path.display()),
                ClientError::Csv(_) => "记录文件有误, 没有发送任何记录".into(),
                ClientError::Protocol(_) => "账本的答复不合协议 (客户端或服务器的缺陷)".into(),
            };
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            let what = match io.kind() {
                K::NotFound => "文件或目录不存在",
                K::PermissionDenied => "没有权限",
                K::AlreadyExists => "文件已存在",
                K::InvalidData | K::InvalidInput => "数据或参数无效",
                K::UnexpectedEof => "文件意外结束",
                K::BrokenPipe => "输出管道已关闭",
                K::Interrupted => "操作被中断",
                _ => "系统错误",
            };
            return format!("读写文件或系统调用出错: {what}");
        }
        cur = e.source();
    }
    let text = err.to_string();
    if let Some(rest) = text.strip_prefix("rejected: ") {
        let code = rest.split(':').next().unwrap_or_default();
        let why = suanli_core::codes::RejectCode::parse(code).map(|c| c.explain(Lang::Zh));
        return match why {
            Some(why) => format!("账本拒绝了这个请求: {code} ({why})"),
            None => format!("账本拒绝了这个请求: {code}"),
        };
    }
    "出错了".into()
}

/// A gRPC status code in Chinese.
fn grpc_code_zh(code: &str) -> &'static str {
    match code {
        "PermissionDenied" => "权限不足 (这把密钥不能做这件事)",
        "Unauthenticated" => "签名未通过验证 (密钥未登记、已吊销、签名不符或时钟偏差过大)",
        "NotFound" => "找不到所要的对象",
        "InvalidArgument" => "请求的参数有误",
        "AlreadyExists" => "对象已存在",
        "FailedPrecondition" => "账本当前状态不允许这样做",
        "ResourceExhausted" => "账本繁忙或请求过大, 请稍后再试",
        "DeadlineExceeded" => "等待账本答复超时",
        "Unavailable" => "账本暂时不可用",
        "Unimplemented" => "账本不支持这个调用 (版本不同?)",
        _ => "账本内部错误",
    }
}

/// Every reason code with its explanation, for help texts and `suanli explain`.
pub fn codes_help(lang: Lang) -> String {
    use suanli_core::codes::{LineReason, RejectCode};
    let mut out = String::new();
    let (rejected, lines) = match lang {
        Lang::Zh => ("拒绝原因 (REJECTED 的 reason):", "金额行原因 (ACCEPTED/DUPLICATE 的 V|R|S reason):"),
        Lang::En => ("Why a record is refused (the reason of REJECTED):", "Why a money line has its amount (V|R|S):"),
    };
    out.push_str(rejected);
    out.push('\n');
    for c in RejectCode::ALL {
        out.push_str(&format!("  {:<22} {}\n", c.as_str(), c.explain(lang)));
    }
    out.push('\n');
    out.push_str(lines);
    out.push('\n');
    for c in LineReason::ALL {
        out.push_str(&format!("  {:<22} {}\n", c.as_str(), c.explain(lang)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixed_message_has_both_languages() {
        use Msg::*;
        for m in [XlsxNeedsOut, ExcelNeedsCsv, ConvertedFromGb18030, DryRunNothingSent, CommandNeeded] {
            let (zh, en) = (text(Lang::Zh, m), text(Lang::En, m));
            assert!(zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{m:?}: {zh}");
            assert!(en.is_ascii(), "{m:?}: {en}");
        }
    }

    #[test]
    fn witness_messages_have_both_languages() {
        let names = ["w1".to_string()];
        for (zh, en) in [
            (witness_threshold_not_met(Lang::Zh, &names, 2, 3), witness_threshold_not_met(Lang::En, &names, 2, 3)),
            (witness_cosignature_invalid(Lang::Zh, "w1"), witness_cosignature_invalid(Lang::En, "w1")),
            (witnessed(Lang::Zh, &names, 1, 1), witnessed(Lang::En, &names, 1, 1)),
        ] {
            assert!(zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{zh}");
            assert!(en.is_ascii(), "{en}");
        }
    }

    #[test]
    fn errors_are_explained_in_chinese() {
        let rpc = crate::error::ClientError::Rpc {
            call: "Vouchers.ListAllVouchers",
            code: "PermissionDenied".into(),
            message: "no".into(),
        };
        let e = anyhow::Error::from(rpc).context("listing vouchers");
        assert!(error_zh(e.as_ref()).contains("权限不足"), "{}", error_zh(e.as_ref()));
        let io = anyhow::Error::from(std::fs::read("/nonexistent/suanli").unwrap_err()).context("reading");
        assert!(error_zh(io.as_ref()).contains("不存在"));
        let rejected = anyhow::anyhow!("rejected: UNKNOWN_ENTITY: no such entity");
        assert!(error_zh(rejected.as_ref()).starts_with("账本拒绝了这个请求: UNKNOWN_ENTITY ("));
    }

    #[test]
    fn codes_help_lists_every_code() {
        for lang in [Lang::Zh, Lang::En] {
            let h = codes_help(lang);
            for c in suanli_core::codes::RejectCode::ALL {
                assert!(h.contains(c.as_str()), "{c}");
            }
            for c in suanli_core::codes::LineReason::ALL {
                assert!(h.contains(c.as_str()), "{c}");
            }
        }
    }
}
