# shellcheck shell=bash
# Backups and recovery for the PostgreSQL that scripts/lib/services.sh starts: pgBackRest with
# continuous WAL archiving into two repositories (repo1 local, repo2 encrypted, standing for the
# off-box copy) and a synchronous WAL receiver (pg_receivewal --synchronous with its own slot), so a
# confirmed commit survives the loss of the primary's disk. Source it after services.sh.
#
# Layout, per instance name (serve, dr-drill …), all under the git-ignored .run/backups/<instance>/:
#   pgbackrest.conf   Config/pgbackrest.conf.template filled in (archive_command points here)
#   current           the system identifier of the cluster being backed up
#   socket/           PostgreSQL's Unix socket (pgBackRest talks to PostgreSQL through it)
#   <sysid>/repo1, <sysid>/repo2, <sysid>/repo2.passphrase, <sysid>/wal-received, <sysid>/log …
# A fresh initdb has a new system identifier, hence its own repositories and stanza history;
# --keep-data keeps the identifier and so the same ones.
#
# Use: backup_prepare INSTANCE before start_postgres (it adds the archiving settings to
# PG_EXTRA_OPTS), backup_enable PORT DATA after it, backup_stop in the EXIT trap.

BACKUP_STANZA=stampede
BACKUP_RECEIVER=stampede_receiver
# Repositories of this many past clusters (system identifiers) are kept per instance.
BACKUP_KEEP_CLUSTERS="${BACKUP_KEEP_CLUSTERS:-3}"

