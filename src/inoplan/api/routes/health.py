"""Liveness (no authentication)."""

from __future__ import annotations

from fastapi import APIRouter

from inoplan.api.schemas import HealthPublic

router = APIRouter(tags=["service"])


@router.get("/healthz", response_model=HealthPublic)
def healthz() -> HealthPublic:
    """Liveness: the process answers (no database access, no authentication)."""
    return HealthPublic()
