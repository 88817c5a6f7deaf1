"""The answers of read-only tool calls, written to `tool_results` in batches, off the request path.

A read-only tool (check_availability, lookup_appointments) changes nothing, so its answer is kept for the
record (the admin's call transcript: what a caller was offered), not for idempotency: a retried read-only call
is simply answered again, which is harmless and also the more current answer. Writing tools still claim their
toolCallId and store their answer in their own transaction (store/calls.py), so a replay of one is
byte-identical and does nothing.

The request hands its row to `ResultWriter.add` and answers at once. One task per process writes whatever has
piled up in one INSERT, then looks again: idle, a row is written a few milliseconds after its answer; under
load one statement carries tens of rows. If the database cannot be reached, rows wait (up to `max_pending`,
then the newest are dropped with a warning: a lost transcript line must not become lost memory) and are
retried with a back-off. `flush()` on shutdown writes what is left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import psycopg
import structlog
from psycopg import AsyncConnection

log = structlog.get_logger("frontdesk.store")

#: (tenant id, toolCallId, call id, tool name, answer)
ResultRow = tuple[int, str, str | None, str, str]

#: run for every row of a batch by psycopg's executemany, which sends them all in one pipeline (one round trip);
#: an INSERT of unnest()ed arrays instead spent 0.2 ms per row escaping the answers' quotes into array literals
_SQL_INSERT = ("INSERT INTO tool_results (tenant_id, tool_call_id, call_id, name, result) "
               "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING")

#: a connection of the units of work's pool (SqlStore.connection), in autocommit
Connect = Callable[[], AbstractAsyncContextManager[AsyncConnection[Any]]]


class ResultWriter:
    """Batches rows for `tool_results`; one per process (SqlStore.results)."""

    #: rows per INSERT at most
    BATCH = 500
    #: seconds to wait before retrying after a failed write, doubling up to RETRY_MAX_S
    RETRY_FIRST_S = 0.2
    RETRY_MAX_S = 5.0
    #: seconds the first row waits for others before a write starts
    LINGER_S = 0.005

    def __init__(self, connect: Connect, max_pending: int = 20_000) -> None:
        self._connect = connect
        self._max_pending = max_pending
        self._pending: list[ResultRow] = []
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0  # rows given up on because too many were waiting
        self.failures = 0  # writes that failed (and were retried)

    def add(self, row: ResultRow) -> None:
        """Queue one row; it is written shortly after, by a task of the running event loop."""
        if len(self._pending) >= self._max_pending:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("tool_results_dropped", dropped=self.dropped, waiting=len(self._pending))
            return
        self._pending.append(row)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until every row added so far is written (or `timeout` passes: then they are logged as lost)."""
        task = self._task
        if task is None or task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except asyncio.TimeoutError:
            task.cancel()
            log.warning("tool_results_not_written", rows=len(self._pending))

    async def _drain(self) -> None:
        await asyncio.sleep(self.LINGER_S)  # let the answers being computed right now join this INSERT
        wait = self.RETRY_FIRST_S
        while self._pending:
            batch = self._pending[: self.BATCH]  # add() only appends, so these stay first until written
            try:
                await self._insert(batch)
            except (psycopg.OperationalError, psycopg.InterfaceError) as e:  # the database is away: keep the
                # rows and try again later (the pool's timeout is an OperationalError too)
                self.failures += 1
                log.warning("tool_results_write_failed", rows=len(self._pending), error=type(e).__name__,
                            retry_in_s=wait)
                await asyncio.sleep(wait)
                wait = min(wait * 2, self.RETRY_MAX_S)
                continue
            except Exception:  # a row the database refuses (its tenant just deleted, say): retrying cannot help,
                await self._insert_one_by_one(batch)  # so write the others and drop only that one
            del self._pending[: len(batch)]
            wait = self.RETRY_FIRST_S

    async def _insert(self, batch: Sequence[ResultRow]) -> None:
        async with self._connect() as conn, conn.cursor() as cursor:
            await cursor.executemany(_SQL_INSERT, batch)

    async def _insert_one_by_one(self, batch: Sequence[ResultRow]) -> None:
        for row in batch:
            try:
                await self._insert([row])
            except Exception:
                log.exception("tool_results_row_refused", tenant_id=row[0], tool=row[3])
