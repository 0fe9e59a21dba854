# shellcheck shell=bash
# Shared set-up for scripts/serve, scripts/test and scripts/bench: installs what is missing,
# starts Redis and PostgreSQL as local processes on loopback with data under .run/, and stops them.
# Source it; do not run it.

STAMPEDE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_OS_USER="${PG_OS_USER:-stampede-pg}"
# Connections of every PostgreSQL these scripts start: the primary, its replica and a restore of
# its backups (a standby or a restore refuses to run with fewer than the primary it follows had).
# The test suites run many Stampede instances at once, each with its own pools.
PG_MAX_CONNECTIONS="${PG_MAX_CONNECTIONS:-300}"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# lock_run_dir DIR WHAT: takes an exclusive lock (flock) on DIR.lock for the rest of this script
# and of every process it starts (they inherit it), or dies naming the holder: a second run of the
# same checkout must never remove or reuse DIR while another one's servers run from it. Call it
# before touching DIR. WHAT names the holder in the lock file (its options, its ports).
lock_run_dir() {
  local dir="$1" what="$2" lock="$1.lock" holder
  mkdir -p "$(dirname "$dir")"
  exec {RUN_DIR_LOCK_FD}>>"$lock"
  if ! flock -n "$RUN_DIR_LOCK_FD"; then
    holder="$(cat "$lock" 2>/dev/null)"
    die "${dir#"$STAMPEDE_ROOT"/} is in use by another run of this checkout (${holder:-unknown}); its Redis and PostgreSQL data stay untouched. Stop that run first (servers it left behind hold the lock too: fuser -v $lock), or give this one its own folder"
  fi
  printf 'pid %s: %s\n' "$$" "$what" >"$lock"
}

# Installs every Debian package Stampede needs that is not installed yet (apt-get update first).
install_packages() {
  local wanted=(redis-server redis-tools libhiredis-dev postgresql postgresql-contrib libpq-dev
                libssl-dev pkg-config curl ca-certificates procps acl "$@")
  local missing=()
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
      || die "apt-get install failed for: ${missing[*]}"
  fi
  [ -x "$PG_BIN/initdb" ] || die "PostgreSQL binaries not found in $PG_BIN"
  command -v redis-server >/dev/null || die "redis-server not found after install"
}

# Makes sure an unprivileged OS user exists to run PostgreSQL (it refuses to run as root).
ensure_pg_user() {
  if [ "$(id -u)" -ne 0 ]; then PG_OS_USER="$(id -un)"; return; fi
  id "$PG_OS_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_OS_USER"
}

# grant_traverse DIR: lets $PG_OS_USER reach DIR when the checkout sits below folders it may not
# enter (a clone in `mktemp -d`, a home folder). Each blocking folder gets search permission for
# that one user (an ACL: no listing, nobody else), or o+x where the file system has no ACLs.
grant_traverse() {
  [ "$(id -u)" -eq 0 ] || return 0
  local target path="" part
  target="$(cd "$1" && pwd)"
  local IFS=/
  for part in ${target#/}; do
    path="$path/$part"
    if ! runuser -u "$PG_OS_USER" -- test -x "$path" 2>/dev/null; then
      setfacl -m "u:$PG_OS_USER:x" "$path" 2>/dev/null || chmod o+x "$path"
      log "granted $PG_OS_USER search permission on $path (PostgreSQL's data lives below it)"
    fi
  done
}

as_pg_user() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u "$PG_OS_USER" -- "$@"; else "$@"; fi
}

port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_redis PORT DIR: Redis on 127.0.0.1:PORT, appendonly, data in DIR. Sets REDIS_PID.
start_redis() {
  local port="$1" dir="$2"
  port_is_free "$port" || die "port $port (Redis) is already in use; set another with the script's --redis-port"
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly yes \
    --appendfsync everysec --daemonize no --logfile "$dir/redis.log" --protected-mode yes &
  REDIS_PID=$!
  for _ in $(seq 1 100); do
    redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG && return 0
    kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server exited; see $dir/redis.log"
    sleep 0.1
  done
  die "Redis did not become ready on port $port"
}

