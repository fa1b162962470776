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
        start_server # sets `server` and `grpc`
        c0=$(ticks "$server")
        # shellcheck disable=SC2086
        out=$("$T/suanli-load" --server "http://$grpc" --admin-key "$work/data/admin.key" $FLAGS --records "$RECORDS" 2>/dev/null)
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
  *)
    echo "usage: bench/ab.sh save NAME | bench/ab.sh run NAME..." >&2
    exit 2
    ;;
esac
