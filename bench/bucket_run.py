#!/usr/bin/env python3
"""One run of scripts/bench-cluster --buckets: a wrk purchase load on one sale split into K buckets,
and what each Redis Cluster primary spent on its purchase scripts.

Before and after the load it reads INFO commandstats of every primary named (--primary PORT) and
takes the difference of cmdstat_evalsha and cmdstat_eval (calls, usec): the scripts' own time,
which includes the commands they run (Redis counts those under their own names as well, so they
are not added again). Then it waits (bounded) until the committed order count stops moving, counts
the orders of each bucket in PostgreSQL (orders.sale_id is the bucket's child sale id `<sale>~N`,
or the sale itself for bucket 0) and finds the primary owning each bucket's hash tag `{<id>}`
(CLUSTER KEYSLOT, then CLUSTER SLOTS; checked against where the bucket's `{<id>}:sale` key is).
Per primary: script calls, usec, the purchases it decided, Redis µs per purchase (usec /
purchases) and the mean batch (purchases per script call); and the derived ceiling of the sale,
Σ over the primaries that decided purchases of 1e6 / µs per purchase. Prints one JSON object.

Exit status 3 when K > 1 and every order landed on the sale itself: the binary ignored `buckets`.
"""
import argparse, json, re, subprocess, sys, time


def redis(port, *command):
    return subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), *command],
                          capture_output=True, text=True, check=True).stdout


def script_stats(port):
    """(calls, usec) of EVALSHA and EVAL on the node at PORT since its start (or last RESETSTAT)."""
    calls, usec = 0, 0
    for line in redis(port, "INFO", "commandstats").splitlines():
        m = re.match(r"cmdstat_(evalsha|eval):calls=(\d+),usec=(\d+)", line)
        if m:
            calls += int(m.group(2))
            usec += int(m.group(3))
    return calls, usec


def main_thread_cpu(port):
    """CPU seconds (user + system) of the main thread of the node at PORT since its start: what
    bounds a primary. Unlike commandstats' usec (wall time inside each command), it does not count
    the time the thread was preempted by the other processes of a busy box."""
    fields = dict(line.split(":", 1) for line in redis(port, "INFO", "cpu").splitlines() if ":" in line)
    return float(fields["used_cpu_user_main_thread"]) + float(fields["used_cpu_sys_main_thread"])


def psql(uri, query):
    return subprocess.run(["psql", uri, "-qtAX", "-F", "\t", "-c", query],
                          capture_output=True, text=True, check=True).stdout


def literal(text):
    return "'" + text.replace("'", "''") + "'"


def orders_by_bucket(uri, sale):
    where = f"sale_id = {literal(sale)} OR starts_with(sale_id, {literal(sale + '~')})"
    out = psql(uri, f"SELECT sale_id, count(*) FROM orders WHERE {where} GROUP BY sale_id")
    counts = {}
    for line in out.splitlines():
        if line.strip():
            sale_id, count = line.split("\t")
            counts[sale_id] = int(count)
    return counts


