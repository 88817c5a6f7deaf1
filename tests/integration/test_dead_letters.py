"""The job dashboard's view of the queues, against real Redis with messages put there by a real RedisBroker."""

from __future__ import annotations

import asyncio

import pytest
from dramatiq import Message

from adapters.broker import build_broker
from adapters.dead_letters import DeadLetters, last_error, redact_arguments
from adapters.sms import RecordingSms
from domain.jobs import EXPIRE_HOLD, QUEUES, SEND_CODE, SEND_SMS
from domain.notify import SmsTransientError
from tests.integration.test_pipeline import InProcessWorker, _book, _sms_rows, eventually

TRACEBACK = ('Traceback (most recent call last):\n  File "workers/confirmations.py", line 18, in send_sms\n'
             'domain.notify.SmsTransientError: twilio 503 for +15555550123\n')


@pytest.fixture
def broker(redis_url, queue_namespace):
    broker = build_broker(redis_url, namespace=queue_namespace)
    yield broker
    broker.close()


@pytest.fixture
async def dead_letters(redis_url, queue_namespace):
    dl = DeadLetters.from_url(redis_url, queue_namespace, QUEUES)
    yield dl
    await dl.close()


def dead_letter(broker, job, args, *, retries=13, traceback=TRACEBACK, kwargs=None) -> None:
    """Enqueue a message as the Retries middleware leaves it after its last attempt, then let the broker
    dead-letter it the way a worker does: fetch, then nack."""
    options = {"retries": retries, "traceback": traceback} if retries else {}
    broker.enqueue(Message(queue_name=job.queue, actor_name=job.actor, args=tuple(args), kwargs=kwargs or {},
                           options=options))
    [data] = broker.do_fetch(job.queue, 1)
    broker.do_nack(job.queue, Message.decode(data).options["redis_message_id"])


def retrying(broker, job, args, retries=2) -> None:
    broker.enqueue(Message(queue_name=job.queue, actor_name=job.actor, args=tuple(args), kwargs={},
                           options={"retries": retries, "traceback": TRACEBACK, "requeue_timestamp": 1}),
                   delay=60_000)


async def test_counts_tell_queued_delayed_retrying_and_dead_lettered_jobs_apart(broker, dead_letters):
    broker.enqueue(Message(queue_name="confirmations", actor_name="send_sms", args=(1, 2), kwargs={}, options={}))
    retrying(broker, SEND_SMS, (1, 3))
    broker.enqueue(Message(queue_name="holds", actor_name="expire_hold", args=(1, 9), kwargs={}, options={}),
                   delay=60_000)  # delayed by design, not a retry
    dead_letter(broker, SEND_SMS, (1, 4))
    dead_letter(broker, SEND_CODE, (2, 5, 6))
    counts = {c.queue: c for c in await dead_letters.counts()}
    assert list(counts) == list(QUEUES)
    c = counts["confirmations"]
    assert (c.queued, c.delayed, c.retrying, c.dead) == (1, 1, 1, 1)
    h = counts["holds"]
    assert (h.queued, h.delayed, h.retrying, h.dead) == (0, 1, 0, 0)
    assert counts["otp"].dead == 1 and counts["vapi_sync"].dead == 0


async def test_dead_lettered_jobs_come_newest_first_in_pages_with_actor_tenant_attempts_and_error(
        broker, dead_letters):
    for sms_id in range(1, 8):
        dead_letter(broker, SEND_SMS, (10, sms_id))
        await asyncio.sleep(0.002)  # distinct dead-letter times
    page = await dead_letters.jobs("dead", offset=0, limit=3)
    assert page.total == 7 and [j.args for j in page.jobs] == ["10, 7", "10, 6", "10, 5"]
    job = page.jobs[0]
    assert (job.queue, job.actor, job.tenant_id, job.attempts, job.state) == (
        "confirmations", "send_sms", 10, 13, "dead")
    assert job.error == "domain.notify.SmsTransientError: twilio 503 for ***0123"
    assert job.failed_at is not None
    last = await dead_letters.jobs("dead", offset=6, limit=3)
    assert last.total == 7 and [j.args for j in last.jobs] == ["10, 1"]


