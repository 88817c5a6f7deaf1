"""The Vapi tool sync's records: the tools it created per tenant, its runs, and the lock that keeps two syncs
of one tenant apart. See domain.vapi_sync.VapiSyncStore."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.jobs import SYNC_TENANT_TOOLS
from domain.model import OutboxEntry, Schedule, VapiConfig
from domain.vapi_sync import SyncedTool

from .base import StoreBase
from .tenants import vapi_config


@dataclass(frozen=True)
class VapiTenant:
    """A tenant as `frontdesk vapi sync` lists them: whether it has a Vapi key depends on the environment."""

    id: int
    slug: str
    vapi: VapiConfig


class VapiSyncStoreMixin(StoreBase):
    """SqlStore's side of the Vapi sync; each method runs on a connection of its own."""

    #: TenantsStoreMixin's
    load_schedule: Callable[[AsyncConnection, int, int], Awaitable[Schedule]]

    _SQL_VERSION = text("SELECT config_version FROM tenants WHERE id = :t")

    async def tenant_schedule(self, tenant_id: int) -> Schedule | None:
        """The tenant's current schedule, or None if there is no such tenant."""
        async with self.engine.connect() as conn:
            version = (await conn.execute(self._SQL_VERSION, {"t": tenant_id})).scalar()
            if version is None:
                return None
            return await self.load_schedule(conn, tenant_id, version)

    _SQL_VAPI_TENANTS = text("SELECT id, slug, vapi FROM tenants ORDER BY slug")

    async def vapi_tenants(self) -> list[VapiTenant]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(self._SQL_VAPI_TENANTS)).all()
        return [VapiTenant(id=r.id, slug=r.slug, vapi=vapi_config(r.vapi)) for r in rows]

    _SQL_ENQUEUE = text(
        "INSERT INTO outbox (tenant_id, queue, actor, args) VALUES (:t, :q, :a, :args) RETURNING id"
    ).bindparams(bindparam("args", type_=JSONB))

    async def enqueue_sync(self, tenant_id: int) -> OutboxEntry:
        """An outbox row for a SYNC_TENANT_TOOLS job, committed; publish it, or the clock's relay will."""
        args = [tenant_id]
        async with self.engine.begin() as conn:
            outbox_id = (await conn.execute(self._SQL_ENQUEUE, {
                "t": tenant_id, "q": SYNC_TENANT_TOOLS.queue, "a": SYNC_TENANT_TOOLS.actor, "args": args,
            })).scalar_one()
        return OutboxEntry(id=outbox_id, queue=SYNC_TENANT_TOOLS.queue, actor=SYNC_TENANT_TOOLS.actor, args=args)

    _SQL_TOOLS = text("SELECT tool_name, vapi_tool_id, definition_hash FROM vapi_tools WHERE tenant_id = :t")

    async def synced_tools(self, tenant_id: int) -> dict[str, SyncedTool]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(self._SQL_TOOLS, {"t": tenant_id})).all()
        return {r.tool_name: SyncedTool(r.tool_name, r.vapi_tool_id, r.definition_hash) for r in rows}

    _SQL_SAVE_TOOL = text(
        "INSERT INTO vapi_tools (tenant_id, tool_name, vapi_tool_id, definition_hash) VALUES (:t, :n, :i, :h) "
        "ON CONFLICT (tenant_id, tool_name) DO UPDATE SET vapi_tool_id = excluded.vapi_tool_id, "
        "definition_hash = excluded.definition_hash, updated_at = now()")

    async def save_synced_tool(self, tenant_id: int, tool: SyncedTool) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(self._SQL_SAVE_TOOL, {"t": tenant_id, "n": tool.name, "i": tool.tool_id,
                                                     "h": tool.definition_hash})

    _SQL_FORGET_TOOL = text("DELETE FROM vapi_tools WHERE tenant_id = :t AND tool_name = :n")

    async def forget_synced_tool(self, tenant_id: int, name: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(self._SQL_FORGET_TOOL, {"t": tenant_id, "n": name})

    _SQL_START_RUN = text("INSERT INTO vapi_sync_runs (tenant_id, started_at) VALUES (:t, :now) RETURNING id")

    async def start_sync_run(self, tenant_id: int, now: datetime) -> int:
        async with self.engine.begin() as conn:
            return int((await conn.execute(self._SQL_START_RUN, {"t": tenant_id, "now": now})).scalar_one())

    _SQL_FINISH_RUN = text(
        "UPDATE vapi_sync_runs SET finished_at = :now, status = :s, writes = :w, error = :e WHERE id = :i")

    async def finish_sync_run(self, run_id: int, now: datetime, status: str, writes: int,
                              error: str | None) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(self._SQL_FINISH_RUN, {"i": run_id, "now": now, "s": status, "w": writes,
                                                      "e": error})

    # a session-level lock on a connection held for the whole sync (which is mostly waiting on Vapi); it is
    # released when the connection ends, so a sync that dies cannot leave it behind
    _SQL_TRY_LOCK = text("SELECT pg_try_advisory_lock(hashtextextended('vapi_sync:' || :t, 0))")
    _SQL_UNLOCK = text("SELECT pg_advisory_unlock(hashtextextended('vapi_sync:' || :t, 0))")

    @asynccontextmanager
    async def sync_lock(self, tenant_id: int) -> AsyncIterator[bool]:
        async with self.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            locked = bool((await conn.execute(self._SQL_TRY_LOCK, {"t": str(tenant_id)})).scalar())
            try:
                yield locked
            finally:
                if locked:
                    await conn.execute(self._SQL_UNLOCK, {"t": str(tenant_id)})
