#!/usr/bin/env bash
# stack.sh -- the local chat stack: private PostgreSQL, chat-fcgi pool, chat-ws, nginx on loopback.
#
# Usage: deploy/local/stack.sh COMMAND [args]
#
#   start         start everything (restarts a stack already running in the
#                 same state dir), apply migrations, wait for /api/health
#   stop          stop everything this state dir runs; tolerates stopped parts
#   run           start, stay in the foreground until Ctrl-C/SIGTERM, then stop
#   status        show what runs; exit 0 when the stack is up, 3 otherwise
#   pg-stop       stop the private PostgreSQL only (pg_ctl stop -m fast)
#   pg-start      start the private PostgreSQL only
#   fcgi-restart  stop and re-spawn the chat-fcgi pool with the current
#                 environment (e.g. new CHAT_* limits), wait until it answers
#   ws-stop [I]   stop bridge I (0-based), or every bridge, with SIGTERM
#   ws-kill I     kill bridge I with SIGKILL (a crash: no cleanup)
#   ws-start [I]  start bridge I, or every bridge
#   ws-restart [I] stop, then start bridge I (or every bridge)
#   psql [args]   psql on the stack's database
#
# Environment:
#   CHAT_PORT             nginx port on 127.0.0.1 (default 8080)
#   CHAT_WS_PORT          chat-ws port on 127.0.0.1 (default CHAT_PORT + 1)
#   CHAT_WS_BRIDGES       chat-ws processes behind nginx, on CHAT_WS_PORT,
#                         CHAT_WS_PORT+1, ... (default 1)
#   CHAT_STATE_DIR        data, sockets, logs (default <repo>/var/local)
#   CHAT_BUILD            directory holding chat-fcgi and chat-ws (default <repo>/build)
#   CHAT_FCGI_WORKERS     chat-fcgi processes (default 4)
#   CHAT_NGINX_JOIN_RATE  nginx limit for POST /api/join per address (default 5r/s)
#   CHAT_NGINX_JOIN_BURST burst for that limit (default 60)
#   CHAT_NGINX_CLIENT_TIMEOUT  nginx client header/body/send timeout (default 10s)
#   CHAT_NGINX_ACCESS_LOG 1 = write $CHAT_STATE_DIR/log/nginx-access.log (default), 0 = off
#   CHAT_START_TIMEOUT    seconds to wait for /api/health (default 20)
#   DATABASE_URL          use this existing PostgreSQL instead of a private cluster
#
# Every CHAT_* variable, DATABASE_URL and ASAN_OPTIONS/UBSAN_OPTIONS/
# LSAN_OPTIONS reach chat-fcgi and chat-ws; nothing else of the caller's
# environment does. PostgreSQL refuses to run as root, so when this script
# runs as root every service runs as the system user "chat" (created once).
set -euo pipefail

prog=stack
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

die() {
  printf '%s: %s\n' "$prog" "$*" >&2
  exit 1
}
warn() { printf '%s: %s\n' "$prog" "$*" >&2; }
say() { printf '%s: %s\n' "$prog" "$*"; }

# Relative paths are taken from the caller's directory (make runs in the repo).
absolute() {
  case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s/%s\n' "$PWD" "$1" ;;
  esac
}

PORT=${CHAT_PORT:-8080}
WS_PORT=${CHAT_WS_PORT:-$((PORT + 1))}
STATE=$(absolute "${CHAT_STATE_DIR:-$repo/var/local}")
STATE=${STATE%/}
BUILD=$(absolute "${CHAT_BUILD:-$repo/build}")
BUILD=${BUILD%/}
WORKERS=${CHAT_FCGI_WORKERS:-4}
BRIDGES=${CHAT_WS_BRIDGES:-1}
JOIN_RATE=${CHAT_NGINX_JOIN_RATE:-5r/s}
JOIN_BURST=${CHAT_NGINX_JOIN_BURST:-60}
CLIENT_TIMEOUT=${CHAT_NGINX_CLIENT_TIMEOUT:-10s}
ACCESS_LOG=${CHAT_NGINX_ACCESS_LOG:-1}
START_TIMEOUT=${CHAT_START_TIMEOUT:-20}
WEB=$repo/web
PGPORT_LOCAL=5432 # private socket directory, so the default port cannot clash

