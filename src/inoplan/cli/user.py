"""``inoplan user``: add and list users (password from standard input, never an argument)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

app = typer.Typer(help="Users and roles.", no_args_is_help=True)


def _read_password() -> str:
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat: ") != first:
            from inoplan.errors import InvalidInput

            raise InvalidInput("password", "the two entries differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


@app.command()
def add(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, . _ @ -).")],
    role: Annotated[str, typer.Option(help="admin | prescriber | pharmacist | nurse | viewer")],
) -> None:
    """Add a user; the password is read from standard input (first line)."""
    from inoplan.bootstrap import get_database
    from inoplan.services.auth import ROLES, add_user

    if role not in ROLES:  # check before asking for the password
        from inoplan.errors import InvalidInput

        raise InvalidInput("role", f"unknown role {role!r}; one of {', '.join(ROLES)}")
    password = _read_password()
    database = get_database()
    database.upgrade()
    user = add_user(database, name, password, role, actor="cli")
    typer.echo(f"user {user.username} added with role {user.role}")
    database.dispose()


@app.command("list")
def list_(
    json_output: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """List users and their roles."""
    import json

    from inoplan.bootstrap import get_database
    from inoplan.services.auth import list_users

    database = get_database()
    database.upgrade()
    users = list_users(database)
    database.dispose()
    if json_output:
        rows = [{"username": u.username, "role": u.role, "active": u.active} for u in users]
        typer.echo(json.dumps(rows))
        return
    for u in users:
        typer.echo(f"{u.username}\t{u.role}\t{'active' if u.active else 'inactive'}")
