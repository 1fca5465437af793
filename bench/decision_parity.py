"""Snapshot every decision and plan the engine gives on the repository's course documents, to
prove a performance change gives byte-identical answers (issue 15 item 3).

    .venv/bin/python bench/decision_parity.py snapshot before.jsonl
    ... change the code ...
    .venv/bin/python bench/decision_parity.py snapshot after.jsonl
    .venv/bin/python bench/decision_parity.py compare before.jsonl after.jsonl

Documents: every golden case (tests/golden/cases), the worked examples (examples/), the demo
courses (src/inoplan/demo/courses) and ``--generated`` courses of bench/bench_engine.py. Each is
decided (``decide_document``) and planned (``plan_document``) on every ``--step``-th day from a
week before its start to 40 days after its last event, plus its ``expect.as_of``; a document
that is refused gives its error (field and message) instead. One JSON line per (document, day),
rendered with sorted keys, so two snapshots compare byte for byte.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]


def documents(generated: int) -> list[tuple[str, dict[str, Any]]]:
    import yaml

    out: list[tuple[str, dict[str, Any]]] = []
    folders = [
        ROOT / "tests" / "golden" / "cases",
        ROOT / "examples",
        ROOT / "src" / "inoplan" / "demo" / "courses",
    ]
    for folder in folders:
        for path in sorted(folder.glob("*.yaml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            out.append((f"{folder.name}/{path.name}", data))
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_engine import course_document

    for seed in range(generated):
        document, _ = course_document(seed)
        out.append((f"generated/{seed}", json.loads(json.dumps(document))))
    return out


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def days_of(document: dict[str, Any], step: int) -> list[date]:
    dates = [_day(document["plan"]["start_date"])]
    for event in document.get("events") or []:
        try:
            dates.append(_day(event["date"]))
        except (KeyError, ValueError, TypeError):
            continue
    first, last = min(dates) - timedelta(days=7), max(dates) + timedelta(days=40)
    out = []
    on = first
    while on <= last:
        out.append(on)
        on += timedelta(days=step)
    expect = document.get("expect") or {}
    if "as_of" in expect:
        out.append(_day(expect["as_of"]))
    return sorted(set(out))


def _default(value: Any) -> Any:
    return str(value)


def snapshot(out_path: Path, generated: int, step: int) -> None:
    from inoplan.errors import CdsError
    from inoplan.services.courses import decide_document, plan_document

    lines = 0
    with out_path.open("w", encoding="utf-8") as out:
        for name, document in documents(generated):
            for on in days_of(document, step):
                row: dict[str, Any] = {"doc": name, "on": on.isoformat()}
                try:
                    row["decision"] = decide_document(document, on)
                except CdsError as exc:
                    row["decision_error"] = [type(exc).__name__, str(exc)]
                try:
                    row["plan"] = plan_document(document, on)
                except CdsError as exc:
                    row["plan_error"] = [type(exc).__name__, str(exc)]
                out.write(json.dumps(row, sort_keys=True, default=_default) + "\n")
                lines += 1
    print(f"{lines} (document, day) rows written to {out_path}")


def compare(a: Path, b: Path) -> int:
    left = a.read_text(encoding="utf-8").splitlines()
    right = b.read_text(encoding="utf-8").splitlines()
    if len(left) != len(right):
        print(f"different row counts: {len(left)} vs {len(right)}")
    diffs = [(x, y) for x, y in zip(left, right, strict=False) if x != y]
    for x, y in diffs[:5]:
        print("-", x[:2000])
        print("+", y[:2000])
    print(f"{len(left)} rows, {len(diffs)} differ")
    return 1 if diffs or len(left) != len(right) else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    snap = sub.add_parser("snapshot")
    snap.add_argument("out", type=Path)
    snap.add_argument("--generated", type=int, default=20)
    snap.add_argument("--step", type=int, default=2)
    cmp_ = sub.add_parser("compare")
    cmp_.add_argument("a", type=Path)
    cmp_.add_argument("b", type=Path)
    args = parser.parse_args()
    if args.command == "snapshot":
        snapshot(args.out, args.generated, args.step)
    else:
        raise SystemExit(compare(args.a, args.b))


if __name__ == "__main__":
    main()
