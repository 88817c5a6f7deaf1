"""The slot store and tenant files against real PostgreSQL, migrations applied."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from domain.jobs import EXPIRE_HOLD
from domain.model import Booking
from domain.tenant_config import TenantConfigError, parse_tenant
from frontdesk.cli import DEMO_ENVIRONMENT
from frontdesk.settings import Settings, sqlalchemy_url
from store import SqlStore, make_engine
from tests.conftest import DEFAULT_NOW, TEST_SECRET_KEY, clinic_config, tool_calls_body

ROOT = Path(__file__).resolve().parents[2]


#: contenders in the race below, each on its own PostgreSQL connection and transaction; PostgreSQL's default
#: max_connections is 100 (the embedded server of a bare machine keeps it), and the other fixtures need a few
RACERS = 80


async def _hold(uow, rid: int, sid: int, start: datetime, call_id: str, now: datetime = DEFAULT_NOW,
                tool_call_id: str | None = None) -> Booking | None:
    """Reserve's store side: 30 minutes from `start` (UTC, on the clinic's local day of the same date) for
    the call, its hold expiring 10 minutes after `now`."""
    attempt = await uow.hold_for_call(call_id, tool_call_id, [rid], sid, start.date(), start,
                                      start + timedelta(minutes=30), now + timedelta(minutes=10), now, EXPIRE_HOLD)
    assert not attempt.call_ended
    return attempt.hold


async def test_racing_eighty_transactions_for_one_slot_leaves_exactly_one_hold(make_tenant, db, database_url):
    """Straight at the store, no HTTP: eighty transactions, all open at once on their own connections,
    try to hold the very same time; the speculative insertion into the exclusion constraint gives one winner
    and no error (no deadlock surfaces, no 'nobody won')."""
    tenant = await make_tenant()
    rid, sid = db.execute("SELECT r.id, s.id FROM resources r JOIN services s USING (tenant_id) "
                          "WHERE r.tenant_id = %s LIMIT 1", (tenant.id,)).fetchone()
    start = datetime(2026, 3, 4, 15, 0, tzinfo=timezone.utc)
    # a pool of its own, as large as the race: the shared store fixture's pool (60) would queue some
    engine = make_engine(sqlalchemy_url(database_url), pool_size=RACERS, max_overflow=0)
    racing = SqlStore(engine, TEST_SECRET_KEY)  # units of work get up to RACERS connections, like the engine
    all_in = asyncio.Barrier(RACERS)
    checked_out: list[int] = []

    async def contender(i: int):
        uow = racing.uow(tenant.auth)
        async with uow:  # a connection of its own, transaction begun
            await uow.stored_result(f"warm-up-{i}")  # the transaction really started on the server
            await asyncio.wait_for(all_in.wait(), timeout=60)  # nobody tries before all of them are open
            stats = racing.pool.get_stats()
            checked_out.append(stats["pool_size"] - stats["pool_available"])
            hold = await _hold(uow, rid, sid, start, f"c{i}")
            await uow.commit()
            return hold

    try:
        results = await asyncio.gather(*[contender(i) for i in range(RACERS)])
    finally:
        await racing.close()
    assert max(checked_out) == RACERS  # all the transactions were open at the same moment
    winners = [r for r in results if r is not None]
    assert len(winners) == 1 and len(results) == RACERS
    assert (winners[0].starts_at, winners[0].status) == (start, "held")
    assert db.execute("SELECT count(*) FROM bookings WHERE tenant_id = %s", (tenant.id,)).fetchone()[0] == 1
    assert db.execute("SELECT id, status, starts_at FROM bookings WHERE tenant_id = %s",
                      (tenant.id,)).fetchone() == (winners[0].id, "held", start)


async def _until_a_transaction_waits_for_another(db, timeout: float = 30) -> None:
    """Until a backend of this test's database waits for another's transaction to end (a lock wait)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not db.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                         "AND wait_event_type = 'Lock' AND wait_event = 'transactionid'").fetchone()[0]:
        assert asyncio.get_running_loop().time() < deadline, "no transaction ever waited"
        await asyncio.sleep(0.01)


