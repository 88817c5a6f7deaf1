"""The admin JSON API under /admin/api/: what operators read (tenants, resources, appointments, holds, texts,
the audit trail, the job queues) and the two things they do on a caller's behalf (cancel, reschedule).

Authentication is `Authorization: Bearer <ADMIN_TOKEN>` only, compared in constant time; cookies count for
nothing here, so there is nothing to forge across sites (no CSRF). With ADMIN_TOKEN unset every route
answers 404, as if absent. /admin/api/openapi.json (no token needed) is built from the same declarations
(registry.py) that add the routes and check their parameters.

Phone numbers are masked (`***4321`) unless a request asks `full_phone=true`: answers end up in terminals,
tickets and screenshots, and most questions ("did the text go out?") need no number; an operator calling a
patient back asks for it, and the access log records that they did.

Cancel and reschedule run the tools' own use cases (domain.services, through services.execute, worded by the
presenter) for the appointment's clinic, with the appointment's phone as the caller's: the same rules, the
same refusals, one confirmation text. They are recorded as call `admin:<token fingerprint>` and tool call
`admin:<fingerprint>:<Idempotency-Key or a fresh id>`, so the audit trail tells an operator's change from a
caller's, and a retried request with the same Idempotency-Key is answered from the stored result.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web

from adapters.job_queues import STATES, JobMessage, JobQueues
from domain import services
from domain.jobs import QUEUES
from domain.model import ToolContext, mask_phone
from domain.phones import to_e164
from domain.wording import presenter

from store.outbox import backlog_total

from ..keys import CLOCK, PUBLISHER, SETTINGS, STORE
from ..middlewares import LOG_FIELDS
from ..tools import prepare
from .registry import ApiError, ApiRegistry, Param, json_response

log = structlog.get_logger("frontdesk.admin")

PREFIX = "/admin/api"
#: page size when `limit` is not given, and the most a page can hold
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
#: `offset` beyond this is refused: deep pages are read with `cursor`, which costs the same on every page
MAX_OFFSET = 10_000
#: the job-queue view, when REDIS_URL is set (built per app, closed on clean-up)
JOB_QUEUES = web.AppKey("admin_job_queues", JobQueues)

_UNAUTHORIZED = {"error": "unauthorized"}


def token_fingerprint(token: str) -> str:
    """What the audit trail records of the token an operator acted with (never the token)."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def _guard(request: web.Request, auth: bool) -> None:
    token = request.app[SETTINGS].admin_token
    if not token:
        raise web.HTTPNotFound()
    if not auth:
        return
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        request[LOG_FIELDS].update(outcome="unauthorized")
        raise web.HTTPUnauthorized(text=json.dumps(_UNAUTHORIZED), content_type="application/json")
    request[LOG_FIELDS]["admin"] = token_fingerprint(token)


api = ApiRegistry(PREFIX, _guard)


# ---- parameters ---------------------------------------------------------------------------------------

_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")


def _slug(raw: str) -> str:
    if not _SLUG.fullmatch(raw):
        raise ValueError(f"not a clinic slug: {raw!r}")
    return raw


def _day(raw: str) -> date:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        raise ValueError(f"expected a date like 2026-03-12, got {raw!r}")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"not a date: {raw!r}") from None


def _phone(raw: str) -> str:
    if not re.fullmatch(r"\+[1-9]\d{6,14}", raw):
        raise ValueError(f"expected an E.164 number like +15551234567, got {raw!r}")
    try:
        if to_e164(raw, "US") == raw:
            return raw
    except Exception:
        pass
    raise ValueError(f"not a possible phone number: {raw!r}")


def _int(low: int, high: int | None = None):
    def parse(raw: str) -> int:
        if not re.fullmatch(r"\d{1,12}", raw):
            raise ValueError(f"expected a whole number, got {raw!r}")
        value = int(raw)
        if value < low or (high is not None and value > high):
            raise ValueError(f"must be from {low} to {high}" if high is not None else f"must be at least {low}")
        return value
    return parse


