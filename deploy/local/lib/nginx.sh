# shellcheck shell=bash
# nginx.sh -- the stack's nginx: renders deploy/local/nginx.conf.in into the
# state dir and runs nginx in the foreground of a process group of its own
# (daemon off), as the stack's user, on 127.0.0.1:CHAT_PORT.
# Sourced by deploy/local/stack.sh after common.sh and services.sh.

# ws_each TEMPLATE -- TEMPLATE once per bridge, on one line, with {i}
# replaced by the bridge's index and {addr} by where nginx reaches it
# (127.0.0.1:<port>, or unix:<socket> with CHAT_WS_UNIX=1): the nginx upstream
# servers, the upstream of each bridge for its polling sessions (their sid
# starts with b<i>_, CHAT_WS_SID_PREFIX), and the map from sid prefix to it.
ws_each() {
  local i out='' one
  for ((i = 0; i < BRIDGES; i++)); do
    one=${1//\{i\}/$i}
    out+=${one//\{addr\}/$(ws_addr "$i")}
  done
  printf '%s\n' "$out"
}

# The master and its workers.
nginx_pids() { group_pids nginx "$NGINX_PID"; }

sed_value() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }

# Replaces @NAME@ in the template; values are escaped for sed.
render_nginx_conf() {
  local access extra='' out=$NGINX_CONF.tmp
  local -a expr=()
  if [ "$ACCESS_LOG" = 0 ]; then
    access='access_log off;'
  else
    access="access_log $LOG/nginx-access.log chat buffer=64k flush=1s;"
  fi
  # Builds without these modules reject their directives. (Read whole
  # first: under pipefail a grep -q that leaves early fails the pipe.)
  local built
  built=$(nginx -V 2>&1)
  if ! grep -q -- --without-http_uwsgi_module <<<"$built"; then
    extra+="uwsgi_temp_path $NGINX_DIR/tmp/uwsgi; "
  fi
  if ! grep -q -- --without-http_scgi_module <<<"$built"; then
    extra+="scgi_temp_path $NGINX_DIR/tmp/scgi;"
  fi
  expr+=(-e "s|@STATE@|$(sed_value "$STATE")|g")
  expr+=(-e "s|@RUN@|$(sed_value "$RUN")|g")
  expr+=(-e "s|@LOG@|$(sed_value "$LOG")|g")
  expr+=(-e "s|@WEB@|$(sed_value "$WEB")|g")
  expr+=(-e "s|@PORT@|$PORT|g" -e "s|@WS_SERVERS@|$(ws_each 'server {addr} max_fails=0; ')|g")
  expr+=(-e "s|@WS_UPSTREAMS@|$(ws_each 'upstream chat_ws_b{i} { server {addr}; } ')|g")
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
}

nginx_cmd() {
  nginx -p "$NGINX_DIR/" -c "$NGINX_CONF" -e "$LOG/nginx-error.log" "$@"
}

nginx_start() {
  command -v nginx >/dev/null 2>&1 || die "nginx not found (run deploy/local/deps.sh)"
  [ -r "$WEB/index.html" ] || die "user '$(id -un)' cannot read '$WEB/index.html'"
  render_nginx_conf
  nginx_cmd -q -t || die "nginx rejects $NGINX_CONF"
  # nginx writes the same pid to the same file (the configuration's "pid")
  # and removes it when it exits.
  spawn "$NGINX_PID" "$LOG/nginx-error.log" nginx -p "$NGINX_DIR/" -c "$NGINX_CONF" \
    -e "$LOG/nginx-error.log" -g 'daemon off;'
  if wait_started nginx_pids port_open "$PORT"; then
    say "nginx: http://127.0.0.1:$PORT/ (pid $(nginx_pids))"
    return 0
  fi
  tail -n 10 "$LOG/nginx-error.log" >&2 2>/dev/null || true
  die "nginx did not start on 127.0.0.1:$PORT; see $LOG/nginx-error.log"
}

nginx_stop() { stop_group nginx "$NGINX_PID"; }
