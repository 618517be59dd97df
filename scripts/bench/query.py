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
import socket
import subprocess
import sys
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def put(doc, name, table):
    begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
    text = open(doc).read() if os.path.exists(doc) else ""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{begin}\n{table}{end}{tail}"
    else:
        text += f"\n{begin}\n{table}{end}\n"
    open(doc, "w").write(text)


def main():
    gw, load, bootstrap, streams_topic, backlog_topic, streams, rate, seconds, work, doc = sys.argv[1:11]
    streams, rate, seconds = int(streams), int(rate), int(seconds)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    port = free_port()
    config = os.path.join(work, "gapwatch.toml")
    with open(config, "w") as f:
        f.write(
            f"""[kafka]
bootstrap_servers = "{bootstrap}"
group_id = "bench-query-{os.getpid()}-{time.time_ns()}"
[[audit]]
topics = ["{streams_topic}", "{backlog_topic}"]
[state]
dir = "{work}/data"
max_streams_in_memory = {max(streams * 2, 1000000)}
[http]
listen = "127.0.0.1:{port}"
"""
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
        before = metric(port, "gapwatch_messages_audited_total", backlog_topic)
        t0 = time.monotonic()
        out = subprocess.run(
            [load, url, streams_topic, "12", str(streams), str(rate), str(seconds)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        t1 = time.monotonic()
        after = metric(port, "gapwatch_messages_audited_total", backlog_topic)
        backlog_total = 1000 * 12 * int(os.environ.get("QUERY_BACKLOG_STEPS", "3000"))
        result = json.loads(out)
        result["streams_in_memory"] = stored
        result["ingest_messages_per_second"] = round((after - before) / (t1 - t0))
        result["backlog_left_at_end"] = max(0, int(backlog_total - after))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()

    print(json.dumps(result))
    lines = [
        f"{result['achieved_rps']:.0f} requests/s for {seconds} s (half of each), with "
        f"{int(stored or 0):,} streams in memory, while gapwatch audited "
        f"{result['ingest_messages_per_second']:,} messages/s"
        + ("" if result["backlog_left_at_end"] else " (the backlog ran out before the end)")
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
    put(doc, "query", table)


if __name__ == "__main__":
    main()
