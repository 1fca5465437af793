"""``inoplan db``: database schema commands (migrations ship inside the package)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Database: run migrations, show the schema revision.", no_args_is_help=True)


@app.command()
def upgrade() -> None:
    """Bring the database (INOPLAN_DATABASE_URL) to the newest schema revision."""
    from inoplan.bootstrap import get_database

    database = get_database()
    revision = database.upgrade()
    typer.echo(f"database at revision {revision}")
    database.dispose()


@app.command()
def current() -> None:
    """Print the database's schema revision (empty when not migrated)."""
    from inoplan.bootstrap import get_database

    database = get_database()
    typer.echo(database.current_revision() or "(none)")
    database.dispose()
