# rooms-lib.sh -- what bench/rooms-cost.sh and bench/session-cost.sh share: a seeded stack of a tree, its processes, their CPU.
#
# Sourced (not run) from the tree to measure, with CHAT_STATE_DIR and
# CHAT_PORT exported: starts that tree's stack afresh (stopped again on
# exit) with the benchmark settings (bench/stack-env.sh), makes a user
# ($token) and 50 rooms (a GET /api/rooms page of about 17 KB), and sets
# $url, $stack, $workers (the chat-fcgi workers), $nginx (nginx's
# workers), $pg (PostgreSQL's backends) and $hz, and ticks PID... (their
# utime + stime in clock ticks).
# shellcheck shell=bash disable=SC2034 # the variables are the caller's

# shellcheck source=bench/stack-env.sh
. "$(dirname "${BASH_SOURCE[0]}")/stack-env.sh"
url=http://127.0.0.1:$CHAT_PORT
stack=deploy/local/stack.sh
trap '"$stack" stop >/dev/null 2>&1 || true' EXIT
"$stack" stop >/dev/null 2>&1 || true
rm -rf "$CHAT_STATE_DIR"
"$stack" start >&2

token=$(build/chat-bench --scenario token --url "$url" --room general --label wrk)
for ((i = 0; i < 50; i++)); do
  curl -sf -o /dev/null -X POST "$url/api/rooms" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -d "{\"room_name\":\"seed-$i\",\"description\":\"bench seed room\"}"
done

fcgi=$(pgrep -d ' ' -f "$PWD/build/chat-fcgi" || true)
workers=$(for p in $fcgi; do if [ -z "$(pgrep -P "$p" || true)" ]; then echo "$p"; fi; done | tr '\n' ' ')
nginx=$(pgrep -d ' ' -P "$(cat "$CHAT_STATE_DIR/run/nginx.pid")" || true)
pg=$(pgrep -d ' ' -P "$(head -1 "$CHAT_STATE_DIR/pg/postmaster.pid")" || true)
hz=$(getconf CLK_TCK)

# ticks PID... -- utime + stime of the given processes, in clock ticks
ticks() {
  local t=0 p f
  for p in "$@"; do
    if [ -r "/proc/$p/stat" ]; then
      f=$(sed 's/.*) //' "/proc/$p/stat")
      t=$((t + $(echo "$f" | awk '{print $12 + $13}')))
    fi
  done
  echo "$t"
}
