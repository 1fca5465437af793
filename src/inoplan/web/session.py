"""Cookie sessions and CSRF tokens for the web UI (no server-side session store).

The session cookie is signed with the service's secret key (``itsdangerous``) and holds a bearer
token issued by :func:`inoplan.services.auth.issue_token` plus a random CSRF token. On every
request the token is checked again by :func:`inoplan.services.auth.principal_from_token`, so a
deactivated user or a changed role takes effect at once and the session expires with the token
(``INOPLAN_TOKEN_MINUTES``). The cookie is ``HttpOnly`` and ``SameSite=Lax``; it is
``Secure`` when the request came over HTTPS or the service runs in production.

Every form carries the CSRF token in a hidden field ``csrf_token``; a POST whose token does not
match the session's (compared in constant time) is refused with 403 and nothing is written.
Before login, ``GET /login`` gives an anonymous session that carries only a CSRF token.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

__all__ = ["COOKIE_NAME", "SessionData", "new_session", "read_session", "write_session"]

COOKIE_NAME = "inoplan_session"
_SALT = "inoplan-web-session-v1"


@dataclass(frozen=True, slots=True)
class SessionData:
    """What the session cookie carries: the CSRF token and, once logged in, a bearer token."""

    csrf: str
    token: str | None = None

    def csrf_matches(self, submitted: object) -> bool:
        return isinstance(submitted, str) and hmac.compare_digest(submitted, self.csrf)


def new_session(token: str | None = None) -> SessionData:
    """A fresh session with a new CSRF token (rotated at login and logout)."""
    return SessionData(csrf=secrets.token_urlsafe(32), token=token)


def _serializer(secret: str) -> Any:
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(secret, salt=_SALT)


def read_session(cookie: str | None, *, secret: str, max_age_s: int) -> SessionData | None:
    """The session in a cookie value, or ``None`` when absent, tampered with or too old."""
    if not cookie:
        return None
    from itsdangerous import BadSignature

    try:
        data = _serializer(secret).loads(cookie, max_age=max_age_s)
    except BadSignature:  # includes SignatureExpired
        return None
    if not isinstance(data, dict) or not isinstance(data.get("csrf"), str):
        return None
    token = data.get("token")
    return SessionData(csrf=data["csrf"], token=token if isinstance(token, str) else None)


def write_session(session: SessionData, *, secret: str) -> str:
    """The signed cookie value for a session."""
    payload: dict[str, str] = {"csrf": session.csrf}
    if session.token is not None:
        payload["token"] = session.token
    return str(_serializer(secret).dumps(payload))
