#!/usr/bin/env bash
# One command for the end-to-end benchmark: builds in release mode, starts suanlid on a
# fresh data directory, streams RECORDS pre-signed records as fast as the ledger
# acknowledges them, then runs a second load at half that throughput to measure latency,
# and writes the results (with the machine's core count and CPU model) to
# bench/results/RESULTS.md — the table the README's performance section shows.
#
#   bench/run.sh                 # 1,000,000 records (the issue's target run)
#   RECORDS=200000 bench/run.sh  # a quicker run
set -euo pipefail
cd "$(dirname "$0")/.."

RECORDS=${RECORDS:-1000000}
HALF_RECORDS=${HALF_RECORDS:-$((RECORDS / 4))}
PROVIDERS=${PROVIDERS:-8}
PORT=${PORT:-7499}
OUT=${OUT:-bench/results/RESULTS.md}

cargo build --release -q -p suanli-server --bin suanlid -p suanli-bench --bin suanli-load

work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
target/release/suanlid --data-dir "$work/data" --listen "127.0.0.1:$PORT" 2>"$work/server.log" &
server=$!
for _ in $(seq 100); do
  grep -q "listening on" "$work/server.log" 2>/dev/null && break
  sleep 0.1
done
grep -q "listening on" "$work/server.log" || { cat "$work/server.log"; exit 1; }

load() {
  target/release/suanli-load --server "http://127.0.0.1:$PORT" --server-pid "$server" \
    --data-dir "$work/data" --providers "$PROVIDERS" "$@"
}

echo "== full speed: $RECORDS records"
load --admin-key "$work/data/admin.key" --records "$RECORDS" --run 1 --json-out "$work/max.json" | tee "$work/max.txt"
max_rate=$(python3 -c "import json;print(int(json.load(open('$work/max.json'))['records_per_s']))")
half=$((max_rate / 2))
echo "== half speed: $HALF_RECORDS records at $half records/s"
load --no-setup --records "$HALF_RECORDS" --rate "$half" --run 2 --json-out "$work/half.json" | tee "$work/half.txt"

mkdir -p "$(dirname "$OUT")"
python3 - "$work/max.json" "$work/half.json" "$OUT" <<'PY'
import json, os, platform, subprocess, sys, datetime
mx, hf = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
cores = os.cpu_count()
mib = lambda b: f"{b / 2**20:.0f} MiB" if b is not None else "n/a"
def ms(us): return f"{us / 1000:.1f} ms"
rows = [
    ("records acknowledged (full speed)", f"{mx['records']:.0f}", ""),
    ("throughput, durable and verified", f"{mx['records_per_s']:,.0f} records/s", "≥ 100,000"),
    ("same-run batch verification, all cores", f"{mx['verify_records_per_s']:,.0f} records/s", ""),
    ("ratio", f"{mx['ratio']:.2f}", "≥ 0.7"),
    ("ack latency at full speed p50 / p99 / p99.9", f"{ms(mx['latency_us']['p50'])} / {ms(mx['latency_us']['p99'])} / {ms(mx['latency_us']['p999'])}", ""),
    (f"ack latency at half speed ({hf['target_rate']:,} records/s) p50 / p99 / p99.9", f"{ms(hf['latency_us']['p50'])} / {ms(hf['latency_us']['p99'])} / {ms(hf['latency_us']['p999'])}", "p99 ≤ 25 ms"),
    ("server peak RSS", mib(hf.get('server_peak_rss_bytes')), "≤ 512 MiB"),
    ("disk after both runs", f"{mib(hf.get('disk_bytes'))}, {hf['disk_bytes'] / (mx['records'] + hf['records']):.0f} bytes/record" if hf.get('disk_bytes') else "n/a", "≤ 1 KiB/record"),
]
with open(sys.argv[3], "w") as f:
    f.write(f"Measured {datetime.date.today()} on {cores} cores ({cpu}), load generator on the same machine, "
            f"{mx['providers']} provider streams, {mx['renters']} renters. Rerun: `bench/run.sh`.\n\n")
    f.write("| measure | result | target |\n| --- | --- | --- |\n")
    for r in rows:
        f.write(f"| {r[0]} | {r[1]} | {r[2]} |\n")
print(open(sys.argv[3]).read())
PY
