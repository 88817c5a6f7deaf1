"""What the per-concern mixins of SqlUnitOfWork and SqlStore rely on.

Statements are written once, as SQLAlchemy `text()` with `:name` parameters, whichever side runs them. The
store side runs them on the SQLAlchemy engine. The unit of work runs them on a psycopg connection of its own
pool: each is compiled once, on first use, by SQLAlchemy's compiler for the psycopg dialect, into the very
`%(name)s` string SQLAlchemy itself sends (`::` casts and `%` handled the same way, typed parameters with the
same casts, e.g. `::JSONB`, `::BIGINT[]`), and its typed parameters go through the same bind processors
(JSONB values become psycopg's `Jsonb`). So PostgreSQL sees, plans and prepares the same statements as
through the engine, while a statement costs psycopg's own price rather than SQLAlchemy's async layer's too.

Rows are read by column name (`row.col`, `Model(**row._mapping)`), never by position, so a reordered
SELECT list cannot silently swap two fields; a unit of work's rows (`Row` below) read like SQLAlchemy's."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from functools import lru_cache
from typing import Any, NamedTuple

from psycopg import AsyncClientCursor, AsyncConnection, AsyncCursor
from psycopg.rows import RowMaker, no_result
from sqlalchemy import TextClause
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.model import OutboxEntry

_DIALECT = psycopg_dialect.dialect()

#: (psycopg query, bind processors of its typed parameters) per statement: statements are class and module
#: constants, so this holds a few dozen; the bound only guards against a `text()` built per call
_COMPILED: dict[TextClause, tuple[bytes, tuple[tuple[str, Callable[[Any], Any]], ...]]] = {}
_COMPILED_MAX = 1000


def _compiled(stmt: TextClause) -> tuple[bytes, tuple[tuple[str, Callable[[Any], Any]], ...]]:
    compiled = _COMPILED.get(stmt)
    if compiled is None:
        c = stmt.compile(dialect=_DIALECT)
        processors = tuple((name, p) for name, bind in c.binds.items()
                           if (p := bind.type.dialect_impl(_DIALECT).bind_processor(_DIALECT)) is not None)
        compiled = c.string.encode(), processors  # bytes: psycopg caches its parse of them
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        _COMPILED[stmt] = compiled
    return compiled


@lru_cache(maxsize=512)
def _row_class(names: tuple[str, ...]) -> type[NamedTuple]:
    """A named tuple of these columns that also reads like a SQLAlchemy row (`row._mapping`)."""

    class Row(namedtuple("Row", names, rename=True)):  # type: ignore[misc]
        __slots__ = ()

        @property
        def _mapping(self) -> dict[str, Any]:
            return self._asdict()

    return Row


def row_factory(cursor: AsyncCursor[Any]) -> RowMaker[Any]:
    """psycopg's row factory for the unit of work's connections: rows as `Row`s, by column name.

    The names come straight from the result (`fname`), not from `cursor.description`, which builds a Column
    object per column for every statement: that was a third of the store's Python per statement."""
    result = cursor.pgresult
    if result is None or not result.nfields:
        return no_result
    return _row_class(tuple((result.fname(i) or b"").decode() for i in range(result.nfields)))._make


class UowBase:
    """One tenant's open connection, and statement runners that bind that tenant as `:t`."""

    tenant_id: int
    read_only: bool
    #: jobs written in this transaction; published after it commits
    outbox: list[OutboxEntry]
    _conn: AsyncConnection[Any] | None

    #: a writing unit of work's BEGIN, not sent yet: it travels with the first statement
    _begin_pending: bool = False
    #: a statement nothing reads before the commit (the claimed call's answer), sent together with COMMIT
    _before_commit: tuple[bytes, dict[str, Any]] | None = None

    def _bind(self, stmt: TextClause, params: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
        query, processors = _compiled(stmt)
        values = {"t": self.tenant_id, **params}
        for name, process in processors:
            if name in values:
                values[name] = process(values[name])
        return query, values

    async def _cursor(self, stmt: TextClause, params: dict[str, Any]) -> AsyncCursor[Any]:
        assert self._conn is not None
        if self._before_commit is not None:  # not expected: a statement after the answer was stored
            await self._conn.execute(*self._before_commit)
            self._before_commit = None
        return await self._send(*self._bind(stmt, params))

    async def _send(self, query: bytes, values: dict[str, Any], commit: bool = False) -> AsyncCursor[Any]:
        """One round trip: the statement, after the BEGIN still pending and before COMMIT if asked. Several
        statements go as one simple query with the parameters bound on the client (that statement is then
        not prepared on the server); the cursor is left on the statement's own result."""
        assert self._conn is not None
        begin, self._begin_pending = self._begin_pending, False
        if not (begin or commit):
            return await self._conn.execute(query, values)
        cursor: AsyncCursor[Any] = AsyncClientCursor(self._conn)
        await cursor.execute((b"BEGIN; " if begin else b"") + query + (b"; COMMIT" if commit else b""), values)
        if begin:
            cursor.nextset()
        return cursor

    def _execute_before_commit(self, stmt: TextClause, **params: Any) -> None:
        """Run a statement whose rows are not needed together with this transaction's COMMIT (one round trip);
        if it fails, the COMMIT does not happen and commit() raises."""
        self._before_commit = self._bind(stmt, params)

    async def _execute(self, stmt, **params: Any) -> None:
        """Run a statement whose rows, if any, are not needed."""
        await self._cursor(stmt, params)

    async def _all(self, stmt, **params: Any):
        return await (await self._cursor(stmt, params)).fetchall()

    async def _first(self, stmt, **params: Any):
        return await (await self._cursor(stmt, params)).fetchone()

    async def _scalar(self, stmt, **params: Any):
        """The first column of the first row, or None when there is no row."""
        row = await (await self._cursor(stmt, params)).fetchone()
        return None if row is None else row[0]

    async def _scalar_one(self, stmt, **params: Any):
        """The single value of a statement that always returns exactly one row."""
        rows = await (await self._cursor(stmt, params)).fetchall()
        if len(rows) != 1:
            raise LookupError(f"expected exactly one row, got {len(rows)}")
        return rows[0][0]


class StoreBase:
    """The engine; each store-side method runs in a connection or transaction of its own."""

    engine: AsyncEngine
