# shellcheck shell=bash
# PostgreSQL high availability on loopback: one etcd member and three PostgreSQL 15 nodes managed by
# Patroni (synchronous_mode, synchronous_mode_strict, one synchronous standby, pg_rewind), run as the
# unprivileged PostgreSQL user, data under the caller's run folder. Used by scripts/serve --cluster,
# scripts/bench-sync and the failover tests' fixture (Tests/StampedeIntegrationTests/Failover).
# Source it after scripts/lib/services.sh (and scripts/lib/backup.sh for archiving).
#
# Timing (docs/runbooks/disaster-recovery.md, "PostgreSQL failover"): ttl 10 s, loop_wait 2 s,
# retry_timeout 4 s — a kill -9 of the leader's Patroni and postmaster gives a writable new primary in
# about 10 s on this 2-core box (the defaults 30/10/10 took 22–28 s). PATRONI_TTL, PATRONI_LOOP_WAIT
# and PATRONI_RETRY_TIMEOUT override them.
#
# One etcd member is a demonstration only: production runs three (or five) on separate machines, so
# losing one keeps a quorum. failsafe_mode is off: if etcd is lost, the leader cannot renew its key
# and demotes itself (no primary, writes answer 503) until etcd is back; with failsafe_mode on, a
# leader that can still reach every other Patroni member over the REST API stays primary.
#
# Layout under DIR: etcd/ (data, log, pid), nodeN/ (node.yml, data/, patroni.log, patroni.pid,
# pgpass) for N = 1..3. Node N listens on PG port FIRST+N-1 and REST port REST+N-1; etcd on the
# client port ETCD and the peer port ETCD+1.

PATRONI_SCOPE="${PATRONI_SCOPE:-stampede}"
PATRONI_NODES=3
PATRONI_DIR=""
PATRONI_ETCD_PID=""
PATRONI_PIDS=()

# Installs Patroni, etcd and Debian's psycopg2 (with everything Stampede needs).
patroni_install() {
  install_packages patroni etcd-server etcd-client python3-psycopg2 "$@"
  command -v patroni >/dev/null && command -v etcd >/dev/null || die "patroni or etcd not found after install"
}

