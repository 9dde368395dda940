#!/usr/bin/env python3
"""Draws tools/bench-pipeline.sh's results as one SVG, with nothing but the standard library.

    tools/bench-pipeline.sh 32 200000 | tee bench.txt
    tools/plot-pipeline.py docs/img/pipeline.svg "before (commit abc1234)" bench.txt [...]

Each text file is one run of the script; the lines `webhook-load run` printed (label,
req/s, p50/p90/p99) are read from it. Two panels, one bar per run and path: deliveries per
second (with the ratio to the same run's plain route), and the p99 latency. A later run
given after an earlier one ("before", "after") is drawn beside it.
"""
import re
import sys
from html import escape

LINE = re.compile(r"^(\S+)\s+(\d+) req/s\s+p50\s+([\d.]+) ms\s+p90\s+([\d.]+) ms\s+p99\s+([\d.]+) ms")
W, ROW, PAD_L, PAD_R, TOP = 900, 18, 190, 110, 40
COLORS = ["#4c78a8", "#f58518", "#54a24b", "#b279a2"]


def read(path):
    runs = {}
    with open(path) as f:
        for line in f:
            m = LINE.match(line.strip())
            if m:
                runs[m.group(1)] = (float(m.group(2)), float(m.group(5)))
    return runs


def panel(y0, title, unit, runs, names, labels, pick, ratio):
    vmax = max((pick(r[l]) for r in runs for l in labels if l in r), default=1) or 1
    height = TOP + len(labels) * (len(runs) * ROW + 8) + 10
    out = [f'<g transform="translate(0,{y0})">', f'<text x="10" y="22" font-weight="bold">{escape(title)}</text>']
    y = TOP
    for label in labels:
        out.append(f'<text x="{PAD_L - 8}" y="{y + ROW * len(runs) / 2 + 4:.1f}" text-anchor="end">{escape(label)}</text>')
        for i, run in enumerate(runs):
            if label in run:
                v = pick(run[label])
                w = (W - PAD_L - PAD_R) * v / vmax
                out.append(f'<rect x="{PAD_L}" y="{y}" width="{w:.1f}" height="{ROW - 3}" fill="{COLORS[i % len(COLORS)]}"/>')
                note = f"{v:,.0f} {unit}" if unit == "/s" else f"{v:.1f} {unit}"
                if ratio and "plain-route" in run and label != "plain-route":
                    note += f"  ({v / run['plain-route'][0]:.2f}x)"
                out.append(f'<text x="{PAD_L + w + 4:.1f}" y="{y + ROW - 6}">{escape(note)}</text>')
            y += ROW
        y += 8
    out.append("</g>")
    return out, height


def main():
    if len(sys.argv) < 4 or len(sys.argv) % 2:
        sys.exit(__doc__)
    target, pairs = sys.argv[1], sys.argv[2:]
    names = pairs[0::2]
    runs = [read(p) for p in pairs[1::2]]
    labels = []
    for r in runs:
        labels += [l for l in r if l not in labels]
    top, h1 = panel(0, "Deliveries per second (ratio to the plain route of the same run)", "/s", runs, names, labels,
                    lambda v: v[0], True)
    bottom, h2 = panel(h1, "p99 latency", "ms", runs, names, labels, lambda v: v[1], False)
    legend = [f'<g transform="translate(10,{h1 + h2 + 10})">']
    for i, name in enumerate(names):
        legend.append(f'<rect x="{i * 300}" y="0" width="12" height="12" fill="{COLORS[i % len(COLORS)]}"/>')
        legend.append(f'<text x="{i * 300 + 18}" y="11">{escape(name)}</text>')
    legend.append("</g>")
    total = h1 + h2 + 40
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{total}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{total}" fill="white"/>'] + top + bottom + legend + ["</svg>"]
    with open(target, "w") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
