//! SPEC §12 end to end: a real `suanlid` on port 0 with a temporary data directory, and
//! the real `suanli` binary playing the worked example, every printed outcome line checked.

use suanli_tests::{Example, Server, pg_database};

#[test]
fn spec_12_through_the_command_line() {
    play(&Server::start());
}

/// The same example on the PostgreSQL store: every line must come out the same.
#[test]
fn spec_12_on_postgres() {
    let url = pg_database();
    let server = Server::start_with(&["--store", &url]);
    play(&server);
    let u = |n| suanli_core::testkit::uscc(n).to_string();
    let show = server.cli_ok(&["entity", "show", "--key", server.admin_key().to_str().unwrap(), "--id", &u(1)]);
    let supplier =
        show.split("supplier_subsidy=").nth(1).and_then(|s| s.split_whitespace().next()).expect("P's supplier subsidy");
    // The analyst tables beside the log say the same, in SQL.
    let mut db = postgres::Client::connect(&url, postgres::NoTls).expect("connect to the test database");
    let text =
        |db: &mut postgres::Client, sql: &str, id: &str| -> String { db.query_one(sql, &[&id]).expect(sql).get(0) };
    let q = "SELECT sum(renter_subsidy)::text FROM ledger_records WHERE renter_id = $1 AND reversed_by IS NULL";
    assert_eq!(text(&mut db, q, &u(3)), "1953750.00");
    let q = "SELECT sum(supplier_subsidy)::text FROM ledger_records WHERE provider_id = $1 AND reversed_by IS NULL";
    assert_eq!(text(&mut db, q, &u(1)), supplier, "as `entity show` says");
    assert!(supplier.starts_with("6742"), "{show}");
    let q = "SELECT drawn::text || ' of ' || face_value::text FROM ledger_voucher_balances WHERE voucher_id = $1";
    assert_eq!(text(&mut db, q, "V1"), "200000.00 of 200000.00");
    let q = "SELECT name || ' ' || opc::text || ' ' || renter_eligible::text FROM ledger_entities WHERE id = $1";
    assert_eq!(text(&mut db, q, &u(5)), "O 一人公司 true true");
    let n: i64 = db.query_one("SELECT count(*) FROM ledger_entries", &[]).unwrap().get(0);
    let size: i64 = db.query_one("SELECT max(seq) + 1 FROM suanli_entries", &[]).unwrap().get(0);
    assert_eq!(n, size, "every log entry has its row");
}

