# stack-env.sh -- the environment of a benchmark stack, sourced by bench/run.sh and bench/compare.
#
# Usage: . bench/stack-env.sh   (from the repository root; the caller sets
#                                CHAT_STATE_DIR and CHAT_PORT itself)
#
# The stack uses its private PostgreSQL and the bridge port next to
# CHAT_PORT, whatever the caller's shell had set. Rate limits are off through
# their configuration values (no code path skips them); every simulated
# client comes from 127.0.0.x, so the bridge's cap of sessions per client
# address is lifted too. The release binaries come from build/.
# shellcheck shell=bash
unset CHAT_WS_PORT DATABASE_URL
export CHAT_MSG_RATE=0 CHAT_WS_EVENT_RATE=0 CHAT_JOIN_RATE=0 CHAT_ROOM_CREATE_RATE=0
export CHAT_NGINX_JOIN_RATE=100000r/s
export CHAT_WS_MAX_CONN_PER_ADDR=0 CHAT_WS_MAX_UNAUTH_PER_ADDR=0
export CHAT_BUILD=build