async def test_filters_by_tenant_actor_and_queue_count_only_what_matches(broker, dead_letters):
    for i in range(5):
        dead_letter(broker, SEND_SMS, (1, i))
    for i in range(3):
        dead_letter(broker, SEND_SMS, (2, i))
    dead_letter(broker, SEND_CODE, (2, 7, 8))
    dead_letter(broker, EXPIRE_HOLD, (2, 9))
    mine = await dead_letters.jobs("dead", tenant_id=2, limit=2)
    assert mine.total == 5 and len(mine.jobs) == 2 and {j.tenant_id for j in mine.jobs} == {2}
    texts = await dead_letters.jobs("dead", tenant_id=2, actor="send_sms", limit=50)
    assert texts.total == 3 and {j.actor for j in texts.jobs} == {"send_sms"}
    holds = await dead_letters.jobs("dead", queue="holds")
    assert holds.total == 1 and holds.jobs[0].actor == "expire_hold"
    with pytest.raises(ValueError):
        await dead_letters.jobs("dead", queue="not-a-queue")


async def test_retrying_jobs_are_listed_by_next_attempt_and_eta_delayed_jobs_are_not(broker, dead_letters):
    retrying(broker, SEND_SMS, (3, 1), retries=4)
    broker.enqueue(Message(queue_name="holds", actor_name="expire_hold", args=(3, 9), kwargs={}, options={}),
                   delay=60_000)
    page = await dead_letters.jobs("retrying")
    assert page.total == 1
    [job] = page.jobs
    assert (job.actor, job.attempts, job.state, job.tenant_id) == ("send_sms", 4, "retrying", 3)
    assert job.next_at is not None and job.error and job.error.endswith("twilio 503 for ***0123")


def test_codes_secrets_and_phone_numbers_never_reach_the_page():
    assert redact_arguments([5, 12, "483920"], {}) == "5, 12, •••"
    assert redact_arguments([5], {"code": 1234, "webhook_secret": "s3cr3t", "note": "hi"}) == (
        "5, code=•••, webhook_secret=•••, note='hi'")
    assert redact_arguments(["+15555550123", {"otp": "1234"}], {}) == "***0123, {otp: •••}"
    assert last_error(None) is None
    assert last_error("Traceback...\nValueError: bad +1 555 555 0199\n") == "ValueError: bad ***0199"


async def test_a_redacted_code_argument_is_hidden_in_the_listing(broker, dead_letters):
    dead_letter(broker, SEND_CODE, (4, 5, "731904"))
    [job] = (await dead_letters.jobs("dead")).jobs
    assert job.args == "4, 5, •••" and "731904" not in repr(job)


async def test_delete_drops_a_dead_letter_once(broker, dead_letters):
    dead_letter(broker, SEND_SMS, (1, 1))
    [job] = (await dead_letters.jobs("dead")).jobs
    assert await dead_letters.delete(job.queue, job.id) is True
    assert await dead_letters.delete(job.queue, job.id) is False
    assert (await dead_letters.jobs("dead")).total == 0


async def test_retry_puts_the_job_back_on_its_queue_with_its_retries_reset(broker, dead_letters):
    dead_letter(broker, SEND_SMS, (1, 42))
    [job] = (await dead_letters.jobs("dead")).jobs
    assert await dead_letters.retry(job.queue, job.id) is True
    assert await dead_letters.retry(job.queue, job.id) is False  # already back: nothing enqueued twice
    [data] = broker.do_fetch("confirmations", 5)
    message = Message.decode(data)
    assert (message.actor_name, message.args) == ("send_sms", (1, 42))
    assert "retries" not in message.options and "traceback" not in message.options
    assert message.options["manual_retries"] == 1 and message.options["redis_message_id"] != job.id
    counts = {c.queue: c for c in await dead_letters.counts()}
    assert counts["confirmations"].dead == 0


