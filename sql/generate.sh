#!/usr/bin/env bash
# generate.sh -- writes sql/, the current definition of every SQL object, from migrations/.
#
# Usage: sql/generate.sh [--check | --dump DIR | --compare [DIR]]
#
#   (none)      make sql-doc: apply migrations/ to an empty throw-away
#               PostgreSQL cluster and rewrite the generated files of sql/
#   --check     the same, but compare with sql/ instead of writing it; exit 1
#               with a diff when they differ (make sql-doc-check)
#   --dump DIR  write the files for the database at DATABASE_URL into DIR
#   --compare [DIR]
#               compare the database at DATABASE_URL with sql/ (or DIR);
#               exit 1 with a diff when they differ (the end-to-end test t40
#               runs it against the test stack's database, migrated from
#               scratch)
#
# migrations/ is the history and the only thing ever applied; sql/ is
# derived from it so that a reader sees what a function does today without
# replaying every CREATE OR REPLACE in their head. One file per family of
# functions (the table FAMILIES below), each function as
# pg_get_functiondef() prints it, sorted by name and arguments; and
# sql/schema.sql: tables, indexes, views, sequences and grants as
# `pg_dump --schema-only --no-owner` prints them, functions left out.
# A function missing from FAMILIES lands in sql/other.sql, with a warning.
#
# The throw-away cluster is deploy/local/stack.sh's (pg-start, pg-stop)
# in a temporary state dir, so it runs as the system user "chat" when this
# script runs as root, like the local stack.
set -euo pipefail

prog=sql-doc
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
migrations=$repo/migrations

die() {
  printf '%s: %s\n' "$prog" "$*" >&2
  exit 1
}
warn() { printf '%s: warning: %s\n' "$prog" "$*" >&2; }

# Every function of migrations/ and its family: sql/<family>.sql. A new
# function gets a line here (then make sql-doc).
FAMILIES='
chat_ts                    common
chat_notify                common

chat_join                  auth
chat_auth                  auth
chat_session_check         auth
chat_fcgi_notify           auth
chat_fcgi_sessions_changed auth
chat_fcgi_user_changed     auth
chat_fcgi_rooms_of_user_changed auth
chat_fcgi_rooms_changed    auth
chat_fcgi_truncated        auth
chat_me                    auth
chat_logout                auth
chat_user_json             auth
chat_rate_take             auth
chat_rate_take_n           auth
chat_rate_give             auth
chat_session_open          auth
chat_register_refusal      auth
chat_register_check        auth
chat_register              auth
chat_login_take            auth
chat_login_refund          auth
chat_login_check           auth
chat_login                 auth
chat_password_check        auth
chat_password_set          auth
chat_external_user         auth
chat_user_ban_refusal      auth
chat_user_sessions_revoke  auth
chat_register_refusal_code auth

chat_rooms_list            rooms
chat_rooms_json            rooms
chat_room_create           rooms
chat_room_get              rooms
chat_room_json             rooms
chat_room_users            rooms
chat_room_enter            rooms
chat_room_leave            rooms
chat_member_add            rooms
chat_member_remove         rooms
chat_member_rooms_json     rooms
chat_user_room_ids         rooms
chat_room_visible          rooms
chat_may_moderate          rooms
chat_room_entry            rooms
chat_member_lock           rooms
chat_member_insert         rooms
chat_room_personal         rooms
chat_room_json_for         rooms
chat_room_objects_for      rooms
chat_room_member_add       rooms
chat_room_member_remove    rooms
chat_room_member_role      rooms
chat_direct_members_check  rooms
chat_dm                    rooms
chat_room_delete           rooms
chat_read_start            rooms
chat_unread                rooms
chat_mark_read             rooms
chat_room_reads            rooms

chat_send_message          messages
chat_send_batch            messages
chat_send_many             messages
chat_messages_fk_fail      messages
chat_messages_refs_insert  messages
chat_messages_truncated_refs messages
chat_messages_refs_update  messages
chat_rooms_deleted_messages messages
chat_users_deleted_messages messages
chat_messages_key_update   messages
chat_messages_page         messages
chat_messages_range        messages
chat_message_json          messages
chat_enter_messages        messages
chat_message_delete        messages
chat_read_pos              rooms
chat_receipts_max          rooms
chat_messages_search       messages
chat_message_edit          messages
chat_message_changes       messages
chat_room_change_next      messages

chat_presence_cutoff       presence
chat_presence_open         presence
chat_presence_close        presence
chat_presence_close_many   presence
chat_user_online           presence
chat_notify_status         presence
chat_typing                presence

chat_connect               bridge
chat_connect_batch         bridge
chat_connect_external      bridge
chat_bridge_heartbeat      bridge
chat_bridge_remove         bridge
chat_segment_chain         bridge

chat_housekeeping          housekeeping

chat_admin_user            admin
chat_admin_users           admin
chat_admin_rooms           admin
chat_admin_ban             admin
chat_admin_revoke          admin
chat_admin_password        admin
chat_admin_site_admin      admin
chat_admin_log             admin
'

