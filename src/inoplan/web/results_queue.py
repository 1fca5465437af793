"""Web page "Results to review": result messages (HL7 v2, FHIR) that could not be recorded.

Each parked message is listed with why (the problems found), what it carried (codes, values,
record numbers) and what can be done: **assign** it to a course (only when the problem was the
patient or course match; the person says why, and the assignment is audited), **retry** it
(after the site's code table or the courses changed) or **discard** it with a reason. Every
action needs the ``event.labs`` permission (those who record laboratory results), uses the
CSRF-checked post/redirect/get of the other forms and leaves an audit record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from inoplan.errors import Conflict, InvalidInput, NotFound
from inoplan.services.auth import Principal, can
from inoplan.services.common import ascii_int
from inoplan.web import routes as web

__all__ = ["ACTION", "router"]

router = APIRouter(include_in_schema=False)

#: Who may see and resolve parked results: those who may record laboratory results.
ACTION = "event.labs"
_SHOW = {"open": ("parked", "rejected"), "done": ("resolved", "discarded", "applied", "ignored")}


def _forbidden(request: Request, session: Any, principal: Principal) -> Response:
    return web._error(
        request,
        session,
        principal,
        403,
        "Not permitted",
        f"Your role ({principal.role}) may not review laboratory results.",
    )


@router.get("/results", response_class=HTMLResponse)
def results_page(request: Request) -> Response:
    """Parked result messages with why, and the actions that resolve them."""
    from inoplan.services.results import MATCHING_PROBLEMS, list_messages

    auth = web._authenticated(request)
    if isinstance(auth, Response):
        return auth
    session, principal = auth
    if not can(principal.role, ACTION):
        return _forbidden(request, session, principal)
    show = request.query_params.get("show", "open")
    if show not in _SHOW:
        show = "open"
    page = list_messages(web._database(request), states=_SHOW[show], limit=100)
    done = request.query_params.get("done", "")
    return web._render(
        request,
        "results.html",
        {
            "messages": page.data,
            "count": page.count,
            "show": show,
            "matching": MATCHING_PROBLEMS,
            "done": done if done.replace("_", "").isalpha() else "",
        },
        session=session,
        principal=principal,
    )


async def _form(request: Request) -> Mapping[str, Any]:
    return await request.form()


@router.post("/results/{message_id}/{action}", response_class=HTMLResponse)
async def resolve(request: Request, message_id: int, action: str) -> Response:
    form = await _form(request)
    return await run_in_threadpool(_resolve, request, message_id, action, form)


def _resolve(request: Request, message_id: int, action: str, form: Mapping[str, Any]) -> Response:
    from inoplan.services import results

    checked = web._checked_form(request, form)
    if isinstance(checked, Response):
        return checked
    session, principal, form = checked
    if not can(principal.role, ACTION):
        return _forbidden(request, session, principal)
    database = web._database(request)
    try:
        if action == "assign":
            raw = str(form.get("course_id") or "").strip()
            target = ascii_int(raw)
            if target is None:
                raise InvalidInput("course_id", "the course number")
            outcome = results.assign(
                database,
                message_id,
                target,
                actor=principal.username,
                note=str(form.get("note") or ""),
                on=web._today(request),
                now=web._now(request),
                policy=web._policy(request),
            )
        elif action == "discard":
            outcome = results.discard(
                database, message_id, actor=principal.username, reason=str(form.get("reason") or "")
            )
        elif action == "retry":
            outcome = _retry(request, message_id, principal)
        else:
            return web._error(request, session, principal, 404, "Not found", "No such action.")
    except NotFound as exc:
        return web._error(request, session, principal, 404, "Not found", str(exc))
    except Conflict as exc:
        return web._error(request, session, principal, 409, "Already handled", str(exc))
    except InvalidInput as exc:
        return web._error(
            request,
            session,
            principal,
            422,
            "Not done",
            f"{exc.field}: {exc.message}. Nothing was changed.",
        )
    return RedirectResponse(f"/results?done={outcome.state}", status_code=303)


def _retry(request: Request, message_id: int, principal: Principal) -> Any:
    from inoplan.inbound import FeedContext, retry_message
    from inoplan.sitepolicy import load_results_policy

    ctx = FeedContext(
        database=web._database(request),
        today=lambda: web._today(request),
        now=lambda: web._now(request),
        results_policy=load_results_policy(web._settings(request).site_policy),
        site_policy=web._policy(request),
    )
    return retry_message(ctx, message_id, actor=principal.username)
