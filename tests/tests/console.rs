//! The web console over HTTP, without a browser: the pages carry a strict CSP and escape
//! what entities wrote; `/api/…` holds a browser's signed envelopes to the same rules as
//! gRPC (freshness, replay, permissions) and explains refusals in the reader's language;
//! and the signed reads the console added (`Vouchers.ListVouchers`, `GetEntity` and
//! `EntityStatement` with an empty id for "my own", `EntityInfo.settlement`) over gRPC.
//! The browser itself is exercised by `browser.rs`.

use std::io::{Read, Write};
use std::net::TcpStream;

use prost::Message;
use suanli_core::testkit::uscc;
use suanli_tests::{Example, Grpc, Server, read, runtime, v1};

/// One HTTP/1.1 request; (status, headers in lower case, body).
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect to the web listener");
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("send");
    s.write_all(body).expect("send body");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read");
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").expect("header end");
    let head = String::from_utf8_lossy(&out[..split]).to_lowercase();
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("status");
    let mut body = out[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (status, head, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line = b.windows(2).position(|w| w == b"\r\n").expect("chunk size");
        let size = usize::from_str_radix(std::str::from_utf8(&b[..line]).expect("hex").trim(), 16).expect("hex");
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[line + 2..line + 2 + size]);
        b = &b[line + 2 + size + 2..];
    }
}

fn web_addr(server: &Server) -> String {
    server.web_url().trim_start_matches("http://").trim_end_matches('/').to_string()
}

fn post(server: &Server, path: &str, env: &v1::Envelope, lang: &str) -> (u16, serde_json::Value) {
    let (status, _, body) = http(
        &web_addr(server),
        "POST",
        &format!("{path}{}lang={lang}", if path.contains('?') { '&' } else { '?' }),
        &[("Content-Type", "application/x-protobuf")],
        &env.encode_to_vec(),
    );
    (
        status,
        serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {}", String::from_utf8_lossy(&body))),
    )
}

#[test]
fn pages_are_served_with_a_strict_policy_in_both_languages() {
    let server = Server::start();
    let addr = web_addr(&server);
    for path in ["/", "/founder", "/entity", "/auditor"] {
        let (status, head, body) = http(&addr, "GET", path, &[], b"");
        assert_eq!(status, 200, "{path}");
        assert!(head.contains("content-security-policy: default-src 'none'; script-src 'self'"), "{path}: {head}");
        assert!(head.contains("x-content-type-options: nosniff"), "{path}");
        let html = String::from_utf8(body).expect("utf-8");
        assert!(html.contains("<html lang=\"zh-CN\">"), "{path}: Chinese by default");
        // No inline script and no inline style anywhere.
        assert!(!html.contains("<script>") && !html.contains(" style=") && !html.contains(" onclick="), "{path}");
    }
    let (_, _, en) = http(&addr, "GET", "/founder", &[("Accept-Language", "en-US,en;q=0.9")], b"");
    assert!(String::from_utf8_lossy(&en).contains("My vouchers"));
    let (_, head, zh) = http(&addr, "GET", "/founder?lang=zh", &[("Accept-Language", "en")], b"");
    assert!(String::from_utf8_lossy(&zh).contains("我的券"));
    assert!(head.contains("set-cookie: lang=zh"), "{head}");
    let (_, _, cookie) = http(&addr, "GET", "/", &[("Cookie", "lang=en"), ("Accept-Language", "zh-CN")], b"");
    assert!(String::from_utf8_lossy(&cookie).contains("<html lang=\"en\">"));
    let (status, head, js) = http(&addr, "GET", "/static/keys.js", &[], b"");
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/javascript"));
    assert!(String::from_utf8_lossy(&js).contains("suanli-ed25519-secret-key-v1"));
    assert_eq!(http(&addr, "GET", "/static/nope.js", &[], b"").0, 404);
}

