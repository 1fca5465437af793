"""User management (administrators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from inoplan.api.deps import DatabaseDep, permission
from inoplan.api.openapi import errors
from inoplan.api.schemas import UserIn, UserPublic, UsersPublic
from inoplan.services.auth import Principal, add_user, list_users

router = APIRouter(prefix="/users", tags=["users"])
Admin = Annotated[Principal, Depends(permission("user.manage"))]


@router.get("", response_model=UsersPublic, responses=errors(401, 403))
def get_users(database: DatabaseDep, _: Admin) -> UsersPublic:
    """Every user with their role."""
    users = list_users(database)
    return UsersPublic(
        data=[
            UserPublic(username=u.username, role=u.role, active=u.active, created_at=u.created_at)
            for u in users
        ],
        count=len(users),
    )


@router.post("", status_code=201, response_model=UserPublic, responses=errors(401, 403, 409, 422))
def create_user(body: UserIn, database: DatabaseDep, principal: Admin) -> UserPublic:
    """Add a user with a role (the password is stored as an Argon2 hash only)."""
    user = add_user(database, body.username, body.password, body.role, actor=principal.username)
    return UserPublic(
        username=user.username, role=user.role, active=user.active, created_at=user.created_at
    )
