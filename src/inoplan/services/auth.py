"""Users, roles, passwords, logins and bearer tokens; the permission matrix.

Passwords are hashed with Argon2id (``pwdlib``), at most :data:`HASH_SLOTS` at a time per
process (one per CPU), and must pass the policy of :mod:`inoplan.services.passwords`. Bearer
tokens are signed JWTs (HS256, key ``INOPLAN_SECRET_KEY``) carrying the user name, an expiry
and the user's *session generation*; on every request the user is looked up again and the
generation compared, so logout, deactivation, a password change or a role change revokes every
token and web session of that user at once, on every worker. The web UI reuses :func:`login`,
:data:`PERMISSIONS` and :func:`can` for its cookie sessions.

Failed logins are throttled per account, per client address and per device (see
:class:`ThrottlePolicy`); the counters live in the database, so every worker applies the same
delay. Every login, failed login and logout is logged (without the password) and audited.

Permission matrix (``admin`` may do everything):

=====================  =====  ==========  ==========  =====  ======
action                 admin  prescriber  pharmacist  nurse  viewer
=====================  =====  ==========  ==========  =====  ======
course.read            yes    yes         yes         yes    yes
course.create          yes    yes
event.vitals           yes    yes                     yes
event.labs             yes    yes                     yes
event.ecg              yes    yes                     yes
event.pregnancy_test   yes    yes                     yes
event.administration   yes                yes         yes
event.toxicity         yes    yes
event.response         yes    yes
event.medication       yes    yes
event.hsct             yes    yes
event.discontinuation  yes    yes
event.plan_change      yes    yes
event.reschedule       yes    yes
event.dose_change      yes    yes
event.void             yes    yes         yes         yes
dose.override          yes    yes
dose.verify            yes                yes
dose.release           yes    yes
dose.prepare           yes                yes
dose.give              yes                           yes
dose.cosign_prepare    yes                yes
dose.cosign_give       yes    yes                    yes
dose.withdraw          yes    yes         yes
decision.confirm       yes    yes
course.acknowledge     yes    yes
audit.read             yes    yes         yes
audit.verify           yes
user.manage            yes
=====================  =====  ==========  ==========  =====  ======

Reading a course, its plan and its decision (``course.read``) is open to every role; showing a
decision is recorded in the audit trail.

A correction (``supersedes``) or a void ("entered in error") also needs the action of the
TARGET's type, so a nurse cannot withdraw a prescriber's VOD record; a dose recorded against the
decision needs ``dose.override`` for its ``override_reason`` (``inoplan.services.guards``).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol

from inoplan.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyAttempts,
    Unauthenticated,
)
from inoplan.services.common import check_username
from inoplan.services.passwords import MAX_LENGTH as MAX_PASSWORD_LENGTH
from inoplan.services.passwords import MIN_LENGTH as MIN_PASSWORD_LENGTH
from inoplan.services.passwords import check_password
from inoplan.services.ports import UowFactory, UserRecord

if TYPE_CHECKING:
    from pwdlib import PasswordHash

__all__ = [
    "ACTIONS",
    "HASH_SLOTS",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "PERMISSIONS",
    "ROLES",
    "Forbidden",
    "LoginAttempt",
    "Principal",
    "ThrottlePolicy",
    "ThrottleStore",
    "TooManyAttempts",
    "Unauthenticated",
    "add_user",
    "authenticate",
    "can",
    "check_throttle",
    "device_id",
    "end_sessions",
    "event_action",
    "finish_login",
    "hash_password",
    "issue_device_token",
    "issue_token",
    "list_users",
    "login",
    "principal_from_token",
    "require",
    "set_active",
    "set_password",
    "set_role",
    "unlock",
    "update_user",
    "verify_credentials",
    "verify_password",
    "verify_second_signer",
]

log = logging.getLogger("inoplan.auth")

ROLES: Final = ("admin", "prescriber", "pharmacist", "nurse", "viewer")

_EVERYONE = frozenset(ROLES)
PERMISSIONS: Final[Mapping[str, frozenset[str]]] = {
    "course.read": _EVERYONE,
    "course.create": frozenset({"admin", "prescriber"}),
    "event.vitals": frozenset({"admin", "prescriber", "nurse"}),
    "event.labs": frozenset({"admin", "prescriber", "nurse"}),
    "event.ecg": frozenset({"admin", "prescriber", "nurse"}),
    "event.pregnancy_test": frozenset({"admin", "prescriber", "nurse"}),
    "event.administration": frozenset({"admin", "pharmacist", "nurse"}),
    "event.toxicity": frozenset({"admin", "prescriber"}),
    "event.response": frozenset({"admin", "prescriber"}),
    "event.medication": frozenset({"admin", "prescriber"}),
    "event.hsct": frozenset({"admin", "prescriber"}),
    "event.discontinuation": frozenset({"admin", "prescriber"}),
    # the prescriber edits the plan (transplant intent, cycle 1 length, BSA formula), moves a
    # treatment day inside the label's window or lowers a day's dose, each with a reason
    "event.plan_change": frozenset({"admin", "prescriber"}),
    "event.reschedule": frozenset({"admin", "prescriber"}),
    "event.dose_change": frozenset({"admin", "prescriber"}),
    # withdrawing an entry made in error; the target's own action is needed as well
    "event.void": frozenset({"admin", "prescriber", "pharmacist", "nurse"}),
    # recording a dose against the decision (held day, stopped course, above a hard limit)
    "dose.override": frozenset({"admin", "prescriber"}),
    "dose.verify": frozenset({"admin", "pharmacist"}),
    # the treatment-day states (inoplan.services.workflow): release (decision give, confirmed
    # by a prescriber), prepare and give, each with an independent second signer
    "dose.release": frozenset({"admin", "prescriber"}),
    "dose.prepare": frozenset({"admin", "pharmacist"}),
    "dose.give": frozenset({"admin", "nurse"}),
    "dose.cosign_prepare": frozenset({"admin", "pharmacist"}),
    "dose.cosign_give": frozenset({"admin", "prescriber", "nurse"}),
    # return a released, verified or prepared dose to "ordered" (with a reason)
    "dose.withdraw": frozenset({"admin", "prescriber", "pharmacist"}),
    # booking a treatment day's time on the date the engine plans it (the Today worklist)
    "day.schedule": frozenset({"admin", "prescriber", "pharmacist", "nurse"}),
    "decision.confirm": frozenset({"admin", "prescriber"}),
    # acknowledging that a course's decision is to discontinue (Today list)
    "course.acknowledge": frozenset({"admin", "prescriber"}),
    "audit.read": frozenset({"admin", "prescriber", "pharmacist"}),
    "audit.verify": frozenset({"admin"}),
    "user.manage": frozenset({"admin"}),
}
ACTIONS: Final = tuple(PERMISSIONS)

TOKEN_ALGORITHM: Final = "HS256"
DEVICE_TOKEN_DAYS: Final = 90


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


#: Password hashes computed at once per process: one per CPU this process may run on.
HASH_SLOTS: Final = max(1, _cpu_count())
_hash_gate = threading.BoundedSemaphore(HASH_SLOTS)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user name and a role."""

    username: str
    role: str


