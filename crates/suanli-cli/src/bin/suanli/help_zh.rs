//! The help in Simplified Chinese: when the locale is Chinese, each command's one-line
//! description and the examples are replaced by these, on the same clap definition (the
//! flags, their names and the stdout formats do not change). Flag descriptions stay in
//! English for now.

use clap::Command;

/// `(command path, Chinese description)`; the path is the subcommand names from the top.
const ABOUT: &[(&str, &str)] = &[
    (
        "",
        "suanli — 算力券账本的命令行客户端: 登记企业及其密钥, 发放和授权算力券, 提交签名的用量与语料记录, 冲销错误, 关闭和支付结算期。每个请求都用 --key 指定的密钥文件签名; 用 `suanli keygen` 生成密钥。",
    ),
    ("keygen", "生成新的密钥文件 (权限 0600) 并打印其公钥"),
    ("pubkey", "打印密钥文件的公钥 (base64)"),
    ("entity", "登记企业, 管理其密钥和标志 (登记机关, admin 密钥)"),
    ("entity register", "登记一家企业及其标志 (admin)"),
    ("entity add-key", "为企业添加公钥, 此后用它签名的记录和请求被接受 (admin)"),
    ("entity revoke-key", "吊销企业的一把密钥: 此后它签的任何东西都不被接受 (admin)"),
    ("entity update", "修改企业的标志、关联方组或名称; 只改给出的项 (admin)"),
    ("entity show", "查看企业: 标志、关联方组、密钥和各封顶年度已用补贴"),
    ("entity list", "列出所有登记的企业 (admin 或 finance 密钥), CSV 或 XLSX"),
    ("voucher", "发放、授权、撤回授权、作废和查询算力券"),
    ("voucher issue", "向一人公司发放算力券 (admin)"),
    ("voucher authorize", "授权供给方 (或数据供给方) 核销你的算力券, 可设上限 (持券人)"),
    ("voucher withdraw", "撤回对供给方的授权: 此后不再核销 (持券人)"),
    ("voucher revoke", "作废算力券: 不再核销; 已核销的保留 (admin)"),
    ("voucher statement", "查看算力券: 面值、已核销、已失效、余额、有效期、授权"),
    (
        "voucher list",
        "列出算力券: 用 admin 或 finance 密钥列出所有持券人的券 (可按持券人、券种、状态筛选), 用持券人密钥列出自己的券; 表格、CSV、JSON 或 XLSX",
    ),
    ("usage", "提交和冲销 GPU 用量记录 (算力供给方)"),
    ("usage submit", "签名并提交文件 (CSV、GBK CSV 或 .xlsx) 中的用量记录; 每条记录在标准输出打印一行结果"),
    ("usage reverse", "整条冲销一条已接受的用量记录 (更正 = 冲销 + 新记录)"),
    ("corpus", "提交和冲销由语料券支付的语料采购记录 (数据供给方)"),
    ("corpus submit", "签名并提交文件中的语料采购记录; 每条记录打印一行结果"),
    ("corpus reverse", "整条冲销一条已接受的语料采购记录"),
    ("settle", "关闭结算期和年度、登记付款、列出结算单 (finance 密钥)"),
    ("settle close", "关闭结算期: 所有未结算的应付款成为结算单行"),
    ("settle pay", "登记付款 (负数金额: 收回的补贴)"),
    ("settle close-year", "关闭封顶年度: 此后该年度的记录被拒绝 (YEAR_CLOSED)"),
    ("settle list", "列出已关闭的结算期及其结算单行, 以及未结算的应付款 (CSV 或 XLSX)"),
    ("statement", "一家企业的对账单, 逐条记录, 含应付、已付、未付合计 (CSV 一张表或 XLSX)"),
    ("report", "年度结算报告 (finance 密钥) 及其离线校验"),
    ("report annual", "导出封顶年度的年度结算报告 (SPEC §10), 同时写 FILE.sig"),
    ("report verify", "用账本公钥离线校验报告文件及其 FILE.sig"),
    ("log", "可验证日志: 签名检查点、包含证明、导出及离线校验"),
    ("log checkpoint", "打印最新的签名检查点 (C2SP 签名便笺), 先校验其签名"),
    ("log prove", "取回一条记录的日志条目和包含证明, 对照签名检查点校验"),
    ("log export", "把日志条目写到导出文件, 供 `log verify` 使用"),
    ("log verify", "离线校验导出文件: 检查点签名、Merkle 根、每个签名和每条金额, 按账本规则重放。无需服务器"),
    ("log vkey", "打印账本的签名便笺验证密钥 (<origin>+<密钥哈希>+<base64>), 供任何 C2SP 工具校验检查点"),
    ("log consistency", "取回并校验一致性证明: 较早的日志是较新日志的前缀 (账本从未改写历史)"),
    ("backup", "备份运行中的账本: 完整日志和一个现签的检查点 (用 `suanlid restore` 恢复)"),
    ("explain", "解释原因代码 (拒绝原因和金额行原因)"),
    ("completions", "打印 shell 自动补全脚本 (由命令行定义生成), 例如 `suanli completions bash`"),
    ("man", "把 suanli 及每个子命令的 man 手册页写到目录中 (由命令行定义生成)"),
];

