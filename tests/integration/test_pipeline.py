"""The asynchronous pipeline against real PostgreSQL and real Redis: outbox, workers, texts, hold expiry."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import dramatiq
import pytest
from dramatiq.common import current_millis

from domain.notify import STALE_SEND, SmsInFlight, SmsTransientError, deliver_sms
from frontdesk.outbox import Publisher
from frontdesk.settings import Settings, sqlalchemy_url
from store import SqlStore, make_engine
from tests.conftest import TEST_SECRET_KEY, Caller
import workers.main
from workers import holds
from adapters.broker import build_broker
from workers.runtime import Resources, install
from adapters.sms import RecordingSms, TwilioSms


async def eventually(predicate, timeout: float = 15.0, what: str = "condition"):
    """Wait for a condition with a deadline (never a bare sleep standing in for synchronisation)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class Deliveries(dramatiq.Middleware):
    """What a broker saw, with wall-clock milliseconds: enqueues (with their delay and eta), messages a
    worker parked until their eta, and messages handed to an actor."""

    def __init__(self) -> None:
        self.enqueued: list[tuple[str, int | None, int | None]] = []  # (actor, delay ms, eta ms)
        self.delayed: list[tuple[str, int]] = []  # (actor, eta ms)
        self.started: list[tuple[str, tuple, int]] = []  # (actor, args, when ms)

    def after_enqueue(self, broker, message, delay) -> None:
        self.enqueued.append((message.actor_name, delay, message.options.get("eta")))

    def before_delay_message(self, broker, message) -> None:
        self.delayed.append((message.actor_name, message.options["eta"]))

    def before_process_message(self, broker, message) -> None:
        self.started.append((message.actor_name, tuple(message.args), current_millis()))


class InProcessWorker:
    """A real Dramatiq worker on real Redis, in threads of this process, with its own database engine."""

    def __init__(self, redis_url: str, namespace: str, database_url: str, sms, clock) -> None:
        # the broker `frontdesk worker` runs, with this test's SMS sender and clock
        self.broker = workers.main.build(Settings(redis_url=redis_url, queue_namespace=namespace), lambda: Resources(
            SqlStore(make_engine(sqlalchemy_url(database_url), 5, 0), TEST_SECRET_KEY), sms, clock))
        self.deliveries = Deliveries()
        self.broker.add_middleware(self.deliveries)
        self.worker = dramatiq.Worker(self.broker, worker_timeout=50, worker_threads=2)

    def __enter__(self):
        self.worker.start()
        return self

    def __exit__(self, *exc):
        self.worker.stop(timeout=10_000)
        self.broker.close()
        install(None)


async def _book(caller: Caller, call_id: str = "call-1", start: str = "2026-03-04T10:00") -> dict:
    held = await caller.tool("reserve_slot", {"start": start}, call_id=call_id)
    assert held["ok"], held
    booked = await caller.tool("book_appointment", {"name": "Dana Whitfield"}, call_id=call_id)
    assert booked["ok"], booked
    return booked


def _sms_rows(db, tenant_id: int):
    return db.execute("SELECT id, kind, to_phone, body, status, attempts, error_code FROM sms_messages "
                      "WHERE tenant_id = %s ORDER BY id", (tenant_id,)).fetchall()


async def test_texts_say_to_call_the_clinics_number_and_never_promise_a_reply_keyword(make_tenant, caller_for, db):
    """Nothing receives replies yet: a text that said "Reply C to cancel" left the appointment in place."""
    tenant = await make_tenant(name="Bright Smile Dental", phone="+1 555 701 0100")
    vapi = caller_for(tenant)
    booked = await _book(vapi)
    await vapi.tool("reschedule_appointment", {"appointment_id": booked["appointment_id"],
                                               "start": "2026-03-05T14:30"}, call_id="c2")
    bodies = [r[3] for r in _sms_rows(db, tenant.id)]
    assert bodies == [
        "Bright Smile Dental: you're booked for Wed Mar 4 at 10 AM with Dr Lee. To cancel or change it, call "
        "(555) 701-0100.",
        "Bright Smile Dental: your appointment is moved to Thu Mar 5 at 2:30 PM with Dr Lee. To cancel or change "
        "it, call (555) 701-0100.",
    ]
    abroad = await make_tenant(name="Clinique", phone="+33 1 42 68 53 00")
    await _book(caller_for(abroad))
    [(_, _, _, body, _, _, _)] = _sms_rows(db, abroad.id)
    assert body.endswith("To cancel or change it, call +33 1 42 68 53 00.") and "Reply" not in body


