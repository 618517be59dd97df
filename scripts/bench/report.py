#!/usr/bin/env python3
"""Turns bench results into Markdown tables (medians), prints them and puts
each into docs/BENCHMARKS.md between the markers for its mode and workload.

usage: report.py RESULTS.jsonl MODE DOC
"""
import json
import os
import statistics
import sys

from doctable import put_table

results, mode, doc = sys.argv[1:4]
rows = [json.loads(line) for line in open(results) if line.strip()]
for r in rows:
    d = r["data"]
    if "messages_per_second" not in d and d.get("seconds"):
        d["messages_per_second"] = d["messages"] / max(float(d["seconds"]), 1e-9)


def median(items, key):
    vals = [d[key] for d in items if d.get(key) is not None]
    return statistics.median(vals) if vals else None


def side_by_side(workload):
    """Every reader on one workload, medians of the runs."""
    mine = [r for r in rows if r["workload"] == workload]
    if not mine:
        return None
    first = mine[0]
    by_tool = {}
    for r in mine:
        by_tool.setdefault(r["tool"], []).append(r["data"])
    messages = first["messages"]
    bare = median(by_tool.get("bare", []), "messages_per_second")
    runs = len(by_tool.get("gapwatch", []))
    lines = [
        f"Workload {workload[1:]}: {messages:,} messages of 100 bytes, 12 partitions, "
        f"{first['producers']:,} producers, {first['streams']:,} streams; "
        f"median of {runs} runs on {os.cpu_count()} cores.",
        "",
        "| reader | messages/s | CPU s per million | peak RSS (MiB) | vs bare consumer |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    names = [("bare", "bare rdkafka consumer"), ("kcat", "kcat"), ("gapwatch", "gapwatch run")]
    for tool, name in names:
        data = by_tool.get(tool, [])
        mps = median(data, "messages_per_second")
        if mps is None:
            continue
        cpu = median(data, "cpu_seconds")
        cpm = f"{cpu / messages * 1e6:.2f}" if cpu is not None else "–"
        rss = median(data, "peak_rss_bytes")
        rss_s = f"{rss / 2**20:.0f}" if rss else "–"
        ratio = f"{mps / bare * 100:.0f} %" if bare else "–"
        lines.append(f"| {name} | {mps:,.0f} | {cpm} | {rss_s} | {ratio} |")
    return "\n".join(lines) + "\n"


def sweep():
    mine = [r for r in rows if r["workload"] == "sweep"]
    if not mine:
        return None
    by_streams = {}
    for r in mine:
        by_streams.setdefault(r["streams"], {})[r["tool"]] = r["data"]
    messages = mine[0]["messages"]
    lines = [
        f"{messages:,} messages of 100 bytes on 12 partitions, spread over more and more "
        f"streams; one run each on {os.cpu_count()} cores.",
        "",
        "| streams | gapwatch messages/s | bare consumer messages/s | gapwatch vs bare "
        "| gapwatch CPU s per million | gapwatch peak RSS (MiB) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for streams in sorted(by_streams):
        gw, bare = by_streams[streams].get("gapwatch", {}), by_streams[streams].get("bare", {})
        g, b = gw.get("messages_per_second"), bare.get("messages_per_second")
        ratio = f"{g / b * 100:.0f} %" if g and b else "–"
        cpm = gw.get("cpu_seconds_per_million")
        rss = gw.get("peak_rss_bytes")
        lines.append(
            f"| {streams:,} | {g or 0:,.0f} | {b or 0:,.0f} | {ratio} | "
            f"{cpm if cpm is not None else '–'} | {rss / 2**20 if rss else 0:.0f} |"
        )
    return "\n".join(lines) + "\n"


for name, table in [("w1", side_by_side("w1")), ("w2", side_by_side("w2")), ("sweep", sweep())]:
    if table is None:
        continue
    print(table)
    put_table(doc, f"{mode}-{name}", table)
