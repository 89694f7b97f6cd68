#!/usr/bin/env bash
# run.sh -- the benchmark sets: make bench (quick, < 5 min) and make bench-full.
#
# Usage: bench/run.sh [--full | --read]
#
# Builds the release binaries (make all chat-bench into build/), starts a
# stack of its own in var/bench on 127.0.0.1:18380 with every rate limit
# turned off through configuration, runs the set, prints a table and
# writes one JSON line per run to build/bench/results-<UTC time>.jsonl.
# The stack is stopped at the end (and on Ctrl-C). The state dir is wiped
# first so that every run starts from the same database.
#
# Quick set: wrk on GET /api/rooms, GET /api/messages/general and
# POST /api/messages/general; durable with 1 and 32 messages in flight;
# fanout to 200 clients saturating and at 200 msg/s; rooms 100 x 10;
# 10000 idle connections.
# --full adds: fanout to 1000 clients; rooms 1000 x 10; fanout 200 and
# 1000 split over two bridges (CHAT_WS_BRIDGES=2); 100000 idle connections
# over six bridges with 24 nginx workers.
# --read runs only the read-state and search set (make bench-read, about
# 3 minutes, most of it seeding in SQL): GET /api/me and GET /api/rooms
# for a user in 500 rooms, each with unread messages; GET /api/rooms/{id}
# and GET /api/me for a member of a room of 100k messages, 100k unread;
# search in a room of 1M messages for a rare word, a word in 1000
# messages and a word in every message; history pages of that room; a
# room of 10,000 members (its Room object, the first and last page of its
# member list); last, GET /api/me for the user of the 500 rooms once they
# have 20 more members each, 5,000 of them online (read-me-500-busy). With
# BENCH_ONLY, only the seeding that the wanted rows read is done.
#
# Environment:
#   BENCH_STATE_DIR   state dir of the benchmark stack (var/bench)
#   BENCH_PORT        its nginx port (18380; chat-ws uses the next ports)
#   BENCH_KEEP_STATE  1 = do not wipe the state dir first
#   BENCH_QUIET_WAIT  seconds each run may wait for the machine to calm down (0)
#   BENCH_ONLY        space-separated labels: run only these
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

full=0
read=0
case ${1:-} in
  --full) full=1 ;;
  --read) read=1 ;;
  '') ;;
  *)
    sed -n '3,/^set -e/{/^#/s/^# \{0,1\}//p}' "$0" >&2
    exit 2
    ;;
esac

export CHAT_STATE_DIR=${BENCH_STATE_DIR:-var/bench}
export CHAT_PORT=${BENCH_PORT:-18380}
# Rate limits off, private database, release build: shared with bench/compare.
# shellcheck source=bench/stack-env.sh
. bench/stack-env.sh
quiet_wait=${BENCH_QUIET_WAIT:-0}

url=http://127.0.0.1:$CHAT_PORT
stack=deploy/local/stack.sh
bench=build/chat-bench
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p build/bench
results=build/bench/results-$stamp.jsonl
: >"$results"
failed=()
t_start=$SECONDS

say() { printf '\n### %s\n' "$*" >&2; }

# ---------------------------------------------------------------- build

deploy/local/deps.sh libcurl4-openssl-dev wrk >&2
if grep -q '^include bench/bench.mk' Makefile; then
  make BUILD=build all chat-bench >&2
else
  make -f Makefile -f bench/bench.mk BUILD=build all chat-bench >&2
fi

# ---------------------------------------------------------------- stack

state_real() { readlink -f "$CHAT_STATE_DIR"; }

stack_start() {
  local bridges=$1
  say "stack: $bridges bridge(s), state $CHAT_STATE_DIR, $url"
  CHAT_WS_BRIDGES=$bridges "$stack" start >&2
  bridges_now=$bridges
}

stack_stop() {
  CHAT_WS_BRIDGES=${bridges_now:-1} "$stack" stop >&2 || true
}

