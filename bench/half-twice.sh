#!/usr/bin/env bash
# Where the half-speed tail comes from (not CI): one fresh server, RECORDS batch-signed
# records at full speed, then HALF_RECORDS at half that rate twice in a row. Between the
# loads it reads the store's merge metrics (`suanli_index_runs`, `suanli_index_merges_running`)
# and the commit, ack and stage histograms, and prints, for each half-speed load, its
# client-side ack percentiles and, for commits, server-side acks and each stage of an ack
# (`suanli_stage_seconds`), the bucket bound its p99 falls under and the share under
# 5/10/25/50/100 ms.
#
#   bench/half-twice.sh                       # 1,000,000 then 2 × 250,000
#   RECORDS=300000 HALF_RECORDS=100000 bench/half-twice.sh
#   FLAGS= bench/half-twice.sh                # single-signed instead
set -euo pipefail
cd "$(dirname "$0")/.."
T=${CARGO_TARGET_DIR:-target}/profiling
RECORDS=${RECORDS:-1000000}
HALF_RECORDS=${HALF_RECORDS:-250000}
FLAGS=${FLAGS---batch-signed}
cargo build --profile profiling -q -p suanli-server --bin suanlid -p suanli-bench --bin suanli-load
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
. bench/common.sh
start_server
web=$(grep -o "web console http://127.0.0.1:[0-9]*" "$work/server.log" | grep -o "[0-9]*$")
metrics() { curl -s "http://127.0.0.1:$web/metrics"; }
scrape() { metrics | grep -E "^suanli_(commit_seconds|ack_seconds|stage_seconds)_bucket" >"$work/$1.prom"; }
merges() { metrics | grep -E "^suanli_index" | tr '\n' ' '; echo; }
load() {
  # shellcheck disable=SC2086
  "$T/suanli-load" --server "http://$grpc" --server-pid "$server" --data-dir "$work/data" --providers 8 \
    $FLAGS --admin-key "$work/data/admin.key" "$@"
}
shares() { # the share of commits, server-side acks and each stage under each bound, between two scrapes
  python3 - "$work/$1.prom" "$work/$2.prom" <<'PY'
import re, sys
def load(p):
    return {k: float(v) for k, v in (l.rsplit(" ", 1) for l in open(p))}
a, b = load(sys.argv[1]), load(sys.argv[2])
series = {}  # name{other labels} -> {le: count in the interval}
for k, v in b.items():
    m = re.match(r'(\w+)_bucket\{(.*)\}$', k)
    if not m:
        continue
    labels = [l for l in m.group(2).split(",") if not l.startswith("le=")]
    le = re.search(r'le="([^"]+)"', k).group(1)
    name = m.group(1) + (f"{{{','.join(labels)}}}" if labels else "")
    series.setdefault(name, {})[le] = v - a.get(k, 0)
for name, buckets in sorted(series.items()):
    n = buckets.get("+Inf", 0)
    finite = sorted((float(le), c) for le, c in buckets.items() if le != "+Inf")
    p99 = next((le for le, c in finite if c >= 0.99 * n), float("inf"))
    shown = [(le, 100 * c / max(n, 1)) for le, c in finite if le in (0.005, 0.01, 0.025, 0.05, 0.1)]
    print(f"  {name}: {int(n)} observed, p99 at most {p99 * 1000:g} ms; " + ", ".join(f"{p:.1f} % under {le * 1000:.0f} ms" for le, p in shown))
PY
}
echo "== full speed: $RECORDS records"
scrape z
load --records "$RECORDS" --run 1 | tee "$work/full.txt" | grep -E "throughput|ack latency"
rate=$(grep throughput "$work/full.txt" | grep -o "[0-9]*" | head -1)
half=$((rate / 2))
scrape a
shares z a
echo "merge metrics: $(merges)"
for run in 2 3; do
  echo "== half speed, load $((run - 1)) of 2: $HALF_RECORDS records at $half records/s"
  load --no-setup --records "$HALF_RECORDS" --rate "$half" --run "$run" | grep -E "ack latency"
  scrape "r$run"
  shares "$([ "$run" = 2 ] && echo a || echo r2)" "r$run"
  echo "  merge metrics after it: $(merges)"
done
