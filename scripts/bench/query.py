#!/usr/bin/env python3
"""Runs gapwatch over a streams topic and a backlog topic, and once the
streams are audited measures query latency with query_load while the backlog
is being read. Prints the figures and writes them to the benchmarks document.

usage: query.py GAPWATCH QUERY_LOAD BOOTSTRAP STREAMS_TOPIC BACKLOG_TOPIC
                STREAMS RATE SECONDS WORKDIR DOC
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request

from doctable import put_table
from pipeline import free_port, stop, write_config


def metric(port, name, topic=None):
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return None
    total = 0.0
    for m in re.finditer(r"^%s(\{[^}]*\})? (\S+)$" % re.escape(name), text, re.M):
        if topic is None or f'topic="{topic}"' in (m.group(1) or ""):
            total += float(m.group(2))
    return total


def main():
    gw, load, bootstrap, streams_topic, backlog_topic, streams, rate, seconds, work, doc = sys.argv[1:11]
    streams, rate, seconds = int(streams), int(rate), int(seconds)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    port = free_port()
    config = write_config(
        work,
        bootstrap,
        [streams_topic, backlog_topic],
        port,
        "bench-query",
        state=f"max_streams_in_memory = {max(streams * 2, 1000000)}\n",
    )
    log = open(os.path.join(work, "gapwatch.log"), "w")
    proc = subprocess.Popen([gw, "run", "--config", config], stdout=log, stderr=log)
    try:
        deadline = time.time() + 600
        while time.time() < deadline:
            if proc.poll() is not None:
                sys.exit(f"gapwatch exited early; see {work}/gapwatch.log")
            n = metric(port, "gapwatch_messages_audited_total", streams_topic)
            if n is not None and n >= streams:
                break
            time.sleep(0.1)
        else:
            sys.exit("gapwatch did not audit the streams topic within 10 minutes")
        time.sleep(0.5)  # the last flush of the streams topic
        url = f"http://127.0.0.1:{port}"
        stored = metric(port, "gapwatch_streams")
        # The backlog's audited count, once a second while the load runs: the
        # ingest rate over the window, and in its last second (still reading?).
        samples = [(time.monotonic(), metric(port, "gapwatch_messages_audited_total", backlog_topic))]
        load_proc = subprocess.Popen(
            [load, url, streams_topic, "12", str(streams), str(rate), str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        while load_proc.poll() is None:
            time.sleep(1)
            samples.append((time.monotonic(), metric(port, "gapwatch_messages_audited_total", backlog_topic)))
        out = load_proc.stdout.read()
        if load_proc.returncode != 0:
            sys.exit(f"query_load failed (exit {load_proc.returncode})")
        samples = [(t, n) for t, n in samples if n is not None]
        if not samples:
            sys.exit(f"no metrics from gapwatch during the load; see {work}/gapwatch.log")
        (t0, before), (t1, after) = samples[0], samples[-1]
        (tl, last_before) = samples[-2] if len(samples) > 1 else samples[-1]
        result = json.loads(out)
        result["streams_in_memory"] = stored
        result["ingest_messages_per_second"] = round((after - before) / max(t1 - t0, 1e-9))
        result["ingest_messages_per_second_last_second"] = round((after - last_before) / max(t1 - tl, 1e-9))
        result["backlog_audited_in_window"] = int(after - before)
        # Lag as of gapwatch's last watermark check (once a second).
        result["backlog_left_at_end"] = int(metric(port, "gapwatch_consumer_lag_messages", backlog_topic) or 0)
    finally:
        stop(proc)

    print(json.dumps(result))
    lines = [
        f"{result['achieved_rps']:.0f} requests/s for {seconds} s (half of each), with "
        f"{int(stored or 0):,} streams in memory, while gapwatch audited "
        f"{result['ingest_messages_per_second']:,} messages/s of the backlog "
        f"({result['ingest_messages_per_second_last_second']:,} in the last second; "
        + (
            f"{result['backlog_left_at_end']:,} left at the end)"
            if result["backlog_left_at_end"]
            else "it ran out before the end)"
        )
        + f"; {os.cpu_count()} cores, loopback.",
        "",
        "| endpoint | requests | answers | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    paths = {
        "gaps": "`GET /api/v1/gaps?limit=100`",
        "messages": "`GET /api/v1/messages/{topic}/{partition}/{producer}/{seq}`",
    }
    for name, e in result["endpoints"].items():
        answers = ", ".join(f"{k}: {v:,}" for k, v in e["statuses"].items())
        lines.append(
            f"| {paths.get(name, name)} | {e['count']:,} | {answers} | {e['p50_ms']} | "
            f"{e['p90_ms']} | {e['p99_ms']} | {e['max_ms']} |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    put_table(doc, "query", table)


if __name__ == "__main__":
    main()
