//! SPEC §12, the worked example, row by row: every amount and every reason code.

use std::str::FromStr;

use rust_decimal::Decimal;
use suanli_core::codes::{LineReason as L, RejectCode};
use suanli_core::entry::{Genesis, Lines};
use suanli_core::index::MemIndex;
use suanli_core::ledger::{Decision, Input, InputKind, Ledger};
use suanli_core::model::PayableKind;
use suanli_core::program::Program;
use suanli_core::testkit::{self as tk, key, public, uscc};
use suanli_core::time::parse_rfc3339;
use suanli_core::wire;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

struct World {
    ledger: Ledger,
    index: MemIndex,
    now_ms: i64,
    /// Every accepted entry, from the genesis entry on: the log.
    log: Vec<suanli_core::entry::Entry>,
}

impl World {
    fn submit(&mut self, input: &Input) -> Decision {
        self.now_ms += 1000;
        let d = self.ledger.decide(&mut self.index, self.now_ms, input, true);
        if let Decision::Accepted(e) = &d {
            self.log.push(e.clone());
        }
        d
    }
    fn ok(&mut self, input: &Input) {
        match self.submit(input) {
            Decision::Accepted(_) => {}
            other => panic!("expected acceptance, got {other:?}"),
        }
    }
}

fn lines(decision: &Decision) -> (u64, Lines) {
    match decision {
        Decision::Accepted(e) => match &e.body {
            suanli_core::entry::Body::Usage { lines, .. } => (e.seq, *lines),
            suanli_core::entry::Body::Reversal { reversed, .. } => (e.seq, reversed.lines.negated()),
            other => panic!("not a record: {other:?}"),
        },
        other => panic!("expected acceptance, got {other:?}"),
    }
}

fn check(l: &Lines, v: (&str, L), r: (&str, L), s: (&str, L)) {
    assert_eq!((l.voucher, l.voucher_reason), (d(v.0), v.1), "V of {l:?}");
    assert_eq!((l.renter, l.renter_reason), (d(r.0), r.1), "R of {l:?}");
    assert_eq!((l.supplier, l.supplier_reason), (d(s.0), s.1), "S of {l:?}");
}

