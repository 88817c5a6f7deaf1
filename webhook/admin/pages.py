"""The admin pages: the job retry dashboard (/admin/jobs) and the texts sent (/admin/messages).

Server-rendered with aiohttp-jinja2 (autoescaped), plain HTML forms, no JavaScript. Signing in, sessions,
CSRF and the wrong-token limit are in auth.py. With ADMIN_TOKEN unset no page is added: every one is a 404.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import get_session

from adapters.dead_letters import DeadLetters
from domain.jobs import JOBS, QUEUES
from domain.model import mask_phone
from store.outbox import backlog_total

from ..keys import CLOCK, SETTINGS, STORE
from . import auth
from .api import outcome_of

TEMPLATES = Path(__file__).resolve().parent / "templates"
JINJA = web.AppKey("admin_jinja", jinja2.Environment)
#: absent without REDIS_URL (jobs then wait in the outbox; there is no queue to show)
DEAD_LETTERS = web.AppKey("admin_dead_letters", DeadLetters)
#: failed jobs per page
PAGE_SIZE = 25

routes = web.RouteTableDef()


def setup(app: web.Application) -> None:
    """Add the pages' routes, when ADMIN_TOKEN is set."""
    settings = app[SETTINGS]
    if not settings.admin_token:
        return
    auth.setup(app, settings.admin_token, settings.secret_key)
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(TEMPLATES), app_key=JINJA, autoescape=True)
    env.filters["when"] = _when
    app.cleanup_ctx.append(_dead_letters)
    app.router.add_routes(routes)