# Without a knob for it in deploy/local/nginx.conf.in, the rendered
# configuration is edited: N workers, and accept_mutex on so that a worker
# near its worker_connections stops taking new connections and the others
# get them. nginx re-reads it on SIGHUP.
nginx_workers() {
  local n=$1 conf pid i
  conf=$(state_real)/nginx/nginx.conf
  pid=$(cat "$(state_real)/run/nginx.pid")
  sed -i -e "s/^worker_processes .*/worker_processes $n;/" \
    -e 's/^events {$/events {\n    accept_mutex on;/' "$conf"
  chown --reference="$(state_real)/nginx" "$conf"
  kill -HUP "$pid"
  for ((i = 0; i < 50; i++)); do
    [ "$(pgrep -P "$pid" -c nginx || true)" -ge "$n" ] && break
    sleep 0.2
  done
  sleep 1
  say "nginx: $(pgrep -P "$pid" -c nginx || true) workers"
}

on_exit() {
  local rc=$?
  trap '' INT TERM
  stack_stop
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

wanted() {
  [ -z "${BENCH_ONLY:-}" ] && return 0
  case " $BENCH_ONLY " in *" $1 "*) return 0 ;; esac
  return 1
}

# wanted_any LABEL... -- any of them wanted (the seeding a set of rows needs)
wanted_any() {
  local l
  for l in "$@"; do wanted "$l" && return 0; done
  return 1
}

# run LABEL ARGS... -- one chat-bench run, its JSON line appended to the results.
run() {
  local label=$1 line
  shift
  wanted "$label" || return 0
  say "$label: chat-bench $*"
  if line=$("$bench" --url "$url" --stack-dir "$CHAT_STATE_DIR" --label "$label" \
    --quiet-wait "$quiet_wait" "$@"); then
    printf '%s\n' "$line" >>"$results"
  else
    failed+=("$label")
  fi
  # Let the server finish closing the previous connections.
  sleep 2
}

# wrk_run LABEL PATH [METHOD BODY] -- wrk against one endpoint, with the
# server's CPU measured beside it by chat-bench --scenario watch.
wrk_run() {
  local label=$1 path=$2 method=${3:-GET} body=${4:-} secs=6 out watch
  wanted "$label" || return 0
  say "$label: wrk -t2 -c50 -d${secs}s $method $path"
  watch=$(mktemp)
  "$bench" --scenario watch --url "$url" --stack-dir "$CHAT_STATE_DIR" --label "$label" \
    --warmup 1 --duration $((secs - 2)) --quiet >"$watch" &
  local wpid=$!
  out=$(WRK_TOKEN=$token WRK_METHOD=$method WRK_BODY=$body \
    wrk -t2 -c50 -d${secs}s --timeout 10s -s bench/wrk/api.lua "$url$path") || true
  wait "$wpid" || true
  printf '%s\n' "$out" | grep -v '^WRKJSON' >&2
  if grep -q '^WRKJSON ' <<<"$out"; then
    printf '{"scenario":"wrk","label":"%s","url":"%s%s","wrk":%s,"watch":%s}\n' "$label" "$url" "$path" \
      "$(printf '%s\n' "$out" | sed -n 's/^WRKJSON //p')" "$(cat "$watch")" >>"$results"
  else
    failed+=("$label")
  fi
  rm -f "$watch"
  sleep 1
}

# Seeds the database so that the wrk pages are full: 50 rooms, 50 messages.
seed() {
  local i
  for ((i = 0; i < 50; i++)); do
    curl -sf -o /dev/null -X POST "$url/api/rooms" -H "Authorization: Bearer $token" \
      -H 'Content-Type: application/json' -d "{\"room_name\":\"seed-$stamp-$i\",\"description\":\"bench seed room\"}"
    curl -sf -o /dev/null -X POST "$url/api/messages/general" -H "Authorization: Bearer $token" \
      -H 'Content-Type: application/json' -d "{\"message\":\"bench seed message $i\"}"
  done
}

# sql SQL -- runs SQL on the stack's database as its owner; prints the rows.
sql() {
  "$stack" psql -X -q -tA -v ON_ERROR_STOP=1 -c "$1"
}

