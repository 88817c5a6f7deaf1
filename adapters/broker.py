"""The Dramatiq broker: Redis, with retries, time limits, age limits and a kept dead-letter queue.

It declares exactly the queues of domain/jobs.py (one per concern, so the latency-sensitive OTP queue can
get its own worker group: `frontdesk worker --queues otp`), and a queue no job runs on is never declared.
"""

from __future__ import annotations

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO
from redis.backoff import NoBackoff
from redis.retry import Retry

from adapters.dead_letters import KeepLastError
from domain.jobs import QUEUES

#: a worker silent for this long is presumed dead and its unacknowledged jobs are redelivered
HEARTBEAT_TIMEOUT_MS = 15_000
#: per million broker commands, how many also run queue maintenance (which requeues dead workers' jobs);
#: idle workers poll several times a second, so at 5% maintenance runs about every second of polling
MAINTENANCE_CHANCE = 50_000
#: dead-lettered jobs (retries exhausted) are kept this long in `dramatiq:<queue>.XQ` for inspection
DEAD_MESSAGE_TTL_MS = 30 * 86_400_000
#: publishing from the web process never waits longer than this on Redis; the outbox relay covers the rest
PUBLISH_TIMEOUT_S = 0.25


def build_broker(redis_url: str, *, publisher: bool = False, namespace: str = "dramatiq") -> RedisBroker:
    """A RedisBroker for workers, or (`publisher=True`) one for enqueueing from the web and clock processes,
    whose Redis calls fail fast instead of retrying."""
    if publisher:
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=PUBLISH_TIMEOUT_S,
                                      socket_timeout=PUBLISH_TIMEOUT_S, retry=Retry(NoBackoff(), 0))
    else:
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=5, socket_timeout=30,
                                      health_check_interval=30)
    broker = RedisBroker(client=client, namespace=namespace, heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
                         maintenance_chance=MAINTENANCE_CHANCE, dead_message_ttl=DEAD_MESSAGE_TTL_MS)
    broker.add_middleware(AsyncIO())
    broker.add_middleware(KeepLastError())  # the job dashboard shows the error that dead-lettered a job
    for queue in QUEUES:
        broker.declare_queue(queue)
    return broker


def set_broker(broker: dramatiq.Broker) -> None:
    dramatiq.set_broker(broker)