async def test_a_contender_that_rolls_back_leaves_the_time_to_the_next_not_taken(make_tenant, store, db):
    """A hold waits for an in-progress transaction holding overlapping time and is told "taken" only if that
    one commits: when it rolls back, the waiting hold gets the time."""
    tenant = await make_tenant()
    rid, sid = db.execute("SELECT r.id, s.id FROM resources r JOIN services s USING (tenant_id) "
                          "WHERE r.tenant_id = %s LIMIT 1", (tenant.id,)).fetchone()
    start = datetime(2026, 3, 4, 15, 0, tzinfo=timezone.utc)
    async with store.uow(tenant.auth) as second:
        async with store.uow(tenant.auth) as first:
            assert await _hold(first, rid, sid, start, "first") is not None
            waiting = asyncio.create_task(_hold(second, rid, sid, start + timedelta(minutes=15), "second"))
            await _until_a_transaction_waits_for_another(db)
            assert not waiting.done()
        # `first` ended without commit: rolled back
        won = await asyncio.wait_for(waiting, timeout=30)
        await second.commit()
    assert won is not None and (won.call_id, won.starts_at) == ("second", start + timedelta(minutes=15))
    assert db.execute("SELECT call_id FROM bookings WHERE tenant_id = %s", (tenant.id,)).fetchall() == [("second",)]


async def test_a_hold_audits_itself_and_the_expired_holds_it_retires_as_the_domain_words_them(make_tenant, store, db):
    """hold_time() writes the audit rows in SQL; they must read exactly like Booking.snapshot() in Python."""
    tenant = await make_tenant()
    rid, sid = db.execute("SELECT r.id, s.id FROM resources r JOIN services s USING (tenant_id) "
                          "WHERE r.tenant_id = %s LIMIT 1", (tenant.id,)).fetchone()
    start = datetime(2026, 3, 4, 15, 0, tzinfo=timezone.utc)
    now = datetime(2026, 3, 2, 12, 0, 0, 120000, tzinfo=timezone.utc)  # microseconds with a trailing zero
    async with store.uow(tenant.auth) as uow:
        old = await _hold(uow, rid, sid, start, "call-old", now, "tc-old")
        assert old is not None
        await uow.set_hold_customer(old.id, "Ana", "+15555550123")
        await uow.commit()
    later = now + timedelta(minutes=20)  # the old hold has expired but is still marked held
    async with store.uow(tenant.auth) as uow:
        new = await _hold(uow, rid, sid, start + timedelta(minutes=15), "call-new", later, "tc-new")
        assert new is not None
        assert [(e.queue, e.actor, e.args, e.eta) for e in uow.outbox] == [
            ("holds", "expire_hold", [tenant.id, new.id], later + timedelta(minutes=10))]
        await uow.commit()
    async with store.uow(tenant.auth) as uow:  # the same call holds another time: it replaces its hold
        newer = await _hold(uow, rid, sid, start + timedelta(hours=2), "call-new", later, "tc-newer")
        assert newer is not None
        await uow.commit()
    rows = db.execute("SELECT booking_id, action, call_id, tool_call_id, phone_masked, before, after "
                      "FROM booking_audit WHERE tenant_id = %s ORDER BY id", (tenant.id,)).fetchall()
    old_with_phone = replace(old, phone="+15555550123")
    assert rows == [
        (old.id, "held", "call-old", "tc-old", None, None, old.snapshot()),
        (old.id, "expired", "call-old", None, "***0123", old_with_phone.snapshot(),
         replace(old_with_phone, status="expired").snapshot()),
        (new.id, "held", "call-new", "tc-new", None, None, new.snapshot()),
        (new.id, "replaced", "call-new", "tc-newer", None, new.snapshot(), replace(new, status="released").snapshot()),
        (newer.id, "held", "call-new", "tc-newer", None, None, newer.snapshot()),
    ]
    assert old.snapshot()["hold_expires_at"] == "2026-03-02T12:10:00.120000+00:00"
    assert db.execute("SELECT status FROM bookings WHERE id = %s", (old.id,)).fetchone() == ("expired",)
    assert db.execute("SELECT args FROM outbox WHERE tenant_id = %s", (tenant.id,)).fetchall() == [
        ([tenant.id, old.id],), ([tenant.id, new.id],), ([tenant.id, newer.id],)]


