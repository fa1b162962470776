"""Browser scenarios of the console's foundation pages: voucher holder, company statement,
auditor; what-you-see-is-what-you-sign; escaping; bad input. Each runs in a real Chromium
against the real suanlid that run.py was given.
"""

from __future__ import annotations

import datetime as dt
import json

from helpers import DESKTOP, PHONE, Ctx, expect_error, expect_notice, load_key, rfc3339, uscc

P, Q, O, X, R = uscc(101), uscc(102), uscc(201), uscc(301), uscc(401)
XSS = "<script>alert(1)</script>"
NOW = dt.datetime.now(dt.timezone.utc)
YEAR = NOW.astimezone(dt.timezone(dt.timedelta(hours=8))).year


def usage(record_id: str, renter: str, gpu_hours: int, amount: str, voucher: str = "", provider: str = P) -> dict:
    end = NOW - dt.timedelta(hours=2)
    return {
        "record_id": record_id, "provider_id": provider, "renter_id": renter, "contract_id": "HT-2026-001",
        "gpu_model": "H100", "gpu_count": 1000, "start": rfc3339(end - dt.timedelta(days=30)), "end": rfc3339(end),
        "gpu_hours": gpu_hours, "unit_price": "12.50", "amount": amount, "voucher_id": voucher,
    }


def setup(ctx: Ctx) -> None:
    """Entities, keys, vouchers and a few records, through the real CLI."""
    led = ctx.ledger
    admin = led.admin_key
    led.register("p", P, "苏州智算中心有限公司", "--provider", "--supplier-eligible")
    led.register("q", Q, "另一家算力有限公司", "--provider", "--supplier-eligible")
    led.register("o", O, "小明人工智能工作室", "--opc", "--renter-eligible")
    led.register("x", X, XSS, "--opc", "--renter-eligible")
    led.register("r", R, "苏州星河研发有限公司", "--renter-eligible")
    start, until = rfc3339(NOW - dt.timedelta(days=30)), rfc3339(NOW + dt.timedelta(days=300))
    for vid, holder, amount in [("V-O-001", O, "200000.00"), ("V-X-001", X, "50000.00")]:
        led.cli("voucher", "issue", "--key", admin, "--id", vid, "--holder", holder, "--kind", "compute",
                "--amount", amount, "--valid-from", start, "--valid-until", until)
    # A renter close to its cap: 1,800,000.00 granted, then a record capped at the rest.
    out = led.submit_usage(led.keys["p"], [
        usage("r-0001", R, 480000, "6000000.00"),
        usage("r-0002", R, 80000, "1000000.00"),
        usage("r-0003", R, 8, "100.00"),
    ])
    assert "r-0002,ACCEPTED" in out and "CAPPED" in out, out
    period = f"{YEAR}-P1"
    led.cli("settle", "close", "--key", led.finance_key, "--period", period)
    led.cli("settle", "pay", "--key", led.finance_key, "--period", period, "--payee", R, "--kind", "renter",
            "--year", str(YEAR), "--amount", "1000000.00", "--bank-ref", "BANK-2026-0001")
    ctx.facts["period"] = period


def public_pages(ctx: Ctx) -> None:
    """Home and auditor pages in both languages, desktop and phone; no CSP violations."""
    for lang in ["zh", "en"]:
        for size, tag in [(DESKTOP, "desktop"), (PHONE, "phone")]:
            page = ctx.page("/", lang, size)
            title = page.inner_text("h1")
            assert ("欢迎" in title) if lang == "zh" else ("Welcome" in title), title
            ctx.shot(page, f"home-{lang}-{tag}")
            assert page.csp_errors == [], page.csp_errors  # type: ignore[attr-defined]
            page.context.close()
    # The language switch is a link, and the choice is kept in a cookie.
    page = ctx.page("/", "zh")
    page.click("a.lang")
    page.wait_for_url("**lang=en")
    assert "Welcome" in page.inner_text("h1")
    page.goto(ctx.ledger.web_url.rstrip("/") + "/founder")
    assert page.inner_text("h1") == "My vouchers"
    page.context.close()


