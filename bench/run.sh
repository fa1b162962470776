#!/usr/bin/env bash
# One command for the end-to-end benchmark: builds (profile `profiling`: release with line tables), starts suanlid on a
# fresh data directory, streams RECORDS pre-signed records as fast as the ledger
# acknowledges them, then runs a second load at half that throughput to measure latency,
# and writes the results (with the machine's core count and CPU model) to
# bench/results/RESULTS.md — the table the README's performance section shows.
#
#   bench/run.sh                 # 1,000,000 records (the issue's target run)
#   RECORDS=200000 bench/run.sh  # a quicker run
set -euo pipefail
cd "$(dirname "$0")/.."
T=${CARGO_TARGET_DIR:-target}
# The release build with line tables (Cargo.toml [profile.profiling]), so that `perf` can
# be attached to a run; PROFILE=release measures the shipped binary instead.
PROFILE=${PROFILE:-profiling}
. bench/common.sh

RECORDS=${RECORDS:-1000000}
HALF_RECORDS=${HALF_RECORDS:-$((RECORDS / 4))}
PROVIDERS=${PROVIDERS:-8}
PORT=${PORT:-7499}
OUT=${OUT:-bench/results/RESULTS.md}

cargo build --profile "$PROFILE" -q -p suanli-server --bin suanlid -p suanli-bench --bin suanli-load

work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
"$T/$PROFILE"/suanlid --data-dir "$work/data" --listen "127.0.0.1:$PORT" --web-listen 127.0.0.1:0 2>"$work/server.log" &
server=$!
wait_listening "$work/server.log"

load() {
  "$T/$PROFILE"/suanli-load --server "http://127.0.0.1:$PORT" --server-pid "$server" \
    --data-dir "$work/data" --providers "$PROVIDERS" "$@"
}

full_and_half_speed "$work/data/admin.key" ""

mkdir -p "$(dirname "$OUT")"
python3 bench/results_table.py "$work/max.json" "$work/half.json" "$OUT" \
  "sled store (the embedded default). Rerun: \`bench/run.sh\`." "≥ 100,000"
