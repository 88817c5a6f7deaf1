"""What `frontdesk worker` runs in each worker process. Dramatiq's CLI is given `workers.main:setup`
(the `module:callable` form): it imports this module, which does nothing, then calls `setup()` once per
worker process, which reads the settings, configures logging and builds the broker with every actor.

`build(settings)` is the same broker without the global state, for tests and tools.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

import structlog
from dramatiq.brokers.redis import RedisBroker

from adapters.metrics import CountingSms
from frontdesk import bootstrap, logs
from frontdesk.settings import Settings

from . import confirmations, holds, otp, vapi_sync
from adapters.broker import set_broker
from .job_metrics import JobMetrics
from .runtime import Resources, WorkerResources

log = structlog.get_logger("frontdesk.worker")

#: the modules whose actors a worker runs: one per queue of domain/jobs.py
QUEUE_MODULES = (otp, confirmations, holds, vapi_sync)


def build(settings: Settings, resources: Callable[[], Resources] | None = None) -> RedisBroker:
    """The workers' broker: every actor registered, and the per-process resources (store, SMS sender, Vapi)
    built from `settings` when the worker boots, or by `resources` if given."""
    def from_settings() -> Resources:
        return Resources(bootstrap.build_store(settings), CountingSms(bootstrap.build_sms_sender(settings)),
                         vapi=bootstrap.build_vapi_client(settings),
                         vapi_settings=bootstrap.vapi_sync_settings(settings))

    broker = bootstrap.build_broker(settings)
    broker.add_middleware(WorkerResources(resources or from_settings))
    broker.add_middleware(JobMetrics(settings.prometheus_multiproc_dir))
    options: dict[object, dict[str, int]] = {confirmations: {"max_retries": settings.text_retries}}
    for module in QUEUE_MODULES:
        module.register(broker, **options.get(module, {}))
    return broker


def setup() -> None:
    """Called by Dramatiq's CLI in each worker process: settings from the environment, logging, and the
    broker installed as Dramatiq's global one (which the CLI then runs)."""
    settings = Settings.from_env()
    logs.configure(settings.log_format)
    stop_on_the_first_sigterm()
    set_broker(build(settings))


def stop_on_the_first_sigterm() -> None:
    """Make this worker process act on its first SIGTERM only (Dramatiq's handler, installed before setup()
    runs: stop taking jobs, finish the running ones, requeue the rest) and ignore the ones after it.

    Heroku sends SIGTERM to every process of a dyno while Dramatiq's main process forwards its own, so a
    worker process gets two at once; Dramatiq takes a second one to mean "kill now", which cuts the running
    jobs and (seen with dramatiq 2.2.1) leaves the process hanging on its threads until Heroku's SIGKILL.
    The stop is bounded by --worker-shutdown-timeout anyway."""
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread (tests may call setup() elsewhere)
    dramatiq_handler = signal.getsignal(signal.SIGTERM)
    if not callable(dramatiq_handler):
        return  # not in a Dramatiq worker process (its main process sets its handlers after this)
    stopping = False

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            log.info("worker_already_stopping")
            return
        stopping = True
        dramatiq_handler(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
