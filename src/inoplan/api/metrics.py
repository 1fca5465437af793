"""Prometheus metrics (``prometheus-client``), served at ``GET /metrics``.

* ``inoplan_http_request_duration_seconds{method, route, status}``: latency by route
  *template* (``/api/v1/courses/{course_id}``), so no identifier reaches a label;
* ``inoplan_decisions_total{status, via}``: decisions shown (``via`` = ``records`` for the API
  and the web UI, ``cds`` for CDS Hooks cards), by decision status;
* ``inoplan_cds_calls_total{hook, outcome}``: CDS Hooks calls by hook and outcome (``cards``,
  ``no_cards``, ``refused``, ``invalid``, ``incomplete``);
* ``inoplan_logins_total{outcome}``: ``ok``, ``failed``, ``throttled``.

With several workers ``inoplan serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` (a fresh folder per
start), every worker writes its numbers there and any worker answers ``/metrics`` with the sum,
so the answer does not depend on which worker is asked. The endpoint needs
``Authorization: Bearer <INOPLAN_METRICS_TOKEN>``; without a configured token it does not exist
(404). Labels carry no patient data.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as _generate_latest

from inoplan.services import telemetry

__all__ = [
    "CDS_CALLS",
    "CONTENT_TYPE_LATEST",
    "DECISIONS",
    "LOGINS",
    "REQUESTS",
    "listen",
    "observe_request",
    "render",
]

REQUESTS = Histogram(
    "inoplan_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and status.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DECISIONS = Counter(
    "inoplan_decisions_total", "Decisions shown, by decision status.", ["status", "via"]
)
CDS_CALLS = Counter(
    "inoplan_cds_calls_total", "CDS Hooks service calls, by hook and outcome.", ["hook", "outcome"]
)
LOGINS = Counter("inoplan_logins_total", "Login attempts, by outcome.", ["outcome"])


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).observe(seconds)


def _decision(status: str, via: str) -> None:
    DECISIONS.labels(status, via).inc()


def _login(outcome: str) -> None:
    LOGINS.labels(outcome).inc()


def listen() -> None:
    """Count what the services report (decisions shown, logins); idempotent."""
    telemetry.on_decision(_decision)
    telemetry.on_login(_login)


listen()


def render() -> bytes:
    """The exposition text: this process's numbers, or every worker's summed."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return _generate_latest(registry)
    return _generate_latest(REGISTRY)
