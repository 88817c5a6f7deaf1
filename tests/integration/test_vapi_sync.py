"""The Vapi tool sync against real PostgreSQL and a local fake of Vapi's REST API (tests/fakes/vapi.py), the
real client pointed at it through VAPI_BASE_URL; waits between retries are recorded, never slept."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest

from assistant.definitions import tool_definitions
from assistant.prompts import system_prompt
from domain.tenant_config import parse_tenant
from domain.tool_names import tools_for
from domain.vapi_sync import SyncRefused, VapiRejected, VapiUnavailable, sync_tenant
from frontdesk import bootstrap
from frontdesk.settings import Settings
from tests.conftest import clinic_config
from tests.fakes.vapi import FakeVapi

KEY = "vapi-test-key"
PUBLIC_URL = "https://frontdesk.example.com"
TOOLS = tools_for(require_otp=False)


class Waits:
    """Stands in for asyncio.sleep in the client: remembers each wait."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


@dataclass
class Clinic:
    id: int
    slug: str
    secret: str
    assistant_id: str
    data: dict[str, Any]


@pytest.fixture
async def fake_vapi(aiohttp_server) -> FakeVapi:
    fake = FakeVapi()
    server = await aiohttp_server(fake.app())
    fake.base_url = str(server.make_url("")).rstrip("/")
    return fake


@pytest.fixture
def environ() -> dict[str, str]:
    """The process environment the sync reads clinics' secrets (and keys) from."""
    return {}


@pytest.fixture
def make_clinic(store, fake_vapi, environ):
    async def make(model: dict[str, Any] | None = None, **vapi: Any) -> Clinic:
        secret_env = f"CLINIC_SECRET_{secrets.token_hex(4).upper()}"
        environ[secret_env] = secrets.token_urlsafe(24)
        data = clinic_config(webhook_secret=None, webhook_secret_env=secret_env)
        data["vapi"] = vapi
        spec = parse_tenant(data, "test", environ)
        tenant_id, _ = await store.apply_tenant(spec)
        fake_vapi.add_assistant(spec.assistant_ids[0], model)
        return Clinic(tenant_id, spec.slug, environ[secret_env], spec.assistant_ids[0], data)
    return make


async def reapply(store, environ, clinic: Clinic, **vapi: Any) -> None:
    clinic.data["vapi"] = vapi
    await store.apply_tenant(parse_tenant(clinic.data, "test", environ))


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


async def run_sync(store, fake: FakeVapi, environ: dict[str, str], tenant_id: int, *, waits: Waits | None = None,
                   render_tools=tool_definitions, dry_run: bool = False, **settings: str):
    values = {"VAPI_BASE_URL": fake.base_url, "VAPI_API_KEY": KEY, "PUBLIC_URL": PUBLIC_URL, **environ, **settings}
    config = Settings.from_env(values)
    client = bootstrap.build_vapi_client(config, sleep=waits or Waits())
    try:
        return await sync_tenant(tenant_id, store=store, vapi=client, settings=bootstrap.vapi_sync_settings(config),
                                 render_tools=render_tools, render_prompt=system_prompt, clock=utc_now,
                                 dry_run=dry_run)
    finally:
        await client.close()


def mapped(db, tenant_id: int) -> dict[str, str]:
    return dict(db.execute("SELECT tool_name, vapi_tool_id FROM vapi_tools WHERE tenant_id = %s",
                           (tenant_id,)).fetchall())


def runs(db, tenant_id: int) -> list[tuple[str, int, str | None]]:
    return db.execute("SELECT status, writes, error FROM vapi_sync_runs WHERE tenant_id = %s ORDER BY id",
                      (tenant_id,)).fetchall()


