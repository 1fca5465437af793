"""Patients (by the clinic's identifier) and their courses."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from inoplan.api.deps import DatabaseDep, permission
from inoplan.api.openapi import errors
from inoplan.api.schemas import PatientPublic, PatientsPublic
from inoplan.services import records
from inoplan.services.auth import Principal

router = APIRouter(prefix="/patients", tags=["patients"])
Reader = Annotated[Principal, Depends(permission("course.read"))]


def _public(p: records.PatientRecord) -> PatientPublic:
    return PatientPublic(
        id=p.external_id, birth_date=p.birth_date, sex=p.sex, course_ids=list(p.course_ids)
    )


@router.get("", response_model=PatientsPublic, responses=errors(401, 403, 422))
def list_patients(
    database: DatabaseDep,
    _: Reader,
    offset: Annotated[int, Query(ge=0, le=2**53 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> PatientsPublic:
    """Patients with their course ids, paginated."""
    page = records.list_patients(database, offset=offset, limit=limit)
    return PatientsPublic(
        data=[_public(p) for p in page.data], count=page.count, offset=offset, limit=limit
    )


@router.get("/{patient_id}", response_model=PatientPublic, responses=errors(401, 403, 404, 422))
def get_patient(
    patient_id: Annotated[str, Path(min_length=1, max_length=64)],
    database: DatabaseDep,
    _: Reader,
) -> PatientPublic:
    """One patient and their course ids."""
    return _public(records.get_patient(database, patient_id))
