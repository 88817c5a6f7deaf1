"""End to end: tool calls over HTTP -> outbox -> Redis -> a real `frontdesk worker` process -> fake Twilio."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from frontdesk.outbox import Publisher
from frontdesk.settings import Settings
from tests.conftest import TEST_SECRET_KEY, Caller
from tests.e2e.processes import worker_env
from tests.integration.test_pipeline import eventually
from adapters.broker import build_broker

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
async def test_a_booking_over_http_is_texted_by_a_real_worker_process_through_twilio(
        aiohttp_client, make_tenant, store, clock, database_url, redis_url, queue_namespace, fake_twilio, tmp_path):
    from webhook import create_app

    tenant = await make_tenant(name="Bright Smile Dental")
    env = worker_env(database_url, redis_url, queue_namespace, TEST_SECRET_KEY, fake_twilio.base_url,
                     PUBLIC_URL="https://frontdesk.example")
    log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen([sys.executable, "-m", "frontdesk.cli", "worker", "--processes", "1", "--threads", "2"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    publisher = Publisher(build_broker(redis_url, publisher=True, namespace=queue_namespace), store, clock)
    client = await aiohttp_client(create_app(Settings(secret_key=TEST_SECRET_KEY), store=store,
                                             publisher=publisher, clock=clock))
    vapi = Caller(client, tenant)
    try:
        await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"})
        booked = await vapi.tool("book_appointment", {"name": "Dana Whitfield"})
        assert booked["ok"]
        await eventually(lambda: len(fake_twilio.delivered) >= 1, timeout=30, what="the text at fake Twilio")
        await vapi.tool("cancel_appointment", {"appointment_id": booked["appointment_id"]}, call_id="c2")
        await eventually(lambda: len(fake_twilio.delivered) >= 2, timeout=30, what="the cancellation text")
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        log.close()
    bodies = [m["Body"] for m in fake_twilio.delivered]
    assert bodies == [
        ("Bright Smile Dental: you're booked for Wed Mar 4 at 10 AM with Dr Lee. "
         "To cancel or change it, call Bright Smile Dental."),
        "Bright Smile Dental: your appointment on Wed Mar 4 at 10 AM with Dr Lee is cancelled.",
    ]
    assert {m["To"] for m in fake_twilio.delivered} == {"+15555550123"}
    assert fake_twilio.delivered[0]["StatusCallback"] == "https://frontdesk.example/twilio/status"
    assert worker.returncode == 0, (tmp_path / "worker.log").read_text()[-3000:]


def _start_worker(env: dict, log_path: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "frontdesk.cli", "worker", "--processes", "1", "--threads", "2"],
                            cwd=ROOT, env=env, stdout=open(log_path, "a"), stderr=subprocess.STDOUT,
                            start_new_session=True)


@pytest.mark.slow
async def test_a_worker_killed_mid_send_loses_nothing_another_worker_sends_the_text_once(
        aiohttp_client, make_tenant, store, db, clock, database_url, redis_url, queue_namespace, fake_twilio,
        tmp_path):
    import asyncio

    import redis as redis_lib

    from webhook import create_app

    tenant = await make_tenant()
    env = worker_env(database_url, redis_url, queue_namespace, TEST_SECRET_KEY, fake_twilio.base_url)
    fake_twilio.hang = asyncio.Event()
    fake_twilio.hang.set()
    first = _start_worker(env, tmp_path / "worker.log")
    publisher = Publisher(build_broker(redis_url, publisher=True, namespace=queue_namespace), store, clock)
    client = await aiohttp_client(create_app(Settings(secret_key=TEST_SECRET_KEY), store=store,
                                             publisher=publisher, clock=clock))
    vapi = Caller(client, tenant)
    second = None
    try:
        await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"})
        assert (await vapi.tool("book_appointment", {"name": "Dana Whitfield"}))["ok"]
        await eventually(lambda: len(fake_twilio.requests) == 1, timeout=30, what="the worker to call Twilio")
        os.killpg(first.pid, signal.SIGKILL)  # dies mid-send, before acknowledging the job
        first.wait(timeout=10)
        fake_twilio.hang.clear()
        second = _start_worker(env, tmp_path / "worker.log")
        # redelivered after the dead worker's heartbeat lapses (15 s), then sent once the claim is stale (45 s)
        await eventually(lambda: len(fake_twilio.delivered) == 1, timeout=120, what="the text from the new worker")
        # settled: the text is marked sent and the job acknowledged (its message gone from Redis), so nothing
        # can send it again after the workers stop
        redis = redis_lib.Redis.from_url(redis_url)
        await eventually(lambda: db.execute("SELECT status FROM sms_messages WHERE tenant_id = %s",
                                            (tenant.id,)).fetchone()[0] == "sent"
                         and redis.hlen(f"{queue_namespace}:confirmations.msgs") == 0,
                         timeout=30, what="the send job to be acknowledged")
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
    # two requests reached Twilio: the killed worker's (never answered) and the new worker's, which got through
    assert len(fake_twilio.requests) == 2
    assert len(fake_twilio.delivered) == 1 and fake_twilio.delivered[0]["To"] == "+15555550123"