async def test_the_first_sync_creates_each_tool_and_points_the_assistant_at_them(
        store, db, fake_vapi, environ, make_clinic):
    clinic = await make_clinic()
    report = await run_sync(store, fake_vapi, environ, clinic.id)

    posts = [body for method, path, body in fake_vapi.requests if (method, path) == ("POST", "/tool")]
    assert [p["function"]["name"] for p in posts] == list(TOOLS)
    assert all(p["server"]["url"] == f"{PUBLIC_URL}/vapi/tools/{p['function']['name']}" for p in posts)
    assert all(p["server"]["headers"] == {"X-Vapi-Secret": clinic.secret} for p in posts)
    ids = mapped(db, clinic.id)
    assert set(ids) == set(TOOLS) and set(ids.values()) <= set(fake_vapi.tools)
    model = fake_vapi.assistants[clinic.assistant_id]["model"]
    assert model["toolIds"] == [ids[name] for name in TOOLS]
    assert model["messages"][0]["role"] == "system" and "Clinic" in model["messages"][0]["content"]
    assert report.writes == len(TOOLS) + 1 and runs(db, clinic.id) == [("ok", len(TOOLS) + 1, None)]


async def test_a_second_sync_finds_nothing_to_change_and_writes_nothing(store, db, fake_vapi, environ, make_clinic):
    clinic = await make_clinic()
    await run_sync(store, fake_vapi, environ, clinic.id)
    before = len(fake_vapi.writes())
    report = await run_sync(store, fake_vapi, environ, clinic.id)
    assert len(fake_vapi.writes()) == before
    assert report.plan.lines() == ["nothing to change"] and report.writes == 0
    assert runs(db, clinic.id)[-1] == ("ok", 0, None)


async def test_a_changed_description_patches_exactly_that_tool_and_never_sends_its_type(
        store, db, fake_vapi, environ, make_clinic):
    clinic = await make_clinic()
    await run_sync(store, fake_vapi, environ, clinic.id)
    before = len(fake_vapi.writes())

    def reworded(schedule, public_url, secret):
        tools = tool_definitions(schedule, public_url, secret)
        tools["reserve_slot"]["function"]["description"] = "Hold a time for the caller."
        return tools

    await run_sync(store, fake_vapi, environ, clinic.id, render_tools=reworded)
    [(method, path, body)] = fake_vapi.writes()[before:]
    assert (method, path) == ("PATCH", f"/tool/{mapped(db, clinic.id)['reserve_slot']}")
    assert "type" not in body and body["function"]["description"] == "Hold a time for the caller."
    # and the new definition is what the next sync compares against
    again = await run_sync(store, fake_vapi, environ, clinic.id, render_tools=reworded)
    assert again.writes == 0


async def test_a_tool_dropped_from_the_tenant_file_is_detached_then_deleted_and_nothing_else_is(
        store, db, fake_vapi, environ, make_clinic):
    foreign = fake_vapi.add_tool("reserve_slot")  # same name, someone else's: never touched
    clinic = await make_clinic()
    await run_sync(store, fake_vapi, environ, clinic.id)
    dropped = mapped(db, clinic.id)["send_confirmation"]
    before = len(fake_vapi.writes())

    await reapply(store, environ, clinic, tools=[t for t in TOOLS if t != "send_confirmation"])
    await run_sync(store, fake_vapi, environ, clinic.id)

    writes = fake_vapi.writes()[before:]
    assert [(m, p) for m, p, _ in writes] == [("PATCH", f"/assistant/{clinic.assistant_id}"),
                                              ("DELETE", f"/tool/{dropped}")]
    assert dropped not in fake_vapi.tools and fake_vapi.deleted_while_referenced == []
    assert foreign in fake_vapi.tools and not any(foreign in p for _, p, _ in fake_vapi.requests)
    assert "send_confirmation" not in mapped(db, clinic.id)
    assert dropped not in fake_vapi.assistants[clinic.assistant_id]["model"]["toolIds"]


async def test_a_tool_already_gone_or_pinned_in_vapi_does_not_fail_the_sync(
        store, db, fake_vapi, environ, make_clinic):
    clinic = await make_clinic()
    await run_sync(store, fake_vapi, environ, clinic.id)
    ids = mapped(db, clinic.id)
    fake_vapi.pinned.add(ids["send_confirmation"])
    del fake_vapi.tools[ids["lookup_appointments"]]  # deleted in the dashboard: 404 on DELETE
    await reapply(store, environ, clinic, tools=[t for t in TOOLS if t not in ("send_confirmation",
                                                                                "lookup_appointments")])
    report = await run_sync(store, fake_vapi, environ, clinic.id)
    assert report.kept == ["send_confirmation"]  # kept in the map: the next sync tries again
    assert set(mapped(db, clinic.id)) == set(TOOLS) - {"lookup_appointments"}
    assert runs(db, clinic.id)[-1][0] == "ok"