# patroni_running PIDFILE: whether the pid in PIDFILE is a live Patroni (or etcd) we started.
patroni_running() {
  local pid
  pid="$(cat "$1" 2>/dev/null)" || return 1
  [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qE 'patroni|etcd'
}

# start_etcd DIR CLIENT_PORT: one etcd member (peer port CLIENT_PORT+1), data in DIR.
start_etcd() {
  local dir="$1" port="$2" peer=$(( $2 + 1 ))
  patroni_running "$dir/etcd.pid" && die "an etcd from a previous run still runs (pid $(cat "$dir/etcd.pid")); stop it first"
  port_is_free "$port" || die "port $port (etcd client) is in use; see --etcd-port"
  port_is_free "$peer" || die "port $peer (etcd peer) is in use; see --etcd-port"
  mkdir -p "$dir"
  etcd --name e1 --data-dir "$dir/data" \
    --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "e1=http://127.0.0.1:$peer" --initial-cluster-state new \
    --heartbeat-interval 250 --election-timeout 2500 >"$dir/etcd.log" 2>&1 &
  PATRONI_ETCD_PID=$!
  echo "$PATRONI_ETCD_PID" >"$dir/etcd.pid"
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/health" 2>/dev/null | grep -q '"health":"true"' && return 0
    kill -0 "$PATRONI_ETCD_PID" 2>/dev/null || die "etcd exited; see $dir/etcd.log"
    sleep 0.1
  done
  die "etcd did not become healthy on port $port; see $dir/etcd.log"
}

# patroni_node_yaml N: node N's configuration (stdout).
patroni_node_yaml() {
  local n="$1" pg=$((PATRONI_PG_PORT + $1 - 1)) rest=$((PATRONI_REST_PORT + $1 - 1)) node="$PATRONI_DIR/node$1"
  cat <<YAML
scope: $PATRONI_SCOPE
name: node$n
restapi:
  listen: 127.0.0.1:$rest
  connect_address: 127.0.0.1:$rest
etcd3:
  hosts: 127.0.0.1:$PATRONI_ETCD_PORT
bootstrap:
  dcs:
    ttl: ${PATRONI_TTL:-10}
    loop_wait: ${PATRONI_LOOP_WAIT:-2}
    retry_timeout: ${PATRONI_RETRY_TIMEOUT:-4}
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    synchronous_mode_strict: true
    synchronous_node_count: 1
    failsafe_mode: false
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        wal_log_hints: "on"
        hot_standby: "on"
        hot_standby_feedback: "on"
        max_connections: 200
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 256MB
        synchronous_commit: "on"
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - data-checksums
postgresql:
  listen: 127.0.0.1:$pg
  connect_address: 127.0.0.1:$pg
  data_dir: $node/data
  bin_dir: $PG_BIN
  pgpass: $node/pgpass
  authentication:
    superuser:
      username: stampede
      password: stampede
    replication:
      username: replicator
      password: replicator
    rewind:
      username: stampede
      password: stampede
  parameters:
    shared_buffers: ${PATRONI_SHARED_BUFFERS:-128MB}
    log_min_messages: warning
    unix_socket_directories: '${PATRONI_SOCKET_DIR:-}'
$(patroni_archive_parameters "$node/data")
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
tags:
  nofailover: false
  noloadbalance: false
  clonefrom: false
  nosync: false
YAML
}

# The archiving parameters of a node whose data is in DATA when backups are on (BACKUP_CONF set by
# backup_prepare): pgBackRest's archive-push with that node's own --pg1-path (a relative %p is
# resolved against it), so whichever node is primary archives into the one stanza.
patroni_archive_parameters() {
  [ -n "${BACKUP_CONF:-}" ] || return 0
  cat <<YAML
    archive_mode: "on"
    archive_timeout: 60
    archive_command: 'pgbackrest --config=$BACKUP_CONF --stanza=$BACKUP_STANZA --pg1-path=$1 archive-push %p'
YAML
}

# start_patroni_cluster DIR FIRST_PG_PORT ETCD_PORT REST_PORT: etcd and three Patroni nodes, then
# waits until there is a leader and a synchronous standby and every replica streams, and creates
# the stampede database. Sets PG_URI (writer: target_session_attrs=read-write over all three nodes),
# PG_READER_URI (prefer-standby), PATRONI_PG_PORTS and PATRONI_DIR. With backups on (backup_prepare
# first), PostgreSQL's socket goes to the backup socket folder and every node archives.
start_patroni_cluster() {
  PATRONI_DIR="$1"; PATRONI_PG_PORT="$2"; PATRONI_ETCD_PORT="$3"; PATRONI_REST_PORT="$4"
  ensure_pg_user
  mkdir -p "$PATRONI_DIR"
  grant_traverse "$PATRONI_DIR"
  local n hosts=() pg rest node
  for n in $(seq 1 "$PATRONI_NODES"); do
    pg=$((PATRONI_PG_PORT + n - 1)); rest=$((PATRONI_REST_PORT + n - 1)); node="$PATRONI_DIR/node$n"
    # Never a second Patroni for a running node: before dying on its taken port it rewrites the
    # primary's postgresql.conf and drops synchronous_standby_names (PLATFORM-NOTES).
    patroni_running "$node/patroni.pid" && die "Patroni for node$n still runs (pid $(cat "$node/patroni.pid")); stop it first"
    port_is_free "$pg" || die "port $pg (PostgreSQL node$n) is in use; see --pg-port"
    port_is_free "$rest" || die "port $rest (Patroni REST node$n) is in use; see --patroni-port"
    hosts+=("127.0.0.1:$pg")
  done
  PATRONI_SOCKET_DIR="${BACKUP_SOCKET_DIR:-}"
  start_etcd "$PATRONI_DIR/etcd" "$PATRONI_ETCD_PORT"
  PATRONI_PIDS=()
  local fresh=1
  [ ! -f "$PATRONI_DIR/node1/data/PG_VERSION" ] || fresh=0
  for n in $(seq 1 "$PATRONI_NODES"); do
    patroni_start_node "$n"
    # A new cluster: the first node bootstraps alone, the others clone it once it leads. Kept
    # data (--keep-data): all start together and elect a leader among themselves.
    [ "$n" != 1 ] || [ "$fresh" = 0 ] || patroni_wait_leader 60 || die "node1 did not become the leader; see $PATRONI_DIR/node1/patroni.log"
  done
  patroni_wait_healthy 90 || die "no leader with a synchronous standby and streaming replicas within 90 s; see $PATRONI_DIR/node*/patroni.log"
  local leader; leader="$(patroni_leader_port)"
  psql -h 127.0.0.1 -p "$leader" -U stampede -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='stampede'" | grep -q 1 \
    || psql -h 127.0.0.1 -p "$leader" -U stampede -d postgres -qc "CREATE DATABASE stampede" >/dev/null
  PATRONI_PG_PORTS="$(seq -s ' ' "$PATRONI_PG_PORT" $((PATRONI_PG_PORT + PATRONI_NODES - 1)))"
  local list; list="$(IFS=,; echo "${hosts[*]}")"
  PG_URI="postgresql://stampede@$list/stampede?target_session_attrs=read-write"
  PG_READER_URI="postgresql://stampede@$list/stampede?target_session_attrs=prefer-standby"
}

# patroni_start_node N: writes node N's YAML and starts its Patroni as the PostgreSQL user
# (setsid setpriv: $! is Patroni's own pid); refuses while a Patroni for that node runs.
patroni_start_node() {
  local n="$1" node="$PATRONI_DIR/node$1"
  patroni_running "$node/patroni.pid" && die "Patroni for node$n still runs (pid $(cat "$node/patroni.pid"))"
  port_is_free $((PATRONI_REST_PORT + n - 1)) || die "port $((PATRONI_REST_PORT + n - 1)) (Patroni REST node$n) is in use: is a Patroni for node$n running?"
  port_is_free $((PATRONI_PG_PORT + n - 1)) || die "port $((PATRONI_PG_PORT + n - 1)) (PostgreSQL node$n) is in use"
  mkdir -p "$node"
  patroni_node_yaml "$n" >"$node/node.yml"
  [ "$(id -u)" -ne 0 ] || chown "$PG_OS_USER" "$node" "$node/node.yml"
  chmod 700 "$node"
  local as=()
  [ "$(id -u)" -ne 0 ] || as=(setpriv --reuid="$PG_OS_USER" --regid="$PG_OS_USER" --init-groups)
  # /usr/bin/python3 explicitly: Debian's psycopg2 is for it only. The signal mask is cleared first:
  # a parent that blocks SIGTERM (the Swift test runner does) would pass that on, and Patroni would
  # never see the SIGTERM that stops it cleanly.
  setsid ${as[@]+"${as[@]}"} /usr/bin/python3 -c 'import os, signal, sys
signal.pthread_sigmask(signal.SIG_SETMASK, [])
os.execv("/usr/bin/python3", ["/usr/bin/python3", "/usr/bin/patroni", sys.argv[1]])' "$node/node.yml" >>"$node/patroni.log" 2>&1 &
  PATRONI_PIDS[$n]=$!
  echo "$!" >"$node/patroni.pid"
}

# The REST API's view of the cluster: "name role state port" per member, role leader,
# sync_standby or replica (empty output when no member answers).
patroni_members() {
  local n body
  for n in $(seq 1 "$PATRONI_NODES"); do
    body="$(curl -fsS --max-time 2 "http://127.0.0.1:$((PATRONI_REST_PORT + n - 1))/cluster" 2>/dev/null)" || continue
    printf '%s' "$body" | /usr/bin/python3 -c '
import json, sys
for m in json.load(sys.stdin).get("members", []):
    print(m.get("name"), m.get("role"), m.get("state"), m.get("port"), m.get("timeline", ""))'
    return 0
  done
  return 0
}

# The PostgreSQL port of the current leader (empty when there is none).
patroni_leader_port() { patroni_members | awk '$2 == "leader" && $3 == "running" { print $4; exit }'; }

patroni_wait_leader() {
  local seconds="$1"
  for _ in $(seq 1 $((seconds * 5))); do
    [ -n "$(patroni_leader_port)" ] && return 0
    sleep 0.2
  done
  return 1
}

# patroni_wait_healthy SECONDS: a running leader, a synchronous standby that is streaming, and
# every member running (replicas streaming), as the REST API and the leader's pg_stat_replication say.
patroni_wait_healthy() {
  local seconds="$1" members leader
  for _ in $(seq 1 $((seconds * 4))); do
    members="$(patroni_members)"
    leader="$(awk '$2 == "leader" && $3 == "running" { print $4 }' <<<"$members")"
    if [ -n "$leader" ] && grep -q ' sync_standby \(running\|streaming\) ' <<<"$members" \
       && [ "$(awk '$3 == "running" || $3 == "streaming"' <<<"$members" | wc -l)" = "$PATRONI_NODES" ] \
       && [ "$(psql -h 127.0.0.1 -p "$leader" -U stampede -d postgres -tAc \
              "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync' AND state = 'streaming'" 2>/dev/null)" = 1 ]; then
      return 0
    fi
    sleep 0.25
  done
  log "cluster members: $(tr '\n' ';' <<<"$members")"
  return 1
}

# patronictl against this cluster.
patroni_ctl() { patronictl -c "$PATRONI_DIR/node1/node.yml" "$@"; }

# patroni_enable_backups: after start_patroni_cluster with backups prepared — pgBackRest's
# configuration names all three nodes (pg1…pg3: a backup runs against whichever is primary), the
# stanza, and a passing `pgbackrest check`. No pg_receivewal: Patroni owns synchronous_standby_names,
# and its synchronous standby is what keeps a confirmed commit when the primary's disk is lost.
patroni_enable_backups() {
  local sysid n
  sysid="$(backup_system_identifier "$PATRONI_DIR/node1/data")"
  [ -n "$sysid" ] || die "cannot read the system identifier of $PATRONI_DIR/node1/data"
  backup_configure "$sysid" "$PATRONI_PG_PORT" "$PATRONI_DIR/node1/data"
  for n in $(seq 2 "$PATRONI_NODES"); do
    printf 'pg%s-path=%s\npg%s-port=%s\npg%s-socket-path=%s\npg%s-user=stampede\n' \
      "$n" "$PATRONI_DIR/node$n/data" "$n" $((PATRONI_PG_PORT + n - 1)) "$n" "$BACKUP_SOCKET_DIR" "$n" >>"$BACKUP_CONF"
  done
  echo "$PATRONI_DIR" >"$BACKUP_ROOT/patroni"
  backup_own "$BACKUP_ROOT"
  backup_pgbackrest stanza-create >"$BACKUP_DIR/log/stanza-create.out" 2>&1 \
    || die "pgbackrest stanza-create failed; see $BACKUP_DIR/log/stanza-create.out"
  backup_pgbackrest check >"$BACKUP_DIR/log/check.out" 2>&1 \
    || die "pgbackrest check failed; see $BACKUP_DIR/log/check.out"
}

# patroni_kill_node N: kill -9 of node N's Patroni and its postmaster (a crashed machine).
patroni_kill_node() {
  local node="$PATRONI_DIR/node$1" pid postmaster
  pid="$(cat "$node/patroni.pid" 2>/dev/null)" || true
  postmaster="$(head -1 "$node/data/postmaster.pid" 2>/dev/null)" || true
  [ -z "$pid" ] || kill -9 "$pid" 2>/dev/null || true
  [ -z "$postmaster" ] || kill -9 "$postmaster" 2>/dev/null || true
}

# patroni_node_of_port PORT: the node number listening on PostgreSQL port PORT.
patroni_node_of_port() { echo $(( $1 - PATRONI_PG_PORT + 1 )); }

# Stops every node (replicas first, then the leader: a leader stopped first would hand its role to
# a replica about to stop), then etcd. Never fails (EXIT traps): a node that does not stop within
# 30 s is killed, and its PostgreSQL stopped immediately.
stop_patroni_cluster() {
  [ -n "${PATRONI_DIR:-}" ] || return 0
  local leader n order=() pid
  leader="$(patroni_leader_port 2>/dev/null)"
  for n in $(seq 1 "$PATRONI_NODES"); do
    [ "$((PATRONI_PG_PORT + n - 1))" = "$leader" ] || order+=("$n")
  done
  [ -z "$leader" ] || order+=("$(patroni_node_of_port "$leader")")
  for n in "${order[@]}"; do
    patroni_stop_node "$n"
  done
  pid="$(cat "$PATRONI_DIR/etcd/etcd.pid" 2>/dev/null)" || true
  if patroni_running "$PATRONI_DIR/etcd/etcd.pid"; then stop_processes "$pid"; fi
  rm -f "$PATRONI_DIR/etcd/etcd.pid"
  PATRONI_DIR=""
  return 0
}

# patroni_stop_node N: SIGTERM to node N's Patroni (it stops PostgreSQL), kill after 30 s.
patroni_stop_node() {
  local node="$PATRONI_DIR/node$1" pid
  if patroni_running "$node/patroni.pid"; then
    pid="$(cat "$node/patroni.pid")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$node/patroni.pid"
  if [ -f "$node/data/postmaster.pid" ]; then
    as_pg_user "$PG_BIN/pg_ctl" -D "$node/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  return 0
}

# patroni_fixture COMMAND DIR PG ETCD REST [N]: for the failover tests' fixture, which drives one
# cluster from several shells — start (the whole cluster), start-node N, wait-healthy, stop.
patroni_fixture() {
  local command="$1"
  PATRONI_DIR="$2"; PATRONI_PG_PORT="$3"; PATRONI_ETCD_PORT="$4"; PATRONI_REST_PORT="$5"
  case "$command" in
    start) start_patroni_cluster "$2" "$3" "$4" "$5" ;;
    start-node) patroni_start_node "$6" ;;
    wait-healthy) patroni_wait_healthy "${6:-90}" || die "the cluster in $2 is not healthy" ;;
    stop) stop_patroni_cluster ;;
    *) die "patroni_fixture: unknown command $command" ;;
  esac
}

# stop_patroni_dir DIR: stops a cluster another process started in DIR (its ports read back from
# node1's node.yml), by its pid files; for leftovers of a test process that died. Never fails.
stop_patroni_dir() {
  [ -f "$1/node1/node.yml" ] || return 0
  PATRONI_DIR="$1"
  PATRONI_PG_PORT="$(sed -n '/^postgresql:/,$ s/^  listen: 127.0.0.1:\([0-9]*\)$/\1/p' "$1/node1/node.yml" | head -1)"
  PATRONI_REST_PORT="$(sed -n '/^restapi:/,/^[a-z]/ s/^  listen: 127.0.0.1:\([0-9]*\)$/\1/p' "$1/node1/node.yml" | head -1)"
  [ -n "$PATRONI_PG_PORT" ] && [ -n "$PATRONI_REST_PORT" ] || { PATRONI_PG_PORT=0; PATRONI_REST_PORT=0; }
  stop_patroni_cluster
}
