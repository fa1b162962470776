//! Settlement end to end (SPEC §8, §10): the worked example's records, a period closed, part
//! of one line paid, a record reversed after the close, the next period closed with
//! claw-back lines, money received back, and the annual report checked cell by cell
//! against values computed by hand — as CSV, JSON and XLSX, signed and verified offline.

use suanli_tests::{Example, Server};

fn cli_fails(server: &Server, args: &[&str]) -> String {
    let out = server.cli(args);
    assert!(!out.status.success(), "suanli {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn periods_payouts_clawbacks_and_the_annual_report() {
    let server = Server::start();
    let ex = Example::setup(&server);
    let (p, p2, r1, r2, o) = (&ex.p, &ex.p2, &ex.r1, &ex.r2, &ex.o);
    let f = ex.finance_key.as_str();
    let csv = ex.csv(
        "p.csv",
        &[
            ("u1", p, r1, "1000", "12500.00", ""),
            ("u2", p, r1, "480000", "6000000.00", ""),
            ("u3", p, r1, "80000", "1000000.00", ""),
            ("u4", p, r1, "8", "100.00", ""),
            ("u5", p, o, "12000", "150000.00", "V1"),
            ("u6", p, o, "6400", "80000.00", "V1"),
            ("u7", p, o, "8", "100.00", "V1"),
        ],
    );
    server.cli_ok(&["usage", "submit", "--key", &ex.p_key, "--csv", &csv]);
    let u8 = ex.csv("p2.csv", &[("u8", p2, r2, "400", "5000.00", "")]);
    server.cli_ok(&["usage", "submit", "--key", &ex.p2_key, "--csv", &u8]);

    // Period Q1 gathers everything so far.
    server.cli_ok(&["settle", "close", "--key", f, "--period", "2026-Q1"]);
    let list = server.cli_ok(&["settle", "list", "--key", f]);
    for line in [
        format!("2026-Q1,{{seq}},{p},supplier,2026,724270.00,0.00,724270.00"),
        format!("2026-Q1,{{seq}},{p},voucher,2026,200000.00,0.00,200000.00"),
        format!("2026-Q1,{{seq}},{r1},renter,2026,2000000.00,0.00,2000000.00"),
        format!("2026-Q1,{{seq}},{o},renter,2026,9030.00,0.00,9030.00"),
    ] {
        let (head, tail) = line.split_once("{seq}").unwrap();
        assert!(list.lines().any(|l| l.starts_with(head) && l.ends_with(tail)), "missing {line} in\n{list}");
    }
    assert_eq!(list.lines().filter(|l| l.starts_with("2026-Q1,")).count(), 4, "{list}");

    // Part of one line paid; the same bank reference again is a duplicate; overpaying is refused.
    let pay = |amount: &str, bank: &str| {
        vec![
            "settle",
            "pay",
            "--key",
            f,
            "--period",
            "2026-Q1",
            "--payee",
            p,
            "--kind",
            "supplier",
            "--year",
            "2026",
            "--amount",
            amount,
            "--bank-ref",
            bank,
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>()
    };
    let args = pay("500000.00", "B1");
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    assert!(server.cli_ok(&refs).starts_with("ACCEPTED"));
    assert!(server.cli_ok(&refs).starts_with("DUPLICATE"));
    let args = pay("300000.00", "B9");
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    assert!(cli_fails(&server, &refs).contains("OVERPAID"));

    // A reversal after the close, then u9: the claw-back lands in the next period.
    server.cli_ok(&[
        "usage",
        "reverse",
        "--key",
        &ex.p_key,
        "--provider",
        p,
        "--record-id",
        "u3",
        "--reason",
        "wrong contract",
    ]);
    let u9 = ex.csv("u9.csv", &[("u9", p, r1, "40000", "500000.00", "")]);
    server.cli_ok(&["usage", "submit", "--key", &ex.p_key, "--csv", &u9]);
    server.cli_ok(&["settle", "close", "--key", f, "--period", "2026-Q2"]);
    let list = server.cli_ok(&["settle", "list", "--key", f]);
    let q2: Vec<&str> = list.lines().filter(|l| l.starts_with("2026-Q2,")).collect();
    assert_eq!(q2.len(), 2, "{list}");
    assert!(q2.iter().any(|l| l.contains(&format!(",{p},supplier,2026,-50000.00,0.00,-50000.00"))), "{list}");
    assert!(q2.iter().any(|l| l.contains(&format!(",{r1},renter,2026,-46250.00,0.00,-46250.00"))), "{list}");
    // Q1 never changes.
    assert!(list.contains(&format!(",{p},supplier,2026,724270.00,500000.00,224270.00")), "{list}");
    // Money received back on the claw-back line: a negative payout.
    server.cli_ok(&[
        "settle",
        "pay",
        "--key",
        f,
        "--period",
        "2026-Q2",
        "--payee",
        r1,
        "--kind",
        "renter",
        "--year",
        "2026",
        "--amount",
        "-20000.00",
        "--bank-ref",
        "B2",
    ]);
    assert!(
        cli_fails(
            &server,
            &[
                "settle",
                "pay",
                "--key",
                f,
                "--period",
                "2026-Q2",
                "--payee",
                r1,
                "--kind",
                "renter",
                "--year",
                "2026",
                "--amount",
                "5.00",
                "--bank-ref",
                "B3"
            ]
        )
        .contains("OVERPAID")
    );

    // The annual report of 2026, cell by cell (computed by hand from SPEC §12).
    let dir = ex.dir.path();
    let out = |n: &str| dir.join(n).to_string_lossy().into_owned();
    server.cli_ok(&["report", "annual", "--key", f, "--year", "2026", "--format", "csv", "--out", &out("r.csv")]);
    let report = std::fs::read_to_string(out("r.csv")).unwrap();
    let mut want = [
        "year,entity_id,name,rent_records,rent_gpu_hours,rent_amount,renter_subsidy_uncapped,renter_subsidy,voucher_drawn,supply_records,supply_gpu_hours,supply_amount,supplier_subsidy_uncapped,supplier_subsidy,voucher_reimbursement,total_payable,paid,outstanding".to_string(),
        format!("2026,{p},P 苏州智算中心,0,0,0.00,0.00,0.00,0.00,7,539416,6742700.00,674270.00,674270.00,200000.00,874270.00,500000.00,374270.00"),
        format!("2026,{p2},P2,0,0,0.00,0.00,0.00,0.00,1,400,5000.00,0.00,0.00,0.00,0.00,0.00,0.00"),
        format!("2026,{r1},R1 研发企业,4,521008,6512600.00,1953780.00,1953750.00,0.00,0,0,0.00,0.00,0.00,0.00,1953750.00,-20000.00,1973750.00"),
        format!("2026,{r2},R2,1,400,5000.00,0.00,0.00,0.00,0,0,0.00,0.00,0.00,0.00,0.00,0.00,0.00"),
        format!("2026,{o},O 一人公司,3,18408,230100.00,9030.00,9030.00,200000.00,0,0,0.00,0.00,0.00,0.00,9030.00,0.00,9030.00"),
        "2026,TOTAL,,8,539816,6747700.00,1962810.00,1962780.00,200000.00,8,539816,6747700.00,674270.00,674270.00,200000.00,2837050.00,480000.00,2357050.00".to_string(),
    ];
    want.iter_mut().for_each(|l| l.push('\n'));
    assert_eq!(report, want.concat(), "the CSV is exactly SPEC §10's, LF endings, no BOM");

    // Two exports at the same position are identical, signature included.
    server.cli_ok(&["report", "annual", "--key", f, "--year", "2026", "--format", "csv", "--out", &out("r2.csv")]);
    assert_eq!(std::fs::read(out("r.csv")).unwrap(), std::fs::read(out("r2.csv")).unwrap());
    assert_eq!(std::fs::read(out("r.csv.sig")).unwrap(), std::fs::read(out("r2.csv.sig")).unwrap());

    // Offline verification with the ledger's public key; tampering is caught.
    let ledger_key = suanli_core::keyfile::encode_public(
        &Server::read_key(&server.data_dir.join("ledger.key")).verifying_key().to_bytes(),
    );
    let ok = server.cli_ok(&["report", "verify", "--file", &out("r.csv"), "--ledger-pubkey", &ledger_key]);
    assert!(ok.starts_with("OK "), "{ok}");
    std::fs::write(out("r2.csv"), report.replace("500000.00", "600000.00")).unwrap();
    assert!(
        cli_fails(&server, &["report", "verify", "--file", &out("r2.csv"), "--ledger-pubkey", &ledger_key])
            .contains("changed")
    );
    let sig = std::fs::read_to_string(out("r.csv.sig")).unwrap();
    std::fs::write(out("r2.csv"), &report).unwrap();
    std::fs::write(out("r2.csv.sig"), sig.replacen("annual 2026", "annual 2025", 1)).unwrap();
    cli_fails(&server, &["report", "verify", "--file", &out("r2.csv"), "--ledger-pubkey", &ledger_key]);
    let other = suanli_core::keyfile::encode_public(&suanli_core::testkit::public(&suanli_core::testkit::key(77)));
    cli_fails(&server, &["report", "verify", "--file", &out("r.csv"), "--ledger-pubkey", &other]);

    // As of an earlier entry: before the claw-back payout, R1 had paid nothing.
    let size: u64 = sig.lines().nth(4).unwrap().parse().unwrap();
    server.cli_ok(&[
        "report",
        "annual",
        "--key",
        f,
        "--year",
        "2026",
        "--format",
        "csv",
        "--out",
        &out("early.csv"),
        "--as-of",
        &(size - 3).to_string(),
    ]);
    let early = std::fs::read_to_string(out("early.csv")).unwrap();
    assert!(
        early.contains(&format!("2026,{r1},R1 研发企业,4,")) && early.contains(",1953750.00,0.00,1953750.00\n"),
        "{early}"
    );
    assert!(std::fs::read_to_string(out("early.csv.sig")).unwrap().contains(&format!("\n{}\n", size - 2)));

    // JSON: the same numbers.
    server.cli_ok(&["report", "annual", "--key", f, "--year", "2026", "--format", "json", "--out", &out("r.json")]);
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out("r.json")).unwrap()).unwrap();
    assert_eq!(json["total"]["outstanding"], "2357050.00");
    assert_eq!(json["rows"].as_array().unwrap().len(), 5);

    // XLSX: numbers as numbers, names intact, a totals row, the checkpoint sheet; deterministic.
    server.cli_ok(&["report", "annual", "--key", f, "--year", "2026", "--format", "xlsx", "--out", &out("r.xlsx")]);
    server.cli_ok(&["report", "annual", "--key", f, "--year", "2026", "--format", "xlsx", "--out", &out("r2.xlsx")]);
    assert_eq!(std::fs::read(out("r.xlsx")).unwrap(), std::fs::read(out("r2.xlsx")).unwrap());
    assert!(
        server
            .cli_ok(&["report", "verify", "--file", &out("r.xlsx"), "--ledger-pubkey", &ledger_key])
            .starts_with("OK")
    );
    {
        use calamine::{Data, Reader, Xlsx, open_workbook};
        let mut wb: Xlsx<_> = open_workbook(out("r.xlsx")).unwrap();
        let sheet = wb.worksheet_range("年度报告 2026").unwrap();
        // Chinese titles for the clerk; the SPEC identifiers through the mapping sheet and
        // the defined names (docs/REPORTS.md).
        assert_eq!(sheet.get_value((0, 1)), Some(&Data::String("统一社会信用代码".into())));
        assert_eq!(sheet.get_value((0, 17)), Some(&Data::String("未付(元)".into())));
        let columns = wb.worksheet_range("列名 Columns").unwrap();
        let ids: Vec<String> = (1..=18).map(|r| columns.get_value((r, 1)).unwrap().to_string()).collect();
        assert_eq!(ids, suanli_core::report::CSV_COLUMNS.map(String::from).to_vec());
        let names: std::collections::HashMap<String, String> = wb.defined_names().iter().cloned().collect();
        assert_eq!(names["suanli.outstanding"], "'年度报告 2026'!$R$2:$R$7");
        assert_eq!(names["suanli.entity_id"], "'年度报告 2026'!$B$2:$B$7");
        assert_eq!(sheet.get_value((1, 1)), Some(&Data::String(p.to_string())));
        assert_eq!(sheet.get_value((1, 2)), Some(&Data::String("P 苏州智算中心".into())));
        assert_eq!(sheet.get_value((1, 9)), Some(&Data::Float(7.0)));
        assert_eq!(sheet.get_value((1, 15)), Some(&Data::Float(874270.0)));
        assert_eq!(sheet.get_value((3, 16)), Some(&Data::Float(-20000.0)));
        assert_eq!(sheet.get_value((6, 1)), Some(&Data::String("TOTAL".into())));
        assert_eq!(sheet.get_value((6, 17)), Some(&Data::Float(2357050.0)));
        let cp = wb.worksheet_range("检查点 Checkpoint").unwrap();
        assert_eq!(cp.get_value((2, 1)), Some(&Data::Float(size as f64)));
        assert_eq!(cp.get_value((4, 1)), Some(&Data::Float(2026.0)));
    }
    crate::excel_checks::annual_xlsx_reads_as_a_clerk_expects(&out("r.xlsx"), &report);
    // The Excel CSV of the report: signed too, BOM + CRLF + Chinese titles, same rows.
    let args = ["report", "annual", "--key", f, "--year", "2026", "--format", "csv", "--excel", "--out"];
    server.cli_ok(&[&args[..], &[out("rx.csv").as_str()]].concat());
    let verified = server.cli_ok(&["report", "verify", "--file", &out("rx.csv"), "--ledger-pubkey", &ledger_key]);
    assert!(verified.starts_with("OK") && verified.contains("annual 2026 csv-excel"), "{verified}");
    let excel = std::fs::read(out("rx.csv")).unwrap();
    assert!(excel.starts_with("\u{feff}年度,统一社会信用代码,企业名称,".as_bytes()));
    let excel = String::from_utf8(excel[3..].to_vec()).unwrap();
    assert_eq!(excel.split("\r\n").count(), report.split('\n').count());
    assert!(excel.contains(&format!("2026,\"=\"\"{p}\"\"\",P 苏州智算中心,")), "{excel}");

    // Statements: R1's, read by finance.
    let st = server.cli_ok(&["statement", "--key", f, "--id", r1]);
    assert!(st.contains(",usage,u3,renter,") && st.contains(",reversal,u3,renter,"), "{st}");
    assert!(st.lines().any(|l| l == ",,total,,,,2026,,,,,1953750.00,0.00,0.00,1953750.00,-20000.00,1973750.00,"), "{st}");
    // One table: every line has the header's number of fields, so it loads as one.
    let width = st.lines().next().unwrap().split(',').count();
    assert_eq!(width, 18);
    let mut reader = csv::Reader::from_reader(st.as_bytes());
    assert!(reader.records().all(|r| r.unwrap().len() == width));
    crate::excel_checks::statement_forms(&server, f, r1, &out("st.xlsx"), &st);
    // P reads its own statement with its key; it may not read R1's.
    let own = server.cli_ok(&["statement", "--key", &ex.p_key, "--id", p, "--year", "2026"]);
    assert!(own.lines().any(|l| l == ",,total,,,,2026,,,,,0.00,674270.00,200000.00,874270.00,500000.00,374270.00,"), "{own}");
    crate::excel_checks::settle_list_forms(&server, f, &out("settle.xlsx"));
    assert!(cli_fails(&server, &["statement", "--key", &ex.p_key, "--id", r1]).contains("may not read"));
}