async def test_times_come_back_in_utc_even_where_sessions_default_to_another_zone(make_tenant, database_url, db):
    """Python adds a timedelta to an aware datetime (and compares two sharing one ZoneInfo) by wall clock, so a
    start read back in America/New_York and moved across the spring-forward change would be an hour off. The
    engine's sessions run in UTC whatever the connection asks for; other options in the URL are kept."""
    url = make_url(sqlalchemy_url(database_url)).update_query_dict(
        {"options": "-c application_name=fd-utc-test -c TimeZone=America/New_York"})
    ny_default = SqlStore(make_engine(url.render_as_string(hide_password=False), pool_size=2), TEST_SECRET_KEY)
    try:
        async with ny_default.engine.connect() as conn:
            assert (await conn.execute(text("SHOW TimeZone"))).scalar_one() == "UTC"
            assert (await conn.execute(text("SHOW application_name"))).scalar_one() == "fd-utc-test"
        await ny_default.open()
        async with ny_default.pool.connection() as pooled:  # the units of work's sessions too
            assert (await (await pooled.execute("SHOW TimeZone")).fetchone()).TimeZone == "UTC"
            assert (await (await pooled.execute("SHOW application_name")).fetchone()).application_name == "fd-utc-test"
        tenant = await make_tenant()
        rid, sid = db.execute("SELECT r.id, s.id FROM resources r JOIN services s USING (tenant_id) "
                              "WHERE r.tenant_id = %s LIMIT 1", (tenant.id,)).fetchone()
        start = datetime(2026, 3, 7, 15, 0, tzinfo=timezone.utc)  # 10:00 EST, the day before the change
        async with ny_default.uow(tenant.auth) as uow:
            await _hold(uow, rid, sid, start, "call-utc")
            await uow.commit()
        async with ny_default.uow(tenant.auth, read_only=True) as uow:
            hold = await uow.hold_of_call("call-utc")
    finally:
        await ny_default.close()
    assert hold is not None and hold.starts_at == start
    assert hold.starts_at.utcoffset() == hold.ends_at.utcoffset() == hold.hold_expires_at.utcoffset() == timedelta(0)
    assert hold.starts_at + timedelta(days=1) == datetime(2026, 3, 8, 15, 0, tzinfo=timezone.utc)


async def test_applying_the_same_tenant_file_twice_changes_nothing(store, db):
    spec = parse_tenant(clinic_config(), "t", {})
    tid, first = await store.apply_tenant(spec)
    version = db.execute("SELECT config_version FROM tenants WHERE id = %s", (tid,)).fetchone()[0]
    tid2, second = await store.apply_tenant(spec)
    assert (first, second, tid2) == ("created", "unchanged", tid)
    assert db.execute("SELECT config_version FROM tenants WHERE id = %s", (tid,)).fetchone()[0] == version


async def test_an_updated_tenant_file_is_applied_and_seen_by_a_running_store(make_tenant, caller_for, store, db):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    before = await vapi.tool("check_availability", {"date": "2026-03-04"})
    assert before["openings"][0]["start"].startswith("2026-03-04T09:00")
    data = clinic_config(slug=tenant.slug, webhook_secret=tenant.secret, resources=[{
        "name": "Dr Lee", "services": ["Cleaning"], "hours": {"wed": ["13:00-15:00"]}}])
    _, action = await store.apply_tenant(parse_tenant(data, "t", {}))
    assert action == "updated"
    after = await vapi.tool("check_availability", {"date": "2026-03-04"})
    assert after["openings"][0]["start"].startswith("2026-03-04T13:00")
    checkup = await vapi.tool("check_availability", {"service": "Checkup"})
    assert checkup["code"] == "no_availability"


