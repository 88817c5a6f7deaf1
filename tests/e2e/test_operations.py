"""Health, readiness and the one log line per request (which never carries secrets or whole numbers)."""

from __future__ import annotations

import json

import structlog

from frontdesk import logs
from frontdesk.settings import Settings
from store import SqlStore, make_engine
from tests.conftest import TEST_SECRET_KEY, tool_calls_body


async def test_healthz_and_readyz_answer_when_the_database_is_up(client):
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200 and (await ready.json())["status"] == "ready"


async def test_readyz_is_503_when_the_database_is_unreachable(aiohttp_client, clock):
    from webhook import create_app

    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", pool_size=1, max_overflow=0)
    store = SqlStore(engine, TEST_SECRET_KEY)
    client = await aiohttp_client(create_app(Settings(), store=store, clock=clock))
    try:
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/readyz")).status == 503
        # with no database nobody can be authenticated: a prompt 503, never a hang or a stack trace
        resp = await client.post("/vapi/webhook", json=tool_calls_body([("check_availability", {}, "t")]),
                                 headers={"X-Vapi-Secret": "whatever-secret-value"})
        assert resp.status == 503 and await resp.json() == {"error": "temporarily_unavailable"}
    finally:
        await store.close()


async def test_each_request_logs_one_json_line_without_secrets_raw_bodies_or_phone_numbers(
        make_tenant, caller_for, capsys):
    logs.configure("json")
    try:
        await _one_logged_request(make_tenant, caller_for, capsys)
    finally:
        structlog.reset_defaults()


async def _one_logged_request(make_tenant, caller_for, capsys) -> None:
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    capsys.readouterr()
    body = tool_calls_body([("reserve_slot", {"start": "2026-03-04T10:00"}, "tc-log-1"),
                            ("book_appointment", {"name": "Dana Whitfield", "phone": "+12125550188"}, "tc-log-2")],
                           caller="+15555550123")
    body["message"]["toolWithToolCallList"] = [{"server": {"headers": {"X-Vapi-Secret": tenant.secret}}}]
    resp = await vapi.post(body)
    assert resp.status == 200
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    assert len(requests) == 1
    line = requests[0]
    assert line["tenant"] == tenant.slug and line["call_id"] == "call-1"
    assert line["tools"] == ["reserve_slot", "book_appointment"] and line["outcomes"] == ["ok", "ok"]
    assert isinstance(line["duration_ms"], float)
    for secret_or_pii in (tenant.secret, "5555550123", "2125550188", "Dana Whitfield"):
        assert secret_or_pii not in out


async def test_an_app_given_only_settings_builds_its_store_and_publisher_which_publish_to_redis(
        aiohttp_client, make_tenant, clock, database_url, redis_url, queue_namespace):
    import redis

    from domain.jobs import SEND_SMS
    from tests.conftest import Caller
    from tests.integration.test_pipeline import eventually
    from webhook import create_app
    from webhook.keys import PUBLISHER, STORE

    tenant = await make_tenant()
    settings = Settings.from_env({"DATABASE_URL": database_url, "REDIS_URL": redis_url,
                                  "QUEUE_NAMESPACE": queue_namespace, "SECRET_KEY": TEST_SECRET_KEY})
    app = create_app(settings, clock=clock)
    client = await aiohttp_client(app)
    queued = redis.Redis.from_url(redis_url)
    try:
        assert (await client.get("/readyz")).status == 200
        assert app[PUBLISHER].store is app[STORE]
        vapi = Caller(client, tenant)
        await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"})
        assert (await vapi.tool("book_appointment", {"name": "Dana Whitfield"}))["ok"]
        await eventually(lambda: queued.llen(f"{queue_namespace}:{SEND_SMS.queue}") == 1,
                         what="the confirmation job in Redis")
    finally:
        await client.close()
        keys = list(queued.scan_iter(f"{queue_namespace}:*"))
        if keys:
            queued.delete(*keys)
        queued.close()


async def test_without_redis_url_the_app_has_no_publisher_and_jobs_wait_in_the_outbox(aiohttp_client, database_url):
    from webhook import create_app
    from webhook.keys import PUBLISHER

    app = create_app(Settings.from_env({"DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET_KEY}))
    client = await aiohttp_client(app)
    assert (await client.get("/readyz")).status == 200
    assert PUBLISHER not in app
