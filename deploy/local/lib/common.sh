# shellcheck shell=bash
# common.sh -- what every part of the local stack shares: settings and paths,
# messages, the lock, and the children the stack owns by their pid files.
#
# Sourced by deploy/local/stack.sh, which sets `here` (deploy/local) and
# `repo` (the checkout, or the service user's copy of it: see root.sh).

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

# ---------------------------------------------------------------- settings

PORT=${CHAT_PORT:-8080}
WS_PORT=${CHAT_WS_PORT:-$((PORT + 1))}
# STACK_STATE_DIR and STACK_BUILD are set only by root.sh when it re-executes
# this script as the service user: the paths resolved from the caller's
# directory, which that user may not be able to enter.
STATE=${STACK_STATE_DIR:-$(absolute "${CHAT_STATE_DIR:-$repo/var/local}")}
STATE=${STATE%/}
BUILD=${STACK_BUILD:-$(absolute "${CHAT_BUILD:-$repo/build}")}
BUILD=${BUILD%/}
WORKERS=${CHAT_FCGI_WORKERS:-4}
BRIDGES=${CHAT_WS_BRIDGES:-1}
# 1: nginx reaches the bridges over unix sockets (run/ws<i>.sock, CHAT_WS_LISTEN).
WS_UNIX=${CHAT_WS_UNIX:-0}
JOIN_RATE=${CHAT_NGINX_JOIN_RATE:-5r/s}
JOIN_BURST=${CHAT_NGINX_JOIN_BURST:-60}
CLIENT_TIMEOUT=${CHAT_NGINX_CLIENT_TIMEOUT:-10s}
ACCESS_LOG=${CHAT_NGINX_ACCESS_LOG:-1}
START_TIMEOUT=${CHAT_START_TIMEOUT:-20}
WEB=$repo/web

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
  # In the services' environment: bench/procstat.c counts the processes of
  # the stack by it. The stack itself finds them by their pid files.
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
  [[ $WS_UNIX =~ ^[01]$ ]] || die "CHAT_WS_UNIX must be 0 or 1, got '$WS_UNIX'"
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

# Creates the state dir tree.
prepare_dirs() {
  mkdir -p "$STATE" "$RUN" "$LOG" "$NGINX_DIR/tmp"
  # Sockets with trust authentication live here: owner only.
  chmod 0700 "$RUN"
  if [ ! -w "$STATE" ] || [ ! -x "$STATE" ]; then
    die "user '$(id -un)' cannot write '$STATE' (a parent directory may not be searchable by it)"
  fi
}

# Serialises the commands on one state dir. Read-only, so that a lock file
# another user created does not stand in the way.
lock() {
  mkdir -p "$STATE"
  [ -e "$STATE/.stack.lock" ] || : >>"$STATE/.stack.lock"
  exec 9<"$STATE/.stack.lock"
  flock -w 120 9 || die "another stack.sh holds $STATE/.stack.lock"
}
unlock() { exec 9<&-; }

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ---------------------------------------------------------------- children

# The stack owns what it starts: each service runs in a session (and so a
# process group) of its own, and its pid file holds that group's id, the pid
# of its first process. Its workers share the group; a worker that outlives
# its master (SIGKILL) is still found there.

# spawn PIDFILE LOG CMD... -- starts CMD in the background in a new session,
# from /, stdin /dev/null, stdout and stderr appended to LOG, without the
# lock; PIDFILE gets its pid before CMD runs.
spawn() {
  local pidfile=$1 log=$2
  shift 2
  rm -f "$pidfile"
  # The inner shell writes its pid and becomes CMD, so the pid is CMD's even
  # when setsid has to fork.
  # shellcheck disable=SC2016 # $$, $0 and $@ belong to that inner shell
  (cd / && exec setsid /bin/sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@") \
    </dev/null >>"$log" 2>&1 9<&- &
}

# True when the process exists and is not a zombie. Orphans are not always
# reaped (a container's init may not), and kill -0 succeeds on a zombie.
pid_alive() {
  local stat state
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  state=${stat##*) }
  state=${state%% *}
  [ "$state" != Z ] && [ "$state" != X ]
}

# True when the process is alive and its command name is $2.
pid_is() {
  local comm
  pid_alive "$1" || return 1
  { read -r comm <"/proc/$1/comm"; } 2>/dev/null || return 1
  [ "$comm" = "$2" ]
}

# group_pids NAME PIDFILE... -- prints on one line the live processes named
# NAME in the process groups the pid files record. The name guards against a
# pid file whose group is long gone and whose number is reused.
group_pids() {
  local name=$1 file pgid pid
  local -a found=()
  shift
  for file in "$@"; do
    [ -f "$file" ] || continue
    pgid=
    { read -r pgid <"$file" || [ -n "$pgid" ]; } 2>/dev/null || continue
    # 0 would be our own group, 1 init's.
    [[ $pgid =~ ^[0-9]+$ ]] || continue
    [ "$pgid" -gt 1 ] || continue
    for pid in $(pgrep -g "$pgid" -x "$name"); do
      if pid_alive "$pid"; then
        found+=("$pid")
      fi
    done
  done
  [ "${#found[@]}" -eq 0 ] || printf '%s\n' "${found[@]}" | sort -un | paste -sd ' ' -
}

# alive PID... -- prints, on one line, those of the processes that are alive.
alive() {
  local pid out=''
  for pid in "$@"; do
    if pid_alive "$pid"; then
      out+="${out:+ }$pid"
    fi
  done
  printf '%s\n' "$out"
}

# gone_within TENTHS PID... -- true once none of the processes is alive,
# looking every tenth of a second, TENTHS times at most.
gone_within() {
  local n=$1 i
  shift
  for ((i = 0; i < n; i++)); do
    [ -n "$(alive "$@")" ] || return 0
    sleep 0.1
  done
  return 1
}

# terminate WHAT PID... -- SIGTERM, wait up to 5 s, then SIGKILL.
terminate() {
  local what=$1
  local -a left
  shift
  [ "$#" -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  ! gone_within 50 "$@" || return 0
  read -ra left <<<"$(alive "$@")"
  warn "$what (pid ${left[*]}) still running 5 s after SIGTERM; sending SIGKILL"
  kill -KILL "${left[@]}" 2>/dev/null || true
  ! gone_within 20 "${left[@]}" || return 0
  warn "$what (pid $(alive "${left[@]}")) survived SIGKILL"
  return 1
}

# wait_started PIDS READY... -- polls for up to 10 s until PIDS (a command
# printing the pids of a service, with its arguments in one word) prints
# some and the command READY succeeds; fails at once when, after half a
# second, PIDS prints none (the service died).
wait_started() {
  local i
  local -a pids
  read -ra pids <<<"$1"
  shift
  for ((i = 0; i < 100; i++)); do
    if [ -n "$("${pids[@]}")" ] && "$@"; then
      return 0
    fi
    if [ "$i" -gt 5 ] && [ -z "$("${pids[@]}")" ]; then
      return 1
    fi
    sleep 0.1
  done
  return 1
}

# stop_group NAME PIDFILE... -- terminates the processes named NAME in the
# groups the pid files record, then removes the files. A supervisor may fork
# a replacement while its workers go, so the groups are looked at again.
stop_group() {
  local name=$1 pids round stopped=
  shift
  for ((round = 0; round < 3; round++)); do
    pids=$(group_pids "$name" "$@")
    [ -n "$pids" ] || break
    # shellcheck disable=SC2086 # one word per pid
    terminate "$name" $pids || true
    stopped=1
  done
  [ -z "$stopped" ] || say "$name stopped"
  rm -f "$@"
}