async def test_a_booking_texts_exactly_once_even_when_its_job_runs_twice(make_tenant, caller_for, store, db, clock):
    tenant = await make_tenant(name="Bright Smile Dental")
    booked = await _book(caller_for(tenant))
    assert booked["confirmation"] == "queued" and "texting a confirmation" in booked["say"]
    [(sms_id, kind, to, body, status, _, _)] = _sms_rows(db, tenant.id)
    assert (kind, to, status) == ("confirmation", "+15555550123", "pending")
    assert body == ("Bright Smile Dental: you're booked for Wed Mar 4 at 10 AM with Dr Lee. "
                    "To cancel or change it, call Bright Smile Dental.")
    outbox = db.execute("SELECT queue, actor, args FROM outbox WHERE tenant_id = %s AND actor = 'send_sms'",
                        (tenant.id,)).fetchall()
    assert outbox == [("confirmations", "send_sms", [tenant.id, sms_id])]

    sms = RecordingSms()
    outcomes = [await deliver_sms(store, sms, tenant.id, sms_id, clock()) for _ in range(3)]
    assert outcomes == ["sent", "skipped", "skipped"]  # a redelivery after the send (no ack) texts nobody
    assert len(sms.sent) == 1
    assert _sms_rows(db, tenant.id)[0][4] == "sent"


async def test_a_text_whose_sender_died_mid_send_is_sent_again_after_a_while_not_lost(
        make_tenant, caller_for, store, db, clock):
    tenant = await make_tenant()
    await _book(caller_for(tenant))
    sms_id = _sms_rows(db, tenant.id)[0][0]
    assert await store.claim_sms(tenant.id, sms_id, clock(), STALE_SEND) is not None  # then the worker died
    sms = RecordingSms()
    with pytest.raises(SmsInFlight):  # someone may be sending it: retried later (Dramatiq backoff), not dropped
        await deliver_sms(store, sms, tenant.id, sms_id, clock())
    later = clock() + STALE_SEND + timedelta(seconds=1)
    assert await deliver_sms(store, sms, tenant.id, sms_id, later) == "sent"
    assert len(sms.sent) == 1


async def test_reschedule_and_cancel_each_text_once_with_the_clinic_name_and_local_time(
        make_tenant, caller_for, db):
    tenant = await make_tenant(name="Bright Smile Dental")
    vapi = caller_for(tenant)
    booked = await _book(vapi)
    await vapi.tool("reschedule_appointment", {"appointment_id": booked["appointment_id"],
                                               "start": "2026-03-05T14:30"}, call_id="c2")
    await vapi.tool("cancel_appointment", {"appointment_id": booked["appointment_id"]}, call_id="c3")
    bodies = [r[3] for r in _sms_rows(db, tenant.id)]
    assert bodies == [
        ("Bright Smile Dental: you're booked for Wed Mar 4 at 10 AM with Dr Lee. "
         "To cancel or change it, call Bright Smile Dental."),
        ("Bright Smile Dental: your appointment is moved to Thu Mar 5 at 2:30 PM with Dr Lee. "
         "To cancel or change it, call Bright Smile Dental."),
        "Bright Smile Dental: your appointment on Thu Mar 5 at 2:30 PM with Dr Lee is cancelled.",
    ]
    # a replayed tool call adds no text
    await vapi.raw("cancel_appointment", {"appointment_id": booked["appointment_id"]}, call_id="c3",
                   tool_call_id="replay-me")
    await vapi.raw("cancel_appointment", {"appointment_id": booked["appointment_id"]}, call_id="c3",
                   tool_call_id="replay-me")
    assert len(_sms_rows(db, tenant.id)) == 3


