#!/usr/bin/env python3
"""Turns recovery.py's JSON lines into a Markdown table, prints it and puts
it into docs/BENCHMARKS.md between the recovery markers.

usage: recovery_report.py RESULTS.jsonl DOC
"""
import json
import os
import sys
import time

from doctable import put_table

results, doc = sys.argv[1:3]
rows = [json.loads(line) for line in open(results) if line.strip()]
lines = [
    f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores.",
    "",
    "| streams stored | ready after (median of 3) | runs | RSS when ready | state on disk |",
    "| ---: | ---: | --- | ---: | ---: |",
]
for r in sorted(rows, key=lambda r: r["streams"]):
    runs = ", ".join(f"{s:.3f}" for s in r["ready_seconds"])
    lines.append(
        f"| {r['streams']:,} | {r['ready_median_seconds']:.3f} s | {runs} s | "
        f"{r['rss_when_ready_bytes'] / 2**20:.0f} MiB | {r['state_bytes'] / 2**20:.0f} MiB |"
    )
table = "\n".join(lines) + "\n"
print(table)
put_table(doc, "recovery", table)
