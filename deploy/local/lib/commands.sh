# shellcheck shell=bash
# commands.sh -- the commands of deploy/local/stack.sh that span the whole
# stack: start, stop, run, status, and the readiness check they share.
# Sourced by deploy/local/stack.sh after the other parts.

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

any_running() {
  [ -n "$(nginx_pids)$(fcgi_pids)$(ws_pids)" ] || { ! external_db && pg_running; }
}

stop_all() {
  nginx_stop
  ws_stop
  fcgi_stop
  replica_stop
  pg_stop
}

# Set while a signal or an error must stop what start_all started.
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
  unlock
}

# start_all, then the stack is up: the caller clears `starting` once a
# signal no longer means "stop what was started".
cmd_start() {
  start_all
  starting=
  echo "chat is running at http://127.0.0.1:$PORT/"
}

cmd_run() {
  local sleeper=''
  start_all
  stop_requested=
  trap 'stop_requested=1' INT TERM HUP
  starting=
  echo "chat is running at http://127.0.0.1:$PORT/ (Ctrl-C stops it)"
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