async def test_a_secret_already_used_by_another_tenant_is_refused_and_nothing_is_applied(store, db):
    first = parse_tenant(clinic_config(), "t", {})
    await store.apply_tenant(first)
    clash = parse_tenant(clinic_config(webhook_secret=first.secret), "t", {})
    with pytest.raises(ValueError, match="webhook_secret"):
        await store.apply_tenant(clash)
    assert db.execute("SELECT count(*) FROM tenants WHERE slug = %s", (clash.slug,)).fetchone()[0] == 0


async def test_secrets_are_stored_only_as_keyed_hashes(make_tenant, db):
    tenant = await make_tenant()
    row = db.execute("SELECT * FROM tenants WHERE id = %s", (tenant.id,)).fetchone()
    assert tenant.secret not in repr(row)
    import hashlib
    import hmac
    assert hmac.new(TEST_SECRET_KEY.encode(), tenant.secret.encode(), hashlib.sha256).hexdigest() in row


async def test_webhook_secret_env_is_read_at_apply_and_refreshed_when_the_server_starts(
        store, db, database_url, aiohttp_client):
    from webhook import create_app

    env_name = f"CLINIC_SECRET_{secrets.token_hex(3).upper()}"
    data = clinic_config()
    del data["tenant"]["webhook_secret"]
    data["tenant"]["webhook_secret_env"] = env_name
    with pytest.raises(TenantConfigError, match=f"{env_name} is not set"):
        parse_tenant(data, "t", {})
    spec = parse_tenant(data, "t", {env_name: "first-secret-long-enough"})
    await store.apply_tenant(spec)
    assert await store.authenticate("first-secret-long-enough") is not None

    # a server started with the variable rotated builds its own store and re-hashes the secret on start-up
    settings = Settings.from_env({"DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET_KEY,
                                  env_name: "rotated-secret-long-enough"})
    server = await aiohttp_client(create_app(settings, clock=lambda: DEFAULT_NOW))
    body = tool_calls_body([("check_availability", {"date": "2026-03-04"}, "t1")])
    rotated = await server.post("/vapi/webhook", json=body, headers={"X-Vapi-Secret": "rotated-secret-long-enough"})
    assert rotated.status == 200, await rotated.text()
    old = await server.post("/vapi/webhook", json=body, headers={"X-Vapi-Secret": "first-secret-long-enough"})
    assert old.status == 401
    assert db.execute("SELECT secret_hash FROM tenants WHERE slug = %s", (spec.slug,)).fetchone()[0] == \
        store.secret_hash("rotated-secret-long-enough")


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "frontdesk.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, cwd=ROOT, timeout=60)


