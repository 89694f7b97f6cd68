# shellcheck shell=bash
# root.sh -- run as root, the script does only what needs root, then runs
# again as the system user "chat" (PostgreSQL refuses to run as root): every
# service, file and command of the stack then belongs to that one user.
#
# The steps that need root: creating the user (once), moving a state dir the
# user cannot reach to /var/tmp/chat-stack/, handing it the state dir, and
# copying the programs and scripts it cannot read into the state dir.
# Sourced by deploy/local/stack.sh after common.sh.

RUN_USER=chat

# as_user CMD... -- CMD as the service user (the checks below only).
as_user() {
  setpriv --reuid="$RUN_USER" --regid="$RUN_USER" --init-groups -- "$@"
}

ensure_user() {
  id -u "$RUN_USER" >/dev/null 2>&1 && return 0
  say "creating system user '$RUN_USER' (PostgreSQL does not run as root)"
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin "$RUN_USER"
}

# The service user must be able to reach the state dir. When its parent is
# closed to that user (a checkout under /root, say), the state lives under
# /var/tmp/chat-stack/ instead and the state dir becomes a symlink to it. A
# state dir that does not exist starts afresh, so the relocated data of a
# removed one is discarded too.
relocate_state() {
  local parent real
  [ ! -L "$STATE" ] || return 0
  parent=$(dirname "$STATE")
  mkdir -p "$parent"
  ! as_user test -x "$parent" || return 0
  [ ! -e "$STATE" ] || die "user '$RUN_USER' cannot reach '$STATE'; remove it, and the next start keeps the state under /var/tmp/chat-stack/ behind a symlink"
  real=/var/tmp/chat-stack/$(printf '%s' "$STATE" | sha256sum | cut -c 1-16)
  rm -rf "$real"
  mkdir -p "$real"
  ln -s "$real" "$STATE"
  say "user '$RUN_USER' cannot reach $parent: the state lives in $real ($STATE links to it)"
  STATE=$real
  set_paths
}

# Creates the state dir tree and gives all of it to the service user (files
# an earlier run created as root included).
own_state() {
  mkdir -p "$STATE" "$RUN" "$LOG" "$NGINX_DIR/tmp"
  chown -R "$RUN_USER:$RUN_USER" "$STATE"
}

# True when the service user can read every program of the build dir.
build_readable() {
  local bin
  for bin in "$BUILD/chat-fcgi" "$BUILD/chat-ws"; do
    [ -e "$bin" ] || continue
    as_user test -r "$bin" -a -x "$bin" || return 1
  done
}

# Copies the built programs to <state>/copy/build/ (a program that is not
# built is not there either).
copy_build() {
  local dst=$STATE/copy/build bin
  mkdir -p "$dst"
  for bin in chat-fcgi chat-ws; do
    rm -f "$dst/$bin"
    [ ! -e "$BUILD/$bin" ] || cp "$BUILD/$bin" "$dst/$bin"
  done
  chown -R "$RUN_USER:$RUN_USER" "$STATE/copy"
}

# True when the service user can read the scripts, migrations and web client.
repo_readable() {
  as_user test -r "$here/stack.sh" -a -r "$repo/deploy/migrate.sh" \
    -a -r "$repo/migrations" -a -x "$repo/migrations" -a -r "$WEB" -a -x "$WEB"
}

# Copies what the stack reads of the checkout to a new directory and points
# <state>/copy/repo at it in one step (a rename), so that a stack.sh running
# from the previous copy never finds it half written. Prints the link.
copy_repo() {
  local dst=$STATE/copy new old
  mkdir -p "$dst"
  new=$(mktemp -d "$dst/repo.XXXXXX")
  tar -C "$repo" --exclude=node_modules -cf - deploy migrations web | tar -C "$new" -xf -
  chmod 0755 "$new"
  chown -R "$RUN_USER:$RUN_USER" "$new"
  ln -s "${new##*/}" "$new.link"
  mv -T "$new.link" "$dst/repo"
  for old in "$dst"/repo.*; do
    [ "$old" = "$new" ] || rm -rf "$old"
  done
  printf '%s\n' "$dst/repo"
}

# drop_privileges COMMAND [ARGS...] -- as root, the root steps COMMAND needs,
# then this script again, as the service user, from /. Returns at once for
# another user, for psql (a client: it runs as the caller, who can reach the
# socket), and when no state dir exists for a command that starts nothing
# (nothing of a stack can be running: it has nothing to do).
drop_privileges() {
  local cmd=${1:-} script=$here/stack.sh build=$BUILD
  [ "$(id -u)" -eq 0 ] || return 0
  case $cmd in
    start | run | pg-start | pg-replica-start | fcgi-restart | ws-start | ws-restart)
      check_settings
      ensure_user
      relocate_state
      own_state
      ;;
    stop | status | pg-stop | pg-replica-stop | ws-stop | ws-kill)
      check_settings
      [ -d "$STATE" ] || return 0
      ensure_user
      ;;
    *) return 0 ;;
  esac
  if ! build_readable; then
    case $cmd in
      start | run | fcgi-restart | ws-start | ws-restart) copy_build ;;
    esac
    build=$STATE/copy/build
  fi
  repo_readable || script=$(copy_repo)/deploy/local/stack.sh
  cd /
  exec setpriv --reuid="$RUN_USER" --regid="$RUN_USER" --init-groups -- \
    env STACK_STATE_DIR="$STATE" STACK_BUILD="$build" "$script" "$@"
}