async def _dead_letters(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if not settings.redis_url:
        yield
        return
    queues = DeadLetters.from_url(settings.redis_url, settings.queue_namespace, QUEUES)
    app[DEAD_LETTERS] = queues
    yield
    await queues.close()


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "–"


async def _render(request: web.Request, template: str, context: dict[str, Any]) -> web.Response:
    session = await get_session(request)
    context = {"csrf_token": await auth.csrf_token(request), "flash": session.pop("flash", None), **context}
    response = aiohttp_jinja2.render_template(template, request, context, app_key=JINJA)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def _safe_next(value: Any) -> str:
    # only back to an admin page: never an open redirect
    return value if isinstance(value, str) and value.startswith("/admin/") and "//" not in value else "/admin/jobs"


# ---- signing in and out -------------------------------------------------------------------------------------

@routes.get("/admin")
@routes.get("/admin/")
async def home(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/admin/jobs")


@routes.get("/admin/login")
async def login_form(request: web.Request) -> web.Response:
    return await _render(request, "login.html", {"next": _safe_next(request.query.get("next")), "error": None})


@routes.post("/admin/login")
async def login(request: web.Request) -> web.Response:
    limited = auth.too_many(request)
    if limited is not None:
        return limited
    if not await auth.csrf_ok(request):
        raise web.HTTPForbidden(text="missing or wrong csrf_token: reload the sign-in page and try again\n")
    form = await request.post()
    given, nxt = form.get("token"), _safe_next(form.get("next"))
    if not isinstance(given, str) or not auth.token_matches(request, given):
        request.app[auth.LIMIT].failed(auth.client_address(request))
        limited = auth.too_many(request)
        if limited is not None:
            return limited
        response = await _render(request, "login.html", {"next": nxt, "error": "That is not the admin token."})
        response.set_status(401)
        return response
    await auth.sign_in(request)
    raise web.HTTPSeeOther(nxt)


@routes.post("/admin/logout")
@auth.required
async def logout(request: web.Request) -> web.Response:
    (await get_session(request)).invalidate()
    raise web.HTTPSeeOther("/admin/login")


# ---- jobs ---------------------------------------------------------------------------------------------------

def _filters(query: Any) -> dict[str, Any]:
    tenant = query.get("tenant", "").strip()
    actor = query.get("actor", "").strip()
    queue = query.get("queue", "").strip()
    state = query.get("state", "dead")
    return {"state": state if state in ("dead", "retrying") else "dead",
            "tenant_id": int(tenant) if tenant.isdigit() else None,
            "actor": actor if actor in {j.actor for j in JOBS} else None,
            "queue": queue if queue in QUEUES else None}


@routes.get("/admin/jobs")
@auth.required
async def jobs(request: web.Request) -> web.Response:
    queues = request.app.get(DEAD_LETTERS)
    filters = _filters(request.query)
    try:
        page_no = max(1, int(request.query.get("page", "1")))
    except ValueError:
        page_no = 1
    context: dict[str, Any] = {"filters": filters, "queues": QUEUES, "actors": [j.actor for j in JOBS],
                               "redis": queues is not None, "page_no": page_no}
    if queues is not None:
        page = await queues.jobs(filters["state"], queue=filters["queue"], tenant_id=filters["tenant_id"],
                                 actor=filters["actor"], offset=(page_no - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        query = {k: v for k, v in {"state": filters["state"], "queue": filters["queue"] or "",
                                   "tenant": filters["tenant_id"] or "", "actor": filters["actor"] or ""}.items()
                 if v}
        context.update(
            counts=await queues.counts(), page=page, tenants={t["id"]: t["slug"] for t in await request.app[STORE].admin_tenants()},
            prev_url=f"/admin/jobs?{urlencode({**query, 'page': page_no - 1})}" if page_no > 1 else None,
            next_url=(f"/admin/jobs?{urlencode({**query, 'page': page_no + 1})}"
                      if page.offset + len(page.jobs) < page.total else None),
            here=request.rel_url.path_qs)
    return await _render(request, "jobs.html", context)


async def _job_action(request: web.Request) -> tuple[DeadLetters, str, str, str]:
    queues = request.app.get(DEAD_LETTERS)
    if queues is None:
        raise web.HTTPConflict(text="no REDIS_URL: there are no job queues\n")
    form = await request.post()
    queue, job_id, back = form.get("queue"), form.get("id", ""), _safe_next(form.get("back"))
    if not isinstance(queue, str) or queue not in QUEUES or not isinstance(job_id, str):
        raise web.HTTPBadRequest(text="which queue and job?\n")
    return queues, queue, job_id, back


async def _done(request: web.Request, back: str, message: str) -> web.Response:
    if "Authorization" in request.headers:  # a script: no page to go back to
        return web.json_response({"done": message})
    (await get_session(request))["flash"] = message
    raise web.HTTPSeeOther(back)


@routes.post("/admin/jobs/retry")
@auth.required
async def retry(request: web.Request) -> web.Response:
    queues, queue, job_id, back = await _job_action(request)
    ok = await queues.retry(queue, job_id)
    return await _done(request, back, "Job sent back to its queue." if ok else
                       "That job is no longer dead-lettered (retried or deleted already).")


@routes.post("/admin/jobs/retry-all")
@auth.required
async def retry_all(request: web.Request) -> web.Response:
    queues, queue, _, back = await _job_action(request)
    n = await queues.retry_all(queue)
    return await _done(request, back, f"{n} job{'s' if n != 1 else ''} of {queue} sent back to the queue.")


@routes.post("/admin/jobs/delete")
@auth.required
async def delete(request: web.Request) -> web.Response:
    queues, queue, job_id, back = await _job_action(request)
    ok = await queues.delete(queue, job_id)
    return await _done(request, back, "Job deleted." if ok else "That job was not there any more.")


# ---- messages -----------------------------------------------------------------------------------------------

#: the statuses a text can have, in the order a text goes through them
TEXT_STATUSES = ("pending", "sending", "retrying", "sent", "queued", "delivered", "undelivered", "failed",
                 "opted_out", "expired")


@routes.get("/admin/messages")
@auth.required
async def messages(request: web.Request) -> web.Response:
    status = request.query.get("status") or None
    status = status if status in TEXT_STATUSES else None
    store = request.app[STORE]
    unpublished, oldest, _ = backlog_total(await store.outbox_backlog())
    age = (request.app[CLOCK]() - oldest).total_seconds() if oldest else None
    # the body is never shown: a code's is never stored, the rest is private
    texts = [{**t, "to": mask_phone(t["to_phone"]) or ""} for t in await store.admin_messages(status=status, limit=100)]
    return await _render(request, "messages.html", {
        "texts": texts, "backlog": {"unpublished": unpublished},
        "backlog_age": None if age is None else max(0, int(age)), "status": status, "statuses": TEXT_STATUSES})


# ---- one call's trail ---------------------------------------------------------------------------------------


@routes.get("/admin/calls")
@auth.required
async def calls(request: web.Request) -> web.Response:
    """The trail of one call: each tool call and its outcome, each booking change it made, the texts they
    caused (numbers masked, bodies never shown). `?call_id=` picks the call; without it, only the form."""
    call_id = (request.query.get("call_id") or "").strip()[:200] or None
    trail: dict[str, Any] | None = None
    if call_id is not None:
        found = await request.app[STORE].admin_audit(call_id=call_id)
        trail = {
            "tool_calls": [{"at": r["created_at"], "tenant": r["tenant"], "name": r["name"],
                            "outcome": outcome_of(r["result"])} for r in found["tool_calls"]],
            "changes": [{"at": c["created_at"], "tenant": c["tenant"], "appointment_id": c["booking_id"],
                         "action": c["action"], "status": (c["after"] or {}).get("status"),
                         "starts_at": (c["after"] or {}).get("starts_at")} for c in found["changes"]],
            "texts": [{"id": t["id"], "kind": t["kind"], "to": mask_phone(t["to_phone"]), "status": t["status"],
                       "error_code": t["error_code"], "at": t["created_at"]} for t in found["texts"]],
        }
    return await _render(request, "calls.html", {"call_id": call_id, "trail": trail})
