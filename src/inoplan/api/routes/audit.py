"""The whole audit trail and its verification (administrators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from inoplan.api.deps import DatabaseDep, permission
from inoplan.api.openapi import errors
from inoplan.api.schemas import AuditPublic, AuditRecordPublic, ChainReportPublic
from inoplan.services.audit import verify_chain
from inoplan.services.auth import Principal

router = APIRouter(prefix="/audit", tags=["audit"])
Admin = Annotated[Principal, Depends(permission("audit.verify"))]


@router.get("", response_model=AuditPublic, responses=errors(401, 403, 422))
def list_audit(
    database: DatabaseDep,
    _: Admin,
    offset: Annotated[int, Query(ge=0, le=2**53 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPublic:
    """Every audit record in order (paginated)."""
    with database.uow() as uow:
        page, count = uow.audit.page(offset=offset, limit=limit)
    return AuditPublic(
        data=[AuditRecordPublic.model_validate(r, from_attributes=True) for r in page],
        count=count,
    )


@router.get("/verify", response_model=ChainReportPublic, responses=errors(401, 403))
def verify_audit(database: DatabaseDep, _: Admin) -> ChainReportPublic:
    """Walk every keyed hash chain, check every course and stored event against its audit
    records and every stored decision against its MAC; ``ok`` is false and ``problem`` names
    the first problem."""
    report = verify_chain(database)
    return ChainReportPublic(
        ok=report.ok,
        checked=report.checked,
        first_broken_seq=report.first_broken_seq,
        problem=report.problem,
        message=report.message(),
        problems=list(report.problems),
        keyed=report.keyed,
        legacy=report.legacy,
        legacy_anchored=report.legacy_anchored,
        chains=report.chains,
        courses=report.courses,
        events=report.events,
        unanchored_chains=report.unanchored,
        decision_rows=report.decision_rows,
    )
