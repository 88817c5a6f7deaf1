"""Counting job runs by actor, as Dramatiq middleware (adapters/metrics.py declares the counters).

Not Dramatiq's own Prometheus middleware: that one serves its metrics on a port of its own (9191), which a
web process's /metrics never shows; these counters go where the web's do (PROMETHEUS_MULTIPROC_DIR).
"""

from __future__ import annotations

import os

import dramatiq
from dramatiq.broker import MessageProxy

from adapters import metrics


class JobMetrics(dramatiq.Middleware):
    def __init__(self, multiproc_dir: str = "") -> None:
        self._dir = multiproc_dir

    def after_process_message(self, broker: dramatiq.Broker, message: MessageProxy, *, result=None,
                              exception=None) -> None:
        metrics.JOBS_PROCESSED.labels(message.actor_name).inc()
        if exception is not None:
            metrics.JOBS_FAILED.labels(message.actor_name).inc()

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        metrics.mark_process_dead(os.getpid(), self._dir)
