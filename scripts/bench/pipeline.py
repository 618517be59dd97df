#!/usr/bin/env python3
"""Measures `gapwatch run` auditing a prepared topic from the start until it
has caught up: messages/s, CPU seconds per million messages, peak RSS.
Prints one JSON line, like the bare consumer does.

usage: pipeline.py GAPWATCH_BINARY BOOTSTRAP TOPIC MESSAGES WORKDIR
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


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_peak_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def counted(port, topic):
    """Messages audited plus unaudited so far."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return None
    total = 0
    for m in re.finditer(
        r'^gapwatch_messages_(?:audited|unaudited)_total\{[^}]*topic="%s"[^}]*\} (\d+)' % re.escape(topic),
        text,
        re.M,
    ):
        total += int(m.group(1))
    return total


def write_config(workdir, bootstrap, topics, port, group, state=""):
    """A gapwatch config auditing `topics` with its state under workdir;
    `state` adds lines to [state]. Returns its path."""
    config = os.path.join(workdir, "gapwatch.toml")
    listed = ", ".join(f'"{t}"' for t in topics)
    with open(config, "w") as f:
        f.write(
            f"""[kafka]
bootstrap_servers = "{bootstrap}"
group_id = "{group}-{os.getpid()}-{time.time_ns()}"
[[audit]]
topics = [{listed}]
[state]
dir = "{workdir}/data"
{state}[http]
listen = "127.0.0.1:{port}"
"""
        )
    return config


def stop(proc):
    """SIGTERM, then SIGKILL if it has not exited within 20 s."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def main():
    binary, bootstrap, topic, messages, workdir = sys.argv[1:6]
    messages = int(messages)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    port = free_port()
    config = write_config(workdir, bootstrap, [topic], port, "bench")
    log = open(os.path.join(workdir, "gapwatch.log"), "w")
    proc = subprocess.Popen([binary, "run", "--config", config], stdout=log, stderr=log)
    try:
        first = None
        deadline = time.time() + 600
        while time.time() < deadline:
            n = counted(port, topic)
            now = time.monotonic()
            if n:
                if first is None:
                    first = (now, n, proc_cpu_seconds(proc.pid))
                if n >= messages:
                    break
            if proc.poll() is not None:
                sys.exit(f"gapwatch exited early; see {workdir}/gapwatch.log")
            time.sleep(0.05)
        else:
            sys.exit("gapwatch did not catch up within 10 minutes")
        t0, n0, cpu0 = first
        secs = max(now - t0, 1e-9)
        cpu = proc_cpu_seconds(proc.pid) - cpu0
        done = messages - n0
        print(
            json.dumps(
                {
                    "messages": messages,
                    "seconds": round(secs, 3),
                    "messages_per_second": round(done / secs),
                    "cpu_seconds": round(cpu, 2),
                    "cpu_seconds_per_million": round(cpu / max(done, 1) * 1e6, 3),
                    "peak_rss_bytes": proc_peak_rss(proc.pid),
                }
            )
        )
    finally:
        stop(proc)


if __name__ == "__main__":
    main()
