#!/usr/bin/env python3
"""One row of scripts/bench-cluster: runs a wrk command and measures what each tier spent on it.

CPU is utime+stime from /proc of every process named (a PostgreSQL postmaster counts with all its
children), the load generator's from this process's children rusage; Redis time per primary is the
difference of INFO commandstats' usec (all commands but INFO/CONFIG/CLUSTER). What a row counts as
its unit (committed orders, or requests for the nginx rows) is read after the run with --count,
a shell command printing one integer. Prints one JSON object.
"""
import argparse, json, os, re, resource, subprocess, sys, time

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0


def children(pid):
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        return [int(p) for p in out]
    except OSError:
        return []


def tier_cpu(spec):
    """spec: name=pid or name=tree:pid (the pid and its children)."""
    totals = {}
    for item in spec:
        name, value = item.split("=", 1)
        if value.startswith("tree:"):
            root = int(value[5:])
            pids = [root] + children(root)
        else:
            pids = [int(value)]
        totals[name] = sum(cpu_seconds(p) for p in pids)
    return totals


def redis_usec(address):
    host, port = address.rsplit(":", 1)
    out = subprocess.run(["redis-cli", "-h", host, "-p", port, "INFO", "commandstats"],
                         capture_output=True, text=True).stdout
    usec, calls = 0, 0
    for line in out.splitlines():
        m = re.match(r"cmdstat_([a-z|]+):calls=(\d+),usec=(\d+)", line)
        if m and not m.group(1).startswith(("info", "config", "cluster")):
            usec += int(m.group(3))
            if m.group(1) in ("evalsha", "eval"):
                calls += int(m.group(2))
    return usec, calls


def count(command):
    if command == "wrk":
        return 0  # counted from wrk's own output after the run
    return int(subprocess.run(command, shell=True, capture_output=True, text=True).stdout.strip() or 0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--count", required=True, help="shell command printing the unit count")
    parser.add_argument("--proc", action="append", default=[], help="name=pid or name=tree:pid")
    parser.add_argument("--redis", action="append", default=[], help="name=host:port of a primary")
    parser.add_argument("--redis-count", action="append", default=[],
                        help="name=shell command counting that primary's own units (default: the row's)")
    parser.add_argument("--raw", required=True, help="file for wrk's output")
    parser.add_argument("wrk", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    wrk = args.wrk[1:] if args.wrk and args.wrk[0] == "--" else args.wrk

    own_count = dict(item.split("=", 1) for item in args.redis_count)
    own_before = {name: count(cmd) for name, cmd in own_count.items()}
    units_before = count(args.count)
    cpu_before = tier_cpu(args.proc)
    redis_before = {r.split("=", 1)[0]: redis_usec(r.split("=", 1)[1]) for r in args.redis}
    rusage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with open(args.raw, "w") as raw:
        subprocess.run(wrk, stdout=raw, stderr=subprocess.STDOUT, check=True)
    elapsed = time.monotonic() - started
    rusage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_after = tier_cpu(args.proc)
    redis_after = {r.split("=", 1)[0]: redis_usec(r.split("=", 1)[1]) for r in args.redis}
    units = count(args.count) - units_before
    text = open(args.raw).read()
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if args.count == "wrk":
        units = sum(int(n) for n in re.findall(r"(\d+) requests in", text))
    row = {
        "row": args.name,
        "seconds": round(elapsed, 2),
        "units": units,
        "units_per_second": round(units / elapsed, 1) if elapsed else 0,
        "wrk_requests_per_second": float(m.group(1)) if m else None,
        "cpu_us_per_unit": {},
        "redis_us_per_unit": {},
        "redis_script_calls": {},
    }
    wrk_cpu = (rusage_after.ru_utime - rusage_before.ru_utime) + (rusage_after.ru_stime - rusage_before.ru_stime)
    tiers = dict((name, cpu_after[name] - cpu_before.get(name, 0)) for name in cpu_after)
    tiers["wrk"] = wrk_cpu
    for name, seconds in tiers.items():
        row["cpu_us_per_unit"][name] = round(seconds * 1e6 / units, 2) if units else None
    own_units = {name: count(cmd) - own_before[name] for name, cmd in own_count.items()}
    for name in redis_after:
        usec = redis_after[name][0] - redis_before[name][0]
        calls = redis_after[name][1] - redis_before[name][1]
        mine = own_units.get(name, units)
        row["redis_us_per_unit"][name] = round(usec / mine, 2) if mine else None
        row["redis_script_calls"][name] = calls
    print(json.dumps(row))


if __name__ == "__main__":
    sys.exit(main())