# Derives every path from STATE (again after relocate_state changes it).
set_paths() {
  RUN=$STATE/run
  LOG=$STATE/log
  PGDATA=$STATE/pg
  NGINX_DIR=$STATE/nginx
  NGINX_CONF=$NGINX_DIR/nginx.conf
  FCGI_SOCK=$RUN/fcgi.sock
  FCGI_PID=$RUN/fcgi.pid
  NGINX_PID=$RUN/nginx.pid
  # Marks the processes of this stack so that stop also finds workers whose
  # pid file was lost (a crashed or interrupted earlier run).
  MARK="LOCAL_CHAT_STACK=$STATE"
}
# A state dir relocated by an earlier start is a symlink to where it lives.
if [ -L "$STATE" ]; then
  STATE=$(readlink -f "$STATE")
fi
set_paths

check_settings() {
  local v
  for v in "$PORT" "$WS_PORT" "$WORKERS" "$BRIDGES" "$JOIN_BURST" "$START_TIMEOUT"; do
    [[ $v =~ ^[0-9]+$ ]] || die "expected a number, got '$v' (CHAT_PORT, CHAT_WS_PORT, CHAT_FCGI_WORKERS, CHAT_WS_BRIDGES, CHAT_NGINX_JOIN_BURST, CHAT_START_TIMEOUT)"
  done
  [ "$BRIDGES" -ge 1 ] || die "CHAT_WS_BRIDGES must be at least 1"
  [ "$WORKERS" -ge 1 ] || die "CHAT_FCGI_WORKERS must be at least 1"
  [[ $JOIN_RATE =~ ^[0-9]+r/[sm]$ ]] || die "CHAT_NGINX_JOIN_RATE must look like 5r/s or 300r/m, got '$JOIN_RATE'"
  [[ $CLIENT_TIMEOUT =~ ^[0-9]+(ms|s|m)?$ ]] || die "CHAT_NGINX_CLIENT_TIMEOUT must look like 10s, got '$CLIENT_TIMEOUT'"
  # The paths go into nginx and PostgreSQL configuration files unquoted.
  for v in "$STATE" "$BUILD" "$WEB"; do
    [[ $v =~ ^[A-Za-z0-9_./+@,:=-]+$ ]] || die "path '$v' contains characters this script does not quote (spaces, quotes, \$, ;, ...); use another CHAT_STATE_DIR/CHAT_BUILD or checkout path"
  done
  # A unix socket path holds at most 107 bytes.
  [ "${#RUN}" -le 80 ] || die "state dir '$STATE' is too long for unix socket paths; set a shorter CHAT_STATE_DIR"
}

# ---------------------------------------------------------------- users

if [ "$(id -u)" -eq 0 ]; then
  RUN_USER=chat
else
  RUN_USER=$(id -un)
fi

# Runs a command as the service user, from /, with only descriptors 0-2
# open: a daemon must not hold our lock or a pipe of whoever called us
# (make, a test harness) for its whole life. setpriv
# (util-linux, like runuser) execs the command without forking or PAM, so a
# pid a service writes is its own.
as_user() {
  local fd
  (
    cd /
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      [ "$fd" -le 2 ] || exec {fd}>&-
    done
    if [ "$(id -u)" -eq 0 ]; then
      exec setpriv --reuid="$RUN_USER" --regid="$RUN_USER" --init-groups -- "$@"
    fi
    exec "$@"
  )
}

ensure_user() {
  [ "$(id -u)" -eq 0 ] || return 0
  id -u "$RUN_USER" >/dev/null 2>&1 && return 0
  say "creating system user '$RUN_USER' (PostgreSQL does not run as root)"
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin "$RUN_USER"
}

