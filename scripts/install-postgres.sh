#!/usr/bin/env bash
# Installs Debian's PostgreSQL server programs (initdb, pg_ctl, postgres) where they are
# missing. The tests start their own throwaway cluster with them; no service is enabled.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ -n "${SUANLI_PG_BIN:-}" ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q || true
$SUDO apt-get install -y -q --no-install-recommends postgresql
# Debian's package starts a cluster of its own; the tests do not use it.
if command -v pg_lsclusters >/dev/null; then
  pg_lsclusters -h 2>/dev/null | while read -r ver name _; do $SUDO pg_ctlcluster "$ver" "$name" stop || true; done
fi
ls /usr/lib/postgresql/*/bin/initdb
