"""Web UI for the clinic: server-rendered pages (Jinja2), plain HTML forms, PDFs and SVG plots.

Mounted by the application factory with one line: ``app.include_router(web.router)``. The
pages reuse the records services (users, permissions, courses, events, audit); nothing here
stores data of its own. Importing this package imports FastAPI, so ``import inoplan`` never
imports it.
"""

from __future__ import annotations

from inoplan.web import results_queue
from inoplan.web.routes import router

router.include_router(results_queue.router)  # "Results to review" (result feeds, issue 16)

__all__ = ["router"]
