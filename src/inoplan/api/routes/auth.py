"""Bearer tokens (OAuth2 password flow), logout and the caller's identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from inoplan.api.deps import DatabaseDep, PrincipalDep, SettingsDep
from inoplan.api.openapi import errors
from inoplan.api.schemas import MePublic, TokenPublic
from inoplan.services.auth import PERMISSIONS, LoginAttempt, end_sessions, issue_token
from inoplan.web.login import attempt_login, client_address, device_of

router = APIRouter(tags=["auth"])


@router.post("/auth/token", response_model=TokenPublic, responses=errors(401, 422, 429))
async def issue_access_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    settings: SettingsDep,
) -> TokenPublic:
    """Exchange a user name and password for a bearer token (expires after TOKEN_MINUTES).

    Failed logins are throttled per account, client address and device: after a few failures
    the answer is 429 with ``Retry-After`` (seconds) until the delay has passed."""
    attempt = LoginAttempt(
        username=form.username,
        password=form.password,
        address=client_address(request),
        device=device_of(request, form.username),
        channel="api",
    )
    user = await attempt_login(request, attempt)
    token, seconds = issue_token(user, secret=settings.secret, minutes=settings.token_minutes)
    return TokenPublic(access_token=token, token_type="bearer", expires_in=seconds)


@router.post("/auth/logout", status_code=204, responses=errors(401))
def log_out(principal: PrincipalDep, database: DatabaseDep) -> Response:
    """End every session of the caller: all of their bearer tokens and web sessions stop
    working at once, on every worker."""
    end_sessions(database, principal.username, actor=principal.username)
    return Response(status_code=204)


@router.get("/me", response_model=MePublic, responses=errors(401))
def who_am_i(principal: PrincipalDep) -> MePublic:
    """The caller's user name, role and permitted actions."""
    return MePublic(
        username=principal.username,
        role=principal.role,
        permissions=[a for a, roles in PERMISSIONS.items() if principal.role in roles],
    )
