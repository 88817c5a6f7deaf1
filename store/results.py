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
from collections.abc import Sequence

import structlog
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT, TEXT
from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger("frontdesk.store")

#: (tenant id, toolCallId, call id, tool name, answer)
ResultRow = tuple[int, str, str | None, str, str]

_SQL_INSERT = text(
    "INSERT INTO tool_results (tenant_id, tool_call_id, call_id, name, result) "
    "SELECT * FROM unnest(:t, :k, :c, :n, :r) ON CONFLICT DO NOTHING"
).bindparams(bindparam("t", type_=ARRAY(BIGINT)), *(bindparam(p, type_=ARRAY(TEXT)) for p in "kcnr"))


class ResultWriter:
    """Batches rows for `tool_results`; one per process (SqlStore.results)."""

    #: rows per INSERT at most
    BATCH = 500
    #: seconds to wait before retrying after a failed write, doubling up to RETRY_MAX_S
    RETRY_FIRST_S = 0.2
    RETRY_MAX_S = 5.0
    #: seconds the first row waits for others before a write starts
    LINGER_S = 0.005

    def __init__(self, engine: AsyncEngine, max_pending: int = 20_000) -> None:
        self._engine = engine
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
            except Exception as e:  # the database is away: keep the rows and try again later
                self.failures += 1
                log.warning("tool_results_write_failed", rows=len(self._pending), error=type(e).__name__,
                            retry_in_s=wait)
                await asyncio.sleep(wait)
                wait = min(wait * 2, self.RETRY_MAX_S)
                continue
            del self._pending[: len(batch)]
            wait = self.RETRY_FIRST_S

    async def _insert(self, batch: Sequence[ResultRow]) -> None:
        columns = list(zip(*batch))
        async with self._engine.connect() as conn:  # one statement: autocommit, no BEGIN/COMMIT round trips
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(_SQL_INSERT, dict(zip("tkcnr", (list(c) for c in columns))))
