"""Patients and their courses. URLs carry the opaque patient key, never the clinic's identifier
(an MRN in a URL ends up in access logs, proxies and browser history): look a patient up by the
clinic's identifier with ``POST /patients/search``, the identifier in the body."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from inoplan.api.deps import DatabaseDep, permission
from inoplan.api.openapi import errors
from inoplan.api.schemas import PatientPublic, PatientSearch, PatientsPublic
from inoplan.services import records
from inoplan.services.auth import Principal

router = APIRouter(prefix="/patients", tags=["patients"])
Reader = Annotated[Principal, Depends(permission("course.read"))]
MAX_ID = 2**63 - 1


def _public(p: records.PatientRecord) -> PatientPublic:
    return PatientPublic.model_validate(p, from_attributes=True)


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


@router.post("/search", response_model=PatientPublic, responses=errors(401, 403, 404, 422))
def find_patient(body: PatientSearch, database: DatabaseDep, _: Reader) -> PatientPublic:
    """The patient with this clinic identifier (sent in the body, never in the URL)."""
    return _public(records.get_patient(database, body.id))


@router.get("/{patient_key}", response_model=PatientPublic, responses=errors(401, 403, 404, 422))
def get_patient(
    patient_key: Annotated[int, Path(ge=1, le=MAX_ID, description="Opaque patient key")],
    database: DatabaseDep,
    _: Reader,
) -> PatientPublic:
    """One patient and their course ids, by the opaque key."""
    return _public(records.get_patient_by_key(database, patient_key))
