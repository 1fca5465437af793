"""CLI start-up benchmark: `inoplan bsa|dose|evaluate ... --json` versus `python -c 'import json'`.

Each run is a fresh process (the start-up a user waits for). The commands are run interleaved,
RUNS rounds after one discarded warm-up of each (so all see a warm OS file cache), and the
medians are compared with the anchor's. Target: ratio <= 3x (issue 15); see bench/README.md.

    .venv/bin/python bench/bench_cli.py            # print the result
    .venv/bin/python bench/bench_cli.py --write    # also update the "CLI start-up" section

Not a timed test: timings depend on the machine, so nothing here asserts.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RUNS = 11
TARGET = 3.0  # issue 15 item 5
README = Path(__file__).with_name("README.md")
BEGIN, END = "<!-- bench_cli:begin -->", "<!-- bench_cli:end -->"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "01-first-dose.yaml"


def _script() -> list[str]:
    script = Path(sys.executable).with_name("inoplan")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "inoplan"]  # pragma: no cover


def rows(run: int, evaluate_file: Path) -> dict[str, list[str]]:
    """The commands of one run; heights and weights change from run to run (distinct inputs)."""
    height, weight = str(150 + run % 40), str(50 + (run * 7) % 60)
    cli = _script()
    return {
        "anchor": [sys.executable, "-c", "import json"],
        "bsa": [*cli, "bsa", "--height-cm", height, "--weight-kg", weight, "--json"],
        "dose": [
            *cli,
            "dose",
            "--height-cm",
            height,
            "--weight-kg",
            weight,
            "--mg-per-m2",
            "0.8",
            "--json",
        ],
        "evaluate": [*cli, "evaluate", str(evaluate_file), "--on", "2027-03-01", "--json"],
        "help": [*cli, "--help"],  # the Typer path, for comparison (no target)
    }


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU of the child: user + system) in seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{command} failed: {done.stderr.decode(errors='replace')}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def measure(runs: int) -> dict[str, Any]:
    # An installed CLI runs from compiled bytecode. PYTHONDONTWRITEBYTECODE (any non-empty
    # value) would make every run recompile changed sources, so drop it and let the warm-up
    # write the bytecode into a private cache outside the source tree.
    dropped = {"INOPLAN_SITE_POLICY", "PYTHONDONTWRITEBYTECODE"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "inoplan-bench-pycache")
    load_start = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp:
        import json

        import yaml

        document = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
        document.pop("expect", None)
        course = Path(tmp) / "course.json"
        course.write_text(json.dumps(document, default=str), encoding="utf-8")
        for command in rows(0, course).values():
            timed(command, env)  # warm-up, discarded
        wall: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}
        for run in range(1, runs + 1):  # interleaved, so drift in machine load hits all alike
            for name, command in rows(run, course).items():
                w, c = timed(command, env)
                wall.setdefault(name, []).append(w * 1000)
                cpu.setdefault(name, []).append(c * 1000)
    wall_med = {k: statistics.median(v) for k, v in wall.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
    return {
        "runs": runs,
        "load_start": load_start,
        "load_end": ", ".join(f"{x:.1f}" for x in os.getloadavg()),
        "wall_ms": wall_med,
        "cpu_ms": cpu_med,
        "ratio_wall": {k: v / wall_med["anchor"] for k, v in wall_med.items()},
        "ratio_cpu": {k: v / cpu_med["anchor"] for k, v in cpu_med.items()},
    }


_LABELS = {
    "anchor": "anchor: `python -c 'import json'`",
    "bsa": "`inoplan bsa --height-cm H --weight-kg W --json`",
    "dose": "`inoplan dose --height-cm H --weight-kg W --mg-per-m2 0.8 --json`",
    "evaluate": "`inoplan evaluate course.json --on 2027-03-01 --json` (examples/01)",
    "help": "`inoplan --help` (Typer; no target)",
}


def section(result: dict[str, Any]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    table = [
        "| command | wall ms (median) | ratio (wall) | CPU ms (median) | ratio (CPU) | "
        f"target <= {TARGET:g}x (wall) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, label in _LABELS.items():
        ratio = result["ratio_wall"][name]
        verdict = "-" if name in ("anchor", "help") else ("met" if ratio <= TARGET else "not met")
        table.append(
            f"| {label} | {result['wall_ms'][name]:.1f} | {ratio:.2f}x | "
            f"{result['cpu_ms'][name]:.1f} | {result['ratio_cpu'][name]:.2f}x | {verdict} |"
        )
    return "\n".join(
        [
            BEGIN,
            "## CLI start-up",
            "",
            "Cold start of the console script (a fresh process each run, bytecode compiled as "
            "after an install) against `python -c 'import json'` on the same machine in the same "
            f"run: {result['runs']} interleaved rounds after one discarded warm-up, the height and "
            "weight changing from round to round; medians compared. CPU is the child's user + "
            "system time (`getrusage`), steadier than wall time on a shared machine. Target "
            f"(issue 15 item 5): <= {TARGET:g}x for bsa, dose and evaluate.",
            "Reproduce: `.venv/bin/python bench/bench_cli.py --write`.",
            "",
            f"Measured {when}; load average {result['load_start']} at the start, "
            f"{result['load_end']} at the end (1, 5, 15 min).",
            "",
            *table,
            "",
            f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Linux {platform.release()}, "
            f"Python {platform.python_version()}.",
            END,
        ]
    )


def write_section(text: str) -> None:
    current = README.read_text(encoding="utf-8") if README.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    placeholder = re.compile(r"^## CLI start-up\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text, current)
    elif placeholder.search(current):  # first run: replace the placeholder section only
        updated = placeholder.sub(lambda _: text + "\n\n", current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + text + "\n"
    README.write_text(updated, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--write", action="store_true", help="update bench/README.md")
    args = parser.parse_args()
    if args.runs < 7:
        parser.error("--runs must be at least 7")
    result = measure(args.runs)
    text = section(result)
    print(text)
    print("ratios to the anchor (wall):", {k: round(v, 2) for k, v in result["ratio_wall"].items()})
    print("ratios to the anchor (CPU):", {k: round(v, 2) for k, v in result["ratio_cpu"].items()})
    if args.write:
        write_section(text)
        print(f"wrote {README}")


if __name__ == "__main__":
    main()
