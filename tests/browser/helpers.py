"""What every browser scenario shares: the ledger under test (driven with the real `suanli`
CLI), Chromium launched from Debian's package, and helpers for the console's pages.

A scenario is a function `def scenario_name(ctx: Ctx) -> None` listed in a module's
SCENARIOS; it raises (an assert) to fail. run.py runs them all against one fresh suanlid.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def uscc(n: int) -> str:
    """A valid unified social credit code (SPEC §2), distinct for each n."""
    body = f"9135010{n:010d}"
    total = sum(ALPHABET.index(c) * w for c, w in zip(body, WEIGHTS))
    check = (31 - total % 31) % 31
    return body + ALPHABET[check]


def rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone(dt.timedelta(hours=8))).replace(microsecond=0).isoformat()


@dataclass
class Ledger:
    """The ledger under test and its keys; `cli` runs the real `suanli`."""

    web_url: str
    grpc_url: str
    suanli: str
    admin_key: str
    finance_key: str
    work: Path
    keys: dict[str, str] = field(default_factory=dict)

    def cli(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(
            [self.suanli, "--server", self.grpc_url, *args], capture_output=True, text=True, timeout=120
        )
        if check and out.returncode != 0:
            raise AssertionError(f"suanli {' '.join(args)} failed: {out.stderr}\n{out.stdout}")
        return out.stdout

    def keygen(self, name: str) -> str:
        path = str(self.work / f"{name}.key")
        if not os.path.exists(path):
            self.cli("keygen", "--out", path)
        self.keys[name] = path
        return path

    def register(self, name: str, id_: str, display: str, *flags: str) -> str:
        """Registers an entity with a fresh key of its own; returns the key file's path."""
        self.cli("entity", "register", "--key", self.admin_key, "--id", id_, "--name", display, *flags)
        key = self.keygen(name)
        pub = self.cli("pubkey", key).strip()
        self.cli("entity", "add-key", "--key", self.admin_key, "--id", id_, "--pubkey", pub)
        return key

    def submit_usage(self, provider_key: str, rows: list[dict]) -> str:
        cols = "record_id,provider_id,renter_id,contract_id,gpu_model,gpu_count,start,end,gpu_hours,unit_price,amount,voucher_id,invoice_no"
        lines = [cols] + [",".join(str(r.get(c, "")) for c in cols.split(",")) for r in rows]
        path = self.work / f"usage-{len(os.listdir(self.work))}.csv"
        path.write_text("\n".join(lines) + "\n")
        return self.cli("usage", "submit", "--key", provider_key, "--csv", str(path))


@dataclass
class Ctx:
    ledger: Ledger
    browser: Browser
    shots: Path | None
    facts: dict = field(default_factory=dict)

    def page(self, path: str = "/", lang: str = "zh", size: dict = DESKTOP) -> Page:
        """A new page (its own context: no cookies, no key) at `path` in `lang`."""
        context = self.browser.new_context(viewport=size, locale="zh-CN" if lang == "zh" else "en-US",
                                           accept_downloads=True)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "Content Security Policy" in m.text else None)
        page.csp_errors = errors  # type: ignore[attr-defined]
        sep = "&" if "?" in path else "?"
        page.goto(f"{self.ledger.web_url.rstrip('/')}{path}{sep}lang={lang}")
        return page

    def shot(self, page: Page, name: str, full_page: bool = True) -> None:
        """Saves a screenshot as NAME.png when screenshots are asked for. Also checks that
        nothing is wider than the window (a phone must not scroll sideways)."""
        width = page.viewport_size["width"] if page.viewport_size else 0
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"{name}: the page is {scroll} px wide in a {width} px window"
        if self.shots is not None:
            page.screenshot(path=str(self.shots / f"{name}.png"), full_page=full_page)


def load_key(page: Page, key_path: str) -> None:
    """Chooses a key file in the page's key loader."""
    page.set_input_files("#keyfile", key_path)


def expect_error(page: Page, text: str) -> None:
    page.wait_for_selector("#error:not([hidden])")
    got = page.inner_text("#error")
    assert text in got, f"expected an error saying {text!r}, the page says {got!r}"


def expect_notice(page: Page, text: str) -> None:
    page.wait_for_selector("#notice:not([hidden])")
    got = page.inner_text("#notice")
    assert text in got, f"expected a notice saying {text!r}, the page says {got!r}"


def launch(playwright, chromium: str) -> Browser:
    """Debian's Chromium with the flags above. Playwright gives it a fresh, temporary
    user-data-dir of its own (and refuses one passed as a flag)."""
    return playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS, headless=True)


def load_config(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


__all__ = ["Ctx", "Ledger", "uscc", "rfc3339", "load_key", "expect_error", "expect_notice", "launch",
           "load_config", "DESKTOP", "PHONE", "sync_playwright"]
