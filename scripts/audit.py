"""Check the locked versions for known vulnerabilities (`make audit`), with pip-audit.

pip-audit asks a vulnerability database about every pinned package of the lock file (hashes
required, nothing resolved again). It is tried with each service below in turn until one
answers for every package. When none can be reached, or one answers for only some packages,
pip-audit itself would print "No known vulnerabilities found" for what it could not check; this
script says plainly what was not checked instead.

Exit codes: 0 every package checked, no known vulnerability; 1 known vulnerabilities (listed);
2 the check could not be done for some or all packages (no network to the databases).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

#: pip-audit's vulnerability services, in the order they are tried.
SERVICES = ("pypi", "osv")


def run_pip_audit(lock: Path, service: str) -> tuple[dict[str, Any] | None, str]:
    """pip-audit's JSON report for ``lock`` with ``service``, or None and the reason."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip_audit",
                "--requirement",
                str(lock),
                "--require-hashes",
                "--disable-pip",
                "--vulnerability-service",
                service,
                "--progress-spinner",
                "off",
                "--format",
                "json",
                "--output",
                str(report),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if report.exists() and report.stat().st_size:
            return json.loads(report.read_text(encoding="utf-8")), ""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    reason = lines[-1] if lines else f"pip-audit exited with {done.returncode}"
    return None, reason


def main(argv: list[str]) -> int:
    lock = Path(argv[1] if len(argv) > 1 else "requirements.lock")
    if not lock.is_file():
        print(f"audit: no lock file {lock}", file=sys.stderr)
        return 2
    failures = []
    for service in SERVICES:
        report, reason = run_pip_audit(lock, service)
        if report is None:
            failures.append(f"{service}: cannot be reached ({reason})")
            continue
        dependencies = report.get("dependencies", [])
        skipped = [d for d in dependencies if d.get("skip_reason")]
        vulnerable = [d for d in dependencies if d.get("vulns")]
        checked = len(dependencies) - len(skipped)
        if checked == 0:
            example = skipped[0]["skip_reason"] if skipped else "no packages in the report"
            failures.append(f"{service}: answered for none of the packages ({example})")
            continue
        for dep in vulnerable:
            for vuln in dep["vulns"]:
                fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
                print(f"audit: {dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixed})")
        print(
            f"audit: {checked} of {len(dependencies)} locked packages checked against {service}; "
            f"{len(vulnerable)} with known vulnerabilities"
        )
        if skipped:
            names = ", ".join(sorted(d["name"] for d in skipped))
            print(f"audit: NOT CHECKED ({len(skipped)}): {names}", file=sys.stderr)
        if vulnerable:
            return 1
        return 2 if skipped else 0
    print(
        "audit: CANNOT CHECK: no vulnerability data could be had for the locked packages, so "
        "nothing was checked (this is not a clean result).",
        file=sys.stderr,
    )
    for failure in failures:
        print(f"audit:   {failure}", file=sys.stderr)
    print(
        "audit: run `make audit` on a machine that reaches a vulnerability database.",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
