#!/usr/bin/env bash
# rooms-cost.sh -- GET /api/rooms through nginx: req/s, CPU and system calls per request of nginx and chat-fcgi.
#
# Usage: bench/rooms-cost.sh [TREE]
#
# Starts a benchmark stack of TREE (default: this checkout; its build/
# must hold release binaries: make all chat-bench) in TREE/var/rbench on
# BENCH_PORT (19380), seeds it as bench/run.sh does (50 rooms, so a page of
# about 17 KB), warms it up, then runs wrk -t2 -c50 GET /api/rooms for
# BENCH_SECS (6) seconds twice:
#  1. plain: req/s, and the CPU time of nginx's workers, the chat-fcgi
#     workers and PostgreSQL from /proc before and after, and wrk's own
#     (the client: on the same 2 cores it takes its share), per request;
#  2. under perf stat -e raw_syscalls:sys_enter,context-switches (far
#     lighter than strace): system calls and context switches per request
#     of nginx's workers and of the chat-fcgi workers.
# Prints one line of figures (and the page's size); the stack is stopped at
# the end. Needs perf (linux-perf) for the second run; without it, prints
# the first run only.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tree=$(cd "${1:-$here/..}" && pwd)
cd "$tree"
export CHAT_STATE_DIR=var/rbench
export CHAT_PORT=${BENCH_PORT:-19380}
secs=${BENCH_SECS:-6}
# shellcheck source=bench/rooms-lib.sh
. "$here/rooms-lib.sh"
bytes=$(curl -sf "$url/api/rooms" -H "Authorization: Bearer $token" | wc -c)

run_wrk() {
  WRK_TOKEN=$token WRK_METHOD=GET wrk -t2 -c50 -d"$1"s --timeout 10s -s "$here/wrk/api.lua" "$url/api/rooms"
}
wrk_reqs() { sed -n 's/^ *\([0-9]*\) requests in.*/\1/p'; }

run_wrk 2 >/dev/null # warm: every worker's caches filled
# shellcheck disable=SC2086
a_f=$(ticks $workers) a_n=$(ticks $nginx) a_p=$(ticks $pg)
tf=$(mktemp) of=$(mktemp)
TIMEFORMAT='%U %S'
{ time run_wrk "$secs" >"$of"; } 2>"$tf"
out=$(cat "$of")
# shellcheck disable=SC2086
b_f=$(ticks $workers) b_n=$(ticks $nginx) b_p=$(ticks $pg)
n=$(echo "$out" | wrk_reqs)
rps=$(echo "$out" | sed -n 's/^Requests\/sec: *//p')
us() { echo $(((($2 - $1) * 1000000 / hz) / n)); }
lat=$(echo "$out" | sed -n 's/^WRKJSON .*"p50":\([0-9]*\),"p90":[0-9]*,"p99":\([0-9]*\).*/p50 \1 us, p99 \2 us/p')
wrk_us=$(awk -v n="$n" '{ printf "%d", ($1 + $2) * 1000000 / n }' "$tf")
rm -f "$tf" "$of"
line="GET /api/rooms ($bytes bytes): $rps req/s ($lat); CPU us/request: nginx $(us "$a_n" "$b_n"), chat-fcgi $(us "$a_f" "$b_f"), postgres $(us "$a_p" "$b_p"), wrk $wrk_us"

if command -v perf >/dev/null; then
  pn=$(mktemp) pf=$(mktemp)
  perf stat -x, -e raw_syscalls:sys_enter,context-switches -p "${nginx// /,}" -o "$pn" &
  s1=$!
  perf stat -x, -e raw_syscalls:sys_enter,context-switches -p "${workers// /,}" -o "$pf" &
  s2=$!
  sleep 0.5
  n=$(run_wrk "$secs" | wrk_reqs)
  kill -INT "$s1" "$s2"
  wait "$s1" "$s2" || true
  sc() { awk -F, -v n="$n" -v e="$2" '$3 ~ e { printf "%.2f", $1 / n }' "$1"; }
  line="$line; syscalls/request: nginx $(sc "$pn" raw_syscalls), chat-fcgi $(sc "$pf" raw_syscalls)"
  line="$line; context switches/request: nginx $(sc "$pn" context-switches), chat-fcgi $(sc "$pf" context-switches)"
  rm -f "$pn" "$pf"
fi
echo "$line; load $(cut -d' ' -f1 /proc/loadavg)"
