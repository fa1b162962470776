//! The help in Simplified Chinese: when the locale is Chinese, each command's description,
//! each flag's and argument's description, the headings and the examples are replaced by
//! these, on the same clap definition (the flags, their names and the stdout formats do not
//! change). clap's own errors are put in Chinese by [`error`].

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
    (
        "witness",
        "运行见证者 (C2SP tlog-witness): 为所跟随日志的检查点联署, 每次都要有从上次联署的检查点出发的一致性证明, 否则拒绝",
    ),
    ("explain", "解释原因代码 (拒绝原因和金额行原因)"),
    ("completions", "打印 shell 自动补全脚本 (由命令行定义生成), 例如 `suanli completions bash`"),
    ("man", "把 suanli 及每个子命令的 man 手册页写到目录中 (由命令行定义生成)"),
];

/// Each flag's and argument's description in Chinese, keyed by its English description
/// (the first paragraph clap shows in the short help): the same English sentence means the
/// same thing wherever it appears, and an English sentence changed or added without its
/// Chinese fails `every_flag_has_a_chinese_description`. Flags with values that carry their
/// own help (`--kind`) name the values in the Chinese text.
const FLAGS: &[(&str, &str)] = &[
    // Global options and clap's own flags.
    (
        "Address of the ledger server (suanlid). Accepted before or after the command",
        "账本服务器 (suanlid) 的地址。可写在命令之前或之后",
    ),
    (
        "For an https:// server: the CA certificate (PEM) that signed the server's certificate",
        "用于 https:// 服务器: 签发服务器证书的 CA 证书 (PEM)",
    ),
    (
        "For a server that requires client certificates: this client's certificate (PEM)",
        "用于要求客户端证书的服务器: 本客户端的证书 (PEM)",
    ),
    ("The private key (PEM) of --client-cert", "--client-cert 对应的私钥 (PEM)"),
    ("Print help", "打印帮助"),
    ("Print help (see more with '--help')", "打印帮助 (用 '--help' 看更详细的说明)"),
    ("Print version", "打印版本"),
    (
        "Id of this request; a fresh random one when left out. Run a command again with the same id (and the same arguments) to retry it safely: the ledger answers DUPLICATE instead of doing it twice",
        "本请求的 id; 不给时随机生成。用同一个 id (和同样的参数) 再运行一次即可安全重试: 账本答复 DUPLICATE, 不会做两次",
    ),
    // Keys.
    ("The admin key file", "admin 密钥文件"),
    (
        "The admin key file (admin.key in suanlid's data directory unless given at its first start)",
        "admin 密钥文件 (除非首次启动时另行指定, 即 suanlid 数据目录中的 admin.key)",
    ),
    ("The finance key file", "finance 密钥文件"),
    (
        "The finance key file (finance.key in suanlid's data directory unless given at its first start)",
        "finance 密钥文件 (除非首次启动时另行指定, 即 suanlid 数据目录中的 finance.key)",
    ),
    ("The finance (or admin) key file", "finance (或 admin) 密钥文件"),
    ("The admin or finance key file", "admin 或 finance 密钥文件"),
    (
        "The admin or finance key file (every holder's vouchers), or a holder's key file (its own vouchers)",
        "admin 或 finance 密钥文件 (所有持券人的券), 或持券人的密钥文件 (自己的券)",
    ),
    ("A key file of the voucher's holder", "持券人的密钥文件"),
    ("A key file of the holder, or the admin or finance key", "持券人的密钥文件, 或 admin 或 finance 密钥"),
    ("A key of the company itself, or the admin or finance key", "企业自己的密钥, 或 admin 或 finance 密钥"),
    ("The entity's own key, or the finance or admin key", "企业自己的密钥, 或 finance 或 admin 密钥"),
    (
        "A key file made by `suanli keygen` (or admin.key / finance.key of suanlid)",
        "由 `suanli keygen` 生成的密钥文件 (或 suanlid 的 admin.key / finance.key)",
    ),
    (
        "A registered key file of the submitting company (provider_id / supplier_id of every row)",
        "提交企业已登记的密钥文件 (每行的 provider_id / supplier_id)",
    ),
    ("A registered key file of the provider that submitted the record", "提交该记录的算力供给方已登记的密钥文件"),
    ("A registered key file of the data supplier that submitted the record", "提交该记录的数据供给方已登记的密钥文件"),
    (
        "Where to write the new key file. It is created with mode 0600 (owner only) and an existing file is never overwritten. Keep it secret: whoever holds it signs as you",
        "新密钥文件的路径。以权限 0600 (仅所有者) 创建, 从不覆盖已有文件。请妥善保密: 持有它的人可以以你的名义签名",
    ),
    (
        "Protect the key file with a passphrase (scrypt + ChaCha20-Poly1305), asked for twice on the terminal or read from SUANLI_PASSPHRASE_FILE / SUANLI_PASSPHRASE. Commands that use the key then ask for it the same way",
        "用口令保护密钥文件 (scrypt + ChaCha20-Poly1305), 在终端输入两次, 或从 SUANLI_PASSPHRASE_FILE / SUANLI_PASSPHRASE 读取。之后使用该密钥的命令以同样方式索取口令",
    ),
    (
        "The public key, base64 (as printed by `suanli keygen` or `suanli pubkey FILE`)",
        "公钥, base64 (即 `suanli keygen` 或 `suanli pubkey FILE` 打印的)",
    ),
    // Entities.
    ("The company's 18-character unified social credit code (统一社会信用代码)", "企业的 18 位统一社会信用代码"),
    ("The company's USCC", "企业的统一社会信用代码"),
    ("The company's name, 1-100 characters", "企业名称, 1-100 个字符"),
    ("A new name", "新名称"),
    ("It is a compute provider: it may submit usage records", "是算力供给方: 可以提交用量记录"),
    ("Its rentals earn the renter subsidy (算力租赁补贴)", "其租用享受算力租赁补贴"),
    ("Its usage records earn the supplier subsidy", "其用量记录享受供给方补贴"),
    ("It is a one-person company (OPC) and may hold vouchers", "是一人公司 (OPC), 可以持有算力券"),
    ("It is a data supplier: it may submit corpus-purchase records", "是数据供给方: 可以提交语料采购记录"),
    (
        "Related-party group label: companies sharing a group are related parties (关联方), whose usage earns no subsidy and draws no voucher",
        "关联方组标签: 同组企业互为关联方, 其间的用量不享受补贴, 也不核销算力券",
    ),
    ("May it submit usage records?", "是否可以提交用量记录?"),
    ("Do its rentals earn the renter subsidy?", "其租用是否享受租赁补贴?"),
    ("Do its usage records earn the supplier subsidy?", "其用量记录是否享受供给方补贴?"),
    ("May it hold vouchers (one-person company)?", "是否可以持有算力券 (一人公司)?"),
    ("May it submit corpus-purchase records?", "是否可以提交语料采购记录?"),
    ("Put it in this related-party group", "放入这个关联方组"),
    ("Take it out of its related-party group", "移出其关联方组"),
    ("USCC of the entity", "企业的统一社会信用代码"),
    // Vouchers.
    ("The new voucher's id, e.g. V-2026-0001", "新券的券号, 例如 V-2026-0001"),
    ("The voucher's id", "券号"),
    ("USCC of the holder, a company registered with --opc", "持券人的统一社会信用代码, 须是以 --opc 登记的企业"),
    (
        "USCC of the holder. When left out it is looked up from the voucher (a signed read)",
        "持券人的统一社会信用代码。不给时从券查出 (一次签名读取)",
    ),
    ("What the voucher pays for", "券种: compute (算力券, 由用量记录核销) 或 corpus (语料券, 由语料采购记录核销)"),
    ("Face value in yuan, at most two decimals, e.g. 200000.00", "面值, 单位元, 最多两位小数, 例如 200000.00"),
    (
        "First moment it can be drawn (inclusive), RFC 3339, e.g. 2026-01-31T00:00:00+08:00",
        "可以核销的起始时刻 (含), RFC 3339, 例如 2026-01-31T00:00:00+08:00",
    ),
    (
        "End of validity (exclusive): what is left then lapses. RFC 3339",
        "有效期截止 (不含): 届时剩余的金额失效。RFC 3339",
    ),
    (
        "USCC of the provider (or data supplier) allowed to draw",
        "获准核销的算力供给方 (或数据供给方) 的统一社会信用代码",
    ),
    (
        "The most this provider may draw in total, in yuan; no limit when left out. Authorizing again replaces the limit (what was drawn stays counted)",
        "该供给方累计最多可核销的金额, 单位元; 不给则不设上限。再次授权会替换上限 (已核销的照旧计入)",
    ),
    ("USCC of the provider whose authorization ends", "要撤回授权的供给方的统一社会信用代码"),
    ("Only the vouchers of this holder (USCC)", "只列这个持券人 (统一社会信用代码) 的券"),
    ("Only vouchers of this kind", "只列这一券种: compute (算力券) 或 corpus (语料券)"),
    (
        "Only vouchers that can be drawn now (not revoked, within their validity)",
        "只列现在可以核销的券 (未作废, 在有效期内)",
    ),
    ("Only vouchers not yet valid (before valid_from)", "只列尚未生效的券 (早于 valid_from)"),
    ("Only vouchers past their validity (what was left has lapsed)", "只列已过有效期的券 (剩余金额已失效)"),
    ("Only revoked vouchers", "只列已作废的券"),
    (
        "table (default, for reading on a terminal), csv, json or xlsx (needs --out or a pipe)",
        "table (默认, 在终端阅读)、csv、json 或 xlsx (需要 --out 或管道)",
    ),
    (
        "The CSV for double-clicking in Excel/WPS (byte-order mark, CRLF, Chinese column titles and words, ids kept as text); implies --format csv",
        "给 Excel/WPS 双击打开的 CSV (带字节顺序标记, CRLF, 中文列名和中文词, 编号保持为文本); 即 --format csv",
    ),
    // Records.
    (
        "The file of records: CSV (UTF-8, or GBK/GB18030, converted with a notice) or an .xlsx workbook (its first sheet, or --sheet)",
        "记录文件: CSV (UTF-8, 或 GBK/GB18030, 转换时给出提示) 或 .xlsx 工作簿 (第一个工作表, 或 --sheet 指定的)",
    ),
    ("With an .xlsx file: the sheet to read (default: the first)", "用于 .xlsx 文件: 要读取的工作表 (默认第一个)"),
    (
        "The UTC offset of times written without one (2026/3/1 0:00, 2026-03-01 00:00:00)",
        "没有写时区的时间 (2026/3/1 0:00, 2026-03-01 00:00:00) 所用的 UTC 偏移",
    ),
    (
        "Check the whole file locally and list every problem with its line and column (columns, field rules, USCC check characters, amount = gpu_hours × unit_price, times, window, record ids repeated in the file); sign and send nothing. Exit status 3 when there are problems, 0 when there are none",
        "在本地检查整个文件, 列出每个问题及其行和列 (列、字段规则、统一社会信用代码校验位、金额 = gpu_hours × unit_price、时间、窗口、文件内重复的 record_id); 不签名也不发送。有问题时退出码为 3, 没有问题为 0",
    ),
    (
        "Also write each row's outcome to FILE (CSV: line, record_id, the result columns, the ledger's detail and an explanation of the reason), as answers arrive",
        "同时把每行的结果写到 FILE (CSV: 行号、record_id、结果各列、账本的说明和原因解释), 随答复到达随时写入",
    ),
    (
        "Exit with status 3 when any record is REJECTED (for cron jobs); stdout is the same",
        "有任何记录被拒绝 (REJECTED) 时以退出码 3 结束 (供定时任务使用); 标准输出不变",
    ),
    (
        "Sign every usage record on its own instead of in batches of 64 (one signature per batch, bound to this ledger). Corpus records are always signed one by one",
        "每条用量记录单独签名, 而不是每 64 条一批签名 (每批一个签名, 绑定本账本)。语料记录总是逐条签名",
    ),
    ("USCC of the provider that submitted the record", "提交该记录的算力供给方的统一社会信用代码"),
    (
        "USCC of the provider (or data supplier) that submitted the record",
        "提交该记录的算力供给方 (或数据供给方) 的统一社会信用代码",
    ),
    ("USCC of the data supplier that submitted the record", "提交该记录的数据供给方的统一社会信用代码"),
    ("The record_id of the record to reverse", "要冲销的记录的 record_id"),
    ("The record's id, as its submitter gave it", "记录的 id, 即提交方给出的 record_id"),
    ("Why it is reversed, 1-200 characters (kept in the log)", "冲销原因, 1-200 个字符 (记入日志)"),
    ("A usage record or a corpus-purchase record", "用量记录或语料采购记录"),
    // Settlement, statements and reports.
    ("Name of the period, e.g. 2026-Q1 (letters, digits, - _ . :)", "结算期名称, 例如 2026-Q1 (字母、数字、- _ . :)"),
    ("The closed period whose statement line is paid", "所付结算单行所在的已关闭结算期"),
    ("USCC of the payee of the line", "该行收款方的统一社会信用代码"),
    (
        "Which line of the payee",
        "收款方的哪一行: renter (租赁补贴, 付给租用方)、supplier (供给方补贴, 付给供给方) 或 voucher (算力券兑付, 付给供给方或数据供给方)",
    ),
    ("The cap year of the line", "该行的封顶年度"),
    (
        "Yuan paid, at most two decimals; negative for money received back (e.g. -196250.00)",
        "支付金额 (元), 最多两位小数; 收回的款项为负数 (例如 -196250.00)",
    ),
    (
        "The bank's reference of the transfer; the same reference twice is answered DUPLICATE",
        "银行转账流水号; 同一流水号第二次提交答复 DUPLICATE",
    ),
    ("The cap year to close", "要关闭的封顶年度"),
    ("The cap year, e.g. 2026", "封顶年度, 例如 2026"),
    ("Only this cap year", "只看这个封顶年度"),
    (
        "csv (default) or xlsx (Chinese column titles, frozen header, filters; needs --out)",
        "csv (默认) 或 xlsx (中文列名, 冻结表头, 筛选; 需要 --out)",
    ),
    (
        "csv (one table: records, reversals, payouts, then a `total` row per cap year) or xlsx",
        "csv (一张表: 记录、冲销、付款, 然后每个封顶年度一行 `total` 合计) 或 xlsx",
    ),
    (
        "csv (SPEC §10, for programs), json, or xlsx (Chinese column titles, for Excel/WPS)",
        "csv (SPEC §10, 供程序读取)、json 或 xlsx (中文列名, 供 Excel/WPS)",
    ),
    (
        "With csv: the form for double-clicking in Excel/WPS (byte-order mark, CRLF, Chinese column titles, ids kept as text)",
        "用于 csv: 给 Excel/WPS 双击打开的形式 (带字节顺序标记, CRLF, 中文列名, 编号保持为文本)",
    ),
    (
        "With --format csv: write the CSV for double-clicking in Excel/WPS (UTF-8 with a byte-order mark, CRLF, Chinese column titles, ids kept as text) instead of the SPEC §10 CSV for programs. Signed like the others",
        "与 --format csv 一起: 写给 Excel/WPS 双击打开的 CSV (带字节顺序标记的 UTF-8, CRLF, 中文列名, 编号保持为文本), 而不是供程序读取的 SPEC §10 CSV。同样签名",
    ),
    ("Write to FILE instead of standard output (required for xlsx)", "写到 FILE 而不是标准输出 (xlsx 必须)"),
    (
        "Write to FILE instead of standard output (required for xlsx on a terminal)",
        "写到 FILE 而不是标准输出 (在终端上输出 xlsx 时必须)",
    ),
    ("Where to write the report; the signature goes to FILE.sig", "报告的输出文件; 签名写到 FILE.sig"),
    (
        "Compute the report as of this entry (inclusive) instead of the latest",
        "按截至该日志条目 (含) 的状态计算报告, 而不是最新状态",
    ),
    ("The report file; its signature is read from FILE.sig", "报告文件; 从 FILE.sig 读取其签名"),
    // The log.
    ("The ledger's public key (base64): the only thing the verifier trusts", "账本公钥 (base64): 校验时唯一信任的东西"),
    (
        "The ledger's public key (base64). Without it, the key the server reports is used",
        "账本公钥 (base64)。不给时使用服务器报告的公钥",
    ),
    (
        "The ledger's public key (base64). Without it, the key the server reports is used; an auditor pins it",
        "账本公钥 (base64)。不给时使用服务器报告的公钥; 审计人员应固定指定它",
    ),
    (
        "The ledger's public key (base64), as the ledger published it (`suanli log checkpoint` names it; `suanlid` prints it at start)",
        "账本公布的账本公钥 (base64) (`suanli log checkpoint` 会给出; `suanlid` 启动时打印)",
    ),
    (
        "The ledger's public key (base64) to check the signature with. Without it, the key the server reports is used; pin it to be sure you talk to the ledger you mean",
        "用来校验签名的账本公钥 (base64)。不给时使用服务器报告的公钥; 固定指定它才能确保连接的是你要的账本",
    ),
    (
        "The ledger's program id (e.g. suzhou-2026). With --ledger-pubkey, no server is asked",
        "账本的政策方案 id (例如 suzhou-2026)。与 --ledger-pubkey 一起给出时不询问服务器",
    ),
    (
        "Prove inclusion in the tree of this signed checkpoint (a file written by `log checkpoint`) instead of the latest one",
        "证明包含在这个签名检查点 (由 `log checkpoint` 写的文件) 的树中, 而不是最新的检查点",
    ),
    (
        "Print the proof as JSON: the entry (base64), its leaf hash, index, tree size, every proof hash (base64, leaf side first), the root and the checkpoint note, for checking with any RFC 6962 library (docs/EXPORT.md)",
        "以 JSON 打印证明: 条目 (base64)、叶哈希、序号、树大小、每个证明哈希 (base64, 从叶一侧开始)、根和检查点便笺, 可用任何 RFC 6962 库校验 (docs/EXPORT.md)",
    ),
    (
        "Print the proof as JSON (sizes, base64 roots and hashes, both checkpoint notes)",
        "以 JSON 打印证明 (大小、base64 的根和哈希、两个检查点便笺)",
    ),
    (
        "The export file to write (replaced if it exists); its signed checkpoint goes to FILE.checkpoint",
        "要写的导出文件 (已存在则替换); 其签名检查点写到 FILE.checkpoint",
    ),
    ("The export file (from `suanli log export`)", "导出文件 (由 `suanli log export` 生成)"),
    ("First entry to export. Only an export from 0 can be verified", "导出的第一个条目。只有从 0 开始的导出才能校验"),
    (
        "Export up to this entry, exclusive. Default: a checkpoint the ledger signs now, covering every durable entry",
        "导出到该条目为止 (不含)。默认: 账本现签的检查点, 覆盖所有已持久化的条目",
    ),
    (
        "A signed checkpoint (from `suanli log checkpoint`, or FILE.checkpoint of the export)",
        "签名检查点 (来自 `suanli log checkpoint`, 或导出的 FILE.checkpoint)",
    ),
    (
        "An older signed checkpoint: the log it signed must be a prefix of the export",
        "较早的签名检查点: 它签名的日志必须是导出的前缀",
    ),
    (
        "The old tree size: a signed checkpoint of exactly this size must be stored by the ledger",
        "较早的树大小: 账本必须存有恰为此大小的签名检查点",
    ),
    (
        "The old tree as a signed checkpoint you hold (from `log checkpoint`), instead of --old",
        "以你持有的签名检查点 (来自 `log checkpoint`) 给出较早的树, 代替 --old",
    ),
    (
        "The new tree size (a stored signed checkpoint of exactly this size). Default: the latest checkpoint",
        "较新的树大小 (须有恰为此大小的已存签名检查点)。默认: 最新检查点",
    ),
    (
        "The backup file to write (replaced if it exists); its signed checkpoint goes to FILE.checkpoint",
        "要写的备份文件 (已存在则替换); 其签名检查点写到 FILE.checkpoint",
    ),
    // Other commands.
    (
        "Only these codes (e.g. AMOUNT_MISMATCH CAPPED); all when left out",
        "只解释这些代码 (例如 AMOUNT_MISMATCH CAPPED); 不给则全部解释",
    ),
    ("The language: zh or en (default: from the locale)", "语言: zh 或 en (默认按区域设置)"),
    ("bash, zsh, fish, elvish or powershell", "bash、zsh、fish、elvish 或 powershell"),
    ("The directory to write the pages into (created if missing)", "写入 man 手册页的目录 (不存在则创建)"),
    // log checkpoint / log verify with witnesses, and `suanli witness`.
    (
        "A witness whose cosignature counts: its verifier key `<name>+<key id>+<base64>` (as `suanli witness --print-key` prints it). Repeat for more witnesses",
        "其联署算数的见证者：它的验证公钥 `<名称>+<密钥编号>+<base64>`（即 `suanli witness --print-key` 打印的那一行）。有多个见证者就重复此选项",
    ),
    (
        "How many of the --witness-key witnesses must have validly cosigned the checkpoint; fewer and the checkpoint is refused. Default: 1 when --witness-key is given",
        "--witness-key 所列见证者中至少要有几位对检查点作了有效联署；不足则拒绝该检查点。给了 --witness-key 时默认为 1",
    ),
    (
        "The witness's name: the key name of its cosignatures, by convention a schema-less URL (e.g. witness.finance.example/w1). Logs and auditors configure it with the key",
        "见证者的名称：其联署所用的密钥名，习惯上是不带协议头的网址（例如 witness.finance.example/w1）。账本和审计方连同公钥一起配置它",
    ),
    (
        "The witness's key file (Ed25519). Created with mode 0600 on first use; keep it secret",
        "见证者的密钥文件（Ed25519）。首次使用时创建，权限 0600；请妥善保密",
    ),
    (
        "Where the latest cosigned checkpoint of each log is kept (written durably before every answer). Losing it lets the witness be rolled back: keep it with the key",
        "保存每个账本最近一次联署的检查点的文件（每次答复之前都先可靠写盘）。丢失它会让见证者可被回滚：请与密钥一起保管",
    ),
    (
        "A log to witness: its C2SP signed-note verifier key, as `suanli log vkey` prints it (the key name is the log's origin). Repeat for more logs or keys",
        "要见证的账本：它的 C2SP signed-note 验证公钥，即 `suanli log vkey` 打印的那一行（密钥名就是账本的 origin）。多个账本或多把密钥就重复此选项",
    ),
    ("Address to listen on (plain HTTP; POST /add-checkpoint)", "监听地址（明文 HTTP；接收 POST /add-checkpoint）"),
    (
        "Connections served at once; further clients wait in the listen backlog",
        "同时服务的连接数上限；更多的客户端在监听队列中等待",
    ),
    (
        "Print the witness's verifier key (creating the key file if needed) and exit",
        "打印见证者的验证公钥（需要时先创建密钥文件）后退出",
    ),
];

