"""SqlUnitOfWork: one tenant's transaction, composed of the per-concern mixins. See domain.ports.UnitOfWork.

It runs on a connection of SqlStore's psycopg pool (see store/__init__.py for why not on the engine). The
pool's connections are in autocommit: a read-only unit runs each statement on its own (no BEGIN/COMMIT round
trips); a writing one sends BEGIN together with its first statement (or before its first savepoint, so that
it is a savepoint), its stored answer together with COMMIT, and ROLLBACK if it ends without committing. A
reserve is three round trips: BEGIN and the claim, hold_for_call, the answer and COMMIT. A connection always
goes back to the pool outside a transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus

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
        self._conn: AsyncConnection[Any] | None = None
        #: jobs written in this transaction; published after it commits
        self.outbox: list[OutboxEntry] = []

    async def __aenter__(self) -> SqlUnitOfWork:
        self._conn = await self._store.checkout()
        # a writing unit's BEGIN goes with its first statement, its last statement with its COMMIT (store.base)
        self._begin_pending = not self.read_only
        self._before_commit = None
        return self

    async def __aexit__(self, *exc: object) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if conn.info.transaction_status != TransactionStatus.IDLE:
                await conn.rollback()
        finally:
            await self._store.checkin(conn)

    async def commit(self) -> None:
        assert self._conn is not None
        if self.read_only:
            return
        last, self._before_commit = self._before_commit, None
        if last is not None:
            await self._send(*last, commit=True)
        elif not self._begin_pending:  # (else nothing was sent: nothing to commit)
            await self._conn.commit()

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """SAVEPOINT now; RELEASE at the end of the block, or ROLLBACK TO it when the block raises."""
        assert self._conn is not None
        if self._begin_pending:  # psycopg would take an unbegun transaction() for the outermost one
            self._begin_pending = False
            await self._conn.execute(b"BEGIN", prepare=False)
        async with self._conn.transaction():
            yield

    def record_result(self, tool_call_id: str, call_id: str | None, name: str, result: str) -> None:
        self._store.results.add((self.tenant_id, tool_call_id, call_id, name, result))

    async def schedule(self) -> Schedule:
        return await self._store.schedule_of(self.tenant_id, self._version)
