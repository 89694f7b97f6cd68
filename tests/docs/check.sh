#!/usr/bin/env bash
# check.sh -- fails when the docs and the shipped files drift apart, where a
# machine can tell: every list below is derived from the code and the
# configuration files, never written down here.
#
# Usage: tests/docs/check.sh        (make test and make docs-check run it)
#
#  1. The browser security headers docs/security.md lists (the table between
#     its docs-check markers) are exactly the ones deploy/nginx/chat.conf and
#     deploy/local/nginx.conf.in add, with the same values.
#  2. Every CHAT_* variable the C code reads (common/, fcgi-app/, ws-bridge/)
#     is in the README configuration table and in deploy/chat.env.example;
#     every CHAT_* of that table is read by the C code or by
#     deploy/local/stack.sh, and every one of the example by the C code.
#  3. Every error code of common/err.c is in docs/api.md's error table with
#     its HTTP status; so is every code nginx answers with itself (the
#     chat_error_code maps); and the table names no other code.
#  4. Every metric the programs write is in docs/operations.md (sections
#     Metrics and Alerts), and those name no metric the programs do not
#     write.
#  5. Every repository path a doc names in backquotes exists.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo" || exit 2
fails=0
fail() {
  printf 'docs-check: %s\n' "$*" >&2
  fails=$((fails + 1))
}
# Lines of $1 not in $2 (both sorted sets, one item per line).
missing() { comm -23 <(printf '%s\n' "$1" | sed '/^$/d' | sort -u) <(printf '%s\n' "$2" | sed '/^$/d' | sort -u); }

# ---------------------------------------------------------------- 1. headers

# "Name<TAB>value" of the add_header lines of an nginx file, without the
# ones that are not about browser security (caching, Retry-After of errors).
nginx_headers() {
  sed -nE 's/^[[:space:]]*add_header[[:space:]]+([A-Za-z-]+)[[:space:]]+"([^"]*)".*/\1\t\2/p' "$1" |
    grep -viE '^(Cache-Control|Retry-After)'$'\t' | sort -u
}
doc_headers=$(sed -n '/<!-- docs-check: security-headers -->/,/<!-- \/docs-check -->/p' docs/security.md |
  sed -nE 's/^\|[[:space:]]*`([A-Za-z-]+)`[[:space:]]*\|[[:space:]]*`([^`]*)`.*/\1\t\2/p' | sort -u)
if [ -z "$doc_headers" ]; then
  fail "docs/security.md has no header table between '<!-- docs-check: security-headers -->' and '<!-- /docs-check -->'"
fi
for conf in deploy/nginx/chat.conf deploy/local/nginx.conf.in; do
  set_headers=$(nginx_headers "$conf")
  while IFS= read -r h; do
    [ -n "$h" ] && fail "$conf sets a header docs/security.md does not list: ${h/$'\t'/: }"
  done < <(missing "$set_headers" "$doc_headers")
  while IFS= read -r h; do
    [ -n "$h" ] && fail "docs/security.md lists a header $conf does not set: ${h/$'\t'/: }"
  done < <(missing "$doc_headers" "$set_headers")
done

# ---------------------------------------------------------------- 2. variables

