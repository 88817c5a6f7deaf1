"""The admin JSON API through HTTP (create_app, real PostgreSQL and Redis): Bearer ADMIN_TOKEN only, every
endpoint over data made by real tool calls, filters and their 400s, tenant isolation, cancel and reschedule
on a caller's behalf exactly as the tools do them, the job-queue counts, and the OpenAPI document."""

from __future__ import annotations

import json

import pytest
import redis

from adapters.job_queues import JobQueues, redact
from domain.jobs import QUEUES, SEND_SMS
from frontdesk.settings import Settings
from tests.conftest import TEST_SECRET_KEY, Caller

TOKEN = "admin-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PHONE = "+15555550123"


@pytest.fixture
async def admin(aiohttp_client, store, clock, redis_url, queue_namespace):
    from webhook import create_app

    settings = Settings.from_env({"SECRET_KEY": TEST_SECRET_KEY, "DATABASE_URL": "unused", "ADMIN_TOKEN": TOKEN,
                                  "REDIS_URL": redis_url, "QUEUE_NAMESPACE": queue_namespace})
    client = await aiohttp_client(create_app(settings, store=store, clock=clock))
    yield client
    r = redis.Redis.from_url(redis_url)
    keys = list(r.scan_iter(f"{queue_namespace}:*"))
    if keys:
        r.delete(*keys)
    r.close()


async def get(client, path: str, expect: int = 200, **params):
    resp = await client.get(path, params=params, headers=AUTH)
    body = await resp.json()
    assert resp.status == expect, body
    return body


async def book(vapi: Caller, start: str, call_id: str, name: str = "Dana Whitfield", caller: str = PHONE) -> int:
    await vapi.tool("reserve_slot", {"start": start}, call_id=call_id, caller=caller)
    booked = await vapi.tool("book_appointment", {"name": name}, call_id=call_id, caller=caller)
    assert booked["ok"], booked
    return int(booked["appointment_id"])


async def test_every_admin_api_route_is_absent_while_admin_token_is_unset(client):
    for path in ("/admin/api/tenants", "/admin/api/openapi.json", "/admin/api/jobs"):
        assert (await client.get(path, headers=AUTH)).status == 404
    assert (await client.post("/admin/api/appointments/1/cancel", headers=AUTH)).status == 404


async def test_without_or_with_a_wrong_token_or_only_a_cookie_the_api_answers_401(admin):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                    {"Cookie": f"admin_token={TOKEN}; session={TOKEN}"}):
        resp = await admin.get("/admin/api/tenants", headers=headers)
        assert resp.status == 401 and await resp.json() == {"error": "unauthorized"}
    resp = await admin.post("/admin/api/appointments/1/cancel", headers={"Cookie": f"session={TOKEN}"})
    assert resp.status == 401
    assert (await admin.get("/admin/api/tenants", headers=AUTH)).status == 200


