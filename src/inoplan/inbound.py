"""Composition of the result feeds: read (interop) -> record or park (services) -> answer.

Shared by ``inoplan hl7 import``, ``inoplan hl7 listen``, ``inoplan fhir pull`` and the web
page of parked messages (which retries a message after the site policy changed). Like
``bootstrap``, it wires adapters to services and holds no state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from inoplan.domain.results import InboundMessage, Problem, ResultsPolicy
from inoplan.services.results import Outcome

__all__ = ["FeedContext", "handle_fhir", "handle_hl7", "retry_message"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FeedContext:
    """What every message of a feed is handled with."""

    database: Any  # a UowFactory (inoplan.bootstrap.Database)
    today: Callable[[], date]  # the clinic's today (INOPLAN_CLINIC_TIMEZONE)
    results_policy: ResultsPolicy = field(default_factory=ResultsPolicy)
    site_policy: Any = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # timestamps of the records
    # the clinic's clock: results dated after it (beyond the API's tolerance) are parked
    now: Callable[[], datetime] | None = None

    def clinic_now(self) -> datetime:
        """Now on the clinic's clock (``now``; the record clock when none is given)."""
        return self.now() if self.now is not None else self.clock()


def _actor(channel: str, sender: str) -> str:
    return f"{channel}:{sender or 'unknown'}"[:64]


def handle_hl7(ctx: FeedContext, raw: bytes) -> tuple[Outcome, bytes]:
    """One HL7 v2 message: (what happened, the ACK to send). Never raises.

    When the message cannot be stored (database unreachable, an unexpected error) the answer
    is ``AR``: nothing was kept, and the sender must send it again.
    """
    from inoplan.interop.hl7v2 import build_ack, read_message
    from inoplan.services.results import ingest

    message = read_message(raw, ctx.results_policy)
    try:
        outcome = ingest(
            ctx.database,
            message,
            actor=_actor("hl7", message.sender),
            on=ctx.today(),
            now=ctx.clinic_now(),
            policy=ctx.site_policy,
            clock=ctx.clock,
        )
    except Exception as exc:  # storage failed: the sender keeps the message and resends it
        log.error(
            "result message hl7 %s from %s not stored: %s",
            message.control_id,
            message.sender,
            type(exc).__name__,
        )
        problem = Problem("internal", "the message could not be stored; send it again")
        outcome = Outcome(None, "failed", "AR", problems=(problem,))
    ack = build_ack(
        message,
        outcome.ack_code,
        text=outcome.text,
        problems=outcome.problems,
        now=ctx.clock(),
    )
    return outcome, ack


def handle_fhir(ctx: FeedContext, pulled: Any, *, sender: str) -> Outcome:
    """One Observation pulled from a FHIR server (``fhir_pull.PulledObservation``)."""
    from inoplan.interop.fhir_pull import read_observation
    from inoplan.services.results import ingest

    message = read_observation(pulled.raw(), sender=sender, policy=ctx.results_policy)
    return ingest(
        ctx.database,
        message,
        actor=_actor("fhir", urlsplit(sender).hostname or sender),
        on=ctx.today(),
        now=ctx.clinic_now(),
        policy=ctx.site_policy,
        clock=ctx.clock,
    )


def retry_message(ctx: FeedContext, message_id: int, *, actor: str) -> Outcome:
    """Read a stored parked message again with today's site policy and handle it again."""
    from inoplan.interop.hl7v2 import read_message
    from inoplan.services.results import get_message, reprocess

    record = get_message(ctx.database, message_id)
    if record.channel == "hl7":
        message: InboundMessage = read_message(record.raw.encode("utf-8"), ctx.results_policy)
    else:
        from inoplan.interop.fhir_pull import read_observation

        message = read_observation(
            record.raw,
            sender=record.sender,
            control_id=record.control_id,
            policy=ctx.results_policy,
        )
    return reprocess(
        ctx.database,
        message_id,
        message,
        actor=actor,
        on=ctx.today(),
        now=ctx.clinic_now(),
        policy=ctx.site_policy,
        clock=ctx.clock,
    )
