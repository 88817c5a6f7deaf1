"""GET /metrics: counts read back in Prometheus' text format, the token, and processes that add up: a real
worker process's jobs on the web's /metrics, and two `frontdesk serve` processes counting as one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from frontdesk.outbox import Publisher
from frontdesk.settings import Settings
from tests.conftest import TEST_SECRET_KEY, Caller, tool_calls_body
from tests.e2e.processes import free_port, stop, wait_for, worker_env
from tests.integration.test_pipeline import eventually
from adapters.broker import build_broker

ROOT = Path(__file__).resolve().parents[2]


def value(text: str, sample: str, **labels: str) -> float:
    """The value of one sample (`frontdesk_tool_calls_total` with these labels) in a scrape; 0 when absent."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


async def scrape(client, **headers: str) -> str:
    resp = await client.get("/metrics", headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/plain")
    return await resp.text()


async def test_metrics_count_each_tool_call_by_outcome_and_what_it_did(client, make_tenant):
    vapi = Caller(client, await make_tenant())
    # this process's counters live as long as it does: compare with a scrape taken before
    before = await scrape(client)
    assert (await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"}))["ok"]
    refused = await vapi.tool("reserve_slot", {"start": "2026-03-04T03:00"})  # the clinic is closed at 3 AM
    assert not refused["ok"]
    after = await scrape(client)

    def added(sample: str, **labels: str) -> float:
        return value(after, sample, **labels) - value(before, sample, **labels)

    assert added("frontdesk_tool_calls_total", tool="reserve_slot", outcome="ok") == 1
    refusals = {s.labels["outcome"]: s.value for f in text_string_to_metric_families(after) for s in f.samples
                if s.name == "frontdesk_tool_calls_total" and s.labels["tool"] == "reserve_slot"
                and s.labels["outcome"] != "ok"}
    assert sum(refusals.values()) - sum(
        value(before, "frontdesk_tool_calls_total", tool="reserve_slot", outcome=code) for code in refusals) == 1
    assert added("frontdesk_tool_call_duration_seconds_count", tool="reserve_slot") == 2
    assert added("frontdesk_holds_total", event="created") == 1  # the refused call held nothing
    assert "frontdesk_outbox_unpublished" in after  # read from the database at scrape time


async def test_a_replayed_tool_call_is_counted_as_replayed_and_books_nothing_twice(client, make_tenant):
    vapi = Caller(client, await make_tenant())
    await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"})
    before = await scrape(client)
    await vapi.tool("book_appointment", {"name": "Ana"}, tool_call_id="tc-book-1")
    await vapi.tool("book_appointment", {"name": "Ana"}, tool_call_id="tc-book-1")  # Vapi retried
    after = await scrape(client)
    assert (value(after, "frontdesk_bookings_total", action="booked")
            - value(before, "frontdesk_bookings_total", action="booked")) == 1
    assert (value(after, "frontdesk_tool_calls_total", tool="book_appointment", outcome="replayed")
            - value(before, "frontdesk_tool_calls_total", tool="book_appointment", outcome="replayed")) == 1


async def test_with_metrics_token_set_metrics_need_it_as_a_bearer_token(aiohttp_client, store, clock):
    from webhook import create_app

    settings = Settings(secret_key=TEST_SECRET_KEY, metrics_token="scrape-me-0123456789")
    client = await aiohttp_client(create_app(settings, store=store, clock=clock))
    assert (await client.get("/metrics")).status == 401
    assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status == 401
    assert (await client.get("/metrics", headers={"Authorization": "Basic scrape-me-0123456789"})).status == 401
    assert "frontdesk_tool_calls" in await scrape(client, Authorization="Bearer scrape-me-0123456789")


@pytest.mark.slow
async def test_a_failed_job_in_a_real_worker_process_is_counted_by_actor_on_the_webs_metrics(
        aiohttp_client, make_tenant, store, clock, database_url, redis_url, queue_namespace, fake_twilio, tmp_path):
    from webhook import create_app

    metrics_dir = tmp_path / "metrics"
    env = worker_env(database_url, redis_url, queue_namespace, TEST_SECRET_KEY, fake_twilio.base_url,
                     PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    fake_twilio.fail(503)  # Twilio is down for the first try: the job raises, and Dramatiq retries it
    tenant = await make_tenant()
    log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen([sys.executable, "-m", "frontdesk.cli", "worker", "--processes", "1", "--threads", "2"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    publisher = Publisher(build_broker(redis_url, publisher=True, namespace=queue_namespace), store, clock)
    # the web app reads the directory the worker writes to, as the web and workers of one machine do
    client = await aiohttp_client(create_app(
        Settings(secret_key=TEST_SECRET_KEY, prometheus_multiproc_dir=str(metrics_dir)),
        store=store, publisher=publisher, clock=clock))
    vapi = Caller(client, tenant)
    try:
        await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"})
        assert (await vapi.tool("book_appointment", {"name": "Dana Whitfield"}))["ok"]
        await eventually(lambda: len(fake_twilio.delivered) == 1, timeout=60, what="the text, sent on a retry")
        text = ""

        async def counted() -> bool:
            nonlocal text
            text = await scrape(client)
            return value(text, "frontdesk_jobs_processed_total", actor="send_sms") >= 2

        # the worker counts a run just after it ends, which may be after Twilio answered
        await eventually(counted, timeout=15, what="both runs counted")
    finally:
        stop(worker, signal.SIGTERM)
        log.close()
    assert value(text, "frontdesk_jobs_failed_total", actor="send_sms") == 1, text
    assert value(text, "frontdesk_jobs_processed_total", actor="send_sms") == 2
    assert value(text, "frontdesk_sms_sends_total", status="retrying") == 1
    assert value(text, "frontdesk_sms_sends_total", status="sent") == 1
    assert worker.returncode == 0, (tmp_path / "worker.log").read_text()[-3000:]


@pytest.mark.slow
async def test_two_server_processes_add_up_on_metrics(make_tenant, database_url, tmp_path):
    tenant = await make_tenant()
    metrics_dir = tmp_path / "metrics"
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET_KEY, "LOG_FORMAT": "json",
           "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    env.pop("REDIS_URL", None)  # no jobs here: check_availability only reads
    out = open(tmp_path / "serve.out", "w")
    proc = subprocess.Popen([sys.executable, "-m", "frontdesk.cli", "serve", "--host", "127.0.0.1", "--port",
                             str(port), "--processes", "2"], cwd=ROOT, env=env, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    calls = 0
    try:
        wait_for(f"{base}/readyz", proc, timeout=60)
        # a new connection each time, which the kernel gives either process; the second may still be starting,
        # so go on (within bounds) until both have counted some: each writes a file of its own
        while calls < 20 or len(list(metrics_dir.glob("counter_*.db"))) < 2:
            assert calls < 400, f"one process answered all {calls} calls"
            body = tool_calls_body([("check_availability", {"service": "Cleaning"}, f"tc-{calls}")])
            req = urllib.request.Request(f"{base}/vapi/webhook", method="POST", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json", "X-Vapi-Secret": tenant.secret})
            with urllib.request.urlopen(req, timeout=10) as resp:
                assert resp.status == 200
            calls += 1
        with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:
            text = resp.read().decode()
    finally:
        stop(proc, signal.SIGTERM)
        out.close()
    assert value(text, "frontdesk_tool_calls_total", tool="check_availability", outcome="ok") == calls, text
    assert value(text, "frontdesk_tool_call_duration_seconds_count", tool="check_availability") == calls
