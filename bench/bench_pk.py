"""Benchmark: population PK for 10,000 virtual subjects x 6 cycles (issue 7).

Scenario A of docs/pk-model.md 5.1 (0.8/0.5/0.5 mg/m2 on days 1/8/15, 1-h infusions, cycle 1 of 21
days then 28-day cycles, BSA 1.84 m2, typical adult ALL, blasts 5.25 %) with the Garrett 2019
IIV (seeded). Measures

1. inoplan's vectorised DOP853 over all subjects (in chunks, as ``inoplan pk --population`` runs
   them): wall time and peak memory (tracemalloc peak of Python + NumPy allocations, and the
   process's maximum resident set size);
2. the whole ``exposure_json`` call for a course document with the same doses;
3. a per-subject ``scipy.integrate.solve_ivp`` loop (DOP853, rtol 1e-6, breakpoints at every
   infusion start/stop and cycle boundary) on a sample of subjects, extrapolated to 10,000,
   after checking that both agree within 0.1 % on every per-cycle Cmax, trough and AUC.

Run: ``.venv/bin/python bench/bench_pk.py [--subjects 10000] [--sample 50] [--vectorised-scipy]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
from scipy.integrate import solve_ivp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "pk"))

import itertools

from courses import adult_course
from helpers import garrett_typical, regimen

from inoplan.domain.pk.population import (
    draw_random_effects,
    individual_parameters,
    simulate_chunk,
    split,
    summarise,
)
from inoplan.knowledge.pk import load_pk_model
from inoplan.services.exposure import DEFAULT_CHUNK_SIZE, POPULATION_RTOL, exposure_json

PARAMS = ("cl1_l_per_h", "cl2_l_per_h", "kdes_per_h", "v1_l", "q_l_per_h", "v2_l")


def run_inoplan(n: int, seed: int, rtol: float, chunk_size: int):  # type: ignore[no-untyped-def]
    model = load_pk_model("garrett-2019")
    infusions, windows = regimen(cycles=6)
    etas = draw_random_effects(model.omega, n, rng=np.random.default_rng(seed))
    runs = [
        simulate_chunk(
            garrett_typical(), model.iiv_parameters, etas[lo:hi], infusions, windows, rtol=rtol
        )
        for lo, hi in split(n, chunk_size)
    ]
    cmax = np.concatenate([r.cmax_ng_per_ml for r in runs])
    trough = np.concatenate([r.ctrough_ng_per_ml for r in runs])
    auc = np.concatenate([r.auc_ng_h_per_ml for r in runs])
    summary = summarise(auc), summarise(cmax)
    return etas, cmax, trough, auc, summary, sum(r.steps for r in runs)


def scipy_subject(p: dict[str, float], infusions, windows, rtol: float):  # type: ignore[no-untyped-def]
    """One subject with solve_ivp, segment by segment: per-cycle Cmax, trough and AUC."""
    end = windows[-1].end_h
    points = sorted(
        {
            0.0,
            end,
            *(i.start_h for i in infusions),
            *(i.end_h for i in infusions),
            *(w.start_h for w in windows),
            *(w.end_h for w in windows),
        }
    )
    v1, v2, q = p["v1_l"], p["v2_l"], p["q_l_per_h"]
    cl1, cl2, kdes = p["cl1_l_per_h"], p["cl2_l_per_h"], p["kdes_per_h"]

    def rhs(t, y, rate):  # type: ignore[no-untyped-def]
        c1 = y[0] / v1
        flow = q * (c1 - y[1] / v2)
        return [rate - (cl1 + cl2 * np.exp(-kdes * t)) * c1 - flow, flow, c1]

    y = np.zeros(3)
    at = {0.0: y}
    for a, b in itertools.pairwise(points):
        rate = sum(i.rate_mg_per_h for i in infusions if i.start_h <= a and i.end_h >= b)
        sol = solve_ivp(rhs, (a, b), y, method="DOP853", rtol=rtol, atol=1e-12, args=(rate,))
        y = sol.y[:, -1]
        at[b] = y
    cmax, trough, auc = [], [], []
    for w in windows:
        inside = [t for t in at if w.start_h <= t <= w.end_h]
        cmax.append(max(at[t][0] for t in inside) / v1 * 1000)
        trough.append(at[w.end_h][0] / v1 * 1000)
        auc.append((at[w.end_h][2] - at[w.start_h][2]) * 1000)
    return np.array(cmax), np.array(trough), np.array(auc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=50)
    parser.add_argument("--seed", type=int, default=2019)
    parser.add_argument("--rtol", type=float, default=POPULATION_RTOL)
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--vectorised-scipy",
        action="store_true",
        help="also time one solve_ivp call over all subjects at once (slow)",
    )
    args = parser.parse_args()
    n = args.subjects
    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, NumPy {np.__version__}"
    )
    print(f"cores {os.cpu_count()}, load average before the run {os.getloadavg()[0]:.2f}")
    print(
        f"scenario A, {n} subjects x 6 cycles, seed {args.seed}, rtol {args.rtol}, "
        f"chunks of {args.chunk_size}"
    )

    run_inoplan(200, 1, args.rtol, args.chunk_size)  # warm-up (imports, caches)
    times, cpu = [], []
    for _ in range(args.repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        etas, cmax, trough, auc, (auc_s, cmax_s), steps = run_inoplan(
            n, args.seed, args.rtol, args.chunk_size
        )
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    best = min(times)
    print(
        f"inoplan vectorised DOP853: wall best {best:.3f} s, "
        f"median {sorted(times)[len(times) // 2]:.3f} s "
        f"(runs {', '.join(f'{t:.3f}' for t in times)} s); CPU best {min(cpu):.3f} s; "
        f"{steps} accepted steps over {-(-n // args.chunk_size)} chunk(s)"
    )
    print(
        f"  cycle-4 mean Cmax {cmax_s.mean[3]:.1f} ng/mL (label 308), "
        f"mean AUC {auc_s.mean[3]:,.0f} ng*h/mL (label 100,000)"
    )

    tracemalloc.start()
    run_inoplan(n, args.seed, args.rtol, args.chunk_size)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak traced memory {peak / 2**20:.1f} MiB; process max RSS {rss_mb:.0f} MiB")

    course = adult_course()
    start, start_cpu = time.perf_counter(), time.process_time()
    result = exposure_json(course, population=n, seed=args.seed)
    end_to_end = time.perf_counter() - start
    print(
        f"exposure_json(course, population={n}): {end_to_end:.3f} s end to end "
        f"({time.process_time() - start_cpu:.3f} s CPU) "
        f"(cycle-4 mean Cmax {result['cycles'][3]['cmax_ng_per_ml']['mean']})"
    )

    model = load_pk_model("garrett-2019")
    infusions, windows = regimen(cycles=6)
    sample = min(args.sample, n)
    params = individual_parameters(garrett_typical(), model.iiv_parameters, etas[:sample])
    start = time.process_time()
    worst = 0.0
    for i in range(sample):
        p = {k: float(getattr(params, k)[i]) for k in PARAMS}
        ref_cmax, ref_trough, ref_auc = scipy_subject(p, infusions, windows, rtol=1e-6)
        for ours, ref in ((cmax[i], ref_cmax), (trough[i], ref_trough), (auc[i], ref_auc)):
            worst = max(worst, float(np.max(np.abs(ours / ref - 1))))
    per_subject = (time.process_time() - start) / sample
    loop_total = per_subject * n
    ours_cpu = min(cpu)
    print(
        f"solve_ivp loop (DOP853, rtol 1e-6): {per_subject * 1000:.1f} ms CPU per subject, "
        f"measured on {sample} "
        f"subjects and extrapolated to {n}: {loop_total:.0f} s; "
        f"ratio {loop_total / ours_cpu:.0f}x (CPU time to CPU time)"
    )
    print(
        f"  largest relative difference on per-cycle Cmax/trough/AUC: {worst:.2e} (must be <= 1e-3)"
    )
    if worst > 1e-3:
        raise SystemExit("accuracy mismatch")

    if args.vectorised_scipy:
        all_params = individual_parameters(garrett_typical(), model.iiv_parameters, etas)
        arrays = {k: getattr(all_params, k) for k in PARAMS}

        def rhs(t, y, rate):  # type: ignore[no-untyped-def]
            a1, a2 = y[:n], y[n : 2 * n]
            c1 = a1 / arrays["v1_l"]
            flow = arrays["q_l_per_h"] * (c1 - a2 / arrays["v2_l"])
            cl = arrays["cl1_l_per_h"] + arrays["cl2_l_per_h"] * np.exp(-arrays["kdes_per_h"] * t)
            return np.concatenate([rate - cl * c1 - flow, flow, c1])

        end = windows[-1].end_h
        points = sorted({0.0, end, *(i.start_h for i in infusions), *(i.end_h for i in infusions)})
        y = np.zeros(3 * n)
        start = time.process_time()
        for a, b in itertools.pairwise(points):
            rate = sum(i.rate_mg_per_h for i in infusions if i.start_h <= a and i.end_h >= b)
            y = solve_ivp(rhs, (a, b), y, method="DOP853", rtol=1e-6, atol=1e-12, args=(rate,)).y[
                :, -1
            ]
        print(
            f"one solve_ivp over all {n} subjects at once (DOP853, rtol 1e-6): "
            f"{time.process_time() - start:.2f} s CPU"
        )


if __name__ == "__main__":
    main()