async def test_with_redis_down_the_booking_succeeds_and_the_relay_delivers_the_text_once_redis_is_back(
        aiohttp_client, make_tenant, store, db, clock, redis_url, queue_namespace, database_url):
    from webhook import create_app

    tenant = await make_tenant()
    dead = Publisher(build_broker("redis://127.0.0.1:1/0", publisher=True), store, clock)
    client = await aiohttp_client(create_app(Settings(secret_key=TEST_SECRET_KEY), store=store, publisher=dead,
                                             clock=clock))
    booked = await _book(Caller(client, tenant))
    assert "texting a confirmation" in booked["say"]
    await dead.drain()
    unpublished = db.execute("SELECT count(*) FROM outbox WHERE tenant_id = %s AND published_at IS NULL",
                             (tenant.id,)).fetchone()[0]
    assert unpublished == 2  # expire_hold and send_sms both wait in the outbox

    # the relay is global: it also publishes what earlier tests left in the outbox, all in one round
    pending = db.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()[0]
    assert 2 <= pending <= 500  # one relay round takes up to 500 rows

    sms = RecordingSms()
    with InProcessWorker(redis_url, queue_namespace, database_url, sms, clock):
        live = Publisher(build_broker(redis_url, publisher=True, namespace=queue_namespace), store, clock)
        published, failed = await live.relay(grace_seconds=0)  # normally it leaves rows younger than 5 s
        assert (published, failed) == (pending, 0)
        assert db.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()[0] == 0
        mine = lambda: [s for s in sms.sent if s[0] == tenant.slug]  # noqa: E731
        await eventually(lambda: len(mine()) == 1, what="the confirmation text")
        again, _ = await live.relay(grace_seconds=0)  # nothing left to publish: nothing sent twice
        assert again == 0
    assert len(mine()) == 1 and mine()[0][1] == "+15555550123"
    assert db.execute("SELECT status FROM sms_messages WHERE tenant_id = %s", (tenant.id,)).fetchone()[0] == "sent"


async def test_a_twilio_5xx_leaves_the_text_retrying_and_the_next_attempt_sends_it_once(
        make_tenant, caller_for, store, db, clock, fake_twilio):
    tenant = await make_tenant()
    await _book(caller_for(tenant))
    sms_id = _sms_rows(db, tenant.id)[0][0]
    twilio = TwilioSms("AC" + "0" * 32, "token", "+15557010100", "https://frontdesk.example/twilio/status",
                       api_base=fake_twilio.base_url)
    fake_twilio.fail(503)
    with pytest.raises(SmsTransientError):
        await deliver_sms(store, twilio, tenant.id, sms_id, clock())
    assert _sms_rows(db, tenant.id)[0][4] == "retrying"
    assert await deliver_sms(store, twilio, tenant.id, sms_id, clock()) == "sent"
    assert await deliver_sms(store, twilio, tenant.id, sms_id, clock()) == "skipped"
    assert len(fake_twilio.requests) == 2 and len(fake_twilio.delivered) == 1
    sent = fake_twilio.delivered[0]
    assert (sent["To"], sent["From"], sent["StatusCallback"]) == (
        "+15555550123", "+15557010100", "https://frontdesk.example/twilio/status")
    row = db.execute("SELECT status, provider_sid, attempts FROM sms_messages WHERE id = %s", (sms_id,)).fetchone()
    assert row == ("sent", sent["sid"], 2)


async def test_a_twilio_that_never_answers_fails_the_send_as_transient_within_the_timeout(
        make_tenant, caller_for, store, db, clock, fake_twilio, monkeypatch):
    """A hung send must not hold a worker past its stop timeout: the client gives up and the text retries."""
    import asyncio
    import time

    import adapters.sms

    monkeypatch.setattr(adapters.sms, "SEND_TIMEOUT_S", 0.5)
    tenant = await make_tenant()
    await _book(caller_for(tenant))
    sms_id = _sms_rows(db, tenant.id)[0][0]
    twilio = TwilioSms("AC" + "0" * 32, "token", "+15557010100", api_base=fake_twilio.base_url)
    fake_twilio.hang = asyncio.Event()
    fake_twilio.hang.set()
    started = time.monotonic()
    try:
        with pytest.raises(SmsTransientError):
            await deliver_sms(store, twilio, tenant.id, sms_id, clock())
    finally:
        fake_twilio.hang.clear()
    assert time.monotonic() - started < 5  # the 0.5 s timeout, not a hang (bounded generously for a busy machine)
    assert len(fake_twilio.requests) == 1 and fake_twilio.delivered == []
    assert _sms_rows(db, tenant.id)[0][4] == "retrying"


