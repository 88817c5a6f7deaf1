"""Calls: tool-call idempotency (`tool_results`) and the state of each call (`call_states`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import text

from domain.model import Booking

from .base import UowBase


class CallsUowMixin(UowBase):
    """The unit of work's calls; end_call relies on BookingsUowMixin.release_holds_of_call."""

    # ---- idempotency --------------------------------------------------------------------------------

    _SQL_STORED = text("SELECT result FROM tool_results WHERE tenant_id = :t AND tool_call_id = :k")

    async def stored_result(self, tool_call_id: str) -> str | None:
        return await self._scalar(self._SQL_STORED, k=tool_call_id)

    _SQL_CLAIM = text(
        "INSERT INTO tool_results (tenant_id, tool_call_id, call_id, name, result) VALUES (:t, :k, :c, :n, '') "
        "ON CONFLICT DO NOTHING RETURNING 1")

    async def claim_tool_call(self, tool_call_id: str, call_id: str | None, name: str) -> str | None:
        # A concurrent transaction inserting the same key makes this wait for it to finish; then the row
        # is there and its result is returned, so a duplicate never runs the tool a second time.
        row = await self._first(self._SQL_CLAIM, k=tool_call_id, c=call_id, n=name)
        if row is not None:
            return None
        return await self.stored_result(tool_call_id)

    _SQL_SAVE = text("UPDATE tool_results SET result = :r WHERE tenant_id = :t AND tool_call_id = :k RETURNING 1")

    async def save_result(self, tool_call_id: str, result: str) -> None:
        """The answer of the tool call claimed in this transaction (read-only tools' answers go to
        record_result instead)."""
        self._execute_before_commit(self._SQL_SAVE, k=tool_call_id, r=result)

    # ---- call states --------------------------------------------------------------------------------

    _SQL_OPEN_CALL = text(
        "INSERT INTO call_states (tenant_id, call_id) VALUES (:t, :c) "
        "ON CONFLICT (tenant_id, call_id) DO UPDATE SET status = call_states.status RETURNING status")

    async def open_call(self, call_id: str) -> str:
        return await self._scalar_one(self._SQL_OPEN_CALL, c=call_id)

    _SQL_END_CALL = text(
        "INSERT INTO call_states (tenant_id, call_id, status, ended_reason, ended_at) "
        "VALUES (:t, :c, 'ended', :why, :now) ON CONFLICT (tenant_id, call_id) DO UPDATE SET status = 'ended', "
        "ended_reason = COALESCE(call_states.ended_reason, excluded.ended_reason), "
        "ended_at = COALESCE(call_states.ended_at, excluded.ended_at) RETURNING 1")

    if TYPE_CHECKING:  # provided by the bookings mixin that SqlUnitOfWork also inherits
        async def release_holds_of_call(self, call_id: str, now: datetime,
                                        status: str = "released") -> list[Booking]: ...

    async def end_call(self, call_id: str, reason: str | None, now: datetime) -> list[Booking]:
        await self._first(self._SQL_END_CALL, c=call_id, why=reason, now=now)
        return await self.release_holds_of_call(call_id, now)

    _SQL_CALL_VERIFIED = text(
        "INSERT INTO call_states (tenant_id, call_id, verified_phone, verified_at) VALUES (:t, :c, :p, :now) "
        "ON CONFLICT (tenant_id, call_id) DO UPDATE SET verified_phone = :p, verified_at = :now RETURNING 1")

    async def mark_call_verified(self, call_id: str, phone: str, now: datetime) -> None:
        await self._first(self._SQL_CALL_VERIFIED, c=call_id, p=phone, now=now)

    _SQL_VERIFIED_PHONE = text("SELECT verified_phone FROM call_states WHERE tenant_id = :t AND call_id = :c")

    async def verified_phone(self, call_id: str) -> str | None:
        return await self._scalar(self._SQL_VERIFIED_PHONE, c=call_id)
