#!/usr/bin/env bash
# Make sure the services the test suite needs answer, installing them from Debian's packages when
# this machine lacks them (CI runs as root on a clean checkout):
#   - PostgreSQL on 127.0.0.1:5432 with trust authentication and a database "test";
#   - Debian's Chromium at /usr/bin/chromium for the Playwright browser tests.
# Without root it only reports what is missing; the tests then skip unless CI requires them.
set -u
PG_HOST=127.0.0.1
PG_PORT=5432

is_root() { [ "$(id -u)" = "0" ]; }
apt_ready=0
apt_install() {
  if [ "$apt_ready" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || true
    apt_ready=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
}
pg_answers() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT"
  else
    (exec 3<>"/dev/tcp/$PG_HOST/$PG_PORT") 2>/dev/null
  fi
}

if ! pg_answers; then
  if is_root; then
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
      echo "ensure-test-services: installing PostgreSQL from Debian's packages"
      apt_install postgresql || echo "ensure-test-services: could not install postgresql" >&2
    fi
    for version in $(ls /etc/postgresql 2>/dev/null); do
      hba=/etc/postgresql/$version/main/pg_hba.conf
      if [ -f "$hba" ] && ! grep -q "inoplan-test" "$hba"; then
        sed -i "1i host all all 127.0.0.1/32 trust # inoplan-test\nhost all all ::1/128 trust # inoplan-test" "$hba"
      fi
      pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
    done
    for _ in $(seq 1 30); do pg_answers && break; sleep 1; done
  fi
fi
if pg_answers; then
  if is_root && command -v psql >/dev/null 2>&1; then
    if ! psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -Atc "select 1 from pg_database where datname='test'" 2>/dev/null | grep -q 1; then
      psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -c "create database test" >/dev/null 2>&1 || true
    fi
  fi
  echo "ensure-test-services: PostgreSQL answers on $PG_HOST:$PG_PORT"
else
  echo "ensure-test-services: PostgreSQL does not answer on $PG_HOST:$PG_PORT" >&2
fi

if [ ! -x /usr/bin/chromium ]; then
  if is_root; then
    echo "ensure-test-services: installing Chromium from Debian's packages"
    apt_install chromium || echo "ensure-test-services: could not install chromium" >&2
  else
    echo "ensure-test-services: /usr/bin/chromium missing (browser tests will skip)" >&2
  fi
fi
exit 0
