#!/usr/bin/env bash
# storm.sh -- connection storms and idle cost: connects/s and CPU per connect, CPU per heartbeat.
#
# Usage: bench/storm.sh            (make bench-storm; about 4 minutes on an idle machine)
#
# Two parts, each on a stack of its own in var/storm (BENCH_PORT + 5, the
# limits lifted by bench/stack-env.sh as for bench/run.sh):
#   ramp       chat-bench's idle scenario to STORM_CONNS connections at
#              STORM_RAMP/s (CONNECT + join_room each): connects/s, connect
#              p50/p99, and the CPU of chat-ws, nginx and PostgreSQL per
#              connect over the ramp. PostgreSQL counts the time of its
#              functions meanwhile (track_functions = pl): the top ones go to
#              storm-<stamp>-pgfuncs.txt, per connect.
#   heartbeat  STORM_HB_CONNS idle connections with CHAT_WS_PING_INTERVAL =
#              STORM_PING_MS (1 s instead of 25 s, so that the heartbeats are
#              the load), then perf stat on chat-ws and on the nginx workers
#              apart for STORM_HB_SECS s: CPU (task-clock) and system calls
#              per ping round trip (ping out, pong in), each process apart.
#              The pings in the window are counted as connections x seconds
#              / interval; chat-bench answers every ping.
# Results: build/bench/storm-<stamp>.jsonl (one line per part) and a table.
# Needs perf (linux-perf) for the heartbeat part; without it only CPU is shown.
#
# Environment (defaults):
#   BENCH_PORT       18380; the stack uses BENCH_PORT+5 (nginx) and +6 (chat-ws)
#   STORM_CONNS      10000     STORM_RAMP 5000    STORM_USERS 1000
#   STORM_CONCURRENCY 600 (handshakes in flight)
#   STORM_HB_CONNS   5000      STORM_PING_MS 1000  STORM_HB_SECS 10
#   STORM_PARTS      "ramp heartbeat" (one of them alone: only that part)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

[ $# -eq 0 ] || { sed -n '3,/^set -e/{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit 2; }

export CHAT_STATE_DIR=var/storm
export CHAT_PORT=$((${BENCH_PORT:-18380} + 5))
# shellcheck source=bench/stack-env.sh
. bench/stack-env.sh
conns=${STORM_CONNS:-10000} ramp=${STORM_RAMP:-5000} users=${STORM_USERS:-1000}
conc=${STORM_CONCURRENCY:-600}
hb_conns=${STORM_HB_CONNS:-5000} ping_ms=${STORM_PING_MS:-1000} hb_secs=${STORM_HB_SECS:-10}
for v in "$conns" "$ramp" "$users" "$conc" "$hb_conns" "$ping_ms" "$hb_secs"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "storm: expected a positive number, got '$v'" >&2; exit 2; }
done
parts=${STORM_PARTS:-ramp heartbeat}
case " $parts " in
  *" ramp "* | *" heartbeat "*) ;;
  *) echo "storm: STORM_PARTS takes ramp and/or heartbeat, got '$parts'" >&2; exit 2 ;;
esac
part() { case " $parts " in *" $1 "*) return 0 ;; esac; return 1; }

url=http://127.0.0.1:$CHAT_PORT
stack=deploy/local/stack.sh
bench=build/chat-bench
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p build/bench
results=build/bench/storm-$stamp.jsonl
: >"$results"
procs=$(((conns + 14999) / 15000))
[ "$procs" -ge 2 ] || procs=2

say() { printf '\n### %s\n' "$*" >&2; }

if grep -q '^include bench/bench.mk' Makefile; then
  make BUILD=build all chat-bench >&2
else
  make -f Makefile -f bench/bench.mk BUILD=build all chat-bench >&2