async def test_a_tool_deleted_in_vapi_by_hand_is_created_again(store, db, fake_vapi, environ, make_clinic):
    clinic = await make_clinic()
    await run_sync(store, fake_vapi, environ, clinic.id)
    gone = mapped(db, clinic.id)["check_availability"]
    del fake_vapi.tools[gone]
    await run_sync(store, fake_vapi, environ, clinic.id)
    new = mapped(db, clinic.id)["check_availability"]
    assert new != gone and new in fake_vapi.tools
    assert fake_vapi.assistants[clinic.assistant_id]["model"]["toolIds"][0] == new


async def test_a_rate_limited_request_waits_as_retry_after_says_then_succeeds(
        store, db, fake_vapi, environ, make_clinic):
    clinic = await make_clinic()
    fake_vapi.fail(429, retry_after="7", times=2)
    waits = Waits()
    await run_sync(store, fake_vapi, environ, clinic.id, waits=waits)
    assert waits.seconds == [7.0, 7.0]
    assert runs(db, clinic.id) == [("ok", len(TOOLS) + 1, None)]


async def test_vapi_down_gives_up_after_a_bounded_number_of_tries_with_growing_waits_and_records_it(
        store, db, fake_vapi, environ, make_clinic):
    clinic = await make_clinic()
    fake_vapi.fail(503, times=50)
    waits = Waits()
    with pytest.raises(VapiUnavailable) as failed:
        await run_sync(store, fake_vapi, environ, clinic.id, waits=waits)
    assert failed.value.transient and failed.value.status == 503
    assert waits.seconds == [2.0, 4.0, 8.0, 16.0] and len(fake_vapi.requests) == 5
    [(status, writes, error)] = runs(db, clinic.id)
    assert (status, writes) == ("failed", 0) and "GET /tool: HTTP 503" in error and "fake error 503" in error


async def test_a_bad_key_fails_at_once_with_vapis_answer_recorded_and_the_key_nowhere(
        store, db, fake_vapi, environ, make_clinic):
    clinic = await make_clinic()
    with pytest.raises(VapiRejected) as failed:
        await run_sync(store, fake_vapi, environ, clinic.id, VAPI_API_KEY="not-the-key")
    assert failed.value.status == 401 and len(fake_vapi.requests) == 1
    [(status, _, error)] = runs(db, clinic.id)
    assert status == "failed" and "HTTP 401" in error and "Invalid Key" in error and "not-the-key" not in error


async def test_the_assistant_keeps_every_model_field_the_sync_does_not_own(
        store, db, fake_vapi, environ, make_clinic):
    handmade = fake_vapi.add_tool("transfer_to_front_desk")
    model = {"provider": "anthropic", "model": "claude-sonnet-4", "temperature": 0.3, "maxTokens": 300,
             "messages": [{"role": "system", "content": "old prompt"},
                          {"role": "assistant", "content": "Thanks for calling!"}],
             "toolIds": [handmade, "gone-tool-id"]}
    clinic = await make_clinic(model=model)
    await run_sync(store, fake_vapi, environ, clinic.id)
    assistant = fake_vapi.assistants[clinic.assistant_id]
    after = assistant["model"]
    assert {k: after[k] for k in ("provider", "model", "temperature", "maxTokens")} == {
        "provider": "anthropic", "model": "claude-sonnet-4", "temperature": 0.3, "maxTokens": 300}
    assert after["messages"] == [{"role": "system", "content": system_prompt(await store.tenant_schedule(clinic.id))},
                                 {"role": "assistant", "content": "Thanks for calling!"}]
    # the clinic's tools, then the hand-attached one; an id that no longer exists would fail calls
    assert after["toolIds"] == [mapped(db, clinic.id)[t] for t in TOOLS] + [handmade]
    assert assistant["firstMessage"] == "Hello!" and assistant["name"] == "Receptionist"
    [(_, _, body)] = [r for r in fake_vapi.writes() if r[1].startswith("/assistant/")]
    assert set(body) == {"model"}


