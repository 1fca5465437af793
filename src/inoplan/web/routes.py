"""Web UI routes: login, today's list, the course page, its forms, worksheet, handout, calendar.

Thin: each route reads the session, calls one view builder or service and renders. Forms use
post/redirect/get; every POST checks the CSRF token and the role (the API's permission matrix);
a write carries the course version it was based on (hidden field ``version`` or an ``If-Match``
header) and a stale version gets 409 with nothing written.

"Today" is the clinic's date (``INOPLAN_CLINIC_TIMEZONE``); tests and demonstrations may pin a
clock with ``app.state.web_clock`` (a callable returning an aware ``datetime``), and any page
accepts ``?on=YYYY-MM-DD`` to look at another day.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from importlib import resources
from time import perf_counter, thread_time
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from inoplan import DISCLAIMER, __version__
from inoplan.errors import CdsError, Conflict, InvalidInput, NotFound
from inoplan.services.auth import (
    Forbidden,
    Principal,
    Unauthenticated,
    can,
    event_action,
    issue_token,
    principal_from_token,
)
from inoplan.services.common import ascii_int
from inoplan.web.session import COOKIE_NAME, SessionData, new_session, read_session, write_session

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
_STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}


# -- plumbing --------------------------------------------------------------------------------


@functools.cache
def _templates() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("inoplan.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(DISCLAIMER=DISCLAIMER, VERSION=__version__)
    from inoplan.web import filters

    env.filters.update(filters.FILTERS)
    env.globals.update(filters.GLOBALS)
    return env


def _settings(request: Request) -> Any:
    return request.app.state.settings


def _database(request: Request) -> Any:
    return request.app.state.database


def _policy(request: Request) -> Any:
    return getattr(request.app.state, "site_policy", None)


def _today(request: Request) -> date:
    clock = getattr(request.app.state, "web_clock", None)
    if clock is not None:
        return clock().date()  # type: ignore[no-any-return]
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(_settings(request).clinic_timezone)).date()


def _now(request: Request) -> datetime:
    """Now on the clinic's clock (pinned by ``app.state.web_clock`` in tests and demos)."""
    clock = getattr(request.app.state, "web_clock", None)
    if clock is not None:
        return clock()  # type: ignore[no-any-return]
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(_settings(request).clinic_timezone))


def _on(request: Request) -> date:
    """``?on=YYYY-MM-DD`` inside the accepted window (else InvalidInput: a 422 page)."""
    from inoplan.document.plausibility import check_date

    raw = request.query_params.get("on")
    if not raw:
        return _today(request)
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput("on", "a date as YYYY-MM-DD") from None
    return check_date(day, "on")


def _session(request: Request) -> SessionData | None:
    settings = _settings(request)
    return read_session(
        request.cookies.get(COOKIE_NAME),
        secret=settings.secret,
        max_age_s=settings.token_minutes * 60,
    )


def _principal(request: Request, session: SessionData | None) -> Principal | None:
    if session is None or session.token is None:
        return None
    try:
        return principal_from_token(
            _database(request), session.token, secret=_settings(request).secret
        )
    except Unauthenticated:
        return None


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or _settings(request).environment == "production"


def _set_cookie(request: Request, response: Response, session: SessionData) -> None:
    settings = _settings(request)
    response.set_cookie(
        COOKIE_NAME,
        write_session(session, secret=settings.secret),
        max_age=settings.token_minutes * 60,
        httponly=True,
        samesite="lax",  # Strict would drop the session on links from an EHR; POSTs need CSRF
        secure=_secure(request),
        path="/",
    )


def _headers(response: Response) -> Response:
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _render(
    request: Request,  # request.state.web_started: (perf_counter, thread_time) at the start
    template: str,
    context: Mapping[str, Any],
    *,
    session: SessionData,
    principal: Principal | None,
    status_code: int = 200,
    set_cookie: bool = False,
) -> HTMLResponse:
    html = (
        _templates()
        .get_template(template)
        .render(
            **context,
            csrf_token=session.csrf,
            principal=principal,
            can=(lambda action: principal is not None and can(principal.role, action)),
            path=request.url.path,
        )
    )
    response = HTMLResponse(html, status_code=status_code)
    started = getattr(request.state, "web_started", None)
    if started is not None:  # time spent in the route (wall, and CPU of its thread)
        wall, cpu = perf_counter() - started[0], thread_time() - started[1]
        response.headers["Server-Timing"] = f"app;dur={wall * 1000:.1f}, cpu;dur={cpu * 1000:.1f}"
    if set_cookie:
        _set_cookie(request, response, session)
    return _headers(response)  # type: ignore[return-value]


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def _safe_next(value: object) -> str:
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or urlsplit(value).netloc:
        return "/"
    return value


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host")


