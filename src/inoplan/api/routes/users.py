"""User management (administrators): add, list, change role, deactivate, reset a password.

Every change is audited and raises the user's session generation, so the user's bearer tokens
and web sessions stop working at once, on every worker.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from inoplan.api.deps import DatabaseDep, permission
from inoplan.api.openapi import errors
from inoplan.api.schemas import PasswordIn, UserChange, UserIn, UserPublic, UsersPublic
from inoplan.services.auth import (
    Principal,
    add_user,
    list_users,
    set_password,
    unlock,
    update_user,
)
from inoplan.services.records import UserRecord

router = APIRouter(prefix="/users", tags=["users"])
Admin = Annotated[Principal, Depends(permission("user.manage"))]
Username = Annotated[str, Path(min_length=1, max_length=64)]


def _public(u: UserRecord) -> UserPublic:
    return UserPublic.model_validate(u, from_attributes=True)


@router.get("", response_model=UsersPublic, responses=errors(401, 403))
def get_users(database: DatabaseDep, _: Admin) -> UsersPublic:
    """Every user with their role."""
    users = list_users(database)
    return UsersPublic(data=[_public(u) for u in users], count=len(users))


@router.post("", status_code=201, response_model=UserPublic, responses=errors(401, 403, 409, 422))
def create_user(body: UserIn, database: DatabaseDep, principal: Admin) -> UserPublic:
    """Add a user with a role (the password must pass the policy; only its Argon2 hash is kept)."""
    user = add_user(database, body.username, body.password, body.role, actor=principal.username)
    return _public(user)


@router.patch("/{username}", response_model=UserPublic, responses=errors(401, 403, 404, 409, 422))
def change_user(
    username: Username, body: UserChange, database: DatabaseDep, principal: Admin
) -> UserPublic:
    """Change the role and/or deactivate (``active: false``) or reactivate a user; ends every
    session of that user. The last active administrator can be neither demoted nor deactivated
    (409)."""
    user = update_user(
        database, username, role=body.role, active=body.active, actor=principal.username
    )
    return _public(user)


@router.put("/{username}/password", status_code=204, responses=errors(401, 403, 404, 422))
def reset_password(
    username: Username, body: PasswordIn, database: DatabaseDep, principal: Admin
) -> Response:
    """Set a new password (policy checked); ends every session of that user and clears their
    failed-login counter."""
    set_password(
        database, username, body.password, actor=principal.username, throttle=database.throttle
    )
    return Response(status_code=204)


@router.delete("/{username}/throttle", status_code=204, responses=errors(401, 403, 404))
def unlock_user(username: Username, database: DatabaseDep, principal: Admin) -> Response:
    """Clear the failed-login counter of an account (the user may try again at once)."""
    unlock(database, database.throttle, username, actor=principal.username)
    return Response(status_code=204)
