"""SqlUnitOfWork: one tenant's transaction, composed of the per-concern mixins. See domain.ports.UnitOfWork."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from domain.model import OutboxEntry, Schedule

from .bookings import BookingsUowMixin
from .calls import CallsUowMixin
from .otp import OtpUowMixin
from .outbox import OutboxUowMixin
from .sms import SmsUowMixin

if TYPE_CHECKING:
    from .sql_store import SqlStore


class SqlUnitOfWork(CallsUowMixin, BookingsUowMixin, OtpUowMixin, SmsUowMixin, OutboxUowMixin):
    """See domain.ports.UnitOfWork. Every statement carries `tenant_id = :t`."""

    def __init__(self, store: SqlStore, tenant_id: int, version: int, read_only: bool = False) -> None:
        self._store = store
        self.tenant_id = tenant_id
        self._version = version
        self.read_only = read_only
        self._conn: AsyncConnection | None = None
        #: jobs written in this transaction; published after it commits
        self.outbox: list[OutboxEntry] = []

    async def __aenter__(self) -> SqlUnitOfWork:
        self._conn = await self._store.engine.connect()
        if self.read_only:
            await self._conn.execution_options(isolation_level="AUTOCOMMIT")
        else:
            await self._conn.begin()
        return self

    async def __aexit__(self, *exc: object) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if conn.in_transaction():
                await conn.rollback()
        finally:
            await conn.close()

    async def commit(self) -> None:
        assert self._conn is not None
        if not self.read_only:
            await self._conn.commit()

    def savepoint(self):
        assert self._conn is not None
        return self._conn.begin_nested()

    def record_result(self, tool_call_id: str, call_id: str | None, name: str, result: str) -> None:
        self._store.results.add((self.tenant_id, tool_call_id, call_id, name, result))

    async def schedule(self) -> Schedule:
        assert self._conn is not None
        return await self._store.load_schedule(self._conn, self.tenant_id, self._version)