def _choice(*allowed: str):
    def parse(raw: str) -> str:
        if raw not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}, got {raw!r}")
        return raw
    return parse


def _bool(raw: str) -> bool:
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _text(max_len: int):
    def parse(raw: str) -> str:
        if len(raw) > max_len:
            raise ValueError(f"longer than {max_len} characters")
        return raw
    return parse


def _tenant_param(required: bool) -> Param:
    return Param("tenant", {"type": "string", "pattern": _SLUG.pattern}, "The clinic's slug.", _slug, required)


TENANT = _tenant_param(False)
LIMIT = Param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
              f"Page size (at most {MAX_LIMIT}).", _int(1, MAX_LIMIT))
OFFSET = Param("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
               f"Rows to skip (at most {MAX_OFFSET}; use `cursor` for deep pages).", _int(0, MAX_OFFSET))
CURSOR = Param("cursor", {"type": "string"}, "`next_cursor` of the previous page.", _text(200))
FULL_PHONE = Param("full_phone", {"type": "boolean", "default": False},
                   "Show phone numbers in full (masked as ***4321 otherwise).", _bool)
APPOINTMENT_ID = Param("id", {"type": "integer", "minimum": 1}, "The appointment's id.", _int(1), True, "path")
IDEMPOTENCY_KEY = Param("Idempotency-Key", {"type": "string", "maxLength": 100},
                        "Optional: a retry with the same key gets the stored answer and changes nothing twice.",
                        _text(100), where="header")
SMS_STATUSES = ("pending", "sending", "retrying", "sent", "queued", "delivered", "undelivered", "failed",
                "opted_out", "expired")


async def _tenant(request: web.Request, slug: str | None) -> dict[str, Any] | None:
    if slug is None:
        return None
    tenant = await request.app[STORE].admin_tenant(slug)
    if tenant is None:
        raise ApiError(400, f"tenant: no clinic with slug {slug!r}")
    return tenant


def _paging(q: dict[str, Any]) -> tuple[int, int]:
    if q.get("cursor") is not None and q.get("offset") is not None:
        raise ApiError(400, "offset: give either cursor or offset, not both")
    return q["limit"] or DEFAULT_LIMIT, q.get("offset") or 0


def _phone_out(phone: str | None, full: bool) -> str | None:
    return phone if full else mask_phone(phone)


def _local(dt: datetime | None, tz: str) -> str | None:
    return dt.astimezone(ZoneInfo(tz)).isoformat() if dt is not None else None


def _encode_cursor(*values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(values, list):
            return values
    except ValueError:
        pass
    raise ApiError(400, "cursor: not a cursor this API gave out")


def _page_schema(key: str, item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": [key, "next_cursor"], "properties": {
        key: {"type": "array", "items": item}, "next_cursor": {"type": ["string", "null"]}}}