async def test_the_reads_return_what_calls_made_and_one_clinic_never_sees_another(admin, make_tenant, db):
    a, b = await make_tenant(), await make_tenant()
    va, vb = Caller(admin, a), Caller(admin, b)
    first = await book(va, "2026-03-04T10:00", "call-a1")
    second = await book(va, "2026-03-05T11:00", "call-a2", name="Sam Ortiz", caller="+15555550999")
    other = await book(vb, "2026-03-04T10:00", "call-b1")
    cancelled = await va.tool("cancel_appointment", {"appointment_id": second}, call_id="call-a3",
                              caller="+15555550999")
    assert cancelled["cancelled"]
    await va.tool("reserve_slot", {"start": "2026-03-06T09:00"}, call_id="call-a4")  # a live hold

    slugs = [t["slug"] for t in (await get(admin, "/admin/api/tenants"))["tenants"]]
    assert a.slug in slugs and b.slug in slugs
    res = await get(admin, "/admin/api/resources", tenant=a.slug)
    assert res["resources"] == [{"id": res["resources"][0]["id"], "name": "Dr Lee", "active": True,
                                 "services": ["Cleaning", "Checkup"]}]

    appts = (await get(admin, "/admin/api/appointments", tenant=a.slug))["appointments"]
    assert [(x["id"], x["status"]) for x in appts] == [(first, "booked"), (second, "cancelled")]
    assert appts[0]["start"] == "2026-03-04T10:00:00-05:00" and appts[0]["phone"] == "***0123"
    assert appts[0]["customer_name"] == "Dana Whitfield" and appts[0]["tenant"] == a.slug
    assert other not in [x["id"] for x in appts]
    full = (await get(admin, "/admin/api/appointments", tenant=a.slug, full_phone="true"))["appointments"]
    assert full[0]["phone"] == PHONE
    on_day = (await get(admin, "/admin/api/appointments", tenant=a.slug, date="2026-03-05"))["appointments"]
    assert [x["id"] for x in on_day] == [second]
    by_phone = (await get(admin, "/admin/api/appointments", tenant=a.slug, phone=PHONE))["appointments"]
    assert [x["id"] for x in by_phone] == [first]
    assert (await get(admin, "/admin/api/appointments", tenant=b.slug))["appointments"][0]["id"] == other
    everywhere = (await get(admin, "/admin/api/appointments", date="2026-03-04"))["appointments"]
    assert {first, other} <= {x["id"] for x in everywhere}

    holds = (await get(admin, "/admin/api/holds", tenant=a.slug))["holds"]
    assert [h["call_id"] for h in holds] == ["call-a4"]
    assert (await get(admin, "/admin/api/holds", tenant=b.slug))["holds"] == []

    msgs = await get(admin, "/admin/api/messages", tenant=a.slug)
    assert len(msgs["messages"]) == 3  # two bookings and a cancellation
    assert all(m["tenant"] == a.slug and m["to"].startswith("***") for m in msgs["messages"])
    assert msgs["messages"][0]["kind"] == "confirmation" and msgs["messages"][0]["status"] == "pending"
    assert msgs["outbox"]["unpublished"] >= 0 and "queues" in msgs["outbox"]
    assert len((await get(admin, "/admin/api/messages", tenant=b.slug))["messages"]) == 1

    trail = await get(admin, "/admin/api/audit", call_id="call-a1")
    assert [(t["name"], t["outcome"]) for t in trail["tool_calls"]] == [("reserve_slot", "ok"),
                                                                        ("book_appointment", "ok")]
    assert [(c["action"], c["appointment_id"], c["by_operator"]) for c in trail["changes"]] == [
        ("held", first, False), ("booked", first, False)]
    assert len(trail["texts"]) == 1 and trail["texts"][0]["to"] == "***0123"
    by_appt = await get(admin, "/admin/api/audit", appointment=second)
    assert [c["action"] for c in by_appt["changes"]] == ["held", "booked", "cancelled"]
    assert {t["call_id"] for t in by_appt["tool_calls"]} == {"call-a2", "call-a3"}
    assert len(by_appt["texts"]) == 2
    assert (await get(admin, "/admin/api/audit", appointment=second, tenant=b.slug))["changes"] == []


async def test_pages_follow_next_cursor_or_offset_to_the_end(admin, make_tenant):
    t = await make_tenant()
    vapi = Caller(admin, t)
    ids = [await book(vapi, f"2026-03-04T{h}:00", f"call-{h}") for h in ("09", "10", "11")]
    page = await get(admin, "/admin/api/appointments", tenant=t.slug, limit="2")
    assert [x["id"] for x in page["appointments"]] == ids[:2] and page["next_cursor"]
    rest = await get(admin, "/admin/api/appointments", tenant=t.slug, limit="2", cursor=page["next_cursor"])
    assert [x["id"] for x in rest["appointments"]] == ids[2:] and rest["next_cursor"] is None
    by_offset = await get(admin, "/admin/api/appointments", tenant=t.slug, limit="2", offset="2")
    assert [x["id"] for x in by_offset["appointments"]] == ids[2:]
    texts = await get(admin, "/admin/api/messages", tenant=t.slug, limit="2")
    more = await get(admin, "/admin/api/messages", tenant=t.slug, limit="2", cursor=texts["next_cursor"])
    assert len(texts["messages"]) == 2 and len(more["messages"]) == 1 and more["next_cursor"] is None


@pytest.mark.parametrize("path,params,named", [
    ("/admin/api/appointments", {"tenant": "no-such-clinic"}, "tenant"),
    ("/admin/api/appointments", {"date": "2026-02-30"}, "date"),
    ("/admin/api/appointments", {"date": "tomorrow"}, "date"),
    ("/admin/api/appointments", {"phone": "5555550123"}, "phone"),
    ("/admin/api/appointments", {"limit": "0"}, "limit"),
    ("/admin/api/appointments", {"limit": "501"}, "limit"),
    ("/admin/api/appointments", {"limit": "ten"}, "limit"),
    ("/admin/api/appointments", {"colour": "blue"}, "colour"),
    ("/admin/api/appointments", {"cursor": "garbage!"}, "cursor"),
    ("/admin/api/appointments", {"cursor": "x", "offset": "1"}, "offset"),
    ("/admin/api/resources", {}, "tenant"),
    ("/admin/api/holds", {"tenant": "Not A Slug"}, "tenant"),
    ("/admin/api/messages", {"status": "lost"}, "status"),
    ("/admin/api/audit", {}, "call_id"),
    ("/admin/api/jobs/messages", {"queue": "nope", "state": "dead"}, "queue"),
    ("/admin/api/jobs/messages", {"queue": "otp", "state": "gone"}, "state"),
])
async def test_a_bad_filter_answers_400_naming_it(admin, path, params, named):
    body = await get(admin, path, 400, **params)
    assert set(body) == {"error"} and named in body["error"]


