"""CLI start-up benchmark: `inoplan dose ... --json` versus `python -c 'import json'`.

Each run is a fresh process (the start-up a user waits for). The two commands are run
interleaved, RUNS times each after one discarded warm-up of each (so both see a warm OS file
cache), and the medians are compared. Target: ratio <= 8x (aim 3x); see bench/README.md.

    .venv/bin/python bench/bench_cli.py            # print the result
    .venv/bin/python bench/bench_cli.py --write    # also update the "CLI start-up" section

Not a timed test: timings depend on the machine, so nothing here asserts.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

RUNS = 11
TARGET = 8.0
AIM = 3.0
README = Path(__file__).with_name("README.md")
BEGIN, END = "<!-- bench_cli:begin -->", "<!-- bench_cli:end -->"
DOSE_ARGS = ["dose", "--height-cm", "170", "--weight-kg", "70", "--mg-per-m2", "0.8", "--json"]


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("inoplan")
    if script.exists():
        return [str(script), *DOSE_ARGS]
    return [sys.executable, "-m", "inoplan", *DOSE_ARGS]  # pragma: no cover


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed: {done.stderr.decode(errors='replace')}")
    return elapsed


def measure(runs: int) -> dict[str, object]:
    # An installed CLI runs from compiled bytecode. PYTHONDONTWRITEBYTECODE (any non-empty
    # value) would make every run recompile changed sources, so drop it and let the warm-up
    # write the bytecode into a private cache outside the source tree.
    dropped = {"INOPLAN_SITE_POLICY", "PYTHONDONTWRITEBYTECODE"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "inoplan-bench-pycache")
    baseline = [sys.executable, "-c", "import json"]
    cli = cli_command()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    timed(baseline, env)  # warm-up, discarded
    timed(cli, env)
    base_times: list[float] = []
    cli_times: list[float] = []
    for _ in range(runs):  # interleaved, so drift in machine load hits both alike
        base_times.append(timed(baseline, env))
        cli_times.append(timed(cli, env))
    base = statistics.median(base_times)
    dose = statistics.median(cli_times)
    return {
        "runs": runs,
        "load": load,
        "baseline_ms": base * 1000,
        "cli_ms": dose * 1000,
        "ratio": dose / base,
        "baseline_all_ms": [round(t * 1000, 1) for t in base_times],
        "cli_all_ms": [round(t * 1000, 1) for t in cli_times],
    }


def section(result: dict[str, object]) -> str:
    ratio = float(result["ratio"])  # type: ignore[arg-type]
    verdict = (
        "meets the aim" if ratio <= AIM else ("within target" if ratio <= TARGET else "OVER TARGET")
    )
    base_ms = float(result["baseline_ms"])  # type: ignore[arg-type]
    cli_ms = float(result["cli_ms"])  # type: ignore[arg-type]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            BEGIN,
            "## CLI start-up",
            "",
            "Cold start of `inoplan dose --height-cm 170 --weight-kg 70 --mg-per-m2 0.8 --json`",
            "(console script, a fresh process each run, bytecode compiled as after an install)",
            "against `python -c 'import json'` on the same machine: "
            f"{result['runs']} interleaved runs",
            "each after one discarded warm-up; medians compared. "
            f"Target <= {TARGET:g}x, aim {AIM:g}x.",
            "Reproduce: `.venv/bin/python bench/bench_cli.py --write`.",
            "",
            "| measured | python -c 'import json' | inoplan dose --json | ratio | verdict |",
            "|---|---|---|---|---|",
            f"| {when} | {base_ms:.1f} ms | {cli_ms:.1f} ms | {ratio:.2f}x | {verdict} |",
            "",
            f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Linux {platform.release()}, "
            f"Python {platform.python_version()}; load average {result['load']} at the start",
            "(other work on the machine inflates both timings and, usually, the ratio).",
            "",
            f"All runs (ms): baseline {result['baseline_all_ms']}; inoplan {result['cli_all_ms']}.",
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
    print(
        f"python -c 'import json': {result['baseline_ms']:.1f} ms (median of {args.runs})\n"
        f"inoplan dose --json:     {result['cli_ms']:.1f} ms (median of {args.runs})\n"
        f"ratio: {result['ratio']:.2f}x (target <= {TARGET:g}x, aim {AIM:g}x)"
    )
    if args.write:
        write_section(section(result))
        print(f"wrote {README}")


if __name__ == "__main__":
    main()