/// The Chinese description of a flag or argument whose English description is `en`.
fn flag_zh(en: &str) -> Option<&'static str> {
    FLAGS.iter().find(|(e, _)| *e == en).map(|(_, zh)| *zh)
}

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
`suanli: rejected: 代码: 说明` 并以 1 退出。其他错误在 stderr 打印以 `suanli:` 开头的中文说明, 下一行是英文原文 (含账本或系统给出的细节), 并以非 0 退出; 命令行用法错误以 2 退出。
金额单位为元, 最多两位小数 (12500.00); 时间为带时区的 RFC 3339 (2026-03-01T00:00:00+08:00)。
原因代码的解释: `suanli explain`。";

/// The help layout with Chinese headings (clap's own are English).
const TEMPLATE: &str = "{before-help}{about-with-newline}\n用法 (Usage): {usage}\n\n{all-args}{after-help}";

fn translate(cmd: Command, path: &str) -> Command {
    let mut cmd = cmd.help_template(TEMPLATE).subcommand_help_heading("命令 (Commands)");
    if let Some((_, zh)) = ABOUT.iter().find(|(p, _)| *p == path) {
        cmd = cmd.about(*zh).long_about(None);
    } else if path.ends_with("help") && cmd.get_name() == "help" {
        cmd = cmd.about("打印本帮助或给定子命令的帮助");
    }
    // Headings are set per argument, which would reorder them: keep the command's own
    // flags in their order, then the global ones, then --help and --version.
    let args: Vec<(clap::Id, Option<&'static str>, bool, bool, usize)> = cmd
        .get_arguments()
        .enumerate()
        .map(|(i, a)| {
            let en = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            let values_explained = a.get_possible_values().iter().any(|v| v.get_help().is_some());
            let order = match a.get_id().as_str() {
                "help" | "version" => 2000 + i,
                _ if a.is_global_set() => 1000 + i,
                _ => i,
            };
            (a.get_id().clone(), flag_zh(&en), values_explained, a.is_positional(), order)
        })
        .collect();
    for (id, zh, values_explained, positional, order) in args {
        cmd = cmd.mut_arg(id, |a| {
            let a = a.help_heading(if positional { "参数 (Arguments)" } else { "选项 (Options)" }).display_order(order);
            let a = if values_explained { a.hide_possible_values(true) } else { a };
            match zh {
                Some(zh) => a.help(zh).long_help(None::<&str>),
                None => a,
            }
        });
    }
    let names: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
    for name in names {
        let sub_path = if path.is_empty() { name.clone() } else { format!("{path} {name}") };
        cmd = cmd.mut_subcommand(&name, |s| translate(s, &sub_path));
    }
    cmd
}

/// The command with its descriptions in Chinese, and the reason codes explained in
/// Chinese under `usage submit` and `corpus submit`. The command is built first, so that
/// clap's own `--help`, `--version` and `help` are there to be translated too.
pub fn chinese(mut cmd: Command) -> Command {
    cmd.build();
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

/// clap's error in Chinese, from its kind and context (the English follows on the next line).
pub fn error(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ErrorKind};
    let get = |k| e.get(k).map(|v| v.to_string()).unwrap_or_default();
    let (arg, value) = (get(ContextKind::InvalidArg), get(ContextKind::InvalidValue));
    let mut out = match e.kind() {
        ErrorKind::UnknownArgument => format!("没有这个选项: {arg}"),
        ErrorKind::InvalidSubcommand => format!("没有这个命令: {}", get(ContextKind::InvalidSubcommand)),
        ErrorKind::InvalidValue if value.is_empty() => format!("{arg} 需要一个值"),
        ErrorKind::InvalidValue => format!("{arg} 的值 {value:?} 无效"),
        ErrorKind::ValueValidation => format!("{arg} 的值 {value:?} 无效"),
        ErrorKind::NoEquals => format!("{arg} 的值须用 = 连接 (例如 {arg}=值)"),
        ErrorKind::MissingRequiredArgument => format!("缺少必需的参数: {arg}"),
        ErrorKind::MissingSubcommand => "缺少命令".to_string(),
        ErrorKind::ArgumentConflict => {
            format!("{arg} 不能与 {} 一起使用", get(ContextKind::PriorArg))
        }
        ErrorKind::TooManyValues => format!("{arg} 的值太多: {value:?}"),
        ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues => format!("{arg} 的值的个数不对"),
        _ => "命令行参数有误".to_string(),
    };
    let valid = get(ContextKind::ValidValue);
    if !valid.is_empty() {
        out.push_str(&format!("; 可选的值: {valid}"));
    }
    let suggested = get(ContextKind::SuggestedArg);
    if !suggested.is_empty() {
        out.push_str(&format!("; 也许你想用 {suggested}"));
    }
    let suggested = get(ContextKind::SuggestedSubcommand);
    if !suggested.is_empty() {
        out.push_str(&format!("; 也许你想用命令 {suggested}"));
    }
    out.push_str(" (详见 --help)");
    out
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

    /// Every flag and argument of every command (clap's own --help and --version too) has
    /// a Chinese description, and the Chinese help of every command shows no English one.
    #[test]
    fn every_flag_has_a_chinese_description() {
        fn walk(cmd: &Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                let en = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                if flag_zh(&en).is_none() {
                    missing.push(format!("{path} --{}: {en:?}", a.get_id()));
                }
            }
            for s in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                walk(s, &format!("{path} {}", s.get_name()), missing);
            }
        }
        let mut cmd = crate::Cli::command();
        cmd.build();
        let mut missing = Vec::new();
        walk(&cmd, "suanli", &mut missing);
        assert!(missing.is_empty(), "no Chinese description (add it to FLAGS) for:\n{}", missing.join("\n"));

        // The rendered help: every line that describes a flag or argument has Chinese in it.
        fn check(cmd: &mut Command, path: &str, bad: &mut Vec<String>) {
            for long in [false, true] {
                let help = if long { cmd.render_long_help() } else { cmd.render_help() }.to_string();
                let mut lines = help.lines().peekable();
                while let Some(line) = lines.next() {
                    // Flags and arguments are indented by two spaces; their descriptions and
                    // clap's `[env: …]`/`[default: …]` notes further.
                    let Some(t) = line.strip_prefix("  ").filter(|t| t.starts_with(['-', '<', '['])) else {
                        continue;
                    };
                    // The description is on the same line after two spaces, or on the next line.
                    let desc = match t.split_once("  ") {
                        Some((_, d)) => d.trim().to_string(),
                        None => lines.peek().map(|l| l.trim().to_string()).unwrap_or_default(),
                    };
                    if !desc.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) {
                        bad.push(format!("{path}: {line} / {desc}"));
                    }
                }
            }
            let names: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
            for n in names {
                let sub = cmd.find_subcommand_mut(&n).expect("listed");
                check(sub, &format!("{path} {n}"), bad);
            }
        }
        let mut zh = chinese(crate::Cli::command());
        let mut bad = Vec::new();
        check(&mut zh, "suanli", &mut bad);
        assert!(bad.is_empty(), "English flag descriptions under zh_CN:\n{}", bad.join("\n"));
    }

    #[test]
    fn clap_errors_are_put_in_chinese() {
        let zh = chinese(crate::Cli::command());
        for (args, expect) in [
            (&["suanli", "voucher", "list", "--nope"][..], "没有这个选项: --nope"),
            (&["suanli", "voucher", "list", "--key"][..], "--key <FILE> 需要一个值"),
            (&["suanli", "voucher", "list", "--key", "k", "--kind", "gold"][..], "可选的值: compute, corpus"),
            (&["suanli", "voucher", "issue", "--key", "k"][..], "缺少必需的参数"),
            (&["suanli", "voucher", "list", "--key", "k", "--active", "--lapsed"][..], "不能与"),
            (&["suanli", "vouchr"][..], "没有这个命令: vouchr; 也许你想用命令 voucher"),
        ] {
            let e = zh.clone().try_get_matches_from(args).expect_err("a usage error");
            let text = error(&e);
            assert!(text.contains(expect), "{args:?}: {text}");
        }
    }
}
