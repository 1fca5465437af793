"""One ASGI middleware around the whole service (API, CDS Hooks, web UI).

For every HTTP request it

* refuses a body larger than ``INOPLAN_MAX_BODY_BYTES`` with ``413`` (a problem document):
  at once when ``Content-Length`` says so, and while reading when a chunked body grows past
  the limit, before the route has it all in memory;
* adds ``Cache-Control: no-store`` to every response that does not set its own caching (only
  the web UI's static assets do): pages, API answers, cards and files about patients are never
  kept by a browser or a shared cache; ``X-Content-Type-Options: nosniff`` everywhere;
* adds ``Strict-Transport-Security`` when the request came over TLS (``https``: directly,
  or through a proxy listed in ``INOPLAN_FORWARDED_ALLOW_IPS``) or the configured
  ``INOPLAN_PUBLIC_URL`` is ``https`` (browsers ignore the header on plain HTTP);
* writes one access-log line (logger ``inoplan.access``) with the method, the route
  *template* (``/api/v1/courses/{course_id}``, never the path as sent, never the query
  string), the status, the duration and the client address, and observes the request in the
  Prometheus histogram. So no identifier a caller put in a URL reaches the log.

A hand-written middleware rather than Starlette's ``RequestBodyLimitMiddleware``: the limit's
answer must be a problem document like every other error, and the same pass sets the headers
and the access log.
"""

from __future__ import annotations

import json
import logging
from time import perf_counter
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HSTS", "ServiceGuard", "route_template"]

access_log = logging.getLogger("inoplan.access")

HSTS = "max-age=31536000; includeSubDomains"


class _TooLarge(HTTPException):
    """Raised while the body is read: an HTTPException, so the framework passes it on (it does
    not turn it into "error parsing the body") and answers 413 with a problem document."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"the body may be at most {limit} bytes")


def route_template(scope: Scope) -> str:
    """The matched route's full template (``/api/v1/courses/{course_id}``), or ``unmatched``;
    never the path as sent.

    A route included with a prefix may report its template without the prefix; the prefix is
    then the literal part of the request path before the segments the template matched.
    """
    route = scope.get("route")
    template = getattr(route, "path", None)
    if not isinstance(template, str) or not template.startswith("/"):
        return "unmatched"
    path = scope.get("path")
    segments = template.count("/")
    if ":path}" in template or not isinstance(path, str) or path.count("/") <= segments:
        return template
    prefix = "/".join(path.split("/")[: path.count("/") - segments + 1])
    return prefix + template


def _problem(status: int, title: str, detail: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    body = json.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": detail}
    ).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
        (b"connection", b"close"),
    ]
    return body, headers


class ServiceGuard:
    """Body limit, no-store, nosniff, HSTS, access log and request metrics."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, public_https: bool) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.public_https = public_https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        state: dict[str, Any] = {"status": 500, "started": False}
        limit = self.max_body_bytes
        https = scope.get("scheme") == "https" or self.public_https

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["started"] = True
                headers = MutableHeaders(scope=message)
                if "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if https:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        async def refuse(status: int, title: str, detail: str) -> None:
            body, headers = _problem(status, title, detail)
            await send_with_headers(
                {"type": "http.response.start", "status": status, "headers": headers}
            )
            await send({"type": "http.response.body", "body": body})

        try:
            declared = Headers(scope=scope).get("content-length")
            if declared is not None:
                try:
                    length = int(declared)
                except ValueError:
                    length = -1
                if length < 0:
                    await refuse(400, "Bad request", "Content-Length is not a number")
                    return
                if length > limit:
                    await refuse(413, "Content too large", f"the body may be at most {limit} bytes")
                    return
            received = 0

            async def receive_with_limit() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise _TooLarge(limit)
                return message

            try:
                await self.app(scope, receive_with_limit, send_with_headers)
            except _TooLarge:
                if state["started"]:
                    raise
                await refuse(413, "Content too large", f"the body may be at most {limit} bytes")
        finally:
            elapsed = perf_counter() - started
            route = route_template(scope)
            client = scope.get("client")
            access_log.info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "route": route,
                    "status": state["status"],
                    "duration_ms": round(elapsed * 1000, 1),
                    "client": client[0] if client else None,
                },
            )
            from inoplan.api import metrics

            metrics.observe_request(str(scope.get("method")), route, int(state["status"]), elapsed)
