"""Bearer tokens (OAuth2 password flow) and the caller's identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from inoplan.api.deps import DatabaseDep, PrincipalDep, SettingsDep
from inoplan.api.openapi import errors
from inoplan.api.schemas import MePublic, TokenPublic
from inoplan.services.auth import (
    PERMISSIONS,
    Unauthenticated,
    authenticate,
    issue_token,
)

router = APIRouter(tags=["auth"])


@router.post("/auth/token", response_model=TokenPublic, responses=errors(401, 422))
def issue_access_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    database: DatabaseDep,
    settings: SettingsDep,
) -> TokenPublic:
    """Exchange a user name and password for a bearer token (expires after TOKEN_MINUTES)."""
    user = authenticate(database, form.username, form.password)
    if user is None:
        raise Unauthenticated("wrong user name or password")
    token, seconds = issue_token(user, secret=settings.secret, minutes=settings.token_minutes)
    return TokenPublic(access_token=token, token_type="bearer", expires_in=seconds)


@router.get("/me", response_model=MePublic, responses=errors(401))
def who_am_i(principal: PrincipalDep) -> MePublic:
    """The caller's user name, role and permitted actions."""
    return MePublic(
        username=principal.username,
        role=principal.role,
        permissions=[a for a, roles in PERMISSIONS.items() if principal.role in roles],
    )
