"""scripts/ensure-test-services.sh against a fake host (no real apt, PostgreSQL or root needed).

The fake commands (``id``, ``apt-get``, ``pg_isready``, ``pg_ctlcluster``, ``psql``, ``sleep``)
model a PostgreSQL server whose authentication rules are those of pg_hba.conf as it was when the
server last started or reloaded, so the finding of issue 13 (installing the package starts the
server, the trust lines are written but never loaded) is reproduced, not assumed. The machine's
real PostgreSQL is never touched: the script's paths point into the test's folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ensure-test-services.sh"
MARK = "# inoplan-test"
DEFAULT_HBA = "local all postgres peer\nhost all all 127.0.0.1/32 scram-sha-256\n"

FAKES = {
    "id": """
[ "$1" = "-u" ] && echo "${FAKE_UID:-0}"
""",
    "sleep": "exit 0\n",
    "apt-get": """
echo "apt-get $*" >> "$STATE/calls"
case "$1" in
  update) echo "Reading package lists..."; exit 0 ;;
esac
if [ -n "${FAKE_APT_FAIL:-}" ]; then
  echo "Reading package lists..."
  echo "E: Unable to locate package ${*: -1}"
  exit 100
fi
for pkg in "$@"; do
  case "$pkg" in
    postgresql)
      mkdir -p "$PG_ETC_DIR/15/main"
      printf 'local all postgres peer\\nhost all all 127.0.0.1/32 scram-sha-256\\n' \\
        > "$PG_ETC_DIR/15/main/pg_hba.conf"
      if [ "${FAKE_APT_STARTS:-0}" = 1 ]; then  # Debian's postinst starts the new cluster
        touch "$STATE/running"; cp "$PG_ETC_DIR/15/main/pg_hba.conf" "$STATE/loaded_hba"
      fi ;;
    chromium) printf '#!/bin/sh\\n' > "$CHROMIUM"; chmod +x "$CHROMIUM" ;;
  esac
done
""",
    "pg_isready": """
[ -f "$STATE/running" ]
""",
    "pg_ctlcluster": """
[ "$1" = "--skip-systemctl-redirect" ] && shift
echo "pg_ctlcluster $1 $2 $3" >> "$STATE/calls"
hba="$PG_ETC_DIR/$1/$2/pg_hba.conf"
case "$3" in
  status) [ -f "$STATE/running" ] && exit 0; exit 3 ;;
  start)
    if [ -f "$STATE/running" ]; then echo "Cluster is already running." >&2; exit 2; fi
    touch "$STATE/running"; cp "$hba" "$STATE/loaded_hba" ;;
  reload)
    [ -f "$STATE/running" ] || exit 1
    cp "$hba" "$STATE/loaded_hba" ;;
  *) echo "unexpected: $3" >> "$STATE/calls"; exit 1 ;;
esac
""",
    "psql": """
sql=""
while [ $# -gt 0 ]; do
  case "$1" in -Atc|-c) sql="$2"; shift ;; esac
  shift
done
if [ ! -f "$STATE/running" ]; then echo "psql: error: connection refused" >&2; exit 2; fi
if ! grep -q "127.0.0.1/32 trust" "$STATE/loaded_hba"; then
  echo 'psql: error: FATAL:  password authentication failed for user "postgres"' >&2; exit 2
fi
case "$sql" in
  "select 1") echo 1 ;;
  *"datname = 'test'"*) grep -qx test "$STATE/databases" 2>/dev/null && echo 1 ;;
  "create database test") echo test >> "$STATE/databases" ;;