code_vars=$(grep -ohE '"CHAT_[A-Z0-9_]+"' common/*.c fcgi-app/*.c ws-bridge/*.c | tr -d '"' | sort -u)
readme_vars=$(grep -E '^\|' README.md | grep -oE 'CHAT_[A-Z0-9_]+' | sort -u)
example_vars=$(sed -nE 's/^#?(CHAT_[A-Z0-9_]+)=.*/\1/p' deploy/chat.env.example | sort -u)
stack_vars=$(grep -oE 'CHAT_[A-Z0-9_]+' deploy/local/stack.sh | sort -u)
[ -n "$code_vars" ] || fail "found no CHAT_* variable in the C code (did the cfg table move?)"
for v in $(missing "$code_vars" "$readme_vars"); do
  fail "$v is read by the C code but missing from the README configuration table"
done
for v in $(missing "$code_vars" "$example_vars"); do
  fail "$v is read by the C code but missing from deploy/chat.env.example (as $v=… or #$v=…)"
done
for v in $(missing "$readme_vars" "$code_vars"$'\n'"$stack_vars"); do
  fail "the README configuration table names $v, which neither the C code nor deploy/local/stack.sh reads"
done
for v in $(missing "$example_vars" "$code_vars"); do
  fail "deploy/chat.env.example sets $v, which the C code does not read"
done
grep -qE '^\| `DATABASE_URL`' README.md || fail "DATABASE_URL is missing from the README configuration table"
grep -qE '^DATABASE_URL=' deploy/chat.env.example || fail "DATABASE_URL is missing from deploy/chat.env.example"

# ---------------------------------------------------------------- 3. error codes

# "code status" pairs of common/err.c (ERR_NONE's "ok" is no error).
code_errors=$(sed -nE 's/.*\[ERR_[A-Z_]+\][[:space:]]*=[[:space:]]*\{[[:space:]]*"([a-z_]+)",[[:space:]]*([0-9]+).*/\1 \2/p' common/err.c | grep -v '^ok ' | sort -u)
[ -n "$code_errors" ] || fail "found no error code in common/err.c (did the table move?)"
# "code status" rows of the error table in docs/api.md.
doc_errors=$(sed -nE 's/^\|[[:space:]]*`([a-z_]+)`[[:space:]]*\|[[:space:]]*([0-9]{3})[[:space:]]*\|.*/\1 \2/p' docs/api.md | sort -u)
for e in $(missing "$code_errors" "$doc_errors" | tr ' ' ':'); do
  fail "error code ${e%%:*} (HTTP ${e##*:}, common/err.c) is missing from docs/api.md's error table, or has another status there"
done
nginx_codes=$(for conf in deploy/nginx/chat.conf deploy/local/nginx.conf.in; do
  sed -n '/map \$status \$chat_error_code/,/}/p' "$conf" | sed -nE 's/^[[:space:]]*([0-9]+|default)[[:space:]]+([a-z_]+);.*/\2/p'
done | sort -u)
[ -n "$nginx_codes" ] || fail "found no chat_error_code map in the nginx configurations"
for c in $nginx_codes; do
  grep -q "\`$c\`" docs/api.md || fail "nginx answers with error code $c, which docs/api.md does not mention"
done
for c in $(missing "$(printf '%s\n' "$doc_errors" | cut -d' ' -f1)" "$(printf '%s\n' "$code_errors" | cut -d' ' -f1)"$'\n'"$nginx_codes"); do
  fail "docs/api.md's error table names $c, which neither common/err.c nor nginx produces"
done

# ---------------------------------------------------------------- 4. metrics

code_metrics=$(grep -ohE '"[^"]*chat_(ws|fcgi)_[a-z_]+' fcgi-app/*.c ws-bridge/*.c | grep -oE 'chat_(ws|fcgi)_[a-z_]+' | sort -u)
# The names in its Metrics and Alerts sections (elsewhere chat_ws_… are
# nginx names: upstreams, zones).
doc_metrics=$(sed -n '/^## Metrics/,/^## Runbook/p' docs/operations.md | grep -oE 'chat_(ws|fcgi)_[a-z_]+' | sort -u)
[ -n "$doc_metrics" ] || fail "docs/operations.md has no metric names between '## Metrics' and '## Runbook'"
[ -n "$code_metrics" ] || fail "found no metric name in the C code"
# docs/operations.md writes `x_sum`, `…_count`, `…_last` for one family:
# a family's base name, _count and _last are documented with its _sum.
for m in $(missing "$code_metrics" "$doc_metrics"); do
  base=${m%_count}
  base=${base%_last}
  # A here-string, not a pipe: with pipefail, grep -q leaving early would
  # fail the pipe (SIGPIPE in printf) and the check by chance.
  grep -qx "${base}_sum" <<<"$doc_metrics" && continue
  fail "metric $m is written by the code but missing from docs/operations.md"
done
for m in $(missing "$doc_metrics" "$code_metrics"); do
  # A histogram's series (…_bucket in a query) are written under its name.
  grep -qx "${m%_bucket}" <<<"$code_metrics" && continue
  fail "docs/operations.md names metric $m, which the code does not write"
done

# The example Grafana dashboard queries only metrics the code writes.
for m in $(grep -ohE 'chat_(ws|fcgi)_[a-z_]+' deploy/grafana/*.json | sort -u); do
  base=${m%_bucket}
  base=${base%_sum}
  base=${base%_count}
  grep -qx "$m" <<<"$code_metrics" || grep -qx "$base" <<<"$code_metrics" ||
    fail "deploy/grafana names metric $m, which the code does not write"
done
python3 -m json.tool deploy/grafana/chat-dashboard.json >/dev/null 2>&1 ||
  fail "deploy/grafana/chat-dashboard.json is not valid JSON"

# ---------------------------------------------------------------- 4b. env file

# deploy/chat.env.example is also sourced by shells (set -a; . chat.env):
# it must parse, and give DATABASE_URL whole.
if ! got=$(env -i bash -c 'set -eu; set -a; . deploy/chat.env.example; printf %s "$DATABASE_URL"' 2>&1); then
  fail "deploy/chat.env.example cannot be sourced by a shell: $got"
elif [ "$got" != "$(sed -nE "s/^DATABASE_URL='(.*)'$/\1/p" deploy/chat.env.example)" ]; then
  fail "deploy/chat.env.example: a shell reads DATABASE_URL as '$got'"
fi

# ---------------------------------------------------------------- 5. paths

for doc in README.md docs/*.md; do
  while IFS= read -r p; do
    # Globs and placeholders (tNN, <i>) are not paths of one file.
    case $p in *'*'* | *NN* | *'<'* | *'{'*) continue ;; esac
    # Build output (git-ignored, e.g. web/vendor/) need not exist yet.
    [ -e "$p" ] || git check-ignore -q "$p" 2>/dev/null || fail "$doc names \`$p\`, which does not exist"
  done < <(grep -oE '`(common|fcgi-app|ws-bridge|deploy|migrations|tests|web|bench|docs)/[A-Za-z0-9_./-]*`' "$doc" | tr -d '`' | sed 's/[.]$//' | sort -u)
done

if [ "$fails" -gt 0 ]; then
  echo "docs-check: $fails mismatch(es) between the docs and the shipped files" >&2
  exit 1
fi
echo "docs-check: ok (headers, CHAT_* variables, error codes, metrics, paths)"
