#!/usr/bin/env bash
# run.sh -- the end-to-end tests: a fresh local stack built from BUILD_DIR,
# node --test over tests/e2e/t*.test.mjs, then the sanitizer reports.
#
# Usage: tests/e2e/run.sh BUILD_DIR     (make test passes build/asan)
#
# Exits non-zero when the stack does not start, a test fails, or a worker
# left an AddressSanitizer/UndefinedBehaviorSanitizer report.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

if [ "$#" -ne 1 ]; then
  echo "usage: tests/e2e/run.sh BUILD_DIR" >&2
  exit 2
fi
build=$1
case $build in
  /*) ;;
  *) build=$PWD/$build ;;
esac
build=${build%/}
if [ ! -f "$build/chat-fcgi" ]; then
  echo "run.sh: $build/chat-fcgi does not exist; build it first (make BUILD=build/asan SANITIZE=address,undefined all)" >&2
  exit 2
fi
command -v node >/dev/null 2>&1 || {
  echo "run.sh: node is not installed" >&2
  exit 2
}

# The tests' npm packages (socket.io-client, ws) come from the committed
# lock file: installed when node_modules is missing or older than the lock
# (npm ci writes node_modules/.package-lock.json last).
if [ ! -f "$here/node_modules/.package-lock.json" ] ||
  [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
  command -v npm >/dev/null 2>&1 || {
    echo "run.sh: npm is not installed (needed once for $here/node_modules)" >&2
    exit 2
  }
  (cd "$here" && npm ci --no-audit --no-fund) || {
    echo "run.sh: npm ci failed in $here" >&2
    exit 2
  }
fi

export CHAT_STATE_DIR=$repo/var/test
export CHAT_PORT=${CHAT_E2E_PORT:-18080}
export CHAT_BUILD=$build
# The tests join many users from one address: raise both join limits (t08
# lowers the application's one on purpose and restores it).
export CHAT_NGINX_JOIN_RATE=1000r/s
export CHAT_JOIN_RATE=100000
# Two bridges behind nginx, as in production; short client timeouts for the
# slowloris test.
export CHAT_WS_BRIDGES=2
export CHAT_NGINX_CLIENT_TIMEOUT=3s
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:log_path=$CHAT_STATE_DIR/log/asan
export UBSAN_OPTIONS=print_stacktrace=1:log_path=$CHAT_STATE_DIR/log/ubsan
export CHAT_BASE_URL=http://127.0.0.1:$CHAT_PORT

stack=$repo/deploy/local/stack.sh
log=$CHAT_STATE_DIR/log

stopped=
stop_stack() {
  [ -z "$stopped" ] || return 0
  stopped=1
  "$stack" stop || echo "run.sh: warning: stack.sh stop failed" >&2
}
trap stop_stack EXIT
trap 'exit 130' INT TERM

# A stack left running in this state dir by an interrupted run goes first.
if [ -d "$CHAT_STATE_DIR" ]; then
  "$stack" stop >/dev/null 2>&1 || true
fi
rm -rf "$CHAT_STATE_DIR"
"$stack" start

cd "$repo"
rc=0
node --test --test-concurrency=1 --test-timeout=180000 tests/e2e/t*.test.mjs || rc=$?

stop_stack

if [ "$rc" -ne 0 ]; then
  for f in "$log/fcgi.log" "$log/nginx-error.log"; do
    if [ -s "$f" ]; then
      echo "--- tail of $f"
      tail -n 40 "$f"
    fi
  done
fi

shopt -s nullglob
reports=("$log"/asan* "$log"/ubsan*)
if [ "${#reports[@]}" -gt 0 ]; then
  for f in "${reports[@]}"; do
    echo "=== sanitizer report $f"
    cat "$f"
  done
  echo "run.sh: ${#reports[@]} sanitizer report(s)" >&2
  [ "$rc" -ne 0 ] || rc=1
fi

if [ "$rc" -eq 0 ]; then
  echo "run.sh: end-to-end tests passed"
else
  echo "run.sh: end-to-end tests FAILED" >&2
fi
exit "$rc"
