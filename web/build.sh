#!/usr/bin/env bash
# build.sh -- prepares the web client for nginx: installs socket.io-client
# from web/package-lock.json (npm ci, only when the installed copy is
# missing or older than the lock file) and copies its browser bundle into
# web/vendor/ (git-ignored). Nothing else of node_modules is served.
#
# Usage: web/build.sh        (the Makefile's all, run and test call it)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

command -v npm >/dev/null 2>&1 || {
  echo "web/build.sh: npm is not installed (deploy/local/deps.sh installs it)" >&2
  exit 1
}

bundle=node_modules/socket.io-client/dist/socket.io.esm.min.js
stamp=node_modules/.package-lock.json
if [ ! -f "$bundle" ] || [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  echo "web/build.sh: npm ci (socket.io-client)"
  npm ci --no-audit --no-fund --loglevel=error
fi
[ -f "$bundle" ] || {
  echo "web/build.sh: $bundle is missing after npm ci" >&2
  exit 1
}

mkdir -p vendor
# Copied only when changed, so nginx's Last-Modified/ETag stay stable. The
# source map goes along for the browser's developer tools.
for f in socket.io.esm.min.js socket.io.esm.min.js.map; do
  src=node_modules/socket.io-client/dist/$f
  [ -f "$src" ] || continue
  if ! cmp -s "$src" "vendor/$f"; then
    cp "$src" "vendor/$f.tmp"
    mv -f "vendor/$f.tmp" "vendor/$f"
    echo "web/build.sh: web/vendor/$f from socket.io-client $(node -p "require('./node_modules/socket.io-client/package.json').version" 2>/dev/null || echo '?')"
  fi
done
