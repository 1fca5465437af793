"""Decision cost against an anchor measured in the same run: ``decide_document`` per decision
beside ``orjson.loads`` of the same course file (issue 15 item 3: at most 10x).

    .venv/bin/python bench/bench_engine.py            # print the table
    .venv/bin/python bench/bench_engine.py --write    # also update the "Decision engine" section

Courses: ``--courses`` (default 40) generated 6-cycle course documents (about 60 events each:
vitals, ECG, labs before every dose, 18 administrations with a few late doses, responses,
toxicities, medications), written as JSON files to a temporary folder and read back as bytes.
Every course is decided on ``--dates`` dates spread over its calendar (wait, give, hold,
complete...). Timings are CPU and wall time per decision, the median of ``--repeats``
interleaved passes over all files (one process, after one warm-up pass); the ratios are of CPU.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

README = Path(__file__).with_name("README.md")
BEGIN, END = "<!-- bench_engine:begin -->", "<!-- bench_engine:end -->"


def lab(on: date, rng: random.Random) -> dict[str, Any]:
    return {
        "date": on.isoformat(),
        "type": "labs",
        "anc": {"value": round(rng.uniform(0.8, 3.0), 2), "unit": "10*9/L"},
        "platelets": {"value": rng.randint(40, 250), "unit": "10*9/L"},
        "bilirubin": {"value": round(rng.uniform(0.3, 1.4), 2), "unit": "mg/dL", "uln": 1.2},
        "ast": {"value": rng.randint(15, 90), "unit": "U/L", "uln": 40},
        "alt": {"value": rng.randint(15, 90), "unit": "U/L", "uln": 40},
        "peripheral_blasts": {"value": round(rng.uniform(0, 5), 1), "unit": "10*9/L"},
        "potassium": {"value": round(rng.uniform(3.3, 4.8), 1), "unit": "mmol/L"},
    }


def course_document(seed: int) -> tuple[dict[str, Any], list[date]]:
    rng = random.Random(seed)
    start = date(2027, 3, 1) + timedelta(days=rng.randint(0, 60))
    height = rng.randint(150, 195)
    weight = rng.randint(50, 110)
    bsa = round((height * weight / 3600) ** 0.5, 2)
    events: list[dict[str, Any]] = [
        {
            "date": (start - timedelta(days=3)).isoformat(),
            "type": "vitals",
            "height_cm": height,
            "weight_kg": weight,
        },
        {
            "date": (start - timedelta(days=3)).isoformat(),
            "type": "ecg",
            "qtcf_ms": rng.randint(400, 450),
        },
        {
            "date": (start - timedelta(days=2)).isoformat(),
            "type": "medication",
            "name": "ondansetron",
            "action": "start",
        },
        lab(start - timedelta(days=1), rng),
    ]
    remission_from = rng.choice([2, 3, 4])
    cycle_start = start
    dates = [start - timedelta(days=1)]
    last = start
    for cycle in range(1, 7):
        for day in (1, 8, 15):
            on = cycle_start + timedelta(days=day - 1)
            if day != 1 and rng.random() < 0.1:
                on += timedelta(days=rng.choice([1, 2]))
            on = max(on, last + timedelta(days=6)) if (cycle, day) != (1, 1) else on
            if (cycle, day) != (1, 1):
                events.append(lab(on - timedelta(days=1), rng))
            if day == 1 and cycle > 1:
                events.append(
                    {
                        "date": (on - timedelta(days=1)).isoformat(),
                        "type": "vitals",
                        "weight_kg": weight,
                    }
                )
            dates.append(on - timedelta(days=1))  # the day before a dose: wait, or give (days 8/15)
            per_m2 = 0.8 if day == 1 and cycle < remission_from else 0.5
            events.append(
                {
                    "date": on.isoformat(),
                    "type": "administration",
                    "cycle": cycle,
                    "day": day,
                    "dose_mg": round(per_m2 * bsa, 2),
                }
            )
            last = on
            if cycle == 1 and day == 15 and rng.random() < 0.3:
                events.append(
                    {
                        "date": (on + timedelta(days=3)).isoformat(),
                        "type": "toxicity",
                        "term": "nausea",
                        "grade": 2,
                    }
                )
                events.append(
                    {
                        "date": (on + timedelta(days=5)).isoformat(),
                        "type": "toxicity",
                        "term": "nausea",
                        "grade": 1,
                    }
                )
        status = "CR" if cycle + 1 >= remission_from else "PR"
        events.append(
            {
                "date": (cycle_start + timedelta(days=18)).isoformat(),
                "type": "response",
                "status": status,
                "mrd_negative": status == "CR",
            }
        )
        cycle_start = max(
            cycle_start + timedelta(days=21 if cycle == 1 else 28), last + timedelta(days=6)
        )
    dates.append(last + timedelta(days=10))
    rng.shuffle(events)  # the engine sorts by date
    document = {
        "label": "us",
        "patient": {
            "id": f"B-{seed:03d}",
            "birth_date": "1970-05-05",
            "sex": "male",
            "reproductive_potential": True,
            "allergies": [],
            "history": {"liver_disease": "none", "salvage_line": 1},
        },
        "plan": {
            "start_date": start.isoformat(),
            "hsct_intended": False,
            "bsa_formula": "mosteller",
        },
        "events": events,
    }
    return document, dates


def _cpu_and_wall(fn: Any) -> tuple[float, float]:
    c, w = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c, time.perf_counter() - w


def measure(courses: int, repeats: int, dates_per_course: int) -> dict[str, Any]:
    import orjson

    from inoplan.document import parse_course
    from inoplan.domain.engine import evaluate
    from inoplan.knowledge import load_label
    from inoplan.knowledge.qt import load_qt_drugs
    from inoplan.services.courses import decide_course, decide_document

    load_start = _load()
    label, qt = load_label("us"), load_qt_drugs()
    with tempfile.TemporaryDirectory() as tmp:
        files: list[tuple[bytes, list[date]]] = []
        events = 0
        for seed in range(courses):
            document, dates = course_document(seed)
            events += len(document["events"])
            path = Path(tmp) / f"course-{seed:03d}.json"
            path.write_text(json.dumps(document), encoding="utf-8")
            picked = sorted(random.Random(seed).sample(dates, min(dates_per_course, len(dates))))
            files.append((path.read_bytes(), picked))
    decisions = sum(len(d) for _, d in files)
    size = statistics.mean(len(b) for b, _ in files)

    # Each pass goes over every distinct file (and every date of it): the anchor parses the same
    # bytes with orjson, once per decision, so every row is "per decision" against the anchor.
    def anchor() -> None:
        for raw, dates in files:
            for _ in dates:
                orjson.loads(raw)

    def parse() -> None:
        for raw, dates in files:
            for _ in dates:
                parse_course(orjson.loads(raw))

    def parse_reference() -> None:
        for raw, dates in files:
            for _ in dates:
                parse_course(orjson.loads(raw), reference=True)

    parsed = [(parse_course(orjson.loads(raw)), dates) for raw, dates in files]

    def decide_parsed() -> None:  # evaluate + render on an already parsed course
        for course, dates in parsed:
            for on in dates:
                decide_course(course, on)

    def end_to_end() -> None:  # decide_document: parse + evaluate + render
        for raw, dates in files:
            for on in dates:
                decide_document(orjson.loads(raw), on)

    rows = {
        "anchor": anchor,
        "parse": parse,
        "parse_reference": parse_reference,
        "decide_parsed": decide_parsed,
        "end_to_end": end_to_end,
    }
    statuses = Counter(evaluate(c, label, on, qt_drugs=qt).status for c, ds in parsed for on in ds)
    for fn in rows.values():
        fn()  # warm-up
    cpu: dict[str, list[float]] = {name: [] for name in rows}
    wall: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(repeats):  # interleaved, so a burst of load hits every row alike
        for name, fn in rows.items():
            c, w = _cpu_and_wall(fn)
            cpu[name].append(c / decisions * 1000)
            wall[name].append(w / decisions * 1000)
    med_cpu = {name: statistics.median(v) for name, v in cpu.items()}
    med_wall = {name: statistics.median(v) for name, v in wall.items()}
    ratios = {name: med_cpu[name] / med_cpu["anchor"] for name in rows}
    return {
        "courses": courses,
        "events_per_course": round(events / courses, 1),
        "bytes_per_file": round(size),
        "decisions": decisions,
        "statuses": dict(sorted(statuses.items())),
        "cpu_ms": med_cpu,
        "wall_ms": med_wall,
        "ratio": ratios,
        "repeats": repeats,
        "load_start": load_start,
    }


def _load() -> str:
    try:
        import os

        return ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


_LABELS = {
    "anchor": "anchor: `orjson.loads` of the file",
    "parse": "`parse_course` (orjson + validate + convert)",
    "parse_reference": "`parse_course(reference=True)` (step-by-step conversion)",
    "decide_parsed": "evaluate + render (`decide_course` on a parsed course)",
    "end_to_end": "**`decide_document`** (parse + evaluate + render)",
}


def section(r: dict[str, Any]) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    table = [
        "| per decision | CPU ms (median) | wall ms (median) | ratio to anchor (CPU) |",
        "|---|---:|---:|---:|",
    ]
    for name, label in _LABELS.items():
        table.append(
            f"| {label} | {r['cpu_ms'][name]:.4f} | {r['wall_ms'][name]:.4f} | "
            f"{r['ratio'][name]:.1f}x |"
        )
    verdict = "met" if r["ratio"]["end_to_end"] <= 10 else "not met"
    return "\n".join(
        [
            BEGIN,
            "## Decision engine",
            "",
            f"`bench/bench_engine.py` (issues 3 and 15): {r['courses']} distinct generated 6-cycle "
            f"courses ({r['events_per_course']} events, {r['bytes_per_file']} bytes of JSON each), "
            f"each decided on several dates across its calendar ({r['decisions']} decisions: "
            f"{', '.join(f'{k} {v}' for k, v in r['statuses'].items())}). Every row runs over "
            "all files in one pass; the rows are interleaved pass by pass and the median of "
            f"{r['repeats']} passes is kept (after a warm-up), one process. The anchor parses the "
            "same bytes with orjson in the same run; ratios are of CPU time (steadier than wall "
            "time on the shared machine). Target (issue 15 item 3): `decide_document` <= 10x "
            "the anchor.",
            "Reproduce: `.venv/bin/python bench/bench_engine.py --write`.",
            "",
            f"Measured {stamp}; load average {r['load_start']} at the start, "
            f"{_load()} at the end (1, 5, 15 min).",
            "",
            *table,
            "",
            f"Target `decide_document` <= 10x the anchor: **{verdict}** "
            f"({r['ratio']['end_to_end']:.1f}x).",
            "",
            f"Machine: {platform.machine()}, {__import__('os').cpu_count()} CPUs, Python "
            f"{platform.python_version()}.",
            END,
        ]
    )


def write_section(text: str) -> None:
    current = README.read_text(encoding="utf-8") if README.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    placeholder = re.compile(
        r"^## Decision engine\n.*?(?=^## |^<!-- |\Z)", re.DOTALL | re.MULTILINE
    )
    if pattern.search(current):
        updated = pattern.sub(lambda _: text, current)
    elif placeholder.search(current):
        updated = placeholder.sub(lambda _: text + "\n\n", current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + text + "\n"
    README.write_text(updated, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--courses", type=int, default=40, help="distinct course files")
    parser.add_argument("--dates", type=int, default=6, help="decision dates per course")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--write", action="store_true", help="update bench/README.md")
    args = parser.parse_args()
    result = measure(args.courses, args.repeats, args.dates)
    text = section(result)
    print(text)
    print("ratios to the anchor (CPU):", {k: round(v, 1) for k, v in result["ratio"].items()})
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()
