"""The answers of read-only tool calls, written to `tool_results` in batches, off the request path.

A read-only tool (check_availability, lookup_appointments) changes nothing, so its answer is kept for the
record (the admin's call transcript: what a caller was offered), not for idempotency: a retried read-only call
is simply answered again, which is harmless and also the more current answer. Writing tools still claim their
toolCallId and store their answer in their own transaction (store/calls.py), so a replay of one is
byte-identical and does nothing.

The request hands its row to `ResultWriter.add` and answers at once; adapters.batches writes them: one task
per process, whatever has piled up in one round trip, so idle a row is written a few milliseconds after its
answer and under load one batch carries tens of rows. If the database cannot be reached, rows wait (up to
`max_pending`, then the newest are dropped with a warning) and are retried with a back-off. `flush()` on
shutdown writes what is left.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import psycopg
import structlog
from psycopg import AsyncConnection

from adapters.batches import Batches, Retry

log = structlog.get_logger("frontdesk.store")

#: (tenant id, toolCallId, call id, tool name, answer)
ResultRow = tuple[int, str, str | None, str, str]

#: run for every row of a batch by psycopg's executemany, which sends them all in one pipeline (one round trip);
#: an INSERT of unnest()ed arrays instead spent 0.2 ms per row escaping the answers' quotes into array literals
_SQL_INSERT = ("INSERT INTO tool_results (tenant_id, tool_call_id, call_id, name, result) "
               "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING")

#: a connection of the units of work's pool (SqlStore.connection), in autocommit
Connect = Callable[[], AbstractAsyncContextManager[AsyncConnection[Any]]]


class ResultWriter(Batches[ResultRow]):
    """Batches rows for `tool_results`; one per process (SqlStore.results)."""

    def __init__(self, connect: Connect, max_pending: int = 20_000) -> None:
        # up to 500 rows per round trip; the first row waits 5 ms for the answers being computed right now
        super().__init__("tool_results", self._insert, batch=500, max_pending=max_pending, linger_s=0.005)
        self._connect = connect

    async def _insert(self, batch: list[ResultRow]) -> None:
        try:
            await self._insert_rows(batch)
        except (psycopg.OperationalError, psycopg.InterfaceError) as e:  # the database is away (the pool's
            raise Retry(type(e).__name__) from e                          # timeout is an OperationalError too)
        except Exception:  # a row the database refuses (its tenant just deleted, say): retrying cannot help,
            await self._insert_one_by_one(batch)  # so write the others and drop only that one

    async def _insert_rows(self, batch: Sequence[ResultRow]) -> None:
        async with self._connect() as conn, conn.cursor() as cursor:
            await cursor.executemany(_SQL_INSERT, batch)

    async def _insert_one_by_one(self, batch: Sequence[ResultRow]) -> None:
        for row in batch:
            try:
                await self._insert_rows([row])
            except Exception:
                log.exception("tool_results_row_refused", tenant_id=row[0], tool=row[3])
