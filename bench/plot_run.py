"""Table and SVG chart of a long run (bench/run-10m.sh): throughput and resident memory per
segment, drawn without any plotting library.

usage: plot_run.py SEGMENTS_CSV SVG_OUT MD_OUT GRACEFUL_RESTART_S KILL9_RESTART_S NOTE
"""
import csv
import datetime
import sys

rows = list(csv.DictReader(open(sys.argv[1])))
svg_out, md_out, graceful, killed, note = sys.argv[2:7]
xs = [int(r["records_total"]) / 1e6 for r in rows]
tput = [float(r["records_per_s"]) for r in rows]
rss = [float(r["rss_mib"]) for r in rows]

W, H, L, R, TOP, B = 720, 360, 70, 70, 30, 50


def poly(values, vmax, color):
    xmax = max(xs) or 1
    pts = " ".join(
        f"{L + (x / xmax) * (W - L - R):.1f},{TOP + (1 - v / vmax) * (H - TOP - B):.1f}" for x, v in zip(xs, values))
    dots = "".join(
        f'<circle cx="{L + (x / xmax) * (W - L - R):.1f}" cy="{TOP + (1 - v / vmax) * (H - TOP - B):.1f}" r="3" fill="{color}"/>'
        for x, v in zip(xs, values))
    return f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{pts}"/>{dots}'


tmax, rmax = max(tput) * 1.2, max(max(rss) * 1.2, 512)
parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
         f'<line x1="{L}" y1="{TOP}" x2="{L}" y2="{H - B}" stroke="#1f77b4"/>',
         f'<line x1="{W - R}" y1="{TOP}" x2="{W - R}" y2="{H - B}" stroke="#d62728"/>',
         f'<text x="{W / 2}" y="{H - 12}" text-anchor="middle">records in the ledger (millions)</text>',
         f'<text x="{L}" y="18" fill="#1f77b4">records/s (吞吐)</text>',
         f'<text x="{W - R}" y="18" fill="#d62728" text-anchor="end">RSS MiB (内存)</text>']
for k in range(5):
    y = TOP + k / 4 * (H - TOP - B)
    parts.append(f'<text x="{L - 6}" y="{y + 4:.0f}" text-anchor="end" fill="#1f77b4">{tmax * (1 - k / 4):,.0f}</text>')
    parts.append(f'<text x="{W - R + 6}" y="{y + 4:.0f}" fill="#d62728">{rmax * (1 - k / 4):.0f}</text>')
    parts.append(f'<line x1="{L}" y1="{y:.0f}" x2="{W - R}" y2="{y:.0f}" stroke="#eee"/>')
for x in xs:
    px = L + (x / (max(xs) or 1)) * (W - L - R)
    parts.append(f'<text x="{px:.0f}" y="{H - B + 16}" text-anchor="middle">{x:g}</text>')
parts += [poly(tput, tmax, "#1f77b4"), poly(rss, rmax, "#d62728"), "</svg>"]
open(svg_out, "w").write("\n".join(parts))

first, last = tput[0], tput[-1]
spread = (max(tput) - min(tput)) / max(tput) * 100
with open(md_out, "w") as f:
    f.write(f"Long run, {datetime.date.today()}: {rows[-1]['records_total']} records in segments "
            f"of {int(rows[0]['records_total']):,}; {note}. Rerun: `bench/run-10m.sh`.\n\n")
    f.write("| records in the ledger | records/s | ack p99 | server RSS | disk per record |\n| --- | --- | --- | --- | --- |\n")
    for r in rows:
        f.write(f"| {int(r['records_total']):,} | {float(r['records_per_s']):,.0f} | {r['p99_ms']} ms "
                f"| {r['rss_mib']} MiB | {r['disk_bytes_per_record']} B |\n")
    f.write(f"\nThroughput spread over the run: {spread:.0f} % (first segment {first:,.0f}/s, last {last:,.0f}/s). "
            f"Restart, until the server listens: {graceful} s after a graceful stop, {killed} s after kill -9. Chart: `{svg_out.split('/')[-1]}`.\n")
