#!/usr/bin/env bash
# run.sh -- the proof of the Debian package: build it, unpack it into a
# throw-away root, deploy from the unpacked files the way docs/deploy.md
# does (spawn-fcgi + chat-fcgi, chat-ws, nginx with the packaged site)
# against a private PostgreSQL, and pass a smoke test.
#
# Usage: tests/deb/run.sh [PACKAGE.deb]
#        (make test runs it without an argument: make deb first, which also
#        runs lintian and fails on any error; with a .deb, that one is used)
#
# Never installs anything into the machine: `dpkg -x` unpacks the package
# under var/deb/root/, and every path of the packaged site, env file and
# migrate.sh is used from there. The state (var/deb) holds a PostgreSQL
# cluster started by deploy/local/stack.sh pg-start, the logs and the pid
# files, named as the stack names its own, so that `stack.sh stop` ends
# everything. Ports: CHAT_DEB_PORT (default 18580) for nginx, the next one
# for the bridge, the one after for HTTPS: the smoke test runs over plain
# HTTP, then again after the TLS edits of docs/deploy.md step 9 (a
# self-signed certificate standing in for Let's Encrypt's), which also
# checks HSTS, the redirect and the webroot challenge. As root, the services run as the system user "chat", as
# in production (stack.sh creates it); the checks and the smoke test run as
# the caller. Exits non-zero when a step or the smoke test fails.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
prog='deb-test'
say() { printf '%s: %s\n' "$prog" "$*"; }
die() {
  printf '%s: %s\n' "$prog" "$*" >&2
  exit 1
}

port=${CHAT_DEB_PORT:-18580}
ws_port=$((port + 1))
ws2_port=$((port + 3)) # the second bridge (the one after is HTTPS's)
[[ $port =~ ^[0-9]+$ ]] || die "CHAT_DEB_PORT must be a number"

cd "$repo"
if [ "$#" -ge 1 ]; then
  deb=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
else
  # No debug-symbols package: the test does not need it, and without it
  # dpkg-buildpackage and lintian have half the work.
  DEB_BUILD_OPTIONS="noautodbgsym ${DEB_BUILD_OPTIONS:-}" make --no-print-directory deb
  say "make deb (with lintian) took $SECONDS s"
  deb=$(ls -1 build/deb/chat_"$(cat VERSION)"_*.deb)
fi
[ -f "$deb" ] || die "no package at '$deb'"

# ---------------------------------------------------------------- the state

export CHAT_STATE_DIR=$repo/var/deb
export CHAT_PORT=$port
stack=$repo/deploy/local/stack.sh
# A stack left running in this state dir by an interrupted run goes first.
if [ -d "$CHAT_STATE_DIR" ]; then
  "$stack" stop >/dev/null 2>&1 || true
fi
rm -rf "$CHAT_STATE_DIR"
stopped=
stop() {
  [ -z "$stopped" ] || return 0
  stopped=1
  "$stack" stop >/dev/null || echo "$prog: warning: stack.sh stop failed" >&2
}
trap stop EXIT
trap 'exit 130' INT TERM

# The private PostgreSQL: superuser "chat", trust, on a unix socket in
# <state>/run (mode 0700, the service user's). As root, stack.sh creates the
# user chat and hands it the state dir.
"$stack" pg-start
state=$(readlink -f "$CHAT_STATE_DIR")
run=$state/run
log=$state/log
root=$state/root

# as_svc CMD... -- CMD as the service user (as root: the owner of the state
# dir, chat), or as the caller.
svc_user=$(stat -c %U "$state")
drop=()
if [ "$(id -u)" -eq 0 ] && [ "$svc_user" != root ]; then
  drop=(setpriv --reuid="$svc_user" --regid="$svc_user" --init-groups --)
fi
as_svc() { "${drop[@]}" "$@"; }