async def test_two_admins_retrying_one_job_at_once_enqueue_it_once(broker, dead_letters, redis_url,
                                                                   queue_namespace):
    for i in range(20):
        dead_letter(broker, SEND_SMS, (1, i))
    jobs = (await dead_letters.jobs("dead", limit=50)).jobs
    # two web processes: each its own connection pool
    other = DeadLetters.from_url(redis_url, queue_namespace, QUEUES)
    try:
        results = await asyncio.gather(*[admin.retry(job.queue, job.id) for job in jobs
                                         for admin in (dead_letters, other)])
    finally:
        await other.close()
    assert sum(results) == 20
    counts = {c.queue: c for c in await dead_letters.counts()}
    assert (counts["confirmations"].queued, counts["confirmations"].dead) == (20, 0)
    assert broker.client.llen(f"{queue_namespace}:confirmations") == 20


async def test_retry_all_moves_every_dead_letter_of_one_queue_in_chunks(broker, dead_letters, monkeypatch):
    import adapters.dead_letters as module

    monkeypatch.setattr(module, "CHUNK", 7)
    for i in range(30):
        dead_letter(broker, SEND_SMS, (1, i))
    dead_letter(broker, SEND_CODE, (1, 2, 3))
    assert await dead_letters.retry_all("confirmations") == 30
    assert await dead_letters.retry_all("confirmations") == 0
    counts = {c.queue: c for c in await dead_letters.counts()}
    assert (counts["confirmations"].queued, counts["confirmations"].dead, counts["otp"].dead) == (30, 0, 1)


@pytest.mark.slow
async def test_listing_thousands_of_dead_letters_reads_one_page(broker, dead_letters):
    pipe = broker.client.pipeline(transaction=False)
    xq = f"{broker.namespace}:confirmations.XQ"
    for i in range(5000):
        data = Message(queue_name="confirmations", actor_name="send_sms", args=(i % 50, i), kwargs={},
                       options={"redis_message_id": f"id-{i}", "retries": 13, "traceback": TRACEBACK}).encode()
        pipe.zadd(xq, {f"id-{i}": 1_700_000_000_000 + i})
        pipe.hset(xq + ".msgs", f"id-{i}", data)
    pipe.execute()
    loop = asyncio.get_running_loop()
    started = loop.time()
    page = await dead_letters.jobs("dead", offset=100, limit=50)
    assert page.total == 5000 and page.jobs[0].args == "49, 4899"
    filtered = await dead_letters.jobs("dead", tenant_id=7, limit=50)
    assert filtered.total == 100
    assert loop.time() - started < 2.0


async def test_a_retried_dead_letter_runs_on_a_real_worker_and_texts_once(
        make_tenant, caller_for, store, db, clock, redis_url, queue_namespace, database_url, dead_letters):
    from domain.model import OutboxEntry
    from frontdesk.outbox import Publisher

    tenant = await make_tenant()
    await _book(caller_for(tenant))
    [row] = db.execute("SELECT id, queue, actor, args, eta FROM outbox WHERE tenant_id = %s AND actor = 'send_sms'",
                       (tenant.id,))
    sms_id = row[3][1]
    sms = RecordingSms()
    sms.fail_with = [SmsTransientError("twilio 503")]
    with InProcessWorker(redis_url, queue_namespace, database_url, sms, clock) as worker:
        worker.broker.get_actor("send_sms").options["max_retries"] = 0  # dead-lettered at the first failure
        publisher = Publisher(build_broker(redis_url, publisher=True, namespace=queue_namespace), store, clock)
        assert await publisher.publish_now([OutboxEntry(*row)]) == [row[0]]

        async def dead():
            return (await dead_letters.jobs("dead")).jobs
        [job] = await eventually(dead, what="the dead-lettered text")
        assert (job.actor, job.tenant_id, job.args, job.error) == (
            "send_sms", tenant.id, f"{tenant.id}, {sms_id}", "domain.notify.SmsTransientError: twilio 503")
        assert _sms_rows(db, tenant.id)[0][4] == "retrying" and sms.sent == []

        assert await dead_letters.retry(job.queue, job.id)
        await eventually(lambda: len(sms.sent) == 1, what="the retried text")
        await eventually(lambda: _sms_rows(db, tenant.id)[0][4] == "sent", what="the text marked sent")
        assert await dead_letters.retry(job.queue, job.id) is False
    assert len(sms.sent) == 1
    assert (await dead_letters.jobs("dead")).total == 0
