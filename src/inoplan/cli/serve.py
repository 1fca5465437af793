"""``inoplan serve``: run the service (REST API, CDS Hooks, web UI) with Uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo", help="Seed demo courses and an admin user if the database is empty."
        ),
    ] = False,
    workers: Annotated[
        int, typer.Option(help="Worker processes (use PostgreSQL when more than 1).")
    ] = 1,
) -> None:
    """Start the service; migrations run first. Open http://HOST:PORT/ (API docs at /docs)."""
    import logging

    import uvicorn

    from inoplan.bootstrap import Database
    from inoplan.config import get_settings

    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per start is enough
    if workers > 1 and settings.is_sqlite:
        from inoplan.errors import InvalidInput

        raise InvalidInput("workers", "several workers need PostgreSQL (INOPLAN_DATABASE_URL)")
    database = Database(settings)
    database.upgrade()
    if demo or settings.demo:
        from inoplan.demo import seed_demo

        report = seed_demo(database, settings=settings)
        for line in report:
            typer.echo(line)
    database.dispose()
    typer.echo(f"inoplan serving on http://{host}:{port}/ (API: http://{host}:{port}/docs)")
    if workers > 1:
        uvicorn.run(
            "inoplan.api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level.lower(),
        )
        return
    from inoplan.api import create_app

    uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level.lower())