def can(role: str, action: str) -> bool:
    """Whether ``role`` may perform ``action`` (an unknown action is a programming error).

    >>> can("nurse", "event.labs"), can("viewer", "course.create")
    (True, False)
    """
    if action not in PERMISSIONS:
        raise KeyError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
    return role in PERMISSIONS[action]


def require(principal: Principal, action: str) -> None:
    """Raise :class:`Forbidden` unless the principal's role may perform ``action``."""
    if not can(principal.role, action):
        raise Forbidden(principal.role, action)


def event_action(event_type: object) -> str:
    """The action that recording an event of this type needs (``event.labs``)."""
    action = f"event.{event_type}"
    if action not in PERMISSIONS:
        raise InvalidInput("event.type", f"unknown event type {event_type!r}")
    return action


# -- password hashing -----------------------------------------------------------------------


@functools.cache
def _hasher() -> PasswordHash:
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    return PasswordHash((Argon2Hasher(),))


def hash_password(password: str) -> str:
    """The Argon2id hash of a password (length checked; the full policy is in add/set)."""
    if not isinstance(password, str) or len(password) < 8:
        raise InvalidInput("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput("password", f"must be at most {MAX_PASSWORD_LENGTH} characters")
    with _hash_gate:
        return str(_hasher().hash(password))


def verify_password(password: str, password_hash: str) -> bool:
    if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
        password = ""  # still hash once: the answer takes the same time
    try:
        with _hash_gate:
            return bool(_hasher().verify(password, password_hash))
    except Exception:  # a malformed stored hash never authenticates
        return False


@functools.cache
def _dummy_hash() -> str:
    return hash_password("not-a-real-password-0")


def verify_credentials(
    uow_factory: UowFactory, username: str, password: str
) -> tuple[UserRecord | None, str]:
    """The active user with this name and password, or None, and the reason for a refusal
    (``unknown_user``, ``inactive``, ``wrong_password``). One password hash either way, so the
    time taken does not tell which names exist."""
    user = None
    if isinstance(username, str) and 0 < len(username) <= 64:
        with uow_factory() as uow:
            user = uow.users.get(username)
    if user is None or not user.active:
        verify_password(password, _dummy_hash())
        return None, "unknown_user" if user is None else "inactive"
    if not verify_password(password, user.password_hash):
        return None, "wrong_password"
    return user, "ok"


def authenticate(uow_factory: UowFactory, username: str, password: str) -> UserRecord | None:
    """The active user with this name and password, or ``None`` (no throttling: see login)."""
    return verify_credentials(uow_factory, username, password)[0]


# -- login throttling -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """A leaky bucket with a progressive delay.

    Each failure adds one to the key's count; one is taken off every ``leak_every_s`` without a
    failure. While the count is at most ``free`` a failure costs nothing; above it, each failure
    blocks the key for ``first_delay_s``, doubled per further failure, never longer than
    ``max_delay_s``. A successful login clears the account and device keys (never the address
    key, so one valid account does not reset an attacker's address).
    """

    free: int
    leak_every_s: float
    first_delay_s: float = 1.0
    max_delay_s: float = 15 * 60.0

    def step(
        self, failures: int, last_failure_at: datetime | None, now: datetime
    ) -> tuple[int, datetime | None]:
        """(failures before, last failure, now) -> (failures after, blocked until or None)."""
        if last_failure_at is None:
            failures = 0
        else:
            elapsed = max(0.0, (now - last_failure_at).total_seconds())
            failures = max(0, failures - int(elapsed // self.leak_every_s))
        failures += 1
        over = failures - self.free
        if over <= 0:
            return failures, None
        delay = min(self.max_delay_s, self.first_delay_s * 2.0 ** min(over - 1, 40))
        return failures, now + timedelta(seconds=delay)


#: Per kind of key. A real user never waits longer than ``max_delay_s`` (15 minutes) for one
#: more try, and a browser that logged in as that user before (its device cookie) is not held
#: back by failures from elsewhere: docs/permissions.md, "Failed logins".
THROTTLE: Final[Mapping[str, ThrottlePolicy]] = {
    "account": ThrottlePolicy(free=5, leak_every_s=15 * 60.0),
    "device": ThrottlePolicy(free=10, leak_every_s=5 * 60.0),
    "address": ThrottlePolicy(free=30, leak_every_s=60.0),
}


#: One failure's effect on a key: (kind, failures before, last failure, now) -> (failures
#: after, blocked until or None).
ThrottleStep = Callable[[str, int, datetime | None, datetime], tuple[int, datetime | None]]


class ThrottleStore(Protocol):
    """Failed-login counters shared by every worker (``inoplan.persistence.throttle``)."""

    def blocked_until(self, keys: Sequence[str]) -> datetime | None: ...
    def fail(
        self, entries: Sequence[tuple[str, str]], now: datetime, step: ThrottleStep
    ) -> datetime | None: ...
    def clear(self, keys: Sequence[str]) -> None: ...


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """One try: the name and password typed, where it came from, and through what.

    ``device`` is the id from a valid device token (:func:`device_id`) bound to this user name:
    the browser logged in as this user before.
    """

    username: str
    password: str = ""
    address: str | None = None
    device: str | None = None
    channel: str = "api"


def _digest(kind: str, value: str) -> str:
    return hashlib.sha256(f"inoplan-login\0{kind}\0{value}".encode()).hexdigest()


def _address_group(address: str) -> str:
    """An IPv4 address, or the /64 network of an IPv6 address (one subscriber's block)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def throttle_entries(attempt: LoginAttempt) -> list[tuple[str, str]]:
    """The (key, kind) pairs this attempt counts against."""
    entries: list[tuple[str, str]] = []
    if attempt.address:
        entries.append((_digest("address", _address_group(attempt.address)), "address"))
    if attempt.device:
        entries.append((_digest("device", attempt.device), "device"))
    else:
        entries.append((_digest("account", attempt.username.strip().casefold()), "account"))
    return entries


def _step(
    kind: str, failures: int, last: datetime | None, now: datetime
) -> tuple[int, datetime | None]:
    return THROTTLE[kind].step(failures, last, now)


def check_throttle(throttle: ThrottleStore, attempt: LoginAttempt, *, now: datetime) -> None:
    """Raise :class:`TooManyAttempts` while any key of this attempt is blocked."""
    until = throttle.blocked_until([key for key, _ in throttle_entries(attempt)])
    if until is not None and until > now:
        seconds = math.ceil((until - now).total_seconds())
        log.warning(
            "login refused: too many failures",
            extra={
                "event": "auth.login_throttled",
                "channel": attempt.channel,
                "address": attempt.address,
                "retry_after_s": seconds,
            },
        )
        raise TooManyAttempts(seconds)


def finish_login(
    uow_factory: UowFactory,
    throttle: ThrottleStore,
    attempt: LoginAttempt,
    user: UserRecord | None,
    reason: str,
    *,
    now: datetime,
) -> UserRecord:
    """Record the outcome of a checked password: clear or count, log and audit.

    Returns the user, or raises :class:`Unauthenticated` (the same message whatever the reason).
    """
    from inoplan.services.audit import append_audit

    entries = throttle_entries(attempt)
    if user is not None:
        throttle.clear([key for key, kind in entries if kind != "address"])
        log.info(
            "login",
            extra={
                "event": "auth.login",
                "user": user.username,
                "channel": attempt.channel,
                "address": attempt.address,
            },
        )
        with uow_factory(write=True) as uow:
            append_audit(
                uow,
                actor=user.username,
                action="auth.login",
                entity="user",
                entity_id=user.username,
                after={"channel": attempt.channel, "address": attempt.address},
                at=now,
            )
            uow.commit()
        return user
    blocked = throttle.fail(entries, now, _step)
    known = reason != "unknown_user"
    name = attempt.username if known else None
    log.warning(
        "login failed",
        extra={
            "event": "auth.login_failed",
            "reason": reason,
            "user": name,
            # an unknown name may be a password typed in the wrong field: never logged as such
            "user_digest": None if known else _digest("name", attempt.username)[:12],
            "channel": attempt.channel,
            "address": attempt.address,
            "blocked_until": blocked.isoformat() if blocked else None,
        },
    )
    with uow_factory(write=True) as uow:
        append_audit(
            uow,
            actor=name or "anonymous",
            action="auth.login_failed",
            entity="user",
            entity_id=name,
            after={
                "reason": reason,
                "channel": attempt.channel,
                "address": attempt.address,
                "blocked_until": blocked.isoformat() if blocked else None,
            },
            at=now,
        )
        uow.commit()
    raise Unauthenticated("wrong user name or password")


def login(
    uow_factory: UowFactory,
    throttle: ThrottleStore,
    attempt: LoginAttempt,
    *,
    now: datetime | None = None,
) -> UserRecord:
    """Check a login: throttle, password, then record the outcome (sync; adapters that run an
    event loop call the three steps themselves so that waiting for a hash slot holds no thread).
    """
    check_throttle(throttle, attempt, now=now or datetime.now(UTC))
    user, reason = verify_credentials(uow_factory, attempt.username, attempt.password)
    return finish_login(uow_factory, throttle, attempt, user, reason, now=now or datetime.now(UTC))


def verify_second_signer(
    uow_factory: UowFactory,
    throttle: ThrottleStore,
    attempt: LoginAttempt,
    *,
    action: str,
    actor: str,
    now: datetime,
) -> UserRecord:
    """The independent second signer of a step (a preparation, an administration): another
    active user, who re-enters their own password, with a role that may perform ``action``.

    Throttled exactly like a login (the same keys and counters: a password guessed here counts
    towards the account's login throttle, and the other way round); a failure is logged and
    audited (``auth.second_signer_failed``). Raises :class:`InvalidInput` (``second_signer``:
    the caller themself, or a role that may not sign; ``second_signer_password``: a wrong name or
    password, the same message whatever was wrong) or :class:`TooManyAttempts`.
    """
    from inoplan.services.audit import append_audit

    name = attempt.username.strip()
    if not name:
        raise InvalidInput("second_signer", "enter the user name of the second signer")
    if name.casefold() == actor.strip().casefold():
        raise InvalidInput(
            "second_signer",
            f"the second signer must be another person than you ({actor}): an independent "
            "check needs two people",
        )
    if not attempt.password:
        raise InvalidInput("second_signer_password", "the second signer enters their password")
    check_throttle(throttle, attempt, now=now)
    user, reason = verify_credentials(uow_factory, name, attempt.password)
    entries = throttle_entries(attempt)
    if user is None:
        blocked = throttle.fail(entries, now, _step)
        known = reason != "unknown_user"
        log.warning(
            "second signer refused",
            extra={
                "event": "auth.second_signer_failed",
                "reason": reason,
                "user": name if known else None,
                "actor": actor,
                "channel": attempt.channel,
                "blocked_until": blocked.isoformat() if blocked else None,
            },
        )
        with uow_factory(write=True) as uow:
            append_audit(
                uow,
                actor=actor,
                action="auth.second_signer_failed",
                entity="user",
                entity_id=name if known else None,
                after={
                    "reason": reason,
                    "for": action,
                    "channel": attempt.channel,
                    "blocked_until": blocked.isoformat() if blocked else None,
                },
                at=now,
            )
            uow.commit()
        raise InvalidInput(
            "second_signer_password",
            "the second signer's user name or password is wrong; nothing was saved",
        )
    throttle.clear([key for key, kind in entries if kind != "address"])
    if str(user.username).casefold() == actor.strip().casefold():  # the stored name, not the typed
        raise InvalidInput(
            "second_signer",
            f"the second signer must be another person than you ({actor}): an independent "
            "check needs two people",
        )
    if not can(user.role, action):
        raise InvalidInput(
            "second_signer",
            f"{user.username} ({user.role}) may not sign this as the second checker "
            f"({', '.join(sorted(PERMISSIONS[action] - {'admin'}))} may)",
        )
    return user


# -- tokens ---------------------------------------------------------------------------------


class Identity(Protocol):
    """What a token names: a user name and a role (a UserRecord, a Principal, ...)."""

    @property
    def username(self) -> str: ...
    @property
    def role(self) -> str: ...


def issue_token(
    user: Identity, *, secret: str, minutes: int, now: datetime | None = None
) -> tuple[str, int]:
    """A signed bearer token for ``user`` and its lifetime in seconds."""
    import jwt

    issued = now or datetime.now(UTC)
    claims = {
        "sub": user.username,
        "role": user.role,
        "gen": int(getattr(user, "session_generation", 0)),
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(minutes=minutes)).timestamp()),
        "typ": "inoplan-access",
    }
    return jwt.encode(claims, secret, algorithm=TOKEN_ALGORITHM), minutes * 60


def principal_from_token(uow_factory: UowFactory, token: str, *, secret: str) -> Principal:
    """Check a bearer token and return the caller (role as stored now, not as in the token)."""
    import jwt

    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[TOKEN_ALGORITHM],
            options={"require": ["sub", "exp", "iat"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the token has expired; request a new one") from None
    except jwt.PyJWTError:
        raise Unauthenticated("the token is invalid") from None
    if claims.get("typ") != "inoplan-access":
        raise Unauthenticated("the token is not an inoplan access token")
    with uow_factory() as uow:
        user = uow.users.get(str(claims["sub"]))
    if user is None or not user.active:
        raise Unauthenticated("the token's user no longer exists or is inactive")
    if claims.get("gen", 0) != user.session_generation:
        raise Unauthenticated(
            "the session has ended (logout, or a password, role or account change); log in again"
        )
    return Principal(username=user.username, role=user.role)


def issue_device_token(username: str, *, secret: str, now: datetime | None = None) -> str:
    """A long-lived signed token naming this browser as one that logged in as ``username``."""
    import secrets

    import jwt

    issued = now or datetime.now(UTC)
    claims = {
        "sub": username,
        "dev": secrets.token_urlsafe(16),
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(days=DEVICE_TOKEN_DAYS)).timestamp()),
        "typ": "inoplan-device",
    }
    return jwt.encode(claims, secret, algorithm=TOKEN_ALGORITHM)


def device_id(token: str | None, username: str, *, secret: str) -> str | None:
    """The device id of a valid device token issued for ``username``, else None."""
    if not token:
        return None
    import jwt

    try:
        claims = jwt.decode(token, secret, algorithms=[TOKEN_ALGORITHM])
    except jwt.PyJWTError:
        return None
    if claims.get("typ") != "inoplan-device" or claims.get("sub") != username:
        return None
    dev = claims.get("dev")
    return dev if isinstance(dev, str) and dev else None


# -- users ----------------------------------------------------------------------------------


def add_user(
    uow_factory: UowFactory, username: str, password: str, role: str, *, actor: str
) -> UserRecord:
    """Create a user (audited, without the password). Raises Conflict if the name is taken."""
    from inoplan.services.audit import append_audit

    check_username(username)
    if role not in ROLES:
        raise InvalidInput("role", f"unknown role {role!r}; one of {', '.join(ROLES)}")
    check_password(password, username)
    password_hash = hash_password(password)
    now = datetime.now(UTC)
    with uow_factory(write=True) as uow:
        if uow.users.get(username) is not None:
            raise Conflict(f"user {username!r} already exists")
        user: UserRecord = uow.users.add(
            username=username, password_hash=password_hash, role=role, at=now
        )
        append_audit(
            uow,
            actor=actor,
            action="user.add",
            entity="user",
            entity_id=username,
            after={"username": username, "role": role},
            at=now,
        )
        uow.commit()
    return user


def list_users(uow_factory: UowFactory) -> list[UserRecord]:
    with uow_factory() as uow:
        return list(uow.users.all())


def _change_user(
    uow_factory: UowFactory,
    username: str,
    *,
    actor: str,
    action: str,
    values: Mapping[str, Any],
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    guard_last_admin: bool = False,
) -> UserRecord:
    """Update a user, raise their session generation and audit it, in one transaction."""
    from inoplan.services.audit import append_audit

    now = datetime.now(UTC)
    with uow_factory(write=True) as uow:
        user = uow.users.lock(username)
        if user is None:
            raise NotFound(f"no user {username!r}")
        if guard_last_admin and user.role == "admin" and user.active:
            demoted = values.get("role", "admin") != "admin" or values.get("active") is False
            if demoted and uow.users.count_active("admin") <= 1:
                raise Conflict(
                    f"{username!r} is the last active administrator; add another one first"
                )
        uow.users.update(username, **values)
        append_audit(
            uow,
            actor=actor,
            action=action,
            entity="user",
            entity_id=username,
            before=dict(before) if before is not None else None,
            after=dict(after) if after is not None else None,
            at=now,
        )
        uow.commit()
        changed: UserRecord | None = uow.users.get(username)
    assert changed is not None
    log.info("user changed", extra={"event": action, "user": username, "actor": actor})
    return changed


def _existing(uow_factory: UowFactory, username: str) -> UserRecord:
    with uow_factory() as uow:
        user: UserRecord | None = uow.users.get(username)
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


def set_password(
    uow_factory: UowFactory,
    username: str,
    password: str,
    *,
    actor: str,
    throttle: ThrottleStore | None = None,
) -> UserRecord:
    """A new password (policy checked); ends every session of the user; clears their throttle."""
    _existing(uow_factory, username)
    check_password(password, username)
    password_hash = hash_password(password)
    user = _change_user(
        uow_factory,
        username,
        actor=actor,
        action="user.password",
        values={"password_hash": password_hash},
        after={"password": "changed"},  # never the password or its hash
    )
    if throttle is not None:
        throttle.clear([key for key, _ in throttle_entries(LoginAttempt(username))])
    return user


def update_user(
    uow_factory: UowFactory,
    username: str,
    *,
    role: str | None = None,
    active: bool | None = None,
    actor: str,
) -> UserRecord:
    """Change the role and/or the active flag in one transaction; ends every session of the
    user. The last active administrator can be neither demoted nor deactivated (Conflict)."""
    if role is None and active is None:
        raise InvalidInput("body", "give a role and/or active")
    if role is not None and role not in ROLES:
        raise InvalidInput("role", f"unknown role {role!r}; one of {', '.join(ROLES)}")
    user = _existing(uow_factory, username)
    values: dict[str, Any] = {}
    before: dict[str, Any] = {}
    if role is not None:
        values["role"], before["role"] = role, user.role
    if active is not None:
        values["active"], before["active"] = bool(active), user.active
    if active is None:
        action = "user.role"
    elif role is None:
        action = "user.activate" if active else "user.deactivate"
    else:
        action = "user.change"
    return _change_user(
        uow_factory,
        username,
        actor=actor,
        action=action,
        values=values,
        before=before,
        after=values,
        guard_last_admin=True,
    )


def set_role(uow_factory: UowFactory, username: str, role: str, *, actor: str) -> UserRecord:
    """Change a user's role; ends every session of the user (the last admin stays admin)."""
    return update_user(uow_factory, username, role=role, actor=actor)


def set_active(uow_factory: UowFactory, username: str, active: bool, *, actor: str) -> UserRecord:
    """Deactivate (or reactivate) a user; ends every session of the user."""
    return update_user(uow_factory, username, active=active, actor=actor)


def end_sessions(uow_factory: UowFactory, username: str, *, actor: str) -> UserRecord:
    """Log the user out everywhere: every bearer token and web session stops working."""
    return _change_user(uow_factory, username, actor=actor, action="auth.logout", values={})


def unlock(uow_factory: UowFactory, throttle: ThrottleStore, username: str, *, actor: str) -> None:
    """Clear the failed-login counter of an account (audited)."""
    from inoplan.services.audit import append_audit

    _existing(uow_factory, username)
    throttle.clear([key for key, _ in throttle_entries(LoginAttempt(username))])
    with uow_factory(write=True) as uow:
        append_audit(uow, actor=actor, action="user.unlock", entity="user", entity_id=username)
        uow.commit()