# spawn PIDFILE LOG CMD... -- CMD as the service user in a session of its
# own, stdout and stderr to LOG; PIDFILE gets its pid (= its process group,
# as deploy/local/lib/common.sh's spawn writes them, for stack.sh stop).
spawn() {
  local pidfile=$1 out=$2
  shift 2
  # shellcheck disable=SC2016 # $$, $0 and $@ belong to the inner shell
  (cd / && exec setsid /bin/sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@") \
    </dev/null >>"$out" 2>&1 &
}

# die_logs MESSAGE -- the tails of the services' logs, then die.
die_logs() {
  local f
  for f in fcgi.log ws.log ws1.log nginx-error.log; do
    echo "--- tail of $log/$f"
    tail -n 20 "$log/$f" 2>/dev/null || true
  done
  die "$1"
}

# ---------------------------------------------------------------- unpack

say "unpacking $(basename "$deb") into $root"
mkdir -p "$root"
dpkg -x "$deb" "$root"
chown -R "$svc_user:" "$root" 2>/dev/null || true

# What the package must hold (docs/deploy.md names these paths).
for f in usr/bin/chat-fcgi usr/bin/chat-ws usr/bin/chatctl \
  usr/share/chat/deploy/migrate.sh usr/share/chat/web/index.html \
  usr/share/chat/web/vendor/socket.io.esm.min.js etc/nginx/sites-available/chat \
  etc/chat/chat.env lib/systemd/system/chat.target; do
  [ -e "$root/$f" ] || die "the package lacks /$f"
done
for f in "$repo"/migrations/[0-9]*.sql; do
  [ -e "$root/usr/share/chat/migrations/${f##*/}" ] || die "the package lacks migration ${f##*/}"
done
for f in "$repo"/deploy/systemd/*; do
  [ -e "$root/lib/systemd/system/${f##*/}" ] || die "the package lacks the unit ${f##*/}"
done
for p in chat-fcgi chat-ws chatctl; do
  [ -e "$root/usr/share/man/man8/$p.8.gz" ] || die "the package lacks the man page $p(8)"
done
[ "$(stat -c %a "$root/etc/chat/chat.env")" = 600 ] || die "/etc/chat/chat.env is not mode 0600"
conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles)
for f in /etc/chat/chat.env /etc/nginx/sites-available/chat; do
  grep -qx "$f" <<<"$conffiles" || die "$f is not a conffile"
done
# Nothing packaged may point into /usr/local.
if grep -rl '/usr/local' "$root/lib/systemd/system" "$root/etc/nginx"; then
  die "packaged units or site name /usr/local"
fi

# ---------------------------------------------------------------- database

# docs/deploy.md step 4, on the private cluster: the owner (here its
# superuser chat) runs the packaged migrate.sh, which finds the packaged
# migrations; the services connect as chat_svc, a member of chat_app.
owner_url="host=$run dbname=chat user=chat"
as_svc env DATABASE_URL="$owner_url" "$root/usr/share/chat/deploy/migrate.sh" >"$log/migrate.log" 2>&1 ||
  {
    cat "$log/migrate.log" >&2
    die "the packaged migrate.sh failed"
  }
as_svc psql -X -q -v ON_ERROR_STOP=1 "$owner_url" -c 'CREATE ROLE chat_svc LOGIN IN ROLE chat_app'

# ---------------------------------------------------------------- services