fi

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() { "$stack" stop >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

stack_start() { # stack_start [ENV=VALUE...]
  local state
  "$stack" stop >&2 || true
  state=$(readlink -f "$CHAT_STATE_DIR" 2>/dev/null || true)
  rm -rf "$CHAT_STATE_DIR"
  case $state in /var/tmp/chat-stack/*) rm -rf "$state" ;; esac
  env "$@" "$stack" start >&2
}

psql_stack() {
  psql -X -q -v ON_ERROR_STOP=1 -h "$repo/$CHAT_STATE_DIR/run" -p 5432 -U chat -d chat "$@"
}

pidfile() { head -n 1 "$CHAT_STATE_DIR/run/$1" 2>/dev/null | tr -dc 0-9; }

# ---------------------------------------------------------------- ramp

if part ramp; then
say "ramp: $conns connections at $ramp/s ($conc in flight), $users users"
stack_start
psql_stack -c "ALTER SYSTEM SET track_functions = 'pl'" -c 'SELECT pg_reload_conf()' >/dev/null
# The users and rooms are made before the ramp; only the ramp's calls count.
"$bench" --scenario idle --url "$url" --clients "$conns" --users "$users" --ramp "$ramp" \
  --connect-concurrency "$conc" --procs "$procs" --warmup 1 --duration 3 --connect-timeout 900 \
  --stack-dir "$CHAT_STATE_DIR" --label storm-ramp --quiet >"$results.ramp" 2>/dev/null &
bench_pid=$!
# pg_stat_reset once the set-up (users over REST) is done: the first CONNECT.
for ((i = 0; i < 600; i++)); do
  n=$(curl -s "$url/metrics/ws/0" | awk '/^chat_ws_sessions_opened_total/ {print $2}')
  [ "${n:-0}" -gt 0 ] && break
  sleep 0.5
done
psql_stack -c 'SELECT pg_stat_reset()' >/dev/null
wait "$bench_pid" || echo "storm: chat-bench ramp exited with status $?" >&2
psql_stack -At -F ' ' -c "SELECT funcname, calls, round(total_time::numeric), round(self_time::numeric)
                            FROM pg_stat_user_functions ORDER BY self_time DESC LIMIT 15" \
  >"build/bench/storm-$stamp-pgfuncs.txt" || true
tail -n 1 "$results.ramp" >>"$results"
rm -f "$results.ramp"
fi

# ---------------------------------------------------------------- heartbeat

if part heartbeat; then
say "heartbeat: $hb_conns connections, a ping every $ping_ms ms, perf stat for $hb_secs s"
stack_start CHAT_WS_PING_INTERVAL="$ping_ms"
hold=$((hb_secs + 15))
"$bench" --scenario idle --url "$url" --clients "$hb_conns" --users "$users" --ramp "$ramp" \
  --connect-concurrency "$conc" --procs 2 --warmup 3 --duration "$hold" --connect-timeout 900 \
  --stack-dir "$CHAT_STATE_DIR" --label storm-heartbeat --quiet >"$results.hb" 2>/dev/null &
bench_pid=$!
# Holding: every connection is ready (the ramp is done) and the warm-up passed.
for ((i = 0; i < 1800; i++)); do
  n=$(curl -s "$url/metrics/ws/0" | awk '/^chat_ws_events_in_total\{event="join_room"\}/ {print $2}')
  [ "${n:-0}" -ge "$hb_conns" ] && break
  sleep 0.5
done
sleep 5
ws=$(pidfile ws.pid)
ngx=$(pgrep -d, -P "$(pidfile nginx.pid)" || true)
ev='task-clock,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_epoll_ctl'
ev+=',syscalls:sys_enter_epoll_wait,syscalls:sys_enter_poll,syscalls:sys_enter_writev,syscalls:sys_enter_readv'
hbdir=$(mktemp -d)
if command -v perf >/dev/null 2>&1; then
  perf stat -x, -e "$ev" -p "$ws" -o "$hbdir/ws" -- sleep "$hb_secs" 2>/dev/null &
  p1=$!
  perf stat -x, -e "$ev" -p "$ngx" -o "$hbdir/nginx" -- sleep "$hb_secs" 2>/dev/null &
  p2=$!
  wait "$p1" "$p2" || echo "storm: perf stat failed" >&2
fi
wait "$bench_pid" || echo "storm: chat-bench heartbeat exited with status $?" >&2
# One JSON line: the chat-bench result plus the perf stat counts per process.
# shellcheck disable=SC2016 # JavaScript, not shell
node -e '
  const fs = require("node:fs");
  const [file, dir, secs, pingMs] = process.argv.slice(1);
  const j = JSON.parse(fs.readFileSync(file, "utf8").trim().split("\n").pop());
  j.perf = { seconds: Number(secs), ping_interval_ms: Number(pingMs) };
  for (const p of ["ws", "nginx"]) {
    let txt = "";
    try { txt = fs.readFileSync(`${dir}/${p}`, "utf8"); } catch { continue; }
    const o = {};
    for (const l of txt.split("\n")) {
      const f = l.split(",");
      if (f.length > 3 && f[0] !== "" && !Number.isNaN(Number(f[0]))) o[f[2].replace("syscalls:sys_enter_", "")] = Number(f[0]);
    }
    j.perf[p === "ws" ? "chat-ws" : p] = o;
  }
  console.log(JSON.stringify(j));
' "$results.hb" "$hbdir" "$hb_secs" "$ping_ms" >>"$results" || tail -n 1 "$results.hb" >>"$results"
rm -rf "$hbdir" "$results.hb"
fi
"$stack" stop >&2 || true

# ---------------------------------------------------------------- report

say "results: $results"
STORM_PARTS=$parts node "$here/storm-report.mjs" "$results" "build/bench/storm-$stamp-pgfuncs.txt"
