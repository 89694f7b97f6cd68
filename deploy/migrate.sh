#!/usr/bin/env bash
# migrate.sh -- applies migrations/NNNN_name.sql in order, each exactly once.
#
# Usage: DATABASE_URL='host=... dbname=chat user=chat' deploy/migrate.sh [migrations-dir]
#
# DATABASE_URL is a libpq conninfo string or a postgresql:// URI; it is given
# to psql as is. Applied migrations are recorded in schema_migrations
# (version = the NNNN prefix). Each pending file runs in one transaction
# together with its schema_migrations row, under a transaction-level
# advisory lock, and is checked again once the lock is held: two runners
# started at the same time apply every file once, the second one skips it.
# Running the script again changes nothing. Exits non-zero on the first
# failure; the failed file leaves nothing behind.
set -euo pipefail

prog=migrate
die() {
  printf '%s: %s\n' "$prog" "$*" >&2
  exit 1
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${1:-$here/../migrations}
[ -d "$dir" ] || die "migrations directory '$dir' does not exist"
dir=$(cd "$dir" && pwd)
[ -n "${DATABASE_URL:-}" ] || die "DATABASE_URL is not set (a libpq conninfo string or postgresql:// URI)"
command -v psql >/dev/null 2>&1 || die "psql not found (install postgresql-client)"

# One lock key for every runner of this schema.
lock="SELECT pg_advisory_xact_lock(hashtextextended('chat.schema_migrations', 0))"

psql_run() {
  psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 --single-transaction "$@"
}

# Collect NNNN_name.sql in order; refuse two files with the same version.
files=()
declare -A seen=()
shopt -s nullglob
for f in "$dir"/[0-9][0-9][0-9][0-9]_*.sql; do
  base=${f##*/}
  version=${base%%_*}
  [ -z "${seen[$version]:-}" ] || die "two migrations share version $version: ${seen[$version]} and $base"
  seen[$version]=$base
  files+=("$f")
done
shopt -u nullglob
[ "${#files[@]}" -gt 0 ] || die "no NNNN_name.sql files in '$dir'"
# Globs expand in the collation order of the locale; put them in byte order.
mapfile -t files < <(printf '%s\n' "${files[@]}" | LC_ALL=C sort)

if ! psql_run -o /dev/null -c "SET client_min_messages = warning" -c "$lock" -c "
  CREATE TABLE IF NOT EXISTS schema_migrations (
      version    text PRIMARY KEY,
      name       text,
      applied_at timestamptz DEFAULT now()
  )"; then
  die "cannot create table schema_migrations (is the database reachable?)"
fi

applied=0
skipped=0
for f in "${files[@]}"; do
  base=${f##*/}
  version=${base%%_*}
  name=${base#*_}
  name=${name%.sql}
  qf=${f//\'/\'\'} # inside psql's quotes a quote is doubled
  # The driver takes the lock, looks again, and either skips or runs the file
  # and records it, all inside psql's single transaction. Query output goes
  # to /dev/null (-o); \echo still reaches stdout, which says what happened.
  if ! out=$(psql_run -o /dev/null -v "mig_version=$version" -v "mig_name=$name" -f - <<EOF
SET client_min_messages = warning;
$lock;
SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = :'mig_version') AS already \gset
\if :already
\echo @@skipped
\else
\i '$qf'
INSERT INTO schema_migrations (version, name) VALUES (:'mig_version', :'mig_name');
\echo @@applied
\endif
EOF
  ); then
    printf '%s' "$out"
    die "migration $base failed; it was rolled back, nothing of it is applied"
  fi
  case $out in
    *@@skipped*)
      echo "$prog: skipped $base (already applied)"
      skipped=$((skipped + 1))
      ;;
    *@@applied*)
      echo "$prog: applied $base"
      applied=$((applied + 1))
      ;;
    *)
      die "migration $base: unexpected output from psql: $out"
      ;;
  esac
done

# Recorded versions with no file here: a newer checkout applied them, or a
# file was renamed. Not an error, but worth saying.
known=$(printf "'%s'," "${!seen[@]}")
unknown=$(psql "$DATABASE_URL" -X -q -t -A -v ON_ERROR_STOP=1 \
  -c "SELECT string_agg(version || '_' || coalesce(name, ''), ' ' ORDER BY version)
        FROM schema_migrations WHERE version NOT IN (${known%,})") ||
  die "cannot read schema_migrations"
[ -z "$unknown" ] || echo "$prog: warning: recorded but not found in $dir: $unknown" >&2

echo "$prog: done: $applied applied, $skipped already applied"
