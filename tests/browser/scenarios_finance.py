"""Browser scenarios of the finance bureau's page (/finance): the program dashboard drawn as
charts, closing a period and recording a payout in the browser (then `suanli settle list`
shows them), and the annual report downloaded in the browser being byte for byte the CLI's
and verifying with `suanli report verify`. Each runs in a real Chromium against the real
suanlid that run.py was given; they run after scenarios_console (same ledger).
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from pathlib import Path

from helpers import DESKTOP, PHONE, Ctx, expect_notice, load_key, rfc3339, uscc

# Providers and renters of this module (scenarios_console uses 101, 102, 201, 301, 401).
P1, P2, R1, R2, R3 = uscc(501), uscc(502), uscc(511), uscc(512), uscc(513)
NOW = dt.datetime.now(dt.timezone.utc)
YEAR = NOW.astimezone(dt.timezone(dt.timedelta(hours=8))).year


def usage(record_id: str, provider: str, renter: str, model: str, hours: int, price: str, days_ago: int) -> dict:
    """A record ending `days_ago` days ago (at least two hours ago), whose amount is exact."""
    end = min(NOW - dt.timedelta(days=days_ago), NOW - dt.timedelta(hours=2))
    # Records of another year would land in another cap year: keep them in this one.
    start_of_year = dt.datetime(YEAR, 1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    end = max(end, start_of_year + dt.timedelta(hours=1))
    cents = hours * round(float(price) * 100)
    return {
        "record_id": record_id, "provider_id": provider, "renter_id": renter, "contract_id": "HT-FIN-1",
        "gpu_model": model, "gpu_count": 1000, "start": rfc3339(end - dt.timedelta(hours=hours // 1000 + 1)),
        "end": rfc3339(end), "gpu_hours": hours, "unit_price": price, "amount": f"{cents // 100}.{cents % 100:02d}",
    }


def setup(ctx: Ctx) -> None:
    """Two compute centers and three renters with records over several months and GPU models."""
    led = ctx.ledger
    led.register("fp1", P1, "苏州工业园区智算中心", "--provider", "--supplier-eligible")
    led.register("fp2", P2, "昆山国产算力平台", "--provider", "--supplier-eligible")
    led.register("fr1", R1, "苏州大模型科技有限公司", "--renter-eligible")
    led.register("fr2", R2, "吴江具身智能研究院", "--renter-eligible")
    led.register("fr3", R3, "张家港数据标注工作室", "--renter-eligible")
    rows1, rows2 = [], []
    for i, (renter, model, hours, days) in enumerate([
        (R1, "H100", 20000, 150), (R1, "H100", 30000, 95), (R2, "A800", 12000, 70), (R1, "H20", 8000, 40),
        (R3, "A800", 3000, 20), (R2, "H100", 16000, 8), (R1, "H100", 25000, 1),
    ]):
        rows1.append(usage(f"fin-a-{i}", P1, renter, model, hours, "12.50", days))
    for i, (renter, hours, days) in enumerate([(R2, 15000, 120), (R3, 6000, 60), (R1, 22000, 30), (R2, 9000, 3)]):
        rows2.append(usage(f"fin-b-{i}", P2, renter, "Ascend-910B", hours, "9.80", days))
    for key, rows in [("fp1", rows1), ("fp2", rows2)]:
        out = led.submit_usage(led.keys[key], rows)
        assert out.count(",ACCEPTED,") == len(rows), out


def _finance_page(ctx: Ctx, lang: str, size: dict):
    page = ctx.page("/finance", lang, size)
    load_key(page, ctx.ledger.finance_key)
    page.wait_for_selector("#dashboard-view figure#chart-top-suppliers svg")
    page.wait_for_selector("#periods-view h3")
    return page


def finance_dashboard_charts(ctx: Ctx) -> None:
    """The dashboard shows its seven charts with CJK labels and the exact figures; nobody
    but the finance bureau (or the admin) can read it."""
    page = _finance_page(ctx, "zh", DESKTOP)
    view = page.inner_text("#dashboard-view")
    for text in ["已承诺补贴", "每月补贴", "已达上限", "算力券", "GPU 时", "苏州大模型科技有限公司", "昆山国产算力平台"]:
        assert text in view or text in page.inner_html("#dashboard-view"), f"the dashboard lacks {text!r}"
    assert page.locator("#dashboard-view figure svg[role=img]").count() == 7
    fonts = page.get_attribute("#chart-months svg text", "font-family")
    assert fonts and "Noto Sans CJK SC" in fonts, fonts
    assert not page.csp_errors, page.csp_errors  # type: ignore[attr-defined]
    ctx.shot(page, "finance-zh-desktop")
    page.context.close()
    for lang, size, tag in [("en", DESKTOP, "desktop"), ("zh", PHONE, "phone"), ("en", PHONE, "phone")]:
        p = _finance_page(ctx, lang, size)
        ctx.shot(p, f"finance-{lang}-{tag}")
        p.context.close()
    # A company's own key is refused, with a sentence saying so.
    page = ctx.page("/finance", "zh")
    load_key(page, ctx.ledger.keys["fr1"])
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#dashboard-view") == ""
    page.context.close()


def finance_closes_a_period_and_records_a_payout(ctx: Ctx) -> None:
    """The clerk closes a period and records a payout in the browser; the confirm dialog
    shows what the bytes say; `suanli settle list` then shows both."""
    led = ctx.ledger
    page = _finance_page(ctx, "zh", DESKTOP)
    period = f"{YEAR}-FIN-Q1"
    page.fill("#close-name", period)
    page.click("#close-form button[type=submit]")
    page.wait_for_selector("#confirm[open]")
    summary = page.inner_text("#confirm-summary")
    assert "关闭结算期" in summary and period in summary, summary
    ctx.shot(page, "finance-confirm-close-zh-desktop", full_page=False)
    page.click("#confirm-sign")
    expect_notice(page, "已记入账本")
    # The new period's supplier line of P1: its button fills the payout form.
    button = f"#periods-view button[data-period='{period}'][data-payee='{P1}'][data-kind='supplier']"
    page.wait_for_selector(button)
    amount = page.get_attribute(button, "data-amount")
    page.click(button)
    assert page.input_value("#pay-amount") == amount
    page.fill("#pay-bank-ref", "ICBC-SZ-20260001")
    page.click("#pay-form button[type=submit]")
    page.wait_for_selector("#confirm[open]")
    summary = page.inner_text("#confirm-summary")
    assert P1 in summary and "ICBC-SZ-20260001" in summary and "供给方补贴" in summary, summary
    ctx.shot(page, "finance-confirm-payout-zh-desktop", full_page=False)
    page.click("#confirm-sign")
    expect_notice(page, "已记入账本")
    listed = led.cli("settle", "list", "--key", led.finance_key)
    line = next((l for l in listed.splitlines() if period in l and P1 in l and "supplier" in l), "")
    assert line and amount in line, listed
    assert line.count(amount) >= 2, f"the line is paid in full: {line}"
    ctx.shot(page, "finance-periods-zh-desktop")
    page.context.close()


def finance_report_matches_the_cli(ctx: Ctx) -> None:
    """The annual report downloaded in the browser is the CLI's file byte for byte, its
    .sig too, and `suanli report verify` accepts it."""
    led = ctx.ledger
    info = json.load(urllib.request.urlopen(f"{led.web_url.rstrip('/')}/api/info"))
    ledger_key = info["ledger_public_key"]
    assert ledger_key, info
    for fmt_value, ext in [("0", "csv"), ("2", "xlsx")]:
        page = _finance_page(ctx, "zh", DESKTOP)
        page.select_option("#report-year", str(YEAR))
        page.select_option("#report-format", fmt_value)
        downloads = []
        page.on("download", lambda d: downloads.append(d))
        page.click("#report-form button[type=submit]")
        page.wait_for_selector("#notice:not([hidden])")
        page.wait_for_function("() => true")
        for _ in range(50):
            if len(downloads) >= 2:
                break
            page.wait_for_timeout(100)
        assert len(downloads) == 2, downloads
        got = {d.suggested_filename: Path(d.path()).read_bytes() for d in downloads}
        name = f"annual-{YEAR}.{ext}"
        assert set(got) == {name, name + ".sig"}, got.keys()
        out = led.work / f"cli-{name}"
        led.cli("report", "annual", "--key", led.finance_key, "--year", str(YEAR), "--format", ext, "--out", str(out))
        assert got[name] == out.read_bytes(), f"the browser's {name} differs from the CLI's"
        assert got[name + ".sig"] == Path(str(out) + ".sig").read_bytes(), "the .sig differs"
        browser_file = led.work / f"browser-{name}"
        browser_file.write_bytes(got[name])
        Path(str(browser_file) + ".sig").write_bytes(got[name + ".sig"])
        verified = led.cli("report", "verify", "--file", str(browser_file), "--ledger-pubkey", ledger_key)
        assert verified.startswith("OK"), verified
        page.context.close()


SCENARIOS = [finance_dashboard_charts, finance_closes_a_period_and_records_a_payout, finance_report_matches_the_cli]