esac
exit 0
""",
}


@dataclass
class Host:
    root: Path
    state: Path
    etc: Path
    chromium: Path
    env: dict[str, str]

    def run(self, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(SCRIPT)],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def calls(self) -> list[str]:
        path = self.state / "calls"
        return path.read_text().splitlines() if path.exists() else []

    def hba(self) -> str:
        return (self.etc / "15" / "main" / "pg_hba.conf").read_text()

    def databases(self) -> list[str]:
        path = self.state / "databases"
        return path.read_text().split() if path.exists() else []

    def install_cluster(self, *, running: bool, hba: str = DEFAULT_HBA) -> None:
        main = self.etc / "15" / "main"
        main.mkdir(parents=True)
        (main / "pg_hba.conf").write_text(hba)
        if running:
            (self.state / "running").touch()
            shutil.copy(main / "pg_hba.conf", self.state / "loaded_hba")


@pytest.fixture
def host(tmp_path: Path) -> Host:
    bin_dir, state, etc = tmp_path / "bin", tmp_path / "state", tmp_path / "etc-postgresql"
    for folder in (bin_dir, state, etc):
        folder.mkdir()
    for name, body in FAKES.items():
        fake = bin_dir / name
        fake.write_text("#!/usr/bin/env bash\n" + body)
        fake.chmod(0o755)
    chromium = tmp_path / "chromium"
    chromium.write_text("#!/bin/sh\n")
    chromium.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "STATE": str(state),
        "PG_ETC_DIR": str(etc),
        "CHROMIUM": str(chromium),
        "TMPDIR": str(tmp_path),
    }
    return Host(tmp_path, state, etc, chromium, env)


def test_when_installing_starts_postgres_the_trust_lines_are_reloaded(host: Host) -> None:
    done = host.run(FAKE_APT_STARTS="1")
    assert done.returncode == 0, done.stderr
    assert "apt-get install -y -q postgresql" in host.calls()
    assert "pg_ctlcluster 15 main reload" in host.calls()  # not a failed 'start'
    assert host.hba().splitlines()[:2] == [
        f"host all all 127.0.0.1/32 trust {MARK}",
        f"host all all ::1/128 trust {MARK}",
    ]
    assert host.databases() == ["test"]
    assert "PostgreSQL answers" in done.stdout


def test_when_installing_does_not_start_postgres_it_is_started(host: Host) -> None:
    done = host.run()
    assert done.returncode == 0, done.stderr
    assert "pg_ctlcluster 15 main start" in host.calls()
    assert host.databases() == ["test"]


def test_a_running_cluster_with_password_authentication_is_reloaded_never_restarted(
    host: Host,
) -> None:
    host.install_cluster(running=True)
    done = host.run()
    assert done.returncode == 0, done.stderr
    calls = host.calls()
    assert "pg_ctlcluster 15 main reload" in calls
    assert not any(c.endswith((" start", " stop", " restart")) for c in calls)
    assert not any(c.startswith("apt-get") for c in calls)
    assert host.databases() == ["test"]


def test_a_second_run_changes_nothing(host: Host) -> None:
    assert host.run(FAKE_APT_STARTS="1").returncode == 0
    hba, calls = host.hba(), len(host.calls())
    again = host.run(FAKE_APT_STARTS="1")
    assert again.returncode == 0, again.stderr
    assert host.hba() == hba and host.hba().count(MARK) == 2
    assert [c for c in host.calls()[calls:] if not c.endswith(" status")] == []
    assert host.databases() == ["test"]


def test_a_machine_whose_trust_is_already_in_force_is_left_alone(host: Host) -> None:
    own = "local all all trust\nhost all all 127.0.0.1/32 trust\n"
    host.install_cluster(running=True, hba=own)
    (host.state / "databases").write_text("test\n")
    done = host.run()
    assert done.returncode == 0, done.stderr
    assert host.hba() == own
    assert [c for c in host.calls() if not c.endswith(" status")] == []


def test_apt_output_is_shown_when_an_install_fails(host: Host) -> None:
    host.chromium.unlink()
    done = host.run(FAKE_APT_FAIL="1")
    assert done.returncode == 0  # the tests then skip, or fail when CI requires the service
    assert "apt: E: Unable to locate package postgresql" in done.stderr
    assert "apt: E: Unable to locate package chromium" in done.stderr
    assert "PostgreSQL does not answer" in done.stderr


def test_apt_output_is_quiet_when_an_install_works(host: Host) -> None:
    host.chromium.unlink()
    done = host.run(FAKE_APT_STARTS="1")
    assert "Reading package lists" not in done.stdout + done.stderr
    assert os.access(host.chromium, os.X_OK)


def test_without_root_nothing_is_installed_or_changed(host: Host) -> None:
    host.chromium.unlink()
    done = host.run(FAKE_UID="1000")
    assert done.returncode == 0
    assert host.calls() == []
    assert "not root" in done.stderr and "browser tests will skip" in done.stderr


def test_the_script_passes_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    done = subprocess.run(
        [shellcheck, str(SCRIPT), str(SCRIPT.parents[1] / ".ci" / "run")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout
