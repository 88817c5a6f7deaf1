"""What the operators' admin API reads, across tenants: tenants, resources, appointments, live holds, texts,
the outbox backlog and the audit trail of a call or an appointment.

Each query is bounded (LIMIT, at most MAX_ROWS) and runs on an index (migration 0007 adds those the tools
did not need); a tenant-scoped one carries `tenant_id`. Rows are returned as dicts by column name, the web
layer words them as JSON. Writes on a caller's behalf go through the use cases, never through here.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT, TEXT

from .base import StoreBase
from .tenants import TenantAuth

#: no admin query returns more rows than this
MAX_ROWS = 500

Row = dict[str, Any]


def _rows(result) -> list[Row]:
    return [dict(r._mapping) for r in result]


@lru_cache(maxsize=256)
def _statement(sql: str) -> TextClause:
    return text(sql)


def _filtered(select: str, filters: dict[str, str], params: dict[str, Any], tail: str) -> TextClause:
    """`select` (which ends in a WHERE clause) AND the fixed condition of each filter given a value, then
    `tail`. Only these literal fragments make up the SQL; every value is a bound parameter."""
    conditions = [cond for name, cond in filters.items() if params.get(name) is not None]
    return _statement(" AND ".join([select, *conditions]) + " " + tail)


class AdminStoreMixin(StoreBase):
    """SqlStore's admin side: reads for /admin/api, each on a connection of its own."""

    _SQL_ADMIN_TENANTS = text(
        "SELECT id, slug, name, timezone, country, phone, require_otp, assistant_ids, config_version, created_at, "
        "updated_at FROM tenants ORDER BY slug LIMIT :limit")

    async def admin_tenants(self) -> list[Row]:
        async with self.engine.connect() as conn:
            return _rows(await conn.execute(self._SQL_ADMIN_TENANTS, {"limit": MAX_ROWS}))

    _SQL_TENANT = text("SELECT id, slug, timezone, assistant_ids, config_version FROM tenants WHERE slug = :s")

    async def admin_tenant(self, slug: str) -> Row | None:
        """The tenant of a slug (id, slug, timezone, assistant_ids, config_version), or None."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(self._SQL_TENANT, {"s": slug})).first()
        return dict(row._mapping) if row else None

    _SQL_RESOURCES = text(
        "SELECT r.id, r.name, r.active, r.position, "
        "COALESCE(array_agg(s.name ORDER BY s.position) FILTER (WHERE s.id IS NOT NULL), '{}') AS services "
        "FROM resources r LEFT JOIN resource_services rs ON rs.tenant_id = :t AND rs.resource_id = r.id "
        "LEFT JOIN services s ON s.tenant_id = :t AND s.id = rs.service_id AND s.active "
        "WHERE r.tenant_id = :t GROUP BY r.id ORDER BY r.active DESC, r.position, r.id LIMIT :limit")

    async def admin_resources(self, tenant_id: int) -> list[Row]:
        async with self.engine.connect() as conn:
            return _rows(await conn.execute(self._SQL_RESOURCES, {"t": tenant_id, "limit": MAX_ROWS}))

    # Each optional filter adds a fixed condition to the statement (not `:x IS NULL OR col = :x`, whose generic
    # plan, once psycopg prepares it, could no longer use the index).
    _APPOINTMENTS = (
        "SELECT b.id, t.slug AS tenant, t.timezone, b.status, b.starts_at, b.ends_at, b.customer_name, b.phone, "
        "b.notes, b.cancel_reason, b.call_id, b.booked_at, b.updated_at, s.name AS service, r.name AS resource "
        "FROM bookings b JOIN tenants t ON t.id = b.tenant_id "
        "JOIN services s ON s.id = b.service_id JOIN resources r ON r.id = b.resource_id "
        "WHERE b.status IN ('booked', 'cancelled')")
    _APPOINTMENT_FILTERS = {
        "t": "b.tenant_id = :t", "status": "b.status = :status", "phone": "b.phone = :phone",
        "from": "b.starts_at >= :from", "until": "b.starts_at < :until",
        "local_day": "CAST(b.starts_at AT TIME ZONE t.timezone AS date) = :local_day",
        "after_start": "(b.starts_at, b.id) > (:after_start, :after_id)"}

    async def admin_appointments(self, *, tenant_id: int | None = None, status: str | None = None,
                                 phone: str | None = None, starts_from: datetime | None = None,
                                 starts_until: datetime | None = None, local_day: date | None = None,
                                 after: tuple[datetime, int] | None = None,
                                 offset: int = 0, limit: int = 50) -> list[Row]:
        """Appointments (booked or cancelled) by start time, then id (keyset pagination: `after` is the
        (starts_at, id) of the last row of the previous page). `local_day` narrows a starts_from/starts_until
        window to the appointments on that day in their own clinic's zone."""
        params = {"t": tenant_id, "status": status, "phone": phone, "from": starts_from, "until": starts_until,
                  "local_day": local_day,
                  "after_start": after[0] if after else None, "after_id": after[1] if after else None}
        stmt = _filtered(self._APPOINTMENTS, self._APPOINTMENT_FILTERS, params,
                         "ORDER BY b.starts_at, b.id LIMIT :limit OFFSET :offset")
        async with self.engine.connect() as conn:
            return _rows(await conn.execute(stmt, {**params, "offset": offset, "limit": min(limit, MAX_ROWS + 1)}))

    _HOLDS = (
        "SELECT b.id, t.slug AS tenant, t.timezone, b.starts_at, b.ends_at, b.hold_expires_at, b.call_id, "
        "b.customer_name, b.phone, s.name AS service, r.name AS resource "
        "FROM bookings b JOIN tenants t ON t.id = b.tenant_id "
        "JOIN services s ON s.id = b.service_id JOIN resources r ON r.id = b.resource_id "
        "WHERE b.status = 'held' AND b.hold_expires_at > :now")

    async def admin_holds(self, now: datetime, *, tenant_id: int | None = None, offset: int = 0,
                          limit: int = 50) -> list[Row]:
        """Holds still blocking their time at `now` (the rule of Booking.hold_is_live), soonest to expire first."""
        params = {"t": tenant_id}
        stmt = _filtered(self._HOLDS, {"t": "b.tenant_id = :t"}, params,
                         "ORDER BY b.hold_expires_at, b.id LIMIT :limit OFFSET :offset")
        async with self.engine.connect() as conn:
            return _rows(await conn.execute(stmt, {**params, "now": now, "offset": offset,
                                                   "limit": min(limit, MAX_ROWS + 1)}))

    _MESSAGES = (
        "SELECT m.id, t.slug AS tenant, m.kind, m.to_phone, m.body, m.status, m.provider_sid, m.error_code, "
        "m.attempts, m.created_at, m.sent_at, m.updated_at FROM sms_messages m JOIN tenants t ON t.id = m.tenant_id "
        "WHERE true")
    _MESSAGE_FILTERS = {"t": "m.tenant_id = :t", "status": "m.status = :status", "before": "m.id < :before"}

    async def admin_messages(self, *, tenant_id: int | None = None, status: str | None = None,
                             before_id: int | None = None, offset: int = 0, limit: int = 50) -> list[Row]:
        """Texts, newest first (keyset pagination: `before_id` is the id of the last row of the previous page)."""
        params = {"t": tenant_id, "status": status, "before": before_id}
        stmt = _filtered(self._MESSAGES, self._MESSAGE_FILTERS, params,
                         "ORDER BY m.id DESC LIMIT :limit OFFSET :offset")
        async with self.engine.connect() as conn:
            return _rows(await conn.execute(stmt, {**params, "offset": offset, "limit": min(limit, MAX_ROWS + 1)}))

    # ---- the audit trail ------------------------------------------------------------------------------

    _AUDIT_BY_CALL = (
        "SELECT a.id, t.slug AS tenant, a.tenant_id, a.booking_id, a.action, a.call_id, a.tool_call_id, "
        "a.phone_masked, a.before, a.after, a.created_at FROM booking_audit a JOIN tenants t ON t.id = a.tenant_id "
        "WHERE a.call_id = :c")
    _AUDIT_BY_BOOKING = (
        "SELECT a.id, t.slug AS tenant, a.tenant_id, a.booking_id, a.action, a.call_id, a.tool_call_id, "
        "a.phone_masked, a.before, a.after, a.created_at FROM bookings b "
        "JOIN booking_audit a ON a.tenant_id = b.tenant_id AND a.booking_id = b.id "
        "JOIN tenants t ON t.id = a.tenant_id "
        "WHERE b.id = :b")
    _TOOL_CALLS = (
        "SELECT t.slug AS tenant, r.tenant_id, r.call_id, r.tool_call_id, r.name, r.result, r.created_at "
        "FROM tool_results r JOIN tenants t ON t.id = r.tenant_id "
        "WHERE r.call_id = ANY(CAST(:calls AS text[]))")
    _SQL_TEXTS = text(
        "SELECT m.id, t.slug AS tenant, m.kind, m.to_phone, m.status, m.provider_sid, m.error_code, m.attempts, "
        "m.created_at, m.sent_at, m.dedupe_key FROM sms_messages m JOIN tenants t ON t.id = m.tenant_id "
        "WHERE m.id = ANY(:ids) ORDER BY m.id").bindparams(bindparam("ids", type_=ARRAY(BIGINT)))
    # a change's text is keyed `confirmation:<audit id>` (domain.services.steps.queue_confirmation); a code's
    # text is linked from its challenge
    _SQL_CHANGE_TEXTS = text(
        "SELECT m.id FROM unnest(CAST(:tenants AS bigint[]), CAST(:keys AS text[])) AS k(tenant_id, dedupe_key) "
        "JOIN sms_messages m ON m.tenant_id = k.tenant_id AND m.dedupe_key = k.dedupe_key")
    _SQL_CODE_TEXTS = text(
        "SELECT sms_id AS id FROM otp_challenges WHERE tenant_id = ANY(:tenants) AND call_id = ANY(:calls) "
        "AND sms_id IS NOT NULL LIMIT :limit").bindparams(bindparam("tenants", type_=ARRAY(BIGINT)),
                                                          bindparam("calls", type_=ARRAY(TEXT)))

    async def admin_audit(self, *, call_id: str | None = None, appointment_id: int | None = None,
                          tenant_id: int | None = None) -> dict[str, list[Row]]:
        """The trail of a call (its tool calls, the booking changes it made, the texts they caused) or of an
        appointment (its changes, the tool calls of the calls that made them, their texts):
        {"tool_calls": [...], "changes": [...], "texts": [...]}, each oldest first and bounded."""
        scope = {"t": tenant_id}
        async with self.engine.connect() as conn:
            if call_id is not None:
                changes = _rows(await conn.execute(_filtered(self._AUDIT_BY_CALL, {"t": "a.tenant_id = :t"}, scope,
                                                             "ORDER BY a.id LIMIT :limit"),
                                                   {"c": call_id, **scope, "limit": MAX_ROWS}))
                calls = [call_id]
            else:
                changes = _rows(await conn.execute(_filtered(self._AUDIT_BY_BOOKING, {"t": "b.tenant_id = :t"},
                                                             scope, "ORDER BY a.id LIMIT :limit"),
                                                   {"b": appointment_id, **scope, "limit": MAX_ROWS}))
                calls = sorted({c["call_id"] for c in changes if c["call_id"]})
            tool_calls = _rows(await conn.execute(_filtered(self._TOOL_CALLS, {"t": "r.tenant_id = :t"}, scope,
                                                            "ORDER BY r.created_at, r.tool_call_id LIMIT :limit"),
                                                  {"calls": calls, **scope, "limit": MAX_ROWS}))
            tenants = sorted({r["tenant_id"] for r in tool_calls} | {c["tenant_id"] for c in changes})
            ids = {r.id for r in await conn.execute(self._SQL_CHANGE_TEXTS, {
                "tenants": [c["tenant_id"] for c in changes],
                "keys": [f"confirmation:{c['id']}" for c in changes]})}
            if tenants and calls:
                ids |= {r.id for r in await conn.execute(self._SQL_CODE_TEXTS, {
                    "tenants": tenants, "calls": calls, "limit": MAX_ROWS})}
            texts = _rows(await conn.execute(self._SQL_TEXTS, {"ids": sorted(ids)[:MAX_ROWS]})) if ids else []
        return {"tool_calls": tool_calls, "changes": changes, "texts": texts}

    # ---- acting on a caller's behalf ---------------------------------------------------------------------

    _SQL_APPOINTMENT_OWNER = text(
        "SELECT b.phone, b.status, t.id, t.slug, t.assistant_ids, t.config_version FROM bookings b "
        "JOIN tenants t ON t.id = b.tenant_id WHERE b.id = :b AND b.status IN ('booked', 'cancelled')")

    async def admin_appointment_owner(self, appointment_id: int) -> tuple[TenantAuth, str | None] | None:
        """The tenant an appointment belongs to and the phone it was booked with, or None if it is no
        appointment (an operator acts on it as that tenant, with that phone as the caller's)."""
        async with self.engine.connect() as conn:
            r = (await conn.execute(self._SQL_APPOINTMENT_OWNER, {"b": appointment_id})).first()
        if r is None:
            return None
        return TenantAuth(r.id, r.slug, tuple(r.assistant_ids), r.config_version), r.phone