# What each file holds, for its first line.
describe() {
  case $1 in
    common) echo 'helpers every family uses: timestamps and the NOTIFY bus (docs/notify.md)' ;;
    auth) echo 'users and sessions: join, accounts and passwords, token check, me, logout, the rate limiter' ;;
    rooms) echo 'rooms and memberships, and their JSON shapes' ;;
    messages) echo 'sending messages and reading history' ;;
    presence) echo 'who is online, and typing' ;;
    bridge) echo "chat-ws's own calls: Socket.IO CONNECT, heartbeats, reaping bridges" ;;
    housekeeping) echo 'deleting expired sessions and idle rate buckets' ;;
    admin) echo "chatctl's calls: listing users and rooms, site bans, passwords, site admins, the admin log" ;;
    other) echo 'functions missing from the FAMILIES table of sql/generate.sh: add them there' ;;
    schema) echo 'tables, indexes, views, sequences and grants' ;;
    *) die "describe: no family '$1'" ;;
  esac
}

header() {
  local name=$1
  cat <<EOF
-- sql/$name.sql -- $(describe "$name").
--
-- GENERATED by \`make sql-doc\` (sql/generate.sh) from migrations/ applied to
-- an empty database: do not edit. It states what the database holds today;
-- a change is a new migration, then \`make sql-doc\`. \`make test\` fails
-- when this file and the migrated database disagree.
EOF
}

q() { psql "$DATABASE_URL" -X -q -t -A -v ON_ERROR_STOP=1 "$@"; }

# Prints "name file" for every CREATE [OR REPLACE] FUNCTION|PROCEDURE in
# migrations/, oldest file first. Each function's comment lists the files
# that create or replace its name (any overload of it), oldest first:
# the history to read for why it is so.
creations() {
  local f
  for f in "$migrations"/[0-9][0-9][0-9][0-9]_*.sql; do
    { grep -ioE '^[[:space:]]*create[[:space:]]+(or[[:space:]]+replace[[:space:]]+)?(function|procedure)[[:space:]]+(public\.)?"?[a-z_][a-z0-9_]*' "$f" || true; } |
      sed -E 's/.*[[:space:].]"?([A-Za-z_][A-Za-z0-9_]*)$/\1/' | tr '[:upper:]' '[:lower:]' |
      sed "s|\$| migrations/${f##*/}|"
  done
}

# dump DIR -- the files for the database at DATABASE_URL, into DIR.
dump() {
  local out=$1 tmp=$work/tmp oid name args def family fam file major
  local -A family_of=() created=() files=()
  mkdir -p "$out" "$tmp"
  while read -r name fam; do
    [ -n "$name" ] || continue
    family_of[$name]=$fam
  done <<<"$FAMILIES"
  while read -r name file; do
    case " ${created[$name]:-} " in
      *" $file "*) ;;
      *) created[$name]="${created[$name]:+${created[$name]} }$file" ;;
    esac
  done < <(LC_ALL=C creations)

  # Functions and procedures of the public schema, not of an extension, in
  # byte order of name, then arguments: one query, each row
  # oid US name US arguments US definition RS (ASCII unit and record
  # separators; a definition holding one is refused).
  q -c "
    SELECT p.oid || chr(31) || p.proname || chr(31) || pg_get_function_identity_arguments(p.oid)
           || chr(31) || rtrim(pg_get_functiondef(p.oid), E'\n') || chr(30)
      FROM pg_proc p
     WHERE p.pronamespace = 'public'::regnamespace AND p.prokind IN ('f', 'p')
       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                          AND d.deptype = 'e')
     ORDER BY p.proname COLLATE \"C\",
              pg_get_function_identity_arguments(p.oid) COLLATE \"C\"" >"$tmp/functions"
  while IFS=$'\x1f' read -r -d $'\x1e' oid name args def; do
    oid=${oid#$'\n'}
    if ! [[ $oid =~ ^[0-9]+$ ]] || [[ $def == *$'\x1f'* ]]; then
      die "cannot parse the definition of function '$name'"
    fi
    family=${family_of[$name]:-other}
    [ "$family" != other ] || warn "function $name is not in the FAMILIES table of sql/generate.sh; it goes to sql/other.sql"
    if [ -z "${files[$family]:-}" ]; then
      files[$family]=1
      header "$family" >"$out/$family.sql"
    fi
    printf '\n-- %s(%s)\n-- history: %s\n%s;\n' "$name" "$args" \
      "${created[$name]:-no migration (by hand?)}" "$def" >>"$out/$family.sql"
  done <"$tmp/functions"

  # Everything but the functions, through the custom format's table of
  # contents. The version lines and the random \restrict key of newer
  # pg_dumps change from run to run; blank lines are squeezed where they were.
  major=$(q -c "SELECT current_setting('server_version_num')::int / 10000")
  pg_dump -d "$DATABASE_URL" --schema-only --no-owner -Fc -f "$tmp/schema.dump"
  pg_restore -l "$tmp/schema.dump" | grep -vE '^[0-9]+; [0-9]+ [0-9]+ FUNCTION ' >"$tmp/schema.list"
  {
    header schema
    printf -- '--\n-- As pg_dump of PostgreSQL %s prints it (other major versions differ a\n' "$major"
    printf -- '-- little in form). The functions are in the other files of sql/.\n\n'
    pg_restore -L "$tmp/schema.list" --no-owner -f - "$tmp/schema.dump" |
      grep -vE '^(-- Dumped (from|by) |\\(un)?restrict )' | cat -s
  } >"$out/schema.sql"
}

# compare GOT [WANT] -- diff the files of GOT against those of WANT (sql/);
# 1 when they differ.
compare() {
  local got=$1 want=${2:-$here} f rc=0 want_major got_major label
  local -A names=()
  label=${want#"$repo"/}
  for f in "$want"/*.sql "$got"/*.sql; do
    [ -e "$f" ] && names[${f##*/}]=1
  done
  # pg_dump's form of schema.sql depends on the server's major version.
  want_major=$(sed -n 's/^-- As pg_dump of PostgreSQL \([0-9]*\) prints it.*/\1/p' "$want/schema.sql" 2>/dev/null || true)
  got_major=$(sed -n 's/^-- As pg_dump of PostgreSQL \([0-9]*\) prints it.*/\1/p' "$got/schema.sql")
  for f in $(printf '%s\n' "${!names[@]}" | LC_ALL=C sort); do
    if [ "$f" = schema.sql ] && [ -n "$want_major" ] && [ "$want_major" != "$got_major" ]; then
      warn "$label/schema.sql was generated with PostgreSQL $want_major, this server is $got_major: not compared"
      continue
    fi
    if [ ! -e "$got/$f" ]; then
      echo "$prog: $label/$f: the database has nothing for it (a family emptied, or a file added by hand)"
      rc=1
    elif [ ! -e "$want/$f" ]; then
      echo "$prog: $label/$f is missing; the database has:"
      sed 's/^/+/' "$got/$f"
      rc=1
    elif ! diff -u --label "$label/$f (committed)" --label "$label/$f (migrated database)" "$want/$f" "$got/$f"; then
      rc=1
    fi
  done
  [ ! -e "$got/other.sql" ] || warn "the database has functions the FAMILIES table of sql/generate.sh does not name (other.sql)"
  if [ "$rc" -ne 0 ]; then
    echo "$prog: $label/ and the migrated database disagree: run 'make sql-doc' after changing migrations/ (and never edit sql/ by hand)" >&2
  fi
  return "$rc"
}

# scratch -- a throw-away cluster migrated from scratch in $work; sets
# DATABASE_URL. The cluster stops when the script exits.
scratch() {
  state=$work/state
  started=1
  env -u DATABASE_URL CHAT_STATE_DIR="$state" "$repo/deploy/local/stack.sh" pg-start >"$work/log" 2>&1 ||
    { cat "$work/log" >&2; die "cannot start a throw-away PostgreSQL in $state"; }
  export DATABASE_URL="host=$state/run port=5432 dbname=chat user=chat"
  "$repo/deploy/migrate.sh" "$migrations" >>"$work/log" 2>&1 ||
    { cat "$work/log" >&2; die "migrations/ do not apply to an empty database"; }
}

cleanup() {
  if [ -n "$started" ] &&
    ! env -u DATABASE_URL CHAT_STATE_DIR="$state" "$repo/deploy/local/stack.sh" pg-stop >>"$work/log" 2>&1; then
    cat "$work/log" >&2
    warn "cannot stop the throw-away PostgreSQL in $state; left it there"
    return
  fi
  rm -rf "$work"
}

command -v psql >/dev/null 2>&1 || die "psql not found (run deploy/local/deps.sh)"
command -v pg_dump >/dev/null 2>&1 || die "pg_dump not found (run deploy/local/deps.sh)"

# Scratch space, removed on exit; searchable by the cluster's user (chat,
# when run as root).
started=
work=$(mktemp -d "${TMPDIR:-/tmp}/chat-sqldoc.XXXXXX")
chmod 0755 "$work"
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

case ${1:-} in
  '')
    scratch
    dump "$work/out"
    # Generated files only: they start with the marker line.
    for f in "$here"/*.sql; do
      [ -e "$f" ] || continue
      sed -n 3p "$f" | grep -q '^-- GENERATED by ' && rm -f "$f"
    done
    cp "$work/out"/*.sql "$here/"
    echo "$prog: wrote $(cd "$work/out" && printf 'sql/%s ' *.sql)"
    ;;
  --check)
    scratch
    dump "$work/out"
    compare "$work/out"
    ;;
  --dump)
    [ $# -eq 2 ] || die "usage: sql/generate.sh --dump DIR"
    [ -n "${DATABASE_URL:-}" ] || die "DATABASE_URL is not set"
    dump "$2"
    ;;
  --compare)
    [ $# -le 2 ] || die "usage: sql/generate.sh --compare [DIR]"
    [ -n "${DATABASE_URL:-}" ] || die "DATABASE_URL is not set"
    [ $# -lt 2 ] || [ -d "$2" ] || die "no directory '$2'"
    dump "$work/out"
    compare "$work/out" "${2:-}"
    ;;
  *)
    sed -n '4,/^[^#]/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}" >&2
    exit 2
    ;;
esac
