"""Work that request handlers hand off, done in batches by one background task at a time.

A handler calls `add()` and goes on answering; one task of the running event loop hands whatever has piled
up to `write`, then looks again, until nothing is left. Idle, an item is written right after it is added (after
`linger_s`); under load one write carries many. Used for the answers of read-only tools (store/results.py)
and for publishing committed jobs (frontdesk/outbox.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import structlog

log = structlog.get_logger("frontdesk.batches")

T = TypeVar("T")


class Retry(Exception):
    """Raised by `write` when the batch could not be written for now (the database is away, say): the items
    stay first in line and are tried again after a back-off."""


class Batches(Generic[T]):
    #: seconds to wait before retrying after a `Retry`, doubling up to RETRY_MAX_S
    RETRY_FIRST_S = 0.2
    RETRY_MAX_S = 5.0

    def __init__(self, name: str, write: Callable[[list[T]], Awaitable[None]], batch: int,
                 max_pending: int = 20_000, linger_s: float = 0.0) -> None:
        self._name = name
        self._write = write
        self._batch = batch
        self._max_pending = max_pending
        self._linger_s = linger_s
        self._pending: list[T] = []
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0  # items given up on because too many were waiting
        self.failures = 0  # writes that asked to be retried

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, item: T) -> None:
        """Queue one item; it is written shortly after, by a task of the running event loop. Beyond
        `max_pending` waiting, the newest are dropped with a warning: lost work must not become lost memory."""
        if len(self._pending) >= self._max_pending:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("batch_items_dropped", batches=self._name, dropped=self.dropped,
                            waiting=len(self._pending))
            return
        self._pending.append(item)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until everything added so far is written (or `timeout` passes: then it is logged as lost)."""
        task = self._task
        if task is None or task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except asyncio.TimeoutError:
            task.cancel()
            log.warning("batch_items_not_written", batches=self._name, items=len(self._pending))

    async def _drain(self) -> None:
        if self._linger_s:
            await asyncio.sleep(self._linger_s)  # let the work being done right now join this batch
        wait = self.RETRY_FIRST_S
        while self._pending:
            batch = self._pending[: self._batch]  # add() only appends, so these stay first until written
            try:
                await self._write(batch)
            except Retry as e:
                self.failures += 1
                log.warning("batch_write_failed", batches=self._name, waiting=len(self._pending),
                            error=str(e), retry_in_s=wait)
                await asyncio.sleep(wait)
                wait = min(wait * 2, self.RETRY_MAX_S)
                continue
            except Exception:  # a bug or a batch that can never be written: retrying it would block the rest
                log.exception("batch_write_crashed", batches=self._name, items=len(batch))
            del self._pending[: len(batch)]
            wait = self.RETRY_FIRST_S