def _error(
    request: Request,
    session: SessionData,
    principal: Principal | None,
    status_code: int,
    title: str,
    message: str,
) -> HTMLResponse:
    return _render(
        request,
        "error.html",
        {"title": title, "message": message, "status_code": status_code},
        session=session,
        principal=principal,
        status_code=status_code,
    )


def _authenticated(request: Request) -> tuple[SessionData, Principal] | RedirectResponse:
    session = _session(request)
    principal = _principal(request, session)
    if session is None or principal is None:
        return _login_redirect(request)
    return session, principal


def _checked_form(
    request: Request, form: Mapping[str, Any]
) -> tuple[SessionData, Principal, Mapping[str, Any]] | Response:
    """A logged-in POST with a valid CSRF token (else the response to send)."""
    session = _session(request)
    principal = _principal(request, session)
    if session is None or principal is None:
        return RedirectResponse("/login", status_code=303)
    if not _same_origin(request) or not session.csrf_matches(form.get("csrf_token")):
        return _error(
            request,
            session,
            principal,
            403,
            "Form expired",
            "The form's security token did not match (it may have expired). "
            "Nothing was saved. Reload the page and enter the data again.",
        )
    return session, principal, form


# -- login -----------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    """The login form."""
    session = _session(request)
    if _principal(request, session) is not None:
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    fresh = session is None
    session = session or new_session()
    return _render(
        request,
        "login.html",
        {"next": _safe_next(request.query_params.get("next")), "error": "", "username": ""},
        session=session,
        principal=None,
        set_cookie=fresh,
    )


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """Check the user name and password; start a session (new CSRF token).

    Throttled like the API (429 with ``Retry-After`` after repeated failures); the password
    hash runs off the event loop, a bounded number at a time (``inoplan.web.login``)."""
    from inoplan.services.auth import LoginAttempt, TooManyAttempts, issue_device_token
    from inoplan.web.login import DEVICE_COOKIE, attempt_login, client_address, device_of

    form = await request.form()
    session = _session(request)
    username = str(form.get("username") or "").strip()[:200]
    next_url = _safe_next(form.get("next"))
    if (
        session is None
        or not _same_origin(request)
        or not session.csrf_matches(form.get("csrf_token"))
    ):
        session = new_session()
        return _render(
            request,
            "login.html",
            {
                "next": next_url,
                "username": username,
                "error": "The login form expired. Please try again.",
            },
            session=session,
            principal=None,
            status_code=403,
            set_cookie=True,
        )
    device = device_of(request, username)
    attempt = LoginAttempt(
        username=username,
        password=str(form.get("password") or ""),
        address=client_address(request),
        device=device,
        channel="web",
    )
    try:
        user = await attempt_login(request, attempt)
    except TooManyAttempts as exc:
        response = _render(
            request,
            "login.html",
            {
                "next": next_url,
                "username": username,
                "error": f"Too many failed logins. Try again in {exc.retry_after_s} seconds.",
            },
            session=session,
            principal=None,
            status_code=429,
        )
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    except Unauthenticated:
        return _render(
            request,
            "login.html",
            {"next": next_url, "username": username, "error": "Wrong user name or password."},
            session=session,
            principal=None,
            status_code=401,
        )
    settings = _settings(request)
    token, _ = issue_token(user, secret=settings.secret, minutes=settings.token_minutes)
    redirect = RedirectResponse(next_url, status_code=303)
    _set_cookie(request, redirect, new_session(token))
    if device is None:  # mark this browser as one that logged in as this user
        from inoplan.services.auth import DEVICE_TOKEN_DAYS

        redirect.set_cookie(
            DEVICE_COOKIE,
            issue_device_token(user.username, secret=settings.secret),
            max_age=DEVICE_TOKEN_DAYS * 24 * 3600,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
            path="/login",
        )
    return redirect


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session: every session and bearer token of the user stops working at once."""
    form = await request.form()
    return await run_in_threadpool(_logout, request, form)


def _logout(request: Request, form: Mapping[str, Any]) -> Response:
    from inoplan.services.auth import end_sessions

    session = _session(request)
    principal = _principal(request, session)
    if session is not None and not session.csrf_matches(form.get("csrf_token")):
        return _error(
            request,
            session,
            principal,
            403,
            "Form expired",
            "This page was older than your session. Press Log out again.",
        )
    if principal is not None:
        end_sessions(_database(request), principal.username, actor=principal.username)
    response = RedirectResponse("/login", status_code=303)
    _set_cookie(request, response, new_session())
    return response


# -- today -----------------------------------------------------------------------------------


_SHOW_CHOICES = (
    "action",
    "give",
    "hold",
    "cannot_decide",
    "wait",
    "complete",
    "discontinue",
    "all",
)


@router.get("/", response_class=HTMLResponse)
def today(request: Request) -> Response:
    """Patients with a dose due, held or needing data today."""
    request.state.web_started = (perf_counter(), thread_time())
    auth = _authenticated(request)
    if isinstance(auth, Response):
        return auth
    session, principal = auth
    params = request.query_params
    return _today_page(
        request,
        session,
        principal,
        params.get("show"),
        params.get("on"),
        "",
        params.get("for"),
        params.get("page"),
    )


@router.post("/", response_class=HTMLResponse)
async def today_filtered(request: Request) -> Response:
    """The same list filtered by patient id: the filter form is posted, so the clinic's patient
    identifier never appears in a URL (access logs, proxies, browser history)."""
    form = await request.form()
    return await run_in_threadpool(_today_filtered, request, form)


def _today_filtered(request: Request, form: Mapping[str, Any]) -> Response:
    request.state.web_started = (perf_counter(), thread_time())
    checked = _checked_form(request, form)
    if isinstance(checked, Response):
        return checked
    session, principal, form = checked
    patient = str(form.get("patient") or "").strip()[:64]
    if patient:
        from inoplan.document.models import check_patient_id

        try:
            check_patient_id(patient)
        except ValueError as exc:
            return _error(request, session, principal, 422, "Invalid patient id", str(exc))
    return _today_page(
        request,
        session,
        principal,
        form.get("show"),
        form.get("on") or None,
        patient,
        form.get("for"),
        form.get("page"),
    )


#: The highest page number the Today list accepts (far above any clinic's list).
_MAX_PAGE = 100_000


def _today_page(
    request: Request,
    session: SessionData,
    principal: Principal,
    show: object,
    on_text: object,
    patient: str,
    role: object = None,
    page_text: object = None,
) -> Response:
    from inoplan.document.plausibility import check_date
    from inoplan.web.views import BADGE_TEXT, STATE_TEXT, WORKLIST_ROLES, today_view

    if show not in _SHOW_CHOICES:
        show = "action"
    page = 1
    if page_text:
        text = str(page_text).strip()
        number = ascii_int(text)
        if number is None or not 1 <= number <= _MAX_PAGE:
            return _error(
                request,
                session,
                principal,
                422,
                "Invalid page",
                f"page: a whole number from 1 to {_MAX_PAGE}",
            )
        page = number
    if on_text:
        try:
            on = check_date(date.fromisoformat(str(on_text)), "on")
        except InvalidInput as exc:
            return _error(request, session, principal, 422, "Invalid date", exc.message)
        except ValueError:
            return _error(request, session, principal, 422, "Invalid date", "a date as YYYY-MM-DD")
    else:
        on = _today(request)
    view = today_view(
        _database(request),
        principal,
        on,
        show=str(show),
        patient=patient,
        role=str(role) if role in WORKLIST_ROLES else "",
        policy=_policy(request),
        page=page,
        clinic=_now(request).tzinfo or UTC,
        today=_today(request),
    )
    return _render(
        request,
        "today.html",
        {
            **view,
            "status_text": BADGE_TEXT,
            "state_text": STATE_TEXT,
            "roles": WORKLIST_ROLES,
            "choices": _SHOW_CHOICES,
            "is_today": on == _today(request),
        },
        session=session,
        principal=principal,
    )


# -- course page -----------------------------------------------------------------------------


def _course_page(
    request: Request,
    session: SessionData,
    principal: Principal,
    course_id: int,
    on: date,
    *,
    status_code: int = 200,
    open_form: str = "",
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    banner: str = "",
) -> Response:
    from inoplan.web.views import (
        BADGE_TEXT,
        NEXT_STEP,
        PARAMETER_TEXT,
        STATE_TEXT,
        course_view,
    )

    try:
        view = course_view(
            _database(request),
            principal,
            course_id,
            on,
            policy=_policy(request),
            clinic=_now(request).tzinfo or UTC,
        )
    except NotFound as exc:
        return _error(request, session, principal, 404, "Not found", str(exc))
    recorded = request.query_params.get("recorded", "")
    return _render(
        request,
        "course.html",
        {
            "view": view,
            "status_text": BADGE_TEXT,
            "state_text": STATE_TEXT,
            "parameter_text": PARAMETER_TEXT,
            "next_step": NEXT_STEP,
            "open_form": open_form,
            "errors": dict(errors or {}),
            "values": dict(values or {}),
            "banner": banner,
            "recorded": recorded if recorded.replace("_", "").isalpha() else "",
            "is_today": on == _today(request),
            "on_query": "" if on == _today(request) else f"?on={on.isoformat()}",
        },
        session=session,
        principal=principal,
        status_code=status_code,
    )


# -- new patient and course ------------------------------------------------------------------


def _new_course_page(
    request: Request,
    session: SessionData,
    principal: Principal,
    *,
    values: Mapping[str, Any],
    errors: Mapping[str, str],
    status_code: int = 200,
    banner: str = "",
) -> Response:
    from inoplan.web.course_forms import NEW_COURSE, PATIENT_FIELDS

    return _render(
        request,
        "new_course.html",
        {
            "spec": NEW_COURSE,
            "patient_fields": [f for f in NEW_COURSE.fields if f.name in PATIENT_FIELDS],
            "course_fields": [f for f in NEW_COURSE.fields if f.name not in PATIENT_FIELDS],
            "values": dict(values),
            "errors": dict(errors),
            "banner": banner,
        },
        session=session,
        principal=principal,
        status_code=status_code,
    )


def _may_not_create(
    request: Request, session: SessionData, principal: Principal
) -> Response | None:
    if can(principal.role, "course.create"):
        return None
    return _error(
        request,
        session,
        principal,
        403,
        "Not permitted",
        f"Your role ({principal.role}) may not start a course: a prescriber does. "
        "Nothing was saved.",
    )


@router.get("/courses/new", response_class=HTMLResponse)
def new_course_page(request: Request) -> Response:
    """The form for a new patient and course (prescribers)."""
    auth = _authenticated(request)
    if isinstance(auth, Response):
        return auth
    session, principal = auth
    refused = _may_not_create(request, session, principal)
    if refused is not None:
        return refused
    today = _today(request).isoformat()
    return _new_course_page(
        request,
        session,
        principal,
        values={"measured_on": today, "plan.start_date": today},
        errors={},
    )


@router.post("/courses/new", response_class=HTMLResponse)
async def new_course(request: Request) -> Response:
    """Create the course through ``records.create_course`` (the API's path); errors come back
    next to the inputs with everything typed kept."""
    form = await request.form()
    return await run_in_threadpool(_new_course, request, form)


def _new_course(request: Request, form: Mapping[str, Any]) -> Response:
    from inoplan.services.records import create_course
    from inoplan.web.course_forms import course_field_for_error, new_course_document
    from inoplan.web.forms import FormError

    checked = _checked_form(request, form)
    if isinstance(checked, Response):
        return checked
    session, principal, form = checked
    refused = _may_not_create(request, session, principal)
    if refused is not None:
        return refused
    values = {k: v for k, v in form.items() if k != "csrf_token" and isinstance(v, str)}

    def again(status: int, errors: Mapping[str, str]) -> Response:
        return _new_course_page(
            request, session, principal, values=values, errors=errors, status_code=status
        )

    try:
        document = new_course_document(form)
    except FormError as exc:
        return again(422, exc.errors)
    try:
        ref = create_course(
            _database(request),
            document,
            actor=principal.username,
            role=principal.role,
            now=_now(request),
            policy=_policy(request),
        )
    except Forbidden as exc:
        return again(403, {"": f"Not permitted: {exc}. Nothing was saved."})
    except Conflict as exc:
        return again(409, {"patient.id": str(exc).removeprefix("patient.id: ")})
    except InvalidInput as exc:
        return again(422, {course_field_for_error(exc.field): exc.message})
    return RedirectResponse(f"/courses/{ref.id}?recorded=course#saved", status_code=303)


@router.get("/courses/{course_id}", response_class=HTMLResponse)
def course_page(request: Request, course_id: int) -> Response:
    """Decision for today, timeline, lab plots, forms and audit history of one course."""
    request.state.web_started = (perf_counter(), thread_time())
    auth = _authenticated(request)
    if isinstance(auth, Response):
        return auth
    session, principal = auth
    try:
        on = _on(request)
    except InvalidInput as exc:
        return _error(request, session, principal, 422, "Invalid date", exc.message)
    return _course_page(request, session, principal, course_id, on)


def _expected_version(request: Request, form: Mapping[str, Any]) -> int | None:
    raw = request.headers.get("if-match") or form.get("version")
    if not isinstance(raw, str):
        return None
    raw = raw.strip().strip('"').removeprefix("W/").strip('"')
    return ascii_int(raw)


@router.post("/courses/{course_id}/events/{event_type}", response_class=HTMLResponse)
async def record_event(request: Request, course_id: int, event_type: str) -> Response:
    """Record one event from a form (post/redirect/get); errors come back next to the field."""
    form = await request.form()
    return await run_in_threadpool(_record_event, request, course_id, event_type, form)


def _record_event(
    request: Request, course_id: int, event_type: str, form: Mapping[str, Any]
) -> Response:
    from inoplan.services.guards import authorize_event
    from inoplan.services.records import append_event
    from inoplan.web.forms import (
        FORMS,
        OVERRIDE_FIELDS,
        FormError,
        add_correction,
        field_for_error,
        lab_defaults,
        parse_event,
    )
    from inoplan.web.views import allowed_forms

    checked = _checked_form(request, form)
    if isinstance(checked, Response):
        return checked
    session, principal, form = checked
    if event_type not in FORMS:
        return _error(
            request, session, principal, 404, "Not found", f"There is no form for {event_type!r}."
        )
    from_override = event_type == "administration" and bool(form.get("override_form"))
    if event_type == "administration" and not from_override:
        return _error(
            request,
            session,
            principal,
            403,
            "Use the treatment-day workflow",
            "A dose is recorded by the treatment-day workflow's give step (release, pharmacist "
            "verification, preparation and administration, each with its second signer), in the "
            "Treatment days table. A dose given outside the workflow (elsewhere, or documented "
            "late) is recorded by a prescriber with the override form and a reason. Nothing was "
            "saved.",
        )
    permitted = (
        can(principal.role, "dose.override")
        if from_override
        else FORMS[event_type] in allowed_forms(principal)
    )
    if not permitted:
        action = "dose.override" if from_override else event_action(event_type)
        forbidden = Forbidden(principal.role, action)
        return _error(
            request,
            session,
            principal,
            403,
            "Not permitted",
            f"Your role ({principal.role}) may not record this: {forbidden}. Nothing was saved.",
        )
    try:
        on = _on(request)
    except InvalidInput:
        on = _today(request)
    values = {k: v for k, v in form.items() if k not in ("csrf_token",) and isinstance(v, str)}
    version = _expected_version(request, form)

    def again(status: int, errors: Mapping[str, str], banner: str = "") -> Response:
        return _course_page(
            request,
            session,
            principal,
            course_id,
            on,
            status_code=status,
            open_form="override" if from_override else event_type,
            errors=errors,
            values=values,
            banner=banner,
        )

    if version is None:
        return again(422, {"": "The course version is missing; reload the page."})
    try:
        event = parse_event(event_type, form, defaults=lab_defaults(_policy(request)))
        add_correction(event_type, event, form)
    except FormError as exc:
        return again(422, exc.errors)
    event = {"id": f"{event_type.replace('_', '-')}-{secrets.token_hex(4)}", **event}
    try:
        authorize_event(principal.role, event)
        append_event(
            _database(request),
            course_id,
            event,
            expected_version=version,
            actor=principal.username,
            role=principal.role,
            now=_now(request),
            policy=_policy(request),
        )
    except NotFound as exc:
        return _error(request, session, principal, 404, "Not found", str(exc))
    except Forbidden as exc:
        return again(403, {"": f"Not permitted: {exc}. Nothing was saved."})
    except Conflict as exc:
        return again(
            409,
            {},
            banner=f"Nothing was saved: {exc}. Your entries are kept below; "
            "check the updated course, then submit again.",
        )
    except InvalidInput as exc:
        where = field_for_error(event_type, exc.field)
        if where in OVERRIDE_FIELDS and not from_override:
            where = ""  # the routine form has no such field: the message goes above the form
        return again(422, {where: exc.message})
    target = f"/courses/{course_id}?recorded={event_type}"
    if request.query_params.get("on"):
        target += f"&on={on.isoformat()}"
    return RedirectResponse(target + "#saved", status_code=303)  # the banner, at the top


@router.post("/courses/{course_id}/days/{cycle}/{day}/appointment", response_class=HTMLResponse)
async def appointment(request: Request, course_id: int, cycle: int, day: int) -> Response:
    """Book (or cancel, ``cancel=1``) the time of a treatment day (services.appointments)."""
    form = await request.form()
    return await run_in_threadpool(_appointment, request, course_id, cycle, day, form)


def _appointment(
    request: Request, course_id: int, cycle: int, day: int, form: Mapping[str, Any]
) -> Response:
    from inoplan.services import appointments

    checked = _checked_form(request, form)
    if isinstance(checked, Response):
        return checked
    session, principal, form = checked
    now = _now(request)
    if not can(principal.role, "day.schedule"):
        return _error(
            request,
            session,
            principal,
            403,
            "Not permitted",
            f"Your role ({principal.role}) may not book treatment days. Nothing was saved.",
        )
    field_id = f"booking-{cycle}-{day}"
    values = {field_id: str(form.get("time") or "")}

    def again(status: int, message: str) -> Response:
        return _course_page(
            request,
            session,
            principal,
            course_id,
            now.date(),
            status_code=status,
            open_form="booking",
            errors={field_id: message},
            values=values,
        )

    database = _database(request)
    try:
        if str(form.get("cancel") or "") == "1":
            appointments.cancel(
                database,
                course_id,
                cycle,
                day,
                actor=principal.username,
                role=principal.role,
                now=now,
            )
        else:
            text = str(form.get("time") or "").strip()
            when = str(form.get("date") or "").strip()
            try:
                at = time.fromisoformat(text)
                on = date.fromisoformat(when)
            except ValueError:
                return again(422, "Enter the time as hours and minutes, e.g. 09:30.")
            appointments.book(
                database,
                course_id,
                cycle,
                day,
                datetime.combine(on, at.replace(second=0, microsecond=0), tzinfo=now.tzinfo or UTC),
                actor=principal.username,
                role=principal.role,
                now=now,
                note=str(form.get("note") or "") or None,
                expected_version=_int_or_none(form.get("booking_version")),
                policy=_policy(request),
            )
    except NotFound as exc:
        return _error(request, session, principal, 404, "Not found", str(exc))
    except Forbidden as exc:
        return again(403, f"Not permitted: {exc}. Nothing was saved.")
    except Conflict as exc:
        return again(409, f"Nothing was saved: {exc}.")
    except InvalidInput as exc:
        return again(422, f"{exc.message}. Nothing was saved.")
    return RedirectResponse(
        f"/courses/{course_id}?recorded=booking#day-{cycle}-{day}", status_code=303
    )


def _int_or_none(value: Any) -> int | None:
    return ascii_int(str(value or "").strip())


@router.post("/courses/{course_id}/days/{cycle}/{day}/{step}", response_class=HTMLResponse)
async def dose_step(request: Request, course_id: int, cycle: int, day: int, step: str) -> Response:
    """Move one dose a step on (release, verify, prepare, give, withdraw: services.workflow)."""
    form = await request.form()
    return await run_in_threadpool(_dose_step, request, course_id, cycle, day, step, form)


def _dose_step(
    request: Request,
    course_id: int,
    cycle: int,
    day: int,
    step: str,
    form: Mapping[str, Any],
) -> Response:
    from inoplan.errors import TooManyAttempts
    from inoplan.services import workflow
    from inoplan.web.forms import STEP_FORMS, FormError, parse_step
    from inoplan.web.login import client_address

    checked = _checked_form(request, form)
    if isinstance(checked, Response):
        return checked
    session, principal, form = checked
    if step not in STEP_FORMS:
        return _error(request, session, principal, 404, "Not found", f"There is no step {step!r}.")
    action = workflow.STEPS[step].action
    if not can(principal.role, action):
        return _error(
            request,
            session,
            principal,
            403,
            "Not permitted",
            f"Your role ({principal.role}) may not do this: {Forbidden(principal.role, action)}. "
            "Nothing was saved.",
        )
    now = _now(request)
    values = {
        k: v
        for k, v in form.items()
        if k not in ("csrf_token", "second_signer_password") and isinstance(v, str)
    }

    def again(status: int, errors: Mapping[str, str], banner: str = "") -> Response:
        return _course_page(
            request,
            session,
            principal,
            course_id,
            now.date(),
            status_code=status,
            open_form=step,
            errors=errors,
            values=values,
            banner=banner,
        )

    try:
        data = parse_step(step, form)
    except FormError as exc:
        return again(422, exc.errors)
    database = _database(request)
    common: dict[str, Any] = {"actor": principal.username, "role": principal.role, "now": now}
    signer = None
    if "second_signer" in data:
        signer = workflow.SecondSigner(
            username=str(data.pop("second_signer")),
            password=str(data.pop("second_signer_password", "")),
            address=client_address(request),
            channel="web",
        )
    try:
        if step == "release":
            workflow.release(
                database, course_id, cycle, day, policy=_policy(request), **common, **data
            )
        elif step == "verify":
            workflow.verify(
                database, course_id, cycle, day, policy=_policy(request), **common, **data
            )
        elif step == "prepare":
            workflow.prepare(
                database,
                course_id,
                cycle,
                day,
                second_signer=signer,
                throttle=database.throttle,
                policy=_policy(request),
                **common,
                **data,
            )
        elif step == "give":
            workflow.give(
                database,
                course_id,
                cycle,
                day,
                second_signer=signer,
                throttle=database.throttle,
                policy=_policy(request),
                **common,
                **data,
            )
        else:
            workflow.withdraw(database, course_id, cycle, day, **common, **data)
    except NotFound as exc:
        return _error(request, session, principal, 404, "Not found", str(exc))
    except Forbidden as exc:
        return again(403, {"": f"Not permitted: {exc}. Nothing was saved."})
    except TooManyAttempts as exc:
        response = again(
            429,
            {
                "second_signer_password": "too many wrong passwords for this account: try again "
                f"in {exc.retry_after_s} seconds. Nothing was saved."
            },
        )
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    except Conflict as exc:
        return again(409, {}, banner=f"Nothing was saved: {exc}.")
    except InvalidInput as exc:
        known = {f.name for f in STEP_FORMS[step].fields}
        return again(422, {exc.field if exc.field in known else "": exc.message})
    return RedirectResponse(f"/courses/{course_id}?recorded=step_{step}#roadmap", status_code=303)


@router.post("/courses/{course_id}/void", response_class=HTMLResponse)
async def void_event(request: Request, course_id: int) -> Response:
    """Withdraw one entry as entered in error (a ``void`` event; a reason is required)."""
    form = await request.form()
    return await run_in_threadpool(_void_event, request, course_id, form)


def _void_event(request: Request, course_id: int, form: Mapping[str, Any]) -> Response:
    from inoplan.services.records import append_event

    checked = _checked_form(request, form)
    if isinstance(checked, Response):
        return checked
    session, principal, form = checked
    target = str(form.get("supersedes") or "").strip()[:64]
    reason = str(form.get("reason") or "").strip()[:500]
    version = _expected_version(request, form)
    try:
        on = _on(request)
    except InvalidInput:
        on = _today(request)

    def again(status: int, banner: str) -> Response:
        return _course_page(
            request, session, principal, course_id, on, status_code=status, banner=banner
        )

    if not can(principal.role, "event.void"):
        return _error(
            request,
            session,
            principal,
            403,
            "Not permitted",
            f"Your role ({principal.role}) may not withdraw entries. Nothing was saved.",
        )
    if version is None or not target:
        return again(422, "Nothing was saved: the entry or the course version is missing.")
    if not reason:
        return again(
            422,
            f"Nothing was saved: withdrawing {target} needs a reason "
            "(why it was entered in error).",
        )
    event = {
        "id": f"void-{secrets.token_hex(4)}",
        "type": "void",
        "date": _now(request).date().isoformat(),
        "supersedes": target,
        "reason": reason,
    }
    try:
        append_event(
            _database(request),
            course_id,
            event,
            expected_version=version,
            actor=principal.username,
            role=principal.role,
            now=_now(request),
            policy=_policy(request),
        )
    except NotFound as exc:
        return _error(request, session, principal, 404, "Not found", str(exc))
    except Forbidden as exc:
        return again(403, f"Nothing was saved: {exc}.")
    except Conflict as exc:
        return again(409, f"Nothing was saved: {exc}.")
    except InvalidInput as exc:
        return again(422, f"Nothing was saved: {exc.message}")
    suffix = f"&on={on.isoformat()}" if request.query_params.get("on") else ""
    return RedirectResponse(f"/courses/{course_id}?recorded=void{suffix}#saved", status_code=303)


@router.post("/courses/{course_id}/acknowledge", response_class=HTMLResponse)
async def acknowledge(request: Request, course_id: int) -> Response:
    """A prescriber acknowledges the decision to discontinue (it then leaves the default list)."""
    form = await request.form()
    return await run_in_threadpool(_acknowledge, request, course_id, form)


def _acknowledge(request: Request, course_id: int, form: Mapping[str, Any]) -> Response:
    from inoplan.services.records import acknowledge_course

    checked = _checked_form(request, form)
    if isinstance(checked, Response):
        return checked
    session, principal, form = checked
    if not can(principal.role, "course.acknowledge"):
        return _error(
            request,
            session,
            principal,
            403,
            "Not permitted",
            f"Your role ({principal.role}) may not acknowledge a decision to discontinue; "
            "a prescriber does.",
        )
    try:
        on = _on(request)
    except InvalidInput as exc:
        return _error(request, session, principal, 422, "Invalid date", exc.message)
    note = str(form.get("note") or "").strip()[:500] or None
    try:
        acknowledge_course(
            _database(request),
            course_id,
            on,
            actor=principal.username,
            note=note,
            policy=_policy(request),
        )
    except NotFound as exc:
        return _error(request, session, principal, 404, "Not found", str(exc))
    except Conflict as exc:
        return _course_page(
            request,
            session,
            principal,
            course_id,
            on,
            status_code=409,
            banner=f"Nothing was acknowledged: {exc}.",
        )
    back = _safe_next(form.get("next"))
    if back == "/" and form.get("next") != "/":
        suffix = f"&on={on.isoformat()}" if request.query_params.get("on") else ""
        back = f"/courses/{course_id}?recorded=acknowledgement{suffix}#saved"
    return RedirectResponse(back, status_code=303)


# -- documents -------------------------------------------------------------------------------


def _document_error(
    request: Request, session: SessionData, principal: Principal, exc: CdsError
) -> Response:
    from inoplan.errors import NoDoseToPrepare

    if isinstance(exc, NotFound):
        return _error(request, session, principal, 404, "Not found", str(exc))
    if isinstance(exc, NoDoseToPrepare):
        return _error(request, session, principal, 409, "No dose to prepare", str(exc))
    if isinstance(exc, InvalidInput):
        return _error(request, session, principal, 422, "Cannot print", str(exc))
    raise exc


@router.get("/courses/{course_id}/worksheet.pdf")
def worksheet(request: Request, course_id: int) -> Response:
    """Preparation worksheet for the next dose (PDF)."""
    from inoplan.web.pdf import worksheet_pdf
    from inoplan.web.views import worksheet_view

    auth = _authenticated(request)
    if isinstance(auth, Response):
        return auth
    session, principal = auth
    prepared_at = None
    raw_time = request.query_params.get("prepared_at", "").strip()
    try:
        on = _on(request)
        if raw_time:
            try:
                prepared_at = time.fromisoformat(raw_time)
            except ValueError:
                raise InvalidInput("prepared_at", "a time as HH:MM") from None
        view = worksheet_view(
            _database(request),
            principal,
            course_id,
            on,
            prepared_at=prepared_at,
            policy=_policy(request),
        )
    except CdsError as exc:
        return _document_error(request, session, principal, exc)
    pdf = worksheet_pdf(view, generated_by=principal.username, generated_at=datetime.now(UTC))
    return _pdf(pdf, f"worksheet-course-{course_id}-{on.isoformat()}.pdf", request)


@router.get("/courses/{course_id}/handout.pdf")
def handout(request: Request, course_id: int) -> Response:
    """Patient handout in plain language (PDF)."""
    from inoplan.web.pdf import handout_pdf
    from inoplan.web.views import handout_view

    auth = _authenticated(request)
    if isinstance(auth, Response):
        return auth
    session, principal = auth
    try:
        on = _on(request)
        view = handout_view(_database(request), principal, course_id, on, policy=_policy(request))
    except CdsError as exc:
        return _document_error(request, session, principal, exc)
    return _pdf(handout_pdf(view), f"handout-course-{course_id}.pdf", request)


def _file(content: bytes | str, media_type: str, **headers: str) -> Response:
    """A generated file about a patient: never cached, never content-sniffed."""
    return Response(
        content,
        media_type=media_type,
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", **headers},
    )


def _pdf(content: bytes, filename: str, request: Request) -> Response:
    """A PDF, shown in the browser or (``?download=1``) saved as a file."""
    disposition = "attachment" if request.query_params.get("download") == "1" else "inline"
    return _file(
        content,
        "application/pdf",
        **{"Content-Disposition": f'{disposition}; filename="{filename}"'},
    )


@router.get("/courses/{course_id}/calendar.ics")
def calendar(request: Request, course_id: int) -> Response:
    """The appointments still to come as of ``?on`` (default the clinic's today), as iCalendar:
    the plan of that date, the one the decision of that date sees."""
    from inoplan.ical import calendar_key, plan_to_ics
    from inoplan.services.records import course_version, plan_course

    auth = _authenticated(request)
    if isinstance(auth, Response):
        return auth
    session, principal = auth
    try:
        version = course_version(_database(request), course_id)
        on = _on(request)  # ?on=YYYY-MM-DD, else the clinic's today: the decision's date
        plan = plan_course(_database(request), course_id, on=on, policy=_policy(request))
    except CdsError as exc:
        return _document_error(request, session, principal, exc)
    body = plan_to_ics(  # UIDs reveal nothing; SEQUENCE grows with the course version
        plan,
        generated_at=datetime.now(UTC),
        uid_key=calendar_key(_settings(request).secret),
        course_ref=f"course:{course_id}",
        sequence=version,
    )
    return _file(
        body,
        "text/calendar; charset=utf-8",
        **{"Content-Disposition": f'attachment; filename="course-{course_id}.ics"'},
    )


@router.get("/courses/{course_id}/exposure.svg")
def exposure_plot(request: Request, course_id: int) -> Response:
    """The simulated concentration plot (exposure service), or an SVG saying why there is none."""
    from html import escape

    from inoplan.web.views import exposure_svg

    auth = _authenticated(request)
    if isinstance(auth, Response):
        return auth
    session, principal = auth
    try:
        svg = exposure_svg(_database(request), course_id, policy=_policy(request))
    except NotFound as exc:
        return _error(request, session, principal, 404, "Not found", str(exc))
    except LookupError as exc:
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 640 60" role="img">'
            '<text x="10" y="34" font-family="sans-serif" font-size="14" fill="#333">'
            f"No exposure plot: {escape(str(exc))[:160]}</text></svg>"
        )
    return _file(
        svg,
        "image/svg+xml",
        **{"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
    )


# -- static files ----------------------------------------------------------------------------


@router.get("/assets/{name}")
def asset(name: str) -> Response:
    """Vendored static files of the web UI (CSS), served from the package."""
    suffix = "." + name.rpartition(".")[2]
    if "/" in name or "\\" in name or name.startswith(".") or suffix not in _STATIC_TYPES:
        return Response("not found", status_code=404, media_type="text/plain")
    source = resources.files("inoplan.web") / "static" / name
    if not source.is_file():
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(
        source.read_bytes(),
        media_type=_STATIC_TYPES[suffix],
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
