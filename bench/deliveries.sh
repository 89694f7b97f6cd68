#!/usr/bin/env bash
# deliveries.sh -- system calls and CPU per delivery of chat-ws and nginx apart
# (bench/README.md, "Issue 16: deliveries").
#
# Usage: bench/deliveries.sh OUT [fanout|heartbeat] [chat-bench args...]
#
# Starts a fresh stack of this tree (deploy/local/stack.sh, state dir
# var/bench-d, nginx on BENCH_PORT, default 18380; CHAT_WS_UNIX=1 puts the
# bridge on a unix socket; DIRECT=1 sends chat-bench's WebSockets straight to
# chat-ws, without nginx, as bench/compare's chat-direct row), then
#   fanout:    chat-bench fanout, 200 clients, 10 senders, --rate 200 (pass
#              --rate 20 etc. to change it);
#   heartbeat: 2000 idle clients with CHAT_WS_PING_INTERVAL=1000 (2000 ping
#              round trips a second).
# Once chat-ws's chat_ws_frames_out_total climbs, counts 10 s of
# `perf stat -e 'syscalls:sys_enter_*'` on chat-ws and on the nginx workers
# and their CPU ticks (/proc/<pid>/stat), and writes OUT.json (chat-bench),
# OUT.ws.perf, OUT.ng.perf and OUT.cpu ("frames F sends S ws_ticks T ng_ticks U",
# ticks of 10 ms, over the same 10 s). Run it under nice -n -19, base and new
# interleaved. Needs root (perf) and linux-perf.
set -uo pipefail
out=$(readlink -f "${1:?usage: bench/deliveries.sh OUT [fanout|heartbeat] [args]}")
mode=${2:-fanout}
shift 2 2>/dev/null || shift $#
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
export CHAT_STATE_DIR=var/bench-d CHAT_PORT=${BENCH_PORT:-18380}
# shellcheck source=bench/stack-env.sh
. bench/stack-env.sh
case $mode in
  fanout) args=(--scenario fanout --clients 200 --senders 10 --rate 200 --procs 2 --warmup 2 --duration 18) min=2000 ;;
  heartbeat)
    export CHAT_WS_PING_INTERVAL=1000
    args=(--scenario idle --clients 2000 --users 200 --procs 2 --warmup 2 --duration 30) min=1500 ;;
  *) echo "bench/deliveries.sh: fanout or heartbeat, not '$mode'" >&2; exit 2 ;;
esac
url=http://127.0.0.1:$CHAT_PORT
[ "${DIRECT:-0}" = 0 ] || args+=(--ws-port $((CHAT_PORT + 1)))
rm -rf var/bench-d
CHAT_WS_BRIDGES=1 deploy/local/stack.sh start >/dev/null || exit 1
trap 'CHAT_WS_BRIDGES=1 deploy/local/stack.sh stop >/dev/null 2>&1' EXIT
sd=$(readlink -f var/bench-d)
wspid=$(cat "$sd/run/ws.pid")
workers=$(pgrep -P "$(cat "$sd/run/nginx.pid")" -d, nginx)
build/chat-bench --url "$url" --stack-dir var/bench-d --label "$(basename "$out")" "${args[@]}" "$@" \
  >"$out.json" 2>"$out.bench.log" &
metric() {
  local v
  v=$(curl -s "$url/metrics/ws/0" | awk -v m="$1" '$1 == m {print $2}')
  echo "${v:-0}"
}
ticks() {
  local p t=0
  for p in ${1//,/ }; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$t"
}
prev=$(metric chat_ws_frames_out_total)
for ((k = 0; k < 150; k++)); do
  sleep 1
  cur=$(metric chat_ws_frames_out_total)
  [ $((cur - prev)) -gt "$min" ] && break
  prev=$cur
done
sleep 3
perf stat -x, -e 'syscalls:sys_enter_*' -p "$wspid" -o "$out.ws.perf" -- sleep 10 &
perf stat -x, -e 'syscalls:sys_enter_*' -p "$workers" -o "$out.ng.perf" -- sleep 10 &
w0=$(ticks "$wspid") n0=$(ticks "$workers")
f0=$(metric chat_ws_frames_out_total) s0=$(metric chat_ws_sends_total)
sleep 10
w1=$(ticks "$wspid") n1=$(ticks "$workers")
f1=$(metric chat_ws_frames_out_total) s1=$(metric chat_ws_sends_total)
wait
echo "frames $((f1 - f0)) sends $((s1 - s0)) ws_ticks $((w1 - w0)) ng_ticks $((n1 - n0))" | tee "$out.cpu"
