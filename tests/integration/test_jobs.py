"""The jobs of domain/jobs.py against the broker `frontdesk worker` really runs, on real Redis: every job
has its actor on its declared queue, no actor runs outside the registry, and a queue exists only when
a job runs on it."""

from __future__ import annotations

import redis

import workers.main
from domain.jobs import JOBS, QUEUES
from frontdesk import bootstrap
from frontdesk.settings import Settings


def test_every_job_has_one_actor_on_its_queue_and_every_actor_is_a_declared_job(redis_url, queue_namespace):
    broker = workers.main.build(Settings(redis_url=redis_url, queue_namespace=queue_namespace))
    registered = {name: broker.get_actor(name).queue_name for name in broker.get_declared_actors()}
    assert registered == {job.actor: job.queue for job in JOBS}
    assert broker.get_declared_queues() == set(QUEUES)


def test_a_job_sent_through_its_actor_lands_on_its_declared_queue_in_redis(redis_url, queue_namespace):
    broker = workers.main.build(Settings(redis_url=redis_url, queue_namespace=queue_namespace))
    client = redis.Redis.from_url(redis_url)
    try:
        for job in JOBS:  # no worker consumes this namespace: the messages stay where they were put
            broker.get_actor(job.actor).send_with_options(args=())
        waiting = {queue: client.llen(f"{queue_namespace}:{queue}") for queue in QUEUES}
        assert waiting == {queue: sum(job.queue == queue for job in JOBS) for queue in QUEUES}
    finally:
        keys = list(client.scan_iter(f"{queue_namespace}:*"))
        if keys:
            client.delete(*keys)
        client.close()


def test_the_web_and_clock_publisher_declares_the_same_queues_and_runs_no_actor(redis_url, queue_namespace):
    broker = bootstrap.build_broker(Settings(redis_url=redis_url, queue_namespace=queue_namespace), publisher=True)
    assert broker.get_declared_queues() == set(QUEUES)
    assert broker.get_declared_actors() == set()


def test_text_retries_sets_how_often_a_confirmation_is_retried_before_it_is_dead_lettered(redis_url, queue_namespace):
    from domain.jobs import SEND_SMS, SEND_CODE
    from workers.confirmations import DEFAULT_RETRIES

    default = workers.main.build(Settings(redis_url=redis_url, queue_namespace=queue_namespace))
    demo = workers.main.build(Settings(redis_url=redis_url, queue_namespace=queue_namespace, text_retries=2))
    assert default.get_actor(SEND_SMS.actor).options["max_retries"] == DEFAULT_RETRIES == 12
    assert demo.get_actor(SEND_SMS.actor).options["max_retries"] == 2
    # only texts: the code job keeps its own policy
    assert demo.get_actor(SEND_CODE.actor).options["max_retries"] == default.get_actor(SEND_CODE.actor).options[
        "max_retries"]
