#!/usr/bin/env bash
# A throw-away Dovecot IMAP server for tests: loopback only, no TLS, its own config, port and Maildir
# (forms-telegram-email.md §C4). Never touches the system dovecot.
#
#   test/support/dovecot.sh start            # install if missing, write config, start, wait for LOGIN
#   test/support/dovecot.sh deliver FILE...  # deliver .eml files through dovecot-lda, like an MTA would
#   test/support/dovecot.sh stop             # stop by pid and remove IMAP_DIR
#   test/support/dovecot.sh status           # exit 0 when running
#
# Env: IMAP_PORT (default 10143), IMAP_DIR (default $PWD/.tmp/imap, git-ignored),
#      IMAP_USER (default leads@example.test), IMAP_PASS (default leads-secret).
# Tests read the same variables (test/integration/imap-smoke.test.ts).
set -euo pipefail

IMAP_PORT="${IMAP_PORT:-10143}"
IMAP_DIR="${IMAP_DIR:-$PWD/.tmp/imap}"
IMAP_USER="${IMAP_USER:-leads@example.test}"
IMAP_PASS="${IMAP_PASS:-leads-secret}"
CONF="$IMAP_DIR/dovecot.conf"
PIDFILE="$IMAP_DIR/run/master.pid"

log() { printf 'dovecot.sh: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    log "need root for: $*"; return 1
  fi
}

install_if_missing() {
  if command -v dovecot >/dev/null 2>&1; then return 0; fi
  command -v apt-get >/dev/null 2>&1 || { log "dovecot is not installed and apt-get is unavailable; install dovecot-imapd (2.3.x)"; exit 1; }
  log "installing dovecot-imapd with apt-get"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null
  # The package may have started the system dovecot (port 143); we never use it, but leave it alone.
}

ensure_vmail() {
  id vmail >/dev/null 2>&1 && return 0
  as_root useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin vmail
}

is_running() {
  [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

write_config() {
  mkdir -p "$IMAP_DIR/run" "$IMAP_DIR/state" "$IMAP_DIR/mail"
  as_root chown vmail:vmail "$IMAP_DIR/mail"
  # Dovecot's unprivileged processes must traverse the path to the Maildir.
  chmod o+x "$IMAP_DIR" 2>/dev/null || true
  printf '%s:{PLAIN}%s\n' "$IMAP_USER" "$IMAP_PASS" >"$IMAP_DIR/users"
  cat >"$CONF" <<EOF
instance_name = leadgate-test-imap-$IMAP_PORT
protocols = imap
listen = 127.0.0.1
base_dir = $IMAP_DIR/run
state_dir = $IMAP_DIR/state
log_path = $IMAP_DIR/dovecot.log
info_log_path = $IMAP_DIR/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = dovenull
default_internal_user = dovecot
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $IMAP_DIR/users
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=$IMAP_DIR/mail/%u
}
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
  mailbox Processed {
    auto = create
  }
  mailbox Junk {
    auto = create
    special_use = \Junk
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0666
  }
  unix_listener stats-writer {
    mode = 0666
  }
}
EOF
  doveconf -c "$CONF" -n >/dev/null
}

# A LOGIN over a fresh connection; bash's /dev/tcp keeps this free of extra tools. Runs in a subshell so
# the descriptor and its redirections never leak into the script.
login_works() (
  exec 9<>"/dev/tcp/127.0.0.1/$IMAP_PORT" || exit 1
  printf 'a1 LOGIN "%s" "%s"\r\na2 LOGOUT\r\n' "$IMAP_USER" "$IMAP_PASS" >&9
  timeout 2 cat <&9 | grep -q '^a1 OK'
) 2>/dev/null

wait_ready() {
  local i
  for i in $(seq 1 200); do # 200 × 50 ms = 10 s cap
    if login_works; then return 0; fi
    sleep 0.05
  done
  log "dovecot did not accept LOGIN on 127.0.0.1:$IMAP_PORT within 10 s; see $IMAP_DIR/dovecot.log"
  tail -n 20 "$IMAP_DIR/dovecot.log" >&2 2>/dev/null || true
  return 1
}

start() {
  install_if_missing
  ensure_vmail
  if is_running; then
    log "already running (pid $(cat "$PIDFILE")) on 127.0.0.1:$IMAP_PORT"
    wait_ready
    return 0
  fi
  write_config
  # Redirect the daemon's stdio: an inherited pipe would keep a caller (`… | tail`, execFile) waiting forever.
  if ! dovecot -c "$CONF" </dev/null >"$IMAP_DIR/dovecot.stderr" 2>&1; then
    cat "$IMAP_DIR/dovecot.stderr" >&2
    return 1
  fi
  wait_ready
  log "ready on 127.0.0.1:$IMAP_PORT user $IMAP_USER (dir $IMAP_DIR)"
}

stop() {
  if is_running; then
    local pid
    pid="$(cat "$PIDFILE")"
    doveadm -c "$CONF" stop 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  # Only remove what we created: a directory holding our own config.
  if [ -f "$CONF" ] && grep -q '^instance_name = leadgate-test-imap' "$CONF"; then rm -rf "$IMAP_DIR"; fi
}

deliver() {
  [ $# -gt 0 ] || { log "usage: dovecot.sh deliver FILE.eml..."; exit 2; }
  is_running || { log "not running; run: $0 start"; exit 1; }
  local lda
  lda="$(dpkg -L dovecot-core 2>/dev/null | grep '/dovecot-lda$' | head -n 1)"
  [ -n "$lda" ] || lda=/usr/lib/dovecot/dovecot-lda
  for f in "$@"; do
    "$lda" -c "$CONF" -d "$IMAP_USER" -f sender@example.org <"$f"
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  deliver) shift; deliver "$@" ;;
  status) if is_running; then echo "running on 127.0.0.1:$IMAP_PORT"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|deliver FILE...|status" >&2; exit 2 ;;
esac
