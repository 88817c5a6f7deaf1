"""HTTP routes. Handlers only translate: authenticate, parse the envelope, run use cases, format replies."""

from __future__ import annotations

import time
from typing import Any

import orjson
import structlog
from aiohttp import web

from adapters import metrics
from domain import services
from domain.commands import EndCall
from domain.model import Refused, ToolContext, mask_phone
from domain.results import Outcome
from store import TenantAuth
from domain.wording import presenter

from . import signatures, vapi
from .keys import CLOCK, PUBLISHER, SETTINGS, STORE
from .metrics import metrics_endpoint
from .middlewares import LOG_FIELDS
from .tools import prepare
from .twilio import twilio_status

log = structlog.get_logger("frontdesk.webhook")

_UNAUTHORIZED = {"error": "unauthorized"}
#: message types after which a call can hold nothing
_END_OF_CALL = {"end-of-call-report"}
#: said when the store fails mid-call; the caller hears this instead of silence or a stack trace
_TROUBLE = services.ToolAnswer(presenter.answer(Refused("temporarily_unavailable")), "temporarily_unavailable")


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON response, serialised by orjson (several times faster than json on every tool call's answer)."""
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _secret(request: web.Request) -> str | None:
    secret = request.headers.get("X-Vapi-Secret")
    if secret:
        return secret.strip()
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def _refused(request: web.Request, reason: str) -> web.Response:
    """401, the same body whatever failed; the reason goes to the access log line only."""
    request[LOG_FIELDS].update(outcome="unauthorized", refused=reason)
    return json_response(_UNAUTHORIZED, status=401)


def _unavailable(request: web.Request) -> web.Response:
    # the database is unreachable: nobody can be authenticated, and the caller should not wait
    log.exception("authenticate_failed")
    request[LOG_FIELDS]["outcome"] = "database_unavailable"
    return json_response({"error": "temporarily_unavailable"}, status=503)


async def _authenticate(request: web.Request) -> tuple[TenantAuth, dict[str, Any]] | web.Response:
    """The tenant comes from the credential: the shared secret when the request carries one (it then decides
    alone), else a signature made with the key of the tenant the body names. An assistant id in the body must
    be one of the tenant's own."""
    secret = _secret(request)
    tenant: TenantAuth | None = None
    if secret:
        try:
            tenant = await request.app[STORE].authenticate(secret)
        except Exception:
            return _unavailable(request)
        if tenant is None:
            return _refused(request, "secret_unknown")
        request[LOG_FIELDS].update(tenant=tenant.slug, auth="secret")
    raw = await request.read()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:  # a ValueError, invalid UTF-8 included
        body = None
    msg = body.get("message") if isinstance(body, dict) else None
    if tenant is None:
        # unsigned garbage is refused as unauthorized: an unauthenticated sender learns nothing about our parsing
        if not isinstance(msg, dict):
            return _refused(request, "unsigned_body_unreadable")
        signed = await _signed_by(request, raw, msg)
        if isinstance(signed, web.Response):
            return signed
        tenant = signed
    elif body is None:
        request[LOG_FIELDS]["outcome"] = "bad_json"
        return json_response({"error": "body is not JSON"}, status=400)
    if not isinstance(msg, dict):
        request[LOG_FIELDS]["outcome"] = "no_message"
        return json_response({"error": "expected a JSON object with a \"message\" object"}, status=400)
    assistant = vapi.assistant_id(msg)
    if assistant is not None and assistant not in tenant.assistant_ids:
        return _refused(request, "assistant_not_the_tenants")
    return tenant, msg


async def _signed_by(request: web.Request, raw: bytes, msg: dict[str, Any]) -> TenantAuth | web.Response:
    """The tenant the body names (its assistant, else its Vapi number), if the request is signed with that
    tenant's HMAC key (Vapi's HMAC credential); naming a tenant proves nothing by itself."""
    store = request.app[STORE]
    assistant = vapi.assistant_id(msg)
    try:
        named = await (store.tenant_for_assistant(assistant) if assistant is not None
                       else store.tenant_for_number(vapi.phone_numbers(msg)))
    except Exception:
        return _unavailable(request)
    if named is None:
        return _refused(request, "no_credential_and_no_tenant_named")
    request[LOG_FIELDS]["tenant_named"] = named.auth.slug
    if not named.vapi.hmac_secret_env:
        return _refused(request, "hmac_not_configured")
    key = request.app[SETTINGS].environ.get(named.vapi.hmac_secret_env)
    if not key:
        log.warning("hmac_key_unset", tenant=named.auth.slug, variable=named.vapi.hmac_secret_env)
        return _refused(request, "hmac_key_unset")
    reason = signatures.refusal(raw, request.headers, key, named.vapi, request.app[CLOCK]())
    if reason is not None:
        return _refused(request, reason)
    request[LOG_FIELDS].update(tenant=named.auth.slug, auth="hmac")
    return named.auth


async def vapi_webhook(request: web.Request) -> web.Response:
    auth = await _authenticate(request)
    if isinstance(auth, web.Response):
        return auth
    tenant, msg = auth
    fields = request[LOG_FIELDS]
    mtype = vapi.message_type(msg)
    call_id = vapi.call_id(msg)
    fields.update(type=mtype, call_id=call_id)
    if mtype == "assistant-request":
        return await _assistant_request(request, tenant, msg)
    if mtype == "tool-calls":
        calls = vapi.tool_calls(msg)
        hint = request.match_info.get("name")
        results = [await _run(request, tenant, msg, call, hint) for call in calls]
        fields["tools"] = [r[0] for r in results]
        fields["outcomes"] = [r[1] for r in results]
        return json_response({"results": [r[2] for r in results]})
    if mtype == "function-call":
        call = vapi.legacy_function_call(msg)
        name, outcome, item = await _run(request, tenant, msg, call, request.match_info.get("name"))
        fields.update(tools=[name], outcomes=[outcome])
        return json_response({"result": item["result"]})
    if (mtype == "status-update" and msg.get("status") == "ended") or mtype in _END_OF_CALL:
        if call_id:
            released = await services.end_call(EndCall(call_id, vapi.ended_reason(msg)),
                                               request.app[STORE].uow(tenant), request.app[CLOCK]())
            fields["holds_released"] = released
            metrics.holds_released(released)
        return json_response({})
    if mtype == "hang":
        # Vapi's latency alarm: the assistant went quiet waiting on something slow. Not a hang-up.
        log.warning("assistant_waiting", tenant=tenant.slug, call_id=call_id)
    return json_response({})


async def _assistant_request(request: web.Request, tenant: TenantAuth, msg: dict[str, Any]) -> web.Response:
    """An inbound call on a Vapi number with no assistant attached: name the assistant of the clinic that
    owns the number. Vapi allows 7.5 s in all, so this is one indexed lookup (cached) and nothing else. The
    credential must be the owner's; a number nobody owns, or an owner without assistants, gets a sentence
    Vapi speaks to the caller (HTTP 200: any other status ends the call in silence)."""
    try:
        owner = await request.app[STORE].tenant_for_number(vapi.phone_numbers(msg))
    except Exception:
        log.exception("assistant_request_failed", tenant=tenant.slug)
        request[LOG_FIELDS]["outcome"] = "database_unavailable"
        return json_response({"error": presenter.NUMBER_UNAVAILABLE})
    if owner is None:
        request[LOG_FIELDS]["outcome"] = "number_unknown"
        return json_response({"error": presenter.NUMBER_NOT_SET_UP})
    if owner.auth.id != tenant.id:
        return _refused(request, "number_of_another_tenant")
    if not owner.auth.assistant_ids:
        request[LOG_FIELDS]["outcome"] = "no_assistant"
        return json_response({"error": presenter.NUMBER_NOT_SET_UP})
    request[LOG_FIELDS]["outcome"] = "assistant_named"
    return json_response({"assistantId": owner.auth.assistant_ids[0]})


async def _run(request: web.Request, tenant: TenantAuth, msg: dict[str, Any], call: vapi.ToolCall,
               hint: str | None) -> tuple[str, str, dict[str, Any]]:
    if call.name is None and hint:
        call = vapi.ToolCall(call.id, hint, call.arguments, call.error)
    handler, writes, savepoint = prepare(call.name, call.arguments, call.error)
    ctx = ToolContext(tenant_id=tenant.id, call_id=vapi.call_id(msg), tool_call_id=call.id,
                      caller_phone=vapi.caller_number(msg), now=request.app[CLOCK]())
    started = time.perf_counter()
    # what the use case returned, as it is worded: the answer carries only its code, the metrics need the
    # result (a SlotHeld is a hold created); a replay is not worded again, so it counts nothing twice
    worded: list[Outcome] = []

    def present(outcome: Outcome) -> str:
        worded.append(outcome)
        return presenter.answer(outcome)

    try:
        uow = request.app[STORE].uow(tenant, read_only=not writes)
        answer = await services.execute(uow, ctx, call.name or "", handler, present, savepoint)
        for outcome in worded:  # committed: it happened
            metrics.result_committed(outcome)
        publisher = request.app.get(PUBLISHER)
        if publisher is not None:
            publisher.publish_after_commit(uow.outbox)  # committed: hand the jobs to Redis, in the background
    except Exception:
        # nothing was committed (the transaction rolled back), so a retry of this toolCallId runs afresh
        log.exception("tool_failed", tenant=tenant.slug, call_id=ctx.call_id, tool=call.name,
                      caller=mask_phone(ctx.caller_phone))
        answer = _TROUBLE
    metrics.tool_called(call.name, answer.outcome, time.perf_counter() - started)
    return call.name or "", answer.outcome, vapi.result_item(call, answer.text)


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    try:
        await request.app[STORE].ping()
    except Exception as e:  # any failure to reach the database means "not ready"
        return json_response({"status": "unavailable", "database": type(e).__name__}, status=503)
    return json_response({"status": "ready"})


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/vapi/webhook", vapi_webhook)
    app.router.add_post("/vapi/tools/{name}", vapi_webhook)
    app.router.add_post("/twilio/status", twilio_status)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_endpoint)
