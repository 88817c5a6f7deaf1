"""SqlUnitOfWork: one tenant's transaction, composed of the per-concern mixins. See domain.ports.UnitOfWork.

It runs on a connection of SqlStore's psycopg pool (see store/__init__.py for why not on the engine). The
pool's connections are in autocommit: a read-only unit runs each statement on its own (no BEGIN/COMMIT round
trips), a writing one sends BEGIN when it opens, so that its first savepoint is a savepoint, and COMMIT or
ROLLBACK when it ends. A connection always goes back to the pool outside a transaction."""

from __future__ import annotations

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
        conn = await self._store.checkout()
        if not self.read_only:
            try:
                await conn.execute("BEGIN", prepare=False)
            except BaseException:
                await self._store.checkin(conn)
                raise
        self._conn = conn
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
        if not self.read_only:
            await self._conn.commit()

    def savepoint(self):
        """SAVEPOINT now; RELEASE at the end of the block, or ROLLBACK TO it when the block raises."""
        assert self._conn is not None
        return self._conn.transaction()

    def record_result(self, tool_call_id: str, call_id: str | None, name: str, result: str) -> None:
        self._store.results.add((self.tenant_id, tool_call_id, call_id, name, result))

    async def schedule(self) -> Schedule:
        return await self._store.schedule_of(self.tenant_id, self._version)
