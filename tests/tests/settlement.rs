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
        let sheet = wb.worksheet_range("Report 2026").unwrap();
        assert_eq!(sheet.get_value((0, 17)), Some(&Data::String("outstanding".into())));
        assert_eq!(sheet.get_value((1, 1)), Some(&Data::String(p.to_string())));
        assert_eq!(sheet.get_value((1, 2)), Some(&Data::String("P 苏州智算中心".into())));
        assert_eq!(sheet.get_value((1, 9)), Some(&Data::Float(7.0)));
        assert_eq!(sheet.get_value((1, 15)), Some(&Data::Float(874270.0)));
        assert_eq!(sheet.get_value((3, 16)), Some(&Data::Float(-20000.0)));
        assert_eq!(sheet.get_value((6, 1)), Some(&Data::String("TOTAL".into())));
        assert_eq!(sheet.get_value((6, 17)), Some(&Data::Float(2357050.0)));
        let cp = wb.worksheet_range("Checkpoint").unwrap();
        assert_eq!(cp.get_value((2, 1)), Some(&Data::String(size.to_string())));
    }

    // Statements: R1's, read by finance.
    let st = server.cli_ok(&["statement", "--key", f, "--id", r1]);
    assert!(st.contains(",usage,u3,renter,") && st.contains(",reversal,u3,renter,"), "{st}");
    assert!(st.lines().any(|l| l == "2026,1953750.00,0.00,0.00,1953750.00,-20000.00,1973750.00"), "{st}");
    // P reads its own statement with its key; it may not read R1's.
    let own = server.cli_ok(&["statement", "--key", &ex.p_key, "--id", p, "--year", "2026"]);
    assert!(own.lines().any(|l| l == "2026,0.00,674270.00,200000.00,874270.00,500000.00,374270.00"), "{own}");
    assert!(cli_fails(&server, &["statement", "--key", &ex.p_key, "--id", r1]).contains("may not read"));
}
