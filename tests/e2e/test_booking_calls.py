"""A caller's whole journey through HTTP: check, reserve, book, look up, reschedule, cancel."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone




async def test_a_caller_checks_reserves_and_books_and_hears_speakable_answers(make_tenant, caller_for, db):
    tenant = await make_tenant()
    vapi = caller_for(tenant)

    found = await vapi.tool("check_availability", {"date": "2026-03-04"})
    assert found["ok"] is True
    assert [o["start"] for o in found["openings"]] == [
        "2026-03-04T09:00:00-05:00", "2026-03-04T09:15:00-05:00", "2026-03-04T09:30:00-05:00"]
    assert found["openings"][0]["say"] == "Wednesday March 4th at 9 in the morning with Dr Lee"
    assert "T09" not in found["say"] and "PM" not in found["say"]

    held = await vapi.tool("reserve_slot", {"start": found["openings"][1]["start"]})
    assert held["ok"] is True and held["resource"] == "Dr Lee"
    assert held["expires_at"] == "2026-03-02T08:10:00-05:00"  # now + hold_minutes, in the clinic's zone

    booked = await vapi.tool("book_appointment", {"name": "Dana Whitfield"})
    assert booked["ok"] is True
    assert booked["start"] == "2026-03-04T09:15:00-05:00"
    assert booked["phone"] == "+15555550123"
    assert "Wednesday March 4th at 9:15 in the morning" in booked["say"]

    row = db.execute("SELECT status, customer_name, phone FROM bookings WHERE id = %s",
                     (int(booked["appointment_id"]),)).fetchone()
    assert row == ("booked", "Dana Whitfield", "+15555550123")
    actions = [r[0] for r in db.execute(
        "SELECT action FROM booking_audit WHERE booking_id = %s ORDER BY id", (int(booked["appointment_id"]),))]
    assert actions == ["held", "booked"]

    again = await vapi.tool("check_availability", {"date": "2026-03-04"})
    assert "2026-03-04T09:15:00-05:00" not in [o["start"] for o in again["openings"]]

    mine = await vapi.tool("lookup_appointments", {}, call_id="call-2")
    assert [a["appointment_id"] for a in mine["appointments"]] == [booked["appointment_id"]]


async def test_without_a_date_the_earliest_openings_from_now_respect_min_notice(make_tenant, caller_for, clock):
    tenant = await make_tenant(min_notice_minutes=120)
    vapi = caller_for(tenant)
    clock.set(datetime(2026, 3, 2, 14, 20, tzinfo=timezone.utc))  # 09:20 local: +2h notice -> 11:20
    found = await vapi.tool("check_availability", {})
    assert [o["start"] for o in found["openings"]] == [
        "2026-03-02T11:30:00-05:00", "2026-03-02T11:45:00-05:00", "2026-03-02T12:00:00-05:00"]


async def test_no_availability_names_the_next_open_day(make_tenant, caller_for):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    result = await vapi.tool("check_availability", {"date": "2026-03-07"})  # a Saturday: closed
    assert result["ok"] is False and result["code"] == "no_availability"
    assert result["next_open_day"] == "2026-03-09"
    assert "Monday March 9th at 9 in the morning" in result["say"]


async def test_part_of_day_after_and_limit_narrow_the_openings(make_tenant, caller_for):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    afternoon = await vapi.tool("check_availability", {"date": "thursday", "part_of_day": "afternoon", "limit": 2})
    assert [o["start"] for o in afternoon["openings"]] == ["2026-03-05T12:00:00-05:00", "2026-03-05T12:15:00-05:00"]
    after = await vapi.tool("check_availability", {"date": "2026-03-05", "after": "2026-03-05T15:10"})
    assert after["openings"][0]["start"] == "2026-03-05T15:15:00-05:00"
    clamped = await vapi.tool("check_availability", {"date": "2026-03-05", "limit": 50})
    assert len(clamped["openings"]) == 10


async def test_several_free_resources_give_one_opening_per_time_unless_one_is_named(make_tenant, caller_for):
    hours = {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
    tenant = await make_tenant(
        services=[{"name": "Cleaning", "minutes": 30}],
        resources=[{"name": "Dr Lee", "services": ["Cleaning"], "hours": hours},
                   {"name": "Dr Kim", "services": ["Cleaning"], "hours": hours}])
    vapi = caller_for(tenant)
    found = await vapi.tool("check_availability", {"date": "2026-03-04"})
    assert [(o["start"][11:16], o["resource"]) for o in found["openings"]] == [
        ("09:00", "Dr Lee"), ("09:15", "Dr Lee"), ("09:30", "Dr Lee")]
    kim = await vapi.tool("check_availability", {"date": "2026-03-04", "resource": "dr kim"})
    assert {o["resource"] for o in kim["openings"]} == {"Dr Kim"}
    # Dr Lee busy at 09:00: the same time is still offered, with Dr Kim
    await vapi.tool("reserve_slot", {"start": "2026-03-04T09:00", "resource": "Dr Lee"}, call_id="a")
    again = await vapi.tool("check_availability", {"date": "2026-03-04"})
    assert (again["openings"][0]["start"][11:16], again["openings"][0]["resource"]) == ("09:00", "Dr Kim")
    # and reserving 09:00 without naming anyone takes the free provider
    other = await vapi.tool("reserve_slot", {"start": "2026-03-04T09:00"}, call_id="b")
    assert other["ok"] and other["resource"] == "Dr Kim"


async def test_a_30_minute_service_overlapping_a_booking_is_refused_and_back_to_back_is_allowed(
        make_tenant, caller_for, db):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    assert (await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"}, call_id="first"))["ok"]
    assert (await vapi.tool("book_appointment", {"name": "First"}, call_id="first"))["ok"]

    overlapping = await vapi.tool("reserve_slot", {"start": "2026-03-04T10:15"}, call_id="second")
    assert overlapping["ok"] is False and overlapping["code"] == "slot_taken"
    # 09:45, 10:00 and 10:15 would overlap 10:00-10:30; the three nearest to 10:15 that do not are 10:30,
    # 10:45 and, of 09:30 and 11:00 (both 45 minutes away), the earlier one
    assert [a["start"] for a in overlapping["alternatives"]] == [
        "2026-03-04T09:30:00-05:00", "2026-03-04T10:30:00-05:00", "2026-03-04T10:45:00-05:00"]

    earlier = await vapi.tool("reserve_slot", {"start": "2026-03-04T09:45"}, call_id="third")
    assert earlier["ok"] is False and earlier["code"] == "slot_taken"  # 09:45-10:15 overlaps too

    back_to_back = await vapi.tool("reserve_slot", {"start": "2026-03-04T10:30"}, call_id="fourth")
    assert back_to_back["ok"] is True
    before = await vapi.tool("reserve_slot", {"start": "2026-03-04T09:30"}, call_id="fifth")
    assert before["ok"] is True
    active = db.execute("SELECT count(*) FROM bookings WHERE tenant_id = %s AND status IN ('held','booked')",
                        (tenant.id,)).fetchone()[0]
    assert active == 3


async def test_times_outside_hours_in_the_past_too_soon_off_grain_or_too_far_are_refused_each_with_its_reason(
        make_tenant, caller_for):
    tenant = await make_tenant(min_notice_minutes=120)  # now is 08:00 local: nothing before 10:00 today
    vapi = caller_for(tenant)
    night = await vapi.tool("reserve_slot", {"start": "2026-03-04T20:00"})
    assert night["code"] == "outside_hours" and night["alternatives"]
    late = await vapi.tool("reserve_slot", {"start": "2026-03-04T16:45"})  # a 30-min service would end 17:15
    assert late["code"] == "outside_hours"
    past = await vapi.tool("reserve_slot", {"start": "2026-03-01T10:00"})
    assert past["code"] == "in_the_past"
    soon = await vapi.tool("reserve_slot", {"start": "2026-03-02T09:30"})  # open, on the grain, but too soon
    assert soon["code"] == "too_soon"
    assert soon["alternatives"][0]["start"] == "2026-03-02T10:00:00-05:00"
    off = await vapi.tool("reserve_slot", {"start": "2026-03-04T10:07"})
    assert off["code"] == "off_grain"
    far = await vapi.tool("reserve_slot", {"start": "2026-09-01T10:00"})
    assert far["code"] == "beyond_horizon"
    far_check = await vapi.tool("check_availability", {"date": "2026-09-01"})
    assert far_check["code"] == "beyond_horizon"


async def test_reserving_again_replaces_the_calls_hold(make_tenant, caller_for, db):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    first = await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"})
    second = await vapi.tool("reserve_slot", {"start": "2026-03-04T11:00"})
    assert first["ok"] and second["ok"]
    rows = db.execute("SELECT id, status FROM bookings WHERE tenant_id = %s ORDER BY id", (tenant.id,)).fetchall()
    assert rows == [(int(first["hold_id"]), "released"), (int(second["hold_id"]), "held")]
    released = await vapi.tool("release_slot", {})
    assert released["released"] is True
    assert db.execute("SELECT count(*) FROM bookings WHERE tenant_id = %s AND status = 'held'",
                      (tenant.id,)).fetchone()[0] == 0


async def test_booking_without_a_hold_or_after_it_expired_says_so(make_tenant, caller_for, clock):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    none = await vapi.tool("book_appointment", {"name": "Sam"})
    assert none["code"] == "no_active_hold"
    await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"})
    clock.set(clock.now + timedelta(minutes=11))
    expired = await vapi.tool("book_appointment", {"name": "Sam"})
    assert expired["code"] == "hold_expired"


async def test_a_web_call_without_caller_id_needs_a_phone_to_book(make_tenant, caller_for, db):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"}, caller=None)
    needs = await vapi.tool("book_appointment", {"name": "Web Caller"}, caller=None)
    assert needs["code"] == "phone_required"
    bad = await vapi.tool("book_appointment", {"name": "Web Caller", "phone": "12"}, caller=None)
    assert bad["code"] == "invalid_arguments"
    ok = await vapi.tool("book_appointment", {"name": "Web Caller", "phone": "(212) 555-0188"}, caller=None)
    assert ok["ok"] and ok["phone"] == "+12125550188"


async def test_asking_to_book_again_after_booking_returns_the_same_appointment(make_tenant, caller_for, db):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"})
    first = await vapi.tool("book_appointment", {"name": "Sam"})
    second = await vapi.tool("book_appointment", {"name": "Sam"})  # a new toolCallId: the LLM repeated itself
    assert second["ok"] and second["already_booked"] is True
    assert second["appointment_id"] == first["appointment_id"]
    assert db.execute("SELECT count(*) FROM bookings WHERE tenant_id = %s AND status = 'booked'",
                      (tenant.id,)).fetchone()[0] == 1


async def test_reschedule_moves_atomically_and_cancel_frees_the_time(make_tenant, caller_for, db):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"}, call_id="a")
    appt = await vapi.tool("book_appointment", {"name": "Ana"}, call_id="a")
    await vapi.tool("reserve_slot", {"start": "2026-03-04T11:00"}, call_id="b", caller="+15555550999")
    await vapi.tool("book_appointment", {"name": "Ben"}, call_id="b", caller="+15555550999")

    blocked = await vapi.tool("reschedule_appointment", {"appointment_id": appt["appointment_id"],
                                                         "start": "2026-03-04T11:00"}, call_id="c")
    assert blocked["code"] == "slot_taken" and blocked["alternatives"]
    assert db.execute("SELECT starts_at FROM bookings WHERE id = %s", (int(appt["appointment_id"]),)
                      ).fetchone()[0] == datetime(2026, 3, 4, 15, 0, tzinfo=timezone.utc)

    moved = await vapi.tool("reschedule_appointment", {"appointment_id": int(appt["appointment_id"]),
                                                       "start": "2026-03-05T14:30"}, call_id="c")
    assert moved["ok"] and moved["start"] == "2026-03-05T14:30:00-05:00"
    assert moved["previous_start"] == "2026-03-04T10:00:00-05:00"
    reopened = await vapi.tool("check_availability", {"date": "2026-03-04", "after": "2026-03-04T10:00", "limit": 1})
    assert reopened["openings"][0]["start"] == "2026-03-04T10:00:00-05:00"

    someone_else = await vapi.tool("cancel_appointment", {"appointment_id": appt["appointment_id"]},
                                   call_id="d", caller="+15555550999")
    assert someone_else["code"] == "not_found"
    cancelled = await vapi.tool("cancel_appointment", {"appointment_id": appt["appointment_id"], "reason": "sick"},
                                call_id="d")
    assert cancelled["ok"] and cancelled["cancelled"] is True
    assert db.execute("SELECT status FROM bookings WHERE id = %s", (int(appt["appointment_id"]),)
                      ).fetchone()[0] == "cancelled"
    actions = [r[0] for r in db.execute("SELECT action FROM booking_audit WHERE booking_id = %s ORDER BY id",
                                        (int(appt["appointment_id"]),))]
    assert actions == ["held", "booked", "rescheduled", "cancelled"]
    masked = {r[0] for r in db.execute("SELECT phone_masked FROM booking_audit WHERE booking_id = %s AND "
                                       "phone_masked IS NOT NULL", (int(appt["appointment_id"]),))}
    assert masked == {"***0123"}


async def test_several_calls_in_one_post_are_answered_together_in_order(make_tenant, caller_for):
    from tests.conftest import tool_calls_body

    tenant = await make_tenant()
    vapi = caller_for(tenant)
    body = tool_calls_body([("check_availability", {"date": "2026-03-04", "limit": 1}, "t1"),
                            ("reserve_slot", "{\"start\": \"2026-03-04T09:00\"}", "t2"),
                            ("book_appointment", {"name": "Pat"}, "t3")])
    resp = await vapi.post(body)
    data = await resp.json()
    assert [r["toolCallId"] for r in data["results"]] == ["t1", "t2", "t3"]
    assert ['"ok":true' in r["result"] for r in data["results"]] == [True, True, True]


async def test_legacy_function_call_is_answered_with_a_result_string(make_tenant, caller_for):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    body = {"message": {"type": "function-call", "call": {"id": "legacy"},
                        "functionCall": {"name": "check_availability", "parameters": {"date": "2026-03-04"}}}}
    resp = await vapi.post(body)
    assert resp.status == 200
    data = await resp.json()
    assert set(data) == {"result"} and '"ok":true' in data["result"]


async def test_the_per_tool_url_is_served_by_the_same_dispatcher(make_tenant, caller_for):
    from tests.conftest import tool_calls_body

    tenant = await make_tenant()
    vapi = caller_for(tenant)
    resp = await vapi.post(tool_calls_body([("check_availability", {"date": "2026-03-04"}, "p1")]),
                           path="/vapi/tools/check_availability")
    assert resp.status == 200
    assert '"ok":true' in (await resp.json())["results"][0]["result"]
