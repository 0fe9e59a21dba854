#!/usr/bin/env python3
"""Turns the raw outputs of scripts/bench into one table (stdout) and a JSON file.

Usage: report.py [--ab] RAW_DIR OUT_JSON. RAW_DIR holds <row>.txt (wrk, redis-benchmark or pgbench
output), <row>.meta ("key=value ..." lines written by scripts/bench) and <row>.cpu (the CPU in µs
each process spent during the row: stampede_usec, redis_usec, postgres_usec, nginx_usec, wrk_usec).
With --ab, RAW_DIR holds the rows of scripts/bench --ab (ab-<old|new>-<run>-<sale|purchase>) and the
report is the A/B comparison.
"""
import json
import os
import re
import statistics
import sys

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def meta(raw, name, suffix=".meta"):
    path = os.path.join(raw, name + suffix)
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


# The targets of issue 20 for the CPU row: (label, key in the summary, comparison, target).
TARGETS = [
    ("Stampede CPU per purchase ÷ per cached GET", "stampede_purchase_per_get", "<=", 2.0),
    ("PostgreSQL CPU per order (µs)", "postgres_usec_per_order", "<=", 15.0),
    ("Redis CPU per purchase (µs)", "redis_usec_per_purchase", "<=", 6.0),
    ("purchases ÷ nginx", "purchase_to_nginx", ">=", 0.35),
    ("cached GET ÷ nginx", "sale_to_nginx", ">=", 1.0),
    ("sold-out answers ÷ nginx", "soldout_to_nginx", ">=", 0.9),
]

PROCESSES = ("stampede", "redis", "postgres", "wrk", "nginx")


def answers(name, r):
    """How many answers a row's CPU is divided by: committed purchases (201) for a purchase row,
    409s for the sold-out row, every request for the others."""
    statuses = r.get("statuses", {})
    if name.endswith("purchase") or name == "baseline":
        return statuses.get("201", 0)
    if name == "soldout":
        return statuses.get("409", 0)
    return r.get("requests", 0)


def cpu_per_answer(raw, name, r):
    """µs of CPU per answer for each process measured around the row (None when unmeasured)."""
    cpu = meta(raw, name, ".cpu")
    n = answers(name, r)
    if not cpu or not n:
        return None
    return {p: int(cpu[p + "_usec"]) / n for p in PROCESSES if (p + "_usec") in cpu}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main_ab(raw, out):
    """scripts/bench --ab: medians over the runs of each binary, and new ÷ old."""
    settings = meta(raw, "settings")
    per = {"old": {"sale": [], "purchase": [], "postgres": [], "redis": [], "purchase_rps": [], "sale_rps": []},
           "new": {"sale": [], "purchase": [], "postgres": [], "redis": [], "purchase_rps": [], "sale_rps": []}}
    runs = []
    for run in range(1, int(settings.get("runs", "3")) + 1):
        for side in ("old", "new"):
            sale_name, buy_name = "ab-%s-%d-sale" % (side, run), "ab-%s-%d-purchase" % (side, run)
            if read(raw, sale_name) is None or read(raw, buy_name) is None:
                continue
            sale, buy = parse_wrk(read(raw, sale_name)), parse_wrk(read(raw, buy_name))
            sale_cpu, buy_cpu = cpu_per_answer(raw, sale_name, sale), cpu_per_answer(raw, buy_name, buy)
            created = buy.get("statuses", {}).get("201", 0)
            committed = int(meta(raw, buy_name).get("orders", "0"))
            row = {"run": run, "side": side, "get_rps": sale["rps"], "purchases_per_second": created / buy.get("seconds", 1),
                   "created_201": created, "orders_in_postgres": committed, "every_201_committed": committed >= created,
                   "cpu_usec_per_get": sale_cpu, "cpu_usec_per_purchase": buy_cpu}
            runs.append(row)
            per[side]["sale"].append(sale_cpu and sale_cpu["stampede"])
            per[side]["purchase"].append(buy_cpu and buy_cpu["stampede"])
            per[side]["postgres"].append(buy_cpu and buy_cpu["postgres"])
            per[side]["redis"].append(buy_cpu and buy_cpu["redis"])
            per[side]["purchase_rps"].append(row["purchases_per_second"])
            per[side]["sale_rps"].append(sale["rps"])
    lines = ["Stampede A/B (%s) — old %s, new %s; wrk -t%s -c%s -d%ss, %s runs each, alternated" % (
        settings.get("commit", "?"), settings.get("old"), settings.get("new"), settings.get("threads"),
        settings.get("connections"), settings.get("duration"), settings.get("runs"))]
    lines.append("%-4s %-4s %14s %16s %14s %12s %10s %12s" % (
        "run", "side", "µs/GET (Stm)", "µs/purchase (Stm)", "PG µs/order", "Redis µs/p", "GET/s", "purchases/s"))
    fmt = lambda v: "%.2f" % v if isinstance(v, (int, float)) else "-"
    for row in runs:
        g, b = row["cpu_usec_per_get"] or {}, row["cpu_usec_per_purchase"] or {}
        lines.append("%-4d %-4s %14s %16s %14s %12s %10.0f %12.0f%s" % (
            row["run"], row["side"], fmt(g.get("stampede")), fmt(b.get("stampede")), fmt(b.get("postgres")),
            fmt(b.get("redis")), row["get_rps"], row["purchases_per_second"],
            "" if row["every_201_committed"] else "  (a 201 NOT in PostgreSQL!)"))
    summary = {side: {key: median(values) for key, values in per[side].items()} for side in per}
    lines.append("")
    lines.append("%-44s %10s %10s %10s" % ("medians", "old", "new", "new ÷ old"))
    for key, label in (("sale", "Stampede CPU µs per cached GET"), ("purchase", "Stampede CPU µs per purchase"),
                       ("postgres", "PostgreSQL CPU µs per order"), ("redis", "Redis CPU µs per purchase"),
                       ("sale_rps", "cached GETs per second"), ("purchase_rps", "purchases per second")):
        old, new = summary["old"][key], summary["new"][key]
        lines.append("%-44s %10s %10s %10s" % (label, fmt(old), fmt(new), fmt(new / old if old and new else None)))
    # Each run's new ÷ old from its two adjacent rows: the box's load drifts between runs, so a
    # pair measured back to back is the steadier comparison; its median beside the medians' ratio.
    paired = {}
    for key, label in (("cpu_usec_per_get", "cached GET"), ("cpu_usec_per_purchase", "purchase")):
        ratios = []
        for run in sorted({row["run"] for row in runs}):
            sides = {row["side"]: row for row in runs if row["run"] == run}
            old, new = (sides.get(side, {}).get(key) or {} for side in ("old", "new"))
            if old.get("stampede") and new.get("stampede"):
                ratios.append(new["stampede"] / old["stampede"])
        if ratios:
            paired[label] = median(ratios)
            lines.append("%-55s %10s" % ("Stampede CPU per %s, median of the runs' new ÷ old" % label, fmt(paired[label])))
    floor = {"paired": paired}
    if summary["old"]["purchase"] and summary["new"]["purchase"]:
        floor["purchase_ratio"] = summary["new"]["purchase"] / summary["old"]["purchase"]
        lines.append("floor: Stampede CPU per purchase new ÷ old %.3f (target ≤ 0.6: %s)" % (
            floor["purchase_ratio"], "met" if floor["purchase_ratio"] <= 0.6 else "NOT met"))
    if summary["old"]["sale"] and summary["new"]["sale"]:
        floor["get_ratio"] = summary["new"]["sale"] / summary["old"]["sale"]
        lines.append("floor: Stampede CPU per cached GET new ÷ old %.3f (target ≤ 1.0: %s)" % (
            floor["get_ratio"], "met" if floor["get_ratio"] <= 1.0 else "NOT met"))
    if not all(row["every_201_committed"] for row in runs):
        lines.append("A 201 WITHOUT ITS ORDER IN POSTGRESQL: see the rows above")
    print("\n".join(lines))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"settings": settings, "runs": runs, "medians": summary, "floor": floor, "table": lines},
                  f, indent=2, sort_keys=True)
    print("\nwritten: %s" % out)


