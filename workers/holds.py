"""Queue `holds`: a held slot is released at its expires_at, and a sweeper catches anything missed."""

from __future__ import annotations

from typing import Any

import dramatiq
import structlog

from adapters import metrics
from domain.jobs import EXPIRE_HOLD, SWEEP_EXPIRED_HOLDS

from .runtime import current

log = structlog.get_logger("frontdesk.worker")


async def expire_hold(tenant_id: int, hold_id: int) -> int:
    """Release the hold if its time is up and it is still held (booked or replaced holds are left alone).
    Returns how many were released (0 or 1); the worker discards it."""
    r = current()
    expired = await r.store.expire_holds(r.clock(), tenant_id=tenant_id, hold_id=hold_id)
    metrics.holds_expired(expired)
    return expired


async def sweep_expired_holds() -> int:
    """Release every hold whose time is up (the clock enqueues this every minute)."""
    r = current()
    released = await r.store.expire_holds(r.clock())
    metrics.holds_expired(released)
    if released:
        log.info("holds_swept", released=released)
    return released


async def _expire_hold_job(tenant_id: int, hold_id: int) -> None:
    await expire_hold(tenant_id, hold_id)


async def _sweep_job() -> None:
    await sweep_expired_holds()


def register(broker: dramatiq.Broker) -> dict[str, dramatiq.Actor]:
    # the jobs return nothing (Dramatiq has no result backend here); the functions above return counts
    policy: dict[str, Any] = dict(broker=broker, max_retries=5, min_backoff=1_000, max_backoff=30_000, time_limit=30_000)
    return {
        EXPIRE_HOLD.actor: dramatiq.actor(queue_name=EXPIRE_HOLD.queue, actor_name=EXPIRE_HOLD.actor,
                                          **policy)(_expire_hold_job),
        SWEEP_EXPIRED_HOLDS.actor: dramatiq.actor(queue_name=SWEEP_EXPIRED_HOLDS.queue,
                                                  actor_name=SWEEP_EXPIRED_HOLDS.actor, **policy)(_sweep_job),
    }
