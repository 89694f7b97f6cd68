#!/usr/bin/env bash
# deps.sh -- installs the Debian packages the chat stack needs, and only the missing ones.
#
# Usage: deploy/local/deps.sh [extra-package...]
#
# Each requirement below is a list of alternatives separated by '|': it is
# met when any of them is installed, otherwise the first one is installed.
# One dpkg-query call answers for all of them, so a machine that has
# everything pays well under a second. apt-get update runs at most once, and
# only when something is missing. Extra packages named on the command line
# (or in DEPS_EXTRA, space separated) are required as well.
#
# Node.js is checked by command, not by package: a node from another source
# (e.g. nodesource, which bundles npm) must not be replaced by Debian's.
set -euo pipefail

build_reqs=(
  gcc libc6-dev make 'pkg-config|pkgconf'
  libfcgi-dev libpq-dev libjansson-dev libssl-dev libunistring-dev
  libcmocka-dev libwebsockets-dev libev-dev libsodium-dev libjwt-dev liburing-dev
  clang libclang-rt-14-dev 'clang-format|clang-format-14'
  # chat-bench (make test runs it briefly: tests/e2e/t49-bench-smoke)
  libcurl4-openssl-dev
)
# make deb and its test (tests/deb/run.sh): dpkg-buildpackage, debhelper,
# lintian.
package_reqs=(
  dpkg-dev debhelper lintian
)
runtime_reqs=(
  libwebsockets-evlib-ev
  spawn-fcgi
  multiwatch
  python3-minimal
  prometheus
  'nginx-light|nginx|nginx-core|nginx-full|nginx-extras'
  'postgresql|postgresql-17|postgresql-16|postgresql-15'
  'postgresql-client|postgresql-client-17|postgresql-client-16|postgresql-client-15'
  curl
)

reqs=("${build_reqs[@]}" "${package_reqs[@]}" "${runtime_reqs[@]}")
# shellcheck disable=SC2206 # word splitting of DEPS_EXTRA is intended
extra=(${DEPS_EXTRA:-} "$@")
reqs+=("${extra[@]}")

# Which of the candidate packages are installed ("ii" = installed, OK).
candidates=()
for req in "${reqs[@]}"; do
  IFS='|' read -r -a alts <<<"$req"
  candidates+=("${alts[@]}")
done
declare -A installed=()
while read -r status pkg; do
  [ "$status" = ii ] && installed[$pkg]=1
done < <(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${candidates[@]}" 2>/dev/null || true)

missing=()
for req in "${reqs[@]}"; do
  IFS='|' read -r -a alts <<<"$req"
  ok=
  for alt in "${alts[@]}"; do
    if [ -n "${installed[$alt]:-}" ]; then
      ok=1
      break
    fi
  done
  [ -n "$ok" ] || missing+=("${alts[0]}")
done

# The end-to-end tests run on Node.js (socket.io-client).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "deps: all required packages are installed"
  exit 0
fi

echo "deps: installing missing packages: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "deps: cannot install '${missing[*]}': not root and sudo is not available" >&2
  exit 1
fi

"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"
echo "deps: done"
