"""Prints the criterion stage benchmarks (`cargo bench -p suanli-bench --bench stages`) as a
Markdown table of medians: elements (records, leaves, signatures) per second.

usage: stages_table.py CRITERION_DIR      (normally $CARGO_TARGET_DIR/criterion)
"""
import json
import os
import sys

root = sys.argv[1]
rows = []
for dirpath, _, files in os.walk(root):
    if os.path.basename(dirpath) != "new" or "estimates.json" not in files or "benchmark.json" not in files:
        continue
    bench = json.load(open(os.path.join(dirpath, "benchmark.json")))
    est = json.load(open(os.path.join(dirpath, "estimates.json")))
    elements = (bench.get("throughput") or {}).get("Elements")
    ns = est["median"]["point_estimate"]
    if not elements or not ns:
        continue
    rate = elements / (ns * 1e-9)
    rows.append((bench["group_id"], bench.get("function_id") or "", rate))
print("| stage | median rate (one core) |\n| --- | --- |")
for group, function, rate in sorted(rows):
    shown = f"{rate / 1e6:.2f} M/s" if rate >= 1e6 else f"{rate / 1e3:.1f} k/s"
    print(f"| {group}: {function} | {shown} |")