@pytest.mark.slow
async def test_a_real_worker_retries_a_text_after_a_twilio_5xx_and_sends_it_once(
        make_tenant, caller_for, store, db, clock, fake_twilio, redis_url, queue_namespace, database_url):
    from domain.model import OutboxEntry

    tenant = await make_tenant()
    await _book(caller_for(tenant))
    [row] = db.execute("SELECT id, queue, actor, args, eta FROM outbox WHERE tenant_id = %s AND actor = 'send_sms'",
                       (tenant.id,))
    sms_id = row[3][1]
    twilio = TwilioSms("AC" + "0" * 32, "token", "+15557010100", api_base=fake_twilio.base_url)
    fake_twilio.fail(503)
    with InProcessWorker(redis_url, queue_namespace, database_url, twilio, clock) as worker:
        publisher = Publisher(build_broker(redis_url, publisher=True, namespace=queue_namespace), store, clock)
        assert await publisher.publish_now([OutboxEntry(*row)]) == [row[0]]
        # send_sms's own retry policy (2 s minimum backoff) brings the job back; nobody re-publishes it
        await eventually(lambda: len(fake_twilio.delivered) == 1, timeout=20, what="the retried text")
        await eventually(lambda: db.execute("SELECT status FROM sms_messages WHERE id = %s",
                                            (sms_id,)).fetchone()[0] == "sent", what="the text marked sent")
    assert [s[:2] for s in worker.deliveries.started] == [("send_sms", (tenant.id, sms_id))] * 2
    assert len(fake_twilio.requests) == 2
    assert db.execute("SELECT status, provider_sid, attempts FROM sms_messages WHERE id = %s",
                      (sms_id,)).fetchone() == ("sent", fake_twilio.delivered[0]["sid"], 2)


async def test_twilio_21610_is_not_retried_and_is_recorded_as_opted_out(
        make_tenant, caller_for, store, db, clock, fake_twilio):
    tenant = await make_tenant()
    await _book(caller_for(tenant))
    sms_id = _sms_rows(db, tenant.id)[0][0]
    twilio = TwilioSms("AC" + "0" * 32, "token", "+15557010100", api_base=fake_twilio.base_url)
    fake_twilio.fail(400, 21610)
    assert await deliver_sms(store, twilio, tenant.id, sms_id, clock()) == "opted_out"
    assert await deliver_sms(store, twilio, tenant.id, sms_id, clock()) == "skipped"
    assert len(fake_twilio.requests) == 1
    row = db.execute("SELECT status, error_code FROM sms_messages WHERE id = %s", (sms_id,)).fetchone()
    assert row == ("opted_out", "21610")


async def test_the_hold_expiry_job_and_the_sweeper_release_holds_and_the_slot_is_offered_again(
        make_tenant, caller_for, store, db, clock):
    tenant = await make_tenant(hold_minutes=10)
    vapi = caller_for(tenant)
    first = await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"}, call_id="a")
    second = await vapi.tool("reserve_slot", {"start": "2026-03-04T11:00"}, call_id="b")
    eta = db.execute("SELECT eta FROM outbox WHERE actor = 'expire_hold' AND args = %s",
                     (json.dumps([tenant.id, int(first["hold_id"])]),)).fetchone()[0]
    assert eta == clock() + timedelta(minutes=10)

    now = {"t": clock()}
    install(Resources(store, RecordingSms(), lambda: now["t"]))
    try:
        assert await holds.expire_hold(tenant.id, int(first["hold_id"])) == 0  # not yet due
        now["t"] = clock() + timedelta(minutes=10)
        assert await holds.expire_hold(tenant.id, int(first["hold_id"])) == 1
        assert await holds.expire_hold(tenant.id, int(first["hold_id"])) == 0  # idempotent
        # the other one, missed by its job; the sweep is global, so it also takes earlier tests' due holds
        due = db.execute("SELECT count(*) FROM bookings WHERE status = 'held' AND hold_expires_at <= %s",
                         (now["t"],)).fetchone()[0]
        assert due >= 1
        assert await holds.sweep_expired_holds() == due
        assert await holds.sweep_expired_holds() == 0
    finally:
        install(None)
    statuses = db.execute("SELECT status FROM bookings WHERE id = ANY(%s) ORDER BY id",
                          ([int(first["hold_id"]), int(second["hold_id"])],)).fetchall()
    assert statuses == [("expired",), ("expired",)]
    clock.set(clock() + timedelta(minutes=1))
    again = await vapi.tool("check_availability", {"date": "2026-03-04", "after": "2026-03-04T10:00", "limit": 1})
    assert again["openings"][0]["start"] == "2026-03-04T10:00:00-05:00"
    assert [r[0] for r in db.execute("SELECT action FROM booking_audit WHERE booking_id = %s ORDER BY id",
                                     (int(first["hold_id"]),))] == ["held", "expired"]


