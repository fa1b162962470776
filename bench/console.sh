#!/usr/bin/env bash
# The web console's page times with a big ledger: starts suanlid on a fresh data directory,
# fills it with RECORDS records (suanli-load), times every console page and private view
# (suanli-console-bench: REQUESTS requests each, p50/p95/max), then restarts suanlid and
# measures how long the finance dashboard's totals take to be rebuilt from the store in
# the background, and times the pages again. Writes bench/results/CONSOLE.md.
#
#   bench/console.sh                          # 1,000,000 records, release build
#   RECORDS=100000 PROFILE=debug bench/console.sh
set -euo pipefail
cd "$(dirname "$0")/.."
T=${CARGO_TARGET_DIR:-target}
. bench/common.sh

RECORDS=${RECORDS:-1000000}
REQUESTS=${REQUESTS:-200}
PROFILE=${PROFILE:-release}
PORT=${PORT:-7496}
WEB_PORT=${WEB_PORT:-7495}
OUT=${OUT:-bench/results/CONSOLE.md}

if [ "$PROFILE" = release ]; then flag=--release; dir="$T/release"; else flag=; dir="$T/debug"; fi
cargo build $flag -q -p suanli-server --bin suanlid -p suanli-bench --bin suanli-load --bin suanli-console-bench

work=$(mktemp -d)
server=
trap 'kill "$server" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
start() { # $1: log name
  "$dir"/suanlid --data-dir "$work/data" --listen "127.0.0.1:$PORT" --web-listen "127.0.0.1:$WEB_PORT" 2>"$work/$1.log" &
  server=$!
  wait_listening "$work/$1.log"
}
pages() { # $1: heading
  "$dir"/suanli-console-bench --web "http://127.0.0.1:$WEB_PORT" --finance-key "$work/data/finance.key" \
    --requests "$REQUESTS" --records "$RECORDS" --markdown-out "$work/pages.md" --heading "$1"
}

start first
echo "== loading $RECORDS records"
"$dir"/suanli-load --server "http://127.0.0.1:$PORT" --admin-key "$work/data/admin.key" --records "$RECORDS" \
  --run 1 --json-out "$work/load.json" | tail -4
echo "== pages, the server running since the load"
pages "### $RECORDS records, suanlid running since the load ($PROFILE build)"

echo "== restart: the dashboard's totals are rebuilt from the store"
kill -INT "$server"; wait "$server" || true
t0=$(date +%s%N)
start second
t1=$(date +%s%N)
for _ in $(seq 6000); do grep -q "dashboard totals rebuilt" "$work/second.log" && break; sleep 0.05; done
t2=$(date +%s%N)
grep -q "dashboard totals rebuilt" "$work/second.log" || { echo "the rebuild did not finish in 5 minutes"; exit 1; }
rebuilt=$(grep "dashboard totals rebuilt" "$work/second.log" | tail -1 | sed 's/\x1b\[[0-9;]*m//g')
rebuild_ms=$(echo "$rebuilt" | sed -n 's/.*elapsed_ms=\([0-9]*\).*/\1/p')
rebuild_entries=$(echo "$rebuilt" | sed -n 's/.*entries=\([0-9]*\).*/\1/p')
listen_ms=$(( (t1 - t0) / 1000000 ))
echo "listening after $listen_ms ms; dashboard rebuilt ($rebuild_entries entries) in $rebuild_ms ms"
pages "### $RECORDS records, after a restart and the dashboard's rebuild ($PROFILE build)"

mkdir -p "$(dirname "$OUT")"
{
  echo "# Web console: page times with a big ledger"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')),"
  echo "suanlid ($PROFILE build, sled store) filled by \`suanli-load\` with $RECORDS records; client on the same machine."
  echo "Each page or view is requested $REQUESTS times in a row over one keep-alive connection; the time is from"
  echo "sending the request to having read the whole answer (server time plus a loopback round trip). Private views"
  echo "are signed reads, freshly signed for every request as the browser does. Rerun: \`bench/console.sh\`"
  echo "(\`RECORDS=… PROFILE=debug\` for a quicker run). Target: every page's p95 ≤ 200 ms."
  echo
  echo "## The dashboard's totals after a restart"
  echo
  echo "The finance dashboard reads running totals that the sequencer keeps (no log scan per view), and the"
  echo "statement and founder views read each company's index of its own entries, kept beside them. Neither is"
  echo "kept in snapshots: after a restart one background pass over the store rebuilds both while the pages say"
  echo "they are still counting. With $rebuild_entries log entries: suanlid listened after $listen_ms ms (recovery"
  echo "from its snapshot, unchanged by the dashboard), and the dashboard's totals were complete after"
  echo "**$rebuild_ms ms** of background work."
  echo
  echo "## Page times"
  echo
  cat "$work/pages.md"
} > "$OUT"
echo "wrote $OUT"
