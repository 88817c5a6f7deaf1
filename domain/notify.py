"""Texts: delivering one queued text exactly once (what they say is in domain/wording/texts.py).

Sending happens in a worker, after the booking committed, never inside a transaction or a web request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

from .model import SmsJob, TenantSms

#: a text claimed this long ago whose sender never reported back is taken as lost and sent again; longer
#: than a send job's time limit (30 s), so a live sender has always finished or been stopped by then
STALE_SEND = timedelta(seconds=45)


class SmsPermanentError(Exception):
    """The provider refused the text for good (invalid number, opted out): record it, never retry."""

    def __init__(self, code: str, status: str = "failed") -> None:
        super().__init__(code)
        self.code = code
        self.status = status


class SmsTransientError(Exception):
    """The provider could not take the text right now (5xx, 429, network): retry with backoff."""


class SmsInFlight(SmsTransientError):
    """Another worker claimed this text moments ago (or died doing so): try again later, never drop it."""


class SmsSender(Protocol):
    async def send(self, tenant: TenantSms, to: str, body: str) -> str:
        """Send one text; return the provider's message id. Raises SmsPermanentError or SmsTransientError."""


class SmsStore(Protocol):
    async def claim_sms(self, tenant_id: int, sms_id: int, now: datetime, stale_after: timedelta) -> SmsJob | None: ...
    async def finish_sms(self, sms_id: int, status: str, now: datetime, provider_sid: str | None = None,
                         error_code: str | None = None) -> None: ...
    async def tenant_sms(self, tenant_id: int) -> TenantSms | None: ...
    async def sms_status(self, tenant_id: int, sms_id: int) -> str | None: ...


async def deliver_sms(store: SmsStore, sender: SmsSender, tenant_id: int, sms_id: int, now: datetime,
                      body_for: Callable[[SmsJob], Awaitable[str | None]] | None = None) -> str:
    """Send one queued text if it is still unsent; idempotent. Returns what happened:
    'sent', 'skipped' (already settled), 'failed'/'opted_out' (permanent), or raises SmsTransientError
    (after marking the row for retry) or SmsInFlight (someone else holds it: retry later)."""
    job = await store.claim_sms(tenant_id, sms_id, now, STALE_SEND)
    if job is None:
        if await store.sms_status(tenant_id, sms_id) == "sending":
            raise SmsInFlight(str(sms_id))
        return "skipped"
    tenant = await store.tenant_sms(tenant_id)
    body = job.body if body_for is None else await body_for(job)
    if tenant is None or body is None:
        await store.finish_sms(job.id, "expired", now)
        return "expired"
    try:
        sid = await sender.send(tenant, job.to_phone, body)
    except SmsPermanentError as e:
        await store.finish_sms(job.id, e.status, now, error_code=e.code)
        return e.status
    except SmsTransientError:
        await store.finish_sms(job.id, "retrying", now)
        raise
    await store.finish_sms(job.id, "sent", now, provider_sid=sid)
    return "sent"