#[test]
fn spec_12_worked_example() {
    let admin = key(1);
    let finance = key(2);
    let genesis = Genesis {
        program_toml: Program::suzhou_2026().to_toml(),
        admin_key: public(&admin),
        finance_key: public(&finance),
        ledger_key: public(&key(3)),
        origin: "suanli.test/worked-example".into(),
    };
    let t0 = parse_rfc3339("2026-12-01T00:00:00+08:00").unwrap() * 1000;
    let (ledger, entry0) = Ledger::create(genesis, t0).unwrap();
    let mut w = World { ledger, index: MemIndex::default(), now_ms: t0, log: vec![entry0] };

    let (p, p2, r1, r2, o) = (uscc(1), uscc(2), uscc(3), uscc(4), uscc(5));
    let (kp, kp2, ko) = (key(11), key(12), key(15));
    let reg = [
        (p, "P", tk::flags(true, false, true, false, false), None),
        (p2, "P2", tk::flags(true, false, true, false, false), Some("g1")),
        (r1, "R1", tk::flags(false, true, false, false, false), None),
        (r2, "R2", tk::flags(false, true, false, false, false), Some("g1")),
        (o, "O", tk::flags(false, true, false, true, false), None),
    ];
    for (i, (id, name, flags, group)) in reg.iter().enumerate() {
        w.ok(&tk::admin(&admin, &format!("reg-{i}"), tk::register(id, name, *flags, *group)));
    }
    w.ok(&tk::admin(&admin, "key-p", tk::add_key(&p, &public(&kp))));
    w.ok(&tk::admin(&admin, "key-p2", tk::add_key(&p2, &public(&kp2))));
    w.ok(&tk::admin(&admin, "key-o", tk::add_key(&o, &public(&ko))));
    let issue = wire::admin_request::Op::IssueVoucher(wire::IssueVoucher {
        voucher_id: "V1".into(),
        holder_id: o.to_string(),
        kind: wire::VoucherKind::Compute as i32,
        face_value: "200000.00".into(),
        valid_from: parse_rfc3339("2026-01-01T00:00:00+08:00").unwrap(),
        valid_until: parse_rfc3339("2027-01-01T00:00:00+08:00").unwrap(),
    });
    w.ok(&tk::admin(&admin, "issue-v1", issue));
    let auth = wire::holder_request::Op::Authorize(wire::Authorize {
        voucher_id: "V1".into(),
        provider_id: p.to_string(),
        limit: String::new(),
    });
    w.ok(&tk::holder(&ko, &o, "auth-p", auth));

    let end = parse_rfc3339("2026-06-30T12:00:00+08:00").unwrap();
    let usage = |k: &ed25519_dalek::SigningKey, id: &str, prov, rent, gh: &str, amount: &str, v: Option<&str>| {
        tk::sign(InputKind::Usage, k, &tk::usage_record(id, prov, rent, gh, "12.50", amount, end, v))
    };

    // Rows 1–8.
    let u1 = usage(&kp, "u1", &p, &r1, "1000", "12500.00", None);
    let row1 = w.submit(&u1);
    let (seq1, l1) = lines(&row1);
    check(&l1, ("0", L::NoVoucher), ("3750.00", L::Granted), ("1250.00", L::Granted));
    let (_, l) = lines(&w.submit(&usage(&kp, "u2", &p, &r1, "480000", "6000000.00", None)));
    check(&l, ("0", L::NoVoucher), ("1800000.00", L::Granted), ("600000.00", L::Granted));
    let (_, l) = lines(&w.submit(&usage(&kp, "u3", &p, &r1, "80000", "1000000.00", None)));
    check(&l, ("0", L::NoVoucher), ("196250.00", L::Capped), ("100000.00", L::Granted));
    assert_eq!(l.renter_uncapped, d("300000.00"));
    let (_, l) = lines(&w.submit(&usage(&kp, "u4", &p, &r1, "8", "100.00", None)));
    check(&l, ("0", L::NoVoucher), ("0.00", L::CapExhausted), ("10.00", L::Granted));
    assert_eq!(l.renter_uncapped, d("30.00"));
    let (_, l) = lines(&w.submit(&usage(&kp, "u5", &p, &o, "12000", "150000.00", Some("V1"))));
    check(&l, ("150000.00", L::Voucher), ("0.00", L::CoveredByVoucher), ("15000.00", L::Granted));
    let (_, l) = lines(&w.submit(&usage(&kp, "u6", &p, &o, "6400", "80000.00", Some("V1"))));
    check(&l, ("50000.00", L::Voucher), ("9000.00", L::Granted), ("8000.00", L::Granted));
    assert_eq!(l.renter_uncapped, d("9000.00"), "base 30,000.00 at 30 %");
    let (_, l) = lines(&w.submit(&usage(&kp, "u7", &p, &o, "8", "100.00", Some("V1"))));
    check(&l, ("0.00", L::VoucherExhausted), ("30.00", L::Granted), ("10.00", L::Granted));
    let (_, l) = lines(&w.submit(&usage(&kp2, "u8", &p2, &r2, "400", "5000.00", None)));
    check(&l, ("0", L::NoVoucher), ("0.00", L::RelatedParty), ("0.00", L::RelatedParty));

    // Row 9: u1 again, same bytes.
    match w.submit(&u1) {
        Decision::Duplicate(dup) => {
            assert_eq!(dup.seq, seq1);
            assert_eq!(dup.lines, Some(l1));
        }
        other => panic!("row 9: {other:?}"),
    }
    // Row 10: u1 again, amount changed.
    let u1b = usage(&kp, "u1", &p, &r1, "1000", "12500.01", None);
    match w.submit(&u1b) {
        Decision::Rejected(r) => assert_eq!(r.code, RejectCode::Conflict),
        other => panic!("row 10: {other:?}"),
    }
    // Row 11: reversal of u3 by P.
    let rev = tk::sign(InputKind::Reversal, &kp, &tk::reversal(&p, "u3", "wrong contract"));
    let (_, l) = lines(&w.submit(&rev));
    check(&l, ("0", L::NoVoucher), ("-196250.00", L::Capped), ("-100000.00", L::Granted));
    // Row 12.
    let (_, l) = lines(&w.submit(&usage(&kp, "u9", &p, &r1, "40000", "500000.00", None)));
    check(&l, ("0", L::NoVoucher), ("150000.00", L::Granted), ("50000.00", L::Granted));

    // After row 12.
    let lg = &w.ledger;
    assert_eq!(lg.renter_used(&r1, 2026), d("1953750.00"));
    assert_eq!(lg.supplier_used(&p, 2026), d("674270.00"));
    let owed = |who, kind| lg.unsettled().get(&(who, kind, 2026)).copied().unwrap_or_default();
    assert_eq!(owed(p, PayableKind::Supplier), d("674270.00"));
    assert_eq!(owed(p, PayableKind::Voucher), d("200000.00"));
    assert_eq!(owed(r1, PayableKind::Renter), d("1953750.00"));
    let v1 = lg.voucher("V1").unwrap();
    assert_eq!(v1.drawn, v1.face_value, "V1 is fully drawn");
    for who in [p2, r2] {
        for kind in PayableKind::ALL {
            assert_eq!(owed(who, kind), Decimal::ZERO, "{who} has nothing");
        }
    }

    // A snapshot brings back exactly this state.
    let snap = Ledger::decode_snapshot(&lg.encode_snapshot()).unwrap();
    assert_eq!(&snap, lg);

    // A reversal of a reversed record repeats the first reversal.
    match w.submit(&rev) {
        Decision::Duplicate(dup) => assert_eq!(dup.lines.unwrap().renter, d("-196250.00")),
        other => panic!("{other:?}"),
    }

    // The window boundary: 2026-01-30T23:59:59+08:00 is outside, 2026-01-31T00:00:00+08:00 inside.
    let just_before = parse_rfc3339("2026-01-30T23:59:59+08:00").unwrap();
    let rec = tk::usage_record("w1", &p, &r2, "8", "12.50", "100.00", just_before, None);
    let (_, l) = lines(&w.submit(&tk::sign(InputKind::Usage, &kp, &rec)));
    check(&l, ("0", L::OutsideWindow), ("0", L::OutsideWindow), ("0", L::OutsideWindow));
    let rec = tk::usage_record("w2", &p, &r2, "8", "12.50", "100.00", just_before + 1, None);
    let (_, l) = lines(&w.submit(&tk::sign(InputKind::Usage, &kp, &rec)));
    check(&l, ("0", L::NoVoucher), ("30.00", L::Granted), ("10.00", L::Granted));

    // The annual report of 2026 (SPEC §10), folded from the log, cell by cell. Computed by
    // hand: u3 is reversed (not counted, its lines taken back); w1 ended outside the window
    // (counted as a record of 2026 with all lines 0.00); u8 is between related parties.
    let mut report = suanli_core::report::AnnualReport::new(2026);
    for e in &w.log {
        report.add(e).unwrap();
    }
    let csv = report.to_csv();
    let expected = [
        suanli_core::report::CSV_COLUMNS.join(","),
        format!("2026,{p},P,0,0,0.00,0.00,0.00,0.00,9,539432,6742900.00,674280.00,674280.00,200000.00,874280.00,0.00,874280.00"),
        format!("2026,{p2},P2,0,0,0.00,0.00,0.00,0.00,1,400,5000.00,0.00,0.00,0.00,0.00,0.00,0.00"),
        format!("2026,{r1},R1,4,521008,6512600.00,1953780.00,1953750.00,0.00,0,0,0.00,0.00,0.00,0.00,1953750.00,0.00,1953750.00"),
        format!("2026,{r2},R2,3,416,5200.00,30.00,30.00,0.00,0,0,0.00,0.00,0.00,0.00,30.00,0.00,30.00"),
        format!("2026,{o},O,3,18408,230100.00,9030.00,9030.00,200000.00,0,0,0.00,0.00,0.00,0.00,9030.00,0.00,9030.00"),
        "2026,TOTAL,,10,539832,6747900.00,1962840.00,1962810.00,200000.00,10,539832,6747900.00,674280.00,674280.00,200000.00,2837090.00,0.00,2837090.00".to_string(),
    ];
    let got: Vec<&str> = csv.lines().collect();
    assert_eq!(got.len(), expected.len(), "{csv}");
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g, e);
    }
    assert!(report.to_json().contains("\"total_payable\": \"874280.00\""));
}
