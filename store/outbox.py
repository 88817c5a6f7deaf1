"""The transactional outbox: jobs written in a use case's transaction, published after commit, re-published
by the clock's relay when that failed, and pruned once old."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT, JSONB

from domain.model import OutboxEntry

from .base import StoreBase, UowBase


@dataclass(frozen=True)
class OutboxBacklog:
    """One queue's jobs written to the outbox but not yet published."""

    queue: str
    unpublished: int
    oldest: datetime
    age_seconds: float


def backlog_total(backlog: list[OutboxBacklog]) -> tuple[int, datetime | None, float | None]:
    """(jobs waiting, when the oldest was written, seconds it has waited) over every queue."""
    if not backlog:
        return 0, None, None
    return (sum(b.unpublished for b in backlog), min(b.oldest for b in backlog),
            max(b.age_seconds for b in backlog))

class OutboxUowMixin(UowBase):
    """The unit of work's outbox: rows written in its transaction, remembered in `self.outbox`."""

    _SQL_OUTBOX = text(
        "INSERT INTO outbox (tenant_id, queue, actor, args, eta) VALUES (:t, :q, :a, :args, :eta) RETURNING id"
    ).bindparams(bindparam("args", type_=JSONB))

    async def enqueue(self, queue: str, actor: str, args: list[Any], eta: datetime | None = None) -> None:
        outbox_id = await self._scalar_one(self._SQL_OUTBOX, q=queue, a=actor, args=args, eta=eta)
        self.outbox.append(OutboxEntry(id=outbox_id, queue=queue, actor=actor, args=args, eta=eta))


class OutboxStoreMixin(StoreBase):
    """SqlStore's outbox: the publisher's and the clock's side."""

    _SQL_MARK_PUBLISHED = text(
        "UPDATE outbox SET published_at = :now, publish_attempts = publish_attempts + 1 WHERE id = ANY(:ids)"
    ).bindparams(bindparam("ids", type_=ARRAY(BIGINT)))

    async def mark_published(self, ids: list[int], now: datetime) -> None:
        if ids:
            async with self.engine.connect() as conn:  # one statement: autocommit, no BEGIN/COMMIT round trips
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(self._SQL_MARK_PUBLISHED, {"ids": ids, "now": now})

    _SQL_UNPUBLISHED = text(
        "SELECT id, queue, actor, args, eta FROM outbox WHERE published_at IS NULL "
        "AND created_at < now() - make_interval(secs => :grace) "
        "ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED")
    _SQL_PUBLISH_FAILED = text(
        "UPDATE outbox SET publish_attempts = publish_attempts + 1 WHERE id = ANY(:ids)"
    ).bindparams(bindparam("ids", type_=ARRAY(BIGINT)))

    async def relay(self, publish, now: datetime, grace_seconds: float, limit: int = 500) -> tuple[int, int]:
        """Publish outbox rows committed more than `grace_seconds` ago (by the database's clock, which
        stamped them) and never published (Redis was down, or the process died between commit and publish).
        Rows are locked with SKIP LOCKED, so two relays never publish the same row at once. Returns
        (published, failed)."""
        async with self.engine.begin() as conn:
            rows = (await conn.execute(self._SQL_UNPUBLISHED, {"grace": grace_seconds, "limit": limit})).all()
            done, failed = [], []
            for r in rows:
                entry = OutboxEntry(id=r.id, queue=r.queue, actor=r.actor, args=list(r.args), eta=r.eta)
                if not await publish(entry):
                    failed.append(r.id)
                    break  # Redis is down or slow: stop here rather than time out on every row
                done.append(r.id)
            await conn.execute(self._SQL_MARK_PUBLISHED, {"ids": done, "now": now})
            await conn.execute(self._SQL_PUBLISH_FAILED, {"ids": failed})
        return len(done), len(failed)

    _SQL_BACKLOG = text(
        "SELECT queue, count(*) AS unpublished, min(created_at) AS oldest, "
        "EXTRACT(EPOCH FROM now() - min(created_at)) AS age_seconds FROM outbox WHERE published_at IS NULL "
        "GROUP BY queue ORDER BY queue")

    async def outbox_backlog(self) -> list[OutboxBacklog]:
        """Per queue, the jobs committed but not yet handed to Redis (the relay's backlog): how many, when the
        oldest was written, and how long it has waited by the database's clock, which stamped the rows. The
        partial index on unpublished rows keeps it cheap. /metrics, the admin API and the messages page read it."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(self._SQL_BACKLOG)).all()
        return [OutboxBacklog(r.queue, r.unpublished, r.oldest, float(r.age_seconds)) for r in rows]

    async def prune(self, now: datetime, outbox_days: int = 7, results_days: int = 30) -> tuple[int, int]:
        """Delete outbox rows published more than `outbox_days` ago and stored tool results older than
        `results_days` (a toolCallId is only replayed within a call). Returns (outbox, results) deleted."""
        async with self.engine.begin() as conn:
            o = (await conn.execute(text("DELETE FROM outbox WHERE published_at < :before"),
                                    {"before": now - timedelta(days=outbox_days)})).rowcount
            r = (await conn.execute(text("DELETE FROM tool_results WHERE created_at < :before"),
                                    {"before": now - timedelta(days=results_days)})).rowcount
        return o, r