/// Reading the Excel/WPS forms back with real readers: calamine for the cells, the XLSX
/// package's own XML (through Python's zipfile) for what calamine does not expose (frozen
/// panes, filters, number formats, document times).
mod excel_checks {
    use calamine::{Data, Reader, Xlsx, open_workbook};
    use suanli_tests::Server;

    /// A member of an XLSX package (a ZIP archive), as text.
    fn part(file: &str, member: &str) -> String {
        let out = std::process::Command::new("python3")
            .args(["-c", "import sys, zipfile; sys.stdout.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]).decode())"])
            .args([file, member])
            .output()
            .expect("python3 runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Each cell of the sheet equals the CSV's cell: numbers as numbers, ids as text.
    fn same_cells(sheet: &calamine::Range<Data>, csv_text: &str) {
        let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
        for (r, record) in reader.records().enumerate() {
            let record = record.unwrap();
            for (c, want) in record.iter().enumerate() {
                let got = sheet.get_value((r as u32 + 1, c as u32));
                match got {
                    None | Some(Data::Empty) => assert_eq!(want, "", "row {r} col {c}"),
                    Some(Data::String(s)) => assert_eq!(s, want, "row {r} col {c}"),
                    Some(Data::Float(f)) => {
                        let want: f64 = want.parse().unwrap_or_else(|_| panic!("row {r} col {c}: {want:?} is text"));
                        assert_eq!(*f, want, "row {r} col {c}");
                    }
                    Some(Data::DateTime(_)) => {
                        assert!(suanli_core::time::parse_rfc3339(want).is_ok(), "row {r} col {c}: {want}")
                    }
                    Some(other) => panic!("row {r} col {c}: unexpected {other:?} for {want:?}"),
                }
            }
        }
    }

    /// Frozen header row, a filter over the table, and the formats a clerk expects.
    fn frozen_filtered_formatted(file: &str, sheet_xml: &str) {
        let xml = part(file, sheet_xml);
        assert!(xml.contains(r#"ySplit="1""#) && xml.contains(r#"state="frozen""#), "{xml}");
        assert!(xml.contains("<autoFilter ref=\"A1:"), "{xml}");
        assert!(xml.contains("<col "), "column widths are set: {xml}");
        let styles = part(file, "xl/styles.xml");
        assert!(styles.contains(r##"formatCode="#,##0.00""##), "{styles}");
        assert!(!styles.contains(r##"formatCode="#,##0.######""##), "whole GPU-hours would show as 1,000.: {styles}");
    }

    pub fn annual_xlsx_reads_as_a_clerk_expects(file: &str, csv_text: &str) {
        let mut wb: Xlsx<_> = open_workbook(file).unwrap();
        let sheet = wb.worksheet_range("年度报告 2026").unwrap();
        same_cells(&sheet, csv_text);
        frozen_filtered_formatted(file, "xl/worksheets/sheet1.xml");
        assert!(part(file, "xl/styles.xml").contains(r##"formatCode="#,##0.00####""##));
        // The document's creation time is the last entry's time, in UTC as XLSX requires.
        let cp = wb.worksheet_range("检查点 Checkpoint").unwrap();
        let Some(Data::String(when)) = cp.get_value((5, 1)) else { panic!("no time on the checkpoint sheet") };
        let unix = suanli_core::time::parse_rfc3339(when).unwrap();
        let utc = suanli_core::time::format_rfc3339(unix, 0);
        let core = part(file, "docProps/core.xml");
        assert!(core.contains(&format!("<dcterms:created xsi:type=\"dcterms:W3CDTF\">{utc}</dcterms:created>")), "{utc} {core}");
    }

    pub fn statement_forms(server: &Server, key: &str, id: &str, file: &str, csv_text: &str) {
        server.cli_ok(&["statement", "--key", key, "--id", id, "--format", "xlsx", "--out", file]);
        let mut wb: Xlsx<_> = open_workbook(file).unwrap();
        let sheet = wb.worksheet_range("对账单 Statement").unwrap();
        assert_eq!(sheet.get_value((0, 0)), Some(&Data::String("日志序号".into())));
        same_cells(&sheet, csv_text);
        frozen_filtered_formatted(file, "xl/worksheets/sheet1.xml");
        let columns = wb.worksheet_range("列名 Columns").unwrap();
        assert_eq!(columns.get_value((2, 1)), Some(&Data::String("time".into())));
        // The Excel CSV: BOM, CRLF, Chinese titles, ids as ="…", and the same rows.
        let excel = server.cli(&["statement", "--key", key, "--id", id, "--excel"]);
        assert!(excel.status.success());
        let bytes = excel.stdout;
        assert!(bytes.starts_with("\u{feff}日志序号,时间,".as_bytes()), "{}", String::from_utf8_lossy(&bytes));
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        assert!(text.ends_with("\r\n") && !text.replace("\r\n", "").contains('\n'));
        assert_eq!(text.lines().count(), csv_text.lines().count());
        assert!(text.contains(&format!(",\"=\"\"{}\"\"\",", super_counterparty(csv_text))), "{text}");
    }

    /// The first counterparty id in a statement, as it should appear in the Excel CSV.
    fn super_counterparty(csv_text: &str) -> String {
        let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
        reader.records().map(|r| r.unwrap()).find(|r| !r[5].is_empty()).unwrap()[5].to_string()
    }

    pub fn settle_list_forms(server: &Server, key: &str, file: &str) {
        let csv_text = server.cli_ok(&["settle", "list", "--key", key]);
        server.cli_ok(&["settle", "list", "--key", key, "--format", "xlsx", "--out", file]);
        let mut wb: Xlsx<_> = open_workbook(file).unwrap();
        let sheet = wb.worksheet_range("结算 Settlement").unwrap();
        assert_eq!(sheet.get_value((0, 2)), Some(&Data::String("收款方统一社会信用代码".into())));
        same_cells(&sheet, &csv_text);
        frozen_filtered_formatted(file, "xl/worksheets/sheet1.xml");
        let excel = server.cli(&["settle", "list", "--key", key, "--excel"]);
        assert!(excel.status.success());
        assert!(excel.stdout.starts_with("\u{feff}结算期,".as_bytes()));
        // Without --out, XLSX is not written to a terminal-less stdout by mistake either way:
        // it is written (binary to a pipe is what a redirect wants).
        let piped = server.cli(&["settle", "list", "--key", key, "--format", "xlsx"]);
        assert!(piped.status.success() && piped.stdout.starts_with(b"PK"));
    }
}
