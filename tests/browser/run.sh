#!/usr/bin/env bash
# run.sh -- the browser tests: Debian's chromium, driven headless by
# playwright-core (node --test over tests/browser/t*.test.mjs), against a
# fresh local stack built from BUILD_DIR that serves web/ through nginx;
# then the sanitizer reports. Screenshots land in build/screenshots/.
#
# Usage: tests/browser/run.sh BUILD_DIR [FILE...]
#        (make test passes build/asan; with files, only those run)
#
# Its own state dir (var/browser) and ports (CHAT_BROWSER_PORT, default
# 18180; the bridge on the next port, t05's page on the one after), so it
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
suite=browser
# shellcheck source=tests/harness.sh
. "$repo/tests/harness.sh"

if [ "$#" -lt 1 ]; then
  echo "usage: tests/browser/run.sh BUILD_DIR [FILE...]" >&2
  exit 2
fi
harness_build_dir "$1"
shift

# chromium is Debian's (playwright's own browser downloads are not used);
# a font so that pages and screenshots have readable text.
"$repo/deploy/local/deps.sh" chromium fonts-dejavu-core
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || {
  echo "run.sh: $CHROMIUM is missing" >&2
  exit 2
}

# playwright-core from the lock file.
harness_npm_ci "$here"
# The web client's socket.io bundle (web/vendor/).
"$repo/web/build.sh"

port=${CHAT_BROWSER_PORT:-18180}
export CHAT_WS_PORT=$((port + 1))
# t05-cors serves a page of its own on the port after: http://localhost:P
# is an allowed origin, http://127.0.0.1:P is not.
export CHAT_CORS_TEST_PORT=$((port + 2))
export CHAT_ALLOWED_ORIGINS=http://localhost:$CHAT_CORS_TEST_PORT
harness_start "$repo/var/browser" "$port"

mkdir -p "$repo/build/screenshots"
rm -f "$repo/build/screenshots"/*.png

cd "$repo"
if [ "$#" -eq 0 ]; then
  set -- tests/browser/t*.test.mjs
fi
rc=0
node --test --test-concurrency=1 --test-timeout=300000 "$@" || rc=$?

harness_verdict "$rc" ws.log fcgi.log nginx-error.log
echo "run.sh: screenshots in build/screenshots/: $(cd "$repo/build/screenshots" && ls ./*.png 2>/dev/null | tr '\n' ' ')"
exit "$rc"
