"""An in-memory UnitOfWork (domain.ports) for testing use-case decisions without a database.

It keeps one tenant's rows in plain dicts and rolls back to the state at `__aenter__` unless committed,
and a savepoint to its start when its block raises. It has no constraints and no concurrency: what the
database guards (two calls racing for one time, the one-hold-per-call index) is tested on PostgreSQL.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from domain.availability import Busy
from domain.jobs import Job
from domain.model import Booking, HoldAttempt, OtpChallenge, OutboxEntry, Schedule


@dataclass
class State:
    bookings: dict[int, Booking] = field(default_factory=dict)
    calls: dict[str, str] = field(default_factory=dict)  # call id -> status
    verified: dict[str, str] = field(default_factory=dict)  # call id -> phone
    challenges: dict[int, OtpChallenge] = field(default_factory=dict)
    results: dict[str, str] = field(default_factory=dict)  # tool call id -> stored answer
    sms: dict[str, tuple[int, str, str, str | None, datetime | None]] = field(default_factory=dict)
    audits: list[tuple[int, str]] = field(default_factory=list)  # (booking id, action)


class FakeUnitOfWork:
    def __init__(self, schedule: Schedule, state: State | None = None, read_only: bool = False,
                 now: datetime | None = None) -> None:
        self.tenant_id = schedule.tenant_id
        self.read_only = read_only
        self.outbox: list[OutboxEntry] = []
        self.state = state or State()
        self._schedule = schedule
        self._now = now  # stamps sms rows, as the database's clock would
        self._ids = itertools.count(1000)
        self._begun: State | None = None
        self.commits = 0

    async def __aenter__(self) -> FakeUnitOfWork:
        self._begun = copy.deepcopy(self.state)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._begun is not None:  # not committed
            self.state = self._begun
            self._begun = None

    async def commit(self) -> None:
        self.commits += 1
        self._begun = None

    @asynccontextmanager
    async def savepoint(self):
        saved = copy.deepcopy(self.state)
        try:
            yield
        except BaseException:
            self.state = saved
            raise

    # ---- tool-call idempotency -------------------------------------------------------------------------

    async def stored_result(self, tool_call_id: str) -> str | None:
        return self.state.results.get(tool_call_id)

    async def claim_tool_call(self, tool_call_id: str, call_id: str | None, name: str) -> str | None:
        return self.state.results.get(tool_call_id)

    async def save_result(self, tool_call_id: str, result: str) -> None:
        self.state.results[tool_call_id] = result

    def record_result(self, tool_call_id: str, call_id: str | None, name: str, result: str) -> None:
        self.state.results.setdefault(tool_call_id, result)

    # ---- schedule and slots ----------------------------------------------------------------------------

    async def schedule(self) -> Schedule:
        return self._schedule

    def _active(self, now: datetime) -> list[Booking]:
        return [b for b in self.state.bookings.values()
                if b.status == "booked" or (b.status == "held" and b.hold_expires_at and b.hold_expires_at > now)]

    async def busy(self, resource_ids: list[int], start: datetime, end: datetime, now: datetime) -> Busy:
        out: Busy = {}
        for b in sorted(self._active(now), key=lambda b: b.starts_at):
            if b.resource_id in resource_ids and b.starts_at < end and b.ends_at > start:
                out.setdefault(b.resource_id, []).append((b.starts_at, b.ends_at))
        return out

    async def open_call(self, call_id: str) -> str:
        return self.state.calls.setdefault(call_id, "open")

    async def end_call(self, call_id: str, reason: str | None, now: datetime) -> list[Booking]:
        self.state.calls[call_id] = "ended"
        return await self.release_holds_of_call(call_id, now)

    def _put(self, b: Booking) -> Booking:
        self.state.bookings[b.id] = b
        return b

    def _taken(self, resource_id: int, start: datetime, end: datetime, now: datetime, but: int | None = None) -> bool:
        return any(b.resource_id == resource_id and b.starts_at < end and b.ends_at > start and b.id != but
                   for b in self._active(now))

    async def hold_for_call(self, call_id: str, tool_call_id: str | None, resource_ids: Sequence[int],
                            service_id: int, day: date, start: datetime, end: datetime, expires_at: datetime,
                            now: datetime, expiry: Job) -> HoldAttempt:
        if await self.open_call(call_id) == "ended":
            return HoldAttempt(call_ended=True)
        before = copy.deepcopy(self.state)  # taken everywhere: the release is undone, as the SQL function does
        for old in await self.release_holds_of_call(call_id, now):
            await self.audit_hold_ended(old, "replaced", call_id, tool_call_id)
        for resource_id in resource_ids:
            if self._taken(resource_id, start, end, now):
                continue
            hold = self._put(Booking(next(self._ids), resource_id, service_id, "held", start, end, call_id,
                                     hold_expires_at=expires_at))
            await self.audit(hold.id, "held", call_id, tool_call_id, None, None, hold.snapshot())
            await self.enqueue(expiry.queue, expiry.actor, [self.tenant_id, hold.id], eta=expires_at)
            return HoldAttempt(call_ended=False, hold=hold)
        self.state = before
        return HoldAttempt(call_ended=False)

    async def release_holds_of_call(self, call_id: str, now: datetime, status: str = "released") -> list[Booking]:
        return [self._put(replace(b, status=status)) for b in list(self.state.bookings.values())
                if b.call_id == call_id and b.status == "held"]

    async def hold_of_call(self, call_id: str) -> Booking | None:
        return next((b for b in self.state.bookings.values() if b.call_id == call_id and b.status == "held"), None)

    async def last_booking_of_call(self, call_id: str) -> Booking | None:
        mine = [b for b in self.state.bookings.values() if b.call_id == call_id]
        return max(mine, key=lambda b: b.id) if mine else None

    async def book(self, booking_id: int, name: str, phone: str, notes: str | None, now: datetime) -> Booking:
        b = self.state.bookings[booking_id]
        return self._put(replace(b, status="booked", customer_name=name, phone=phone, notes=notes,
                                 hold_expires_at=None))

    async def appointment(self, appointment_id: int) -> Booking | None:
        b = self.state.bookings.get(appointment_id)
        return b if b is not None and b.status in ("booked", "cancelled") else None

    async def appointments_by_phone(self, phone: str, now: datetime) -> list[Booking]:
        return sorted((b for b in self.state.bookings.values()
                       if b.phone == phone and b.status == "booked" and b.ends_at > now), key=lambda b: b.starts_at)

    async def cancel(self, booking_id: int, reason: str | None, now: datetime) -> Booking:
        return self._put(replace(self.state.bookings[booking_id], status="cancelled"))

    async def try_move(self, booking_id: int, resource_id: int, day: date, start: datetime, end: datetime,
                       now: datetime) -> Booking | None:
        if self._taken(resource_id, start, end, now, but=booking_id):
            return None
        return self._put(replace(self.state.bookings[booking_id], resource_id=resource_id, starts_at=start,
                                 ends_at=end))

    async def set_hold_customer(self, hold_id: int, name: str | None, phone: str | None) -> None:
        self._put(replace(self.state.bookings[hold_id], customer_name=name, phone=phone))

    # ---- one-time codes --------------------------------------------------------------------------------

    async def otp_lock(self, phone: str) -> None:
        pass

    async def otp_recent(self, phone: str, since: datetime) -> tuple[int, datetime | None]:
        times = [c.created_at for c in self.state.challenges.values() if c.phone == phone and c.created_at > since]
        return len(times), max(times, default=None)

    async def create_challenge(self, call_id: str, phone: str, now: datetime) -> int:
        cid = next(self._ids)
        self.state.challenges[cid] = OtpChallenge(cid, call_id, phone, "pending", None, None, 0, now, None)
        return cid

    async def link_challenge_sms(self, challenge_id: int, sms_id: int) -> None:
        pass

    async def latest_challenge(self, call_id: str) -> OtpChallenge | None:
        mine = [c for c in self.state.challenges.values() if c.call_id == call_id]
        return max(mine, key=lambda c: c.id) if mine else None

    async def update_challenge(self, challenge_id: int, status: str, attempts: int, now: datetime) -> None:
        self.state.challenges[challenge_id] = replace(self.state.challenges[challenge_id], status=status,
                                                      attempts=attempts)

    async def mark_call_verified(self, call_id: str, phone: str, now: datetime) -> None:
        self.state.verified[call_id] = phone

    async def verified_phone(self, call_id: str) -> str | None:
        return self.state.verified.get(call_id)

    # ---- history and jobs ------------------------------------------------------------------------------

    async def count_sms(self, key_prefix: str, since: datetime) -> int:
        return sum(1 for key, row in self.state.sms.items()
                   if key.startswith(key_prefix) and (row[4] is None or row[4] > since))

    async def audit_hold_ended(self, hold: Booking, action: str, call_id: str | None,
                               tool_call_id: str | None) -> None:
        self.state.audits.append((hold.id, action))

    async def audit(self, booking_id: int, action: str, call_id: str | None, tool_call_id: str | None,
                    phone: str | None, before: dict | None, after: dict | None) -> int:
        self.state.audits.append((booking_id, action))
        return len(self.state.audits)

    async def enqueue(self, queue: str, actor: str, args: list[Any], eta: datetime | None = None) -> None:
        self.outbox.append(OutboxEntry(next(self._ids), queue, actor, args, eta))

    async def queue_sms(self, kind: str, dedupe_key: str, to_phone: str, body: str | None) -> int | None:
        if dedupe_key in self.state.sms:
            return None
        sms_id = next(self._ids)
        self.state.sms[dedupe_key] = (sms_id, kind, to_phone, body, self._now)
        return sms_id