async def test_syncing_one_clinic_never_touches_another_clinics_tools(store, db, fake_vapi, environ, make_clinic):
    a, b = await make_clinic(), await make_clinic()
    await run_sync(store, fake_vapi, environ, a.id)
    await run_sync(store, fake_vapi, environ, b.id)
    b_ids, b_tools = mapped(db, b.id), {i: dict(fake_vapi.tools[i]) for i in mapped(db, b.id).values()}
    assert not set(b_ids.values()) & set(mapped(db, a.id).values())
    before = len(fake_vapi.requests)

    await reapply(store, environ, a, tools=["check_availability"])
    await run_sync(store, fake_vapi, environ, a.id)

    later = fake_vapi.requests[before:]
    assert not any(i in path for _, path, _ in later for i in b_ids.values())
    assert not any(path == f"/assistant/{b.assistant_id}" for _, path, _ in later)
    assert {i: fake_vapi.tools[i] for i in b_ids.values()} == b_tools
    assert fake_vapi.assistants[a.assistant_id]["model"]["toolIds"] == [mapped(db, a.id)["check_availability"]]


async def test_a_dry_run_reads_vapi_and_writes_nothing_anywhere(store, db, fake_vapi, environ, make_clinic):
    clinic = await make_clinic()
    report = await run_sync(store, fake_vapi, environ, clinic.id, dry_run=True)
    assert report.plan.lines() == [f"create tool {t}" for t in TOOLS] + [
        f"patch assistant {clinic.assistant_id}: system prompt, toolIds"]
    assert fake_vapi.writes() == [] and fake_vapi.tools == {}
    assert mapped(db, clinic.id) == {} and runs(db, clinic.id) == []

    await run_sync(store, fake_vapi, environ, clinic.id)
    await reapply(store, environ, clinic, tools=["check_availability"])
    report = await run_sync(store, fake_vapi, environ, clinic.id, dry_run=True)
    assert report.plan.lines() == [f"delete tool {t} ({mapped(db, clinic.id)[t]})" for t in TOOLS[1:]] + [
        f"patch assistant {clinic.assistant_id}: system prompt, toolIds"]
    assert len(runs(db, clinic.id)) == 1 and len(mapped(db, clinic.id)) == len(TOOLS)


async def test_a_secret_written_in_the_tenant_file_cannot_be_synced_unless_a_credential_authenticates(
        store, db, fake_vapi, environ, make_clinic):
    inline = clinic_config()
    tenant_id, _ = await store.apply_tenant(parse_tenant(inline, "test", {}))
    with pytest.raises(SyncRefused, match="written in its file"):
        await run_sync(store, fake_vapi, environ, tenant_id)
    assert runs(db, tenant_id)[0][0] == "failed" and fake_vapi.requests == []

    inline["vapi"] = {"credential_id": "cred-123"}
    await store.apply_tenant(parse_tenant(inline, "test", {}))
    fake_vapi.add_assistant(inline["tenant"]["assistant_ids"][0])
    await run_sync(store, fake_vapi, environ, tenant_id)
    posts = [body for method, _, body in fake_vapi.writes() if method == "POST"]
    assert posts and all(p["server"]["credentialId"] == "cred-123" and "headers" not in p["server"]
                         for p in posts)


async def test_a_clinics_own_key_and_a_missing_key_or_public_url(store, db, fake_vapi, environ, make_clinic):
    clinic = await make_clinic(api_key_env="CLINIC_VAPI_KEY")
    with pytest.raises(SyncRefused, match="set CLINIC_VAPI_KEY"):
        await run_sync(store, fake_vapi, environ, clinic.id)
    environ["CLINIC_VAPI_KEY"] = "clinic-own-key"
    fake_vapi.keys = {"clinic-own-key"}  # VAPI_API_KEY would now be refused
    await run_sync(store, fake_vapi, environ, clinic.id)
    with pytest.raises(SyncRefused, match="PUBLIC_URL"):
        await run_sync(store, fake_vapi, environ, clinic.id, PUBLIC_URL="http://localhost:8080")


