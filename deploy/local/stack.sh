#!/usr/bin/env bash
# stack.sh -- the local chat stack: private PostgreSQL, chat-fcgi pool, chat-ws, nginx on loopback.
#
# Usage: deploy/local/stack.sh COMMAND [args]
#
#   start         start everything (restarts a stack already running in the
#                 same state dir), apply migrations, wait for /api/health
#   stop          stop everything this state dir runs; tolerates stopped parts
#   run           start, stay in the foreground until Ctrl-C/SIGTERM, then stop
#   status        show what runs; exit 0 when the stack is up, 3 otherwise
#   pg-stop       stop the private PostgreSQL only (pg_ctl stop -m fast)
#   pg-start      start the private PostgreSQL only
#   pg-replica-start  make (pg_basebackup -R, once) and start a hot standby
#                 of the private PostgreSQL on port 5433 of the same socket
#                 directory; prints CHAT_DATABASE_READ_URL for it
#   pg-replica-stop   stop the standby (stop does too)
#   pg-replica-psql [args]  psql on the standby as its superuser (e.g.
#                 -c 'SELECT pg_wal_replay_pause()' to make it lag)
#   fcgi-restart  stop and re-spawn the chat-fcgi pool with the current
#                 environment (e.g. new CHAT_* limits), wait until it answers
#   ws-stop [I]   stop bridge I (0-based), or every bridge, with SIGTERM
#   ws-kill I     kill bridge I with SIGKILL (a crash: no cleanup)
#   ws-start [I]  start bridge I, or every bridge
#   ws-restart [I] stop, then start bridge I (or every bridge)
#   psql [args]   psql on the stack's database
#   chatctl [args] the site administration tool (chatctl --help) on the
#                 stack's database, as the services connect to it
#
# Environment:
#   CHAT_PORT             nginx port on 127.0.0.1 (default 8080)
#   CHAT_WS_PORT          chat-ws port on 127.0.0.1 (default CHAT_PORT + 1)
#   CHAT_WS_BRIDGES       chat-ws processes behind nginx, on CHAT_WS_PORT,
#                         CHAT_WS_PORT+1, ... (default 1)
#   CHAT_WS_UNIX          1 = the bridges listen on unix sockets instead
#                         ($CHAT_STATE_DIR/run/ws<i>.sock, CHAT_WS_LISTEN) and
#                         nginx proxies to those (default 0: TCP)
#   CHAT_STATE_DIR        data, sockets, logs (default <repo>/var/local)
#   CHAT_BUILD            directory holding chat-fcgi and chat-ws (default <repo>/build)
#   CHAT_FCGI_WORKERS     chat-fcgi processes (default 4)
#   CHAT_NGINX_JOIN_RATE  nginx limit for POST /api/join per address (default 5r/s)
#   CHAT_NGINX_JOIN_BURST burst for that limit (default 60)
#   CHAT_NGINX_CLIENT_TIMEOUT  nginx client header/body/send timeout (default 10s)
#   CHAT_NGINX_ACCESS_LOG 1 = write $CHAT_STATE_DIR/log/nginx-access.log (default), 0 = off
#   CHAT_START_TIMEOUT    seconds to wait for /api/health (default 20)
#   DATABASE_URL          use this existing PostgreSQL instead of a private cluster
#
# Every CHAT_* variable, DATABASE_URL and ASAN_OPTIONS/UBSAN_OPTIONS/
# LSAN_OPTIONS reach chat-fcgi and chat-ws; nothing else of the caller's
# environment does. PostgreSQL refuses to run as root, so as root the script
# does the few steps that need root and runs again as the system user "chat"
# (created once), which then owns every service (lib/root.sh).
#
# The parts, each in its own file under lib/: common.sh (settings, the lock,
# the processes the stack owns by their pid files), root.sh, pg.sh
# (PostgreSQL), services.sh (chat-fcgi, chat-ws), nginx.sh, commands.sh.
set -euo pipefail

prog=stack
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

# No descriptor of the caller's (a pipe of make or of a test harness) may
# reach the services, which outlive us. 255 is bash's own, closed on exec.
for fd in /proc/self/fd/*; do
  fd=${fd##*/}
  [ "$fd" -le 2 ] || [ "$fd" -eq 255 ] || exec {fd}>&-
done

# shellcheck source=deploy/local/lib/common.sh
. "$here/lib/common.sh"
# shellcheck source=deploy/local/lib/root.sh
. "$here/lib/root.sh"
# shellcheck source=deploy/local/lib/pg.sh
. "$here/lib/pg.sh"
# shellcheck source=deploy/local/lib/services.sh
. "$here/lib/services.sh"
# shellcheck source=deploy/local/lib/nginx.sh
. "$here/lib/nginx.sh"
# shellcheck source=deploy/local/lib/commands.sh
. "$here/lib/commands.sh"

# Prints the header comment from "Usage:" to its end.
usage() {
  sed -n '4,/^[^#]/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}" >&2
  exit 2
}

# As root, this ends in the same command run again as the service user.
drop_privileges "$@"

case ${1:-} in
  start)
    cmd_start
    ;;
  stop)
    check_settings
    # Without a state dir no pid file records anything to stop.
    [ ! -d "$STATE" ] || lock
    stop_all
    ;;
  run)
    cmd_run
    ;;
  status)
    check_settings
    cmd_status
    ;;
  pg-stop)
    check_settings
    external_db && die "DATABASE_URL is set: pg-stop manages only the private cluster"
    [ ! -d "$STATE" ] || lock
    pg_stop
    ;;
  pg-start)
    check_settings
    lock
    prepare_dirs
    pg_start
    ;;
  pg-replica-start)
    check_settings
    lock
    prepare_dirs
    replica_start
    replica_service_url
    ;;
  pg-replica-stop)
    check_settings
    [ ! -d "$STATE" ] || lock
    replica_stop
    ;;
  pg-replica-psql)
    shift
    check_settings
    psql_replica "$@"
    ;;
  fcgi-restart)
    check_settings
    lock
    prepare_dirs
    fcgi_stop
    fcgi_start
    wait_ready answering || die "chat-fcgi does not answer after the restart"
    ;;
  ws-stop | ws-kill | ws-start | ws-restart)
    check_settings
    idx=${2:-}
    if [ -n "$idx" ] && { ! [[ $idx =~ ^[0-9]+$ ]] || [ "$idx" -ge "$BRIDGES" ]; }; then
      die "no bridge $idx (CHAT_WS_BRIDGES=$BRIDGES)"
    fi
    [ "$1" = ws-kill ] && [ -z "$idx" ] && die "ws-kill needs a bridge index"
    case $1 in
      ws-start | ws-restart)
        lock
        prepare_dirs
        ;;
      *) [ ! -d "$STATE" ] || lock ;;
    esac
    case $1 in
      ws-kill) ws_stop "$idx" KILL ;;
      ws-stop | ws-restart)
        if [ -n "$idx" ]; then ws_stop "$idx"; else ws_stop; fi
        ;;
    esac
    case $1 in
      ws-start | ws-restart)
        if [ -n "$idx" ]; then ws_start_one "$idx"; else ws_start; fi
        ;;
    esac
    ;;
  psql)
    shift
    check_settings
    exec psql "$(database_url)" "$@"
    ;;
  chatctl)
    shift
    check_settings
    check_binary "$BUILD/chatctl"
    DATABASE_URL=$(service_database_url) exec "$BUILD/chatctl" --no-env-file "$@"
    ;;
  *)
    usage
    ;;
esac