fn play(server: &Server) {
    let ex = Example::setup(server);
    let (p, p2, r1, r2, o) = (&ex.p, &ex.p2, &ex.r1, &ex.r2, &ex.o);
    let rows_p = ex.csv(
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
    let out = server.cli_ok(&["usage", "submit", "--key", &ex.p_key, "--csv", &rows_p]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "record_id,status,seq,voucher_drawn,renter_subsidy,supplier_subsidy,reason");
    let expect = [
        ("u1", "0.00,3750.00,1250.00,NO_VOUCHER|GRANTED|GRANTED"),
        ("u2", "0.00,1800000.00,600000.00,NO_VOUCHER|GRANTED|GRANTED"),
        ("u3", "0.00,196250.00,100000.00,NO_VOUCHER|CAPPED|GRANTED"),
        ("u4", "0.00,0.00,10.00,NO_VOUCHER|CAP_EXHAUSTED|GRANTED"),
        ("u5", "150000.00,0.00,15000.00,VOUCHER|COVERED_BY_VOUCHER|GRANTED"),
        ("u6", "50000.00,9000.00,8000.00,VOUCHER|GRANTED|GRANTED"),
        ("u7", "0.00,30.00,10.00,VOUCHER_EXHAUSTED|GRANTED|GRANTED"),
    ];
    assert_eq!(lines.len(), 1 + expect.len(), "{out}");
    let mut seqs = Vec::new();
    for (line, (id, money)) in lines[1..].iter().zip(expect) {
        let cells: Vec<&str> = line.splitn(4, ',').collect();
        assert_eq!(cells[0], id);
        assert_eq!(cells[1], "ACCEPTED", "{line}");
        seqs.push(cells[2].parse::<u64>().expect("a sequence number"));
        assert_eq!(cells[3], money, "{line}");
    }
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "records are applied in order: {seqs:?}");

    // Row 8: related parties.
    let rows_p2 = ex.csv("p2.csv", &[("u8", p2, r2, "400", "5000.00", "")]);
    let out = server.cli_ok(&["usage", "submit", "--key", &ex.p2_key, "--csv", &rows_p2]);
    let line = out.lines().nth(1).expect("one result");
    assert!(line.starts_with("u8,ACCEPTED,"), "{line}");
    assert!(line.ends_with(",0.00,0.00,0.00,NO_VOUCHER|RELATED_PARTY|RELATED_PARTY"), "{line}");

    // Rows 9 and 10: u1 again with the same bytes, then with the amount changed.
    let again = ex.csv("again.csv", &[("u1", p, r1, "1000", "12500.00", "")]);
    let out = server.cli_ok(&["usage", "submit", "--key", &ex.p_key, "--csv", &again]);
    assert_eq!(
        out.lines().nth(1),
        Some(format!("u1,DUPLICATE,{},0.00,3750.00,1250.00,NO_VOUCHER|GRANTED|GRANTED", seqs[0]).as_str())
    );
    let changed = ex.csv("changed.csv", &[("u1", p, r1, "1000", "12500.01", "")]);
    let out = server.cli_ok(&["usage", "submit", "--key", &ex.p_key, "--csv", &changed]);
    assert_eq!(out.lines().nth(1), Some("u1,REJECTED,,,,,CONFLICT"));

    // Row 11: reversal of u3 by P.
    let out = server.cli_ok(&[
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
    let line = out.lines().nth(1).expect("a result line");
    assert!(line.starts_with("u3,ACCEPTED,"), "{line}");
    assert!(line.contains(",0.00,-196250.00,-100000.00,"), "{line}");
    // Reversing it again: already reversed, exit 0, DUPLICATE.
    let out = server.cli_ok(&[
        "usage",
        "reverse",
        "--key",
        &ex.p_key,
        "--provider",
        p,
        "--record-id",
        "u3",
        "--reason",
        "again",
    ]);
    assert!(out.lines().nth(1).expect("a line").starts_with("u3,DUPLICATE,"));

    // Row 12.
    let u9 = ex.csv("u9.csv", &[("u9", p, r1, "40000", "500000.00", "")]);
    let out = server.cli_ok(&["usage", "submit", "--key", &ex.p_key, "--csv", &u9]);
    let line = out.lines().nth(1).expect("a result line");
    assert!(
        line.starts_with("u9,ACCEPTED,") && line.ends_with(",0.00,150000.00,50000.00,NO_VOUCHER|GRANTED|GRANTED"),
        "{line}"
    );

    // After row 12 (SPEC §12): R1 1,953,750.00 of renter subsidy, P 674,270.00 of supplier
    // subsidy and 200,000.00 of voucher reimbursement, V1 fully drawn, P2 and R2 nothing.
    let show = server.cli_ok(&["entity", "show", "--key", &ex.admin_key, "--id", r1]);
    assert!(show.contains("cap_use: 2026 renter_subsidy=1953750.00"), "{show}");
    let show = server.cli_ok(&["entity", "show", "--key", &ex.admin_key, "--id", p]);
    assert!(show.contains("supplier_subsidy=674270.00"), "{show}");
    let v = server.cli_ok(&["voucher", "statement", "--key", &ex.o_key, "--voucher", "V1"]);
    assert!(v.contains("drawn: 200000.00") && v.contains("balance: 0.00"), "{v}");
    let list = server.cli_ok(&["settle", "list", "--key", &ex.finance_key]);
    assert!(list.contains(&format!("OPEN,,{p},voucher,2026,200000.00,0.00,200000.00")), "{list}");
    assert!(list.contains(&format!("OPEN,,{p},supplier,2026,674270.00,0.00,674270.00")), "{list}");
    assert!(list.contains(&format!("OPEN,,{r1},renter,2026,1953750.00,0.00,1953750.00")), "{list}");
    assert!(!list.contains(p2.as_str()) && !list.contains(r2.as_str()), "{list}");

    // The window boundary.
    let w = format!(
        "record_id,provider_id,renter_id,contract_id,gpu_model,gpu_count,start,end,gpu_hours,unit_price,amount,voucher_id\n\
         w1,{p},{r2},,H100,8,2026-01-30T22:59:59+08:00,2026-01-30T23:59:59+08:00,8,12.50,100.00,\n\
         w2,{p},{r2},,H100,8,2026-01-30T23:00:00+08:00,2026-01-31T00:00:00+08:00,8,12.50,100.00,\n"
    );
    let path = ex.dir.path().join("w.csv");
    std::fs::write(&path, w).unwrap();
    let out = server.cli_ok(&["usage", "submit", "--key", &ex.p_key, "--csv", path.to_str().unwrap()]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[1].ends_with(",0.00,0.00,0.00,OUTSIDE_WINDOW|OUTSIDE_WINDOW|OUTSIDE_WINDOW"), "{}", lines[1]);
    assert!(lines[2].ends_with(",0.00,30.00,10.00,NO_VOUCHER|GRANTED|GRANTED"), "{}", lines[2]);
}
