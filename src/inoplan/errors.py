"""Errors that inoplan raises on purpose.

A clinical outcome (give, hold, discontinue, cannot decide) is never an exception; it is
a decision. An exception means a caller, a data file or the environment is wrong.

    CdsError
    ├── InvalidInput              caller's fault (bad value, unknown unit); also a ValueError
    │   ├── ImplausibleMeasurement  a measurement outside physical plausibility (unit slip?)
    │   ├── UnknownUnit             a unit the field does not accept
    │   ├── DoseLimitExceeded       a prescribed mg/m2 above a hard limit of the label
    │   └── OverrideRequired        a dose recorded against the decision without an override
    │       └── OutsideWorkflow     a dose recorded directly, not through the treatment-day
    │                               workflow, without a prescriber's override (HTTP 409)
    ├── KnowledgeBaseError        shipped label data is missing or malformed (a release bug)
    │   ├── UnknownLabelVersion
    │   └── MalformedLabelData
    ├── NotFound                  a requested record does not exist
    ├── Conflict                  a stale version or a duplicate write
    ├── PreconditionRequired      a write without the version it is based on (If-Match)
    ├── NoDoseToPrepare           a worksheet asked for a course with no next dose
    ├── Unauthenticated           no, wrong or expired credentials
    ├── Forbidden                 the caller's role may not do this
    ├── TooManyAttempts           too many failed logins: wait (Retry-After)
    └── OptionalDependencyMissing an optional part used without its extra installed

Every ``InvalidInput`` names the ``field`` at fault, so adapters can say which input to fix
(exit code 2 on the command line, HTTP 422 in the API). Every class here has its HTTP status in
``inoplan.api.problems.STATUS_FOR_ERROR`` (``tests/api/test_problems.py`` walks the class tree:
an error added here without a status fails the tests), and an error raised on purpose is defined
here, nowhere else: one error tree.
"""

from __future__ import annotations

__all__ = [
    "CdsError",
    "Conflict",
    "DoseLimitExceeded",
    "Forbidden",
    "ImplausibleMeasurement",
    "InvalidInput",
    "KnowledgeBaseError",
    "MalformedLabelData",
    "NoDoseToPrepare",
    "NotFound",
    "OptionalDependencyMissing",
    "OutsideWorkflow",
    "OverrideRequired",
    "PreconditionRequired",
    "TooManyAttempts",
    "Unauthenticated",
    "UnknownLabelVersion",
    "UnknownUnit",
]


class CdsError(Exception):
    """Root of every error raised deliberately by this package."""