def founder_authorizes_then_a_record_draws(ctx: Ctx) -> None:
    """A founder authorizes a provider in the browser; the provider's next record draws the
    voucher; the founder's page shows the new balance and the draw with its proof link."""
    led = ctx.ledger
    page = ctx.page("/founder", "zh")
    load_key(page, led.keys["o"])
    page.wait_for_selector("article.voucher[data-voucher='V-O-001']")
    assert page.inner_text("#holder-name") == "小明人工智能工作室"
    balance = "[data-voucher-balance='V-O-001']"
    assert page.inner_text(balance) == "¥200,000.00"
    page.fill("#v1-provider", P)
    page.fill("#v1-limit", "50000.00")
    page.click("form.authorize button[type=submit]")
    page.wait_for_selector("#confirm[open]")
    summary = page.inner_text("#confirm-summary")
    assert P in summary and "¥50,000.00" in summary and "V-O-001" in summary, summary
    ctx.shot(page, "founder-confirm-zh-desktop", full_page=False)
    page.click("#confirm-sign")
    expect_notice(page, "已记入账本")
    page.wait_for_selector(f"tr[data-provider='{P}']")
    # The provider's next record names the voucher and draws it.
    out = led.submit_usage(led.keys["p"], [usage("o-0001", O, 8, "100.00", voucher="V-O-001")])
    assert "o-0001,ACCEPTED" in out and ",100.00,0.00,10.00,VOUCHER|COVERED_BY_VOUCHER|GRANTED" in out, out
    page.click("#refresh")
    page.wait_for_selector("tr[data-record='o-0001']")
    assert page.inner_text(balance) == "¥199,900.00", page.inner_text(balance)
    link = page.get_attribute("tr[data-record='o-0001'] a", "href")
    assert link and "record=o-0001" in link, link
    ctx.facts["proof_link"] = link
    ctx.shot(page, "founder-zh-desktop")
    # Change the limit, then withdraw: both signed here, both recorded.
    page.fill("#v1-a1-limit", "80000.00")
    page.click(f"form.change-limit[data-provider='{P}'] button")
    page.wait_for_selector("#confirm[open]")
    assert "¥80,000.00" in page.inner_text("#confirm-summary")
    page.click("#confirm-sign")
    expect_notice(page, "已记入账本")
    statement = led.cli("voucher", "statement", "--key", led.keys["o"], "--voucher", "V-O-001")
    assert "80000.00" in statement, statement
    for lang in ["en"]:
        p2 = ctx.page("/founder", lang)
        load_key(p2, led.keys["o"])
        p2.wait_for_selector("tr[data-record='o-0001']")
        ctx.shot(p2, f"founder-{lang}-desktop")
        p2.context.close()
    for lang in ["zh", "en"]:
        p3 = ctx.page("/founder", lang, PHONE)
        load_key(p3, led.keys["o"])
        p3.wait_for_selector("tr[data-record='o-0001']")
        ctx.shot(p3, f"founder-{lang}-phone")
        p3.context.close()
    page.context.close()


def entity_statement(ctx: Ctx) -> None:
    """A renter's statement: lines with their reasons in Chinese, the cap gauge, paid and
    outstanding by period; the CSV downloaded in the browser is the CLI's, byte for byte."""
    led = ctx.ledger
    page = ctx.page("/entity", "zh")
    load_key(page, led.keys["r"])
    page.wait_for_selector("table.records tr[data-record='r-0002']")
    text = page.inner_text("#view")
    assert "苏州星河研发有限公司" in text
    assert "¥1,800,000.00" in text and "¥200,000.00" in text  # GRANTED, then CAPPED at the rest
    assert ctx.facts["period"] in text and "¥1,000,000.00" in text, text  # the payout
    meter = page.get_attribute("#cap-1", "value")
    assert meter == "2000000.00" or meter == "2000000", meter
    row3 = page.inner_text("tr[data-record='r-0003']")
    assert "上限" in row3, row3  # CAP_EXHAUSTED explained in Chinese
    ctx.shot(page, "entity-zh-desktop")
    with page.expect_download() as d:
        page.click("#download-csv")
    got = open(d.value.path(), "rb").read()
    year = page.input_value("#year")
    want = led.cli("statement", "--key", led.keys["r"], "--id", R, *(["--year", year] if year != "0" else []))
    assert got == want.encode(), "the downloaded statement differs from `suanli statement`"
    page.context.close()
    for lang, size, tag in [("en", DESKTOP, "desktop"), ("zh", PHONE, "phone"), ("en", PHONE, "phone")]:
        p2 = ctx.page("/entity", lang, size)
        load_key(p2, led.keys["r"])
        p2.wait_for_selector("table.records tr[data-record='r-0002']")
        ctx.shot(p2, f"entity-{lang}-{tag}")
        p2.context.close()


