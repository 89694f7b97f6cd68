# shellcheck shell=bash
# services.sh -- the chat services: the chat-fcgi pool under spawn-fcgi and
# the chat-ws bridges, each started in a process group of its own whose id
# its pid file under <state>/run keeps.
# Sourced by deploy/local/stack.sh after common.sh and pg.sh.

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
  if [ ! -x "$bin" ] || [ ! -r "$bin" ]; then
    die "user '$(id -un)' cannot execute '$bin' (check the permissions of it and its parent directories)"
  fi
}

# ---------------------------------------------------------------- chat-fcgi

# The supervisor and its workers.
fcgi_pids() { group_pids chat-fcgi "$FCGI_PID"; }

fcgi_start() {
  local bin=$BUILD/chat-fcgi
  check_binary "$bin"
  service_env
  # spawn-fcgi refuses a socket someone still accepts on; our workers are
  # stopped by now, so a socket file left here is stale.
  rm -f "$FCGI_SOCK"
  # spawn-fcgi -n creates the socket and becomes chat-fcgi, which forks
  # CHAT_FCGI_WORKERS workers on it, keeps their stderr (our log) and
  # replaces any that dies.
  spawn "$FCGI_PID" "$LOG/fcgi.log" env -i "${svc_env[@]}" "CHAT_FCGI_WORKERS=$WORKERS" \
    spawn-fcgi -n -s "$FCGI_SOCK" -M 0600 -- "$bin"
  if wait_started fcgi_pids test -S "$FCGI_SOCK"; then
    say "chat-fcgi: $WORKERS workers on $FCGI_SOCK (pids $(fcgi_pids))"
    return 0
  fi
  tail -n 20 "$LOG/fcgi.log" >&2 2>/dev/null || true
  fcgi_stop
  die "chat-fcgi did not start on $FCGI_SOCK; see $LOG/fcgi.log"
}

fcgi_stop() {
  stop_group chat-fcgi "$FCGI_PID"
  rm -f "$FCGI_SOCK"
}

# ---------------------------------------------------------------- chat-ws

# Bridge i (0-based) listens on WS_PORT+i; its pid file and log carry the
# index (none for bridge 0). Any other run/ws*.pid is a bridge of the stack
# too (a test's extra bridge, tests/e2e/sio.mjs): stop ends it as well.
ws_port() { printf '%s\n' $((WS_PORT + $1)); }
ws_pidfile() { printf '%s/ws%s.pid\n' "$RUN" "${1#0}"; }
ws_log() { printf '%s/ws%s.log\n' "$LOG" "${1#0}"; }
# Bridge i's unix socket (CHAT_WS_UNIX=1).
ws_sock() { printf '%s/ws%s.sock\n' "$RUN" "$1"; }
# Where nginx reaches bridge i: 127.0.0.1:<port> or unix:<socket>.
ws_addr() {
  if [ "$WS_UNIX" = 1 ]; then
    printf 'unix:%s\n' "$(ws_sock "$1")"
  else
    printf '127.0.0.1:%s\n' "$(ws_port "$1")"
  fi
}
# True when something accepts connections on the unix socket $1.
sock_open() {
  [ -S "$1" ] && python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' "$1" 2>/dev/null
}

# Pids of every bridge of this stack, or of bridge $1 alone.
ws_pids() {
  if [ $# -gt 0 ]; then
    group_pids chat-ws "$(ws_pidfile "$1")"
  else
    group_pids chat-ws "$RUN"/ws*.pid
  fi
}

# Starts bridge $1 and waits until its port (or socket) accepts.
ws_start_one() {
  local i=$1 bin=$BUILD/chat-ws port log sock listen=() ready
  check_binary "$bin"
  service_env
  port=$(ws_port "$i")
  log=$(ws_log "$i")
  ready=(port_open "$port")
  if [ "$WS_UNIX" = 1 ]; then
    sock=$(ws_sock "$i")
    # Ours, and nobody accepts on it any more (the bridge is stopped).
    rm -f "$sock"
    listen=("CHAT_WS_LISTEN=$sock")
    ready=(sock_open "$sock")
  fi
  spawn "$(ws_pidfile "$i")" "$log" env -i "${svc_env[@]}" "CHAT_WS_PORT=$port" \
    "${listen[@]}" "CHAT_WS_SID_PREFIX=b${i}_" "$bin"
  if wait_started "ws_pids $i" "${ready[@]}"; then
    say "chat-ws: $(ws_addr "$i") (pid $(ws_pids "$i"))"
    return 0
  fi
  tail -n 20 "$log" >&2 || true
  die "chat-ws did not start listening on $(ws_addr "$i"); see $log"
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

# Stops bridge $1 (SIGTERM, or first the signal in $2), or every bridge.
ws_stop() {
  local pids
  if [ $# -eq 0 ]; then
    stop_group chat-ws "$RUN"/ws*.pid
    return 0
  fi
  pids=$(ws_pids "$1")
  if [ -n "${2:-}" ] && [ -n "$pids" ]; then
    # shellcheck disable=SC2086 # one word per pid
    kill "-$2" $pids 2>/dev/null || true
    sleep 0.2
    [ -n "$(ws_pids "$1")" ] || say "chat-ws stopped"
  fi
  stop_group chat-ws "$(ws_pidfile "$1")"
}
