# shellcheck shell=bash
# pg.sh -- the stack's private PostgreSQL cluster (or DATABASE_URL's server
# instead): create, start, stop, connection strings and migrations.
# Sourced by deploy/local/stack.sh after common.sh.

PGPORT_LOCAL=5432 # private socket directory, so the default port cannot clash

external_db() { [ -n "${DATABASE_URL:-}" ]; }

pg_bin() {
  local bin
  bin=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$bin" ] || [ ! -x "$bin/pg_ctl" ]; then
    die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (run deploy/local/deps.sh)"
  fi
  printf '%s\n' "$bin"
}

# The owner's connection: migrations and psql. The cluster's superuser.
database_url() {
  if external_db; then
    printf '%s\n' "$DATABASE_URL"
  else
    printf 'host=%s port=%s dbname=chat user=chat\n' "$RUN" "$PGPORT_LOCAL"
  fi
}

# The services' connection: the least-privilege role chat_svc, a member of
# chat_app (migrations/0005_service_role.sql). With DATABASE_URL set the
# services use it as given.
service_database_url() {
  if external_db; then
    printf '%s\n' "$DATABASE_URL"
  else
    printf 'host=%s port=%s dbname=chat user=chat_svc\n' "$RUN" "$PGPORT_LOCAL"
  fi
}

# The postmaster owns its own pid file (pg_ctl finds it there too).
postmaster_running() {
  local pid
  [ -f "$1/postmaster.pid" ] || return 1
  { read -r pid <"$1/postmaster.pid"; } 2>/dev/null || return 1
  pid_is "$pid" postgres
}

pg_running() { postmaster_running "$PGDATA"; }

# A postmaster.pid or socket lock file whose process is gone (a killed
# cluster, or a pid reused after a reboot) would stop the next start: the
# postmaster tests the pid with kill(pid, 0), which also succeeds on a
# zombie nobody reaped. Remove them.
pg_clear_stale() {
  local lockfile=$RUN/.s.PGSQL.$PGPORT_LOCAL.lock pid=''
  if [ -f "$PGDATA/postmaster.pid" ] && ! pg_running; then
    warn "removing stale $PGDATA/postmaster.pid"
    rm -f "$PGDATA/postmaster.pid"
  fi
  if [ -f "$lockfile" ]; then
    { read -r pid <"$lockfile"; } 2>/dev/null || true
    if ! pid_is "$pid" postgres; then
      warn "removing stale $lockfile"
      rm -f "$lockfile" "$RUN/.s.PGSQL.$PGPORT_LOCAL"
    fi
  fi
}

pg_init() {
  local bin=$1 locale=C
  [ -s "$PGDATA/PG_VERSION" ] && return 0
  if grep -qix 'c\.utf-\?8' <<<"$(locale -a 2>/dev/null)"; then
    locale=C.UTF-8
  fi
  say "creating PostgreSQL cluster in $PGDATA (superuser chat, locale $locale)"
  mkdir -p "$PGDATA"
  chmod 0700 "$PGDATA"
  "$bin/initdb" -D "$PGDATA" -U chat --auth=trust -E UTF8 --locale="$locale" \
    >>"$LOG/initdb.log" 2>&1 || die "initdb failed; see $LOG/initdb.log"
  # Unix socket only, trust: reachable by the owner of $RUN (mode 0700).
  # Replication too: pg-replica-start's standby streams from here.
  printf 'local all all trust\nlocal replication all trust\n' >"$PGDATA/pg_hba.conf"
  printf "\ninclude_if_exists 'chat-stack.conf'\n" >>"$PGDATA/postgresql.conf"
}

pg_start() {
  local bin
  external_db && die "DATABASE_URL is set: the stack uses that database and does not manage a PostgreSQL server"
  bin=$(pg_bin)
  pg_init "$bin"
  # Rewritten on every start so that a moved state dir still works.
  cat >"$PGDATA/chat-stack.conf" <<EOF
# Written by deploy/local/stack.sh on every start.
listen_addresses = ''
port = $PGPORT_LOCAL
unix_socket_directories = '$RUN'
unix_socket_permissions = 0700
max_connections = 200
EOF
  # A cluster made before standbys could stream from it.
  grep -q '^local replication' "$PGDATA/pg_hba.conf" ||
    printf 'local replication all trust\n' >>"$PGDATA/pg_hba.conf"
  if pg_running; then
    say "PostgreSQL already running"
  else
    pg_clear_stale
    # The postmaster outlives us: from /, without the lock.
    (cd / && exec "$bin/pg_ctl" -D "$PGDATA" -l "$LOG/postgres.log" -w -t 60 start) \
      >/dev/null 9<&- ||
      {
        tail -n 20 "$LOG/postgres.log" >&2 || true
        die "PostgreSQL did not start; see $LOG/postgres.log"
      }
    say "PostgreSQL started (socket $RUN, pid $(head -n 1 "$PGDATA/postmaster.pid"))"
  fi
  if [ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = 'chat'")" != 1 ]; then
    psql_admin -c 'CREATE DATABASE chat' || die "cannot create database chat"
    say "created database chat"
  fi
}

