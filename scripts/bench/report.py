#!/usr/bin/env python3
"""Turns bench results into a Markdown table (medians), prints it and puts it
into docs/BENCHMARKS.md between the markers for the mode."""
import json
import os
import statistics
import sys

results, mode, messages, partitions, producers, doc = sys.argv[1:7]
rows = [json.loads(l) for l in open(results) if l.strip()]
by_tool = {}
for r in rows:
    by_tool.setdefault(r["tool"], []).append(r["data"])


def med(tool, key):
    vals = [d[key] for d in by_tool.get(tool, []) if key in d]
    return statistics.median(vals) if vals else None


for d in by_tool.get("kcat", []):
    d["messages_per_second"] = d["messages"] / max(float(d["seconds"]), 1e-9)

bare = med("bare", "messages_per_second")
lines = [
    f"Workload: {int(messages):,} messages of 100 bytes, {partitions} partitions, {producers} producers; "
    f"median of {len(by_tool.get('gapwatch', []))} runs on {os.cpu_count()} cores.",
    "",
    "| reader | messages/s | CPU s per million | peak RSS (MiB) | vs bare consumer |",
    "| --- | ---: | ---: | ---: | ---: |",
]
for tool, name in [("bare", "bare rdkafka consumer"), ("kcat", "kcat"), ("gapwatch", "gapwatch run")]:
    mps = med(tool, "messages_per_second")
    if mps is None:
        continue
    cpu = med(tool, "cpu_seconds")
    cpm = f"{cpu / int(messages) * 1e6:.2f}" if cpu is not None else "–"
    rss = med(tool, "peak_rss_bytes")
    rss_s = f"{rss / 2**20:.0f}" if rss else "–"
    ratio = f"{mps / bare * 100:.0f} %" if bare else "–"
    lines.append(f"| {name} | {mps:,.0f} | {cpm} | {rss_s} | {ratio} |")
table = "\n".join(lines) + "\n"
print(table)

begin, end = f"<!-- bench:{mode}:begin -->", f"<!-- bench:{mode}:end -->"
text = open(doc).read() if os.path.exists(doc) else ""
if begin in text and end in text:
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    text = f"{head}{begin}\n{table}{end}{tail}"
else:
    text += f"\n{begin}\n{table}{end}\n"
open(doc, "w").write(text)