class InvalidInput(CdsError, ValueError):
    """The caller passed a value the domain will not compute with; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    @classmethod
    def not_utf8(cls, field: str, source: object, exc: UnicodeDecodeError) -> InvalidInput:
        """A file that is not UTF-8 text; every reader of a file says the same.

        >>> slip = UnicodeDecodeError("utf-8", b"a\\xff", 1, 2, "invalid start byte")
        >>> InvalidInput.not_utf8("COURSE", "c.yaml", slip).message
        "cannot read 'c.yaml': not UTF-8 text (byte 0xff at offset 1); save it as UTF-8"
        """
        byte = exc.object[exc.start : exc.start + 1]
        return cls(
            field,
            f"cannot read {str(source)!r}: not UTF-8 text (byte 0x{byte.hex()} at offset "
            f"{exc.start}); save it as UTF-8",
        )


class ImplausibleMeasurement(InvalidInput):
    """A measurement outside physical plausibility, usually a unit slip.

    ``suggestion`` is the likely intended reading (``"900 /µL (0.9 × 10⁹/L)"``) when one
    unit slip explains the value; the message then asks "did you mean ...?".
    """

    def __init__(
        self,
        field: str,
        value: object,
        low: object,
        high: object,
        unit: str,
        *,
        what: str = "",
        suggestion: str | None = None,
    ) -> None:
        subject = f"{what} {value} {unit}" if what else f"{value} {unit}"
        advice = f"did you mean {suggestion}?" if suggestion else "check the value and its unit"
        super().__init__(
            field,
            f"{subject.strip()} is not plausible (outside the plausible range {low}-{high} "
            f"{unit}); {advice}",
        )
        self.value = value
        self.low = low
        self.high = high
        self.unit = unit
        self.suggestion = suggestion


class UnknownUnit(InvalidInput):
    """A unit that this field does not accept (units are never guessed)."""

    def __init__(self, field: str, unit: object, accepted: tuple[str, ...]) -> None:
        super().__init__(field, f"unknown unit {unit!r}; accepted: {', '.join(accepted)}")
        self.unit = unit
        self.accepted = accepted


class DoseLimitExceeded(InvalidInput):
    """A prescribed dose above a hard limit of the label (per dose or per cycle)."""

    def __init__(self, field: str, value: object, limit: object, what: str, citation: str) -> None:
        super().__init__(
            field, f"{value} mg/m2 exceeds the maximum of {limit} mg/m2 {what} ({citation})"
        )
        self.value = value
        self.limit = limit
        self.citation = citation


class OverrideRequired(InvalidInput):
    """A dose recorded against the decision (a held day, a stopped course, above a hard limit)
    without an explicit ``override_reason``; ``because`` lists each reason."""

    def __init__(self, field: str, because: tuple[str, ...]) -> None:
        super().__init__(
            field,
            "this dose goes against the decision: "
            + "; ".join(because)
            + ". Nothing was saved. If it was given deliberately, a prescriber records it with "
            "an override reason (override_reason); otherwise check the date, cycle, day and dose.",
        )
        self.because = because


class OutsideWorkflow(OverrideRequired):
    """An administration recorded directly (REST event, web form, any writer of the live course)
    for a day that was not given through the treatment-day workflow (ordered -> released ->
    verified -> prepared -> given, with independent second signers), without a prescriber's
    ``override_reason``. ``because`` lists every reason (the bypass first, then any other
    reason the dose goes against the decision); ``cycle``, ``day`` and ``state`` (the day's
    treatment-day state) name the dose. HTTP 409: the day's state does not allow it."""

    def __init__(
        self, field: str, because: tuple[str, ...], cycle: int, day: int, state: str
    ) -> None:
        InvalidInput.__init__(
            self,
            field,
            f"cycle {cycle} day {day} has not been given through the treatment-day workflow "
            f"(its state is {state!r}): "
            + "; ".join(because)
            + ". Nothing was saved. A dose is recorded by the give step (release by a "
            "prescriber, pharmacist verification, preparation and administration, each with "
            "its second signer). A dose given outside it (elsewhere, or documented late) is a "
            "prescriber's override: a prescriber records it with an override reason "
            "(override_reason, permission dose.override); it stays on the record as a critical "
            "DOSE_OVERRIDE alert.",
        )
        self.because = because
        self.cycle = cycle
        self.day = day
        self.state = state


class KnowledgeBaseError(CdsError):
    """Label data shipped with the package cannot be used; this is a release bug."""


class UnknownLabelVersion(KnowledgeBaseError, InvalidInput):
    """No label revision with this name is shipped."""

    def __init__(self, version: str, available: tuple[str, ...]) -> None:
        InvalidInput.__init__(
            self, "label", f"no label revision {version!r}; available: {', '.join(available)}"
        )
        self.version = version
        self.available = available


class MalformedLabelData(KnowledgeBaseError):
    """A label file does not match the expected structure."""

    def __init__(self, version: str, problem: str) -> None:
        super().__init__(f"label revision {version}: {problem}")
        self.version = version
        self.problem = problem


class NotFound(CdsError):
    """A requested record (course, patient, user) does not exist."""


class Conflict(CdsError):
    """A write based on a stale version, or a duplicate of an existing record."""


class PreconditionRequired(CdsError):
    """A write to a course came without ``If-Match: <version>`` (HTTP 428)."""


class NoDoseToPrepare(CdsError):
    """The decision has no next dose (course complete or discontinued): nothing to prepare."""


class Unauthenticated(CdsError):
    """No credentials, wrong credentials, or an expired or invalid token (HTTP 401)."""


class Forbidden(CdsError):
    """The caller's role may not perform this action (HTTP 403)."""

    def __init__(self, role: str, action: str) -> None:
        super().__init__(f"role {role!r} may not perform {action!r}")
        self.role = role
        self.action = action


class TooManyAttempts(CdsError):
    """Too many failed logins, or too many logins waiting (HTTP 429 with ``Retry-After``)."""

    def __init__(self, retry_after_s: int, message: str | None = None) -> None:
        self.retry_after_s = max(1, int(retry_after_s))
        super().__init__(
            message
            or "too many failed logins from this account, address or device; "
            f"try again in {self.retry_after_s} s"
        )


class OptionalDependencyMissing(CdsError):
    """An optional part of inoplan was used without its extra installed (``pip install
    'inoplan[<extra>]'``); ``extra`` names it."""

    def __init__(self, feature: str, extra: str, module: str) -> None:
        super().__init__(
            f"{feature} needs the optional dependency {module!r}, which is not installed; "
            f"install the extra: pip install 'inoplan[{extra}]'"
        )
        self.feature = feature
        self.extra = extra
        self.module = module
