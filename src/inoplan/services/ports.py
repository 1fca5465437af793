"""Ports of the record use cases: the unit of work (implemented in ``inoplan.persistence``) and
the audit record it stores.

Both :mod:`inoplan.services.records` and :mod:`inoplan.services.audit` depend on these; neither
depends on the other for them, so the two modules form no import circle.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["AuditRecord", "UnitOfWork", "UowFactory"]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    at: str
    actor: str
    action: str
    entity: str
    entity_id: str | None
    course_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    prev_hash: str
    hash: str


class UnitOfWork(Protocol):
    """One transaction. Leaving the block without ``commit()`` rolls everything back."""

    patients: Any
    courses: Any
    decisions: Any
    users: Any
    audit: Any
    inbound: Any  # result feeds (inoplan.services.results)
    acknowledgements: Any

    def __enter__(self) -> UnitOfWork: ...
    def __exit__(self, *exc_info: object) -> None: ...
    def commit(self) -> None: ...


class UowFactory(Protocol):
    def __call__(self, *, write: bool = False) -> AbstractContextManager[UnitOfWork]: ...
