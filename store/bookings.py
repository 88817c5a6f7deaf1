"""Holds and appointments: rows of the `bookings` table, and their audit trail.

Double booking is made impossible by the `bookings_no_overlap` exclusion constraint. A reserve is one call
of `hold_for_call()` (migration 0008): open the call and release its previous hold, then (`hold_time()`)
retire the expired holds in the way, insert the hold with `ON CONFLICT ON CONSTRAINT bookings_no_overlap DO
NOTHING`, audit it, write its expiry job to the outbox. That speculative insertion is what lets hundreds of
contenders for one time go without a lock: each waits only until the transaction holding an overlapping row
ends, none waits for another's wait (so no deadlock, no `deadlock_timeout` second), and "taken" comes back
only for a row that committed; the migration's docstring cites what PostgreSQL does. Callers holding other
times of the same provider's day no longer wait at all.

A reschedule's UPDATE cannot be speculative (a plain insertion into the index, checked after), so moves
still serialise on a transaction-level advisory lock keyed (resource id, local day as yyyymmdd), in
PostgreSQL's two-int advisory key space, which this application reserves for it: a booking lies within one
local day's working hours, so any two that could overlap share a key. Moves take it exclusively, holds
shared: holds never wait on each other there, and a hold and a move never race into each other's index
entries. 23P01 and 40P01 from a move come back as "taken", never as an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import psycopg
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT, JSONB

from domain.availability import Busy
from domain.jobs import Job
from domain.model import Booking, HoldAttempt, OutboxEntry, mask_phone

from .base import StoreBase, UowBase

_TAKEN_SQLSTATES = {"23P01", "40P01"}  # exclusion violation, deadlock: both mean "someone else got it"

#: the columns a Booking is read from
_BOOKING_COLS = ("id, resource_id, service_id, status, starts_at, ends_at, call_id, hold_expires_at, "
                 "customer_name, phone, notes")


#: The one SQL spelling of the hold-expiry rule (the domain's is `Booking.hold_is_live`): a hold blocks
#: its time until `hold_expires_at`, and from then on it blocks nothing, whether or not anything has yet
#: marked it expired (the delayed job, the sweeper and a contender's reservation all do, idempotently).
_LIVE = "status IN ('held', 'booked') AND (status = 'booked' OR hold_expires_at > :now)"
_EXPIRED_HOLD = "status = 'held' AND hold_expires_at <= :now"

_SQL_AUDIT = text(
    "INSERT INTO booking_audit (tenant_id, booking_id, action, call_id, tool_call_id, phone_masked, before, "
    "after) VALUES (:t, :i, :a, :c, :k, :p, :before, :after) RETURNING id"
).bindparams(bindparam("before", type_=JSONB), bindparam("after", type_=JSONB))


def _hold_ended(tenant_id: int, hold: Booking, action: str, call_id: str | None,
                tool_call_id: str | None) -> dict[str, Any]:
    """The audit row of a hold that stopped being held (expired, released, replaced): one idiom for all."""
    return {"t": tenant_id, "i": hold.id, "a": action, "c": call_id, "k": tool_call_id, "p": mask_phone(hold.phone),
            "before": {**hold.snapshot(), "status": "held"}, "after": hold.snapshot()}


def _day_key(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def _booking(row: Any) -> Booking:
    return Booking(**row._mapping)


class BookingsUowMixin(UowBase):
    """The unit of work's bookings: every statement is scoped to the tenant (`:t`)."""

    # One index probe per resource, on both columns of the exclusion constraint's GiST index (the resource's
    # range and the time range): `resource_id = ANY(...)` cannot use the index's resource column, so the plan
    # read every live row of the week, other clinics' included, to keep a few (11,700 read for 2, 3 ms instead
    # of 0.1 ms): one clinic's traffic slowed another's. Now the cost depends only on the resources asked about.
    _SQL_BUSY = text(
        "SELECT b.resource_id, b.starts_at, b.ends_at FROM unnest(:rids) AS r(id) CROSS JOIN LATERAL ("
        "SELECT resource_id, starts_at, ends_at FROM bookings "
        "WHERE int8range(resource_id, resource_id, '[]') = int8range(r.id, r.id, '[]') "
        f"AND tstzrange(starts_at, ends_at) && tstzrange(:a, :b) AND {_LIVE} AND tenant_id = :t) b "
        "ORDER BY b.resource_id, b.starts_at"
    ).bindparams(bindparam("rids", type_=ARRAY(BIGINT)))

    async def busy(self, resource_ids: list[int], start: datetime, end: datetime, now: datetime) -> Busy:
        out: Busy = {}
        for r in await self._all(self._SQL_BUSY, rids=resource_ids, a=start, b=end, now=now):
            out.setdefault(r.resource_id, []).append((r.starts_at, r.ends_at))
        return out

    _SQL_HOLD_FOR_CALL = text(
        "SELECT h.call_status, " + ", ".join(f"(h.hold).{col}" for col in _BOOKING_COLS.split(", ")) + ", h.outbox_id "
        "FROM hold_for_call(:t, CAST(:c AS text), CAST(:k AS text), :rids, :s, CAST(:d AS integer), :a, :b, :x, :now, "
        "CAST(:q AS text), CAST(:actor AS text)) h"
    ).bindparams(bindparam("rids", type_=ARRAY(BIGINT)))

    async def hold_for_call(self, call_id: str, tool_call_id: str | None, resource_ids: Sequence[int],
                            service_id: int, day: date, start: datetime, end: datetime, expires_at: datetime,
                            now: datetime, expiry: Job) -> HoldAttempt:
        row = await self._first(self._SQL_HOLD_FOR_CALL, c=call_id, k=tool_call_id, rids=list(resource_ids),
                                s=service_id, d=_day_key(day), a=start, b=end, x=expires_at, now=now,
                                q=expiry.queue, actor=expiry.actor)
        columns = dict(row._mapping)
        if columns.pop("call_status") == "ended":
            return HoldAttempt(call_ended=True)
        outbox_id = columns.pop("outbox_id")
        if columns["id"] is None:
            return HoldAttempt(call_ended=False)
        hold = Booking(**columns)
        self.outbox.append(OutboxEntry(id=outbox_id, queue=expiry.queue, actor=expiry.actor,
                                       args=[self.tenant_id, hold.id], eta=expires_at))
        return HoldAttempt(call_ended=False, hold=hold)

    _SQL_LOCK = text("SELECT pg_advisory_xact_lock(CAST(:r AS integer), CAST(:d AS integer))")
    _SQL_RETIRE = text(
        f"UPDATE bookings SET status = 'expired', updated_at = :now "
        f"WHERE tenant_id = :t AND resource_id = :r AND {_EXPIRED_HOLD} "
        f"AND tstzrange(starts_at, ends_at) && tstzrange(:a, :b) RETURNING {_BOOKING_COLS}")

    async def _claim_time(self, resource_id: int, day: date, start: datetime, end: datetime, now: datetime,
                          stmt, **params: Any) -> Booking | None:
        """Run `stmt` (which puts an active row on resource/start/end) serialised with its contenders (the
        advisory key taken exclusively), after retiring expired holds in the way. None when the time is taken
        (23P01 or 40P01)."""
        assert self._conn is not None
        try:
            async with self._conn.transaction():  # a savepoint
                await self._execute(self._SQL_LOCK, r=resource_id, d=_day_key(day))
                for row in await self._all(self._SQL_RETIRE, r=resource_id, a=start, b=end, now=now):
                    old = _booking(row)
                    await self._execute(_SQL_AUDIT, **_hold_ended(self.tenant_id, old, "expired", old.call_id, None))
                return _booking(await self._first(stmt, r=resource_id, a=start, b=end, now=now, **params))
        except psycopg.Error as e:
            if e.sqlstate in _TAKEN_SQLSTATES:
                return None
            raise

    _SQL_RELEASE_CALL = text(
        f"UPDATE bookings SET status = :st, updated_at = :now "
        f"WHERE tenant_id = :t AND call_id = :c AND status = 'held' RETURNING {_BOOKING_COLS}")

    async def release_holds_of_call(self, call_id: str, now: datetime, status: str = "released") -> list[Booking]:
        return [_booking(r) for r in await self._all(self._SQL_RELEASE_CALL, c=call_id, now=now, st=status)]

    _SQL_HOLD_OF_CALL = text(
        f"SELECT {_BOOKING_COLS} FROM bookings WHERE tenant_id = :t AND call_id = :c AND status = 'held' FOR UPDATE")

    async def hold_of_call(self, call_id: str) -> Booking | None:
        row = await self._first(self._SQL_HOLD_OF_CALL, c=call_id)
        return _booking(row) if row else None

    _SQL_LAST_OF_CALL = text(
        f"SELECT {_BOOKING_COLS} FROM bookings WHERE tenant_id = :t AND call_id = :c "
        f"ORDER BY updated_at DESC, id DESC LIMIT 1")

    async def last_booking_of_call(self, call_id: str) -> Booking | None:
        row = await self._first(self._SQL_LAST_OF_CALL, c=call_id)
        return _booking(row) if row else None

    _SQL_BOOK = text(
        f"UPDATE bookings SET status = 'booked', customer_name = :n, phone = :p, notes = :notes, "
        f"hold_expires_at = NULL, booked_at = :now, updated_at = :now "
        f"WHERE tenant_id = :t AND id = :i AND status = 'held' RETURNING {_BOOKING_COLS}")

    async def book(self, booking_id: int, name: str, phone: str, notes: str | None, now: datetime) -> Booking:
        return _booking(await self._first(self._SQL_BOOK, i=booking_id, n=name, p=phone, notes=notes, now=now))

    _SQL_APPOINTMENT = text(
        f"SELECT {_BOOKING_COLS} FROM bookings WHERE tenant_id = :t AND id = :i AND status IN ('booked', 'cancelled') "
        f"FOR UPDATE")

    async def appointment(self, appointment_id: int) -> Booking | None:
        row = await self._first(self._SQL_APPOINTMENT, i=appointment_id)
        return _booking(row) if row else None

    _SQL_BY_PHONE = text(
        f"SELECT {_BOOKING_COLS} FROM bookings WHERE tenant_id = :t AND phone = :p AND status = 'booked' "
        f"AND ends_at > :now ORDER BY starts_at LIMIT 10")

    async def appointments_by_phone(self, phone: str, now: datetime) -> list[Booking]:
        return [_booking(r) for r in await self._all(self._SQL_BY_PHONE, p=phone, now=now)]

    _SQL_CANCEL = text(
        f"UPDATE bookings SET status = 'cancelled', cancel_reason = :why, updated_at = :now "
        f"WHERE tenant_id = :t AND id = :i AND status = 'booked' RETURNING {_BOOKING_COLS}")

    async def cancel(self, booking_id: int, reason: str | None, now: datetime) -> Booking:
        return _booking(await self._first(self._SQL_CANCEL, i=booking_id, why=reason, now=now))

    _SQL_MOVE = text(
        f"UPDATE bookings SET resource_id = :r, starts_at = :a, ends_at = :b, updated_at = :now "
        f"WHERE tenant_id = :t AND id = :i AND status = 'booked' RETURNING {_BOOKING_COLS}")

    async def try_move(self, booking_id: int, resource_id: int, day: date, start: datetime, end: datetime,
                       now: datetime) -> Booking | None:
        return await self._claim_time(resource_id, day, start, end, now, self._SQL_MOVE, i=booking_id)

    _SQL_HOLD_CUSTOMER = text(
        "UPDATE bookings SET customer_name = :n, phone = :p WHERE tenant_id = :t AND id = :i AND status = 'held' "
        "RETURNING 1")

    async def set_hold_customer(self, hold_id: int, name: str | None, phone: str | None) -> None:
        await self._first(self._SQL_HOLD_CUSTOMER, i=hold_id, n=name, p=phone)

    async def audit_hold_ended(self, hold: Booking, action: str, call_id: str | None,
                               tool_call_id: str | None) -> None:
        """Audit a hold that stopped being held (`hold` as it is now: expired, released or replaced)."""
        await self._execute(_SQL_AUDIT, **_hold_ended(self.tenant_id, hold, action, call_id, tool_call_id))

    async def audit(self, booking_id: int, action: str, call_id: str | None, tool_call_id: str | None,
                    phone: str | None, before: dict | None, after: dict | None) -> int:
        return await self._scalar_one(_SQL_AUDIT, i=booking_id, a=action, c=call_id, k=tool_call_id,
                                      p=mask_phone(phone), before=before, after=after)


class BookingsStoreMixin(StoreBase):
    """SqlStore's bookings: the hold sweeper's side, across tenants."""

    _SQL_EXPIRE_HOLDS = text(
        f"UPDATE bookings SET status = 'expired', updated_at = :now WHERE {_EXPIRED_HOLD} "
        f"AND (CAST(:t AS bigint) IS NULL OR tenant_id = :t) AND (CAST(:i AS bigint) IS NULL OR id = :i) "
        f"RETURNING tenant_id, {_BOOKING_COLS}")

    async def expire_holds(self, now: datetime, tenant_id: int | None = None, hold_id: int | None = None) -> int:
        """Mark holds whose time is up as expired (one, or all of them for the sweeper), with audit rows."""
        async with self.engine.begin() as conn:
            rows = (await conn.execute(self._SQL_EXPIRE_HOLDS, {"now": now, "t": tenant_id, "i": hold_id})).all()
            for r in rows:
                columns = dict(r._mapping)
                tenant_id = columns.pop("tenant_id")
                hold = Booking(**columns)
                await conn.execute(_SQL_AUDIT, _hold_ended(tenant_id, hold, "expired", hold.call_id, None))
        return len(rows)
