#!/usr/bin/env bash
# session-cost.sh -- what one GET /api/rooms costs each process, and how fast a logout reaches every worker.
#
# Usage: bench/session-cost.sh [TREE]    (make bench-session runs it on this tree)
#
# Starts a benchmark stack of TREE (default: this checkout; its build/
# must hold release binaries: make all chat-bench) in TREE/var/sbench on
# BENCH_PORT (19380), seeds it as bench/run.sh does (50 rooms), then:
#  1. wrk -t2 -c50 GET /api/rooms for 6 s with strace -c -f attached to
#     every chat-fcgi worker: system calls per request by name;
#  2. wrk again for 6 s without strace, with the CPU time of nginx,
#     chat-fcgi and PostgreSQL read from /proc before and after: req/s and
#     microseconds of CPU per request of each;
#  3. node bench/logout-propagation.mjs: milliseconds until a logout is
#     refused by every worker (median, max of 20).
# Prints the figures; the stack is stopped at the end.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tree=$(cd "${1:-$here/..}" && pwd)
cd "$tree"
export CHAT_STATE_DIR=var/sbench
export CHAT_PORT=${BENCH_PORT:-19380}
# shellcheck source=bench/rooms-lib.sh
. "$here/rooms-lib.sh"

wrk_reqs() { sed -n 's/^ *\([0-9]*\) requests in.*/\1/p'; }
run_wrk() { WRK_TOKEN=$token WRK_METHOD=GET wrk -t2 -c50 -d6s --timeout 10s -s bench/wrk/api.lua "$url/api/rooms"; }

echo "== strace -c -f on the workers ($workers) during wrk" >&2
straces=()
for p in $workers; do
  strace -c -f -qq -o "/tmp/sbench-strace.$p" -p "$p" &
  straces+=($!)
done
sleep 1
n=$(run_wrk | wrk_reqs)
kill -INT "${straces[@]}" 2>/dev/null || true
wait "${straces[@]}" 2>/dev/null || true
awk -v n="$n" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { c[$NF] += $4 } END {
  for (k in c) { t += c[k]; printf "  %-16s %6.2f per request\n", k, c[k] / n }
  printf "syscalls per request (workers, under strace): %.2f over %d requests\n", t / n, n }' \
  /tmp/sbench-strace.* | sort -k2 -nr
rm -f /tmp/sbench-strace.*

echo "== wrk without strace: CPU per request" >&2
# shellcheck disable=SC2086
a_f=$(ticks $workers) a_n=$(ticks $nginx) a_p=$(ticks $pg)
out=$(run_wrk)
# shellcheck disable=SC2086
b_f=$(ticks $workers) b_n=$(ticks $nginx) b_p=$(ticks $pg)
n=$(echo "$out" | wrk_reqs)
rps=$(echo "$out" | sed -n 's/^Requests\/sec: *//p')
us() { echo $(((($2 - $1) * 1000000 / hz) / n)); }
echo "GET /api/rooms: $rps req/s; CPU per request: chat-fcgi $(us "$a_f" "$b_f") us, nginx $(us "$a_n" "$b_n") us, postgres $(us "$a_p" "$b_p") us; machine load $(cut -d' ' -f1 /proc/loadavg)"

echo "== logout propagation" >&2
node "$here/logout-propagation.mjs" "$url" 20 16