# The read-state and search set (--read): seeded straight in SQL.
read_set() {
  local uid other r100k r10k r1m small
  uid=$(curl -sf "$url/api/me" -H "Authorization: Bearer $token" | sed -n 's/.*"user" *: *{ *"id" *: *"\([^"]*\)".*/\1/p')
  [ -n "$uid" ] || { echo "bench: no user id for the token" >&2; failed+=(read-set); return; }
  # Baselines of the same run: the user in one room, searching a small room.
  wrk_run read-me-1 /api/me
  say "read set: seeding 500 rooms x 20 messages for one member"
  other=$(sql "INSERT INTO users (username) VALUES ('rb-$stamp') RETURNING id")
  sql "INSERT INTO rooms (name, visibility, created_by, last_seq)
         SELECT 'rb500-$stamp-' || g, 'public', '$other', 20 FROM generate_series(1, 500) g;
       INSERT INTO user_rooms (user_id, room_id)
         SELECT '$uid', id FROM rooms WHERE name LIKE 'rb500-$stamp-%';
       UPDATE user_rooms SET last_read_seq = 5 WHERE user_id = '$uid' AND room_id IN
         (SELECT id FROM rooms WHERE name LIKE 'rb500-$stamp-%');
       INSERT INTO messages (room_id, seq, user_id, username, content)
         SELECT r.id, g, '$other', 'rb-$stamp', 'seed ' || g
           FROM rooms r, generate_series(1, 20) g WHERE r.name LIKE 'rb500-$stamp-%';
       UPDATE messages m SET content = NULL, deleted_at = now()
         FROM rooms r WHERE r.name LIKE 'rb500-$stamp-%' AND m.room_id = r.id AND m.seq = 10;
       ANALYZE" >/dev/null
  # Vacuumed as a table in service would be: autovacuum working through the
  # seeded rows (and the search index's pending list) would be measured too.
  sql "VACUUM ANALYZE messages" >/dev/null
  wrk_run read-me-500 /api/me
  wrk_run read-rooms-500 '/api/rooms?limit=200&offset=300'
  small=$(sql "SELECT id FROM rooms WHERE name = 'rb500-$stamp-1'")
  wrk_run read-room-small "/api/rooms/$small"
  wrk_run search-small "/api/messages/$small/search?q=seed"
  # What unread adds to the 500 Room objects: the same rows built without it.
  say "read set: 500 rooms in SQL, 20 calls each: $(sql "
    DO \$\$ DECLARE t0 timestamptz; a float8; b float8; BEGIN
      t0 := clock_timestamp();
      FOR i IN 1..20 LOOP PERFORM chat_member_rooms_json('$uid'); END LOOP;
      a := extract(epoch FROM clock_timestamp() - t0) * 1000 / 20;
      t0 := clock_timestamp();
      FOR i IN 1..20 LOOP PERFORM (SELECT json_agg(o.obj ORDER BY ur.joined_at, o.id)
        FROM user_rooms ur JOIN chat_room_objects o ON o.id = ur.room_id WHERE ur.user_id = '$uid'); END LOOP;
      b := extract(epoch FROM clock_timestamp() - t0) * 1000 / 20;
      RAISE NOTICE 'with role and unread % ms, the bare objects % ms', round(a::numeric, 2), round(b::numeric, 2);
    END \$\$" 2>&1 | sed -n 's/.*NOTICE: *//p')"

  # Each seeding only when a row that reads it is wanted (BENCH_ONLY).
  if wanted_any read-room-100k read-me-500-100k; then
    say "read set: seeding a room of 100000 messages"
    r100k=$(sql "INSERT INTO rooms (name, visibility, created_by, last_seq)
                   VALUES ('rb100k-$stamp', 'private', '$other', 100000) RETURNING id")
    sql "INSERT INTO messages (room_id, seq, user_id, username, content)
           SELECT '$r100k', g, '$other', 'rb-$stamp', 'big room message ' || g
             FROM generate_series(1, 100000) g;
         INSERT INTO user_rooms (user_id, room_id) VALUES ('$uid', '$r100k');
         UPDATE user_rooms SET last_read_seq = 0 WHERE user_id = '$uid' AND room_id = '$r100k';
         UPDATE messages SET content = NULL, deleted_at = now()
           WHERE room_id = '$r100k' AND seq % 100 = 2;
         ANALYZE" >/dev/null
    sql "VACUUM ANALYZE messages" >/dev/null
    say "read set: unread of the 100k room: $(curl -sf "$url/api/rooms/$r100k" -H "Authorization: Bearer $token" | sed -n 's/.*"unread" *: *\([0-9]*\).*/\1/p')"
    wrk_run read-room-100k "/api/rooms/$r100k"
    wrk_run read-me-500-100k /api/me
  fi

  # Issue 16 item 7: a room of 10,000 members, half of them online (presence
  # rows on the live bridge, as connected clients would have).
  if wanted_any size-room-10k size-users-10k-first size-users-10k-last size-history-small \
    size-history-1m-newest size-history-1m-middle search-1m-rare search-1m-1000 search-1m-all \
    search-1m-none search-1m-two; then
    say "read set: seeding a room of 10000 members, 5000 online"
    r10k=$(sql "INSERT INTO rooms (name, visibility, created_by)
                  VALUES ('rb10k-$stamp', 'public', '$other') RETURNING id")
    sql "INSERT INTO users (username) SELECT 'rb10k-$stamp-' || g FROM generate_series(1, 10000) g;
         INSERT INTO user_rooms (user_id, room_id)
           SELECT id, '$r10k' FROM users WHERE username LIKE 'rb10k-$stamp-%';
         INSERT INTO user_rooms (user_id, room_id) VALUES ('$uid', '$r10k');
         INSERT INTO presence (bridge_id, conn_id, user_id)
           SELECT (SELECT id FROM bridges ORDER BY heartbeat_at DESC LIMIT 1), 'rb10k-' || u.id, u.id
             FROM users u WHERE u.username LIKE 'rb10k-$stamp-%' AND right(u.username, 1) IN ('0', '2', '4', '6', '8');
         ANALYZE" >/dev/null
    say "read set: the 10k room: $(curl -sf "$url/api/rooms/$r10k" -H "Authorization: Bearer $token" | sed -n 's/.*"member_count" *: *\([0-9]*\), *"online_count" *: *\([0-9]*\).*/members \1, online \2/p')"
    wrk_run size-room-10k "/api/rooms/$r10k"
    wrk_run size-users-10k-first "/api/users/$r10k?limit=100"
    wrk_run size-users-10k-last "/api/users/$r10k?limit=100&offset=9900"

    say "read set: seeding a room of 1000000 messages (about a minute)"
    r1m=$(sql "INSERT INTO rooms (name, visibility, created_by, last_seq)
                 VALUES ('rb1m-$stamp', 'public', '$other', 1000000) RETURNING id")
    sql "INSERT INTO messages (room_id, seq, user_id, username, content)
           SELECT '$r1m', g, '$other', 'rb-$stamp',
                  'common words for message ' || g || ' topic w' || (g % 1000)
                  || CASE WHEN g % 100000 = 7 THEN ' needle' ELSE '' END
             FROM generate_series(1, 1000000) g;
         ANALYZE messages" >/dev/null
    sql "VACUUM ANALYZE messages" >/dev/null
    # History paging at a million messages: the newest page, and a page from
    # the middle (before=500000), against the same page of the small room.
    wrk_run size-history-small "/api/messages/$small?limit=50"
    wrk_run size-history-1m-newest "/api/messages/$r1m?limit=50"
    wrk_run size-history-1m-middle "/api/messages/$r1m?before=500000&limit=50"
    wrk_run search-1m-rare "/api/messages/$r1m/search?q=needle"
    wrk_run search-1m-1000 "/api/messages/$r1m/search?q=w42"
    wrk_run search-1m-all "/api/messages/$r1m/search?q=common"
    wrk_run search-1m-none "/api/messages/$r1m/search?q=nosuchword"
    wrk_run search-1m-two "/api/messages/$r1m/search?q=w42+topic&limit=100"
  fi

  # Issue 16 item 7, round 3: the same 500 rooms with 20 more members each
  # (10,000 users), 5,000 of them online: the online counts of GET /api/me
  # read 10,500 member rows (0030 reads presence once for them).
  if wanted read-me-500-busy; then
    say "read set: 20 more members in each of the 500 rooms, 5000 of them online"
    sql "INSERT INTO users (username) SELECT 'rbb-$stamp-' || g FROM generate_series(1, 10000) g;
         INSERT INTO user_rooms (user_id, room_id)
           SELECT u.id, r.id
             FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM rooms
                    WHERE name LIKE 'rb500-$stamp-%') r
             JOIN generate_series(0, 19) k ON true
             JOIN (SELECT id, row_number() OVER (ORDER BY id) AS n FROM users
                    WHERE username LIKE 'rbb-$stamp-%') u ON u.n = 1 + (r.n * 20 + k) % 10000;
         INSERT INTO presence (bridge_id, conn_id, user_id)
           SELECT (SELECT id FROM bridges ORDER BY heartbeat_at DESC LIMIT 1), 'rbb-' || u.id, u.id
             FROM users u WHERE u.username LIKE 'rbb-$stamp-%' AND right(u.username, 1) IN ('1', '3', '5', '7', '9');
         ANALYZE" >/dev/null
    sql "VACUUM ANALYZE user_rooms" >/dev/null # as autovacuum would have, as above
    wrk_run read-me-500-busy /api/me
    say "read set: the busy 500 rooms in SQL, 20 calls: $(sql "
      DO \$\$ DECLARE t0 timestamptz; BEGIN
        t0 := clock_timestamp();
        FOR i IN 1..20 LOOP PERFORM chat_member_rooms_json('$uid'); END LOOP;
        RAISE NOTICE '% ms', round((extract(epoch FROM clock_timestamp() - t0) * 1000 / 20)::numeric, 2);
      END \$\$" 2>&1 | sed -n 's/.*NOTICE: *//p')"
  fi
}

# ---------------------------------------------------------------- the sets

stack_stop
if [ "${BENCH_KEEP_STATE:-0}" != 1 ]; then
  target=$(state_real || true) # no state dir yet on a fresh clone
  rm -rf "$CHAT_STATE_DIR"
  # A relocated state dir (see stack.sh) lives behind the symlink.
  case $target in /var/tmp/chat-stack/*) rm -rf "$target" ;; esac
fi
stack_start 1

token=$("$bench" --scenario token --url "$url" --room general --label wrk)
if [ "$read" = 1 ]; then
  read_set
  say "results: $results ($((SECONDS - t_start)) s)"
  "$bench" --report "$results"
  [ "${#failed[@]}" -eq 0 ] || { echo "bench: failed runs: ${failed[*]}" >&2; exit 1; }
  exit 0
fi
seed

wrk_run wrk-get-rooms /api/rooms
wrk_run wrk-get-messages /api/messages/general
wrk_run wrk-post-message /api/messages/general POST '{"message":"wrk says hello"}'

run durable-if1 --scenario durable --senders 10 --inflight 1 --warmup 2 --duration 6
run durable-if32 --scenario durable --senders 10 --inflight 32 --warmup 2 --duration 6
run fanout200-sat --scenario fanout --clients 200 --senders 10 --inflight 1 --procs 2 --warmup 2 --duration 6
run fanout200-r200 --scenario fanout --clients 200 --senders 10 --rate 200 --procs 2 --warmup 2 --duration 6
run rooms100x10 --scenario rooms --rooms 100 --per-room 10 --rate 200 --procs 2 --warmup 2 --duration 6
run idle10k --scenario idle --clients 10000 --procs 2 --warmup 2 --duration 15

if [ "$full" = 1 ]; then
  run fanout1000-sat --scenario fanout --clients 1000 --senders 10 --inflight 1 --procs 2 --warmup 3 --duration 10 \
    --connect-timeout 600
  run rooms1000x10 --scenario rooms --rooms 1000 --per-room 10 --rate 1000 --procs 2 --warmup 3 --duration 10 \
    --connect-timeout 900

  # The fan-out split over two bridges: nginx spreads the clients, every
  # bridge LISTENs and delivers to its own half.
  stack_start 2
  run fanout200-sat-2br --scenario fanout --clients 200 --senders 10 --inflight 1 --procs 2 --warmup 2 --duration 8
  run fanout1000-sat-2br --scenario fanout --clients 1000 --senders 10 --inflight 1 --procs 2 --warmup 3 --duration 10 \
    --connect-timeout 600

  # 100000 connections: no process may hold 20000 descriptors, so six
  # bridges (~16700 each), 24 nginx workers (two descriptors per proxied
  # connection, 16384 worker_connections each; with 16 workers the accepts
  # fell unevenly enough that some workers ran out) and 8 client processes
  # spread over 10 source addresses (127.0.0.2-11).
  stack_start 6
  nginx_workers 24
  run idle100k --scenario idle --clients 100000 --users 1000 --procs 8 --connect-concurrency 600 \
    --warmup 5 --duration 30 --connect-timeout 1800
fi

say "results: $results ($((SECONDS - t_start)) s)"
"$bench" --report "$results"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "bench: failed runs: ${failed[*]}" >&2
  exit 1
fi