async def test_cancel_through_the_api_is_the_tools_cancel_with_one_text_and_an_operator_audit_row(admin,
                                                                                                   make_tenant, db):
    t = await make_tenant()
    appt = await book(Caller(admin, t), "2026-03-04T10:00", "call-1")
    resp = await admin.post(f"/admin/api/appointments/{appt}/cancel", json={"reason": "clinic closed"},
                            headers={**AUTH, "Idempotency-Key": "k1"})
    data = await resp.json()
    assert resp.status == 200 and data["ok"] and data["cancelled"] and data["appointment_id"] == str(appt)
    assert "cancelled" in data["say"]
    again = await admin.post(f"/admin/api/appointments/{appt}/cancel", headers={**AUTH, "Idempotency-Key": "k1"})
    assert await again.json() == data  # replayed from the stored answer
    twice = await (await admin.post(f"/admin/api/appointments/{appt}/cancel", headers=AUTH)).json()
    assert twice["already_cancelled"]  # as the tool answers a second cancel

    rows = db.execute("SELECT action, call_id, tool_call_id FROM booking_audit WHERE booking_id = %s ORDER BY id",
                      (appt,)).fetchall()
    assert [r[0] for r in rows] == ["held", "booked", "cancelled"]
    assert rows[2][1].startswith("admin:") and rows[2][2] == f"{rows[2][1]}:k1"
    texts = db.execute("SELECT to_phone, body FROM sms_messages WHERE tenant_id = %s ORDER BY id", (t.id,)).fetchall()
    assert len(texts) == 2 and texts[1][0] == PHONE and "cancel" in texts[1][1].lower()
    assert db.execute("SELECT count(*) FROM outbox WHERE tenant_id = %s AND actor = %s",
                      (t.id, SEND_SMS.actor)).fetchone()[0] == 2
    trail = await get(admin, "/admin/api/audit", call_id=rows[2][1])
    assert [(c["action"], c["by_operator"]) for c in trail["changes"]] == [("cancelled", True)]
    assert [(x["name"], x["outcome"]) for x in trail["tool_calls"]] == [("cancel_appointment", "ok")] * 2


async def test_reschedule_through_the_api_follows_the_tools_rules_and_refusals(admin, make_tenant, db, clock):
    t = await make_tenant(require_otp=True)  # the operator's token stands in for the caller's code
    vapi = Caller(admin, t)
    for call in ("call-1", "call-2"):  # these callers proved their numbers by code (set up directly)
        db.execute("INSERT INTO call_states (tenant_id, call_id, verified_phone, verified_at) "
                   "VALUES (%s, %s, %s, now())", (t.id, call, PHONE if call == "call-1" else "+15555550999"))
    appt = await book(vapi, "2026-03-04T10:00", "call-1")
    await book(vapi, "2026-03-04T11:00", "call-2", name="Sam Ortiz", caller="+15555550999")

    def counts() -> tuple[int, int]:
        return (db.execute("SELECT count(*) FROM sms_messages WHERE tenant_id = %s", (t.id,)).fetchone()[0],
                db.execute("SELECT count(*) FROM booking_audit WHERE booking_id = %s", (appt,)).fetchone()[0])

    before = counts()
    taken = await admin.post(f"/admin/api/appointments/{appt}/reschedule", json={"start": "2026-03-04T11:00"},
                             headers=AUTH)
    body = await taken.json()
    assert taken.status == 409 and body["error"] == "slot_taken" and not body["ok"] and body["say"]
    assert counts() == before  # refused: nothing moved, nothing texted

    moved = await admin.post(f"/admin/api/appointments/{appt}/reschedule", json={"start": "2026-03-04T14:00"},
                             headers=AUTH)
    data = await moved.json()
    assert moved.status == 200 and data["rescheduled"] and data["start"] == "2026-03-04T14:00:00-05:00"
    assert counts() == (before[0] + 1, before[1] + 1)
    action, call_id = db.execute("SELECT action, call_id FROM booking_audit WHERE booking_id = %s ORDER BY id DESC "
                                 "LIMIT 1", (appt,)).fetchone()
    assert action == "rescheduled" and call_id.startswith("admin:")
    to = db.execute("SELECT to_phone FROM sms_messages WHERE tenant_id = %s ORDER BY id DESC LIMIT 1",
                    (t.id,)).fetchone()[0]
    assert to == PHONE  # the appointment's own number, as from a call

    bad = await admin.post(f"/admin/api/appointments/{appt}/reschedule", json={"start": "2026-03-04T14:00",
                                                                                "phone": "+15550000000"},
                           headers=AUTH)
    assert bad.status == 400 and "phone" in (await bad.json())["error"]
    missing = await admin.post("/admin/api/appointments/999999/reschedule", json={"start": "2026-03-05T10:00"},
                               headers=AUTH)
    assert missing.status == 404
    from datetime import timedelta
    clock.set(clock.now + timedelta(days=3))
    past = await admin.post(f"/admin/api/appointments/{appt}/cancel", headers=AUTH)
    assert past.status == 409 and (await past.json())["error"] == "in_the_past"