def auditor_checks_in_the_browser(ctx: Ctx) -> None:
    """The auditor page checks a checkpoint, a record's inclusion proof and a report in the
    browser; a tampered proof and a tampered report show as invalid."""
    led = ctx.ledger
    page = ctx.page(ctx.facts.get("proof_link", f"/auditor?provider={P}&record=o-0001"), "zh")
    page.wait_for_selector("#lookup-result[data-verdict]")
    assert page.get_attribute("#lookup-result", "data-verdict") == "valid", page.inner_text("#lookup-result")
    assert "o-0001" in page.inner_text("#lookup-result")
    page.click("#cp-fetch")
    page.wait_for_selector("#cp-result[data-verdict]")
    assert page.get_attribute("#cp-result", "data-verdict") == "valid"
    # The annual report from the CLI, checked in the browser; then a changed copy.
    report = led.work / "annual.csv"
    led.cli("report", "annual", "--key", led.finance_key, "--year", str(YEAR), "--format", "csv", "--out", str(report))
    page.set_input_files("#report-file", str(report))
    page.set_input_files("#report-sig", str(report) + ".sig")
    page.click("#report button[type=submit]")
    page.wait_for_selector("#report-result[data-verdict]")
    assert page.get_attribute("#report-result", "data-verdict") == "valid", page.inner_text("#report-result")
    ctx.shot(page, "auditor-zh-desktop")
    tampered = led.work / "annual-tampered.csv"
    changed = report.read_bytes().replace(b"2000000.00", b"2000001.00", 1)  # R's renter subsidy
    assert changed != report.read_bytes()
    tampered.write_bytes(changed)
    page.set_input_files("#report-file", str(tampered))
    page.click("#report button[type=submit]")
    page.wait_for_selector("#report-result[data-verdict='invalid']")
    assert "SHA-256" in page.inner_text("#report-result")
    page.context.close()

    # A server that answers with a changed proof: the browser says invalid.
    page = ctx.page("/auditor", "zh")

    def tamper(route):
        resp = route.fetch()
        body = resp.json()
        h = bytearray(__import__("base64").b64decode(body["proof"]["hashes"][0]))
        h[0] ^= 1
        body["proof"]["hashes"][0] = __import__("base64").b64encode(bytes(h)).decode()
        route.fulfill(response=resp, body=json.dumps(body), headers={**resp.headers, "content-type": "application/json"})

    page.route("**/api/audit/record*", tamper)
    page.fill("#lookup-provider", P)
    page.fill("#lookup-record", "r-0001")
    page.click("#lookup button[type=submit]")
    page.wait_for_selector("#lookup-result[data-verdict]")
    assert page.get_attribute("#lookup-result", "data-verdict") == "invalid"
    assert "无效" in page.inner_text("#lookup-result")
    ctx.shot(page, "auditor-tampered-zh-desktop")
    page.context.close()
    for lang, size, tag in [("en", DESKTOP, "desktop"), ("zh", PHONE, "phone"), ("en", PHONE, "phone")]:
        p2 = ctx.page(f"/auditor?provider={P}&record=o-0001", lang, size)
        p2.wait_for_selector("#lookup-result[data-verdict='valid']")
        ctx.shot(p2, f"auditor-{lang}-{tag}")
        p2.context.close()


