#!/usr/bin/env bash
# One command for the end-to-end benchmark: builds (profile `profiling`: release with line tables), and for each way of
# signing (one signature per record, then batches of 64 under `suanli/v1/usage-batch\n`)
# starts suanlid on a fresh data directory, streams RECORDS pre-signed records as fast as
# the ledger acknowledges them, then a second load at half that throughput to measure
# latency, and writes the results (with the machine's core count, CPU model and load
# average) to bench/results/RESULTS.md — the tables the README's performance section shows.
#
#   bench/run.sh                 # 1,000,000 records per way of signing (the issue's run)
#   RECORDS=200000 bench/run.sh  # a quicker run
#   MODES=single bench/run.sh    # only one of the two (single, batch)
#   STAGES=1 bench/run.sh        # also the criterion stage benchmarks, as a table
#   REPEAT=3 bench/run.sh        # each way of signing 3 times on fresh servers; the table
#                                # shows the run of median throughput and lists all of them
#
# On a shared virtual machine the CPU time a run gets varies from minute to minute (the
# same binary has given 46,000 to 80,000 records/s within a quarter of an hour here, with
# the same-run verification rate moving from 147,000 to 187,000/s): one run is one sample.
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
MODES=${MODES:-single batch}
REPEAT=${REPEAT:-1}

cargo build --profile "$PROFILE" -q -p suanli-server --bin suanlid -p suanli-bench --bin suanli-load

work=$(mktemp -d)
server=
trap 'kill "$server" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

load() {
  "$T/$PROFILE"/suanli-load --server "http://127.0.0.1:$PORT" --server-pid "$server" \
    --data-dir "$work/data" --providers "$PROVIDERS" $flags "$@"
}

mkdir -p "$(dirname "$OUT")"
: >"$work/tables.md"
for mode in $MODES; do
  case $mode in
    single) flags=; what="one signature per record (\`SubmitUsage\`)";;
    batch) flags=--batch-signed; what="batches of 64 records, one signature each (\`SubmitUsageBatchSigned\`)";;
    *) echo "unknown mode $mode"; exit 2;;
  esac
  rates=()
  for r in $(seq "$REPEAT"); do
    rm -rf "$work/data"
    "$T/$PROFILE"/suanlid --data-dir "$work/data" --listen "127.0.0.1:$PORT" --web-listen 127.0.0.1:0 2>"$work/server.log" &
    server=$!
    wait_listening "$work/server.log"
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    full_and_half_speed "$work/data/admin.key" " ($mode-signed)"
    load_after=$(cut -d' ' -f1-3 /proc/loadavg)
    kill "$server"; wait "$server" 2>/dev/null || true
    for f in max half; do cp "$work/$f.json" "$work/$f-$r.json"; done
    echo "$load_before / $load_after" >"$work/load-$r"
    rates+=("$(python3 -c "import json;print(int(json.load(open('$work/max.json'))['records_per_s']))")")
  done
  # The run of median throughput (the lower middle one for an even count).
  median=$(for r in $(seq "$REPEAT"); do echo "${rates[$((r - 1))]} $r"; done | sort -n | sed -n "$(((REPEAT + 1) / 2))p" | cut -d' ' -f2)
  echo "**$mode-signed**: $what." >>"$work/tables.md"
  echo >>"$work/tables.md"
  runs=""
  [ "$REPEAT" -gt 1 ] && runs=" Run $median of $REPEAT, the median; full-speed throughput of each run in order: $(IFS=/; echo "${rates[*]}" | sed 's|/| / |g') records/s."
  python3 bench/results_table.py "$work/max-$median.json" "$work/half-$median.json" "$work/table.md" \
    "sled store (the embedded default); load average before/after: $(cat "$work/load-$median").$runs Rerun: \`bench/run.sh\`." \
    "$([ "$mode" = batch ] && echo "≥ 300,000" || echo "≥ 100,000")"
  cat "$work/table.md" >>"$work/tables.md"
  echo >>"$work/tables.md"
done
if [ "${STAGES:-0}" = 1 ]; then
  cargo bench -q -p suanli-bench --bench stages -- --noplot
  python3 bench/stages_table.py "$T/criterion" >>"$work/tables.md"
fi
cp "$work/tables.md" "$OUT"
cat "$OUT"
