#!/usr/bin/env bash
# Make sure the services the test suite needs answer, installing them from Debian's packages when
# this machine lacks them (CI runs as root on a clean checkout):
#   - PostgreSQL on 127.0.0.1:5432 with trust authentication for local TCP and a database "test";
#   - Debian's Chromium at /usr/bin/chromium for the Playwright browser tests.
# Without root it only reports what is missing; the tests then skip unless CI requires them.
#
# Idempotent: a second run changes nothing. It never stops a running PostgreSQL. When user
# postgres cannot connect over TCP without a password, it puts trust lines first in pg_hba.conf
# and reloads a running cluster (installing the package may have started one with the default
# authentication), or starts one that is not running. apt's output is kept in a log and shown
# when a step fails.
#
# For tests of this script, the paths can be moved with PG_ETC_DIR (default /etc/postgresql) and
# CHROMIUM (default /usr/bin/chromium).
set -u
PG_HOST=127.0.0.1
PG_PORT=5432
PG_ETC_DIR=${PG_ETC_DIR:-/etc/postgresql}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
MARK="# inoplan-test"

say() { echo "ensure-test-services: $*"; }
warn() { echo "ensure-test-services: $*" >&2; }
is_root() { [ "$(id -u)" = "0" ]; }

APT_LOG=$(mktemp "${TMPDIR:-/tmp}/ensure-test-services-apt.XXXXXX")
trap 'rm -f "$APT_LOG"' EXIT
apt_ready=0
# apt_install PACKAGE...: quiet when it works; on failure, apt's own output goes to stderr.
apt_install() {
  if [ "$apt_ready" = 0 ]; then
    if ! DEBIAN_FRONTEND=noninteractive apt-get update -q >"$APT_LOG" 2>&1; then
      warn "apt-get update failed (continuing with the package lists this machine has):"
      sed 's/^/  apt: /' "$APT_LOG" >&2
    fi
    apt_ready=1
  fi
  if DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >"$APT_LOG" 2>&1; then
    return 0
  fi
  warn "apt-get install $* failed:"
  sed 's/^/  apt: /' "$APT_LOG" >&2
  return 1
}

pg_answers() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT"
  else
    (exec 3<>"/dev/tcp/$PG_HOST/$PG_PORT") 2>/dev/null
  fi
}

# psql as the postgres superuser over TCP: works only once trust authentication is in force.
pg_sql() { psql -X -q -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -Atc "$1"; }

pg_clusters() { # "VERSION" for every cluster named main
  local dir
  for dir in "$PG_ETC_DIR"/*/main; do
    [ -d "$dir" ] && basename "$(dirname "$dir")"
  done
}

# Put the trust lines first in pg_hba.conf (the first matching line wins); 0 if it changed.
add_trust_lines() {
  local hba=$1 tmp
  [ -f "$hba" ] || return 1
  grep -q "$MARK" "$hba" && return 1
  tmp=$(mktemp)
  {
    echo "host all all 127.0.0.1/32 trust $MARK"
    echo "host all all ::1/128 trust $MARK"
    cat "$hba"
  } >"$tmp"
  cat "$tmp" >"$hba" # keeps the file's owner and mode
  rm -f "$tmp"
  return 0
}

# Start a stopped cluster; reload a running one whose pg_hba.conf changed. Never stops one.
apply_cluster() {
  local version=$1 changed=$2
  if pg_ctlcluster "$version" main status >/dev/null 2>&1; then
    if [ "$changed" = 1 ]; then
      say "reloading PostgreSQL $version (trust for 127.0.0.1 and ::1)"
      pg_ctlcluster "$version" main reload || warn "could not reload PostgreSQL $version"
    fi
  else
    say "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
      warn "could not start PostgreSQL $version"
  fi
}

ensure_postgres() {
  if ! is_root; then
    pg_answers || warn "PostgreSQL does not answer on $PG_HOST:$PG_PORT (not root: not installing it)"
    return 0
  fi
  if [ -z "$(pg_clusters)" ] && ! pg_answers; then
    say "installing PostgreSQL from Debian's packages"
    apt_install postgresql || warn "could not install postgresql"
  fi
  # trust already in force (this machine's own setup): leave pg_hba.conf as it is
  local trusted=0 version changed
  pg_answers && pg_sql "select 1" >/dev/null 2>&1 && trusted=1
  for version in $(pg_clusters); do
    changed=0
    if [ "$trusted" = 0 ]; then
      add_trust_lines "$PG_ETC_DIR/$version/main/pg_hba.conf" && changed=1
    fi
    apply_cluster "$version" "$changed"
  done
  for _ in $(seq 1 30); do
    pg_answers && break
    sleep 1
  done
  if ! pg_answers; then
    return 0
  fi
  if ! pg_sql "select 1" >/dev/null 2>&1; then
    warn "PostgreSQL answers but refuses user postgres over TCP without a password:"
    pg_sql "select 1" 2>&1 | sed 's/^/  psql: /' >&2
    return 0
  fi
  if [ "$(pg_sql "select 1 from pg_database where datname = 'test'")" != "1" ]; then
    say "creating the database test"
    pg_sql "create database test" || warn "could not create the database test"
  fi
}

ensure_postgres
if pg_answers; then
  say "PostgreSQL answers on $PG_HOST:$PG_PORT"
else
  warn "PostgreSQL does not answer on $PG_HOST:$PG_PORT"
fi

if [ ! -x "$CHROMIUM" ]; then
  if is_root; then
    say "installing Chromium from Debian's packages"
    apt_install chromium || warn "could not install chromium"
  else
    warn "$CHROMIUM missing (browser tests will skip)"
  fi
fi
exit 0