async def test_a_delayed_expire_hold_job_is_delivered_by_a_real_worker_after_its_eta_not_before(
        make_tenant, caller_for, store, db, clock, redis_url, queue_namespace, database_url):
    from domain.model import OutboxEntry

    tenant = await make_tenant()
    held = await caller_for(tenant).tool("reserve_slot", {"start": "2026-03-04T10:00"}, call_id="a")
    hold_id = int(held["hold_id"])
    [row] = db.execute("SELECT id, queue, actor, args, eta FROM outbox WHERE tenant_id = %s", (tenant.id,))
    entry = OutboxEntry(*row)
    assert (entry.actor, entry.args, entry.eta) == ("expire_hold", [tenant.id, hold_id],
                                                     clock() + timedelta(minutes=10))
    delay = timedelta(seconds=2)
    # published 2 s before the hold's expires_at; the worker's clock says the hold is due whenever it runs,
    # so only Dramatiq's delay keeps the job from running (and expiring the hold) early
    with InProcessWorker(redis_url, queue_namespace, database_url, RecordingSms(), lambda: entry.eta) as worker:
        broker = build_broker(redis_url, publisher=True, namespace=queue_namespace)
        sent = Deliveries()
        broker.add_middleware(sent)
        publisher = Publisher(broker, store, lambda: entry.eta - delay)
        assert await publisher.publish_now([entry]) == [entry.id]
        [(actor, delay_ms, eta_ms)] = sent.enqueued
        assert (actor, delay_ms) == ("expire_hold", 2000) and eta_ms is not None
        await eventually(lambda: db.execute("SELECT status FROM bookings WHERE id = %s",
                                            (hold_id,)).fetchone()[0] == "expired",
                         what="the hold to expire")
    assert worker.deliveries.delayed == [("expire_hold", eta_ms)]  # parked by the worker until its eta
    [(actor, args, ran_at)] = worker.deliveries.started
    assert (actor, args) == ("expire_hold", (tenant.id, hold_id))
    assert ran_at >= eta_ms  # delivered after its eta, not before


async def test_the_relay_stops_at_the_first_failure_and_leaves_the_rest_for_later(
        make_tenant, caller_for, store, db, clock):
    tenant = await make_tenant()
    await _book(caller_for(tenant))  # two rows of its own; the relay is global and goes oldest first
    pending = "SELECT id, publish_attempts FROM outbox WHERE published_at IS NULL ORDER BY id"
    before = db.execute(pending).fetchall()
    assert len(before) >= 2
    dead = Publisher(build_broker("redis://127.0.0.1:1/0", publisher=True), store, clock)
    published, failed = await dead.relay(grace_seconds=0)
    assert (published, failed) == (0, 1)
    # only the first row was tried (one more attempt); the rest were not tried and all wait for later
    (first_id, first_attempts), *rest = before
    assert db.execute(pending).fetchall() == [(first_id, first_attempts + 1), *rest]


async def test_pruning_deletes_old_published_rows_and_old_results_and_keeps_unpublished_and_recent_ones(
        make_tenant, caller_for, store, db, clock):
    from datetime import datetime, timezone

    tenant = await make_tenant()
    vapi = caller_for(tenant)
    await _book(vapi, call_id="old", start="2026-03-04T10:00")
    await _book(vapi, call_id="new", start="2026-03-04T11:00")
    outbox_ids = "SELECT id FROM outbox WHERE tenant_id = %s ORDER BY id"
    ids = [r[0] for r in db.execute(outbox_ids, (tenant.id,))]
    assert len(ids) == 4  # a hold expiry and a text per booking
    now = datetime.now(timezone.utc)
    db.execute("UPDATE outbox SET published_at = %s WHERE id = %s", (now - timedelta(days=8), ids[0]))  # old
    db.execute("UPDATE outbox SET published_at = %s WHERE id = %s", (now - timedelta(days=6), ids[1]))  # recent
    db.execute("UPDATE tool_results SET created_at = %s WHERE tenant_id = %s AND call_id = 'old'",
               (now - timedelta(days=31), tenant.id))
    # pruning is global: earlier tests' rows published by the test clock (March 2026) go too
    old_outbox = db.execute("SELECT count(*) FROM outbox WHERE published_at < %s",
                            (now - timedelta(days=7),)).fetchone()[0]
    old_results = db.execute("SELECT count(*) FROM tool_results WHERE created_at < %s",
                             (now - timedelta(days=30),)).fetchone()[0]
    assert await store.prune(now) == (old_outbox, old_results)
    assert [r[0] for r in db.execute(outbox_ids, (tenant.id,))] == ids[1:]  # recent and unpublished stay
    assert [r[0] for r in db.execute("SELECT DISTINCT call_id FROM tool_results WHERE tenant_id = %s",
                                     (tenant.id,))] == ["new"]


