"""`frontdesk clock`: the periodic work, in exactly one process (the Procfile's `clock:` line).

Every `relay_every` seconds it re-publishes outbox rows that were committed but never published; every
`sweep_every` seconds it enqueues the hold sweeper; hourly it deletes published outbox rows older than a
week and stored tool results older than 30 days. Running two clocks by mistake double-sends nothing:
the relay locks rows with SKIP LOCKED, and every job is idempotent.

SIGTERM or SIGINT stops it after the pass under way, well within Heroku's 30 s before SIGKILL.
"""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import datetime, timezone

import dramatiq
import structlog

from domain.jobs import SWEEP_EXPIRED_HOLDS
from frontdesk import bootstrap
from frontdesk.settings import Settings

log = structlog.get_logger("frontdesk.clock")
#: how often published outbox rows (older than a week) and old tool results (older than 30 days) are deleted
PRUNE_EVERY_SECONDS = 3600.0


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


async def run_clock(settings: Settings, relay_every: float, sweep_every: float,
                    stop: asyncio.Event | None = None) -> None:
    store = bootstrap.build_store(settings)
    publisher = bootstrap.build_publisher(settings, store, utc_now)
    assert publisher is not None
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        # the pass under way (a relay, an enqueue, a prune: each a few seconds at most) is finished, not cut
        if not stop.is_set():
            log.info("clock_stopping", signal=sig.name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal, sig)
        except (RuntimeError, NotImplementedError, ValueError):
            pass
    log.info("clock_started", relay_every=relay_every, sweep_every=sweep_every)
    next_relay = next_sweep = next_prune = time.monotonic()
    try:
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_relay:
                next_relay = now + relay_every
                try:
                    published, failed = await publisher.relay()
                    if published or failed:
                        log.info("outbox_relayed", published=published, failed=failed)
                except Exception as e:  # the database or Redis is down: try again next round
                    log.warning("relay_failed", error=type(e).__name__)
            if now >= next_sweep:
                next_sweep = now + sweep_every
                message: dramatiq.Message[None] = dramatiq.Message(queue_name=SWEEP_EXPIRED_HOLDS.queue,
                                           actor_name=SWEEP_EXPIRED_HOLDS.actor, args=(), kwargs={}, options={})
                ok = await asyncio.to_thread(_try_enqueue, publisher.broker, message)
                if not ok:
                    log.warning("sweep_enqueue_failed")
            if now >= next_prune:
                next_prune = now + PRUNE_EVERY_SECONDS
                try:
                    outbox, results = await store.prune(utc_now())
                    if outbox or results:
                        log.info("pruned", outbox=outbox, tool_results=results)
                except Exception as e:
                    log.warning("prune_failed", error=type(e).__name__)
            try:
                await asyncio.wait_for(stop.wait(), timeout=max(0.05, min(next_relay, next_sweep) - time.monotonic()))
            except asyncio.TimeoutError:
                pass
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (RuntimeError, NotImplementedError, ValueError):
                pass
        await store.close()
        log.info("clock_stopped")


def _try_enqueue(broker: dramatiq.Broker, message: dramatiq.Message) -> bool:
    try:
        broker.enqueue(message)
    except Exception:
        return False
    return True
