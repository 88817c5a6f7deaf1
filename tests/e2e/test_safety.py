"""What must never happen: double booking, double effects on replay, one clinic touching another's data,
a slot left blocked after the call, a 500 or a stack trace for bad input."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from tests.conftest import tool_calls_body



def _count(db, sql: str, *params) -> int:
    return db.execute(sql, params).fetchone()[0]


# ---- concurrency --------------------------------------------------------------------------------------


async def test_fifty_concurrent_reserves_of_one_time_have_exactly_one_winner(make_tenant, caller_for, db):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    start = "2026-03-04T10:00"
    results = await asyncio.gather(*[
        vapi.tool("reserve_slot", {"start": start}, call_id=f"race-{i}") for i in range(50)])
    winners = [r for r in results if r["ok"]]
    losers = [r for r in results if not r["ok"]]
    assert len(winners) == 1
    assert len(losers) == 49
    assert {r["code"] for r in losers} == {"slot_taken"}
    # 09:45-10:15 overlap the winner's 10:00-10:30: every loser is offered the three nearest that do not
    # (09:30 and 10:30, then 09:15, earlier of the two 45 minutes away)
    assert {tuple(a["start"][11:16] for a in r["alternatives"]) for r in losers} == {("09:15", "09:30", "10:30")}
    assert _count(db, "SELECT count(*) FROM bookings WHERE tenant_id = %s AND status IN ('held', 'booked')",
                  tenant.id) == 1
    # the 49 losers were told, not failed: nothing else was inserted
    assert _count(db, "SELECT count(*) FROM bookings WHERE tenant_id = %s", tenant.id) == 1


async def test_two_hundred_concurrent_reserves_of_one_time_have_one_winner_and_every_loser_hears_slot_taken(
        make_tenant, caller_for, db):
    """The issue-10 race, over HTTP: 200 calls at once for one time, more than the store's pool has connections,
    on one provider (so no second provider takes the overflow). Contenders wait on the winner's transaction,
    not on each other: no deadlock surfaces as an error, nobody is left without an answer."""
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    start = "2026-03-04T10:00"
    results = await asyncio.gather(*[
        vapi.tool("reserve_slot", {"start": start, "resource": "Dr Lee"}, call_id=f"race200-{i}") for i in range(200)])
    assert len(results) == 200
    assert sum(1 for r in results if r["ok"]) == 1
    assert [r["code"] for r in results if not r["ok"]] == ["slot_taken"] * 199
    assert _count(db, "SELECT count(*) FROM bookings WHERE tenant_id = %s", tenant.id) == 1
    assert _count(db, "SELECT count(*) FROM booking_audit WHERE tenant_id = %s AND action = 'held'", tenant.id) == 1
    assert _count(db, "SELECT count(*) FROM outbox WHERE tenant_id = %s AND actor = 'expire_hold'", tenant.id) == 1


async def test_a_call_that_cannot_have_a_taken_time_keeps_the_hold_it_had(make_tenant, caller_for, db):
    """reserve_slot runs without the runner's savepoint: hold_for_call must undo its own release of the call's
    hold when the new time is taken, leaving no trace of the attempt."""
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    assert (await vapi.tool("reserve_slot", {"start": "2026-03-04T14:00"}, call_id="taker"))["ok"] is True
    mine = await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"}, call_id="mover")
    audit = _count(db, "SELECT count(*) FROM booking_audit WHERE tenant_id = %s", tenant.id)
    taken = await vapi.tool("reserve_slot", {"start": "2026-03-04T14:00"}, call_id="mover")
    assert taken["code"] == "slot_taken" and taken["alternatives"]
    assert db.execute("SELECT status, starts_at FROM bookings WHERE id = %s",
                      (int(mine["hold_id"]),)).fetchone()[0] == "held"
    assert _count(db, "SELECT count(*) FROM booking_audit WHERE tenant_id = %s", tenant.id) == audit
    assert _count(db, "SELECT count(*) FROM outbox WHERE tenant_id = %s AND actor = 'expire_hold'", tenant.id) == 2
    # and a time that is free does replace it
    moved = await vapi.tool("reserve_slot", {"start": "2026-03-04T11:00"}, call_id="mover")
    assert moved["ok"] is True
    assert db.execute("SELECT status FROM bookings WHERE id = %s", (int(mine["hold_id"]),)).fetchone()[0] == "released"


async def test_a_reschedule_racing_forty_reserves_for_its_new_time_leaves_one_owner_and_no_error(
        make_tenant, caller_for, db):
    """Holds insert speculatively and take the (provider, day) key shared; a reschedule's UPDATE cannot be
    speculative and takes it exclusively. Whoever wins, the time has one owner and everyone else hears
    slot_taken."""
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"}, call_id="owner")
    appt = await vapi.tool("book_appointment", {"name": "Ana"}, call_id="owner")
    results = await asyncio.gather(
        vapi.tool("reschedule_appointment", {"appointment_id": appt["appointment_id"], "start": "2026-03-04T14:00"},
                  call_id="owner"),
        *[vapi.tool("reserve_slot", {"start": "2026-03-04T14:00"}, call_id=f"rival-{i}") for i in range(40)])
    assert sum(1 for r in results if r["ok"]) == 1
    assert {r["code"] for r in results if not r["ok"]} == {"slot_taken"}
    assert _count(db, "SELECT count(*) FROM bookings WHERE tenant_id = %s AND status IN ('held', 'booked') "
                      "AND tstzrange(starts_at, ends_at) && tstzrange('2026-03-04 19:00Z', '2026-03-04 19:30Z')",
                  tenant.id) == 1


async def test_the_database_refuses_overlapping_active_rows_even_without_the_application(make_tenant, db):
    import psycopg

    tenant = await make_tenant()
    rid, sid = db.execute("SELECT r.id, s.id FROM resources r JOIN services s USING (tenant_id) "
                          "WHERE r.tenant_id = %s LIMIT 1", (tenant.id,)).fetchone()
    insert = ("INSERT INTO bookings (tenant_id, resource_id, service_id, status, starts_at, ends_at, customer_name) "
              "VALUES (%s, %s, %s, 'booked', %s, %s, 'x')")
    db.execute(insert, (tenant.id, rid, sid, "2026-03-04 15:00Z", "2026-03-04 15:30Z"))
    with pytest.raises(psycopg.errors.ExclusionViolation):
        db.execute(insert, (tenant.id, rid, sid, "2026-03-04 15:15Z", "2026-03-04 15:45Z"))
    db.execute(insert, (tenant.id, rid, sid, "2026-03-04 15:30Z", "2026-03-04 16:00Z"))  # back to back is fine


# ---- idempotency --------------------------------------------------------------------------------------


async def test_replaying_a_reserve_or_book_tool_call_returns_the_identical_result_and_does_nothing(
        make_tenant, caller_for, db):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    first = await vapi.raw("reserve_slot", {"start": "2026-03-04T10:00"}, tool_call_id="call_R1")
    replay = await vapi.raw("reserve_slot", {"start": "2026-03-04T11:00"}, tool_call_id="call_R1")  # other args
    assert replay == first
    booked = await vapi.raw("book_appointment", {"name": "Ana"}, tool_call_id="call_B1")
    rows_before = _count(db, "SELECT count(*) FROM bookings WHERE tenant_id = %s", tenant.id)
    audit_before = _count(db, "SELECT count(*) FROM booking_audit WHERE tenant_id = %s", tenant.id)
    again = await asyncio.gather(*[vapi.raw("book_appointment", {"name": "Someone Else"}, tool_call_id="call_B1")
                                   for _ in range(5)])
    assert set(again) == {booked}
    assert _count(db, "SELECT count(*) FROM bookings WHERE tenant_id = %s", tenant.id) == rows_before
    assert _count(db, "SELECT count(*) FROM booking_audit WHERE tenant_id = %s", tenant.id) == audit_before
    assert json.loads(booked)["ok"] is True
    assert _count(db, "SELECT count(*) FROM bookings WHERE tenant_id = %s AND status = 'booked'", tenant.id) == 1


async def test_concurrent_duplicates_of_one_reserve_run_it_once(make_tenant, caller_for, db):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    results = await asyncio.gather(*[vapi.raw("reserve_slot", {"start": "2026-03-04T10:00"}, call_id="dup",
                                              tool_call_id="call_dup") for _ in range(10)])
    assert len(set(results)) == 1 and json.loads(results[0])["ok"] is True
    assert _count(db, "SELECT count(*) FROM bookings WHERE tenant_id = %s", tenant.id) == 1


async def test_a_stored_error_is_replayed_too(make_tenant, caller_for):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    first = await vapi.raw("reserve_slot", {"start": "yesterday-ish"}, tool_call_id="call_E1")
    assert json.loads(first)["code"] == "invalid_arguments"
    assert await vapi.raw("reserve_slot", {"start": "2026-03-04T10:00"}, tool_call_id="call_E1") == first


# ---- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, args, code", [
    ("check_availability", {"date": "yesterday-ish"}, "invalid_arguments"),
    ("check_availability", {"date": 20260304}, "invalid_arguments"),
    ("check_availability", {"after": "2026-03-04"}, "invalid_arguments"),
    ("check_availability", {"part_of_day": "brunch"}, "invalid_arguments"),
    ("check_availability", {"limit": "lots"}, "invalid_arguments"),
    ("check_availability", {"limit": -3}, "invalid_arguments"),
    ("check_availability", {"service": "Root canal"}, "unknown_service"),
    ("check_availability", {"resource": "Dr Nobody"}, "unknown_resource"),
    ("check_availability", {"date": "x" * 10_240}, "invalid_arguments"),
    ("reserve_slot", {}, "invalid_arguments"),
    ("reserve_slot", {"start": 42}, "invalid_arguments"),
    ("reserve_slot", {"start": None}, "invalid_arguments"),
    ("reserve_slot", {"start": ["2026-03-04T10:00"]}, "invalid_arguments"),
    ("reserve_slot", {"start": "2026-02-30T10:00"}, "invalid_arguments"),
    ("reserve_slot", {"start": "9999-12-31T23:59"}, "invalid_arguments"),
    ("reserve_slot", {"start": "9999-12-31T23:59:59-05:00"}, "invalid_arguments"),
    ("reserve_slot", {"start": "0001-01-01T00:00"}, "invalid_arguments"),
    ("reserve_slot", {"start": "2030-01-01T10:00"}, "beyond_horizon"),
    ("reserve_slot", {"start": "2020-01-01T10:00"}, "in_the_past"),
    ("check_availability", {"date": "9999-12-31"}, "beyond_horizon"),
    ("check_availability", {"date": "0001-01-01"}, "in_the_past"),
    ("book_appointment", {}, "invalid_arguments"),
    ("book_appointment", {"name": "N" * 10_240}, "invalid_arguments"),
    ("book_appointment", {"name": {"first": "Ana"}}, "invalid_arguments"),
    ("cancel_appointment", {"appointment_id": "abc"}, "invalid_arguments"),
    ("cancel_appointment", {"appointment_id": 10**30}, "invalid_arguments"),
    ("cancel_appointment", {}, "invalid_arguments"),
    ("reschedule_appointment", {"appointment_id": 1, "start": True}, "invalid_arguments"),
    ("delete_everything", {}, "unknown_tool"),
    ("check_availability", "{not json", "invalid_arguments"),
    ("check_availability", "[1, 2]", "invalid_arguments"),
    ("check_availability", "x" * 20_000, "invalid_arguments"),
])
async def test_bad_input_gets_a_clear_speakable_error_and_changes_nothing(make_tenant, caller_for, db,
                                                                          name, args, code):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    raw = await vapi.raw(name, args)
    result = json.loads(raw)
    assert result["ok"] is False and result["code"] == code
    assert 10 < len(result["say"]) < 300 and "Traceback" not in raw and "Error(" not in raw
    assert "x" * 50 not in result["say"] and "N" * 50 not in result["say"]
    assert _count(db, "SELECT count(*) FROM bookings WHERE tenant_id = %s", tenant.id) == 0


async def test_a_call_without_a_call_id_cannot_hold_but_can_still_check(make_tenant, caller_for):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    assert (await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"}, call_id=None))["code"] == "missing_call"
    assert (await vapi.tool("book_appointment", {"name": "A"}, call_id=None))["code"] == "missing_call"
    assert (await vapi.tool("check_availability", {"date": "2026-03-04"}, call_id=None))["ok"] is True


async def test_a_body_that_is_not_json_is_a_400_and_never_a_500(make_tenant, caller_for):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    headers = {"X-Vapi-Secret": tenant.secret}
    for body in (b"not json", b"[1,2]", b"{\"message\": 5}", b"\xff\xfe"):
        resp = await vapi.client.post("/vapi/webhook", data=body, headers=headers)
        assert resp.status == 400, body
    odd = await vapi.post({"message": {"type": "tool-calls", "toolCallList": "nope"}})
    assert odd.status == 200 and (await odd.json()) == {"results": []}
    weird = await vapi.post({"message": {"type": "tool-calls", "call": {"id": 5},
                                         "toolCallList": [{"id": "w1", "function": "x"}, 7]}})
    assert weird.status == 200
    codes = [json.loads(r["result"])["code"] for r in (await weird.json())["results"]]
    assert codes == ["unknown_tool", "unknown_tool"]


# ---- auth and tenant isolation --------------------------------------------------------------------------


async def test_requests_without_the_right_secret_are_401_without_detail(make_tenant, caller_for):
    a = await make_tenant()
    b = await make_tenant()
    vapi = caller_for(a)
    body = tool_calls_body([("check_availability", {}, "t1")], assistant_id=a.assistant_id)
    no_secret = await vapi.client.post("/vapi/webhook", json=body)
    wrong = await vapi.post(body, secret="not-a-real-secret-at-all")
    other = await vapi.post(body, secret=b.secret)  # B's secret with A's assistant id
    for resp in (no_secret, wrong, other):
        assert resp.status == 401
        assert await resp.json() == {"error": "unauthorized"}
    bearer = await vapi.client.post("/vapi/webhook", json=body, headers={"Authorization": f"Bearer {a.secret}"})
    assert bearer.status == 200
    # transient assistants and squads carry no assistant id: served on the secret alone
    assert (await vapi.post(tool_calls_body([("check_availability", {}, "t2")]))).status == 200


async def test_a_tenant_id_in_the_body_cannot_point_at_another_clinic(make_tenant, caller_for, db):
    a = await make_tenant(name="Clinic A")
    b = await make_tenant(name="Clinic B", resources=[{
        "name": "Dr B", "services": ["Cleaning", "Checkup"], "hours": {"wed": ["09:00-17:00"]}}])
    vapi_a = caller_for(a)
    body = tool_calls_body([("reserve_slot", {"start": "2026-03-04T10:00", "tenantId": b.id,
                                              "tenant_id": b.slug, "resource": "Dr B"}, "t1")])
    body["message"]["tenantId"] = b.id
    body["message"]["assistant"] = {"metadata": {"tenantId": b.slug}}
    resp = await vapi_a.post(body)
    result = json.loads((await resp.json())["results"][0]["result"])
    assert result["code"] == "unknown_resource"  # A has no "Dr B": the body never chose the tenant
    assert _count(db, "SELECT count(*) FROM bookings WHERE tenant_id = %s", b.id) == 0


async def test_tenant_a_cannot_read_or_change_anything_of_tenant_b(make_tenant, caller_for, db):
    a = await make_tenant()
    b = await make_tenant()
    vapi_a, vapi_b = caller_for(a), caller_for(b)
    phone = "+15555550123"  # the same patient calls both clinics
    await vapi_b.tool("reserve_slot", {"start": "2026-03-04T10:00"}, call_id="shared-call", caller=phone)
    b_appt = await vapi_b.tool("book_appointment", {"name": "Pat"}, call_id="shared-call", caller=phone)
    await vapi_b.tool("reserve_slot", {"start": "2026-03-04T11:00"}, call_id="b-hold", caller=phone)
    b_rows = db.execute("SELECT id, status, starts_at, updated_at FROM bookings WHERE tenant_id = %s ORDER BY id",
                        (b.id,)).fetchall()

    assert (await vapi_a.tool("lookup_appointments", {}, caller=phone))["appointments"] == []
    assert (await vapi_a.tool("cancel_appointment", {"appointment_id": b_appt["appointment_id"]},
                              caller=phone))["code"] == "not_found"
    assert (await vapi_a.tool("reschedule_appointment", {"appointment_id": b_appt["appointment_id"],
                                                         "start": "2026-03-05T10:00"}, caller=phone))["code"] == "not_found"
    # the same call id and toolCallIds in A do not touch B's hold or B's stored results
    assert (await vapi_a.tool("release_slot", {}, call_id="b-hold"))["released"] is False
    assert (await vapi_a.tool("book_appointment", {"name": "X"}, call_id="shared-call"))["code"] == "no_active_hold"
    # A's calendar is its own: B's booked time is free in A
    a_free = await vapi_a.tool("check_availability", {"date": "2026-03-04", "after": "2026-03-04T10:00", "limit": 1})
    assert a_free["openings"][0]["start"] == "2026-03-04T10:00:00-05:00"
    # an end-of-call for B's call id sent with A's secret releases nothing of B's
    resp = await vapi_a.post({"message": {"type": "status-update", "status": "ended", "call": {"id": "b-hold"}}})
    assert resp.status == 200
    same_tool_call = await vapi_a.raw("check_availability", {"date": "2026-03-04"}, tool_call_id="shared-tc")
    b_same = await vapi_b.raw("check_availability", {"date": "2026-03-05"}, tool_call_id="shared-tc")
    assert same_tool_call != b_same
    assert db.execute("SELECT id, status, starts_at, updated_at FROM bookings WHERE tenant_id = %s ORDER BY id",
                      (b.id,)).fetchall() == b_rows


# ---- holds end with the call ------------------------------------------------------------------------------


async def test_status_update_ended_releases_the_calls_hold_at_once_and_idempotently(make_tenant, caller_for, db):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    held = await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"}, call_id="hangup")
    ended = {"message": {"type": "status-update", "status": "ended", "endedReason": "customer-ended-call",
                         "call": {"id": "hangup", "status": "in-progress"}}}
    for _ in range(2):
        resp = await vapi.post(ended)
        assert resp.status == 200 and await resp.json() == {}
    assert db.execute("SELECT status FROM bookings WHERE id = %s", (int(held["hold_id"]),)).fetchone()[0] == "released"
    assert db.execute("SELECT status, ended_reason FROM call_states WHERE tenant_id = %s AND call_id = 'hangup'",
                      (tenant.id,)).fetchone() == ("ended", "customer-ended-call")
    again = await vapi.tool("check_availability", {"date": "2026-03-04", "after": "2026-03-04T10:00", "limit": 1})
    assert again["openings"][0]["start"] == "2026-03-04T10:00:00-05:00"
    late = await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"}, call_id="hangup")
    assert late["code"] == "call_ended"
    report = await vapi.post({"message": {"type": "end-of-call-report", "endedReason": "customer-ended-call",
                                          "call": {"id": "hangup"}}})
    assert report.status == 200
    other = await vapi.post({"message": {"type": "speech-update", "status": "started"}})
    assert other.status == 200 and await other.json() == {}


async def test_end_of_call_report_releases_holds_too(make_tenant, caller_for, db):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    held = await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"}, call_id="report")
    resp = await vapi.post({"message": {"type": "end-of-call-report", "endedReason": "silence-timed-out",
                                        "call": {"id": "report"}}})
    assert resp.status == 200
    assert db.execute("SELECT status FROM bookings WHERE id = %s", (int(held["hold_id"]),)).fetchone()[0] == "released"


async def test_an_expired_hold_stops_blocking_at_expires_at_without_any_background_job(
        make_tenant, caller_for, clock, db):
    tenant = await make_tenant(hold_minutes=5)
    vapi = caller_for(tenant)
    held = await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"}, call_id="slow")
    clock.set(clock.now + timedelta(minutes=4, seconds=59))
    still = await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"}, call_id="eager")
    assert still["code"] == "slot_taken"
    clock.set(clock.now + timedelta(seconds=1))  # exactly expires_at
    offered = await vapi.tool("check_availability", {"date": "2026-03-04", "after": "2026-03-04T10:00", "limit": 1})
    assert offered["openings"][0]["start"] == "2026-03-04T10:00:00-05:00"
    taken = await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"}, call_id="eager")
    assert taken["ok"] is True
    assert db.execute("SELECT status FROM bookings WHERE id = %s", (int(held["hold_id"]),)).fetchone()[0] == "expired"
    assert (await vapi.tool("book_appointment", {"name": "Slow"}, call_id="slow"))["code"] == "hold_expired"