# The packaged env file, read as systemd's EnvironmentFile= reads it
# (VAR=value, surrounding quotes removed), with the database replaced.
svc_env=(PATH=/usr/bin:/bin)
while IFS= read -r line; do
  [[ $line =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
  name=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
  if [[ $value =~ ^\"(.*)\"$ ]] || [[ $value =~ ^\'(.*)\'$ ]]; then
    value=${BASH_REMATCH[1]}
  fi
  svc_env+=("$name=$value")
done <"$root/etc/chat/chat.env"
svc_env+=("DATABASE_URL=host=$run dbname=chat user=chat_svc")

# docs/deploy.md: "--check" before the first start, with the services'
# settings, as the service user: configuration, database, schema, LISTEN.
for p in chat-fcgi chat-ws; do
  out=$(env -i "${svc_env[@]}" "${drop[@]}" "$root/usr/bin/$p" --check 2>&1) ||
    die "$p --check fails against the migrated database: $out"
  grep -q 'schema' <<<"$out" || die "$p --check says nothing of the schema: $out"
  # And it can fail: a database that does not answer.
  if bad=$(env -i "${svc_env[@]}" "DATABASE_URL=host=$run/nowhere dbname=chat connect_timeout=2" \
    "${drop[@]}" "$root/usr/bin/$p" --check 2>&1); then
    die "$p --check passes without a database: $bad"
  fi
done
say "chat-fcgi --check and chat-ws --check pass (and fail without a database)"

# chat-fcgi as docs/deploy.md runs it without systemd: spawn-fcgi creates
# the socket (mode 0660) and execs chat-fcgi, which forks its workers.
sock=$run/fcgi.sock
spawn "$run/fcgi.pid" "$log/fcgi.log" env -i "${svc_env[@]}" CHAT_FCGI_WORKERS=2 \
  "${drop[@]}" spawn-fcgi -n -s "$sock" -M 0660 -- "$root/usr/bin/chat-fcgi"
# Two bridges, with the settings their units give them (chat-ws@8081 and
# chat-ws@8082: CHAT_WS_PORT=%i, CHAT_WS_SID_PREFIX=p%i_), on this test's
# ports; the site's second-bridge lines are enabled below (deploy.md step 6).
spawn "$run/ws.pid" "$log/ws.log" env -i "${svc_env[@]}" CHAT_WS_PORT="$ws_port" CHAT_WS_SID_PREFIX=p8081_ \
  "${drop[@]}" "$root/usr/bin/chat-ws"
spawn "$run/ws1.pid" "$log/ws1.log" env -i "${svc_env[@]}" CHAT_WS_PORT="$ws2_port" CHAT_WS_SID_PREFIX=p8082_ \
  "${drop[@]}" "$root/usr/bin/chat-ws"

# nginx with the packaged site, only its host paths moved into the
# throw-away root and the state dir: each edit must apply, so a site that
# changes what it names fails here instead of passing untested.
nginx_dir=$state/nginx
mkdir -p "$nginx_dir/tmp"
cp /etc/nginx/fastcgi_params /etc/nginx/mime.types "$nginx_dir/"
site=$nginx_dir/chat.conf
tls=$state/tls
tls_port=$((port + 2))
# edit FROM TO -- replaces every FROM (a literal string) in the site by TO.
edit() {
  grep -qF -- "$1" "$site" || die "the packaged site no longer contains '$1'"
  FROM=$1 TO=$2 perl -0pi -e 's/\Q$ENV{FROM}\E/$ENV{TO}/g' "$site"
}
# uncomment REGEX -- removes "# " before the lines matching REGEX (perl).
uncomment() {
  grep -qP -- "^\s*# $1" "$site" || die "the packaged site has no commented line '$1'"
  RE=$1 perl -pi -e 's/^(\s*)# ($ENV{RE})/$1$2/' "$site"
}
# render_site plain|tls -- the packaged site as deployed. tls: the edits of
# docs/deploy.md step 9 (webroot way): the two "listen 80" lines of the
# main server out, its commented TLS lines and HSTS in, the commented
# redirect server at the end in; then this host's paths and ports.
render_site() {
  cp "$root/etc/nginx/sites-available/chat" "$site"
  if [ "$1" = tls ]; then
    edit $'    listen 80;\n    listen [::]:80;\n' ''
    uncomment 'listen (\[::\]:)?443 ssl'
    uncomment 'ssl_'
    uncomment 'add_header Strict-Transport-Security'
    grep -q '^# With TLS: plain HTTP' "$site" || die "the packaged site has no commented redirect server"
    perl -0pi -e 's/(# With TLS: plain HTTP[^\n]*\n(?:#[^\n]*\n)*?)(# server \{\n.*)\z/$1 . ($2 =~ s{^# ?}{}mgr)/se' "$site"
    grep -q '^server {' <(tail -n 20 "$site") || die "could not enable the redirect server"
    edit 'listen 443 ssl http2;' "listen 127.0.0.1:$tls_port ssl http2;"
    edit 'listen [::]:443 ssl http2;' ''
    edit '/etc/letsencrypt/live/chat.example.org/' "$tls/"
    edit '/var/www/letsencrypt' "$state/acme"
  fi
  edit 'listen 80;' "listen 127.0.0.1:$port;"
  edit 'listen [::]:80;' ''
  edit 'unix:/run/chat/fcgi.sock' "unix:$sock"
  # The second bridge: its commented lines in (the upstream's server, its
  # own upstream block, its map line).
  uncomment 'server 127.0.0.1:8082 max_fails=0;'
  uncomment '~\^p8082_'
  grep -q '^# upstream chat_ws_p8082 {$' "$site" || die "the packaged site has no commented upstream chat_ws_p8082"
  perl -0pi -e 's/^# (upstream chat_ws_p8082 \{)\n#(\s+server 127\.0\.0\.1:8082;)\n# \}/$1\n$2\n}/m' "$site"
  grep -q '^upstream chat_ws_p8082 {$' "$site" || die "could not enable upstream chat_ws_p8082"
  edit '127.0.0.1:8081' "127.0.0.1:$ws_port"
  edit '127.0.0.1:8082' "127.0.0.1:$ws2_port"
  edit 'root /usr/share/chat/web;' "root $root/usr/share/chat/web;"
  edit '/var/log/nginx/' "$log/nginx-"
  chown "$svc_user:" "$site" 2>/dev/null || true
}
render_site plain
cat >"$nginx_dir/nginx.conf" <<EOF
# Written by tests/deb/run.sh: Debian's nginx.conf, reduced to what the
# packaged site (included below, as sites-enabled/ would) needs.
worker_processes 1;
pid $run/nginx-master.pid;
events { worker_connections 256; }
http {
    include mime.types;
    default_type application/octet-stream;
    client_body_temp_path $nginx_dir/tmp/body;
    proxy_temp_path $nginx_dir/tmp/proxy;
    fastcgi_temp_path $nginx_dir/tmp/fastcgi;
    uwsgi_temp_path $nginx_dir/tmp/uwsgi;
    scgi_temp_path $nginx_dir/tmp/scgi;
    access_log off;
    include $site;
}
EOF
chown -R "$svc_user:" "$nginx_dir" 2>/dev/null || true
nginx_cmd=(nginx -p "$nginx_dir/" -c "$nginx_dir/nginx.conf" -e "$log/nginx-error.log")
as_svc "${nginx_cmd[@]}" -t -q ||
  die "nginx -t rejects the packaged site"
spawn "$run/nginx.pid" "$log/nginx-error.log" \
  "${drop[@]}" "${nginx_cmd[@]}" -g 'daemon off;'

# Ready when /api/health answers 200 through nginx and the bridge accepts.
base=http://127.0.0.1:$port
ready=
for ((i = 0; i < 150; i++)); do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$base/api/health" || true)" = 200 ] &&
    (exec 3<>"/dev/tcp/127.0.0.1/$ws_port") 2>/dev/null &&
    (exec 3<>"/dev/tcp/127.0.0.1/$ws2_port") 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.2
done
[ -n "$ready" ] || die_logs "the deployment from the package did not become healthy on $base"
say "deployed from the package on $base"

# ---------------------------------------------------------------- smoke test

# shellcheck source=tests/harness.sh
. "$repo/tests/harness.sh"
harness_npm_ci "$repo/tests/e2e"
failed=
smoke() {
  local url=$1
  shift
  env "$@" CHAT_BASE_URL="$url" CHAT_WS_PORT="$ws_port" CHAT_DEB_WS2_PORT="$ws2_port" node --test --test-concurrency=1 \
    --test-timeout=60000 "$here"/t*.test.mjs || failed="$failed $url"
}
smoke "$base"

# ---------------------------------------------------------------- TLS

# docs/deploy.md step 9 with a certificate of our own in place of Let's
# Encrypt's (for chat.example.org and 127.0.0.1), then nginx reloaded.
mkdir -p "$tls" "$state/acme/.well-known/acme-challenge"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=chat.example.org -addext 'subjectAltName=DNS:chat.example.org,IP:127.0.0.1' \
  -keyout "$tls/privkey.pem" -out "$tls/fullchain.pem" 2>/dev/null
echo challenge-token >"$state/acme/.well-known/acme-challenge/t0k"
chown -R "$svc_user:" "$tls" "$state/acme" 2>/dev/null || true
render_site tls
as_svc "${nginx_cmd[@]}" -t -q || die "nginx -t rejects the packaged site with TLS enabled"
as_svc "${nginx_cmd[@]}" -s reload
tls_base=https://127.0.0.1:$tls_port
curl_tls=(curl -s --max-time 5 --cacert "$tls/fullchain.pem")
for ((i = 0; i < 100; i++)); do
  [ "$("${curl_tls[@]}" -o /dev/null -w '%{http_code}' "$tls_base/api/health" || true)" != 200 ] || break
  sleep 0.1
done
[ "$("${curl_tls[@]}" -o /dev/null -w '%{http_code}' "$tls_base/api/health" || true)" = 200 ] ||
  die "no 200 from $tls_base/api/health after enabling TLS"
for path in / /api/health; do
  "${curl_tls[@]}" -o /dev/null -D - "$tls_base$path" | grep -qi '^strict-transport-security: max-age=' ||
    die "no Strict-Transport-Security on $tls_base$path"
done
redirect=$(curl -s --max-time 5 -o /dev/null -w '%{http_code} %{redirect_url}' "$base/api/health?x=1")
[ "$redirect" = "301 https://127.0.0.1/api/health?x=1" ] || die "plain HTTP answers '$redirect', not a redirect to HTTPS"
[ "$(curl -s --max-time 5 "$base/.well-known/acme-challenge/t0k")" = challenge-token ] ||
  die "plain HTTP does not serve the certificate challenge from the webroot"
say "TLS on $tls_base: HSTS, redirect from HTTP, webroot challenge"
smoke "$tls_base" NODE_EXTRA_CA_CERTS="$tls/fullchain.pem"

stop
[ -z "$failed" ] || die_logs "the smoke test against the package FAILED on$failed"
say "package test passed ($(basename "$deb")): HTTP and HTTPS, $SECONDS s in all"
