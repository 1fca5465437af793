"""``inoplan serve``: run the service (REST API, CDS Hooks, web UI) with Uvicorn.

This is the one command that starts the service, on a laptop, in the tests and in the
container (the Dockerfile's entry point is exactly ``inoplan serve``; everything else comes
from ``INOPLAN_*`` variables). Before the workers start, the parent process

* checks the settings (a weak or placeholder key stops production here) and the audit key
  (``INOPLAN_AUDIT_KEY`` or ``INOPLAN_AUDIT_KEY_FILE``; required in production; in development
  kept in the instance folder as ``audit_key``, mode 0600, shared by every worker);
* in development without ``INOPLAN_SECRET_KEY``, takes the key kept in the instance folder
  (``INOPLAN_INSTANCE_PATH``, default ``./instance``; created with mode 0600 on first use) and
  hands it to every worker, so all workers sign with one key and a restart keeps sessions;
* runs the migrations (under a lock) and, with ``--demo``, seeds the demo data;
* gives the workers a fresh shared folder for Prometheus metrics.
"""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on [INOPLAN_HOST, 127.0.0.1].")
    ] = None,
    port: Annotated[int | None, typer.Option(help="TCP port [INOPLAN_PORT, 8000].")] = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo", help="Seed demo courses and an admin user if the database is empty."
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(help="Worker processes, PostgreSQL when more than 1 [INOPLAN_WORKERS, 1]."),
    ] = None,
    ssl_certfile: Annotated[
        str | None, typer.Option(help="Serve HTTPS with this certificate (PEM).")
    ] = None,
    ssl_keyfile: Annotated[str | None, typer.Option(help="Private key of --ssl-certfile.")] = None,
) -> None:
    """Start the service; migrations run first. Open http://HOST:PORT/ (API docs at /docs)."""
    import atexit
    import logging.config
    import os
    import shutil
    import tempfile

    import uvicorn

    from inoplan.bootstrap import Database
    from inoplan.config import get_settings, instance_secret
    from inoplan.errors import InvalidInput
    from inoplan.logs import logging_config

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    workers = workers or settings.workers
    log_config = logging_config(settings.log_level, settings.log_format)
    logging.config.dictConfig(log_config)
    log = logging.getLogger("inoplan.serve")
    if workers > 1 and settings.is_sqlite:
        raise InvalidInput("workers", "several workers need PostgreSQL (INOPLAN_DATABASE_URL)")
    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise InvalidInput("ssl", "give both --ssl-certfile and --ssl-keyfile")
    if settings.secret_is_ephemeral:  # development without a key: one kept key for all workers
        try:
            os.environ["INOPLAN_SECRET_KEY"] = instance_secret(settings.instance_path)
        except (OSError, ValueError) as exc:
            if workers > 1:
                raise InvalidInput(
                    "INOPLAN_SECRET_KEY",
                    f"several workers need one key: set INOPLAN_SECRET_KEY ({exc})",
                ) from None
            log.warning("no key kept (%s): sessions end when the process stops", exc)
            os.environ["INOPLAN_SECRET_KEY"] = settings.secret
        get_settings.cache_clear()
        settings = get_settings()
    database = Database(settings)
    try:
        database.audit_key()  # refuse to start without one: no write could be audited
    except InvalidInput:
        database.dispose()
        raise
    database.upgrade()
    if demo or settings.demo:
        from inoplan.demo import seed_demo

        report = seed_demo(database, settings=settings)
        for line in report:
            typer.echo(line)
    database.dispose()
    metrics_dir = tempfile.mkdtemp(prefix="inoplan-metrics-")
    atexit.register(shutil.rmtree, metrics_dir, ignore_errors=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    scheme = "https" if ssl_certfile else "http"
    typer.echo(f"inoplan serving on {scheme}://{host}:{port}/ (API: {scheme}://{host}:{port}/docs)")
    uvicorn.run(
        "inoplan.api.app:create_served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config,
        access_log=False,  # the service writes its own, with route templates only
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips or "",
        server_header=False,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )
