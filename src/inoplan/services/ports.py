"""Ports of the record use cases: the unit of work (implemented in ``inoplan.persistence``) and
the audit and user records it returns.

:mod:`inoplan.services.records`, :mod:`inoplan.services.audit` and :mod:`inoplan.services.auth`
depend on these; none depends on another for them, so they form no import circle.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

__all__ = ["AuditRecord", "UnitOfWork", "UowFactory", "UserRecord"]


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
    #: The chain the record belongs to (``course:12``, ``user:alice``, ``anchor``, ``legacy``).
    chain: str = "legacy"
    #: 1, 2, 3, ... within the chain.
    chain_seq: int = 0
    #: ``hmac-sha256`` (keyed) or ``sha256`` (the legacy records written before the key).
    scheme: str = "sha256"
    #: Identifies the key that made the HMAC (never the key itself).
    key_id: str | None = None


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    role: str
    active: bool
    password_hash: str
    created_at: datetime
    #: Carried by tokens and web sessions; raised on logout and on any account change.
    session_generation: int = 0


class UnitOfWork(Protocol):
    """One transaction. Leaving the block without ``commit()`` rolls everything back."""

    patients: Any
    courses: Any
    decisions: Any
    users: Any
    audit: Any
    inbound: Any  # result feeds (inoplan.services.results)
    acknowledgements: Any
    treatment_days: Any  # dose states (inoplan.services.workflow)
    appointments: Any  # booked times of treatment days (inoplan.services.appointments)
    current_decisions: Any  # each course's decision for a day (inoplan.services.decisions)

    def __enter__(self) -> UnitOfWork: ...
    def __exit__(self, *exc_info: object) -> None: ...
    def commit(self) -> None: ...


class UowFactory(Protocol):
    def __call__(self, *, write: bool = False) -> AbstractContextManager[UnitOfWork]: ...
