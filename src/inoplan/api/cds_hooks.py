"""CDS Hooks 2.0 endpoints and the FHIR R4 REST endpoints (thin: authenticate, call, render).

- ``GET /cds-services``: discovery (no patient data; open).
- ``POST /cds-services/{id}``: a hook call; bearer JWT from a trusted EHR required (401 with no
  cards otherwise); 412 with an OperationOutcome when required data can be had neither from
  prefetch nor from ``fhirServer``.
- ``POST /cds-services/{id}/feedback``: accepted/overridden cards into the audit trail.
- ``POST /api/v1/fhir/import``: FHIR Bundle -> course document (``?create=true`` stores it).
- ``GET /api/v1/courses/{id}/fhir``: the course, its plan and decision as a FHIR Bundle.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from inoplan import DISCLAIMER
from inoplan.api.deps import DatabaseDep, PolicyDep, permission
from inoplan.errors import InvalidInput
from inoplan.services.auth import Principal

__all__ = ["router"]

log = logging.getLogger("inoplan.cds")
router = APIRouter(tags=["cds-hooks", "fhir"])

FHIR_JSON = "application/fhir+json"
FETCH_TIMEOUT_S = 2.0
FETCH_BUDGET_S = 4.0
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Authorization",
}
_init_lock = threading.Lock()


# -- state ----------------------------------------------------------------------------------------


def _verifier(request: Request) -> Any:
    state = request.app.state
    verifier = getattr(state, "cds_verifier", None)
    if verifier is not None:
        return verifier
    with _init_lock:
        verifier = getattr(state, "cds_verifier", None)
        if verifier is None:
            from inoplan.interop.security import CdsTokenVerifier, load_issuers

            path = state.settings.cds_issuers
            issuers = load_issuers(path) if path is not None else []
            if not issuers:
                log.warning("no trusted CDS Hooks issuers configured: every call will get 401")
            verifier = CdsTokenVerifier(issuers, state.database.replay)
            state.cds_verifier = verifier
    return verifier


def _settings(request: Request) -> Any:
    from inoplan.interop.cds import CdsSettings

    existing = getattr(request.app.state, "cds_settings", None)
    if existing is not None:
        return existing
    return CdsSettings()


def _today(request: Request) -> dt.date:
    clock = getattr(request.app.state, "cds_today", None)
    if clock is not None:
        today: dt.date = clock()
        return today
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo(request.app.state.settings.clinic_timezone)).date()


def _audience(request: Request, service_id: str, suffix: str = "") -> str:
    """What ``aud`` must be: the service's URL under the configured public base URL
    (``INOPLAN_PUBLIC_URL``), never built from the Host or X-Forwarded-* headers."""
    from inoplan.interop.security import TokenRejected

    base = request.app.state.settings.public_url
    if not base:
        raise TokenRejected("INOPLAN_PUBLIC_URL is not set: no audience to check against")
    return f"{base}/cds-services/{service_id}{suffix}"


def _unauthorized() -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": "Not authenticated", "status": 401},
        status_code=401,
        media_type="application/problem+json",
        headers={"WWW-Authenticate": "Bearer", **_CORS},
    )


def _refused(exc: Any, service_id: str) -> None:
    # iss and jti only: never the token, never patient data. Both come from a token that failed
    # verification: escaped and cut, as structured fields (inoplan.logs escapes them again).
    from inoplan.logs import escape

    log.warning(
        "CDS call refused: %s",
        escape(exc.reason, 200),
        extra={
            "event": "cds.refused",
            "reason": escape(exc.reason, 200),
            "service": escape(service_id, 100),
            "iss": None if exc.iss is None else escape(exc.iss, 200),
            "jti": None if exc.jti is None else escape(exc.jti, 100),
        },
    )


def _authenticate(request: Request, service_id: str, suffix: str = "") -> dict[str, Any] | None:
    from inoplan.interop.security import TokenRejected

    header = request.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    try:
        if scheme.lower() != "bearer":
            raise TokenRejected("no bearer token")
        audience = _audience(request, service_id, suffix)
        claims: dict[str, Any] = _verifier(request).verify(token.strip(), audience)
        return claims
    except TokenRejected as exc:
        _refused(exc, service_id)
        return None


# -- discovery and hooks --------------------------------------------------------------------------


@router.get("/cds-services", summary="CDS Hooks discovery")
def cds_discovery() -> JSONResponse:
    from inoplan.interop.cds import discovery

    return JSONResponse(discovery(), headers=_CORS)


@router.options("/cds-services", include_in_schema=False)
@router.options("/cds-services/{service_id}", include_in_schema=False)
@router.options("/cds-services/{service_id}/feedback", include_in_schema=False)
def cds_preflight(service_id: str = "") -> Response:
    return Response(status_code=204, headers=_CORS)


_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["hook", "hookInstance", "context"],
                    "description": "A CDS Hooks 2.0 request (hook, hookInstance, fhirServer, "
                    "fhirAuthorization, context, prefetch).",
                }
            }
        },
    }
}


@router.post(
    "/cds-services/{service_id}", summary="CDS Hooks service call", openapi_extra=_REQUEST_BODY
)
async def cds_call(service_id: str, request: Request) -> Response:
    """Answer a hook: the raw body is read here, everything else runs in one worker thread
    (first-come first-served, so no connection starves while another's cards are computed)."""
    from starlette.concurrency import run_in_threadpool

    raw = await request.body()
    response: Response = await run_in_threadpool(_call, service_id, request, raw)
    return response


def _json(content: Any, status_code: int = 200) -> Response:
    """A hook's answer as JSON, serialised by orjson (several times faster than the stdlib's
    ``json`` for a card list; same bytes up to spacing; NaN never occurs in a card)."""
    import orjson

    return Response(
        orjson.dumps(content),
        status_code=status_code,
        media_type="application/json",
        headers=_CORS,
    )


def _count(service_id: str, outcome: str) -> None:
    from inoplan.api import metrics
    from inoplan.interop.cds import SERVICES

    service = SERVICES.get(service_id)
    metrics.CDS_CALLS.labels(service.hook if service else "unknown", outcome).inc()


def _call(service_id: str, request: Request, raw: bytes) -> Response:
    from pydantic import ValidationError

    from inoplan.interop.cds import SERVICES, CdsRequest

    if service_id not in SERVICES:
        return _json(_outcome("not-found", "no such CDS service"), 404)
    claims = _authenticate(request, service_id)  # includes the replay check, before any work
    if claims is None:
        _count(service_id, "refused")
        return _unauthorized()
    try:
        call = _request(CdsRequest, raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        _count(service_id, "invalid")
        return _json(_outcome("invalid", f"{where}: {first['msg']}"), 400)
    if SERVICES[service_id].hook != call.hook:
        _count(service_id, "invalid")
        return _json(
            _outcome("invalid", f"hook: this service answers {SERVICES[service_id].hook}"), 400
        )
    try:
        call.patient_id()  # a FHIR id or nothing: it goes into FHIR queries
    except InvalidInput as exc:
        _count(service_id, "invalid")
        return _json(_outcome("invalid", str(exc)), 400)
    return _answer(service_id, call, request, claims)


def _request(model: Any, raw: bytes) -> Any:
    """The hook request: the body parsed once by pydantic's own JSON reader (``jiter``: the
    numbers, strings and limits of ``model_validate_json``), then validated as Python data,
    about twice as fast as validating the JSON text (the prefetch is free-form FHIR JSON).
    Anything refused is refused again by ``model_validate_json``, so the caller's message
    speaks of JSON ("Input should be an object") as before."""
    from pydantic_core import from_json

    try:
        return model.model_validate(from_json(raw))
    except ValueError:  # not JSON, or a pydantic ValidationError (a ValueError)
        return model.model_validate_json(raw)  # raises with the JSON wording


def _answer(service_id: str, call: Any, request: Request, claims: Mapping[str, Any]) -> Response:
    from inoplan.interop.cds import PreconditionFailed, handle_call
    from inoplan.services.telemetry import decision_shown

    database = request.app.state.database
    settings = _with_link(_settings(request), request, database)
    fetch = _fetcher(request, call, claims)
    try:
        result = handle_call(
            service_id,
            call,
            today=_today(request),
            decide=_decide(request),
            fetch=fetch,
            settings=settings,
        )
    except PreconditionFailed as exc:
        _count(service_id, "incomplete")
        return _json(
            _outcome(
                "incomplete", "prefetch data missing and not fetchable: " + ", ".join(exc.missing)
            ),
            412,
        )
    finally:
        if fetch is not None:
            fetch.close()
    _count(service_id, "cards" if result.cards else "no_cards")
    if result.status:
        decision_shown(result.status, "cds")
    return _json({"cards": result.cards})


def _decide(request: Request) -> Any:
    memo = getattr(request.app.state, "cds_decision_memo", None)
    if memo is not None:
        return memo
    from inoplan.interop.memo import DecisionMemo

    policy = request.app.state.site_policy

    def decide(document: dict[str, Any], on: dt.date) -> Mapping[str, Any]:
        from inoplan.services.courses import decide_document

        if policy is None:
            return decide_document(document, on)
        return decide_document(document, on, policy=policy)

    memo = DecisionMemo(decide, salt=repr(policy))
    request.app.state.cds_decision_memo = memo
    return memo


_LINK_TTL_S = 60.0
_links: dict[tuple[str, str], tuple[float, str]] = {}


def _with_link(settings: Any, request: Request, database: Any) -> Any:
    import time
    from dataclasses import replace

    base = request.app.state.settings.public_url  # never the Host header
    if not base:
        return replace(settings, course_link=None)

    def course_link(patient_id: str) -> str | None:
        now = time.monotonic()
        cached = _links.get((base, patient_id))
        if cached is not None and now - cached[0] < _LINK_TTL_S:
            return cached[1]
        try:
            from inoplan.services import records

            rows = list(records.list_courses(database, limit=1, patient=patient_id).data)
        except Exception:
            rows = []
        url = f"{base}/courses/{getattr(rows[0], 'id', '')}" if rows else f"{base}/"
        if len(_links) > 10_000:
            _links.clear()
        _links[(base, patient_id)] = (now, url)
        return url

    return replace(settings, course_link=course_link)


class _Fetcher:
    """Reads from ``fhirServer`` with the EHR's token: parallel, short timeouts, one budget."""

    def __init__(self, server: str, token: str, transport: Any) -> None:
        import httpx

        self._base = server.rstrip("/") + "/"
        self._client = httpx.Client(
            base_url=self._base,
            headers={"Authorization": f"Bearer {token}", "Accept": FHIR_JSON},
            timeout=httpx.Timeout(FETCH_TIMEOUT_S, connect=1.0),
            follow_redirects=False,
            transport=transport,
        )
        self._pool = ThreadPoolExecutor(max_workers=6)
        self._futures: dict[str, Any] = {}

    def _get(self, path: str) -> Any:
        from urllib.parse import urlsplit

        target = urlsplit(path)
        if path.startswith("/") or "\\" in path or target.scheme or target.netloc:
            raise ValueError("a FHIR read must stay under the allow-listed base URL")
        response = self._client.get(path)
        if not str(response.request.url).startswith(self._base):
            raise ValueError("a FHIR read left the allow-listed base URL")
        response.raise_for_status()  # 3xx included: redirects are never followed
        return response.json()

    def start(self, path: str) -> None:
        if path not in self._futures:
            self._futures[path] = self._pool.submit(self._get, path)

    def __call__(self, path: str) -> Any:
        self.start(path)
        return self._futures[path].result(timeout=FETCH_BUDGET_S)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()


def _fetcher(request: Request, call: Any, claims: Mapping[str, Any]) -> _Fetcher | None:
    """A reader for ``fhirServer``, only if the calling issuer allow-lists that server (https):
    the EHR's access token is sent nowhere else."""
    from inoplan.logs import escape

    server, auth = call.fhirServer, call.fhirAuthorization
    if not server or auth is None or not auth.access_token:
        return None
    issuer = _verifier(request).issuer(claims.get("iss"))
    base = issuer.fhir_base(server) if issuer is not None else None
    if base is None:
        log.warning(
            "fhirServer not allow-listed for this issuer: not called, token not sent",
            extra={
                "event": "cds.fhir_server_refused",
                "iss": escape(claims.get("iss"), 200),
                "fhir_server": escape(server, 200),
            },
        )
        return None
    return _Fetcher(base, auth.access_token, getattr(request.app.state, "cds_http_transport", None))


@router.post("/cds-services/{service_id}/feedback", summary="CDS Hooks feedback")
def cds_feedback(
    service_id: str,
    request: Request,
    database: DatabaseDep,
    body: Annotated[dict[str, Any], Body()],
) -> JSONResponse:
    from pydantic import ValidationError

    from inoplan.interop.cds import SERVICES, Feedback
    from inoplan.services.audit import append_audit

    if service_id not in SERVICES:
        return JSONResponse(
            _outcome("not-found", f"no CDS service {service_id!r}"), status_code=404, headers=_CORS
        )
    claims = _authenticate(request, service_id, "/feedback")
    if claims is None:
        return _unauthorized()
    try:
        feedback = Feedback.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        return JSONResponse(
            _outcome("invalid", f"{where}: {first['msg']}"), status_code=400, headers=_CORS
        )
    for entry in feedback.feedback:
        if entry.outcome == "accepted" and not entry.acceptedSuggestions:
            return JSONResponse(
                _outcome("invalid", "acceptedSuggestions: required when accepted"),
                status_code=400,
                headers=_CORS,
            )
    with database(write=True) as uow:
        for entry in feedback.feedback:
            after: dict[str, Any] = {
                "service": service_id,
                "outcome": entry.outcome,
                "outcome_timestamp": entry.outcomeTimestamp,
            }
            if entry.acceptedSuggestions:
                after["accepted_suggestions"] = [
                    str(s.get("id")) for s in entry.acceptedSuggestions
                ]
            if entry.overrideReason is not None:
                reason = entry.overrideReason.reason or {}
                after["override_reason"] = {
                    key: str(reason[key])[:200]
                    for key in ("system", "code", "display")
                    if key in reason
                }
                if entry.overrideReason.userComment:
                    after["override_comment"] = entry.overrideReason.userComment[:500]
            if claims.get("tenant"):
                after["tenant"] = str(claims["tenant"])[:200]
            append_audit(
                uow,
                actor=f"cds:{claims['iss']}",
                action="cds.feedback",
                entity="card",
                entity_id=entry.card[:200],
                after=after,
            )
        uow.commit()
    return JSONResponse({}, headers=_CORS)


def _outcome(code: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}],
    }