async def test_the_clock_relays_what_was_never_published_and_enqueues_the_sweeper(
        make_tenant, caller_for, db, database_url, redis_url, queue_namespace):
    import redis as redis_lib

    from frontdesk.clock import run_clock

    tenant = await make_tenant()
    await _book(caller_for(tenant))  # no publisher here: both jobs stay in the outbox
    db.execute("UPDATE outbox SET created_at = now() - interval '1 minute' WHERE tenant_id = %s", (tenant.id,))
    settings = Settings.from_env({"DATABASE_URL": database_url, "REDIS_URL": redis_url,
                                  "QUEUE_NAMESPACE": queue_namespace, "SECRET_KEY": TEST_SECRET_KEY})
    stop = asyncio.Event()
    clock_task = asyncio.create_task(run_clock(settings, relay_every=0.05, sweep_every=60, stop=stop))
    try:
        await eventually(lambda: db.execute("SELECT count(*) FROM outbox WHERE tenant_id = %s AND published_at "
                                            "IS NULL", (tenant.id,)).fetchone()[0] == 0, what="the relay")
    finally:
        stop.set()
        await asyncio.wait_for(clock_task, 10)
    (sms_id,) = db.execute("SELECT id FROM sms_messages WHERE tenant_id = %s", (tenant.id,)).fetchone()
    (hold_id,) = db.execute("SELECT id FROM bookings WHERE tenant_id = %s", (tenant.id,)).fetchone()
    queued = _queued(redis_lib.Redis.from_url(redis_url), queue_namespace)
    # the relay is global, so earlier tests' leftovers are queued too; this tenant's jobs are there once each
    assert queued["confirmations"].count(("send_sms", (tenant.id, sms_id))) == 1
    assert queued["holds"].count(("expire_hold", (tenant.id, hold_id))) == 1
    assert queued["holds"].count(("sweep_expired_holds", ())) == 1


def _queued(redis, namespace: str) -> dict[str, list[tuple[str, tuple]]]:
    """(actor, args) of every message waiting in each ready queue of a namespace."""
    found = {}
    for queue in ("confirmations", "holds"):
        ids = redis.lrange(f"{namespace}:{queue}", 0, -1)
        bodies = redis.hmget(f"{namespace}:{queue}.msgs", ids) if ids else []
        messages = [dramatiq.Message.decode(b) for b in bodies]
        found[queue] = [(m.actor_name, tuple(m.args)) for m in messages]
    return found


async def test_jobs_committed_together_are_published_in_one_batch_each_once(
        make_tenant, store, db, clock, redis_url, queue_namespace):
    """publish_after_commit from 40 tool calls in one burst: one thread hop and one UPDATE for many of them,
    and every job reaches its queue once."""
    from domain.model import OutboxEntry

    tenant = await make_tenant()
    rows = db.execute(
        "INSERT INTO outbox (tenant_id, queue, actor, args) SELECT %s, 'holds', 'expire_hold', "
        "jsonb_build_array(%s, n) FROM generate_series(1, 40) n RETURNING id, queue, actor, args, eta",
        (tenant.id, tenant.id)).fetchall()
    broker = build_broker(redis_url, publisher=True, namespace=queue_namespace)
    publisher = Publisher(broker, store, clock)
    marks: list[int] = []
    mark_published = store.mark_published

    async def counting(ids, now):
        marks.append(len(ids))
        await mark_published(ids, now)

    store.mark_published = counting  # type: ignore[method-assign]
    try:
        for row in rows:  # as 40 requests would, each after its commit, with no await in between
            publisher.publish_after_commit([OutboxEntry(*row)])
        await publisher.drain()
    finally:
        del store.mark_published
    assert sum(marks) == 40 and len(marks) < 40
    ids = [r[0] for r in rows]
    assert db.execute("SELECT count(*) FROM outbox WHERE id = ANY(%s) AND published_at IS NOT NULL",
                      (ids,)).fetchone()[0] == 40
    queued = broker.client.llen(f"{queue_namespace}:holds") + broker.client.zcard(f"{queue_namespace}:holds.DQ")
    assert queued == 40