# As root the services run as "chat", which must be able to reach the
# state dir. When its parent is closed to that user (a checkout under /root,
# say), the state lives under /var/tmp/chat-stack/ instead and the state dir
# becomes a symlink to it. A state dir that does not exist starts afresh, so
# the relocated data of a removed one is discarded too.
relocate_state() {
  local parent real
  [ "$(id -u)" -eq 0 ] || return 0
  [ ! -L "$STATE" ] || return 0
  parent=$(dirname "$STATE")
  mkdir -p "$parent"
  ! as_user test -x "$parent" || return 0
  [ ! -e "$STATE" ] || die "user '$RUN_USER' cannot reach '$STATE'; remove it, and the next start keeps the state under /var/tmp/chat-stack/ behind a symlink"
  real=/var/tmp/chat-stack/$(printf '%s' "$STATE" | sha256sum | cut -c 1-16)
  rm -rf "$real"
  mkdir -p "$real"
  ln -s "$real" "$STATE"
  say "user '$RUN_USER' cannot reach $parent: the state lives in $real ($STATE links to it)"
  STATE=$real
  set_paths
}

# Path of a program or directory the service user can read and execute or
# search: the original, or (as root, when it cannot) a fresh copy of it
# under the state dir.
readable_copy() {
  local src=$1 dst=$STATE/copy/${1##*/}
  if as_user test -r "$src" -a -x "$src"; then
    printf '%s\n' "$src"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "cannot read '$src'"
  mkdir -p "$STATE/copy"
  rm -rf "$dst"
  cp -R "$src" "$dst"
  chown -R "$RUN_USER:$RUN_USER" "$STATE/copy"
  printf '%s\n' "$dst"
}

# Creates the state dir tree, owned by the service user.
prepare_dirs() {
  mkdir -p "$STATE" "$RUN" "$LOG" "$NGINX_DIR/tmp"
  if [ "$(id -u)" -eq 0 ]; then
    chown -R "$RUN_USER:$RUN_USER" "$STATE"
  fi
  # Sockets with trust authentication live here: owner only.
  chmod 0700 "$RUN"
  as_user test -w "$STATE" -a -x "$STATE" ||
    die "user '$RUN_USER' cannot write '$STATE' (a parent directory may not be searchable by it)"
}

# ---------------------------------------------------------------- processes

# True when the process exists and is not a zombie. Orphans are not always
# reaped (a container's init may not), and kill -0 succeeds on a zombie.
pid_alive() {
  local pid=$1 stat state
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  { read -r stat <"/proc/$pid/stat"; } 2>/dev/null || return 1
  state=${stat##*) }
  state=${state%% *}
  [ "$state" != Z ] && [ "$state" != X ]
}

# True when the process is alive and its command name is $2.
pid_is() {
  local pid=$1 comm
  pid_alive "$pid" || return 1
  { read -r comm <"/proc/$pid/comm"; } 2>/dev/null || return 1
  [ "$comm" = "$2" ]
}

# Prints the pids listed in a pid file (one per line; spawn-fcgi leaves the
# last line without a newline) that are alive and named $2.
pids_from_file() {
  local file=$1 comm=$2 pid
  [ -f "$file" ] || return 0
  while read -r pid || [ -n "$pid" ]; do
    pid_is "$pid" "$comm" && printf '%s\n' "$pid"
  done <"$file"
  return 0
}

# Prints the pids of live processes named $1 that carry this stack's mark.
pids_marked() {
  local comm=$1 dir pid name
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    { read -r name <"$dir/comm"; } 2>/dev/null || continue
    [ "$name" = "$comm" ] || continue
    pid_alive "$pid" || continue
    if tr '\0' '\n' 2>/dev/null <"$dir/environ" | grep -qxF -- "$MARK"; then
      printf '%s\n' "$pid"
    fi
  done
  return 0
}

# Prints the pids of nginx processes of this stack: masters started with its
# configuration, and any nginx (a worker orphaned by a killed master, which
# still holds the port) that has its error log open.
pids_nginx() {
  local dir pid name cmd
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    { read -r name <"$dir/comm"; } 2>/dev/null || continue
    [ "$name" = nginx ] || continue
    pid_alive "$pid" || continue
    cmd=$(tr '\0' ' ' 2>/dev/null <"$dir/cmdline") || continue
    case $cmd in
      *"master process"*"$NGINX_CONF"*)
        printf '%s\n' "$pid"
        continue
        ;;
    esac
    # One find, not a readlink per descriptor: a busy worker has tens of
    # thousands of them.
    if [ -n "$(find "$dir/fd" -maxdepth 1 -lname "$LOG/nginx-error.log" -print -quit 2>/dev/null)" ]; then
      printf '%s\n' "$pid"
    fi
  done
  return 0
}

# terminate WHAT PID... -- SIGTERM, wait up to 5 s, then SIGKILL.
terminate() {
  local what=$1 pid i left
  shift
  [ "$#" -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    left=()
    for pid in "$@"; do
      pid_alive "$pid" && left+=("$pid")
    done
    [ "${#left[@]}" -gt 0 ] || return 0
    sleep 0.1
  done
  warn "$what (pid ${left[*]}) still running 5 s after SIGTERM; sending SIGKILL"
  kill -KILL "${left[@]}" 2>/dev/null || true
  for ((i = 0; i < 20; i++)); do
    left=()
    for pid in "$@"; do
      pid_alive "$pid" && left+=("$pid")
    done
    [ "${#left[@]}" -gt 0 ] || return 0
    sleep 0.1
  done
  warn "$what (pid ${left[*]}) survived SIGKILL"
  return 1
}

# Joins the pids on stdin, one per line, into one sorted line without repeats.
uniq_pids() { sort -un | paste -sd ' ' -; }

# ---------------------------------------------------------------- PostgreSQL

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

pg_running() {
  local pid
  [ -f "$PGDATA/postmaster.pid" ] || return 1
  { read -r pid <"$PGDATA/postmaster.pid"; } 2>/dev/null || return 1
  pid_is "$pid" postgres
}

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
  if locale -a 2>/dev/null | grep -qix 'c\.utf-\?8'; then
    locale=C.UTF-8
  fi
  say "creating PostgreSQL cluster in $PGDATA (superuser chat, locale $locale)"
  mkdir -p "$PGDATA"
  [ "$(id -u)" -ne 0 ] || chown "$RUN_USER:$RUN_USER" "$PGDATA"
  chmod 0700 "$PGDATA"
  as_user "$bin/initdb" -D "$PGDATA" -U chat --auth=trust -E UTF8 --locale="$locale" \
    >>"$LOG/initdb.log" 2>&1 || die "initdb failed; see $LOG/initdb.log"
  # Unix socket only, trust: reachable by the owner of $RUN (mode 0700).
  printf 'local all all trust\n' >"$PGDATA/pg_hba.conf"
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
  [ "$(id -u)" -ne 0 ] || chown "$RUN_USER:$RUN_USER" "$PGDATA/chat-stack.conf"
  if pg_running; then
    say "PostgreSQL already running"
  else
    pg_clear_stale
    as_user "$bin/pg_ctl" -D "$PGDATA" -l "$LOG/postgres.log" -w -t 60 start >/dev/null ||
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
  if as_user "$bin/pg_ctl" -D "$PGDATA" -m fast -w -t 30 stop >/dev/null; then
    say "PostgreSQL stopped"
  else
    warn "pg_ctl stop -m fast failed; trying -m immediate"
    as_user "$bin/pg_ctl" -D "$PGDATA" -m immediate -w -t 30 stop >/dev/null
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

# ---------------------------------------------------------------- services

# The environment the services get: nothing of the caller's but these.
service_env() {
  local name
  svc_env=(PATH=/usr/local/bin:/usr/bin:/bin "DATABASE_URL=$(service_database_url)" "$MARK")
  while IFS= read -r name; do
    case $name in
      CHAT_* | ASAN_OPTIONS | UBSAN_OPTIONS | LSAN_OPTIONS | TZ)
        svc_env+=("$name=${!name}")
        ;;
    esac
  done < <(compgen -e)
}

check_binary() {
  local bin=$1
  [ -f "$bin" ] || die "'$bin' does not exist; build it first (make), or set CHAT_BUILD"
  [ -x "$bin" ] || die "'$bin' is not executable"
}

# Path of a built program the service user can run (see readable_copy).
runnable() {
  local bin
  check_binary "$1"
  bin=$(readable_copy "$1")
  as_user test -x "$bin" -a -r "$bin" ||
    die "user '$RUN_USER' cannot execute '$bin' (check the permissions of it and its parent directories)"
  printf '%s\n' "$bin"
}

fcgi_pids() {
  { pids_from_file "$FCGI_PID" chat-fcgi; pids_marked chat-fcgi; } | uniq_pids
}

fcgi_start() {
  local i bin
  bin=$(runnable "$BUILD/chat-fcgi")
  service_env
  # spawn-fcgi refuses a socket someone still accepts on; our workers are
  # stopped by now, so a socket file left here is stale.
  rm -f "$FCGI_SOCK" "$FCGI_PID"
  # spawn-fcgi -n creates the socket and becomes chat-fcgi, which forks
  # CHAT_FCGI_WORKERS workers on it, keeps their stderr (our log) and
  # replaces any that dies. The shell writes the supervisor's pid first.
  # shellcheck disable=SC2016 # $$, $0 and $1 belong to that inner shell
  as_user env -i "${svc_env[@]}" "CHAT_FCGI_WORKERS=$WORKERS" setsid /bin/sh -c \
    'echo $$ >"$1"; exec spawn-fcgi -n -s "$2" -M 0600 -- "$0"' \
    "$bin" "$FCGI_PID" "$FCGI_SOCK" </dev/null >>"$LOG/fcgi.log" 2>&1 9>&- &
  for ((i = 0; i < 100; i++)); do
    if [ -S "$FCGI_SOCK" ] && [ -n "$(fcgi_pids)" ]; then
      say "chat-fcgi: $WORKERS workers on $FCGI_SOCK (pids $(fcgi_pids))"
      return 0
    fi
    if [ "$i" -gt 5 ] && [ -z "$(fcgi_pids)" ]; then
      break
    fi
    sleep 0.1
  done
  tail -n 20 "$LOG/fcgi.log" >&2 2>/dev/null || true
  fcgi_stop
  die "chat-fcgi did not start on $FCGI_SOCK; see $LOG/fcgi.log"
}

fcgi_stop() {
  local pids
  pids=$(fcgi_pids)
  # shellcheck disable=SC2086 # one word per pid
  [ -z "$pids" ] || { terminate chat-fcgi $pids && say "chat-fcgi stopped"; } || true
  rm -f "$FCGI_SOCK" "$FCGI_PID"
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Bridge i (0-based) listens on WS_PORT+i; its pid file and log carry the
# index (none for bridge 0).
ws_port() { printf '%s\n' $((WS_PORT + $1)); }
ws_pidfile() { printf '%s/ws%s.pid\n' "$RUN" "${1#0}"; }
ws_log() { printf '%s/ws%s.log\n' "$LOG" "${1#0}"; }

# Pids of every bridge of this stack, or of bridge $1 alone.
ws_pids() {
  local i
  if [ $# -gt 0 ]; then
    pids_from_file "$(ws_pidfile "$1")" chat-ws | uniq_pids
    return 0
  fi
  {
    for ((i = 0; i < BRIDGES; i++)); do
      pids_from_file "$(ws_pidfile "$i")" chat-ws
    done
    pids_marked chat-ws
  } | uniq_pids
}

# Starts bridge $1 and waits until its port accepts.
ws_start_one() {
  local i=$1 n bin port pidfile log
  bin=$(runnable "$BUILD/chat-ws")
  service_env
  port=$(ws_port "$i")
  pidfile=$(ws_pidfile "$i")
  log=$(ws_log "$i")
  rm -f "$pidfile"
  # The shell writes its pid and becomes chat-ws; setsid keeps it out of the
  # terminal's process group, and no descriptor of ours stays open in it.
  # shellcheck disable=SC2016 # $$, $0 and $1 belong to that inner shell
  as_user env -i "${svc_env[@]}" "CHAT_WS_PORT=$port" "CHAT_WS_SID_PREFIX=b${i}_" \
    setsid /bin/sh -c 'echo $$ >"$1"; exec "$0"' \
    "$bin" "$pidfile" </dev/null >>"$log" 2>&1 9>&- &
  for ((n = 0; n < 100; n++)); do
    if [ -n "$(ws_pids "$i")" ] && port_open "$port"; then
      say "chat-ws: 127.0.0.1:$port (pid $(ws_pids "$i"))"
      return 0
    fi
    if [ "$n" -gt 5 ] && [ -z "$(ws_pids "$i")" ]; then
      break
    fi
    sleep 0.1
  done
  tail -n 20 "$log" >&2 || true
  die "chat-ws did not start listening on 127.0.0.1:$port; see $log"
}

ws_start() {
  local i
  [ -e "$BUILD/chat-ws" ] || {
    say "chat-ws: $BUILD/chat-ws not built; /socket.io/ will answer 502"
    return 0
  }
  for ((i = 0; i < BRIDGES; i++)); do
    ws_start_one "$i"
  done
}

# Stops bridge $1 (SIGTERM, or the signal in $2), or every bridge.
ws_stop() {
  local pids
  if [ $# -gt 0 ]; then
    pids=$(ws_pids "$1")
    if [ -n "${2:-}" ] && [ -n "$pids" ]; then
      # shellcheck disable=SC2086 # one word per pid
      kill "-$2" $pids 2>/dev/null || true
      sleep 0.2
    fi
  else
    pids=$(ws_pids)
  fi
  # shellcheck disable=SC2086 # one word per pid
  [ -z "$pids" ] || { terminate chat-ws $pids && say "chat-ws stopped"; } || true
  if [ $# -gt 0 ]; then
    rm -f "$(ws_pidfile "$1")"
  else
    rm -f "$RUN"/ws*.pid
  fi
}

# ws_each TEMPLATE -- TEMPLATE once per bridge, on one line, with {i}
# replaced by the bridge's index and {port} by its port: the nginx upstream
# servers, the upstream of each bridge for its polling sessions (their sid
# starts with b<i>_, CHAT_WS_SID_PREFIX), and the map from sid prefix to it.
ws_each() {
  local i out='' one
  for ((i = 0; i < BRIDGES; i++)); do
    one=${1//\{i\}/$i}
    out+=${one//\{port\}/$(ws_port "$i")}
  done
  printf '%s\n' "$out"
}

nginx_pids() {
  { pids_from_file "$NGINX_PID" nginx; pids_nginx; } | uniq_pids
}

# Replaces @NAME@ in the template; values are escaped for sed.
render_nginx_conf() {
  local access extra='' web out=$NGINX_CONF.tmp
  local -a expr=()
  if [ "$ACCESS_LOG" = 0 ]; then
    access='access_log off;'
  else
    access="access_log $LOG/nginx-access.log chat buffer=64k flush=1s;"
  fi
  # Builds without these modules reject their directives.
  if ! nginx -V 2>&1 | grep -q -- --without-http_uwsgi_module; then
    extra+="uwsgi_temp_path $NGINX_DIR/tmp/uwsgi; "
  fi
  if ! nginx -V 2>&1 | grep -q -- --without-http_scgi_module; then
    extra+="scgi_temp_path $NGINX_DIR/tmp/scgi;"
  fi
  sed_value() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }
  expr+=(-e "s|@STATE@|$(sed_value "$STATE")|g")
  expr+=(-e "s|@RUN@|$(sed_value "$RUN")|g")
  expr+=(-e "s|@LOG@|$(sed_value "$LOG")|g")
  web=$(readable_copy "$WEB")
  expr+=(-e "s|@WEB@|$(sed_value "$web")|g")
  expr+=(-e "s|@PORT@|$PORT|g" -e "s|@WS_SERVERS@|$(ws_each 'server 127.0.0.1:{port}; ')|g")
  expr+=(-e "s|@WS_UPSTREAMS@|$(ws_each 'upstream chat_ws_b{i} { server 127.0.0.1:{port}; } ')|g")
  expr+=(-e "s|@WS_SID_MAP@|$(ws_each '~^b{i}_ chat_ws_b{i}; ')|g")
  expr+=(-e "s|@JOIN_RATE@|$(sed_value "$JOIN_RATE")|g" -e "s|@JOIN_BURST@|$JOIN_BURST|g")
  expr+=(-e "s|@CLIENT_TIMEOUT@|$CLIENT_TIMEOUT|g")
  expr+=(-e "s|@ACCESS_LOG@|$(sed_value "$access")|g")
  expr+=(-e "s|@EXTRA_TEMP_PATHS@|$(sed_value "$extra")|g")
  sed "${expr[@]}" "$here/nginx.conf.in" >"$out"
  if grep -n '@[A-Z_]*@' "$out" >&2; then
    die "unreplaced placeholders in $out"
  fi
  mv -f "$out" "$NGINX_CONF"
  [ "$(id -u)" -ne 0 ] || chown "$RUN_USER:$RUN_USER" "$NGINX_CONF"
}

nginx_cmd() {
  as_user nginx -p "$NGINX_DIR/" -c "$NGINX_CONF" -e "$LOG/nginx-error.log" "$@"
}

nginx_start() {
  local i
  command -v nginx >/dev/null 2>&1 || die "nginx not found (run deploy/local/deps.sh)"
  render_nginx_conf
  rm -f "$NGINX_PID"
  nginx_cmd -q -t || die "nginx rejects $NGINX_CONF"
  nginx_cmd || die "nginx did not start; see $LOG/nginx-error.log"
  # The daemon writes its pid file after the starting process has returned.
  for ((i = 0; i < 50; i++)); do
    [ -n "$(pids_from_file "$NGINX_PID" nginx)" ] && break
    sleep 0.1
  done
  [ -n "$(pids_from_file "$NGINX_PID" nginx)" ] || die "nginx wrote no pid file; see $LOG/nginx-error.log"
  say "nginx: http://127.0.0.1:$PORT/ (pid $(nginx_pids))"
}

nginx_stop() {
  local pids
  pids=$(nginx_pids)
  # shellcheck disable=SC2086 # one word per pid
  [ -z "$pids" ] || { terminate nginx $pids && say "nginx stopped"; } || true
  rm -f "$NGINX_PID"
}

# ---------------------------------------------------------------- readiness

health_code() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$PORT/api/health" || true
}

# wait_ready MODE -- "healthy": until /api/health is 200; "answering": until a
# worker answers at all (200, or 503 while the database is down).
wait_ready() {
  local mode=$1 code='' deadline=$((SECONDS + START_TIMEOUT))
  while [ "$SECONDS" -lt "$deadline" ]; do
    code=$(health_code)
    case $mode:$code in
      healthy:200 | answering:200 | answering:503) return 0 ;;
    esac
    sleep 0.2
  done
  warn "GET http://127.0.0.1:$PORT/api/health did not answer 200 within $START_TIMEOUT s (last status ${code:-none})"
  warn "--- tail of $LOG/fcgi.log"
  tail -n 30 "$LOG/fcgi.log" >&2 2>/dev/null || true
  warn "--- tail of $LOG/nginx-error.log"
  tail -n 10 "$LOG/nginx-error.log" >&2 2>/dev/null || true
  return 1
}

# ---------------------------------------------------------------- commands

lock() {
  mkdir -p "$STATE"
  exec 9>>"$STATE/.stack.lock"
  flock -w 120 9 || die "another stack.sh holds $STATE/.stack.lock"
}
unlock() { exec 9>&-; }

any_running() {
  [ -n "$(nginx_pids)$(fcgi_pids)$(ws_pids)" ] || { ! external_db && pg_running; }
}

stop_all() {
  nginx_stop
  ws_stop
  fcgi_stop
  pg_stop
}

starting=
on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ -n "$starting" ]; then
    trap '' INT TERM HUP PIPE
    warn "start failed or was interrupted; stopping what was started (logs stay in $LOG)"
    stop_all || true
  fi
}

start_all() {
  local i
  check_settings
  ensure_user
  relocate_state
  lock
  if any_running; then
    say "a stack is already running in $STATE; restarting it"
    stop_all
  fi
  ! port_open "$PORT" || die "127.0.0.1:$PORT is in use by another program; choose another CHAT_PORT"
  if [ -e "$BUILD/chat-ws" ]; then
    for ((i = 0; i < BRIDGES; i++)); do
      ! port_open "$(ws_port "$i")" ||
        die "127.0.0.1:$(ws_port "$i") (chat-ws) is in use by another program; choose another CHAT_WS_PORT"
    done
  fi
  starting=1
  trap on_exit EXIT
  # An interrupted start exits through on_exit too.
  trap 'exit 130' INT TERM HUP PIPE
  prepare_dirs
  check_binary "$BUILD/chat-fcgi"
  [ ! -e "$BUILD/chat-ws" ] || check_binary "$BUILD/chat-ws"
  # nginx wants two descriptors per proxied connection.
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  if external_db; then
    say "using DATABASE_URL from the environment (no private PostgreSQL)"
  else
    pg_start
  fi
  migrate
  fcgi_start
  ws_start
  nginx_start
  wait_ready healthy || die "the stack is not healthy"
  starting=
  unlock
}

cmd_run() {
  local sleeper=''
  start_all
  echo "chat is running at http://127.0.0.1:$PORT/ (Ctrl-C stops it)"
  stop_requested=
  trap 'stop_requested=1' INT TERM HUP
  while [ -z "$stop_requested" ]; do
    sleep 2 &
    sleeper=$!
    wait "$sleeper" 2>/dev/null || true
    if [ -z "$stop_requested" ] && [ -z "$(nginx_pids)" ]; then
      warn "nginx is gone; stopping the stack"
      break
    fi
  done
  [ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null || true
  trap '' INT TERM HUP
  echo
  lock
  stop_all
  say "stopped"
  if [ -n "$stop_requested" ]; then
    exit 0
  fi
  exit 1
}

cmd_status() {
  local up=0 pids
  if external_db; then
    say "database: DATABASE_URL from the environment"
  elif pg_running; then
    say "postgres:  running (pid $(head -n 1 "$PGDATA/postmaster.pid"), socket $RUN)"
  else
    say "postgres:  stopped"
    up=3
  fi
  pids=$(fcgi_pids)
  if [ -n "$pids" ]; then
    say "chat-fcgi: running (pids $pids)"
  else
    say "chat-fcgi: stopped"
    up=3
  fi
  pids=$(ws_pids)
  if [ -n "$pids" ]; then
    say "chat-ws:   running (pid $pids, $BRIDGES bridge(s) from 127.0.0.1:$WS_PORT)"
  elif [ -e "$BUILD/chat-ws" ]; then
    say "chat-ws:   stopped"
    up=3
  else
    say "chat-ws:   not built"
  fi
  pids=$(nginx_pids)
  if [ -n "$pids" ]; then
    say "nginx:     running (pid $pids, http://127.0.0.1:$PORT/)"
  else
    say "nginx:     stopped"
    up=3
  fi
  external_db || say "DATABASE_URL='$(database_url)'"
  return "$up"
}

# Prints the header comment from "Usage:" to its end.
usage() {
  sed -n '4,/^[^#]/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}" >&2
  exit 2
}

case ${1:-} in
  start)
    start_all
    echo "chat is running at http://127.0.0.1:$PORT/"
    ;;
  stop)
    check_settings
    # Without a state dir there are no files to guard; processes a crashed
    # run left behind are still looked for.
    [ ! -d "$STATE" ] || lock
    stop_all
    ;;
  run)
    cmd_run
    ;;
  status)
    check_settings
    cmd_status
    ;;
  pg-stop)
    check_settings
    external_db && die "DATABASE_URL is set: pg-stop manages only the private cluster"
    [ ! -d "$STATE" ] || lock
    pg_stop
    ;;
  pg-start)
    check_settings
    ensure_user
    relocate_state
    lock
    prepare_dirs
    pg_start
    ;;
  fcgi-restart)
    check_settings
    lock
    fcgi_stop
    fcgi_start
    wait_ready answering || die "chat-fcgi does not answer after the restart"
    ;;
  ws-stop | ws-kill | ws-start | ws-restart)
    check_settings
    lock
    idx=${2:-}
    if [ -n "$idx" ] && { ! [[ $idx =~ ^[0-9]+$ ]] || [ "$idx" -ge "$BRIDGES" ]; }; then
      die "no bridge $idx (CHAT_WS_BRIDGES=$BRIDGES)"
    fi
    case $1 in
      ws-kill)
        [ -n "$idx" ] || die "ws-kill needs a bridge index"
        ws_stop "$idx" KILL
        ;;
      ws-stop | ws-restart)
        if [ -n "$idx" ]; then ws_stop "$idx"; else ws_stop; fi
        ;;
    esac
    case $1 in
      ws-start | ws-restart)
        if [ -n "$idx" ]; then ws_start_one "$idx"; else ws_start; fi
        ;;
    esac
    ;;
  psql)
    shift
    check_settings
    exec psql "$(database_url)" "$@"
    ;;
  *)
    usage
    ;;
esac
