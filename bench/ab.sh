#!/usr/bin/env bash
# Interleaved A/B runs (not CI): fresh servers of several builds, alternating, each given
# RECORDS records at full speed; prints throughput, ack p50/p99, the same-run verification
# rate and the server's CPU per record (utime + stime from /proc over the load). On this
# shared machine one run moves by ±10 %; the CPU per record moves far less, so compare that.
#
#   bench/ab.sh save before                 # copy the current profiling build to $AB_DIR/before
#   ...change, then: bench/ab.sh save after
#   ROUNDS=4 FLAGS=--batch-signed bench/ab.sh run before after
#
# Builds live in AB_DIR (default /tmp/suanli-ab/<name>: suanlid and suanli-load).
#
# On a large ledger instead of a fresh one (what a restart costs the hot path):
#   bench/ab.sh store before /tmp/store-6m 6000000   # a data directory of 6M records
#   STORE=/tmp/store-6m ROUNDS=6 FLAGS=--batch-signed bench/ab.sh run before after
# Each run then starts on a copy of STORE, waits until the server has rebuilt its state
# (key filter, dashboard) and sends RECORDS records of a run the store lacks.
set -euo pipefail
cd "$(dirname "$0")/.."
AB_DIR=${AB_DIR:-/tmp/suanli-ab}
T=${CARGO_TARGET_DIR:-target}/profiling
case "${1:-}" in
  save)
    [ -n "${2:-}" ] || { echo "usage: bench/ab.sh save NAME" >&2; exit 2; }
    cargo build --profile profiling -q -p suanli-server --bin suanlid -p suanli-bench --bin suanli-load
    mkdir -p "$AB_DIR/$2"
    cp "$T/suanlid" "$T/suanli-load" "$AB_DIR/$2/"
    echo "saved $AB_DIR/$2"
    ;;
  run)
    shift
    [ $# -ge 1 ] || { echo "usage: bench/ab.sh run NAME..." >&2; exit 2; }
    ROUNDS=${ROUNDS:-3}
    RECORDS=${RECORDS:-1000000}
    FLAGS=${FLAGS:-}
    . bench/common.sh
    echo "build time records/s p50_ms p99_ms verify/s server_cpu_us/record"
    for _ in $(seq "$ROUNDS"); do
      for v in "$@"; do
        T="$AB_DIR/$v"
        work=$(mktemp -d)
        setup=(--admin-key "$work/data/admin.key")
        if [ -n "${STORE:-}" ]; then
          cp -a "$STORE" "$work/data"
          sync # the copy written out, not flushed under the measured load
          setup=(--no-setup --data-dir "$work/data" --run 1000)
        fi
        start_server # sets `server` and `grpc`
        if [ -n "${STORE:-}" ]; then
          for _ in $(seq 3000); do grep -q "dashboard totals rebuilt" "$work/server.log" && break; sleep 0.1; done
        fi
        c0=$(ticks "$server")
        # shellcheck disable=SC2086
        out=$("$T/suanli-load" --server "http://$grpc" "${setup[@]}" $FLAGS --records "$RECORDS" 2>/dev/null)
        c1=$(ticks "$server")
        n=$(grep "records acknowledged" <<<"$out" | grep -oE "[0-9]+" | head -1)
        rate=$(grep throughput <<<"$out" | grep -oE "[0-9]+" | head -1)
        lat=$(grep "ack latency" <<<"$out" | grep -oE "[0-9]+\.[0-9]+" | head -2 | tr '\n' ' ')
        ver=$(grep "batch verification" <<<"$out" | grep -oE "[0-9]+" | head -1)
        us=$(awk -v a="$c0" -v b="$c1" -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", (b - a) * 1e6 / hz / n}')
        echo "$v $(date +%H:%M:%S) $rate $lat$ver $us"
        kill -INT "$server"
        wait "$server" || true
        rm -rf "$work"
      done
    done
    ;;
  store)
    [ $# -eq 4 ] || { echo "usage: bench/ab.sh store NAME DIR RECORDS" >&2; exit 2; }
    T="$AB_DIR/$2"
    . bench/common.sh
    work=$(mktemp -d)
    start_server # sets `server` and `grpc`
    for i in $(seq 1 $(($4 / 1000000))); do
      setup=(--admin-key "$work/data/admin.key"); [ "$i" -gt 1 ] && setup=(--no-setup)
      "$T/suanli-load" --server "http://$grpc" --data-dir "$work/data" --batch-signed "${setup[@]}" \
        --records 1000000 --run "$i" | grep throughput
    done
    kill -INT "$server"
    wait "$server" || true
    mv "$work/data" "$3"
    rm -rf "$work"
    echo "a ledger of $4 records in $3"
    ;;
  *)
    echo "usage: bench/ab.sh save NAME | bench/ab.sh run NAME... | bench/ab.sh store NAME DIR RECORDS" >&2
    exit 2
    ;;
esac