pg_stop() {
  local bin
  external_db && return 0
  [ -s "$PGDATA/PG_VERSION" ] || return 0
  if ! pg_running; then
    pg_clear_stale
    return 0
  fi
  bin=$(pg_bin)
  if "$bin/pg_ctl" -D "$PGDATA" -m fast -w -t 30 stop >/dev/null; then
    say "PostgreSQL stopped"
  else
    warn "pg_ctl stop -m fast failed; trying -m immediate"
    "$bin/pg_ctl" -D "$PGDATA" -m immediate -w -t 30 stop >/dev/null
  fi
}

psql_admin() {
  psql -X -q -v ON_ERROR_STOP=1 -h "$RUN" -p "$PGPORT_LOCAL" -U chat -d postgres "$@"
}

migrate() {
  DATABASE_URL=$(database_url) "$repo/deploy/migrate.sh" "$repo/migrations" ||
    die "migrations failed"
  external_db && return 0
  if [ "$(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'chat_svc'")" != 1 ]; then
    psql_admin -c 'CREATE ROLE chat_svc LOGIN IN ROLE chat_app' ||
      die "cannot create the service role chat_svc"
    say "created the service role chat_svc (member of chat_app)"
  fi
}

# ------------------------------------------------------- a hot standby
# pg-replica-start makes a streaming replica of the private cluster
# (pg_basebackup -R) in $STATE/pg-replica, on the same socket directory
# and port REPLICA_PORT, as the same user; CHAT_DATABASE_READ_URL can
# name it (replica_service_url). The tests pause its replay to make it lag
# (SELECT pg_wal_replay_pause()) and stop it to take it away.

REPLICA_PORT=5433
REPLICA_DATA=$STATE/pg-replica

replica_service_url() {
  printf 'host=%s port=%s dbname=chat user=chat_svc\n' "$RUN" "$REPLICA_PORT"
}

replica_running() { postmaster_running "$REPLICA_DATA"; }

replica_start() {
  local bin
  external_db && die "DATABASE_URL is set: pg-replica-start copies only the private cluster"
  pg_running || die "the private PostgreSQL does not run: start the stack first"
  bin=$(pg_bin)
  if [ ! -s "$REPLICA_DATA/PG_VERSION" ]; then
    say "pg_basebackup -R of the private cluster into $REPLICA_DATA"
    rm -rf "$REPLICA_DATA"
    "$bin/pg_basebackup" -h "$RUN" -p "$PGPORT_LOCAL" -U chat -D "$REPLICA_DATA" -R \
      -X stream -c fast >>"$LOG/pg-replica.log" 2>&1 ||
      die "pg_basebackup failed; see $LOG/pg-replica.log"
    chmod 0700 "$REPLICA_DATA"
  fi
  # The copy of the primary's chat-stack.conf names the primary's port.
  cat >"$REPLICA_DATA/chat-stack.conf" <<EOF
# Written by deploy/local/stack.sh pg-replica-start.
listen_addresses = ''
port = $REPLICA_PORT
unix_socket_directories = '$RUN'
unix_socket_permissions = 0700
max_connections = 200
hot_standby = on
EOF
  if replica_running; then
    say "the standby already runs"
    return 0
  fi
  rm -f "$REPLICA_DATA/postmaster.pid"
  (cd / && exec "$bin/pg_ctl" -D "$REPLICA_DATA" -l "$LOG/pg-replica.log" -w -t 60 start) \
    >/dev/null 9<&- || {
    tail -n 20 "$LOG/pg-replica.log" >&2 || true
    die "the standby did not start; see $LOG/pg-replica.log"
  }
  say "standby started (socket $RUN, port $REPLICA_PORT, pid $(head -n 1 "$REPLICA_DATA/postmaster.pid"))"
}

replica_stop() {
  local bin
  replica_running || return 0
  bin=$(pg_bin)
  "$bin/pg_ctl" -D "$REPLICA_DATA" -m fast -w -t 30 stop >/dev/null ||
    "$bin/pg_ctl" -D "$REPLICA_DATA" -m immediate -w -t 30 stop >/dev/null
  say "standby stopped"
}

psql_replica() {
  psql -X -q -v ON_ERROR_STOP=1 -h "$RUN" -p "$REPLICA_PORT" -U chat -d chat "$@"
}
