"""What `frontdesk worker` runs in each worker process (through Dramatiq's CLI): the broker from settings,
the actors of every queue, and the per-process resources middleware."""

from __future__ import annotations

from frontdesk import bootstrap, logs
from frontdesk.settings import Settings

from . import confirmations, holds, otp
from .broker import build_broker, set_broker
from .runtime import Resources, WorkerResources


def setup(settings: Settings) -> dict:
    broker = build_broker(settings.redis_url, namespace=settings.queue_namespace)
    broker.add_middleware(WorkerResources(lambda: Resources(bootstrap.build_store(settings),
                                                            bootstrap.build_sms_sender(settings))))
    set_broker(broker)
    actors = {}
    for module in (confirmations, holds, otp):
        actors.update(module.register(broker))
    return actors


_settings = Settings.from_env()
logs.configure(_settings.log_format)
ACTORS = setup(_settings)
