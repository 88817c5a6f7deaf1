"""POST /twilio/status: Twilio's delivery reports for the texts we sent, signature-checked."""

from __future__ import annotations

import structlog
from aiohttp import web
from twilio.request_validator import RequestValidator

from adapters import metrics

from .keys import CLOCK, SETTINGS, STORE
from .middlewares import LOG_FIELDS

log = structlog.get_logger("frontdesk.webhook")

#: Twilio's MessageStatus values we record, in the order they can follow each other
STATUS_RANK = {"accepted": 0, "queued": 0, "sending": 1, "sent": 1, "delivered": 2, "undelivered": 2, "failed": 2}


async def twilio_status(request: web.Request) -> web.Response:
    settings, store = request.app[SETTINGS], request.app[STORE]
    form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    signature = request.headers.get("X-Twilio-Signature", "")
    tenant_id = await store.tenant_of_sms(sid) if sid else None
    token = settings.twilio_auth_token
    if tenant_id is not None:
        tenant = await store.tenant_sms(tenant_id)
        if tenant and tenant.auth_token_env and settings.environ.get(tenant.auth_token_env):
            token = settings.environ[tenant.auth_token_env]
    # Twilio signs the URL it was given; behind a proxy that is PUBLIC_URL, not what we see
    url = f"{settings.public_url}/twilio/status" if settings.public_url else str(request.url)
    if not signature or not token or not RequestValidator(token).validate(url, form, signature):
        request[LOG_FIELDS]["outcome"] = "bad_signature"
        return web.Response(status=403, text="forbidden")
    status = form.get("MessageStatus", "").lower()
    request[LOG_FIELDS].update(outcome=status or "none")
    if status in STATUS_RANK:  # only Twilio's known statuses: each label value is a series kept forever
        metrics.SMS_CALLBACKS.labels(status).inc()
    if tenant_id is not None and status in STATUS_RANK:
        await store.sms_status_callback(sid, _our_status(status), form.get("ErrorCode") or None,
                                        request.app[CLOCK]())
    return web.Response(status=204)


def _our_status(twilio_status: str) -> str:
    return {"accepted": "queued", "sending": "sent"}.get(twilio_status, twilio_status)