def slot_owners(port):
    """slot range (first, last) → port of its primary, from CLUSTER SLOTS asked at PORT."""
    # Each entry of the reply: first slot, last slot, then the primary as [host, port, id, …],
    # then each replica the same way.
    out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--json", "CLUSTER", "SLOTS"],
                         capture_output=True, text=True, check=True).stdout
    return [(entry[0], entry[1], int(entry[2][1])) for entry in json.loads(out)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sale", required=True)
    parser.add_argument("--buckets", type=int, required=True)
    parser.add_argument("--run", type=int, required=True)
    parser.add_argument("--primary", type=int, action="append", required=True, help="port of a primary")
    parser.add_argument("--pg-uri", required=True)
    parser.add_argument("--raw", required=True, help="file for wrk's output")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="at most this many seconds after the load for the commits to finish")
    parser.add_argument("wrk", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    wrk = args.wrk[1:] if args.wrk and args.wrk[0] == "--" else args.wrk

    before = {port: script_stats(port) for port in args.primary}
    cpu_before = {port: main_thread_cpu(port) for port in args.primary}
    started = time.monotonic()
    with open(args.raw, "w") as raw:
        subprocess.run(wrk, stdout=raw, stderr=subprocess.STDOUT, check=True)
    elapsed = time.monotonic() - started
    # Purchases decided just before wrk stopped commit a few milliseconds later: wait until the
    # count holds still for 0.5 s (at most --settle seconds) so scripts and orders match.
    last, steady, deadline = -1, 0, time.monotonic() + args.settle
    while time.monotonic() < deadline:
        total = sum(orders_by_bucket(args.pg_uri, args.sale).values())
        steady = steady + 1 if total == last else 0
        if steady >= 2:
            break
        last = total
        time.sleep(0.25)
    after = {port: script_stats(port) for port in args.primary}
    cpu_after = {port: main_thread_cpu(port) for port in args.primary}
    counts = orders_by_bucket(args.pg_uri, args.sale)

    owners = slot_owners(args.primary[0])
    buckets = {}
    for sale_id, count in sorted(counts.items()):
        slot = int(redis(args.primary[0], "CLUSTER", "KEYSLOT", "{" + sale_id + "}").strip())
        port = next((p for first, last_slot, p in owners if first <= slot <= last_slot), None)
        holders = [p for p in args.primary if redis(p, "EXISTS", "{" + sale_id + "}:sale").strip() == "1"]
        if port not in args.primary:
            print(f"bucket_run: {sale_id}: slot {slot} belongs to {port}, not to a primary measured "
                  "(a failover during the run?)", file=sys.stderr)
        elif holders and port not in holders:
            print(f"bucket_run: {sale_id}: slot {slot} belongs to {port} but its sale key is on {holders}",
                  file=sys.stderr)
        buckets[sale_id] = {"orders": count, "slot": slot, "primary": port}

    primaries = {}
    for port in args.primary:
        calls = after[port][0] - before[port][0]
        usec = after[port][1] - before[port][1]
        purchases = sum(b["orders"] for b in buckets.values() if b["primary"] == port)
        primaries[str(port)] = {
            "buckets": sorted(s for s, b in buckets.items() if b["primary"] == port),
            "purchases": purchases,
            "script_calls": calls,
            "script_usec": usec,
            "us_per_purchase": round(usec / purchases, 3) if purchases else None,
            "batch": round(purchases / calls, 2) if purchases and calls else None,
            "main_thread_cpu_us_per_purchase":
                round((cpu_after[port] - cpu_before[port]) * 1e6 / purchases, 3) if purchases else None,
        }
    orders = sum(counts.values())
    text = open(args.raw).read()
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors:.*", text)
    row = {
        "buckets": args.buckets,
        "run": args.run,
        "sale": args.sale,
        "seconds": round(elapsed, 2),
        "orders": orders,
        "orders_per_second": round(orders / elapsed, 1) if elapsed else 0,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(0) if errors else None,
        "buckets_with_orders": len(counts),
        "bucket_orders": buckets,
        "primaries": primaries,
        "ceiling": round(sum(1e6 / p["us_per_purchase"] for p in primaries.values() if p["us_per_purchase"]), 1),
        "cpu_ceiling": round(sum(1e6 / p["main_thread_cpu_us_per_purchase"] for p in primaries.values()
                                 if p["main_thread_cpu_us_per_purchase"]), 1),
    }
    print(json.dumps(row))
    if args.buckets > 1 and orders and list(counts) == [args.sale]:
        print(f"bucket_run: K={args.buckets} but every order of {args.sale} is on the sale itself: "
              "this binary ignores `buckets`", file=sys.stderr)
        return 3
    if args.buckets > 1 and len(counts) < args.buckets:
        print(f"bucket_run: K={args.buckets} but only {len(counts)} buckets of {args.sale} got orders",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
