"""Per-process resources for actors (store, SMS sender, Vapi client, clock), built when the worker boots and closed
once its last job has finished, as Dramatiq middleware. Nothing is created at import time."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import dramatiq
import structlog
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.broker import MessageProxy

from domain.notify import SmsSender
from domain.vapi_sync import SyncSettings, VapiApi
from store import SqlStore

log = structlog.get_logger("frontdesk.worker")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Resources:
    store: SqlStore
    sms: SmsSender
    clock: Callable[[], datetime] = utc_now
    #: Vapi's REST API and what the tool sync reads from the settings (None: this process cannot sync)
    vapi: VapiApi | None = None
    vapi_settings: SyncSettings | None = None


_current: Resources | None = None


def current() -> Resources:
    if _current is None:
        raise RuntimeError("worker resources are not set up (the WorkerResources middleware builds them)")
    return _current


def install(resources: Resources | None) -> None:
    """Set this process's resources (the middleware does it; tests may call it directly)."""
    global _current
    _current = resources


class WorkerResources(dramatiq.Middleware):
    def __init__(self, build: Callable[[], Resources]) -> None:
        self._build = build
        self._stopping_since: float | None = None

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        install(self._build())
        log.info("worker_ready", queues=sorted(broker.get_declared_queues()))

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stopping_since = time.monotonic()
        log.info("worker_stopping")  # takes no new job; the running ones finish (or the shutdown timeout passes)

    # Closed after, not before: Dramatiq emits before_worker_shutdown as soon as the worker starts to stop, while jobs
    # still run and may call current(); after_worker_shutdown comes once they have finished (or the shutdown
    # timeout has passed), and before the AsyncIO middleware (added to the broker earlier) stops its loop.
    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        resources = _current
        loop_thread = get_event_loop_thread()
        if resources is not None and loop_thread is not None:
            loop_thread.run_coroutine(resources.store.close())
            close = getattr(resources.vapi, "close", None)
            if close is not None:
                loop_thread.run_coroutine(close())
        install(None)
        if self._stopping_since is not None:
            log.info("worker_stopped", seconds=round(time.monotonic() - self._stopping_since, 2))

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        structlog.contextvars.bind_contextvars(job=message.actor_name, message_id=message.message_id)

    def after_process_message(self, broker, message, *, result=None, exception=None) -> None:
        structlog.contextvars.clear_contextvars()

    after_skip_message = after_process_message
