"""FastAPI dependencies as ``Annotated`` aliases: database, settings, caller, permissions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from inoplan.bootstrap import Database
from inoplan.config import Settings
from inoplan.services.auth import (
    PERMISSIONS,
    Forbidden,
    Principal,
    Unauthenticated,
    principal_from_token,
    require,
)

__all__ = [
    "TOKEN_URL",
    "DatabaseDep",
    "PrincipalDep",
    "SettingsDep",
    "allowed",
    "get_database",
    "get_settings",
    "permission",
]

TOKEN_URL = "/api/v1/auth/token"
_bearer = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_policy(request: Request) -> Any:
    return request.app.state.site_policy


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
PolicyDep = Annotated[Any, Depends(get_policy)]


def current_principal(
    database: DatabaseDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(_bearer)],
) -> Principal:
    if not token:
        raise Unauthenticated("a bearer token is required (POST /api/v1/auth/token)")
    return principal_from_token(database, token, secret=settings.secret)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def permission(action: str) -> Callable[..., Principal]:
    """A dependency that returns the caller if their role may perform ``action`` (else 403)."""
    if action not in PERMISSIONS:
        raise KeyError(action)

    def check(principal: PrincipalDep) -> Principal:
        require(principal, action)
        return principal

    check.__name__ = f"permission_{action.replace('.', '_')}"
    return check


def any_permission(prefix: str) -> Callable[..., Principal]:
    """The caller may perform at least one action starting with ``prefix`` (e.g. ``event.``)."""
    actions = [a for a in PERMISSIONS if a.startswith(prefix)]

    def check(principal: PrincipalDep) -> Principal:
        if not any(principal.role in PERMISSIONS[a] for a in actions):
            raise Forbidden(principal.role, prefix + "*")
        return principal

    return check


def allowed(action: str) -> frozenset[str]:
    return PERMISSIONS[action]
