"""One-time codes: challenges issued in a call's transaction, armed and settled by the worker that texts them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text

from domain.model import OtpChallenge

from .base import StoreBase, UowBase

#: the columns an OtpChallenge is read from
_OTP_COLS = "id, call_id, phone, status, code_hash, salt, attempts, created_at, expires_at"


class OtpUowMixin(UowBase):
    """The unit of work's challenges: every statement is scoped to the tenant (`:t`)."""

    _SQL_OTP_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")

    async def otp_lock(self, phone: str) -> None:
        await self._first(self._SQL_OTP_LOCK, key=f"otp:{self.tenant_id}:{phone}")

    _SQL_OTP_RECENT = text(
        "SELECT count(*) AS sends, max(created_at) AS last_created FROM otp_challenges "
        "WHERE tenant_id = :t AND phone = :p AND created_at > :since")

    async def otp_recent(self, phone: str, since: datetime) -> tuple[int, datetime | None]:
        row = await self._first(self._SQL_OTP_RECENT, p=phone, since=since)
        return row.sends, row.last_created

    _SQL_OTP_CREATE = text(
        "INSERT INTO otp_challenges (tenant_id, call_id, phone, created_at) VALUES (:t, :c, :p, :now) RETURNING id")

    async def create_challenge(self, call_id: str, phone: str, now: datetime) -> int:
        return await self._scalar_one(self._SQL_OTP_CREATE, c=call_id, p=phone, now=now)

    _SQL_OTP_LINK = text("UPDATE otp_challenges SET sms_id = :s WHERE tenant_id = :t AND id = :i RETURNING 1")

    async def link_challenge_sms(self, challenge_id: int, sms_id: int) -> None:
        await self._first(self._SQL_OTP_LINK, i=challenge_id, s=sms_id)

    _SQL_OTP_LATEST = text(
        f"SELECT {_OTP_COLS} FROM otp_challenges WHERE tenant_id = :t AND call_id = :c "
        f"ORDER BY id DESC LIMIT 1 FOR UPDATE")

    async def latest_challenge(self, call_id: str) -> OtpChallenge | None:
        row = await self._first(self._SQL_OTP_LATEST, c=call_id)
        return OtpChallenge(**row._mapping) if row else None

    _SQL_OTP_UPDATE = text(
        "UPDATE otp_challenges SET status = :st, attempts = :a, "
        "verified_at = CASE WHEN :st = 'verified' THEN :now ELSE verified_at END "
        "WHERE tenant_id = :t AND id = :i RETURNING 1")

    async def update_challenge(self, challenge_id: int, status: str, attempts: int, now: datetime) -> None:
        await self._first(self._SQL_OTP_UPDATE, i=challenge_id, st=status, a=attempts, now=now)


class OtpStoreMixin(StoreBase):
    """SqlStore's challenges: the OTP worker's side, one transaction per statement."""

    _SQL_OTP_ARM = text(
        "UPDATE otp_challenges c SET code_hash = :h, salt = :s, sent_at = :now, "
        "expires_at = :now + make_interval(secs => t.otp_code_ttl_seconds) FROM tenants t "
        "WHERE t.id = c.tenant_id AND c.tenant_id = :t AND c.id = :i AND c.status = 'pending' "
        "AND c.created_at > :now - make_interval(secs => t.otp_code_ttl_seconds) RETURNING t.otp_code_ttl_seconds")

    async def otp_arm(self, tenant_id: int, challenge_id: int, code_hash: str, salt: str,
                      now: datetime) -> int | None:
        """Give a still-pending, still-young challenge its code (hash only); returns the code's validity in
        seconds, or None when the challenge is settled or too old to send (never sent late)."""
        async with self.engine.begin() as conn:
            return (await conn.execute(self._SQL_OTP_ARM, {"t": tenant_id, "i": challenge_id, "h": code_hash,
                                                           "s": salt, "now": now})).scalar()

    _SQL_OTP_MARK = text(
        "UPDATE otp_challenges SET status = :st WHERE tenant_id = :t AND id = :i AND status = 'pending'")

    async def otp_mark(self, tenant_id: int, challenge_id: int, status: str, now: datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(self._SQL_OTP_MARK, {"t": tenant_id, "i": challenge_id, "st": status, "now": now})