async def test_jobs_counts_reflect_queued_and_dead_lettered_messages_in_redis(admin, redis_url, queue_namespace):
    from adapters.broker import build_broker
    import dramatiq

    broker = build_broker(redis_url, publisher=True, namespace=queue_namespace)
    broker.enqueue(dramatiq.Message(queue_name=SEND_SMS.queue, actor_name=SEND_SMS.actor, args=(1, 2), kwargs={},
                                    options={}))
    broker.enqueue(dramatiq.Message(queue_name="holds", actor_name="expire_hold", args=(1, 3), kwargs={},
                                    options={}), delay=600_000)
    r = redis.Redis.from_url(redis_url)
    dead = {"queue_name": "otp", "actor_name": "send_code", "args": [1, "123456", "+15555550123"],
            "kwargs": {"auth_token": "s3cret"}, "options": {"retries": 5, "traceback": "Traceback\nBoom: no"},
            "message_id": "m-1", "message_timestamp": 1772456400000}
    r.zadd(f"{queue_namespace}:otp.XQ", {"dead-1": 1772456400000})
    r.hset(f"{queue_namespace}:otp.XQ.msgs", "dead-1", json.dumps(dead))
    r.close()

    counts = {q["queue"]: q for q in (await get(admin, "/admin/api/jobs"))["queues"]}
    assert set(counts) == set(QUEUES)
    assert counts["confirmations"]["queued"] == 1 and counts["holds"]["delayed"] == 1
    assert counts["otp"]["dead"] == 1 and counts["vapi_sync"] == {
        "queue": "vapi_sync", "queued": 0, "in_progress": 0, "delayed": 0, "dead": 0}
    page = await get(admin, "/admin/api/jobs/messages", queue="otp", state="dead")
    (m,) = page["messages"]
    assert m["actor"] == "send_code" and m["args"] == [1, "[redacted]", "***0123"]
    assert m["kwargs"] == {"auth_token": "[redacted]"} and m["retries"] == 5 and m["error"] == "Boom: no"
    delayed = await get(admin, "/admin/api/jobs/messages", queue="holds", state="delayed")
    assert [x["args"] for x in delayed["messages"]] == [[1, 3]] and delayed["messages"][0]["eta"]


def test_redaction_keeps_ids_and_hides_codes_tokens_and_secret_keys():
    assert redact([12, "otp", "4821", "sk_live_abcdefghijklmnop1234", {"api_key": "x", "n": 3}]) == [
        12, "otp", "[redacted]", "[redacted]", {"api_key": "[redacted]", "n": 3}]


async def test_the_openapi_document_is_valid_and_lists_exactly_the_apps_admin_routes(admin):
    from openapi_spec_validator import validate

    resp = await admin.get("/admin/api/openapi.json")  # no token needed
    assert resp.status == 200
    doc = await resp.json()
    validate(doc)
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    served = {(route.method, route.resource.canonical) for route in admin.app.router.routes()
              if route.resource is not None and route.resource.canonical.startswith("/admin/api/")}
    assert documented == served
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": doc["components"]["securitySchemes"]["bearer"]["description"]}
    assert doc["paths"]["/admin/api/openapi.json"]["get"]["security"] == []
    assert "401" in doc["paths"]["/admin/api/appointments"]["get"]["responses"]


async def test_job_queues_adapter_reads_only_the_known_queues(redis_url, queue_namespace):
    queues = JobQueues.from_url(redis_url, queue_namespace)
    try:
        assert [c.queue for c in await queues.counts()] == list(QUEUES)
        with pytest.raises(ValueError):
            await queues.messages("elsewhere", "dead")
    finally:
        await queues.aclose()