def _obj(*required: str, **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": props}


_S = {"type": "string"}
_SN = {"type": ["string", "null"]}
_I = {"type": "integer"}
_B = {"type": "boolean"}
_AT = {"type": ["string", "null"], "format": "date-time"}


# ---- reads --------------------------------------------------------------------------------------------

@api.route("GET", "/tenants", summary="Every clinic", response=_obj("tenants", tenants={"type": "array", "items": _obj(
    "slug", "name", "timezone", slug=_S, name=_S, timezone=_S, country=_S, phone=_SN, require_otp=_B,
    assistant_ids={"type": "array", "items": _S}, config_version=_I, created_at=_AT, updated_at=_AT)}))
async def tenants(request: web.Request, q: dict[str, Any]) -> web.Response:
    """Every clinic, by slug."""
    rows = await request.app[STORE].admin_tenants()
    return json_response({"tenants": [{k: v for k, v in r.items() if k != "id"} for r in rows]})


@api.route("GET", "/resources", summary="A clinic's providers and rooms", params=[_tenant_param(True)],
           response=_obj("tenant", "resources", tenant=_S, resources={"type": "array", "items": _obj(
               "id", "name", "active", "services", id=_I, name=_S, active=_B,
               services={"type": "array", "items": _S})}))
async def resources(request: web.Request, q: dict[str, Any]) -> web.Response:
    """A clinic's resources (providers, chairs, rooms), with the services each offers; inactive ones last."""
    tenant = await _tenant(request, q["tenant"])
    assert tenant is not None
    rows = await request.app[STORE].admin_resources(tenant["id"])
    return json_response({"tenant": tenant["slug"], "resources": [
        {"id": r["id"], "name": r["name"], "active": r["active"], "services": list(r["services"])} for r in rows]})


_APPOINTMENT = _obj("id", "tenant", "status", "start", "end", id=_I, tenant=_S,
                    status={"enum": ["booked", "cancelled"]}, start=_S, end=_S, service=_S, resource=_S,
                    customer_name=_SN, phone=_SN, notes=_SN, cancel_reason=_SN, call_id=_SN, booked_at=_AT,
                    updated_at=_AT)


@api.route("GET", "/appointments", summary="Appointments, by start time", params=[
    TENANT,
    Param("date", {"type": "string", "format": "date"}, "The local day, in the clinic's zone (YYYY-MM-DD).", _day),
    Param("phone", {"type": "string", "pattern": r"^\+[1-9]\d{6,14}$"}, "The number booked with, E.164.", _phone),
    Param("status", {"enum": ["booked", "cancelled"]}, "Only booked or only cancelled ones.",
          _choice("booked", "cancelled")),
    LIMIT, CURSOR, OFFSET, FULL_PHONE], response=_page_schema("appointments", _APPOINTMENT))
async def appointments(request: web.Request, q: dict[str, Any]) -> web.Response:
    """Booked and cancelled appointments ordered by start time (then id); times in each clinic's zone."""
    tenant = await _tenant(request, q["tenant"])
    limit, offset = _paging(q)
    starts_from = starts_until = None
    local_day = None
    if q["date"] is not None:
        if tenant is not None:
            tz = ZoneInfo(tenant["timezone"])
            starts_from = datetime.combine(q["date"], time(), tz)
            starts_until = datetime.combine(q["date"] + timedelta(days=1), time(), tz)
        else:  # each clinic's own local day: a UTC window wide enough for every zone, then the exact day
            starts_from = datetime.combine(q["date"], time(), ZoneInfo("Etc/GMT-14"))
            starts_until = datetime.combine(q["date"] + timedelta(days=1), time(), ZoneInfo("Etc/GMT+12"))
            local_day = q["date"]
    after = None
    if q["cursor"] is not None:
        values = _decode_cursor(q["cursor"])
        try:
            after = (datetime.fromisoformat(values[0]), int(values[1]))
        except (ValueError, TypeError, IndexError):
            raise ApiError(400, "cursor: not a cursor this API gave out") from None
    rows = await request.app[STORE].admin_appointments(
        tenant_id=tenant["id"] if tenant else None, status=q["status"], phone=q["phone"], starts_from=starts_from,
        starts_until=starts_until, local_day=local_day, after=after, offset=offset, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    full = bool(q["full_phone"])
    if full:
        request[LOG_FIELDS]["full_phone"] = True
    items = [{
        "id": r["id"], "tenant": r["tenant"], "status": r["status"], "start": _local(r["starts_at"], r["timezone"]),
        "end": _local(r["ends_at"], r["timezone"]), "service": r["service"], "resource": r["resource"],
        "customer_name": r["customer_name"], "phone": _phone_out(r["phone"], full), "notes": r["notes"],
        "cancel_reason": r["cancel_reason"], "call_id": r["call_id"], "booked_at": r["booked_at"],
        "updated_at": r["updated_at"]} for r in rows]
    nxt = _encode_cursor(rows[-1]["starts_at"].isoformat(), rows[-1]["id"]) if more and rows else None
    return json_response({"appointments": items, "next_cursor": nxt})


@api.route("GET", "/holds", summary="Live holds", params=[TENANT, LIMIT, OFFSET, FULL_PHONE],
           response=_obj("holds", holds={"type": "array", "items": _obj(
               "id", "tenant", "start", "end", "expires_at", id=_I, tenant=_S, start=_S, end=_S, expires_at=_S,
               call_id=_SN, service=_S, resource=_S, customer_name=_SN, phone=_SN)},
               next_offset={"type": ["integer", "null"]}))
async def holds(request: web.Request, q: dict[str, Any]) -> web.Response:
    """Holds still blocking their time (a caller is deciding), soonest to expire first."""
    tenant = await _tenant(request, q["tenant"])
    limit, offset = _paging(q)
    rows = await request.app[STORE].admin_holds(request.app[CLOCK](), tenant_id=tenant["id"] if tenant else None,
                                                offset=offset, limit=limit + 1)
    full = bool(q["full_phone"])
    items = [{"id": r["id"], "tenant": r["tenant"], "start": _local(r["starts_at"], r["timezone"]),
              "end": _local(r["ends_at"], r["timezone"]), "expires_at": _local(r["hold_expires_at"], r["timezone"]),
              "call_id": r["call_id"], "service": r["service"], "resource": r["resource"],
              "customer_name": r["customer_name"], "phone": _phone_out(r["phone"], full)} for r in rows[:limit]]
    return json_response({"holds": items, "next_offset": offset + limit if len(rows) > limit else None})


_TEXT = _obj("id", "tenant", "kind", "to", "status", id=_I, tenant=_S, kind=_S, to=_S, body=_SN,
             status={"enum": list(SMS_STATUSES)}, provider_sid=_SN, error_code=_SN, attempts=_I, created_at=_AT,
             sent_at=_AT)
_OUTBOX = _obj("unpublished", "oldest_unpublished_at", "oldest_age_seconds", "queues", unpublished=_I,
               oldest_unpublished_at=_AT, oldest_age_seconds={"type": ["number", "null"]},
               queues={"type": "array", "items": _obj("queue", "unpublished", "oldest_unpublished_at", queue=_S,
                                                      unpublished=_I, oldest_unpublished_at=_AT)})


def _text_out(r: dict[str, Any], full: bool) -> dict[str, Any]:
    return {"id": r["id"], "tenant": r["tenant"], "kind": r["kind"], "to": _phone_out(r["to_phone"], full),
            **({"body": r["body"]} if "body" in r else {}), "status": r["status"], "provider_sid": r["provider_sid"],
            "error_code": r["error_code"], "attempts": r["attempts"], "created_at": r["created_at"],
            "sent_at": r["sent_at"]}


@api.route("GET", "/messages", summary="Texts with their delivery status, and the outbox backlog", params=[
    TENANT, Param("status", {"enum": list(SMS_STATUSES)}, "Only texts in this delivery status.",
                  _choice(*SMS_STATUSES)), LIMIT, CURSOR, OFFSET, FULL_PHONE],
    response={**_page_schema("messages", _TEXT), "properties": {
        **_page_schema("messages", _TEXT)["properties"], "outbox": _OUTBOX}})
async def messages(request: web.Request, q: dict[str, Any]) -> web.Response:
    """Texts newest first: delivery status, Twilio's error code, attempts; `to` masked unless full_phone=true.
    `outbox`: jobs committed but not yet handed to Redis, and the age of the oldest (all clinics)."""
    tenant = await _tenant(request, q["tenant"])
    limit, offset = _paging(q)
    before = None
    if q["cursor"] is not None:
        if not q["cursor"].isdigit():
            raise ApiError(400, "cursor: not a cursor this API gave out")
        before = int(q["cursor"])
    store = request.app[STORE]
    rows = await store.admin_messages(tenant_id=tenant["id"] if tenant else None, status=q["status"],
                                      before_id=before, offset=offset, limit=limit + 1)
    full = bool(q["full_phone"])
    if full:
        request[LOG_FIELDS]["full_phone"] = True
    backlog = await store.outbox_backlog()
    unpublished, oldest, _ = backlog_total(backlog)
    now = request.app[CLOCK]()
    return json_response({
        "messages": [_text_out(r, full) for r in rows[:limit]],
        "next_cursor": str(rows[limit - 1]["id"]) if len(rows) > limit else None,
        "outbox": {"unpublished": unpublished, "oldest_unpublished_at": oldest,
                   "oldest_age_seconds": round((now - oldest).total_seconds(), 3) if oldest else None,
                   "queues": [{"queue": b.queue, "unpublished": b.unpublished,
                               "oldest_unpublished_at": b.oldest} for b in backlog]}})


def outcome_of(result: str) -> str:
    """The outcome code of a stored tool answer: "ok", a refusal's code, or "in_progress" (claimed, unanswered)."""
    if not result:
        return "in_progress"
    try:
        data = json.loads(result)
    except ValueError:
        return "unknown"
    if not isinstance(data, dict):
        return "unknown"
    if data.get("ok") is True:
        return "ok"
    return str(data.get("code") or "refused")


@api.route("GET", "/audit", summary="The trail of a call or of an appointment", params=[
    Param("call_id", {"type": "string", "maxLength": 200}, "A call's id (Vapi's, or admin:<fingerprint>).",
          _text(200)),
    Param("appointment", {"type": "integer", "minimum": 1}, "An appointment's id.", _int(1)),
    TENANT, FULL_PHONE],
    response=_obj("tool_calls", "changes", "texts",
                  tool_calls={"type": "array", "items": _obj("tenant", "call_id", "tool_call_id", "name", "outcome",
                                                             tenant=_S, call_id=_SN, tool_call_id=_S, name=_S,
                                                             outcome=_S, at=_AT)},
                  changes={"type": "array", "items": _obj("id", "appointment_id", "action", "by_operator", id=_I,
                                                          tenant=_S, appointment_id=_I, action=_S, call_id=_SN,
                                                          tool_call_id=_SN, by_operator=_B, phone=_SN,
                                                          before={"type": ["object", "null"]},
                                                          after={"type": ["object", "null"]}, at=_AT)},
                  texts={"type": "array", "items": _TEXT}))
async def audit(request: web.Request, q: dict[str, Any]) -> web.Response:
    """Exactly one of call_id or appointment: each tool call of the call(s) (name and outcome code), each
    booking change (booking_audit; `by_operator` when made through this API) and the texts they caused."""
    if (q["call_id"] is None) == (q["appointment"] is None):
        raise ApiError(400, "call_id: give exactly one of call_id or appointment")
    tenant = await _tenant(request, q["tenant"])
    trail = await request.app[STORE].admin_audit(call_id=q["call_id"], appointment_id=q["appointment"],
                                                 tenant_id=tenant["id"] if tenant else None)
    full = bool(q["full_phone"])
    return json_response({
        "tool_calls": [{"tenant": r["tenant"], "call_id": r["call_id"], "tool_call_id": r["tool_call_id"],
                        "name": r["name"], "outcome": outcome_of(r["result"]), "at": r["created_at"]}
                       for r in trail["tool_calls"]],
        "changes": [{"id": c["id"], "tenant": c["tenant"], "appointment_id": c["booking_id"], "action": c["action"],
                     "call_id": c["call_id"], "tool_call_id": c["tool_call_id"],
                     "by_operator": (c["call_id"] or "").startswith("admin:"), "phone": c["phone_masked"],
                     "before": c["before"], "after": c["after"], "at": c["created_at"]} for c in trail["changes"]],
        "texts": [_text_out(t, full) for t in trail["texts"]],
    })


# ---- the job queues -------------------------------------------------------------------------------------

def _job_queues(request: web.Request) -> JobQueues:
    queues = request.app.get(JOB_QUEUES)
    if queues is None:
        raise ApiError(503, "REDIS_URL is not set: there are no job queues to read")
    return queues


@api.route("GET", "/jobs", summary="Per queue: queued, in progress, delayed and dead-lettered jobs",
           errors=(400, 503), response=_obj("namespace", "queues", namespace=_S, queues={"type": "array", "items": _obj(
               "queue", "queued", "in_progress", "delayed", "dead", queue=_S, queued=_I, in_progress=_I,
               delayed=_I, dead=_I)}))
async def jobs(request: web.Request, q: dict[str, Any]) -> web.Response:
    """Read from Dramatiq's keys in Redis for the queues of domain/jobs.py only (no scan of the keyspace)."""
    queues = _job_queues(request)
    try:
        counts = await queues.counts()
    except Exception as e:  # Redis down or slow
        raise ApiError(503, f"Redis is unavailable ({type(e).__name__})") from None
    return json_response({"namespace": queues.namespace, "queues": [c.__dict__ for c in counts]})


_JOB = _obj("redis_id", "message_id", "queue", "actor", "args", redis_id=_S, message_id=_S, queue=_S, actor=_S,
            args={"type": "array"}, kwargs={"type": "object"}, enqueued_at=_AT, eta=_AT, retries=_I, dead_at=_AT,
            error=_SN)


def _job_out(m: JobMessage) -> dict[str, Any]:
    return dict(m.__dict__)


@api.route("GET", "/jobs/messages", summary="A page of a queue's delayed or dead-lettered jobs", params=[
    Param("queue", {"enum": list(QUEUES)}, "The queue.", _choice(*QUEUES), True),
    Param("state", {"enum": list(STATES)}, "delayed (by eta) or dead (newest first).", _choice(*STATES), True),
    LIMIT, CURSOR], errors=(400, 503), response=_page_schema("messages", _JOB))
async def job_messages(request: web.Request, q: dict[str, Any]) -> web.Response:
    """Arguments that look like secrets, codes or tokens are redacted, phone numbers masked."""
    queues = _job_queues(request)
    try:
        page = await queues.messages(q["queue"], q["state"], q["cursor"], q["limit"] or DEFAULT_LIMIT)
    except ValueError:
        raise ApiError(400, "cursor: not a cursor this API gave out") from None
    except Exception as e:
        raise ApiError(503, f"Redis is unavailable ({type(e).__name__})") from None
    return json_response({"messages": [_job_out(m) for m in page.items], "next_cursor": page.next_cursor})


# ---- on a caller's behalf -------------------------------------------------------------------------------

_ANSWER = {"type": "object", "required": ["ok", "say"], "description": "The tool's answer, as the presenter words "
           "it for the caller (the same JSON a call's tool result carries).",
           "properties": {"ok": _B, "say": _S, "code": _S, "appointment_id": _S, "error": _S}}
_ANSWER_ERROR = {**_ANSWER, "required": ["ok", "say", "error"]}


async def _on_behalf(request: web.Request, q: dict[str, Any], tool: str, allowed: dict[str, type]) -> web.Response:
    body = await _body(request, allowed)
    found = await request.app[STORE].admin_appointment_owner(q["id"])
    if found is None or not found[1]:
        raise ApiError(404, f"id: no appointment {q['id']}")
    tenant, phone = found
    token = request.app[SETTINGS].admin_token
    fingerprint = token_fingerprint(token)
    key = q["Idempotency-Key"] or uuid.uuid4().hex
    ctx = ToolContext(tenant_id=tenant.id, call_id=f"admin:{fingerprint}", tool_call_id=f"admin:{fingerprint}:{key}",
                      caller_phone=phone, now=request.app[CLOCK]())
    handler, writes, savepoint = prepare(tool, {"appointment_id": q["id"], **body}, None)
    call_id = ctx.call_id
    assert call_id is not None

    async def as_operator(uow, ctx: ToolContext):
        # A clinic with require_otp has callers prove their number by code; the operator proved who they are
        # with ADMIN_TOKEN instead, so this (operator's) call counts as verified for the appointment's number.
        await uow.mark_call_verified(call_id, phone, ctx.now)
        return await handler(uow, ctx)

    uow = request.app[STORE].uow(tenant, read_only=not writes)
    answer = await services.execute(uow, ctx, tool, as_operator if writes else handler, presenter.answer,
                                    savepoint)
    publisher = request.app.get(PUBLISHER)
    if publisher is not None:
        publisher.publish_after_commit(uow.outbox)
    request[LOG_FIELDS].update(tenant=tenant.slug, tools=[tool], outcomes=[answer.outcome])
    log.info("admin_on_behalf", tenant=tenant.slug, tool=tool, appointment_id=q["id"], outcome=answer.outcome,
             caller=mask_phone(phone), admin=fingerprint)
    data = json.loads(answer.text)
    if data.get("ok"):
        return json_response(data)
    code = str(data.get("code"))
    status = {"not_found": 404, "invalid_arguments": 400}.get(code, 409)
    return json_response({**data, "error": code}, status=status)


async def _body(request: web.Request, allowed: dict[str, type]) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "body: not JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "body: expected a JSON object")
    for name, value in data.items():
        if name not in allowed:
            raise ApiError(400, f"{name}: not a field of this request; it takes: {', '.join(allowed)}")
        if value is not None and not isinstance(value, allowed[name]):
            raise ApiError(400, f"{name}: expected a string")
    return {k: v for k, v in data.items() if v is not None}


@api.route("POST", "/appointments/{id}/cancel", summary="Cancel an appointment on the caller's behalf",
           params=[APPOINTMENT_ID, IDEMPOTENCY_KEY], errors=(400, 409), extra={400: _ANSWER_ERROR, 409: _ANSWER_ERROR},
           body=_obj(reason={"type": "string", "maxLength": 500}), response=_ANSWER)
async def cancel_appointment(request: web.Request, q: dict[str, Any]) -> web.Response:
    """The cancel_appointment tool's use case and rules, for the appointment's clinic and with its phone as the
    caller's: the cancellation text goes out as from a call; the audit row's call_id is admin:<fingerprint>.
    Refusals (in_the_past, ...) answer 409 with the presenter's answer; an unknown appointment 404."""
    return await _on_behalf(request, q, "cancel_appointment", {"reason": str})


@api.route("POST", "/appointments/{id}/reschedule", summary="Move an appointment on the caller's behalf",
           params=[APPOINTMENT_ID, IDEMPOTENCY_KEY], errors=(400, 409), extra={400: _ANSWER_ERROR, 409: _ANSWER_ERROR},
           body={**_obj("start", start={"type": "string", "description": "The clinic's local time, like "
                                                                             "2026-03-12T14:30, or an ISO instant."},
                        resource={"type": "string"})}, response=_ANSWER)
async def reschedule_appointment(request: web.Request, q: dict[str, Any]) -> web.Response:
    """The reschedule_appointment tool's use case and rules (slot_taken offers the nearest free times; the
    appointment stays where it was), for the appointment's clinic and with its phone as the caller's."""
    return await _on_behalf(request, q, "reschedule_appointment", {"start": str, "resource": str})


# ---- the document --------------------------------------------------------------------------------------

@api.route("GET", "/openapi.json", summary="This document", auth=False, errors=(),
           response={"type": "object", "required": ["openapi", "paths"]})
async def openapi(request: web.Request, q: dict[str, Any]) -> web.Response:
    """The OpenAPI 3.1 document of every /admin/api route (served without a token)."""
    return json_response(document())


def document() -> dict[str, Any]:
    return api.openapi("frontdesk admin API", "1", (__doc__ or "").strip())


# ---- wiring --------------------------------------------------------------------------------------------

def setup(app: web.Application) -> None:
    """Add the API's routes, and the Redis client its job-queue view reads with (when REDIS_URL is set)."""
    api.install(app)
    app.cleanup_ctx.append(_job_queues_context)


async def _job_queues_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if not (settings.admin_token and settings.redis_url):
        yield
        return
    queues = JobQueues.from_url(settings.redis_url, settings.queue_namespace)
    app[JOB_QUEUES] = queues
    try:
        yield
    finally:
        await queues.aclose()


__all__ = ["JOB_QUEUES", "PREFIX", "document", "setup", "token_fingerprint"]