# -- FHIR REST ------------------------------------------------------------------------------------


@router.post("/api/v1/fhir/import", summary="FHIR Bundle -> course document")
def fhir_import(
    database: DatabaseDep,
    policy: PolicyDep,
    request: Request,
    principal: Annotated[Principal, Depends(permission("course.read"))],
    bundle: Annotated[dict[str, Any], Body()],
    create: Annotated[
        bool, Query(description="Also store the course (needs course.create)")
    ] = False,
    label: Annotated[str, Query(description="Knowledge base when the Bundle names none")] = "us",
    start_date: Annotated[dt.date | None, Query(description="Planned cycle 1 day 1")] = None,
) -> JSONResponse:
    """The course document of a FHIR Bundle; with ``create`` also stored (the write-time guards
    of ``POST /courses`` apply). A value refused as implausible names the FHIR resource."""
    from inoplan.api.routes.courses import checked_date, clinic_now
    from inoplan.interop.fhir_in import bundle_to_document, validate_import
    from inoplan.services import records
    from inoplan.services.auth import require

    if bundle.get("resourceType") != "Bundle":
        raise InvalidInput("resourceType", "expected a FHIR Bundle")
    if create:
        require(principal, "course.create")
    result = bundle_to_document(
        bundle, label=label, start_date=checked_date(start_date, "start_date")
    )
    validate_import(result)  # InvalidInput (422) names the resource or the field
    body: dict[str, Any] = {
        "document": result.document,
        "notes": result.notes,
        "disclaimer": DISCLAIMER,
    }
    if not create:
        return JSONResponse(body)
    ref = records.create_course(
        database,
        result.document,
        actor=principal.username,
        role=principal.role,
        now=clinic_now(request),
        policy=policy,
    )
    body.update({"id": ref.id, "version": ref.version})
    return JSONResponse(body, status_code=201, headers={"Location": f"/api/v1/courses/{ref.id}"})


@router.get("/api/v1/courses/{course_id}/fhir", summary="The course as a FHIR R4 Bundle")
def fhir_export(
    course_id: Annotated[int, Path(ge=1, le=2**53 - 1, description="Course id")],
    request: Request,
    database: DatabaseDep,
    policy: PolicyDep,
    principal: Annotated[Principal, Depends(permission("course.read"))],
    on: Annotated[dt.date | None, Query(description="Decision date (default: today)")] = None,
) -> JSONResponse:
    from inoplan.api.routes.courses import checked_date
    from inoplan.interop.fhir_out import export_bundle
    from inoplan.services import records

    day = checked_date(on, "on") or _today(request)
    document = records.export_document(database, course_id)
    plan = records.plan_course(database, course_id, on=day, policy=policy)  # the decision's date
    decision = records.show_decision(
        database, course_id, day, actor=principal.username, policy=policy
    )
    bundle = export_bundle(
        document,
        plan=plan,
        decision=_plain(decision),
        course_id=course_id,
        timezone=request.app.state.settings.clinic_timezone,
    )
    return JSONResponse(bundle, media_type=FHIR_JSON)


def _plain(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(value)
