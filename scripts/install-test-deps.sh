#!/usr/bin/env bash
# Installs what `cargo test --workspace` needs beyond Rust, where it is missing (Debian or
# Ubuntu): PostgreSQL's server programs for the shared-store tests, and python3 with its
# venv module for the Python client test (which then downloads its requirements from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-postgres.sh
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q || true
  $SUDO apt-get install -y -q --no-install-recommends python3 python3-venv
fi
python3 -m venv --help >/dev/null
