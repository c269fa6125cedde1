#!/usr/bin/env python3
"""Times the loadgen's five query kinds over HTTP against a running Lookout (no auth).

Usage: scripts/logs-query-bench.py http://127.0.0.1:PORT [N]   (N timings per kind, default 60)
"""
import json, sys, time, urllib.request, urllib.parse, statistics
base = sys.argv[1]; n = int(sys.argv[2]) if len(sys.argv) > 2 else 60
def get(path):
    with urllib.request.urlopen(base + path) as r:
        return json.loads(r.read())
first = get("/api/v1/logs/search?q=&limit=1&start=0&order=asc")["hits"][0]["timestamp"]
last = get("/api/v1/logs/search?q=&limit=1&start=0")["hits"][0]["timestamp"]
import datetime
def secs(s):
    return int(datetime.datetime.fromisoformat(s[:19]).replace(tzinfo=datetime.timezone.utc).timestamp())
start, end = secs(first), secs(last) + 1
kinds = [("term", "timeout"), ("phrase", '"connection reset by peer"'), ("field", "service:payments"), ("range", "latency_ms:>4000"), ("histogram", "")]
for name, q in kinds:
    v = []
    for _ in range(n):
        t = time.perf_counter()
        if name == "histogram":
            get(f"/api/v1/logs/histogram?q=&start={start}&end={end}&step=60")
        else:
            r = get(f"/api/v1/logs/search?q={urllib.parse.quote(q)}&limit=100&start=0")
        v.append((time.perf_counter() - t) * 1e3)
    v.sort()
    p99 = v[min(len(v) - 1, int(round(0.99 * (len(v) - 1))))]
    print(f"{name:10s} p50 {statistics.median(v):8.2f} ms  p99 {p99:8.2f} ms" + (f"  total {r['total']}" if name != 'histogram' else ""))
