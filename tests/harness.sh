# shellcheck shell=bash disable=SC2154 # repo and suite are set by the sourcing run.sh
# harness.sh -- what the end-to-end and browser suites share: the build
# directory check, npm packages from a lock file, a fresh local stack with
# the tests' settings, and the verdict (test status + sanitizer reports).
#
# Sourced by tests/e2e/run.sh and tests/browser/run.sh after they set
# `repo` (the checkout) and `suite` (a name for messages).

# harness_build_dir DIR -- sets `build` to DIR made absolute; exits 2 when
# chat-fcgi or chat-ws is not built there.
harness_build_dir() {
  build=$1
  case $build in
    /*) ;;
    *) build=$PWD/$build ;;
  esac
  build=${build%/}
  local bin
  for bin in chat-fcgi chat-ws; do
    if [ ! -f "$build/$bin" ]; then
      echo "run.sh: $build/$bin does not exist; build it first (make BUILD=build/asan SANITIZE=address,undefined all)" >&2
      exit 2
    fi
  done
}

# harness_npm_ci DIR -- installs DIR's npm packages from its lock file when
# node_modules is missing or older than the lock (npm ci writes
# node_modules/.package-lock.json last).
harness_npm_ci() {
  local dir=$1
  command -v node >/dev/null 2>&1 || {
    echo "run.sh: node is not installed" >&2
    exit 2
  }
  if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
    [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    command -v npm >/dev/null 2>&1 || {
      echo "run.sh: npm is not installed (needed once for $dir/node_modules)" >&2
      exit 2
    }
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || {
      echo "run.sh: npm ci failed in $dir" >&2
      exit 2
    }
  fi
}

# harness_start STATE_DIR PORT -- exports the settings every suite wants
# (the tests join many users from one address and create many rooms per
# user, so both join limits, the failed sign-ins per address and the
# room-creation limit are raised; t25 and t28 test the defaults; a JWT
# secret and an allowed origin; sanitizer reports go to files under the
# log dir), then starts a fresh stack there and stops it whenever the
# script exits.
harness_start() {
  export CHAT_STATE_DIR=$1
  export CHAT_PORT=$2
  export CHAT_BUILD=$build
  export CHAT_NGINX_JOIN_RATE=1000r/s
  export CHAT_JOIN_RATE=100000
  export CHAT_ROOM_CREATE_RATE=100000
  # Site-minted tokens (t29 mints its own with this secret) and one other
  # origin allowed for CORS (t30; the browser suite names its own page's).
  export CHAT_JWT_SECRET=${CHAT_JWT_SECRET:-e2e-only-secret-0123456789abcdef-0123456789}
  export CHAT_ALLOWED_ORIGINS=${CHAT_ALLOWED_ORIGINS:-http://allowed.example}
  export CHAT_LOGIN_ADDR_RATE=100000
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:log_path=$CHAT_STATE_DIR/log/asan
  export UBSAN_OPTIONS=print_stacktrace=1:log_path=$CHAT_STATE_DIR/log/ubsan
  export CHAT_BASE_URL=http://127.0.0.1:$CHAT_PORT
  stack=$repo/deploy/local/stack.sh
  log=$CHAT_STATE_DIR/log
  stopped=
  trap harness_stop EXIT
  trap 'exit 130' INT TERM
  # A stack left running in this state dir by an interrupted run goes first.
  if [ -d "$CHAT_STATE_DIR" ]; then
    "$stack" stop >/dev/null 2>&1 || true
  fi
  rm -rf "$CHAT_STATE_DIR"
  "$stack" start
}

harness_stop() {
  [ -z "$stopped" ] || return 0
  stopped=1
  "$stack" stop || echo "run.sh: warning: stack.sh stop failed" >&2
}

# harness_verdict RC LOG... -- stops the stack, shows the tails of the named
# logs (under the log dir) when the tests failed, fails on any sanitizer
# report, and sets `rc` to the suite's exit status.
harness_verdict() {
  local f
  rc=$1
  shift
  harness_stop
  if [ "$rc" -ne 0 ]; then
    for f in "$@"; do
      if [ -s "$log/$f" ]; then
        echo "--- tail of $log/$f"
        tail -n 40 "$log/$f"
      fi
    done
  fi
  shopt -s nullglob
  local reports=("$log"/asan* "$log"/ubsan*)
  if [ "${#reports[@]}" -gt 0 ]; then
    for f in "${reports[@]}"; do
      echo "=== sanitizer report $f"
      cat "$f"
    done
    echo "run.sh: ${#reports[@]} sanitizer report(s)" >&2
    [ "$rc" -ne 0 ] || rc=1
  fi
  if [ "$rc" -eq 0 ]; then
    echo "run.sh: $suite tests passed"
  else
    echo "run.sh: $suite tests FAILED" >&2
  fi
}
