//! Usage files as billing teams have them, against a real ledger (issue 17 item 2, issue 16
//! CLI items): GBK CSVs, `.xlsx` workbooks, Excel times and thousands separators normalised
//! before signing, `--dry-run` naming every problem, `--details`, `--fail-on-rejected`,
//! Chinese messages, answers written as they come and kept when the run is interrupted,
//! and entity names a spreadsheet would run refused.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use suanli_tests::{Example, Server, bin, text};

const HEADER: &str = "record_id,provider_id,renter_id,contract_id,gpu_model,gpu_count,start,end,gpu_hours,unit_price,amount,voucher_id,invoice_no";
const RESULT_HEADER: &str = "record_id,status,seq,voucher_drawn,renter_subsidy,supplier_subsidy,reason";

fn suanli(server: &Server, args: &[&str], lang: &str) -> Output {
    Command::new(bin("suanli"))
        .arg("--server")
        .arg(server.url())
        .args(args)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", lang)
        .output()
        .expect("run suanli")
}

#[test]
fn gbk_csv_with_excel_times_and_separators_is_normalised_before_signing() {
    let server = Server::start();
    let ex = Example::setup(&server);
    let dir = tempfile::tempdir().unwrap();
    // What Excel's "CSV" save writes on a zh-CN machine: GBK, Excel times, separators.
    let rows = format!(
        "{HEADER}\r\n\
         g1,{p},{r},合同-一号,H100,8,2026/3/1 0:00,2026/3/6 5:00,\"1,000\",12.50,\"12,500.00\",,\r\n\
         g2,{p},{r},,H100,1,2026-03-01 00:00:00+08:00,2026-03-01 10:00:00+08:00,8,12.50,100.00,,\r\n",
        p = ex.p,
        r = ex.r1
    );
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(&rows);
    assert!(!unmappable);
    let file = dir.path().join("gbk.csv");
    std::fs::write(&file, &gbk).unwrap();
    let f = file.to_string_lossy();

    let out = suanli(&server, &["usage", "submit", "--key", &ex.p_key, "--csv", &f], "en_US.UTF-8");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("GBK/GB18030"), "{stderr}");
    assert!(stderr.contains(r#"line 2 start: "2026/3/1 0:00" normalised to 2026-03-01T00:00:00+08:00"#), "{stderr}");
    assert!(stderr.contains(r#"line 2 amount: "12,500.00" normalised to 12500.00"#), "{stderr}");
    assert!(stderr.contains("2 records: 2 accepted, 0 duplicate, 0 rejected"), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], RESULT_HEADER);
    assert!(
        lines[1].starts_with("g1,ACCEPTED,") && lines[1].ends_with(",0.00,3750.00,1250.00,NO_VOUCHER|GRANTED|GRANTED")
    );
    assert!(lines[2].starts_with("g2,ACCEPTED,"), "{stdout}");
    assert_eq!(lines.len(), 3);

    // What was signed is the canonical form: the same record written canonically is a
    // DUPLICATE (same bytes), not a CONFLICT.
    let canonical = format!(
        "{HEADER}\ng1,{p},{r},合同-一号,H100,8,2026-03-01T00:00:00+08:00,2026-03-06T05:00:00+08:00,1000,12.50,12500.00,,\n",
        p = ex.p,
        r = ex.r1
    );
    let file2 = dir.path().join("canonical.csv");
    std::fs::write(&file2, canonical).unwrap();
    let again = server.cli_ok(&["usage", "submit", "--key", &ex.p_key, "--csv", &file2.to_string_lossy()]);
    assert!(again.contains("g1,DUPLICATE,"), "{again}");

    // In a Chinese locale the messages are Chinese; stdout is the same bytes.
    let zh = suanli(&server, &["usage", "submit", "--key", &ex.p_key, "--csv", &f], "zh_CN.UTF-8");
    assert!(zh.status.success());
    let zh_err = text(&zh.stderr);
    assert!(zh_err.contains("共 2 条记录: 接受 0, 重复 2, 拒绝 0"), "{zh_err}");
    assert!(zh_err.contains("规范化为"), "{zh_err}");
    let en = suanli(&server, &["usage", "submit", "--key", &ex.p_key, "--csv", &f], "C");
    assert_eq!(zh.stdout, en.stdout);
}

#[test]
fn xlsx_workbooks_are_read_with_their_date_and_number_cells() {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let server = Server::start();
    let ex = Example::setup(&server);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("usage.xlsx");
    let mut wb = Workbook::new();
    let sheet = wb.add_worksheet();
    sheet.set_name("用量").unwrap();
    for (c, name) in HEADER.split(',').enumerate() {
        sheet.write_string(0, c as u16, name).unwrap();
    }
    let date = Format::new().set_num_format("yyyy/m/d h:mm");
    let (start, end) = (
        ExcelDateTime::parse_from_str("2026-03-01 00:00:00").unwrap(),
        ExcelDateTime::parse_from_str("2026-03-06 05:00:00").unwrap(),
    );
    sheet.write_string(1, 0, "x1").unwrap();
    sheet.write_string(1, 1, &ex.p).unwrap();
    sheet.write_string(1, 2, &ex.r1).unwrap();
    sheet.write_string(1, 4, "H100").unwrap();
    sheet.write_number(1, 5, 8).unwrap();
    sheet.write_datetime_with_format(1, 6, &start, &date).unwrap();
    sheet.write_datetime_with_format(1, 7, &end, &date).unwrap();
    sheet.write_number(1, 8, 1000).unwrap();
    sheet.write_number(1, 9, 12.5).unwrap();
    sheet.write_number_with_format(1, 10, 12500, &Format::new().set_num_format("#,##0.00")).unwrap();
    wb.save(&file).unwrap();

    let out = suanli(&server, &["usage", "submit", "--key", &ex.p_key, "--csv", &file.to_string_lossy()], "C");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("reading sheet \"用量\""), "{stderr}");
    assert!(
        stdout.contains("x1,ACCEPTED,") && stdout.ends_with(",0.00,3750.00,1250.00,NO_VOUCHER|GRANTED|GRANTED\n"),
        "{stdout}\n{stderr}"
    );
}

#[test]
fn dry_run_names_every_problem_and_sends_nothing() {
    let server = Server::start();
    let ex = Example::setup(&server);
    let dir = tempfile::tempdir().unwrap();
    let (p, r) = (&ex.p, &ex.r1);
    let bad_uscc = format!("{}0", &r[..17]);
    let bad_uscc = if bad_uscc == *r { format!("{}1", &r[..17]) } else { bad_uscc };
    let rows = format!(
        "{HEADER}\n\
         d1,{p},{r},,H100,8,2026-03-01T00:00:00+08:00,2026-03-06T05:00:00+08:00,1000,12.50,12500.00,,\n\
         d2,{p},{bad_uscc},,H100,8,2026-03-01T00:00:00+08:00,2026-03-06T05:00:00+08:00,1000,12.50,12000.00,,\n\
         d1,{p},{r},,H100,x,2026/13/01 00:00,2026-03-01T10:00:00+08:00,10.1234567,12.50,1.00,,\n\
         d4,{p},{r},,H100,1,2026-03-01T00:00:00+08:00,2026-03-01T01:00:00+08:00,2,12.50,25.00,,\n\
         d5,{p},{r},,H100,1,2026-03-01T00:00:00+08:00\n"
    );
    let file = dir.path().join("bad.csv");
    std::fs::write(&file, rows).unwrap();
    let f = file.to_string_lossy();
    let out = suanli(&server, &["usage", "submit", "--key", &ex.p_key, "--csv", &f, "--dry-run"], "C");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(out.stdout.is_empty(), "a dry run prints no results");
    for want in [
        "line 3, column renter_id:",
        "line 3, column amount: AMOUNT_MISMATCH: 12000.00 is not gpu_hours × unit_price = 12500.00",
        "line 4, column gpu_count: gpu_count \"x\" is not an integer",
        "line 4, column start:",
        "line 4, column gpu_hours:",
        "line 4, column record_id: \"d1\" is already used on line 2",
        "line 5, column gpu_hours: IMPOSSIBLE_USAGE",
        "line 6: 7 fields, but the header names 13 columns",
        "nothing was signed or sent",
        "5 rows checked: 8 problems",
    ] {
        assert!(stderr.contains(want), "missing {want:?} in:\n{stderr}");
    }
    assert!(!stderr.contains("line 2,"), "line 2 is good:\n{stderr}");
    // Nothing reached the ledger: the good row is still new.
    let good = format!(
        "{HEADER}\nd1,{p},{r},,H100,8,2026-03-01T00:00:00+08:00,2026-03-06T05:00:00+08:00,1000,12.50,12500.00,,\n"
    );
    let file2 = dir.path().join("good.csv");
    std::fs::write(&file2, good).unwrap();
    let f2 = file2.to_string_lossy();
    let ok = suanli(&server, &["usage", "submit", "--csv", &f2, "--dry-run"], "zh_CN.UTF-8");
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(text(&ok.stderr).contains("检查了 1 行, 没有发现问题"), "{}", text(&ok.stderr));
    let sent = server.cli_ok(&["usage", "submit", "--key", &ex.p_key, "--csv", &f2]);
    assert!(sent.contains("d1,ACCEPTED,"), "{sent}");
}

#[test]
fn details_file_and_fail_on_rejected() {
    let server = Server::start();
    let ex = Example::setup(&server);
    let dir = tempfile::tempdir().unwrap();
    let csv = ex.csv("mixed.csv", &[("m1", &ex.p, &ex.r1, "8", "100.00", ""), ("m2", &ex.p, &ex.r1, "8", "99.00", "")]);
    let details = dir.path().join("details.csv");
    let d = details.to_string_lossy();
    // Without the flag a rejection is a result: exit 0, and the summary is written even
    // though stderr is not a terminal.
    let plain = suanli(&server, &["usage", "submit", "--key", &ex.p_key, "--csv", &csv, "--details", &d], "C");
    assert_eq!(plain.status.code(), Some(0));
    assert!(text(&plain.stderr).contains("2 records: 1 accepted, 0 duplicate, 1 rejected"), "{}", text(&plain.stderr));
    assert!(text(&plain.stderr).contains("line 3 record m2: REJECTED AMOUNT_MISMATCH: "), "{}", text(&plain.stderr));
    let stdout = text(&plain.stdout);
    assert_eq!(stdout.lines().nth(2), Some("m2,REJECTED,,,,,AMOUNT_MISMATCH"), "{stdout}");
    let written = std::fs::read_to_string(&details).unwrap();
    let mut reader = csv::Reader::from_reader(written.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "line",
            "record_id",
            "status",
            "seq",
            "voucher_drawn",
            "renter_subsidy",
            "supplier_subsidy",
            "reason",
            "detail",
            "explanation"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!((&rows[0][0], &rows[0][1], &rows[0][2]), ("2", "m1", "ACCEPTED"));
    assert_eq!((&rows[1][0], &rows[1][1], &rows[1][7]), ("3", "m2", "AMOUNT_MISMATCH"));
    assert!(rows[1][8].contains("100.00"), "the ledger's detail names the expected amount: {:?}", &rows[1][8]);
    assert!(!rows[1][9].is_empty());

    let failing = suanli(&server, &["usage", "submit", "--key", &ex.p_key, "--csv", &csv, "--fail-on-rejected"], "C");
    assert_eq!(failing.status.code(), Some(3), "{}", text(&failing.stderr));
    assert!(text(&failing.stderr).contains("1 records were rejected (--fail-on-rejected)"));
    assert_eq!(text(&failing.stdout).lines().count(), 3, "stdout is the same with the flag");
}

#[test]
fn an_interrupted_submission_keeps_every_answer_received() {
    let server = Server::start();
    let ex = Example::setup(&server);
    let dir = tempfile::tempdir().unwrap();
    let n = 200_000;
    let mut s = String::from(HEADER);
    s.push('\n');
    for i in 0..n {
        s.push_str(&format!(
            "i{i},{p},{r},,H100,1,2026-06-30T11:00:00+08:00,2026-06-30T12:00:00+08:00,1,12.50,12.50,,\n",
            p = ex.p,
            r = ex.r1
        ));
    }
    let file = dir.path().join("many.csv");
    std::fs::write(&file, s).unwrap();
    let results = dir.path().join("results.csv");
    let mut child = Command::new(bin("suanli"))
        .arg("--server")
        .arg(server.url())
        .args(["usage", "submit", "--key", &ex.p_key, "--csv", &file.to_string_lossy()])
        .env("LANG", "C")
        .stdout(std::fs::File::create(&results).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until answers are in the file (a condition, not a duration), then interrupt.
    let lines = |p: &Path| std::fs::read_to_string(p).map(|t| t.lines().count()).unwrap_or(0);
    while lines(&results) < 2 {
        assert!(child.try_wait().unwrap().is_none(), "suanli ended before answering anything");
        std::thread::yield_now();
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    let written = std::fs::read_to_string(&results).unwrap();
    let answered = written.lines().count() - 1;
    assert!(answered >= 1);
    if out.status.code() == Some(0) {
        // The whole file was answered before the signal landed: nothing to interrupt.
        assert_eq!(answered, n, "{stderr}");
        eprintln!("the submission finished before the interrupt; nothing was interrupted");
        return;
    }
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains(&format!("interrupted: {answered} of {n} records were answered")), "{stderr}");
    assert!(stderr.contains("Submitting the same file again is safe"), "{stderr}");
    // Every answered line is complete, in input order.
    for (i, line) in written.lines().skip(1).enumerate() {
        assert!(line.starts_with(&format!("i{i},ACCEPTED,")), "{line}");
    }
}

#[test]
fn names_a_spreadsheet_would_run_are_refused_at_registration() {
    let server = Server::start();
    let admin = server.admin_key().to_string_lossy().into_owned();
    let id = suanli_core::testkit::uscc(9).to_string();
    for name in ["=HYPERLINK(\"http://x\",\"点击\")", "+1", "-1", "@SUM(A1)"] {
        let out = server.cli(&["entity", "register", "--key", &admin, "--id", &id, &format!("--name={name}")]);
        assert!(!out.status.success());
        let err = text(&out.stderr);
        assert!(err.contains("rejected: MALFORMED: name:") && err.contains("formula"), "{err}");
    }
    assert!(
        server
            .cli_ok(&["entity", "register", "--key", &admin, "--id", &id, "--name", "苏州 = 算力"])
            .starts_with("ACCEPTED")
    );
    let out = server.cli(&["entity", "update", "--key", &admin, "--id", &id, "--name==1+1"]);
    assert!(!out.status.success() && text(&out.stderr).contains("formula"), "{}", text(&out.stderr));

    // The registry operator's list, as CSV, Excel CSV and XLSX.
    let list = server.cli_ok(&["entity", "list", "--key", &admin]);
    assert_eq!(
        list,
        format!(
            "id,name,provider,renter_eligible,supplier_eligible,opc,data_supplier,related_group,active_keys,revoked_keys\n\
             {id},苏州 = 算力,false,false,false,false,false,,0,0\n"
        )
    );
    let excel = server.cli(&["entity", "list", "--key", &admin, "--excel"]);
    assert!(text(&excel.stdout).starts_with("\u{feff}统一社会信用代码,企业名称,"));
    assert!(text(&excel.stdout).contains(&format!("\"=\"\"{id}\"\"\",苏州 = 算力,false")));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("entities.xlsx");
    server.cli_ok(&["entity", "list", "--key", &admin, "--format", "xlsx", "--out", &file.to_string_lossy()]);
    use calamine::{Data, Reader, Xlsx, open_workbook};
    let mut wb: Xlsx<_> = open_workbook(&file).unwrap();
    let sheet = wb.worksheet_range("企业 Entities").unwrap();
    assert_eq!(sheet.get_value((1, 0)), Some(&Data::String(id.clone())));
    assert_eq!(sheet.get_value((1, 8)), Some(&Data::Float(0.0)));
    // Finance may list the registry too.
    let finance = server.finance_key().to_string_lossy().into_owned();
    assert!(server.cli(&["entity", "list", "--key", &finance]).status.success());
}

/// Reads a CSV (after a byte-order mark, if any) into its header and rows.
fn csv_rows(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let mut r = csv::Reader::from_reader(bytes);
    let header = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r.records().map(|rec| rec.unwrap().iter().map(str::to_string).collect()).collect();
    (header, rows)
}

#[test]
fn vouchers_are_listed_for_the_registry_operator_and_finance() {
    let server = Server::start();
    let ex = Example::setup(&server);
    let admin = ex.admin_key.as_str();
    let o2 = suanli_core::testkit::uscc(6).to_string();
    let o2_key = ex.dir.path().join("o2.key").to_string_lossy().into_owned();
    server.cli_ok(&["entity", "register", "--key", admin, "--id", &o2, "--name", "O2 二号一人公司", "--opc"]);
    let pubkey = server.cli_ok(&["keygen", "--out", &o2_key]).trim().to_string();
    server.cli_ok(&["entity", "add-key", "--key", admin, "--id", &o2, "--pubkey", &pubkey]);
    // V1 (Example: O, compute, 2026) is drawn on; V2 corpus for O; for O2 one lapsed, one
    // not yet valid and one revoked. The ledger's clock is the real one, so the validity
    // windows are placed around now.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let t = |s: i64| suanli_core::time::format_rfc3339(s, 8 * 3600);
    let (day, year) = (86_400, 365 * 86_400);
    let issue = |id: &str, holder: &str, kind: &str, amount: &str, from: i64, until: i64| {
        let (from, until) = (t(from), t(until));
        let args = [
            "voucher",
            "issue",
            "--key",
            admin,
            "--id",
            id,
            "--holder",
            holder,
            "--kind",
            kind,
            "--amount",
            amount,
            "--valid-from",
            &from,
            "--valid-until",
            &until,
        ];
        assert!(server.cli_ok(&args).starts_with("ACCEPTED"));
    };
    issue("V2", &ex.o, "corpus", "50000.00", now - day, now + year);
    issue("V3", &o2, "compute", "30000.00", now - 2 * year, now - year);
    issue("V4", &o2, "compute", "40000.00", now + year, now + 2 * year);
    issue("V5", &o2, "compute", "50000.00", now - day, now + year);
    server.cli_ok(&["voucher", "revoke", "--key", admin, "--voucher", "V5"]);
    let v1_active = (suanli_core::time::parse_rfc3339("2026-01-01T00:00:00+08:00").unwrap()
        ..suanli_core::time::parse_rfc3339("2027-01-01T00:00:00+08:00").unwrap())
        .contains(&now);
    let csv_file = ex.csv("draw.csv", &[("d1", &ex.p, &ex.o, "100", "1250.00", "V1")]);
    let drawn = server.cli_ok(&["usage", "submit", "--key", &ex.p_key, "--csv", &csv_file]);
    assert!(drawn.contains("d1,ACCEPTED,") || !v1_active, "{drawn}");

    // The canonical CSV: identifiers, every voucher in id order.
    let (header, rows) = csv_rows(server.cli_ok(&["voucher", "list", "--key", admin, "--format", "csv"]).as_bytes());
    assert_eq!(
        header.join(","),
        "holder_id,holder_name,voucher_id,kind,face_value,drawn,balance,lapsed,valid_from,valid_until,state"
    );
    let ids: Vec<&str> = rows.iter().map(|r| r[2].as_str()).collect();
    assert_eq!(ids, ["V1", "V2", "V3", "V4", "V5"]);
    let by_id = |id: &str| rows.iter().find(|r| r[2] == id).unwrap().clone();
    if v1_active {
        assert_eq!(
            by_id("V1")[..8],
            [&ex.o, "O 一人公司", "V1", "compute", "200000.00", "1250.00", "198750.00", "0.00"]
        );
        assert_eq!(by_id("V1")[8..], ["2026-01-01T00:00:00+08:00", "2027-01-01T00:00:00+08:00", "active"]);
    }
    assert_eq!(by_id("V2")[3], "corpus");
    assert_eq!(by_id("V3")[4..8], ["30000.00", "0.00", "0.00", "30000.00"]);
    assert_eq!(by_id("V3")[10], "lapsed");
    assert_eq!(by_id("V4")[10], "pending");
    assert_eq!(by_id("V5")[10], "revoked");
    assert_eq!(by_id("V5")[..2], [o2.clone(), "O2 二号一人公司".to_string()]);

    // Filters a clerk expects, alone and together.
    let listed = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["voucher", "list", "--key", admin, "--format", "csv"];
        args.extend_from_slice(extra);
        csv_rows(server.cli_ok(&args).as_bytes()).1.into_iter().map(|r| r[2].clone()).collect()
    };
    assert_eq!(listed(&["--holder", &o2]), ["V3", "V4", "V5"]);
    assert_eq!(listed(&["--kind", "corpus"]), ["V2"]);
    assert_eq!(listed(&["--lapsed"]), ["V3"]);
    assert_eq!(listed(&["--pending"]), ["V4"]);
    assert_eq!(listed(&["--revoked"]), ["V5"]);
    assert_eq!(listed(&["--holder", &o2, "--kind", "compute", "--active"]), Vec::<String>::new());
    if v1_active {
        assert_eq!(listed(&["--active"]), ["V1", "V2"]);
        assert_eq!(listed(&["--holder", &ex.o, "--kind", "compute"]), ["V1"]);
    }
    let both = server.cli(&["voucher", "list", "--key", admin, "--active", "--lapsed"]);
    assert_eq!(both.status.code(), Some(2), "{}", text(&both.stderr));
    let unknown =
        server.cli(&["voucher", "list", "--key", admin, "--holder", &suanli_core::testkit::uscc(40).to_string()]);
    assert!(
        !unknown.status.success() && text(&unknown.stderr).contains("is not registered"),
        "{}",
        text(&unknown.stderr)
    );

    // JSON, read back with a JSON parser; finance may list too.
    let finance = ex.finance_key.as_str();
    let json = server.cli_ok(&["voucher", "list", "--key", finance, "--format", "json", "--holder", &o2]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 3);
    assert_eq!(arr[0]["voucher_id"], "V3");
    assert_eq!(arr[0]["face_value"], "30000.00");
    assert_eq!(arr[0]["state"], "lapsed");
    assert_eq!(arr[2]["holder_name"], "O2 二号一人公司");

    // The Excel CSV: byte-order mark, CRLF, Chinese titles and words, ids as text.
    let excel = server.cli(&["voucher", "list", "--key", admin, "--excel"]);
    assert!(excel.status.success(), "{}", text(&excel.stderr));
    assert!(excel.stdout.starts_with("\u{feff}".as_bytes()));
    assert!(text(&excel.stdout).contains("\r\n"));
    let (header, rows) = csv_rows(&excel.stdout);
    assert_eq!(header[..4], ["持券企业统一社会信用代码", "持券企业名称", "券号", "券种"]);
    assert_eq!(rows[2][0], format!("=\"{o2}\""));
    assert_eq!(rows[1][3], "语料券");
    assert_eq!(rows[2][10], "已过期");

    // The XLSX, read back with calamine: ids as text, money as numbers, Chinese words.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vouchers.xlsx");
    server.cli_ok(&["voucher", "list", "--key", admin, "--format", "xlsx", "--out", &file.to_string_lossy()]);
    use calamine::{Data, Reader, Xlsx, open_workbook};
    let mut wb: Xlsx<_> = open_workbook(&file).unwrap();
    let sheet = wb.worksheet_range("算力券 Vouchers").unwrap();
    assert_eq!(sheet.get_value((0, 2)), Some(&Data::String("券号".into())));
    assert_eq!(sheet.get_value((1, 0)), Some(&Data::String(ex.o.clone())));
    assert_eq!(sheet.get_value((1, 3)), Some(&Data::String("算力券".into())));
    assert_eq!(sheet.get_value((1, 4)), Some(&Data::Float(200000.0)));
    assert_eq!(sheet.get_value((5, 10)), Some(&Data::String("已作废".into())));
    assert_eq!(sheet.height(), 6);

    // The table for a terminal, in the reader's language.
    let zh = suanli(&server, &["voucher", "list", "--key", admin, "--holder", &o2], "zh_CN.UTF-8");
    assert!(zh.status.success(), "{}", text(&zh.stderr));
    let zh = text(&zh.stdout);
    assert!(zh.starts_with("持券企业统一社会信用代码") && zh.contains("已作废") && zh.ends_with("共 3 张券\n"), "{zh}");
    let en = text(&suanli(&server, &["voucher", "list", "--key", admin], "C").stdout);
    assert!(en.starts_with("holder_id") && en.contains(" revoked") && en.ends_with("5 vouchers\n"), "{en}");

    // A holder's key lists its own vouchers, and no one else's.
    assert_eq!(
        csv_rows(server.cli_ok(&["voucher", "list", "--key", &o2_key, "--format", "csv"]).as_bytes())
            .1
            .into_iter()
            .map(|r| r[2].clone())
            .collect::<Vec<_>>(),
        ["V3", "V4", "V5"]
    );
    let other = server.cli(&["voucher", "list", "--key", &o2_key, "--holder", &ex.o]);
    assert!(!other.status.success() && text(&other.stderr).contains("may not read"), "{}", text(&other.stderr));

    // The operator's query itself: refused for a holder's or a provider's key with the
    // reason, and paged for the operator.
    let rt = suanli_tests::runtime();
    rt.block_on(async {
        let mut g = suanli_tests::Grpc::connect(&server.url()).await;
        let q = |after: &str, limit: u32| {
            suanli_tests::v1::read_request::Query::Vouchers(suanli_tests::v1::VouchersQuery {
                after: after.into(),
                limit,
                ..Default::default()
            })
        };
        for key in [&ex.o_key, &ex.p_key] {
            let k = Server::read_key(Path::new(key));
            let err = g.vouchers.list_all_vouchers(suanli_tests::read(&k, q("", 0))).await.unwrap_err();
            assert_eq!(err.code(), tonic::Code::PermissionDenied);
            assert!(
                err.message().contains("registry operator (admin key) and the finance bureau"),
                "{}",
                err.message()
            );
        }
        let admin_k = Server::read_key(Path::new(admin));
        let mut pages = Vec::new();
        let mut after = String::new();
        loop {
            let page =
                g.vouchers.list_all_vouchers(suanli_tests::read(&admin_k, q(&after, 2))).await.unwrap().into_inner();
            pages
                .push(page.vouchers.iter().map(|l| l.voucher.as_ref().unwrap().voucher_id.clone()).collect::<Vec<_>>());
            if page.next_after.is_empty() {
                break;
            }
            after = page.next_after;
        }
        assert_eq!(pages, [vec!["V1", "V2"], vec!["V3", "V4"], vec!["V5"]]);
    });
}
