#!/usr/bin/python3
"""Draws the stream sweep of scripts/bench.sh: throughput (gapwatch and the
bare consumer) and gapwatch's peak RSS against the number of streams.

usage: plot.py RESULTS.jsonl OUT.png     (needs matplotlib: python3-matplotlib)
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

results, out = sys.argv[1:3]
points = {}
for line in open(results):
    if not line.strip():
        continue
    r = json.loads(line)
    if r["workload"] != "sweep":
        continue
    points.setdefault(r["streams"], {})[r["tool"]] = r["data"]
streams = sorted(points)
if not streams:
    sys.exit("no sweep results to draw")


def series(tool, key, scale=1.0):
    return [points[s].get(tool, {}).get(key, 0) * scale for s in streams]


fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
top.plot(streams, series("gapwatch", "messages_per_second", 1e-3), "o-", label="gapwatch run")
top.plot(streams, series("bare", "messages_per_second", 1e-3), "s--", label="bare rdkafka consumer")
top.set_ylabel("thousand messages/s")
top.set_ylim(bottom=0)
top.grid(True, which="both", alpha=0.3)
top.legend()
messages = next(iter(points[streams[0]].values()))["messages"]
top.set_title(f"{messages:,} messages, 12 partitions: throughput and memory by number of streams")

bottom.plot(streams, series("gapwatch", "peak_rss_bytes", 1 / 2**20), "o-", color="tab:red",
            label="gapwatch peak RSS")
bottom.plot(streams, series("bare", "peak_rss_bytes", 1 / 2**20), "s--", color="tab:gray",
            label="bare consumer peak RSS")
bottom.set_ylabel("MiB")
bottom.set_ylim(bottom=0)
bottom.set_xscale("log")
bottom.set_xlabel("streams (producer × partition)")
bottom.grid(True, which="both", alpha=0.3)
bottom.legend()
for s, rss in zip(streams, series("gapwatch", "peak_rss_bytes", 1 / 2**20)):
    bottom.annotate(f"{rss:.0f}", (s, rss), textcoords="offset points", xytext=(0, 6), ha="center")

fig.tight_layout()
fig.savefig(out, dpi=100)
print(f"wrote {out}")
