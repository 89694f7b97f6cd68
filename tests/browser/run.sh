#!/usr/bin/env bash
# run.sh -- the browser tests: Debian's chromium, driven headless by
# playwright-core (node --test over tests/browser/t*.test.mjs), against a
# fresh local stack built from BUILD_DIR that serves web/ through nginx;
# then the sanitizer reports. Screenshots land in build/screenshots/.
#
# Usage: tests/browser/run.sh BUILD_DIR     (make test passes build/asan)
#
# Its own state dir (var/browser) and ports (18180, bridge 18181), so it
# never meets the end-to-end suite (var/test, 18080) or `make run`.
# Installs what it needs when missing: chromium and a font (apt, through
# deploy/local/deps.sh), playwright-core (npm ci from the lock file) and the
# web client's socket.io bundle (web/build.sh).
#
# Exits non-zero when the stack does not start, a test fails, or a service
# left an AddressSanitizer/UndefinedBehaviorSanitizer report.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

if [ "$#" -ne 1 ]; then
  echo "usage: tests/browser/run.sh BUILD_DIR" >&2
  exit 2
fi
build=$1
case $build in
  /*) ;;
  *) build=$PWD/$build ;;
esac
build=${build%/}
for bin in chat-fcgi chat-ws; do
  if [ ! -f "$build/$bin" ]; then
    echo "run.sh: $build/$bin does not exist; build it first (make BUILD=build/asan SANITIZE=address,undefined all)" >&2
    exit 2
  fi
done

# chromium is Debian's (playwright's own browser downloads are not used);
# a font so that pages and screenshots have readable text.
"$repo/deploy/local/deps.sh" chromium fonts-dejavu-core
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || {
  echo "run.sh: $CHROMIUM is missing" >&2
  exit 2
}

# playwright-core from the lock file, when missing or older than the lock.
if [ ! -f "$here/node_modules/playwright-core/package.json" ] ||
  [ ! -f "$here/node_modules/.package-lock.json" ] ||
  [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
# The web client's socket.io bundle (web/vendor/).
"$repo/web/build.sh"

export CHAT_STATE_DIR=$repo/var/browser
export CHAT_PORT=18180
export CHAT_WS_PORT=18181
export CHAT_BUILD=$build
# Every test joins new users from 127.0.0.1: raise both join limits.
export CHAT_NGINX_JOIN_RATE=1000r/s
export CHAT_JOIN_RATE=100000
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

mkdir -p "$repo/build/screenshots"
rm -f "$repo/build/screenshots"/*.png

cd "$repo"
rc=0
node --test --test-concurrency=1 --test-timeout=120000 tests/browser/t*.test.mjs || rc=$?

stop_stack

if [ "$rc" -ne 0 ]; then
  for f in "$log/ws.log" "$log/fcgi.log" "$log/nginx-error.log"; do
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

echo "run.sh: screenshots in build/screenshots/: $(cd "$repo/build/screenshots" && ls ./*.png 2>/dev/null | tr '\n' ' ')"
if [ "$rc" -eq 0 ]; then
  echo "run.sh: browser tests passed"
else
  echo "run.sh: browser tests FAILED" >&2
fi
exit "$rc"
