# shellcheck shell=bash
# HAProxy in front of several Stampede instances: the run-time copy of Config/haproxy.cfg, HAProxy's
# start and stop, and draining an instance through the runtime API. Used by scripts/serve --cluster,
# scripts/fleet-instance and the Fleet tests. Source it after scripts/lib/services.sh.

# write_haproxy_config OUT HOST:PORT…: Config/haproxy.cfg with each `# BEGIN servers` … `# END
# servers` block replaced by one server per instance (s1, s2, … in the order given); the
# `purchases` block's servers track their twins in `stampede`, and a bucketed sale's bucket lanes
# (crc32(sale) + bucket mod N) are pinned to them, one `use-server` each.
write_haproxy_config() {
  local out="$1"; shift
  FLEET_SERVERS="$*" awk '
    /^backend / { backend = $2 }
    /^[ \t]*# BEGIN servers$/ {
      print
      n = split(ENVIRON["FLEET_SERVERS"], addresses, " ")
      for (i = 1; i <= n; i++) {
        line = "    server s" i " " addresses[i]
        if (backend == "purchases") line = line " track stampede/s" i
        print line
      }
      if (backend == "purchases") {
        print "    http-request set-var(txn.lane) var(txn.sale),crc32,add(txn.bucket),mod(" n ") if { var(txn.buckets) -m int gt 1 }"
        for (i = 1; i <= n; i++) print "    use-server s" i " if { var(txn.lane) -m int eq " (i - 1) " }"
      }
      skipping = 1
      next
    }
    /^[ \t]*# END servers$/ { skipping = 0 }
    !skipping { print }
  ' "$STAMPEDE_ROOT/Config/haproxy.cfg" >"$out"
}

# start_haproxy CONFIG PIDFILE LOG: starts HAProxy in the foreground of a background job (master-worker
# off), checks the config first, and waits until the balancer's address (STAMPEDE_LISTEN) accepts.
# Sets HAPROXY_PID. STAMPEDE_HAPROXY_SOCKET and STAMPEDE_HAPROXY_ERRORS must be exported.
start_haproxy() {
  local config="$1" pidfile="$2" logfile="$3"
  haproxy -c -q -f "$config" || die "haproxy -c refused $config"
  haproxy -db -f "$config" -p "$pidfile" >"$logfile" 2>&1 &
  HAPROXY_PID=$!
  local port="${STAMPEDE_LISTEN##*:}"
  for _ in $(seq 1 100); do
    port_is_free "$port" || return 0
    kill -0 "$HAPROXY_PID" 2>/dev/null || die "haproxy exited during start; see $logfile"
    sleep 0.1
  done
  die "haproxy did not listen on $STAMPEDE_LISTEN; see $logfile"
}

stop_haproxy() {
  [ -z "${HAPROXY_PID:-}" ] || stop_processes "$HAPROXY_PID"
  HAPROXY_PID=""
}

# haproxy_command SOCKET COMMAND…: one runtime API command; prints HAProxy's answer.
haproxy_command() {
  local socket="$1"; shift
  echo "$*" | socat -t 2 stdio "UNIX-CONNECT:$socket"
}

# haproxy_server_sessions SOCKET SERVER: the server's current sessions summed over both backends.
haproxy_server_sessions() {
  haproxy_command "$1" "show stat" | awk -F, -v s="$2" '($1 == "stampede" || $1 == "purchases") && $2 == s { n += $5 } END { print n + 0 }'
}

# drain_and_stop_instance SOCKET SERVER PID [TIMEOUT_S]: marks the instance `drain` in HAProxy (no new
# request is sent to it; the `purchases` twin follows through `track`), waits until HAProxy holds no
# session on it (at most TIMEOUT_S, default 10 s), then SIGTERMs it (Stampede finishes what it has
# in flight) and waits for it to exit.
drain_and_stop_instance() {
  local socket="$1" server="$2" pid="$3" timeout="${4:-10}"
  local answer
  answer="$(haproxy_command "$socket" "set server stampede/$server state drain")"
  [ -z "$answer" ] || die "haproxy refused to drain $server: $answer"
  local deadline=$((SECONDS + timeout))
  while [ "$SECONDS" -lt "$deadline" ]; do
    [ "$(haproxy_server_sessions "$socket" "$server")" = 0 ] && break
    sleep 0.1
  done
  kill -TERM "$pid" 2>/dev/null || return 0
  while process_is_running "$pid"; do sleep 0.1; done
}

# process_is_running PID: true while PID exists and is not a zombie (a child not yet waited for).
process_is_running() {
  local state
  state="$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}