# ---- the job, on a real Dramatiq worker on real Redis ---------------------------------------------------


class SyncWorker:
    """`frontdesk worker`'s broker, its per-process resources pointed at the fake Vapi, in threads of this
    process (the fake answers from the test's event loop while the test awaits)."""

    def __init__(self, redis_url: str, namespace: str, database_url: str, fake: FakeVapi,
                 environ: dict[str, str], **settings: str) -> None:
        import dramatiq

        import workers.main
        from frontdesk.settings import sqlalchemy_url
        from store import SqlStore, make_engine
        from tests.conftest import TEST_SECRET_KEY
        from tests.integration.test_pipeline import Deliveries
        from workers.runtime import Resources

        config = Settings.from_env({"REDIS_URL": redis_url, "QUEUE_NAMESPACE": namespace,
                                    "VAPI_BASE_URL": fake.base_url, "VAPI_API_KEY": KEY, "PUBLIC_URL": PUBLIC_URL,
                                    **environ, **settings})
        self.broker = workers.main.build(config, lambda: Resources(
            SqlStore(make_engine(sqlalchemy_url(database_url), 5, 0), TEST_SECRET_KEY), sms=None,  # type: ignore[arg-type]
            vapi=bootstrap.build_vapi_client(config, sleep=Waits()),
            vapi_settings=bootstrap.vapi_sync_settings(config)))
        self.deliveries = Deliveries()
        self.broker.add_middleware(self.deliveries)
        self.worker = dramatiq.Worker(self.broker, worker_timeout=50, worker_threads=1)

    def __enter__(self) -> SyncWorker:
        self.worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        from workers.runtime import install

        self.worker.stop(timeout=10_000)
        self.broker.close()
        install(None)


async def test_the_job_syncs_a_clinic_on_a_real_worker(
        store, db, fake_vapi, environ, make_clinic, redis_url, queue_namespace, database_url):
    from domain.jobs import SYNC_TENANT_TOOLS
    from tests.integration.test_pipeline import eventually

    clinic = await make_clinic()
    with SyncWorker(redis_url, queue_namespace, database_url, fake_vapi, environ) as w:
        actor = w.broker.get_actor(SYNC_TENANT_TOOLS.actor)
        assert actor.queue_name == "vapi_sync"
        actor.send(clinic.id)
        await eventually(lambda: runs(db, clinic.id) and runs(db, clinic.id)[-1][0] != "running",
                         what="the sync run to finish")
    assert runs(db, clinic.id) == [("ok", len(TOOLS) + 1, None)]
    assert set(mapped(db, clinic.id)) == set(TOOLS)


async def test_a_job_refused_by_vapi_fails_once_with_the_body_recorded_and_is_not_retried(
        store, db, fake_vapi, environ, make_clinic, redis_url, queue_namespace, database_url):
    from domain.jobs import SYNC_TENANT_TOOLS
    from tests.integration.test_pipeline import eventually

    clinic = await make_clinic()
    with SyncWorker(redis_url, queue_namespace, database_url, fake_vapi, environ,
                    VAPI_API_KEY="revoked-key") as w:
        w.broker.get_actor(SYNC_TENANT_TOOLS.actor).send(clinic.id)
        await eventually(lambda: runs(db, clinic.id) and runs(db, clinic.id)[-1][0] != "running",
                         what="the sync run to finish")
        retried = [e for e in w.deliveries.enqueued if e[0] == SYNC_TENANT_TOOLS.actor]
    [(status, writes, error)] = runs(db, clinic.id)
    assert (status, writes) == ("failed", 0) and "HTTP 401" in error and "Invalid Key" in error
    assert len(retried) == 1  # the first send only: a refusal is not retried
