#!/usr/bin/env python3
"""Turns the raw outputs of scripts/bench into one table (stdout) and a JSON file.

Usage: report.py RAW_DIR OUT_JSON. RAW_DIR holds <row>.txt (wrk, redis-benchmark or pgbench
output) and <row>.meta ("key=value ..." lines written by scripts/bench).
"""
import json
import os
import re
import sys

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def meta(raw, name):
    path = os.path.join(raw, name + ".meta")
    if not os.path.exists(path):
        return {}
    values = {}
    for word in open(path).read().split():
        key, _, value = word.partition("=")
        values[key] = value
    return values


def millis(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def parse_wrk(text):
    row = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    row["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    if m:
        row["requests"] = int(m.group(1))
        row["seconds"] = float(m.group(2)) * {"s": 1, "ms": 0.001, "m": 60}.get(m.group(3), 1)
    for pct in ("50", "90", "99"):
        m = re.search(r"^\s+%s%%\s+(\S+)" % pct, text, re.M)
        if m:
            row["p%s_ms" % pct] = millis(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    row["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        row["socket_errors"] = sum(int(g) for g in m.groups())
    statuses = {code: int(n) for code, n in re.findall(r"^status (\d+) (\d+)$", text, re.M)}
    if statuses:
        row["statuses"] = statuses
    return row


def parse_redis_benchmark(text):
    # -q prints e.g. "EVALSHA ...: 41237.11 requests per second, p50=2.551 msec"
    m = re.findall(r"([\d.]+) requests per second(?:, p50=([\d.]+) msec)?", text)
    if not m:
        return {"rps": 0.0}
    rps, p50 = m[-1]
    row = {"rps": float(rps)}
    if p50:
        row["p50_ms"] = float(p50)
    return row


def parse_pgbench(text):
    m = re.search(r"tps = ([\d.]+)", text)
    row = {"rps": float(m.group(1)) if m else 0.0}
    m = re.search(r"latency average = ([\d.]+) ms", text)
    if m:
        row["latency_avg_ms"] = float(m.group(1))
    m = re.search(r"number of failed transactions: (\d+)", text)
    if m:
        row["failed"] = int(m.group(1))
    return row


def read(raw, name):
    path = os.path.join(raw, name + ".txt")
    return open(path).read() if os.path.exists(path) else None


def evalsha(m):
    calls, usec = (int(x) for x in m.get("evalsha", "0,0").split(","))
    return calls, usec


def main():
    raw, out = sys.argv[1], sys.argv[2]
    settings = meta(raw, "settings")
    rows = {}
    for name in ("nginx", "health", "sale", "purchase", "soldout", "baseline"):
        text = read(raw, name)
        if text is not None:
            rows[name] = parse_wrk(text)
            rows[name]["meta"] = meta(raw, name)
    for name in ("redis", "redisbatch"):
        if read(raw, name) is not None:
            rows[name] = parse_redis_benchmark(read(raw, name))
            rows[name]["meta"] = meta(raw, name)
    if read(raw, "pgbench") is not None:
        rows["pgbench"] = parse_pgbench(read(raw, "pgbench"))

    tls_text = read(raw, "tls")
    if tls_text is not None:
        for case, fields in re.findall(r"^bench-tls: case=(\w+) (.*)$", tls_text, re.M):
            values = dict(f.split("=", 1) for f in fields.split())
            rows["tls_" + case] = {k: float(v) for k, v in values.items() if re.match(r"^[\d.]+$", v)}

    duration = float(settings.get("duration", "10"))
    for name in ("purchase", "baseline"):
        if name in rows:
            r = rows[name]
            created = r.get("statuses", {}).get("201", 0)
            committed = int(r["meta"].get("orders", "0"))
            r["created_201"] = created
            r["orders_in_postgres"] = committed
            r["every_201_committed"] = committed >= created
            r["purchases_per_second"] = created / r.get("seconds", duration)
            commits = int(r["meta"].get("commits", "0"))
            r["postgres_commits_per_order"] = commits / created if created else None
            calls, usec = evalsha(r["meta"])
            r["redis_script_calls"] = calls
            r["redis_script_usec_per_purchase"] = usec / created if created else None
            r["redis_all_usec_per_purchase"] = int(r["meta"].get("redis_usec", "0")) / created if created else None
    if "soldout" in rows:
        r = rows["soldout"]
        r["rejections_per_second"] = r["statuses"].get("409", 0) / r.get("seconds", duration) if "statuses" in r else 0
        r["redis_script_calls"] = evalsha(r["meta"])[0]
        r["purchase_batches"] = int(r["meta"]["batches"]) if "batches" in r["meta"] else None
        r["oversold"] = int(r["meta"].get("orders", "1")) > 1
    for name in ("redis", "redisbatch"):
        if name in rows:
            r = rows[name]
            calls, usec = evalsha(r["meta"])
            r["purchases_per_call"] = int(r["meta"].get("per_call", "1"))
            r["server_usec_per_call"] = usec / calls if calls else None
            r["server_usec_per_purchase"] = usec / (calls * r["purchases_per_call"]) if calls else None
            r["purchases_per_second"] = r["rps"] * r["purchases_per_call"]

    nginx = rows.get("nginx", {}).get("rps")

    def ratio(value, ref):
        return round(value / ref, 3) if value and ref else None

    def throughput(name):
        r = rows[name]
        if name in ("purchase", "baseline"):
            return r["purchases_per_second"]
        if name == "soldout":
            return r["rejections_per_second"]
        if name == "redisbatch":
            return r["purchases_per_second"]   # purchases decided per second, not calls
        return r["rps"]

    lines = []
    shared = "wrk -t%s -c%s -d%ss on every HTTP row; load generator and servers share %s cores" % (
        settings.get("threads"), settings.get("connections"), settings.get("duration"), settings.get("cores"))
    lines.append("Stampede benchmark (%s) — %s" % (settings.get("commit", "?"), shared))
    lines.append("%-34s %12s %9s %9s %9s" % ("row", "per second", "× nginx", "p50 ms", "p99 ms"))
    labels = {
        "nginx": "nginx return 200",
        "health": "GET /health/live",
        "sale": "GET /v1/sales/{id} (cached)",
        "purchase": "purchases committed (201)",
        "soldout": "sold-out rejections (409)",
        "baseline": "purchases, batch 1 + commit/order",
        "redis": "redis-benchmark EVALSHA purchase",
        "redisbatch": "redis-benchmark EVALSHA, batched",
        "pgbench": "pgbench 1 order row per xact",
    }
    summary = {}
    for name in ("nginx", "health", "sale", "purchase", "soldout", "baseline", "redis", "redisbatch", "pgbench"):
        if name not in rows:
            continue
        r = rows[name]
        value = throughput(name)
        r["ratio_to_nginx"] = ratio(value, nginx) if name != "nginx" else 1.0
        fmt = lambda v: "%.2f" % v if isinstance(v, (int, float)) else "-"
        lines.append("%-34s %12.0f %9s %9s %9s" % (labels[name], value, fmt(r["ratio_to_nginx"]),
                                                    fmt(r.get("p50_ms")), fmt(r.get("p99_ms"))))
        summary[name] = value

    lines.append("")
    if "purchase" in rows:
        p = rows["purchase"]
        lines.append("purchases: %d answered 201, %d orders in PostgreSQL (every 201 committed: %s)" % (
            p["created_201"], p["orders_in_postgres"], "yes" if p["every_201_committed"] else "NO"))
        if "statuses" in p:
            lines.append("  answers by status: %s" % ", ".join("%s=%d" % kv for kv in sorted(p["statuses"].items())))
        checks = []
        if "redis" in rows:
            checks.append(("purchases ÷ redis-benchmark calls/s", ratio(summary["purchase"], rows["redis"]["rps"])))
        if "pgbench" in rows:
            checks.append(("purchases ÷ pgbench orders/s", ratio(summary["purchase"], rows["pgbench"]["rps"])))
        if "baseline" in rows:
            checks.append(("purchases ÷ baseline purchases/s", ratio(summary["purchase"], summary["baseline"])))
        for label, value in checks:
            lines.append("  %-40s %s" % (label, value))
        if p.get("p50_ms") and p.get("p99_ms"):
            lines.append("  %-40s %.2f" % ("purchase p99 ÷ p50", p["p99_ms"] / p["p50_ms"]))
        per = p.get("redis_script_usec_per_purchase")
        single = rows.get("redis", {}).get("server_usec_per_call")
        if per is not None:
            lines.append("  Redis µs per purchase (scripts / all commands): %.2f / %.2f" % (per, p["redis_all_usec_per_purchase"]))
        if per and single:
            lines.append("  Redis µs per purchase ÷ µs of one single-purchase EVALSHA (%.2f): %.3f" % (single, per / single))
        batched = rows.get("redisbatch", {})
        if batched.get("server_usec_per_purchase") and single:
            lines.append("  the same, both from redis-benchmark (%d purchases per call: %.2f µs each): %.3f" % (
                batched["purchases_per_call"], batched["server_usec_per_purchase"],
                batched["server_usec_per_purchase"] / single))
        if p.get("postgres_commits_per_order") is not None:
            lines.append("  PostgreSQL commits per order: %.4f" % p["postgres_commits_per_order"])
        if per:
            isolated = batched.get("server_usec_per_purchase") if single else None
            lines.append("  estimate, one hot sale: one Redis primary carries ~%d purchases/s of script time%s" % (
                1e6 / per, " (~%d at redis-benchmark's µs per batched purchase)" % (1e6 / isolated) if isolated else ""))
        if p.get("postgres_commits_per_order") and "pgbench" in rows:
            lines.append("  estimate, one hot sale: one PostgreSQL primary at this box's %d commits/s carries ~%d orders/s"
                         % (rows["pgbench"]["rps"], rows["pgbench"]["rps"] / p["postgres_commits_per_order"]))
    if "baseline" in rows:
        b = rows["baseline"]
        lines.append("baseline: %d answered 201, %d orders in PostgreSQL, %.3f commits per order" % (
            b["created_201"], b["orders_in_postgres"], b["postgres_commits_per_order"] or 0))
    if "soldout" in rows:
        s = rows["soldout"]
        if s.get("purchase_batches") is not None:
            lines.append("sold-out: %d purchase batches reached Redis during the row (%d EVALSHA in all, the reconciler's "
                         "included); oversold: %s" % (s["purchase_batches"], s["redis_script_calls"], "YES" if s["oversold"] else "no"))
        else:
            lines.append("sold-out: %d script calls reached Redis during the row; oversold: %s" % (
                s["redis_script_calls"], "YES" if s["oversold"] else "no"))
    for case, label in (("tls_keepalive", "keep-alive"), ("tls_new_connection", "a handshake per request")):
        if case in rows and "nginx_rps" in rows[case]:
            r = rows[case]
            lines.append("HTTPS, %s: Stampede %.0f req/s, nginx %.0f req/s (same certificate): %.2f × nginx" % (
                label, r.get("stampede_rps", 0), r["nginx_rps"], r.get("ratio", 0)))
    lines.append("peak RSS of Stampede: %.1f MiB" % (int(settings.get("peak_rss_kb", "0")) / 1024))

    print("\n".join(lines))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"settings": settings, "rows": rows, "table": lines}, f, indent=2, sort_keys=True)
    print("\nwritten: %s" % out)


if __name__ == "__main__":
    main()
