#!/usr/bin/env bash
# Installs what the browser tests (tests/tests/browser.rs) need from Debian: Chromium and
# CJK fonts (so Chinese pages render in screenshots). Playwright itself comes from PyPI
# into a private virtualenv that the test makes; Playwright's own browser downloads are not
# used (nor reachable): the tests drive /usr/bin/chromium. Idempotent; no service is enabled.
set -euo pipefail
if [ -x /usr/bin/chromium ] && fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q || true
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-noto-cjk
/usr/bin/chromium --version