def main():
    if sys.argv[1] == "--ab":
        return main_ab(sys.argv[2], sys.argv[3])
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

    # The CPU row: each process's CPU during the row, per answer that counts (purchases: 201s).
    cpu_rows = [(name, cpu_per_answer(raw, name, rows[name])) for name in ("nginx", "health", "sale", "purchase", "soldout", "baseline")
                if name in rows]
    cpu_rows = [(name, cpu) for name, cpu in cpu_rows if cpu]
    cpu_summary = {}
    if cpu_rows:
        lines.append("")
        lines.append("CPU µs per answer (utime+stime during the row ÷ answers; purchases: per 201)")
        lines.append("%-34s" % "row" + "".join("%11s" % p for p in PROCESSES))
        for name, cpu in cpu_rows:
            rows[name]["cpu_usec_per_answer"] = cpu
            lines.append("%-34s" % labels[name] + "".join(
                "%11s" % ("%.2f" % cpu[p] if cpu.get(p) else "-") for p in PROCESSES))
        get = rows.get("sale", {}).get("cpu_usec_per_answer")
        buy = rows.get("purchase", {}).get("cpu_usec_per_answer")
        if get and buy and get.get("stampede"):
            cpu_summary["stampede_purchase_per_get"] = buy["stampede"] / get["stampede"]
        if buy:
            cpu_summary["postgres_usec_per_order"] = buy.get("postgres")
            cpu_summary["redis_usec_per_purchase"] = buy.get("redis")
    for name in ("purchase", "sale", "soldout"):
        if name in rows and rows[name].get("ratio_to_nginx") is not None:
            cpu_summary[name + "_to_nginx"] = rows[name]["ratio_to_nginx"]
    if cpu_summary:
        lines.append("targets (issue 20), this run:")
        for label, key, op, target in TARGETS:
            value = cpu_summary.get(key)
            if value is None:
                continue
            met = value <= target if op == "<=" else value >= target
            lines.append("  %-44s %8.2f   target %s %.2f: %s" % (label, value, "≤" if op == "<=" else "≥", target,
                                                                  "met" if met else "not met"))

    print("\n".join(lines))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"settings": settings, "rows": rows, "cpu_targets": cpu_summary, "table": lines}, f, indent=2, sort_keys=True)
    print("\nwritten: %s" % out)


if __name__ == "__main__":
    main()
