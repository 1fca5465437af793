"""Users, roles, passwords and bearer tokens; the permission matrix.

Passwords are hashed with Argon2id (``pwdlib``). Bearer tokens are signed JWTs (HS256, key
``INOPLAN_SECRET_KEY``) carrying the user name and an expiry; on every request the user is
looked up again, so a deactivated user or a changed role takes effect immediately. The web UI
reuses :func:`authenticate`, :data:`PERMISSIONS` and :func:`can` for its cookie sessions.

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
dose.verify            yes                yes
decision.confirm       yes    yes
audit.read             yes    yes         yes
audit.verify           yes
user.manage            yes
=====================  =====  ==========  ==========  =====  ======

Reading a course, its plan and its decision (``course.read``) is open to every role; showing a
decision is recorded in the audit trail.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from inoplan.errors import CdsError, InvalidInput
from inoplan.services.records import UowFactory, UserRecord, check_username

__all__ = [
    "ACTIONS",
    "PERMISSIONS",
    "ROLES",
    "Forbidden",
    "Principal",
    "Unauthenticated",
    "add_user",
    "authenticate",
    "can",
    "event_action",
    "hash_password",
    "issue_token",
    "list_users",
    "principal_from_token",
    "require",
    "verify_password",
]

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
    "dose.verify": frozenset({"admin", "pharmacist"}),
    "decision.confirm": frozenset({"admin", "prescriber"}),
    "audit.read": frozenset({"admin", "prescriber", "pharmacist"}),
    "audit.verify": frozenset({"admin"}),
    "user.manage": frozenset({"admin"}),
}
ACTIONS: Final = tuple(PERMISSIONS)

TOKEN_ALGORITHM: Final = "HS256"
MIN_PASSWORD_LENGTH: Final = 8


class Unauthenticated(CdsError):
    """No credentials, wrong credentials, or an expired or invalid token (HTTP 401)."""


class Forbidden(CdsError):
    """The caller's role may not perform this action (HTTP 403)."""

    def __init__(self, role: str, action: str) -> None:
        super().__init__(f"role {role!r} may not perform {action!r}")
        self.role = role
        self.action = action


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


@functools.cache
def _hasher() -> Any:
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    return PasswordHash((Argon2Hasher(),))


def hash_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    return str(_hasher().hash(password))


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return bool(_hasher().verify(password, password_hash))
    except Exception:  # a malformed stored hash never authenticates
        return False


@functools.cache
def _dummy_hash() -> str:
    return hash_password("not-a-real-password-0")


def authenticate(uow_factory: UowFactory, username: str, password: str) -> UserRecord | None:
    """The active user with this name and password, or ``None`` (same cost either way)."""
    with uow_factory() as uow:
        user = uow.users.get(username)
    if user is None or not user.active:
        verify_password(password, _dummy_hash())  # do not reveal which names exist by timing
        return None
    return user if verify_password(password, user.password_hash) else None


def issue_token(
    user: UserRecord | Principal, *, secret: str, minutes: int, now: datetime | None = None
) -> tuple[str, int]:
    """A signed bearer token for ``user`` and its lifetime in seconds."""
    import jwt

    issued = now or datetime.now(UTC)
    claims = {
        "sub": user.username,
        "role": user.role,
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
    return Principal(username=user.username, role=user.role)


def add_user(
    uow_factory: UowFactory, username: str, password: str, role: str, *, actor: str
) -> UserRecord:
    """Create a user (audited, without the password). Raises Conflict if the name is taken."""
    from inoplan.errors import Conflict
    from inoplan.services.audit import append_audit

    check_username(username)
    if role not in ROLES:
        raise InvalidInput("role", f"unknown role {role!r}; one of {', '.join(ROLES)}")
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