# start_postgres PORT DIR: a PostgreSQL cluster in DIR on 127.0.0.1:PORT, run as $PG_OS_USER,
# with a database and superuser role named stampede (trust auth on loopback only). Sets PG_URI.
start_postgres() {
  local port="$1" dir="$2"
  port_is_free "$port" || die "port $port (PostgreSQL) is already in use; set another with the script's --pg-port"
  ensure_pg_user
  mkdir -p "$dir"
  grant_traverse "$(dirname "$dir")"
  chown "$PG_OS_USER" "$dir" 2>/dev/null || true
  chmod 700 "$dir"
  if [ ! -f "$dir/PG_VERSION" ]; then
    as_pg_user "$PG_BIN/initdb" -D "$dir" -U stampede --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/../initdb.log" 2>&1 \
      || die "initdb failed; see $dir/../initdb.log"
  fi
  as_pg_user "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/postgres.log" -w -t 60 \
    -o "-h 127.0.0.1 -p $port -k '' -c max_connections=$PG_MAX_CONNECTIONS -c shared_buffers=256MB -c fsync=on -c synchronous_commit=on -c log_min_messages=warning ${PG_EXTRA_OPTS:-}" \
    start >/dev/null || die "PostgreSQL did not start; see $dir/postgres.log"
  PG_DATA_DIR="$dir"
  for _ in $(seq 1 100); do
    "$PG_BIN/pg_isready" -h 127.0.0.1 -p "$port" -q && break
    sleep 0.1
  done
  psql -h 127.0.0.1 -p "$port" -U stampede -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='stampede'" | grep -q 1 \
    || psql -h 127.0.0.1 -p "$port" -U stampede -d postgres -qc "CREATE DATABASE stampede" >/dev/null
  PG_URI="postgresql://stampede@127.0.0.1:$port/stampede"
}

# start_postgres_replica PRIMARY_PORT PORT DIR: a streaming replica of the primary on
# 127.0.0.1:PORT, data in DIR (pg_basebackup -R as $PG_OS_USER: it writes standby.signal and
# primary_conninfo), hot standby so it serves reads. Sets PG_REPLICA_URI.
start_postgres_replica() {
  local primary="$1" port="$2" dir="$3"
  port_is_free "$port" || die "port $port (PostgreSQL replica) is already in use; set another with the script's --pg-replica-port"
  ensure_pg_user
  mkdir -p "$(dirname "$dir")"
  grant_traverse "$(dirname "$dir")"
  if [ ! -f "$dir/PG_VERSION" ]; then
    rm -rf "$dir"; mkdir -p "$dir"; chown "$PG_OS_USER" "$dir" 2>/dev/null || true; chmod 700 "$dir"
    as_pg_user "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$primary" -U stampede -D "$dir" -R -X stream \
      -c fast >"$dir/../basebackup.log" 2>&1 || die "pg_basebackup failed; see $dir/../basebackup.log"
  fi
  as_pg_user "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/postgres.log" -w -t 60 \
    -o "-h 127.0.0.1 -p $port -k '' -c max_connections=$PG_MAX_CONNECTIONS -c hot_standby=on -c hot_standby_feedback=on -c log_min_messages=warning" \
    start >/dev/null || die "PostgreSQL replica did not start; see $dir/postgres.log"
  PG_REPLICA_DATA_DIR="$dir"
  for _ in $(seq 1 100); do
    [ "$(psql -h 127.0.0.1 -p "$port" -U stampede -d stampede -tAc 'SELECT pg_is_in_recovery()' 2>/dev/null)" = t ] && break
    sleep 0.1
  done
  [ "$(psql -h 127.0.0.1 -p "$port" -U stampede -d stampede -tAc 'SELECT pg_is_in_recovery()' 2>/dev/null)" = t ] \
    || die "the replica on port $port is not serving reads in recovery; see $dir/postgres.log"
  PG_REPLICA_URI="postgresql://stampede@127.0.0.1:$port/stampede"
}

# The stop_* functions never fail: they run from EXIT traps under `set -e`, where one failing stop
# (Redis's exit status after SIGTERM, say) would end the trap and leave the other servers running.
stop_postgres_replica() {
  if [ -n "${PG_REPLICA_DATA_DIR:-}" ]; then
    as_pg_user "$PG_BIN/pg_ctl" -D "$PG_REPLICA_DATA_DIR" -m fast -w stop >/dev/null 2>&1 \
      || log "warning: the PostgreSQL replica in $PG_REPLICA_DATA_DIR did not stop cleanly"
  fi
  PG_REPLICA_DATA_DIR=""
}

stop_postgres() {
  if [ -n "${PG_DATA_DIR:-}" ]; then
    as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DATA_DIR" -m fast -w stop >/dev/null 2>&1 \
      || log "warning: PostgreSQL in $PG_DATA_DIR did not stop cleanly"
  fi
  PG_DATA_DIR=""
}

