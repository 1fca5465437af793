"""The SQL unit of work: one session, one transaction; rolls back unless committed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

from sqlalchemy.orm import Session, sessionmaker

from inoplan.persistence.repositories import (
    SqlAcknowledgements,
    SqlAppointments,
    SqlAudit,
    SqlCourses,
    SqlCurrentDecisions,
    SqlDecisions,
    SqlInbound,
    SqlPatients,
    SqlTreatmentDays,
    SqlUsers,
)

__all__ = ["SqlUnitOfWork"]


class SqlUnitOfWork:
    """``with SqlUnitOfWork(factory) as uow: ...; uow.commit()``."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        audit_key: Callable[[], bytes] | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._audit_key = audit_key

    def __enter__(self) -> Self:
        self.session = self._session_factory()
        self.patients = SqlPatients(self.session)
        self.courses = SqlCourses(self.session)
        self.decisions = SqlDecisions(self.session)
        self.users = SqlUsers(self.session)
        self.audit = (
            SqlAudit(self.session, self._audit_key)
            if self._audit_key is not None
            else SqlAudit(self.session)
        )
        self.inbound = SqlInbound(self.session)
        self.acknowledgements = SqlAcknowledgements(self.session)
        self.treatment_days = SqlTreatmentDays(self.session)
        self.appointments = SqlAppointments(self.session)
        self.current_decisions = SqlCurrentDecisions(self.session)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        try:
            self.session.rollback()
        finally:
            self.session.close()

    def commit(self) -> None:
        self.session.commit()
