#!/usr/bin/env bash
# floor.sh -- the floors under the storm targets: what one round trip and one
# WebSocket upgrade cost on this machine and in nginx, without chat-ws.
#
# Usage: bench/floor/floor.sh      (make bench-floor; about 30 s)
#
# Runs build/net-floor (bench/floor/net-floor.c):
#   pingpong      a bare loopback TCP ping-pong, blocking and with an event
#                 loop per side: CPU per round trip of each side
#   ws-ping       WebSocket frames of the heartbeat's sizes (7 bytes in, 3
#                 out) to a trivial upstream, directly and through nginx:
#                 CPU per round trip of the client, nginx, the upstream;
#                 FLOOR_CONNS connections, one frame each per round (1: every
#                 round trip wakes each process alone, as idle heartbeats do)
#   ws-connect    FLOOR_UPGRADES WebSocket upgrades (FLOOR_INFLIGHT at a
#                 time), directly and through nginx: connects/s, CPU per
#                 connect and per close of each process
# nginx runs with the stack's own /socket.io/ location (copied out of
# deploy/local/nginx.conf.in at run time, so the proxy settings are the
# stack's), its worker_processes and worker_connections, and the access log
# as the stack writes it, on 127.0.0.1:BENCH_PORT+7; the upstream listens on
# BENCH_PORT+8.
#
# Environment (defaults):
#   BENCH_PORT 18380   FLOOR_ROUNDS 20000   FLOOR_CONNS 1
#   FLOOR_UPGRADES 5000   FLOOR_INFLIGHT 100   FLOOR_NGINX_EXTRA (directives
#   added to the location, e.g. "proxy_buffer_size 4k;")
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"

[ $# -eq 0 ] || { sed -n '3,/^set -e/{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit 2; }

base=${BENCH_PORT:-18380}
nport=$((base + 7)) uport=$((base + 8))
rounds=${FLOOR_ROUNDS:-20000} conns=${FLOOR_CONNS:-1}
upgrades=${FLOOR_UPGRADES:-5000} inflight=${FLOOR_INFLIGHT:-100}
for v in "$rounds" "$conns" "$upgrades" "$inflight"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "floor: expected a positive number, got '$v'" >&2; exit 2; }
done
command -v nginx >/dev/null 2>&1 || { echo "floor: nginx not found" >&2; exit 1; }

make BUILD=build net-floor >&2
bin=build/net-floor
dir=$(mktemp -d)
upid='' npid=''
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  [ -z "$npid" ] || kill "$npid" 2>/dev/null || true
  [ -z "$upid" ] || kill "$upid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The stack's location, as deploy/local/stack.sh renders it, to one upstream.
location=$(sed -n '/^        location \/socket.io\/ {/,/^        }/p' deploy/local/nginx.conf.in)
[ -n "$location" ] || { echo "floor: no /socket.io/ location in nginx.conf.in" >&2; exit 1; }
location=${location/'proxy_buffering off;'/"proxy_buffering off; ${FLOOR_NGINX_EXTRA:-}"}
mkdir -p "$dir/tmp" "$dir/log"
cat >"$dir/nginx.conf" <<EOF
worker_processes auto;
pid $dir/nginx.pid;
lock_file $dir/nginx.lock;
error_log $dir/log/error.log warn;
events { worker_connections 16384; }
http {
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    keepalive_timeout 65s;
    log_format chat '\$remote_addr - [\$time_local] "\$request_method \$uri \$server_protocol" '
                    '\$status \$body_bytes_sent \$request_time "\$http_user_agent"';
    access_log $dir/log/access.log chat buffer=64k flush=1s;
    upstream chat_ws { server 127.0.0.1:$uport max_fails=0; }
    map \$arg_sid \$chat_ws_upstream { default chat_ws; }
    map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }
    server {
        listen 127.0.0.1:$nport;
$location
    }
}
EOF

"$bin" upstream "$uport" &
upid=$!
nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/log/error.log" -g 'daemon off;' &
npid=$!
for ((i = 0; i < 50; i++)); do
  workers=$(pgrep -d, -P "$npid" || true)
  [ -n "$workers" ] && (exec 3<>"/dev/tcp/127.0.0.1/$nport") 2>/dev/null && break
  sleep 0.1
done
[ -n "$workers" ] || { echo "floor: nginx did not start" >&2; cat "$dir/log/error.log" >&2; exit 1; }

printf '\n### loopback TCP ping-pong, %s round trips\n' "$rounds"
"$bin" pingpong "$rounds"
printf '\n### WebSocket round trips (7 bytes in, 3 out), %s connections x %s rounds\n' "$conns" "$rounds"
"$bin" ws-ping "$uport" "$rounds" "$conns" upstream="$upid" | sed 's/^/direct   /'
"$bin" ws-ping "$nport" "$rounds" "$conns" nginx="$workers" upstream="$upid" | sed 's/^/nginx    /'
printf '\n### WebSocket upgrades, %s, %s in flight\n' "$upgrades" "$inflight"
"$bin" ws-connect "$uport" "$upgrades" "$inflight" upstream="$upid" | sed 's/^/direct   /'
"$bin" ws-connect "$nport" "$upgrades" "$inflight" nginx="$workers" upstream="$upid" |
  sed 's/^/nginx    /'