stop_redis() {
  [ -z "${REDIS_PID:-}" ] || stop_processes "$REDIS_PID"
  REDIS_PID=""
}

# Swift build with the machine's toolchain; SWIFT_BUILD_FLAGS may add flags.
swift_bin() {
  command -v swift >/dev/null && { echo swift; return; }
  [ -x /opt/swift/usr/bin/swift ] && { echo /opt/swift/usr/bin/swift; return; }
  die "swift toolchain not found"
}

# start_redis_cluster FIRST_PORT DIR [NODE_TIMEOUT_MS]: a Redis Cluster of 3 primaries and 3
# replicas on 127.0.0.1:FIRST_PORT … FIRST_PORT+5 (bus ports +10000), AOF on, each node's data in
# DIR/PORT. `cluster-node-timeout` defaults to 5000 ms: a shorter one makes a busy 2-core box fail
# over nodes nobody killed. Waits for `cluster_state:ok` and every slot covered. Sets
# REDIS_CLUSTER_NODES (host:port,… of every node), REDIS_CLUSTER_PIDS and REDIS_CLUSTER_DIR.
start_redis_cluster() {
  local first="$1" dir="$2" timeout="${3:-5000}" port addresses=() pids=()
  mkdir -p "$dir"
  for port in $(seq "$first" $((first + 5))); do
    port_is_free "$port" || die "port $port (Redis Cluster) is already in use; choose other ports"
    port_is_free $((port + 10000)) || die "port $((port + 10000)) (Redis Cluster bus) is already in use"
  done
  for port in $(seq "$first" $((first + 5))); do
    mkdir -p "$dir/$port"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir/$port" --cluster-enabled yes \
      --cluster-config-file nodes.conf --cluster-node-timeout "$timeout" --appendonly yes \
      --appendfsync everysec --save '' --daemonize no --logfile "$dir/$port/redis.log" \
      --pidfile "$dir/$port/redis.pid" --protected-mode yes &
    pids+=($!)
    addresses+=("127.0.0.1:$port")
  done
  REDIS_CLUSTER_PIDS="${pids[*]}"
  REDIS_CLUSTER_DIR="$dir"
  for port in $(seq "$first" $((first + 5))); do
    local ready=0
    for _ in $(seq 1 100); do
      redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG && { ready=1; break; }
      sleep 0.1
    done
    [ "$ready" = 1 ] || die "Redis Cluster node $port did not start; see $dir/$port/redis.log"
  done
  # A node restarted with --keep-data already knows its cluster: create it only once.
  if ! redis-cli -h 127.0.0.1 -p "$first" cluster info 2>/dev/null | grep -q 'cluster_known_nodes:6'; then
    redis-cli --cluster create "${addresses[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 \
      || die "redis-cli --cluster create failed; see $dir/create.log"
  fi
  for _ in $(seq 1 300); do
    if redis-cli --cluster check "127.0.0.1:$first" >"$dir/check.log" 2>&1 \
       && grep -q '\[OK\] All 16384 slots covered' "$dir/check.log" \
       && ! grep -q '\[ERR\]\|\[WARNING\]' "$dir/check.log" \
       && [ "$(redis-cli -h 127.0.0.1 -p "$first" cluster info | tr -d '\r' | grep cluster_state)" = cluster_state:ok ]; then
      REDIS_CLUSTER_NODES="$(IFS=,; echo "${addresses[*]}")"
      return 0
    fi
    sleep 0.2
  done
  die "the Redis Cluster on ports $first-$((first + 5)) did not reach cluster_state:ok; see $dir/check.log"
}

# stop_processes PID…: SIGTERM, waited for; never fails (stops run from EXIT traps). A process that
# ignores it — a Redis still writing its first AOF refuses SIGTERM ("Writing initial AOF, can't
# exit") — gets the signal again each second and is killed after 15 s, so a stop never hangs.
stop_processes() {
  local pid left tick
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for tick in $(seq 1 150); do
    left=""
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && left="$left $pid"; done
    [ -z "$left" ] && break
    sleep 0.1
    if [ $((tick % 10)) = 0 ]; then for pid in $left; do kill -TERM "$pid" 2>/dev/null || true; done; fi
  done
  for pid in "$@"; do kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null; done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

# Stops every node start_redis_cluster started.
stop_redis_cluster() {
  # shellcheck disable=SC2086
  stop_processes ${REDIS_CLUSTER_PIDS:-}
  REDIS_CLUSTER_PIDS=""
}
