"""``inoplan user``: add, list, deactivate, reactivate, set a password or a role, unlock.

Passwords come from standard input (first line; twice at a terminal), never from an argument.
Every change is audited (actor ``cli``) and ends every session of the user at once: their bearer
tokens and web sessions stop working on every worker.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from inoplan.bootstrap import Database

app = typer.Typer(help="Users and roles.", no_args_is_help=True)

Name = Annotated[str, typer.Argument(help="User name.")]


def _read_password() -> str:
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat: ") != first:
            from inoplan.errors import InvalidInput

            raise InvalidInput("password", "the two entries differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _database() -> Database:
    from inoplan.bootstrap import get_database

    database = get_database()
    database.upgrade()
    return database


@app.command()
def add(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, . _ @ -).")],
    role: Annotated[str, typer.Option(help="admin | prescriber | pharmacist | nurse | viewer")],
) -> None:
    """Add a user; the password is read from standard input (first line)."""
    from inoplan.services.auth import ROLES, add_user

    if role not in ROLES:  # check before asking for the password
        from inoplan.errors import InvalidInput

        raise InvalidInput("role", f"unknown role {role!r}; one of {', '.join(ROLES)}")
    password = _read_password()
    database = _database()
    try:
        user = add_user(database, name, password, role, actor="cli")
    finally:
        database.dispose()
    typer.echo(f"user {user.username} added with role {user.role}")


@app.command("list")
def list_(
    json_output: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """List users and their roles."""
    import json

    from inoplan.services.auth import list_users

    database = _database()
    users = list_users(database)
    database.dispose()
    if json_output:
        rows = [{"username": u.username, "role": u.role, "active": u.active} for u in users]
        typer.echo(json.dumps(rows))
        return
    for u in users:
        typer.echo(f"{u.username}\t{u.role}\t{'active' if u.active else 'inactive'}")


def passwd(name: Name) -> None:
    """Set a new password (read from standard input); ends every session of the user and
    clears their failed-login counter."""
    from inoplan.services.auth import set_password

    password = _read_password()
    database = _database()
    try:
        set_password(database, name, password, actor="cli", throttle=database.throttle)
    finally:
        database.dispose()
    typer.echo(f"password of {name} changed; their sessions were ended")


app.command("passwd")(passwd)
app.command("reset-password", help="Same as passwd.")(passwd)


@app.command()
def role(
    name: Name,
    new_role: Annotated[
        str, typer.Argument(metavar="ROLE", help="admin | prescriber | pharmacist | nurse | viewer")
    ],
) -> None:
    """Change a user's role; ends every session of the user."""
    from inoplan.services.auth import set_role

    database = _database()
    try:
        user = set_role(database, name, new_role, actor="cli")
    finally:
        database.dispose()
    typer.echo(f"{user.username} now has role {user.role}; their sessions were ended")


@app.command()
def deactivate(name: Name) -> None:
    """Deactivate a user: they can no longer log in and every session ends at once."""
    from inoplan.services.auth import set_active

    database = _database()
    try:
        set_active(database, name, False, actor="cli")
    finally:
        database.dispose()
    typer.echo(f"{name} deactivated; their sessions were ended")


@app.command()
def activate(name: Name) -> None:
    """Reactivate a deactivated user."""
    from inoplan.services.auth import set_active

    database = _database()
    try:
        set_active(database, name, True, actor="cli")
    finally:
        database.dispose()
    typer.echo(f"{name} reactivated")


@app.command()
def unlock(name: Name) -> None:
    """Clear a user's failed-login counter (they may try again at once)."""
    from inoplan.services.auth import unlock as unlock_user

    database = _database()
    try:
        unlock_user(database, database.throttle, name, actor="cli")
    finally:
        database.dispose()
    typer.echo(f"{name} may log in again")
