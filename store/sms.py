"""Texts: queued in a use case's transaction, claimed, sent and finished by a worker, updated by Twilio's
delivery reports."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text

from domain.model import SmsJob, TenantSms

from .base import StoreBase, UowBase


class SmsUowMixin(UowBase):
    """The unit of work's texts: every statement is scoped to the tenant (`:t`)."""

    _SQL_QUEUE_SMS = text(
        "INSERT INTO sms_messages (tenant_id, dedupe_key, kind, to_phone, body) VALUES (:t, :k, :kind, :to, :body) "
        "ON CONFLICT (tenant_id, dedupe_key) DO NOTHING RETURNING id")

    async def queue_sms(self, kind: str, dedupe_key: str, to_phone: str, body: str | None) -> int | None:
        return await self._scalar(self._SQL_QUEUE_SMS, k=dedupe_key, kind=kind, to=to_phone, body=body)

    _SQL_COUNT_SMS = text(
        "SELECT count(*) FROM sms_messages WHERE tenant_id = :t AND dedupe_key LIKE :k AND created_at > :since")

    async def count_sms(self, key_prefix: str, since: datetime) -> int:
        return await self._scalar_one(self._SQL_COUNT_SMS, k=key_prefix + "%", since=since)


class SmsStoreMixin(StoreBase):
    """SqlStore's texts: the sending worker's and the status webhook's side, one transaction per call."""

    _SQL_TENANT_SMS = text(
        "SELECT id, slug, name, timezone, sms_from, sms_messaging_service_sid, twilio_account_sid, "
        "twilio_auth_token_env FROM tenants WHERE id = :t")

    async def tenant_sms(self, tenant_id: int) -> TenantSms | None:
        async with self.engine.connect() as conn:
            r = (await conn.execute(self._SQL_TENANT_SMS, {"t": tenant_id})).first()
        if r is None:
            return None
        return TenantSms(tenant_id=r.id, slug=r.slug, name=r.name, tz=ZoneInfo(r.timezone), from_number=r.sms_from,
                         messaging_service_sid=r.sms_messaging_service_sid, account_sid=r.twilio_account_sid,
                         auth_token_env=r.twilio_auth_token_env)

    _SQL_CLAIM_SMS = text(
        "UPDATE sms_messages SET status = 'sending', attempts = attempts + 1, claimed_at = :now, updated_at = :now "
        "WHERE tenant_id = :t AND id = :i AND (status IN ('pending', 'retrying') "
        "OR (status = 'sending' AND claimed_at < :stale)) "
        "RETURNING id, tenant_id, kind, to_phone, body, created_at, attempts")

    async def claim_sms(self, tenant_id: int, sms_id: int, now: datetime, stale_after: timedelta) -> SmsJob | None:
        """Take a text for sending, once: a pending or retrying row, or one whose sender vanished mid-send
        (claimed more than `stale_after` ago). None if it was sent, failed for good, or is being sent."""
        async with self.engine.begin() as conn:
            r = (await conn.execute(self._SQL_CLAIM_SMS, {"t": tenant_id, "i": sms_id, "now": now,
                                                          "stale": now - stale_after})).first()
        return SmsJob(**r._mapping) if r else None

    async def sms_status(self, tenant_id: int, sms_id: int) -> str | None:
        async with self.engine.connect() as conn:
            return (await conn.execute(text("SELECT status FROM sms_messages WHERE tenant_id = :t AND id = :i"),
                                       {"t": tenant_id, "i": sms_id})).scalar()

    _SQL_FINISH_SMS = text(
        "UPDATE sms_messages SET status = :st, provider_sid = COALESCE(:sid, provider_sid), error_code = :err, "
        "updated_at = :now, sent_at = CASE WHEN :st = 'sent' THEN :now ELSE sent_at END WHERE id = :i")

    async def finish_sms(self, sms_id: int, status: str, now: datetime, provider_sid: str | None = None,
                         error_code: str | None = None) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(self._SQL_FINISH_SMS, {"i": sms_id, "st": status, "sid": provider_sid,
                                                      "err": error_code, "now": now})

    # a report never moves a text backwards (a late 'queued' after 'delivered' is ignored)
    _SQL_SMS_CALLBACK = text(
        "UPDATE sms_messages SET status = :st, error_code = COALESCE(:err, error_code), updated_at = :now "
        "WHERE provider_sid = :sid AND (CASE status WHEN 'queued' THEN 0 WHEN 'sent' THEN 1 ELSE 2 END) "
        "<= (CASE CAST(:st AS text) WHEN 'queued' THEN 0 WHEN 'sent' THEN 1 ELSE 2 END) RETURNING tenant_id")

    async def sms_status_callback(self, provider_sid: str, status: str, error_code: str | None,
                                  now: datetime) -> int | None:
        """Record Twilio's delivery report for a message we sent; returns its tenant, or None if unknown."""
        async with self.engine.begin() as conn:
            return (await conn.execute(self._SQL_SMS_CALLBACK, {"sid": provider_sid, "st": status,
                                                                "err": error_code, "now": now})).scalar()

    async def tenant_of_sms(self, provider_sid: str) -> int | None:
        async with self.engine.connect() as conn:
            return (await conn.execute(text("SELECT tenant_id FROM sms_messages WHERE provider_sid = :sid"),
                                       {"sid": provider_sid})).scalar()
