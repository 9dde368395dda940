#!/usr/bin/env python3
"""Draws the retention run's figures as one SVG, with nothing but the standard library.

    tools/plot-retention.py memory.csv sqlite.csv docs/img/retention.svg

Each CSV is the output of `webhook-load retention` (seconds, accepted, rss_kib,
sqlite_bytes, events_stored). Three panels against deliveries accepted: the RSS of the
memory-store run, the SQLite run's file size (with its WAL), and the events each store holds.
"""
import csv
import math
import sys
from html import escape

W, H, PAD_L, PAD_R, PAD_T, PAD_B = 900, 260, 70, 20, 34, 40


def rows(path):
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


def nice_max(v):
    if v <= 0:
        return 1.0
    step = 10 ** (len(str(int(v))) - 1)
    return math.ceil(v / step) * step


def panel(y0, title, xlabel, ylabel, series, xmax):
    ymax = nice_max(max((y for _, pts, _ in series for _, y in pts), default=1))
    out = [f'<g transform="translate(0,{y0})">', f'<text x="{PAD_L}" y="20" font-weight="bold">{escape(title)}</text>']
    x = lambda v: PAD_L + (W - PAD_L - PAD_R) * v / xmax
    y = lambda v: H - PAD_B - (H - PAD_T - PAD_B) * v / ymax
    out.append(f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - PAD_R}" y2="{H - PAD_B}" stroke="#333"/>')
    out.append(f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{H - PAD_B}" stroke="#333"/>')
    for i in range(6):
        xv, yv = xmax * i / 5, ymax * i / 5
        out.append(f'<text x="{x(xv):.1f}" y="{H - PAD_B + 16}" text-anchor="middle">{xv / 1e3:.0f}k</text>')
        out.append(f'<text x="{PAD_L - 6}" y="{y(yv) + 4:.1f}" text-anchor="end">{yv:g}</text>')
        out.append(f'<line x1="{PAD_L}" y1="{y(yv):.1f}" x2="{W - PAD_R}" y2="{y(yv):.1f}" stroke="#eee"/>')
    out.append(f'<text x="{(W + PAD_L) / 2}" y="{H - 6}" text-anchor="middle">{escape(xlabel)}</text>')
    out.append(f'<text x="14" y="{(H + PAD_T) / 2}" transform="rotate(-90 14 {(H + PAD_T) / 2})" text-anchor="middle">{escape(ylabel)}</text>')
    for n, (label, pts, colour) in enumerate(series):
        path = " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in pts)
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        out.append(f'<text x="{W - PAD_R - 10}" y="{H - PAD_B - 10 - 16 * n}" text-anchor="end" fill="{colour}">{escape(label)}</text>')
    out.append("</g>")
    return out


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    memory, sqlite, target = rows(sys.argv[1]), rows(sys.argv[2]), sys.argv[3]
    xmax = nice_max(max(r["accepted"] for r in memory + sqlite))
    mib = 1024 * 1024
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{3 * H}" font-family="sans-serif" font-size="12">',
             f'<rect width="{W}" height="{3 * H}" fill="white"/>']
    parts += panel(0, "Memory store: process RSS", "deliveries accepted", "MiB",
                   [("RSS, memory store", [(r["accepted"], r["rss_kib"] / 1024) for r in memory], "#1f77b4")], xmax)
    parts += panel(H, "SQLite store: file size (with its WAL)", "deliveries accepted", "MiB",
                   [("webhooks.db + -wal", [(r["accepted"], r["sqlite_bytes"] / mib) for r in sqlite], "#d62728")], xmax)
    parts += panel(2 * H, "Events held by the store", "deliveries accepted", "events",
                   [("memory", [(r["accepted"], r["events_stored"]) for r in memory], "#1f77b4"),
                    ("SQLite", [(r["accepted"], r["events_stored"]) for r in sqlite], "#d62728")], xmax)
    parts.append("</svg>")
    with open(target, "w") as f:
        f.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
