#!/usr/bin/env bash
# Where each record's CPU goes, at full speed and at half speed (not CI). One fresh server,
# RECORDS records as fast as it acknowledges them, then HALF_RECORDS at half that rate.
# For each load it prints the server's CPU per record by thread group (from
# /proc/<pid>/task/*/stat, read when the load starts sending and when it has its last ack),
# the load generator's own CPU, and the client-side ack percentiles.
#
#   bench/cpu-split.sh                          # single-signed, 1,000,000 then 250,000
#   FLAGS=--batch-signed bench/cpu-split.sh
#
# What it showed on 2026-12-07 (single-signed, 2 cores): about 24 µs of server CPU a
# record at full speed and 39 µs at half speed, where each stream's chunks are small; the
# per-commit threads (sled's IO threads, the committer, the index mergers) and the gRPC
# threads cost two to four times as much per record at half speed.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${CARGO_TARGET_DIR:-target}/profiling
RECORDS=${RECORDS:-1000000}
HALF_RECORDS=${HALF_RECORDS:-250000}
FLAGS=${FLAGS:-}
cargo build --profile profiling -q -p suanli-server --bin suanlid -p suanli-bench --bin suanli-load
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
. bench/common.sh
start_server
threads() { # ticks per thread group of the server (numbered threads summed by name)
  for t in /proc/$server/task/*; do
    n=$(cat "$t/comm" 2>/dev/null) || continue
    s=$(sed 's/.*) //' "$t/stat" 2>/dev/null) || continue
    echo "$n $(awk '{print $12 + $13}' <<<"$s")"
  done | sed -E 's/^(sled-io|suanli-verify)-[0-9]+/\1/' | awk '{a[$1] += $2} END {for (k in a) print k, a[k]}' | sort
}
run() { # records rate run-number [--no-setup]
  local out="$work/out$3.txt"
  # shellcheck disable=SC2086
  "$T/suanli-load" --server "http://$grpc" --server-pid "$server" --data-dir "$work/data" --providers 8 \
    --admin-key "$work/data/admin.key" $FLAGS --records "$1" --rate "$2" --run "$3" ${4:-} >"$out" 2>&1 &
  local load=$!
  # The load signs and measures the verification rate first; count from when it sends.
  until grep -q "pure batch" "$out"; do
    kill -0 $load 2>/dev/null || { cat "$out"; exit 1; }
    sleep 0.05
  done
  local c0 c1 t0 t1
  c0=$(ticks $load)
  threads >"$work/th0"
  t0=$(date +%s.%N)
  c1=$c0
  until grep -q "records acknowledged" "$out"; do
    c1=$(ticks $load || echo "$c1")
    t1=$(date +%s.%N)
    sleep 0.05
  done
  threads >"$work/th1"
  wait $load
  grep -E "throughput|ack latency" "$out"
  echo "  wall $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s; CPU per record (µs):"
  join "$work/th0" "$work/th1" | awk -v n="$1" '{d = $3 - $2; if (d > 0) {printf "    %-16s %5.1f\n", $1, d * 10000 / n; s += d}}
    END {printf "    %-16s %5.1f\n", "server, all", s * 10000 / n}'
  printf "    %-16s %5.1f\n" "load generator" "$(awk -v d=$((c1 - c0)) -v n="$1" 'BEGIN {print d * 10000 / n}')"
}
echo "== full speed: $RECORDS records"
run "$RECORDS" 0 1
rate=$(grep throughput "$work/out1.txt" | grep -o "[0-9]*" | head -1)
echo "== half speed: $HALF_RECORDS records at $((rate / 2)) records/s"
run "$HALF_RECORDS" $((rate / 2)) 2 --no-setup