# backup_prepare INSTANCE: chooses .run/backups/INSTANCE and puts archiving into PG_EXTRA_OPTS.
# The previous configuration is removed: until backup_enable writes the new one, archive-push
# fails (PostgreSQL keeps the segment and retries) instead of pushing into another cluster's stanza.
backup_prepare() {
  BACKUP_INSTANCE="$1"
  BACKUP_ROOT="$STAMPEDE_ROOT/.run/backups/$1"
  BACKUP_CONF="$BACKUP_ROOT/pgbackrest.conf"
  BACKUP_SOCKET_DIR="$BACKUP_ROOT/socket"
  case "$BACKUP_ROOT" in *[[:space:]\'\"\\]*) die "backups need a checkout path without spaces or quotes ($BACKUP_ROOT)" ;; esac
  command -v pgbackrest >/dev/null || install_packages pgbackrest
  ensure_pg_user
  mkdir -p "$BACKUP_ROOT" "$BACKUP_SOCKET_DIR"
  grant_traverse "$BACKUP_ROOT/.."
  backup_own "$BACKUP_ROOT"
  chmod 700 "$BACKUP_ROOT"
  rm -f "$BACKUP_CONF"
  PG_EXTRA_OPTS="${PG_EXTRA_OPTS:-} $(backup_pg_options)"
}

# The PostgreSQL settings that archive every WAL segment through pgBackRest.
backup_pg_options() {
  printf '%s' "-c unix_socket_directories=$BACKUP_SOCKET_DIR -c wal_level=replica -c archive_mode=on" \
    " -c archive_timeout=60 -c max_wal_senders=10 -c max_replication_slots=10" \
    " -c archive_command='pgbackrest --config=$BACKUP_CONF --stanza=$BACKUP_STANZA archive-push %p'"
}

# seconds_since START: seconds since START (`date +%s.%N`), one decimal.
seconds_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

backup_own() { [ "$(id -u)" -ne 0 ] || chown -R "$PG_OS_USER" "$@"; }

# The system identifier of the cluster in DATA (from pg_control; works while it is stopped).
backup_system_identifier() {
  "$PG_BIN/pg_controldata" "$1" 2>/dev/null | sed -n 's/^Database system identifier: *//p'
}

# backup_configure SYSID PORT DATA: fills in the template for that cluster's repositories (a new
# repo2 passphrase when its repository is new) and records SYSID as the instance's current one.
backup_configure() {
  local sysid="$1" port="$2" data="$3"
  BACKUP_DIR="$BACKUP_ROOT/$sysid"
  mkdir -p "$BACKUP_DIR"/{repo1,repo2,log,lock,spool,wal-received}
  if [ ! -s "$BACKUP_DIR/repo2.passphrase" ]; then
    (umask 077; head -c 48 /dev/urandom | base64 | tr -d '\n/+=' >"$BACKUP_DIR/repo2.passphrase")
  fi
  local pass; pass="$(cat "$BACKUP_DIR/repo2.passphrase")"
  (umask 077
   sed -e "s|@REPO1_PATH@|$BACKUP_DIR/repo1|; s|@REPO2_PATH@|$BACKUP_DIR/repo2|; s|@REPO2_CIPHER_PASS@|$pass|" \
       -e "s|@LOG_PATH@|$BACKUP_DIR/log|; s|@LOCK_PATH@|$BACKUP_DIR/lock|; s|@SPOOL_PATH@|$BACKUP_DIR/spool|" \
       -e "s|@STANZA@|$BACKUP_STANZA|; s|@PG_DATA@|$data|; s|@PG_PORT@|$port|; s|@PG_SOCKET_DIR@|$BACKUP_SOCKET_DIR|" \
       "$STAMPEDE_ROOT/Config/pgbackrest.conf.template" >"$BACKUP_CONF.new")
  mv "$BACKUP_CONF.new" "$BACKUP_CONF"
  echo "$sysid" >"$BACKUP_ROOT/current"
  backup_own "$BACKUP_ROOT"
  chmod 600 "$BACKUP_CONF" "$BACKUP_DIR/repo2.passphrase"
  # Older clusters' repositories beyond the newest BACKUP_KEEP_CLUSTERS go.
  local old
  for old in $(ls -1t "$BACKUP_ROOT" | grep -E '^[0-9]+$' | tail -n +$((BACKUP_KEEP_CLUSTERS + 1))); do
    [ "$old" = "$sysid" ] || rm -rf "${BACKUP_ROOT:?}/$old"
  done
}

backup_pgbackrest() { as_pg_user pgbackrest --config="$BACKUP_CONF" --stanza="$BACKUP_STANZA" "$@"; }

# backup_enable PORT DATA: after start_postgres — configuration, stanza, the synchronous WAL
# receiver, and a passing `pgbackrest check`. Sets BACKUP_DIR.
backup_enable() {
  local port="$1" data="$2" sysid
  sysid="$(backup_system_identifier "$data")"
  [ -n "$sysid" ] || die "cannot read the system identifier of $data"
  backup_configure "$sysid" "$port" "$data"
  backup_pgbackrest stanza-create >"$BACKUP_DIR/log/stanza-create.out" 2>&1 \
    || die "pgbackrest stanza-create failed; see $BACKUP_DIR/log/stanza-create.out"
  backup_start_receiver "$port"
  backup_pgbackrest check >"$BACKUP_DIR/log/check.out" 2>&1 \
    || die "pgbackrest check failed; see $BACKUP_DIR/log/check.out"
}

backup_psql() { psql -h 127.0.0.1 -p "$1" -U stampede -d postgres -v ON_ERROR_STOP=1 -tAqc "$2"; }

# backup_start_receiver PORT: pg_receivewal --synchronous on its own slot (created if missing: a
# restore drops it while postgresql.auto.conf keeps naming the receiver, and every commit would
# wait), then names it in synchronous_standby_names and waits until PostgreSQL counts it as the
# synchronous standby. Received WAL goes to $BACKUP_DIR/wal-received.
backup_start_receiver() {
  local port="$1" conninfo="host=127.0.0.1 port=$1 user=stampede application_name=$BACKUP_RECEIVER"
  as_pg_user "$PG_BIN/pg_receivewal" -d "$conninfo" --slot="$BACKUP_RECEIVER" --create-slot --if-not-exists \
    >>"$BACKUP_DIR/log/receiver.log" 2>&1 || die "could not create the replication slot $BACKUP_RECEIVER; see $BACKUP_DIR/log/receiver.log"
  local as=()
  [ "$(id -u)" -ne 0 ] || as=(setpriv --reuid="$PG_OS_USER" --regid="$PG_OS_USER" --init-groups)
  ${as[@]+"${as[@]}"} "$PG_BIN/pg_receivewal" -d "$conninfo" -D "$BACKUP_DIR/wal-received" --slot="$BACKUP_RECEIVER" \
    --synchronous --status-interval=1 >>"$BACKUP_DIR/log/receiver.log" 2>&1 &
  BACKUP_RECEIVER_PID=$!
  echo "$BACKUP_RECEIVER_PID" >"$BACKUP_ROOT/receiver.pid"
  local state=""
  for _ in $(seq 1 100); do
    state="$(backup_psql "$port" "SELECT state FROM pg_stat_replication WHERE application_name = '$BACKUP_RECEIVER'")"
    [ "$state" = streaming ] && break
    kill -0 "$BACKUP_RECEIVER_PID" 2>/dev/null || die "pg_receivewal exited; see $BACKUP_DIR/log/receiver.log"
    sleep 0.1
  done
  [ "$state" = streaming ] || die "pg_receivewal is not streaming from port $port; see $BACKUP_DIR/log/receiver.log"
  backup_psql "$port" "ALTER SYSTEM SET synchronous_standby_names = '$BACKUP_RECEIVER'" >/dev/null
  backup_psql "$port" "ALTER SYSTEM SET synchronous_commit = 'on'" >/dev/null
  backup_psql "$port" "SELECT pg_reload_conf()" >/dev/null
  for _ in $(seq 1 100); do
    [ "$(backup_psql "$port" "SELECT sync_state FROM pg_stat_replication WHERE application_name = '$BACKUP_RECEIVER'")" = sync ] && return 0
    sleep 0.1
  done
  die "PostgreSQL on port $port does not count $BACKUP_RECEIVER as its synchronous standby"
}

# Stops the WAL receiver (never fails: it runs from EXIT traps). PostgreSQL keeps naming it in
# synchronous_standby_names, so stop PostgreSQL first or writes wait until it is back.
backup_stop() {
  [ -z "${BACKUP_RECEIVER_PID:-}" ] || stop_processes "$BACKUP_RECEIVER_PID"
  BACKUP_RECEIVER_PID=""
  [ -z "${BACKUP_ROOT:-}" ] || rm -f "$BACKUP_ROOT/receiver.pid"
}

# backup_take TYPE [REPO…]: a full or diff backup into each repository (default: 1 and 2), then
# removes received WAL segments that are archived already.
backup_take() {
  local type="$1"; shift
  local repos=("$@") repo
  [ ${#repos[@]} -gt 0 ] || repos=(1 2)
  for repo in "${repos[@]}"; do
    backup_pgbackrest backup --type="$type" --repo="$repo" >>"$BACKUP_DIR/log/backup.out" 2>&1 \
      || die "pgbackrest backup --type=$type --repo=$repo failed; see $BACKUP_DIR/log/backup.out"
  done
  backup_prune_received "${BACKUP_PORT:-}"
}

# backup_prune_received PORT: deletes complete received segments older than the last archived one
# (they are in both repositories); the .partial segment and everything newer stay.
backup_prune_received() {
  [ -n "$1" ] || return 0
  local last segment
  last="$(backup_psql "$1" "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver" 2>/dev/null)" || return 0
  last="${last:0:24}"  # a backup's history file is named <segment>.<offset>.backup
  [[ "$last" =~ ^[0-9A-F]{24}$ ]] || return 0
  for segment in "$BACKUP_DIR"/wal-received/*; do
    segment="$(basename "$segment")"
    [[ "$segment" =~ ^[0-9A-F]{24}$ ]] && [[ "$segment" < "$last" ]] && rm -f "$BACKUP_DIR/wal-received/$segment"
  done
  return 0
}

# backup_use INSTANCE: for scripts/backup and scripts/restore — the instance's configuration and
# current cluster, as the last backup_enable left them.
backup_use() {
  BACKUP_INSTANCE="$1"
  BACKUP_ROOT="$STAMPEDE_ROOT/.run/backups/$1"
  BACKUP_CONF="$BACKUP_ROOT/pgbackrest.conf"
  BACKUP_SOCKET_DIR="$BACKUP_ROOT/socket"
  [ -s "$BACKUP_ROOT/current" ] && [ -f "$BACKUP_CONF" ] \
    || die "no backups configured for '$1' (.run/backups/$1): start it with scripts/serve first"
  ensure_pg_user
  BACKUP_DIR="$BACKUP_ROOT/$(cat "$BACKUP_ROOT/current")"
  BACKUP_PORT="$(sed -n 's/^pg1-port=//p' "$BACKUP_CONF")"
  BACKUP_DATA="$(sed -n 's/^pg1-path=//p' "$BACKUP_CONF")"
}

# backup_write_restore_command RECEIVED DATA: writes BACKUP_DIR/restore-wal, the restore_command of a restore into DATA: a segment from the archive (any
# repository), else the one the synchronous receiver holds — complete, or its .partial segment,
# which holds every commit the receiver confirmed after the last archived segment.
backup_write_restore_command() {
  local received="$1" data="$2"
  cat >"$BACKUP_DIR/restore-wal" <<SH
#!/bin/sh
# restore_command of a restore made by scripts/restore: restore-wal %f %p
# --pg1-path: pgBackRest makes a relative %p absolute against it (the configured one is the live primary's).
pgbackrest --config=$BACKUP_CONF --stanza=$BACKUP_STANZA --pg1-path=$data archive-get "\$1" "\$2" 2>/dev/null && exit 0
for file in "$received/\$1" "$received/\$1.partial"; do
  if [ -f "\$file" ]; then
    cp "\$file" "\$2" || exit 1
    echo "\$(date -u +%FT%TZ) \$1 from \$file" >>"$BACKUP_DIR/log/restore-wal.log"
    exit 0
  fi
done
exit 1
SH
  chmod 755 "$BACKUP_DIR/restore-wal"
  backup_own "$BACKUP_DIR/restore-wal"
}

# backup_restore MODE TARGET DATA PORT [REPO]: restores the instance's latest backup (the latest
# before TARGET) into DATA, which must not be running, and replays WAL — archived, then received —
# to TARGET (`latest`, or a time PostgreSQL understands, e.g. '2026-12-06 07:10:00+00'). Starts the
# restored PostgreSQL on PORT and waits until it has finished recovery and is writable.
#   MODE primary: the restored cluster becomes the instance's primary. The WAL the receiver held is
#     moved to wal-received.<time> (the cluster goes on on a new timeline from there); archiving
#     goes on into the same stanza, and the receiver's slot is re-created before anything writes.
#   MODE side: a separate copy to read from (recovering from a bad admin change without rewinding
#     the live primary): no archiving (its timeline must never reach the live stanza), no
#     synchronous standby, the received WAL read in place.
# Leaves PostgreSQL running with PG_DATA_DIR set (stop_postgres stops it).
backup_restore() {
  local mode="$1" target="$2" data="$3" port="$4" repo="${5:-}"
  if [ -f "$data/postmaster.pid" ] && as_pg_user "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    die "PostgreSQL is running in $data: stop it first (or restore --into another folder)"
  fi
  port_is_free "$port" || die "port $port is in use"
  local received="$BACKUP_DIR/wal-received" pg_options
  if [ "$mode" = primary ]; then
    backup_stop_stale_receiver
    received="$BACKUP_DIR/wal-received.$(date -u +%Y%m%dT%H%M%S)"
    mv "$BACKUP_DIR/wal-received" "$received"
    mkdir -p "$BACKUP_DIR/wal-received"
    backup_own "$BACKUP_DIR/wal-received" "$received"
    pg_options="$(backup_pg_options)"
  else
    pg_options="-c archive_mode=off -c synchronous_standby_names=''"
  fi
  backup_write_restore_command "$received" "$data"
  mkdir -p "$data"; backup_own "$data"; chmod 700 "$data"
  local options=(--pg1-path="$data" --delta --recovery-option="restore_command=$BACKUP_DIR/restore-wal %f %p")
  [ -z "$repo" ] || options+=(--repo="$repo")
  if [ "$target" = latest ]; then
    options+=(--type=default)
  else
    options+=(--type=time --target="$target" --target-action=promote)
  fi
  # --delta into an empty folder copies everything; into a damaged one only what differs.
  backup_pgbackrest restore "${options[@]}" >>"$BACKUP_DIR/log/restore.out" 2>&1 \
    || die "pgbackrest restore failed; see $BACKUP_DIR/log/restore.out"
  rm -f "$data/postmaster.pid"
  as_pg_user "$PG_BIN/pg_ctl" -D "$data" -l "$data/postgres.log" -w -t 600 \
    -o "-h 127.0.0.1 -p $port -k '' -c max_connections=$PG_MAX_CONNECTIONS -c shared_buffers=256MB -c fsync=on -c log_min_messages=warning $pg_options" \
    start >/dev/null || die "the restored PostgreSQL did not start; see $data/postgres.log"
  PG_DATA_DIR="$data"
  for _ in $(seq 1 600); do
    [ "$(backup_psql "$port" "SELECT pg_is_in_recovery()" 2>/dev/null)" = f ] && break
    sleep 0.1
  done
  [ "$(backup_psql "$port" "SELECT pg_is_in_recovery()")" = f ] || die "the restored PostgreSQL did not finish recovery; see $data/postgres.log"
  if [ "$mode" = primary ]; then
    backup_configure "$(backup_system_identifier "$data")" "$port" "$data"
    backup_start_receiver "$port"
    # After a restore archive_timeout did not fire until a reload (PLATFORM-NOTES).
    backup_psql "$port" "SELECT pg_reload_conf()" >/dev/null
  else
    backup_psql "$port" "ALTER SYSTEM RESET synchronous_standby_names" >/dev/null
  fi
}

# A receiver left running by a run that ended without its EXIT trap (its pidfile is ours; the pid
# is checked to still be pg_receivewal).
backup_stop_stale_receiver() {
  local pid
  pid="$(cat "$BACKUP_ROOT/receiver.pid" 2>/dev/null)" || return 0
  if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q pg_receivewal; then
    stop_processes "$pid"
  fi
  rm -f "$BACKUP_ROOT/receiver.pid"
}
