"""SqlStore: the owner of the engine and of the units of work's pool, composed of the per-concern mixins;
hands out units of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from domain.model import Schedule

from .admin import AdminStoreMixin
from .bookings import BookingsStoreMixin
from .engine import make_pool
from .otp import OtpStoreMixin
from .outbox import OutboxStoreMixin
from .results import ResultWriter
from .sms import SmsStoreMixin
from .tenants import TenantAuth, TenantsStoreMixin, VapiTenant
from .uow import SqlUnitOfWork
from .vapi import VapiSyncStoreMixin


class SqlStore(TenantsStoreMixin, BookingsStoreMixin, OtpStoreMixin, SmsStoreMixin, OutboxStoreMixin,
               VapiSyncStoreMixin, AdminStoreMixin):
    """Owns the engine, the units of work's psycopg pool and a per-process cache of tenant schedules (keyed
    by configuration version).

    Lifecycle: build it anywhere (nothing connects yet); the pool opens in the running event loop, on
    `open()` (the web app's start-up) or else on the first unit of work; `close()` closes both the pool and the
    engine, once, in that loop. A process that never opens a unit of work (the workers, the clock, the CLI)
    never opens the pool.
    """

    def __init__(self, engine: AsyncEngine, secret_key: str,
                 pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None) -> None:
        self.engine = engine
        #: the units of work's connections; by default to the engine's database, opened as they are needed,
        #: as many at most as the engine's pool keeps
        self.pool = pool if pool is not None else make_pool(
            engine.url, 0, engine.pool.size() if isinstance(engine.pool, QueuePool) else 10)
        self._secret_key = secret_key
        self._auth_cache: dict[str, tuple[TenantAuth, float]] = {}
        self._vapi_cache: dict[tuple[str, ...], tuple[VapiTenant, float]] = {}
        self._schedules: dict[int, Schedule] = {}
        #: read-only tools' answers, written in batches off the request path
        self.results = ResultWriter(self.connection)

    async def open(self) -> None:
        """Open the units of work's pool now, in the running event loop, and start filling it."""
        if self.pool.closed:
            await self.pool.open()

    async def close(self) -> None:
        """Write the read-only answers still waiting, then close the pool (connections still checked out close
        when they come back) and the engine."""
        await self.results.flush()
        await self.pool.close()
        await self.engine.dispose()

    async def checkout(self) -> AsyncConnection[Any]:
        """A connection of the pool for a unit of work, which gives it back with `checkin`."""
        if self.pool.closed:
            await self.open()
        return await self.pool.getconn()

    async def checkin(self, conn: AsyncConnection[Any]) -> None:
        await self.pool.putconn(conn)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A connection of the units of work's pool (in autocommit) for the duration of the block."""
        conn = await self.checkout()
        try:
            yield conn
        finally:
            await self.checkin(conn)

    _SQL_PING = text("SELECT 1")

    async def ping(self) -> bool:
        async with self.engine.connect() as conn:
            await conn.execute(self._SQL_PING)
        return True

    async def schedule_of(self, tenant_id: int, version: int) -> Schedule:
        """The tenant's schedule at this configuration version: the cached one, else loaded on a connection of
        the engine (a unit of work's schedule; a changed tenant file is the only miss)."""
        cached = self._schedules.get(tenant_id)
        if cached is not None and cached.version == version:
            return cached
        async with self.engine.connect() as conn:
            return await self.load_schedule(conn, tenant_id, version)

    def uow(self, tenant: TenantAuth, read_only: bool = False) -> SqlUnitOfWork:
        """A unit of work for one tenant. Read-only ones run in autocommit (no BEGIN/COMMIT round trips)."""
        return SqlUnitOfWork(self, tenant.id, tenant.version, read_only)