async def test_tenant_apply_cli_reports_every_bad_field_and_applies_nothing(database_url, db, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[tenant]\nslug = "cli-bad"\nname = "Bad"\ntimezone = "Mars/Olympus"\nwebhook_secret = "short"\n'
        'hold_minuts = 5\n[[services]]\nname = "Cleaning"\nminutes = 30\n'
        '[[resources]]\nname = "Dr X"\nservices = ["Cleaning", "Whitening"]\nhours = { mon = ["13:00-12:00"] }\n')
    env = {"DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET_KEY}
    out = _cli("tenant", "apply", str(bad), env=env)
    assert out.returncode == 2
    for field in ("tenant.timezone", "tenant.webhook_secret", "tenant.hold_minuts", "resources[0].services",
                  "resources[0].hours.mon[0]"):
        assert field in out.stderr
    assert "Traceback" not in out.stderr
    assert db.execute("SELECT count(*) FROM tenants WHERE slug = 'cli-bad'").fetchone()[0] == 0

    env.update(DEMO_ENVIRONMENT)  # the demo clinic's secret is in the variable `frontdesk dev` sets
    good = out = _cli("tenant", "apply", str(ROOT / "examples" / "demo-clinic.toml"), env=env)
    assert good.returncode == 0, good.stderr
    assert "bright-smile created" in good.stdout
    again = _cli("tenant", "apply", str(ROOT / "examples" / "demo-clinic.toml"), env=env)
    assert "bright-smile unchanged" in again.stdout



async def test_a_tenants_vapi_table_is_applied_and_an_assistant_or_number_belongs_to_one_tenant(store, db):
    first = clinic_config(assistant_ids=["asst_shared"])
    first["vapi"] = {"phone_numbers": ["+1 555 701 0100", "pn_1"], "tools": ["check_availability"],
                     "api_key_env": "FIRST_VAPI_KEY"}
    spec = parse_tenant(first, "first", {})
    tenant_id, _ = await store.apply_tenant(spec)
    auth = await store.authenticate(spec.secret)
    async with store.uow(auth) as uow:
        schedule = await uow.schedule()
    assert schedule.assistant_ids == ("asst_shared",)
    assert (schedule.vapi.phone_numbers, schedule.vapi.tools, schedule.vapi.api_key_env) == (
        ("+15557010100", "pn_1"), ("check_availability",), "FIRST_VAPI_KEY")

    stolen_assistant = clinic_config(assistant_ids=["asst_other", "asst_shared"])
    with pytest.raises(ValueError, match="asst_shared already belongs to tenant"):
        await store.apply_tenant(parse_tenant(stolen_assistant, "second", {}))
    stolen_number = clinic_config()
    stolen_number["vapi"] = {"phone_numbers": ["+15557010100"]}
    with pytest.raises(ValueError, match=r"\+15557010100 already belongs to tenant"):
        await store.apply_tenant(parse_tenant(stolen_number, "third", {}))
    # nothing of the refused files was applied
    assert db.execute("SELECT count(*) FROM tenants WHERE 'asst_other' = ANY(assistant_ids)").fetchone()[0] == 0
    assert db.execute("SELECT vapi_phone_numbers FROM tenants WHERE id = %s", (tenant_id,)).fetchone()[0] == [
        "+15557010100", "pn_1"]


async def test_the_tenant_a_vapi_request_names_is_found_by_assistant_or_by_number(store, db):
    tag = secrets.token_hex(4)
    a_number, a_id, b_id = f"+1555{int(tag, 16) % 10**7:07d}", f"pn_a_{tag}", f"pn_b_{tag}"
    a = clinic_config(assistant_ids=[f"asst_a1_{tag}", f"asst_a2_{tag}"])
    a["vapi"] = {"phone_numbers": [a_number, a_id], "hmac_secret_env": "A_HMAC_KEY", "hmac_algorithm": "sha512"}
    b = clinic_config(assistant_ids=[f"asst_b_{tag}"])
    b["vapi"] = {"phone_numbers": [b_id]}
    a_spec = parse_tenant(a, "a", {"A_HMAC_KEY": "k"})
    a_tenant, _ = await store.apply_tenant(a_spec)
    b_tenant, _ = await store.apply_tenant(parse_tenant(b, "b", {}))

    found = await store.tenant_for_assistant(f"asst_a2_{tag}")
    assert found is not None and found.auth == await store.authenticate(a_spec.secret)
    assert (found.vapi.hmac_secret_env, found.vapi.hmac_algorithm) == ("A_HMAC_KEY", "sha512")
    for numbers in ((a_number,), (a_id,), (a_number, a_id, a_id)):
        assert (await store.tenant_for_number(numbers)).auth.id == a_tenant
    assert (await store.tenant_for_number((b_id,))).auth.id == b_tenant
    assert await store.tenant_for_assistant("asst_nobody") is None
    assert await store.tenant_for_number(("+15550000000",)) is None
    assert await store.tenant_for_number(()) is None
    # one clinic's number and another's id: which clinic is it? neither
    assert await store.tenant_for_number((a_number, b_id)) is None

    # a re-applied file takes effect at once in this process (the cache is cleared), not after 5 s
    a["vapi"]["phone_numbers"] = [a_id]
    await store.apply_tenant(parse_tenant(a, "a", {"A_HMAC_KEY": "k"}))
    assert await store.tenant_for_number((a_number,)) is None

    # both lookups are served by the GIN indexes (`= ANY(...)` would scan every tenant)
    db.execute("SET enable_seqscan = off")
    for sql, index, value in ((SqlStore._SQL_BY_NUMBER, "tenants_vapi_phone_numbers", a_id),
                              (SqlStore._SQL_BY_ASSISTANT, "tenants_assistant_ids", f"asst_b_{tag}")):
        plan = db.execute("EXPLAIN " + sql.text.replace(":n", "%s").replace(":a", "%s"), ([value],)).fetchall()
        assert index in " ".join(row[0] for row in plan), plan
    db.execute("RESET enable_seqscan")


async def test_the_busy_query_reads_only_the_rows_of_the_resources_asked_about(make_tenant, store, db):
    """Neither another clinic's holds in the same week nor this clinic's past appointments are read: only
    the asked resources' rows in the window (before, the query read 11,700 rows to keep 2)."""
    import json as jsonlib

    from sqlalchemy import bindparam
    from sqlalchemy.dialects.postgresql import ARRAY, BIGINT

    from store.bookings import BookingsUowMixin

    mine = await make_tenant()
    other = await make_tenant(resources=[{"name": f"Dr {i}", "services": ["Cleaning"],
                                          "hours": {"mon": ["09:00-17:00"]}} for i in range(30)],
                              services=[{"name": "Cleaning", "minutes": 30}])
    week = (datetime(2026, 3, 2, 13, 0, tzinfo=timezone.utc), datetime(2026, 3, 9, 13, 0, tzinfo=timezone.utc))
    db.execute("""INSERT INTO bookings (tenant_id, resource_id, service_id, status, starts_at, ends_at, call_id,
                                        hold_expires_at)
                  SELECT r.tenant_id, r.id, s.id, 'held', %s + g * interval '30 min', %s + g * interval '30 min'
                         + interval '30 min', 'h' || r.id || '-' || g, %s
                  FROM resources r JOIN services s ON s.tenant_id = r.tenant_id CROSS JOIN generate_series(0, 99) g
                  WHERE r.tenant_id = %s""", (week[0], week[0], week[1], other.id))
    rid = db.execute("SELECT id FROM resources WHERE tenant_id = %s LIMIT 1", (mine.id,)).fetchone()[0]
    db.execute("""INSERT INTO bookings (tenant_id, resource_id, service_id, status, starts_at, ends_at, call_id)
                  SELECT %s, %s, (SELECT min(id) FROM services WHERE tenant_id = %s), 'booked',
                         %s - g * interval '31 min', %s - g * interval '31 min' + interval '30 min', 'p' || g
                  FROM generate_series(1, 3000) g""", (mine.id, rid, mine.id, week[0], week[0]))
    db.execute("ANALYZE bookings")
    explain = text("EXPLAIN (ANALYZE, FORMAT JSON) " + BookingsUowMixin._SQL_BUSY.text).bindparams(
        bindparam("rids", type_=ARRAY(BIGINT)))
    async with store.engine.connect() as conn:
        plan = (await conn.execute(explain, {"t": mine.id, "rids": [rid], "a": week[0], "b": week[1],
                                             "now": week[0]})).scalar_one()
    plan = plan if isinstance(plan, list) else jsonlib.loads(plan)

    def nodes(node):
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)

    every = list(nodes(plan[0]["Plan"]))
    read = sum(n.get("Actual Rows", 0) + n.get("Rows Removed by Filter", 0) + n.get("Rows Removed by Index Recheck", 0)
               for n in every if n["Node Type"] in ("Bitmap Heap Scan", "Index Scan", "Seq Scan"))
    # 3,000 of the other clinic's holds lie in this week, and 3,000 of this resource's appointments before it
    assert read < 50, every