#[test]
fn signed_reads_over_http_follow_the_grpc_rules() {
    let server = Server::start();
    let ex = Example::setup(&server);
    let o_key = Server::read_key(ex.o_key.as_ref());
    let p_key = Server::read_key(ex.p_key.as_ref());
    let finance = Server::read_key(&server.finance_key());
    let holder = |id: &str| v1::read_request::Query::Holder(v1::HolderQuery { holder_id: id.into() });

    // The holder's own vouchers, by an empty id.
    let (status, body) = post(&server, "/api/view/founder", &read(&o_key, holder("")), "zh");
    assert_eq!(status, 200, "{body}");
    let html = body["html"].as_str().expect("html");
    assert!(html.contains("V1") && html.contains("¥200,000.00") && html.contains("O 一人公司"), "{html}");

    // The same signed read again: refused, as over gRPC.
    let env = read(&o_key, holder(""));
    assert_eq!(post(&server, "/api/view/founder", &env, "zh").0, 200);
    let (status, body) = post(&server, "/api/view/founder", &env, "zh");
    assert_eq!((status, body["error"].as_str()), (401, Some("replayed")), "{body}");

    // Another entity's vouchers: refused, explained in Chinese.
    let (status, body) = post(&server, "/api/view/founder", &read(&p_key, holder(&ex.o)), "zh");
    assert_eq!((status, body["error"].as_str()), (403, Some("permission")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("无权"), "{body}");

    // The finance key with no entity named: it belongs to no entity.
    let (status, body) = post(&server, "/api/view/founder", &read(&finance, holder("")), "en");
    assert_eq!((status, body["error"].as_str()), (403, Some("role")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("belongs to no company"), "{body}");

    // A read signed an hour ago.
    let old = {
        let req = v1::ReadRequest {
            issued_at_ms: suanli_cli::signing::now_ms() - 3_600_000,
            nonce: vec![1; 16],
            query: Some(holder("")),
        };
        let payload = req.encode_to_vec();
        let signature = suanli_core::sig::sign(&o_key, suanli_core::sig::Domain::Read, &payload);
        v1::Envelope { payload, public_key: o_key.verifying_key().to_bytes().to_vec(), signature: signature.to_vec() }
    };
    let (status, body) = post(&server, "/api/view/founder", &old, "zh");
    assert_eq!((status, body["error"].as_str()), (401, Some("skew")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("已过期"), "{body}");

    // A signature under another domain (a holder request's tag) is no read.
    let mut forged = read(&o_key, holder(""));
    forged.signature = suanli_core::sig::sign(&o_key, suanli_core::sig::Domain::Holder, &forged.payload).to_vec();
    let (status, body) = post(&server, "/api/view/founder", &forged, "zh");
    assert_eq!((status, body["error"].as_str()), (401, Some("signature")), "{body}");

    // Garbage is not an envelope.
    let (status, _, _) = http(&web_addr(&server), "POST", "/api/view/founder", &[], b"\xff\xff\xff");
    assert_eq!(status, 401);
}

#[test]
fn a_holder_request_signed_in_a_browser_is_applied_like_the_cli_s() {
    let server = Server::start();
    let ex = Example::setup(&server);
    let o_key = Server::read_key(ex.o_key.as_ref());
    let req = v1::HolderRequest {
        request_id: "web-0000000000000001".into(),
        holder_id: ex.o.clone(),
        op: Some(v1::holder_request::Op::Authorize(v1::Authorize {
            voucher_id: "V1".into(),
            provider_id: ex.p.clone(),
            limit: "5000.00".into(),
        })),
    };
    let env = suanli_cli::signing::sign_under(suanli_core::sig::Domain::Holder, &o_key, &req);
    let (status, body) = post(&server, "/api/submit/holder", &env, "zh");
    assert_eq!((status, body["status"].as_str()), (200, Some("ACCEPTED")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("已记入账本"), "{body}");
    let (_, body) = post(&server, "/api/submit/holder", &env, "zh");
    assert_eq!(body["status"].as_str(), Some("DUPLICATE"), "{body}");
    let statement = server.cli_ok(&["voucher", "statement", "--key", &ex.o_key, "--voucher", "V1"]);
    assert!(statement.contains("5000.00"), "{statement}");
    // Authorizing a related party is refused with the reason explained; nothing changes.
    let req = v1::HolderRequest {
        request_id: "web-0000000000000002".into(),
        holder_id: ex.o.clone(),
        op: Some(v1::holder_request::Op::Authorize(v1::Authorize {
            voucher_id: "NOPE".into(),
            provider_id: ex.p.clone(),
            limit: String::new(),
        })),
    };
    let env = suanli_cli::signing::sign_under(suanli_core::sig::Domain::Holder, &o_key, &req);
    let (_, body) = post(&server, "/api/submit/holder", &env, "zh");
    assert_eq!(
        (body["status"].as_str(), body["reason"].as_str()),
        (Some("REJECTED"), Some("UNKNOWN_VOUCHER")),
        "{body}"
    );
    // The same envelope signed under the read tag is refused: domains are separate.
    let mut wrong = env.clone();
    wrong.signature = suanli_core::sig::sign(&o_key, suanli_core::sig::Domain::Read, &wrong.payload).to_vec();
    let (_, body) = post(&server, "/api/submit/holder", &wrong, "zh");
    assert_eq!(body["reason"].as_str(), Some("BAD_SIGNATURE"), "{body}");
}

#[test]
fn entity_names_are_escaped_in_every_view() {
    let server = Server::start();
    let admin = server.admin_key().to_string_lossy().into_owned();
    let x = uscc(77).to_string();
    let name = "<script>alert(1)</script>";
    server.cli_ok(&["entity", "register", "--key", &admin, "--id", &x, "--name", name, "--opc", "--renter-eligible"]);
    let keys = tempfile::tempdir().expect("tempdir");
    let key_path = keys.path().join("x.key");
    let pubkey = server.cli_ok(&["keygen", "--out", key_path.to_str().unwrap()]).trim().to_string();
    server.cli_ok(&["entity", "add-key", "--key", &admin, "--id", &x, "--pubkey", &pubkey]);
    let key = Server::read_key(&key_path);
    for (path, query) in [
        ("/api/view/founder", v1::read_request::Query::Holder(v1::HolderQuery { holder_id: String::new() })),
        (
            "/api/view/entity",
            v1::read_request::Query::Statement(v1::StatementQuery { id: String::new(), year: 0, ..Default::default() }),
        ),
    ] {
        let (status, body) = post(&server, path, &read(&key, query), "zh");
        assert_eq!(status, 200, "{body}");
        let html = body["html"].as_str().expect("html");
        let escaped = ["&lt;script&gt;alert(1)&lt;/script&gt;", "&#60;script&#62;alert(1)&#60;/script&#62;"];
        assert!(escaped.iter().any(|e| html.contains(e)), "{path}: {html}");
        assert!(!html.contains("<script"), "{path}: {html}");
    }
}

#[test]
fn grpc_reads_for_the_console() {
    let server = Server::start();
    let ex = Example::setup(&server);
    let rt = runtime();
    rt.block_on(async {
        let mut g = Grpc::connect(&server.url()).await;
        let o_key = Server::read_key(ex.o_key.as_ref());
        let admin = Server::read_key(&server.admin_key());
        let holder = |id: &str| v1::read_request::Query::Holder(v1::HolderQuery { holder_id: id.into() });
        let list = g.vouchers.list_vouchers(read(&o_key, holder(""))).await.expect("own vouchers").into_inner();
        assert_eq!((list.holder_id.as_str(), list.vouchers.len()), (ex.o.as_str(), 1));
        assert_eq!((list.vouchers[0].voucher_id.as_str(), list.vouchers[0].face_value.as_str()), ("V1", "200000.00"));
        assert_eq!(list.vouchers[0].authorizations[0].provider_id, ex.p);
        let by_admin = g.vouchers.list_vouchers(read(&admin, holder(&ex.o))).await.expect("admin reads").into_inner();
        assert_eq!(by_admin, list);
        let err = g.vouchers.list_vouchers(read(&admin, holder(""))).await.expect_err("admin names no one");
        assert_eq!(err.metadata().get("suanli-refusal").and_then(|v| v.to_str().ok()), Some("role"));
        let p_key = Server::read_key(ex.p_key.as_ref());
        let err = g.vouchers.list_vouchers(read(&p_key, holder(&ex.o))).await.expect_err("not P's");
        assert_eq!(
            (err.code(), err.metadata().get("suanli-refusal").and_then(|v| v.to_str().ok())),
            (tonic::Code::PermissionDenied, Some("permission"))
        );
        // A holder with no vouchers gets an empty list.
        let none = g.vouchers.list_vouchers(read(&p_key, holder(""))).await.expect("P's own").into_inner();
        assert!(none.vouchers.is_empty());
        // GetEntity with an empty id reads the signer's own entity, with its settlement lines.
        let entity = |id: &str| v1::read_request::Query::Entity(v1::EntityQuery { id: id.into() });
        let me = g.registry.get_entity(read(&o_key, entity(""))).await.expect("own entity").into_inner();
        assert_eq!(me.id, ex.o);
        assert!(me.settlement.is_empty() && me.unsettled.is_empty());
    });
    // After a record and a period close, the provider's settlement lines are there.
    let csv = ex.csv("u.csv", &[("u1", &ex.p, &ex.r1, "1000", "12500.00", "")]);
    server.cli_ok(&["usage", "submit", "--key", &ex.p_key, "--csv", &csv]);
    server.cli_ok(&["settle", "close", "--key", &ex.finance_key, "--period", "2026-Q2"]);
    rt.block_on(async {
        let mut g = Grpc::connect(&server.url()).await;
        let p_key = Server::read_key(ex.p_key.as_ref());
        let q = v1::read_request::Query::Entity(v1::EntityQuery { id: String::new() });
        let me = g.registry.get_entity(read(&p_key, q)).await.expect("own entity").into_inner();
        let lines: Vec<_> =
            me.settlement.iter().map(|l| (l.period.as_str(), l.line.as_ref().unwrap().amount.as_str())).collect();
        assert_eq!(lines, vec![("2026-Q2", "1250.00")]);
    });
}

/// The seqs of a statement view's rows, in the order the page shows them.
fn seqs_on_page(html: &str) -> Vec<u64> {
    html.split("<td data-label=\"Seq\">").skip(1).map(|t| t.split('<').next().unwrap().parse().unwrap()).collect()
}

/// The seqs of the rows of `suanli statement`'s CSV (its first column), oldest first.
fn statement_seqs(cli: &str) -> Vec<u64> {
    cli.lines().skip(1).filter_map(|l| l.split(',').next().and_then(|s| s.parse().ok())).collect()
}

/// The statement views read a company's rows from the console's index of its own entries;
/// they must show what `suanli statement` (a pass over the whole log) says, row by row —
/// records, a voucher draw, a reversal, a payout — and the totals.
#[test]
fn statement_views_show_what_the_cli_statement_says() {
    let server = Server::start();
    let ex = Example::setup(&server);
    let csv = ex.csv(
        "u.csv",
        &[
            ("u1", &ex.p, &ex.r1, "1000", "12500.00", ""),
            ("u3", &ex.p, &ex.r1, "80000", "1000000.00", ""),
            ("u5", &ex.p, &ex.o, "12000", "150000.00", "V1"),
        ],
    );
    // The view is opened once before the records, so the index is extended afterwards.
    let o_key = Server::read_key(ex.o_key.as_ref());
    let own =
        || v1::read_request::Query::Statement(v1::StatementQuery { id: String::new(), year: 0, ..Default::default() });
    assert_eq!(post(&server, "/api/view/entity", &read(&o_key, own()), "en").0, 200);
    server.cli_ok(&["usage", "submit", "--key", &ex.p_key, "--csv", &csv]);
    server.cli_ok(&[
        "usage",
        "reverse",
        "--key",
        &ex.p_key,
        "--provider",
        &ex.p,
        "--record-id",
        "u3",
        "--reason",
        "wrong meter",
    ]);
    server.cli_ok(&["settle", "close", "--key", &ex.finance_key, "--period", "2026-Q2"]);
    server.cli_ok(&[
        "settle",
        "pay",
        "--key",
        &ex.finance_key,
        "--period",
        "2026-Q2",
        "--payee",
        &ex.p,
        "--kind",
        "voucher",
        "--year",
        "2026",
        "--amount",
        "100000.00",
        "--bank-ref",
        "B-1",
    ]);
    let money = |s: &str| {
        let d: rust_decimal::Decimal = s.parse().expect("money");
        let s = format!("{:.2}", d.abs());
        let (int, frac) = s.split_once('.').expect("two places");
        let mut g = String::new();
        for (i, c) in int.chars().enumerate() {
            if i > 0 && (int.len() - i) % 3 == 0 {
                g.push(',');
            }
            g.push(c);
        }
        format!("{}¥{g}.{frac}", if d.is_sign_negative() && !d.is_zero() { "-" } else { "" })
    };
    let mut all_rows = 0;
    for (who, key_path) in [(&ex.p, &ex.p_key), (&ex.r1, &ex.finance_key), (&ex.o, &ex.o_key)] {
        let key = Server::read_key(key_path.as_ref());
        let id = if key_path == &ex.finance_key { who.to_string() } else { String::new() };
        let q = v1::read_request::Query::Statement(v1::StatementQuery { id, year: 2026, ..Default::default() });
        let (status, body) = post(&server, "/api/view/entity", &read(&key, q), "en");
        assert_eq!(status, 200, "{body}");
        let html = body["html"].as_str().expect("html");
        let cli = server.cli_ok(&["statement", "--key", key_path, "--id", who, "--year", "2026"]);
        let mut r = csv::ReaderBuilder::new().flexible(true).from_reader(cli.as_bytes());
        let header = r.headers().expect("header").clone();
        let col = |row: &csv::StringRecord, name: &str| {
            header.iter().position(|h| h == name).and_then(|i| row.get(i)).unwrap_or("").to_string()
        };
        let mut records = 0;
        for row in r.records().map(|r| r.expect("row")) {
            let kind = col(&row, "kind");
            if matches!(kind.as_str(), "usage" | "corpus" | "reversal" | "payout") {
                records += 1;
                let seq = col(&row, "seq");
                assert!(
                    html.contains(&format!("<td data-label=\"Seq\">{seq}</td>")),
                    "{who}: row {seq} missing:\n{html}"
                );
                for c in ["amount", "voucher_drawn", "renter_subsidy", "supplier_subsidy"] {
                    let v = col(&row, c);
                    if !v.is_empty() {
                        assert!(html.contains(&money(&v)), "{who}: {c} {v} of row {seq} missing:\n{html}");
                    }
                }
            }
        }
        all_rows += records;
        assert_eq!(html.matches("<td data-label=\"Seq\">").count(), records, "{who}: {html}");
        // The totals: rows of kind `total` in the CLI's statement.
        let mut r = csv::ReaderBuilder::new().flexible(true).from_reader(cli.as_bytes());
        let header = r.headers().expect("header").clone();
        let owed: Vec<String> = r
            .records()
            .map(|row| row.expect("row"))
            .filter(|row| header.iter().position(|h| h == "kind").and_then(|i| row.get(i)) == Some("total"))
            .filter_map(|row| header.iter().position(|h| h == "owed").and_then(|i| row.get(i)).map(str::to_string))
            .collect();
        assert!(!owed.is_empty(), "{who}: no totals in the CLI's statement");
        assert!(owed.iter().any(|v| html.contains(&money(v))), "{who}: totals missing");
    }
    // P: u1, u3, u5, the reversal of u3, the payout; R1: u1, u3, the reversal; O: u5.
    assert_eq!(all_rows, 9);

    // A long statement is shown a page at a time, newest first, with the totals of all of
    // it on every page. P's five rows, two per page: pages of 2, 2 and 1.
    let p_key = Server::read_key(ex.p_key.as_ref());
    let cli = server.cli_ok(&["statement", "--key", &ex.p_key, "--id", &ex.p]);
    let mut seqs = statement_seqs(&cli);
    seqs.reverse();
    assert_eq!(seqs.len(), 5, "{cli}");
    let mut shown = Vec::new();
    for page in 1..=4 {
        let (status, body) =
            post(&server, &format!("/api/view/entity?page={page}&per_page=2"), &read(&p_key, own()), "en");
        assert_eq!(status, 200, "{body}");
        let html = body["html"].as_str().expect("html");
        let on_page = seqs_on_page(html);
        assert!(html.contains(&format!("Page {} of 3", page.min(3))), "page {page}:\n{html}");
        assert!(html.contains("of 5, newest first"), "page {page}:\n{html}");
        assert!(html.contains("Totals"), "page {page}: the totals are on every page");
        if page <= 3 {
            shown.extend(on_page);
        } else {
            // Past the end: the last page again.
            assert_eq!(on_page, vec![seqs[4]]);
        }
    }
    assert_eq!(shown, seqs, "every row once, newest first");
}

/// A statement longer than a block of the company index (512 entries) is read back from
/// the server's scratch file, where sealed blocks go: page after page of the console's
/// view, newest first, lists exactly the seqs `usage submit` reported.
#[test]
fn a_statement_longer_than_an_index_block_reads_back_page_by_page() {
    let server = Server::start();
    let ex = Example::setup(&server);
    let ids: Vec<String> = (0..1_100).map(|i| format!("L{i}")).collect();
    let rows: Vec<_> = ids.iter().map(|id| (id.as_str(), ex.p.as_str(), ex.r1.as_str(), "1", "12.50", "")).collect();
    let csv = ex.csv("long.csv", &rows);
    let out = server.cli_ok(&["usage", "submit", "--key", &ex.p_key, "--csv", &csv]);
    // `record_id,status,seq,...`: the seqs the ledger gave the records.
    let mut seqs: Vec<u64> = out
        .lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!(cells[1], "ACCEPTED", "{l}");
            cells[2].parse().expect("seq")
        })
        .collect();
    assert_eq!(seqs.len(), 1_100);
    seqs.reverse();
    let p_key = Server::read_key(ex.p_key.as_ref());
    let own =
        || v1::read_request::Query::Statement(v1::StatementQuery { id: String::new(), year: 0, ..Default::default() });
    // 300 a page: pages 2 and 4 cross the blocks' edges (the 512th and 1,024th entries).
    let mut shown = Vec::new();
    for page in 1..=4 {
        let (status, body) =
            post(&server, &format!("/api/view/entity?page={page}&per_page=300"), &read(&p_key, own()), "en");
        assert_eq!(status, 200, "{body}");
        let html = body["html"].as_str().expect("html");
        assert!(html.contains(&format!("Page {page} of 4")), "page {page}:\n{html}");
        assert!(html.contains("of 1,100, newest first") || html.contains("of 1100, newest first"), "{html}");
        shown.extend(seqs_on_page(html));
    }
    assert_eq!(shown, seqs, "every record once, newest first");
    // The CLI's statement (the index's whole list) holds the same rows, oldest first.
    let cli = server.cli_ok(&["statement", "--key", &ex.p_key, "--id", &ex.p]);
    seqs.reverse();
    assert_eq!(statement_seqs(&cli), seqs);
}
