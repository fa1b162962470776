"""Writes the results table of one benchmark run (bench/run.sh, bench/run-postgres.sh).

usage: results_table.py MAX_JSON HALF_JSON OUT DESCRIPTION THROUGHPUT_TARGET
"""
import datetime
import json
import os
import platform
import sys

mx, hf = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
out, description, throughput_target = sys.argv[3], sys.argv[4], sys.argv[5]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
           platform.processor())
cores = os.cpu_count()


def mib(b):
    return f"{b / 2**20:.0f} MiB" if b is not None else "n/a"


def ms(us):
    return f"{us / 1000:.1f} ms"


def lat(r):
    return f"{ms(r['latency_us']['p50'])} / {ms(r['latency_us']['p99'])} / {ms(r['latency_us']['p999'])}"


records = mx["records"] + hf["records"]
disk = f"{mib(hf['disk_bytes'])}, {hf['disk_bytes'] / records:.0f} bytes/record" if hf.get("disk_bytes") else "n/a"
rows = [
    ("records acknowledged (full speed)", f"{mx['records']:.0f}", ""),
    ("throughput, durable and verified", f"{mx['records_per_s']:,.0f} records/s", throughput_target),
    ("same-run batch verification, all cores", f"{mx['verify_records_per_s']:,.0f} records/s", ""),
    ("ratio", f"{mx['ratio']:.2f}", "≥ 0.7"),
    ("ack latency at full speed p50 / p99 / p99.9", lat(mx), ""),
    (f"ack latency at half speed ({hf['target_rate']:,} records/s) p50 / p99 / p99.9", lat(hf), "p99 ≤ 25 ms"),
    ("server peak RSS (first node)", mib(hf.get("server_peak_rss_bytes")), "≤ 512 MiB"),
    ("disk after both runs", disk, "≤ 1 KiB/record"),
]
with open(out, "w") as f:
    f.write(f"Measured {datetime.date.today()} on {cores} cores ({cpu}), load generator on the same machine, "
            f"{mx['providers']} provider streams, {mx['renters']} renters. {description}\n\n")
    f.write("| measure | result | target |\n| --- | --- | --- |\n")
    for r in rows:
        f.write(f"| {r[0]} | {r[1]} | {r[2]} |\n")
print(open(out).read())
