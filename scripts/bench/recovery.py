#!/usr/bin/env python3
"""Audits a prepared topic once until caught up, stops gapwatch, then times
three restarts on the same state until /readyz answers 200. Prints one JSON
line: streams, seconds to ready (each run and median), RSS when ready, and
the size of the state directory.

usage: recovery.py GAPWATCH_BINARY BOOTSTRAP TOPIC MESSAGES WORKDIR
"""
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

from pipeline import counted, free_port, write_config


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def du(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def main():
    binary, bootstrap, topic, messages, workdir = sys.argv[1:6]
    messages = int(messages)
    port = free_port()
    config = write_config(workdir, bootstrap, [topic], port, "recovery")
    log = open(os.path.join(workdir, "gapwatch.log"), "a")

    def start():
        return subprocess.Popen([binary, "run", "--config", config], stdout=log, stderr=log)

    def stop(p):
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=120)

    p = start()
    deadline = time.time() + 1800
    while (counted(port, topic) or 0) < messages:
        if time.time() > deadline or p.poll() is not None:
            sys.exit(f"gapwatch did not audit {messages} messages (see {workdir}/gapwatch.log)")
        time.sleep(0.5)
    stop(p)
    runs, rss_ready = [], 0
    for _ in range(3):
        t0 = time.monotonic()
        p = start()
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1).status == 200:
                    break
            except OSError:
                pass
            if p.poll() is not None:
                sys.exit("gapwatch exited while starting")
            time.sleep(0.02)
        runs.append(round(time.monotonic() - t0, 3))
        rss_ready = rss(p.pid)
        stop(p)
    print(json.dumps({
        "streams": messages,
        "ready_seconds": runs,
        "ready_median_seconds": statistics.median(runs),
        "rss_when_ready_bytes": rss_ready,
        "state_bytes": du(os.path.join(workdir, "data")),
    }))


if __name__ == "__main__":
    main()
