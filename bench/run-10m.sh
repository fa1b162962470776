#!/usr/bin/env bash
# The long run (not CI): 10,000,000 records into one ledger in segments of SEGMENT records,
# measuring each segment's throughput and the server's resident memory after it, the disk
# per record, then the restart time (graceful, and after kill -9 with a snapshot interval
# of entries to replay). Writes
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
# Records sent after the graceful restart and before the kill -9 (see below).
REPLAY=${REPLAY:-99000}
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

# An auditor's lookup at the end: 1,000 records of the first segment (the oldest, in the
# most merged index runs), each with its entry and inclusion proof.
"$T"/release/suanli-load --server "http://127.0.0.1:$PORT" --no-setup --records 0 --run 1 \
  --lookup-records "$SEGMENT" --proof-lookups 1000 --json-out "$work/lookups.json" | tee "$work/lookups.txt"
lookups=$(python3 -c "import json;l=json.load(open('$work/lookups.json'))['proof_lookup_us'];print(f\"{l['p50']/1000:.2f} ms / {l['p99']/1000:.2f} ms\")")

# The sequencer takes new records once it has rebuilt the record key filter from the
# index; that time is reported beside the time until the server listens.
filter_ms() { # waits for the server's log to say the filter is built; prints its ms
  for _ in $(seq 600); do grep -q "record key filter built" "$work/server.log" && break; sleep 0.1; done
  grep -o 'record key filter built.*elapsed_ms=[0-9]*' "$work/server.log" | grep -o 'elapsed_ms=[0-9]*' | cut -d= -f2
}
kill -TERM "$server"; wait "$server" 2>/dev/null || true
start_server; graceful=$(cat "$work/started"); graceful_filter=$(filter_ms)
# What the server holds once it has rebuilt its state from the store (the key filter, and
# the dashboard and statement index from the whole log), against its RSS under load: the
# difference is what load itself keeps (buffers, the allocator's free memory).
for _ in $(seq 3000); do grep -q "dashboard totals rebuilt" "$work/server.log" && break; sleep 0.1; done
rebuilt_s=$(grep -o 'dashboard totals rebuilt.*elapsed_ms=[0-9]*' "$work/server.log" | grep -o '[0-9]*$' | awk '{printf "%.1f", $1/1000}')
rebuilt_rss=$(rss_mib)
filter_mib=$(grep -o 'record key filter built.*bytes=[0-9]*' "$work/server.log" | grep -o 'bytes=[0-9]*' | cut -d= -f2 | awk '{printf "%.0f", $1/1048576}')
# The worst crash for a restart: just before the next snapshot, so that the restart replays
# a whole snapshot interval (`snapshot_interval_entries`, 100,000 by default; the graceful
# stop wrote one), looking up every replayed record in the index.
"$T"/release/suanli-load --server "http://127.0.0.1:$PORT" --providers "$PROVIDERS" $FLAGS --no-setup \
  --records "$REPLAY" --run "$((segments + 1))" >/dev/null
kill -9 "$server"; wait "$server" 2>/dev/null || true
start_server; after_kill=$(cat "$work/started"); killed_filter=$(filter_ms)
replayed=$(grep -o 'replayed=[0-9]*' "$work/server.log" | tail -1 | cut -d= -f2)
kill -TERM "$server"; wait "$server" 2>/dev/null || true

mkdir -p "$(dirname "$OUT")"
python3 bench/plot_run.py "$work/segments.csv" "$SVG" "$OUT" "$graceful" "$after_kill" \
  "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); flags: ${FLAGS:-none}; proof lookups at the end (\`Audit.FindRecord\`, 1,000 records of the first segment, one at a time) p50 / p99: $lookups; after listening, the record key filter was rebuilt in $graceful_filter ms (graceful) and $killed_filter ms (after kill -9); the kill -9 came $REPLAY records after the graceful restart, and the restart replayed $replayed entries; after the graceful restart, once the dashboard and statement index were rebuilt from the log (${rebuilt_s} s), the server held $rebuilt_rss MiB, of which the record key filter $filter_mib MiB"
cat "$OUT"
