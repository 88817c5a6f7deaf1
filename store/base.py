"""What the per-concern mixins of SqlUnitOfWork and SqlStore rely on.

Rows are read by column name (`row.col`, `Model(**row._mapping)`), never by position, so a reordered
SELECT list cannot silently swap two fields."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.model import OutboxEntry


class UowBase:
    """One tenant's open connection, and statement runners that bind that tenant as `:t`."""

    tenant_id: int
    read_only: bool
    #: jobs written in this transaction; published after it commits
    outbox: list[OutboxEntry]
    _conn: AsyncConnection | None

    async def _all(self, stmt, **params: Any):
        assert self._conn is not None
        return (await self._conn.execute(stmt, {"t": self.tenant_id, **params})).all()

    async def _first(self, stmt, **params: Any):
        assert self._conn is not None
        return (await self._conn.execute(stmt, {"t": self.tenant_id, **params})).first()

    async def _scalar(self, stmt, **params: Any):
        """The first column of the first row, or None when there is no row."""
        assert self._conn is not None
        return (await self._conn.execute(stmt, {"t": self.tenant_id, **params})).scalar()

    async def _scalar_one(self, stmt, **params: Any):
        """The single value of a statement that always returns exactly one row."""
        assert self._conn is not None
        return (await self._conn.execute(stmt, {"t": self.tenant_id, **params})).scalar_one()


class StoreBase:
    """The engine; each store-side method runs in a connection or transaction of its own."""

    engine: AsyncEngine
