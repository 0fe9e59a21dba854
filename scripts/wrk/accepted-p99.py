#!/usr/bin/env python3
"""Reads two /metrics scrapes (before, after) and prints the count and p50/p99 (bucket upper
bounds) of purchase answers with the given status between them, from
stampede_http_request_duration_seconds. Usage: accepted-p99.py before.txt after.txt [status]"""
import re, sys

def buckets(path, status):
    out = {}
    pattern = re.compile(r'stampede_http_request_duration_seconds_bucket\{(.*)\} (\S+)')
    for line in open(path):
        m = pattern.match(line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if labels.get("route") == "POST /v1/sales/{id}/orders" and labels.get("status") == status:
            le = float("inf") if labels["le"] == "+Inf" else float(labels["le"])
            out[le] = float(m.group(2))
    return out

status = sys.argv[3] if len(sys.argv) > 3 else "201"
before, after = buckets(sys.argv[1], status), buckets(sys.argv[2], status)
delta = sorted((le, after[le] - before.get(le, 0)) for le in after)
total = delta[-1][1] if delta else 0
def q(p):
    for le, c in delta:
        if total and c >= p * total:
            return le * 1000
    return float("nan")
print(f"status={status} count={int(total)} p50_ms<={q(0.5):g} p99_ms<={q(0.99):g}")
