"""Runs the console's browser scenarios against a running suanlid.

    python run.py CONFIG.json

CONFIG names the ledger (web_url, grpc_url), the `suanli` binary, the admin and finance
key files, a work directory, the Chromium to drive, and where to save screenshots (or
null). tests/tests/browser.rs writes it and runs this script. The scenarios come from the
SCENARIOS list of each module named in MODULES, in order (they share the ledger, so later
ones may use what earlier ones made). Prints one line per scenario and a closing
"N passed, N failed"; exits non-zero when any failed.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from helpers import Ctx, Ledger, launch, load_config, sync_playwright  # noqa: E402

# Modules of scenarios, in the order they run. Add yours here.
MODULES = ["scenarios_console", "scenarios_finance"]


def main() -> int:
    cfg = load_config(sys.argv[1])
    only = sys.argv[2:]  # optional scenario names
    ledger = Ledger(
        web_url=cfg["web_url"],
        grpc_url=cfg["grpc_url"],
        suanli=cfg["suanli"],
        admin_key=cfg["admin_key"],
        finance_key=cfg["finance_key"],
        work=Path(cfg["work_dir"]),
    )
    shots = Path(cfg["screenshots"]) if cfg.get("screenshots") else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    passed = failed = 0
    with sync_playwright() as p:
        browser = launch(p, cfg["chromium"])
        ctx = Ctx(ledger=ledger, browser=browser, shots=shots)
        for name in MODULES:
            module = importlib.import_module(name)
            setup = getattr(module, "setup", None)
            if setup:
                setup(ctx)
            for scenario in module.SCENARIOS:
                if only and scenario.__name__ not in only:
                    continue
                start = time.monotonic()
                try:
                    scenario(ctx)
                    passed += 1
                    print(f"ok     {scenario.__name__} ({time.monotonic() - start:.1f} s)", flush=True)
                except Exception:  # noqa: BLE001 - report every failure and go on
                    failed += 1
                    print(f"FAILED {scenario.__name__}", flush=True)
                    traceback.print_exc()
        browser.close()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
