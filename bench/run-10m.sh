#!/usr/bin/env bash
# The long run (not CI): 10,000,000 records into one ledger in segments of SEGMENT records,
# measuring each segment's throughput and the server's resident memory after it, the disk
# per record, then the restart time (graceful, and after kill -9). Writes
# bench/results/RUN-10M.md (the table) and bench/results/run-10m.svg (throughput and RSS
# over the run: a cost that grows with the ledger shows as a slope).
#
#   bench/run-10m.sh                                 # 10 M records, single signatures
#   TOTAL=2000000 SEGMENT=250000 bench/run-10m.sh    # a shorter run
#   FLAGS=--batch-signed bench/run-10m.sh            # batch-signed records
set -euo pipefail
cd "$(dirname "$0")/.."
T=${CARGO_TARGET_DIR:-target}
. bench/common.sh

TOTAL=${TOTAL:-10000000}
SEGMENT=${SEGMENT:-1000000}
PROVIDERS=${PROVIDERS:-8}
PORT=${PORT:-7498}
FLAGS=${FLAGS:-}
OUT=${OUT:-bench/results/RUN-10M.md}
SVG=${SVG:-bench/results/run-10m.svg}

cargo build --release -q -p suanli-server --bin suanlid -p suanli-bench --bin suanli-load

work=$(mktemp -d)
server=
trap 'kill "$server" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
# Starts suanlid on the data directory; the seconds until it listened go to $work/started.
start_server() {
  : >"$work/server.log"
  local t0; t0=$(date +%s.%N)
  "$T"/release/suanlid --data-dir "$work/data" --listen "127.0.0.1:$PORT" --web-listen 127.0.0.1:0 2>>"$work/server.log" &
  server=$!
  wait_listening "$work/server.log"
  python3 -c "print(f'{$(date +%s.%N) - $t0:.2f}')" >"$work/started"
}
rss_mib() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$server/status"; }

start_server
echo "segment,records_total,records_per_s,p99_ms,rss_mib,disk_bytes_per_record" >"$work/segments.csv"
segments=$((TOTAL / SEGMENT))
for i in $(seq 1 "$segments"); do
  setup=(--admin-key "$work/data/admin.key"); [ "$i" -gt 1 ] && setup=(--no-setup)
  "$T"/release/suanli-load --server "http://127.0.0.1:$PORT" --server-pid "$server" --data-dir "$work/data" \
    --providers "$PROVIDERS" $FLAGS "${setup[@]}" --records "$SEGMENT" --run "$i" --json-out "$work/seg.json" >/dev/null
  python3 - "$work/seg.json" "$i" "$SEGMENT" "$(rss_mib)" >>"$work/segments.csv" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); i, seg, rss = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
print(f"{i},{i * seg},{r['records_per_s']:.0f},{r['latency_us']['p99'] / 1000:.1f},{rss},{r['disk_bytes'] / (i * seg):.0f}")
PY
  tail -n 1 "$work/segments.csv"
done

kill -TERM "$server"; wait "$server" 2>/dev/null || true
start_server; graceful=$(cat "$work/started")
kill -9 "$server"; wait "$server" 2>/dev/null || true
start_server; after_kill=$(cat "$work/started")
kill -TERM "$server"; wait "$server" 2>/dev/null || true

mkdir -p "$(dirname "$OUT")"
python3 bench/plot_run.py "$work/segments.csv" "$SVG" "$OUT" "$graceful" "$after_kill" \
  "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); flags: ${FLAGS:-none}"
cat "$OUT"
