#!/usr/bin/env bash
# run.sh -- the end-to-end tests: a fresh local stack built from BUILD_DIR,
# node --test over tests/e2e/t*.test.mjs, then the sanitizer reports.
#
# Usage: tests/e2e/run.sh BUILD_DIR [TEST_FILE...]
#        (make test passes build/asan; with files, only those run)
#
# Its own state dir (var/test) and port (18080, or CHAT_E2E_PORT). Exits
# non-zero when the stack does not start, a test fails, or a service left
# an AddressSanitizer/UndefinedBehaviorSanitizer report.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
suite=end-to-end
# shellcheck source=tests/harness.sh
. "$repo/tests/harness.sh"

if [ "$#" -lt 1 ]; then
  echo "usage: tests/e2e/run.sh BUILD_DIR [TEST_FILE...]" >&2
  exit 2
fi
harness_build_dir "$1"
shift
# socket.io-client and ws, from the committed lock file.
harness_npm_ci "$here"

# Two bridges behind nginx, as in production; short client timeouts for the
# slowloris test.
export CHAT_WS_BRIDGES=2
export CHAT_NGINX_CLIENT_TIMEOUT=3s
# The workers' session caches live a minute: a revocation that only the time
# limit (not NOTIFY chat_fcgi) would end shows as a failure (t47 and the
# logout, ban and password tests).
export CHAT_SESSION_CACHE_MS=${CHAT_SESSION_CACHE_MS:-60000}
harness_start "$repo/var/test" "${CHAT_E2E_PORT:-18080}"

cd "$repo"
rc=0
if [ "$#" -eq 0 ]; then
  set -- tests/e2e/t*.test.mjs
fi
node --test --test-concurrency=1 --test-timeout=600000 "$@" || rc=$?
harness_verdict "$rc" fcgi.log ws.log nginx-error.log
exit "$rc"