const EXAMPLES: &str = "\
示例 (账本由 `suanlid --data-dir data` 启动, 它写了 data/admin.key 和 data/finance.key):
  suanli keygen --out provider.key
  suanli entity register --key data/admin.key --id 91350100M000100Y43 --name '苏州智算中心' --provider --supplier-eligible
  suanli entity add-key --key data/admin.key --id 91350100M000100Y43 --pubkey \"$(suanli pubkey provider.key)\"
  suanli usage submit --key provider.key --csv 用量-2026-03.xlsx --dry-run
  suanli usage submit --key provider.key --csv 用量-2026-03.xlsx > results.csv
  suanli settle close --key data/finance.key --period 2026-Q1
  suanli settle list --key data/finance.key --format xlsx --out 结算.xlsx

改变账本的命令打印 `ACCEPTED seq=N` (已做过的重试为 `DUPLICATE seq=N`) 并以 0 退出; 被拒绝时在 stderr 打印
`suanli: rejected: 代码: 说明` 并以 1 退出。其他错误在 stderr 打印一行以 `suanli:` 开头的信息并以非 0 退出。
金额单位为元, 最多两位小数 (12500.00); 时间为带时区的 RFC 3339 (2026-03-01T00:00:00+08:00)。
原因代码的解释: `suanli explain`。";

fn translate(cmd: Command, path: &str) -> Command {
    let mut cmd = cmd;
    if let Some((_, zh)) = ABOUT.iter().find(|(p, _)| *p == path) {
        cmd = cmd.about(*zh).long_about(None);
    }
    let names: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
    for name in names {
        let sub_path = if path.is_empty() { name.clone() } else { format!("{path} {name}") };
        cmd = cmd.mut_subcommand(&name, |s| translate(s, &sub_path));
    }
    cmd
}

/// The command with its descriptions in Chinese, and the reason codes explained in
/// Chinese under `usage submit` and `corpus submit`.
pub fn chinese(cmd: Command) -> Command {
    let codes = suanli_cli::i18n::codes_help(suanli_cli::i18n::Lang::Zh);
    translate(cmd, "")
        .after_help(EXAMPLES)
        .mut_subcommand("usage", |u| u.mut_subcommand("submit", |s| s.after_long_help(codes.clone())))
        .mut_subcommand("corpus", |u| u.mut_subcommand("submit", |s| s.after_long_help(codes.clone())))
}

/// Reason codes explained in English under `usage submit --help`.
pub fn english(cmd: Command) -> Command {
    let codes = suanli_cli::i18n::codes_help(suanli_cli::i18n::Lang::En);
    cmd.mut_subcommand("usage", |u| u.mut_subcommand("submit", |s| s.after_long_help(codes.clone())))
        .mut_subcommand("corpus", |u| u.mut_subcommand("submit", |s| s.after_long_help(codes.clone())))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn every_command_has_a_chinese_description() {
        fn walk(cmd: &Command, path: &str, missing: &mut Vec<String>) {
            if !ABOUT.iter().any(|(p, _)| *p == path) {
                missing.push(path.to_string());
            }
            for s in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                let p = if path.is_empty() { s.get_name().to_string() } else { format!("{path} {}", s.get_name()) };
                walk(s, &p, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&crate::Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "no Chinese description for: {missing:?}");
    }
}
