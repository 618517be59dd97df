#!/usr/bin/env python3
"""Compares what gapwatch reported lost with the ground truth of a loss-lab
scenario and prints one JSON line for the results table.

  compare.py TRUTH.json READBACK.json GAPWATCH_URL TOPIC

TRUTH is loadgen's --truth file (with --record-acks: the numbers Kafka
acknowledged), READBACK is `gapwatch readback` of the topic afterwards. The
lost messages are, per stream, the numbers up to the highest one still in the
topic that are not in it; gapwatch must report exactly these. Numbers sent
after a stream's last surviving message are counted apart: no detector can
see them, since nothing after them says they existed.
"""
import json
import sys
import urllib.parse
import urllib.request


def expand(ranges):
    out = set()
    for r in ranges:
        out.update(range(r["first_seq"], r["last_seq"] + 1))
    return out


def reported(url, topic):
    found = {}
    cursor = None
    while True:
        q = {"topic": topic, "status": "open,confirmed", "limit": "1000"}
        if cursor:
            q["cursor"] = cursor
        with urllib.request.urlopen(f"{url}/api/v1/gaps?{urllib.parse.urlencode(q)}", timeout=10) as r:
            page = json.load(r)
        for g in page["gaps"]:
            key = (g["partition"], g["producer"], g["epoch"])
            found.setdefault(key, set()).update(range(g["first_seq"], g["last_seq"] + 1))
        cursor = page.get("next_cursor")
        if not cursor:
            return found


def main():
    truth_path, readback_path, url, topic = sys.argv[1:5]
    truth = json.load(open(truth_path))
    readback = json.load(open(readback_path))
    present = {(s["partition"], s["producer"], s["epoch"]): expand(s["present"]) for s in readback["streams"]}
    gw = reported(url, topic)
    lost, lost_acked, tail, acked_total, sent_total = {}, 0, 0, 0, 0
    for s in truth["streams"]:
        key = (s["partition"], s["producer"], s["epoch"])
        sent = set(range(1, s["max_seq"] + 1)) - expand(s["missing"])
        acked = expand(s.get("acked") or [])
        sent_total += len(sent)
        acked_total += len(acked)
        have = present.get(key, set())
        top = max(have) if have else 0
        # Everything below the highest surviving number that is not there,
        # whether Kafka lost it or loadgen never sent it (no drops in the lab).
        gone = {n for n in range(1, top + 1) if n not in have}
        if gone:
            lost[key] = gone
        lost_acked += len({n for n in gone if n in acked})
        tail += len({n for n in sent if n > top})
        lost_acked += len({n for n in sent if n > top and n in acked})
    identical = {k: v for k, v in lost.items() if v} == {k: v for k, v in gw.items() if v}
    diff = []
    for key in sorted(set(lost) | set(gw)):
        a, b = lost.get(key, set()), gw.get(key, set())
        if a != b:
            diff.append({"stream": list(key), "missed": sorted(a - b)[:20], "invented": sorted(b - a)[:20]})
    print(json.dumps({
        "sent": sent_total,
        "acked": acked_total,
        "lost": sum(len(v) for v in lost.values()),
        "lost_acked": lost_acked,
        "lost_tail": tail,
        "reported": sum(len(v) for v in gw.values()),
        "identical": identical,
        "differences": diff[:10],
    }))


if __name__ == "__main__":
    main()
