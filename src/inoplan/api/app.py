"""The application factory: ``create_app(settings)`` builds one ASGI app (API, CDS Hooks, web).

No global state besides ``app.state``: the settings, the database and the site policy.
``create_served_app()`` is what ``inoplan serve`` starts (in every worker): the same app from
the environment's settings, with the service's JSON logging.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from inoplan import DISCLAIMER, __version__
from inoplan.bootstrap import Database
from inoplan.config import Settings, get_settings

__all__ = ["create_app", "create_served_app"]

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


def _operation_id(route: APIRoute) -> str:
    return route.name


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    migrate: bool = True,
) -> FastAPI:
    """Build the application. Migrations run when it starts (``migrate=False`` to skip)."""
    from inoplan.api import metrics, openapi, problems
    from inoplan.api.routes import (
        appointments,
        audit,
        auth,
        courses,
        health,
        patients,
        today,
        users,
        vocabulary,
        workflow,
    )

    metrics.listen()  # count decisions and logins from the first request on
    settings = settings or get_settings()
    database = database or Database(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            database.upgrade()
        yield
        database.dispose()

    app = FastAPI(
        title="inoplan",
        version=__version__,
        description=(
            "Clinical decision support for inotuzumab ozogamicin (BESPONSA): courses, events, "
            "plans, decisions and their audit trail. " + DISCLAIMER
        ),
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        docs_url=None,  # /docs is served from vendored files (inoplan.api.docs): no CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.site_policy = _site_policy(settings)

    problems.install(app)
    app.include_router(health.router)
    app.include_router(auth.router, prefix=API_PREFIX)
    app.include_router(courses.router, prefix=API_PREFIX)
    app.include_router(workflow.router, prefix=API_PREFIX)
    app.include_router(appointments.router, prefix=API_PREFIX)
    app.include_router(today.router, prefix=API_PREFIX)
    app.include_router(patients.router, prefix=API_PREFIX)
    app.include_router(audit.router, prefix=API_PREFIX)
    app.include_router(users.router, prefix=API_PREFIX)
    app.include_router(vocabulary.router, prefix=API_PREFIX)

    # -- other adapters mount here (one line each) ---------------------------------------------
    # CDS Hooks and FHIR (inoplan.api.cds_hooks):  app.include_router(cds_hooks.router)
    from inoplan.api import cds_hooks

    app.include_router(cds_hooks.router)
    # API documentation (Swagger UI, vendored):      app.include_router(docs.router)
    from inoplan.api import docs

    app.include_router(docs.router)
    # Web UI (inoplan.web):                         app.include_router(web.router)
    from inoplan import web

    app.include_router(web.router)
    # -----------------------------------------------------------------------------------------

    openapi.install(app)
    from inoplan.api.middleware import ServiceGuard

    app.add_middleware(
        ServiceGuard,
        max_body_bytes=settings.max_body_bytes,
        public_https=bool(settings.public_url and settings.public_url.startswith("https://")),
    )
    return app


def create_served_app() -> FastAPI:
    """The app for ``inoplan serve`` workers: settings from the environment (migrations were
    run by the parent process before the workers started)."""
    return create_app(get_settings(), migrate=False)


def _site_policy(settings: Settings) -> Any:
    if settings.site_policy is None:
        return None
    from inoplan.sitepolicy import load_site_policy

    return load_site_policy(settings.site_policy)
