"""One schedule, at scale: the plan/decision property of tests/engine/test_plan_properties.py
over many random courses (default 100,000), outside pytest, with the rate it ran at.

    .venv/bin/python bench/bench_plan_property.py                 # 100,000 courses
    .venv/bin/python bench/bench_plan_property.py --courses 5000  # a quicker run

Each random course (the engine property tests' generator: random delays, skipped doses, labs,
toxicities, responses and recorded doses of 0.5 / 0.9 / 1.46 mg over BSAs from about 0.6 to
2.5 m2, so overdoses and capped cycles are common) is planned and decided on four dates; every
check of ``check_plan`` must hold (the plan's next dose is the decision's; nothing proposed breaks
a hard limit counting what was recorded; give keeps 6 days; no re-escalation). A failure stops
the run with the failing course (Hypothesis prints it). Prints the count, the time and the rate.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "engine"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--courses", type=int, default=100_000)
    args = parser.parse_args()

    from hypothesis import HealthCheck, Phase, given, settings
    from test_engine_properties import random_courses  # the generator of the property tests
    from test_plan_properties import check_plan

    from inoplan.domain.course import Course

    statuses: Counter[str] = Counter()
    courses = 0

    @settings(
        max_examples=args.courses,
        deadline=None,
        database=None,
        phases=(Phase.generate,),
        suppress_health_check=list(HealthCheck),
    )
    @given(random_courses())
    def run(case: tuple[Course, list[date]]) -> None:
        nonlocal courses
        course, dates = case
        for on in [dates[0] - timedelta(days=1), *dates]:
            statuses[check_plan(course, on)] += 1
        courses += 1

    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    checks = sum(statuses.values())
    print(
        f"{courses} random courses, {checks} plans and decisions checked in {seconds:.0f} s "
        f"({checks / seconds:.0f}/s): every check held. Statuses: {dict(statuses.most_common())}"
    )


if __name__ == "__main__":
    main()
