"""The ports the use cases depend on. The SQL implementation lives in the top-level store/ package; tests may
race it directly."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from typing import Any, Protocol

from .availability import Busy
from .jobs import Job
from .model import Booking, HoldAttempt, OtpChallenge, OutboxEntry, Schedule


class UnitOfWork(Protocol):
    """One tenant's view of the store, one transaction at a time.

    `async with uow:` begins a transaction that rolls back unless `commit()` is called. Every query is
    scoped to the tenant the unit of work was opened for.
    """

    tenant_id: int
    read_only: bool  # autocommit: no transaction, commit() does nothing
    outbox: list[OutboxEntry]  # jobs written in this transaction, to publish once it has committed

    async def __aenter__(self) -> UnitOfWork: ...
    async def __aexit__(self, *exc: object) -> None: ...
    async def commit(self) -> None: ...
    def savepoint(self) -> AbstractAsyncContextManager[Any]: ...

    # tool-call idempotency
    async def claim_tool_call(self, tool_call_id: str, call_id: str | None, name: str) -> str | None:
        """Reserve the id for this transaction; returns the stored result instead if it already has one."""
    async def save_result(self, tool_call_id: str, result: str) -> None:
        """Store the answer of the tool call claimed in this transaction."""
    def record_result(self, tool_call_id: str, call_id: str | None, name: str, result: str) -> None:
        """Keep a read-only tool's answer for the record, without waiting for it to be written (it changes
        nothing, so a retry is answered afresh rather than replayed)."""

    # schedule and slots
    async def schedule(self) -> Schedule: ...
    async def busy(self, resource_ids: list[int], start: datetime, end: datetime, now: datetime) -> Busy: ...
    async def open_call(self, call_id: str) -> str:
        """Record the call (if new), lock its row for this transaction, return its status."""
    async def end_call(self, call_id: str, reason: str | None, now: datetime) -> list[Booking]: ...
    async def hold_for_call(self, call_id: str, tool_call_id: str | None, resource_ids: Sequence[int],
                            service_id: int, day: date, start: datetime, end: datetime, expires_at: datetime,
                            now: datetime, expiry: Job) -> HoldAttempt:
        """Reserve's database side in one go. Record the call (if new) and lock its row; if it has ended, stop
        there. Else release its hold (audited 'replaced': a call holds one slot), then hold the time on the
        first of `resource_ids` (in order) where it is free, `day` being its local day: retire expired holds
        in the way, insert the hold, audit it ('held') and write `expiry` for it (args tenant id, hold id; eta
        `expires_at`) to the outbox. The hold is None if the time is taken on every one of them, and then
        nothing has changed but the call's row (the previous hold is kept): a refusal needs no savepoint. A
        contender still in progress is waited for, and never makes it "taken" if it rolls back."""
    async def release_holds_of_call(self, call_id: str, now: datetime, status: str = "released") -> list[Booking]: ...
    async def hold_of_call(self, call_id: str) -> Booking | None: ...
    async def last_booking_of_call(self, call_id: str) -> Booking | None: ...
    async def book(self, booking_id: int, name: str, phone: str, notes: str | None, now: datetime) -> Booking: ...
    async def appointment(self, appointment_id: int) -> Booking | None: ...
    async def appointments_by_phone(self, phone: str, now: datetime) -> list[Booking]: ...
    async def cancel(self, booking_id: int, reason: str | None, now: datetime) -> Booking: ...
    async def try_move(self, booking_id: int, resource_id: int, day: date, start: datetime, end: datetime,
                       now: datetime) -> Booking | None: ...
    async def set_hold_customer(self, hold_id: int, name: str | None, phone: str | None) -> None: ...

    # one-time codes
    async def otp_lock(self, phone: str) -> None:
        """Serialise code requests for one number until the transaction ends."""
    async def otp_recent(self, phone: str, since: datetime) -> tuple[int, datetime | None]:
        """Codes requested for the number since `since`: how many, and when the last one was."""
    async def create_challenge(self, call_id: str, phone: str, now: datetime) -> int: ...
    async def link_challenge_sms(self, challenge_id: int, sms_id: int) -> None: ...
    async def latest_challenge(self, call_id: str) -> OtpChallenge | None:
        """The call's newest challenge, locked for this transaction."""
    async def update_challenge(self, challenge_id: int, status: str, attempts: int, now: datetime) -> None: ...
    async def mark_call_verified(self, call_id: str, phone: str, now: datetime) -> None: ...
    async def verified_phone(self, call_id: str) -> str | None: ...

    # history and jobs
    async def count_sms(self, key_prefix: str, since: datetime) -> int: ...
    async def audit_hold_ended(self, hold: Booking, action: str, call_id: str | None,
                               tool_call_id: str | None) -> None:
        """Audit a hold that stopped being held (expired, released, replaced), as every site records it."""
    async def audit(self, booking_id: int, action: str, call_id: str | None, tool_call_id: str | None,
                    phone: str | None, before: dict[str, Any] | None, after: dict[str, Any] | None) -> int: ...
    async def enqueue(self, queue: str, actor: str, args: list[Any], eta: datetime | None = None) -> None:
        """Write an outbox row in this transaction (and remember it for publishing after commit)."""
    async def queue_sms(self, kind: str, dedupe_key: str, to_phone: str, body: str | None) -> int | None:
        """Record a text to send; None if one with that key exists already (it is never sent twice)."""
