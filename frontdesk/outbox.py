"""Publishing outbox entries to Dramatiq after commit, and the relay that re-publishes what was missed.

The web process never waits on Redis: publishing runs in a background task with a short socket timeout
and no retries. If it fails (Redis down, process killed), the row stays unpublished and the clock's
relay publishes it later. Actors are idempotent, so a job published twice does its work once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import dramatiq
import structlog

from adapters.batches import Batches
from domain.model import OutboxEntry
from store import SqlStore

log = structlog.get_logger("frontdesk.outbox")

#: the relay leaves rows younger than this to the after-commit publisher
RELAY_GRACE_SECONDS = 5.0


class Publisher:
    #: entries per thread hop and per UPDATE at most
    BATCH = 200

    def __init__(self, broker: dramatiq.Broker, store: SqlStore, clock: Callable[[], datetime]) -> None:
        self.broker = broker
        self.store = store
        self.clock = clock
        #: committed entries, published in the background (adapters.batches): failures are left to the relay
        self._batches: Batches[OutboxEntry] = Batches("outbox", self._publish_batch, self.BATCH)

    def _enqueue(self, entry: OutboxEntry) -> bool:
        message: dramatiq.Message[None] = dramatiq.Message(queue_name=entry.queue, actor_name=entry.actor, args=tuple(entry.args),
                                   kwargs={}, options={"outbox_id": entry.id})
        delay = None
        if entry.eta is not None:
            ms = int((entry.eta - self.clock()).total_seconds() * 1000)
            delay = ms if ms > 0 else None
        try:
            self.broker.enqueue(message, delay=delay)
        except Exception as e:  # Redis down or slow: the relay will publish it
            log.warning("publish_failed", outbox_id=entry.id, actor=entry.actor, error=type(e).__name__)
            return False
        return True

    async def publish(self, entry: OutboxEntry) -> bool:
        return await asyncio.to_thread(self._enqueue, entry)

    def _enqueue_all(self, entries: list[OutboxEntry]) -> list[int]:
        return [e.id for e in entries if self._enqueue(e)]

    async def publish_now(self, entries: list[OutboxEntry]) -> list[int]:
        """Publish `entries` (in one trip to a thread: the Redis client blocks) and mark those published."""
        done = await asyncio.to_thread(self._enqueue_all, entries)
        try:
            await self.store.mark_published(done, self.clock())
        except Exception as e:  # the relay will re-publish; actors are idempotent
            log.warning("mark_published_failed", error=type(e).__name__)
        return done

    def publish_after_commit(self, entries: list[OutboxEntry]) -> None:
        """Publish in the background: the caller's answer never waits on Redis.

        One task at a time publishes whatever has been committed meanwhile, so under load one thread hop and
        one UPDATE marking them published serve the jobs of many tool calls, instead of one each."""
        for entry in entries:
            self._batches.add(entry)

    async def _publish_batch(self, entries: list[OutboxEntry]) -> None:
        await self.publish_now(entries)

    async def drain(self, timeout: float = 5.0) -> None:
        await self._batches.flush(timeout)

    async def relay(self, grace_seconds: float = RELAY_GRACE_SECONDS) -> tuple[int, int]:
        return await self.store.relay(self.publish, self.clock(), grace_seconds)
