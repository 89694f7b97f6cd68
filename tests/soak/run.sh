#!/usr/bin/env bash
# run.sh -- the soak test: a fresh local stack (two bridges) built from
# BUILD_DIR, mixed load and a chaos loop for SOAK_SECONDS (default 1500),
# then the invariants (tests/soak/soak.mjs) and the sanitizer reports.
#
# Usage: tests/soak/run.sh BUILD_DIR     (make soak passes build)
#
# Its own state dir (var/soak) and port (18280, or CHAT_SOAK_PORT; the
# bridges take the next two). Not part of make test. Exits non-zero when
# the stack does not start, an invariant is violated (the summary says
# which; the figures are in var/soak/soak-summary.json), or a service left
# a sanitizer report. A release build measures memory; build/asan works
# too, but ASan's quarantine makes the memory check meaningless there
# (raise SOAK_RSS_TOLERANCE_PCT).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
suite=soak
# shellcheck source=tests/harness.sh
. "$repo/tests/harness.sh"

if [ "$#" -ne 1 ]; then
  echo "usage: tests/soak/run.sh BUILD_DIR" >&2
  exit 2
fi
harness_build_dir "$1"
# socket.io-client from the end-to-end tests' lock file.
harness_npm_ci "$repo/tests/e2e"

# Two bridges behind nginx, as in production. The load is the soak's own
# choice, not a flood test: the per-user and per-connection rate limits are
# raised out of the way, everything else keeps its default.
export CHAT_WS_BRIDGES=2
export CHAT_MSG_RATE=${CHAT_MSG_RATE:-100000}
export CHAT_WS_EVENT_RATE=${CHAT_WS_EVENT_RATE:-100000}
export CHAT_LOG_LEVEL=${CHAT_LOG_LEVEL:-info}
harness_start "$repo/var/soak" "${CHAT_SOAK_PORT:-18280}"

cd "$repo"
rc=0
node tests/soak/soak.mjs || rc=$?
harness_verdict "$rc" fcgi.log ws.log ws1.log nginx-error.log postgres.log
exit "$rc"