def what_you_see_is_what_you_sign(ctx: Ctx) -> None:
    """A page whose script builds other bytes than the form says (here: a different provider
    and limit) still shows what the bytes say, because the summary is decoded from them."""
    led = ctx.ledger
    page = ctx.page("/founder", "zh")

    def swap(route):
        body = route.fetch().text()
        honest = "holderAuthorize(requestId(), holderId(), voucher, provider, limit)"
        assert honest in body, "founder.js changed: update this test's substitution"
        evil = f"holderAuthorize(requestId(), holderId(), voucher, '{Q}', '199999.00')"
        route.fulfill(body=body.replace(honest, evil), headers={"content-type": "text/javascript; charset=utf-8"})

    page.route("**/static/founder.js*", swap)
    page.reload()
    load_key(page, led.keys["o"])
    page.wait_for_selector("article.voucher[data-voucher='V-O-001']")
    page.fill("#v1-provider", P)
    page.fill("#v1-limit", "10.00")
    page.click("form.authorize button[type=submit]")
    page.wait_for_selector("#confirm[open]")
    summary = page.inner_text("#confirm-summary")
    assert Q in summary and "¥199,999.00" in summary, summary
    assert P not in summary and "¥10.00" not in summary, summary
    ctx.shot(page, "wysiwys-zh-desktop", full_page=False)
    page.click("#confirm-cancel")
    expect_notice(page, "没有签名")
    statement = led.cli("voucher", "statement", "--key", led.keys["o"], "--voucher", "V-O-001")
    assert Q not in statement, statement
    page.context.close()


def entity_names_are_text(ctx: Ctx) -> None:
    """An entity named <script>alert(1)</script> is shown as that text, never run."""
    page = ctx.page("/founder", "zh")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    load_key(page, ctx.ledger.keys["x"])
    page.wait_for_selector("article.voucher[data-voucher='V-X-001']")
    assert page.inner_text("#holder-name") == XSS
    assert page.locator("#view script").count() == 0
    assert dialogs == []
    assert page.csp_errors == [], page.csp_errors  # type: ignore[attr-defined]
    page.context.close()
    page = ctx.page("/entity", "en")
    load_key(page, ctx.ledger.keys["x"])
    page.wait_for_selector("#entity-name")
    assert page.inner_text("#entity-name") == XSS
    assert page.locator("#view script").count() == 0
    page.context.close()


def bad_input_is_explained(ctx: Ctx) -> None:
    """A wrong file, a key of another role, an expired signed read, an unreachable server:
    each gets a clear Chinese message and changes nothing."""
    led = ctx.ledger
    page = ctx.page("/founder", "zh")
    wrong = led.work / "not-a-key.txt"
    wrong.write_text("hello\n")
    load_key(page, str(wrong))
    expect_error(page, "这不是 suanli 的密钥文件")
    ctx.shot(page, "bad-key-zh-desktop", full_page=False)
    # A public key file instead of the secret one.
    pub = led.work / "o.pub"
    pub.write_text(led.cli("pubkey", led.keys["o"]))
    load_key(page, str(pub))
    expect_error(page, "这不是 suanli 的密钥文件")
    # The finance bureau's key on the holder's page.
    load_key(page, led.finance_key)
    expect_error(page, "财政局")
    # A key the ledger does not know.
    load_key(page, led.keygen("stranger"))
    expect_error(page, "没有在账本登记")
    page.context.close()
    # A clock an hour behind: the signed read is refused as expired.
    page = ctx.page("/founder", "zh")
    page.add_init_script("(() => { const real = Date.now; Date.now = () => real() - 3600 * 1000; })()")
    page.reload()
    load_key(page, led.keys["o"])
    expect_error(page, "已过期")
    page.context.close()
    # The server unreachable.
    page = ctx.page("/founder", "zh")
    page.route("**/api/**", lambda route: route.abort("connectionrefused"))
    load_key(page, led.keys["o"])
    expect_error(page, "无法连接账本服务器")
    page.context.close()
    statement = led.cli("voucher", "statement", "--key", led.keys["o"], "--voucher", "V-O-001")
    assert Q not in statement


SCENARIOS = [
    public_pages,
    founder_authorizes_then_a_record_draws,
    entity_statement,
    auditor_checks_in_the_browser,
    what_you_see_is_what_you_sign,
    entity_names_are_text,
    bad_input_is_explained,
]
