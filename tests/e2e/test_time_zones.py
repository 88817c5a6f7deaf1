"""Times are right in the clinic's zone across clock changes, through the whole HTTP path."""

from __future__ import annotations

from datetime import datetime, timezone



EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _clinic(tz: str, night: bool = False) -> dict:
    resources = [{"name": "Dr Day", "services": ["Cleaning"], "hours": {d: ["09:00-17:00"] for d in EVERY_DAY}}]
    if night:
        resources.append({"name": "Night Nurse", "services": ["Cleaning"],
                          "hours": {d: ["00:00-04:00"] for d in EVERY_DAY}})
    return {"timezone": tz, "services": [{"name": "Cleaning", "minutes": 30}], "resources": resources,
            "min_notice_minutes": 0}


async def _first(vapi, day: str, resource: str = "Dr Day", limit: int = 1) -> list[str]:
    found = await vapi.tool("check_availability", {"date": day, "resource": resource, "limit": limit})
    assert found["ok"], found
    return [o["start"] for o in found["openings"]]


async def test_new_york_opens_at_nine_local_on_both_sides_of_spring_forward(make_tenant, caller_for, clock, db):
    clock.set(datetime(2026, 3, 6, 12, 0, tzinfo=timezone.utc))
    vapi = caller_for(await make_tenant(**_clinic("America/New_York", night=True)))
    assert await _first(vapi, "2026-03-07") == ["2026-03-07T09:00:00-05:00"]
    assert await _first(vapi, "2026-03-08") == ["2026-03-08T09:00:00-04:00"]
    assert await _first(vapi, "2026-03-09") == ["2026-03-09T09:00:00-04:00"]

    night = await _first(vapi, "2026-03-08", "Night Nurse", limit=10)
    assert [s[11:16] for s in night] == ["00:00", "00:15", "00:30", "00:45", "01:00", "01:15", "01:30", "01:45",
                                         "03:00", "03:15"]  # 02:xx does not exist that night
    assert (await vapi.tool("reserve_slot", {"start": "2026-03-08T02:30", "resource": "Night Nurse"}))["code"] == \
        "nonexistent_time"

    held = await vapi.tool("reserve_slot", {"start": "2026-03-09T09:00"}, call_id="after-change")
    assert held["start"] == "2026-03-09T09:00:00-04:00"
    stored = db.execute("SELECT starts_at FROM bookings WHERE id = %s", (int(held["hold_id"]),)).fetchone()[0]
    assert stored == datetime(2026, 3, 9, 13, 0, tzinfo=timezone.utc)
    assert "Monday March 9th at 9 in the morning" in held["say"]


async def test_new_york_opens_at_nine_local_on_both_sides_of_fall_back(make_tenant, caller_for, clock):
    clock.set(datetime(2026, 10, 28, 12, 0, tzinfo=timezone.utc))
    vapi = caller_for(await make_tenant(**_clinic("America/New_York", night=True)))
    assert await _first(vapi, "2026-10-31") == ["2026-10-31T09:00:00-04:00"]
    assert await _first(vapi, "2026-11-01") == ["2026-11-01T09:00:00-05:00"]
    night = await _first(vapi, "2026-11-01", "Night Nurse", limit=10)
    assert len(night) == len(set(night))  # 01:xx happens twice that night: both, each once, in time order
    assert night[:6] == ["2026-11-01T00:00:00-04:00", "2026-11-01T00:15:00-04:00", "2026-11-01T00:30:00-04:00",
                         "2026-11-01T00:45:00-04:00", "2026-11-01T01:00:00-04:00", "2026-11-01T01:15:00-04:00"]
    assert night[8:] == ["2026-11-01T01:00:00-05:00", "2026-11-01T01:15:00-05:00"]


async def test_london_clinic_follows_british_summer_time(make_tenant, caller_for, clock):
    clock.set(datetime(2026, 3, 25, 12, 0, tzinfo=timezone.utc))
    vapi = caller_for(await make_tenant(**_clinic("Europe/London"), country="GB"))
    assert await _first(vapi, "2026-03-28") == ["2026-03-28T09:00:00+00:00"]
    assert await _first(vapi, "2026-03-29") == ["2026-03-29T09:00:00+01:00"]
    held = await vapi.tool("reserve_slot", {"start": "2026-03-29T09:00"}, caller="07700 900123")
    assert held["ok"]
    booked = await vapi.tool("book_appointment", {"name": "Alex"}, caller="07700 900123")
    assert booked["phone"] == "+447700900123"
    assert "Sunday March 29th at 9 in the morning" in booked["say"]


async def test_kolkata_clinic_with_a_half_hour_offset(make_tenant, caller_for, clock, db):
    clock.set(datetime(2026, 3, 2, 0, 0, tzinfo=timezone.utc))
    vapi = caller_for(await make_tenant(**_clinic("Asia/Kolkata"), country="IN"))
    starts = await _first(vapi, "2026-03-03", limit=3)
    assert starts == ["2026-03-03T09:00:00+05:30", "2026-03-03T09:15:00+05:30", "2026-03-03T09:30:00+05:30"]
    held = await vapi.tool("reserve_slot", {"start": "2026-03-03T04:15:00Z"})  # = 09:45 local
    assert held["start"] == "2026-03-03T09:45:00+05:30"
    off = await vapi.tool("reserve_slot", {"start": "2026-03-03T04:00:00Z"})  # = 09:30 local: on the grain
    assert off["ok"]
    not_grain = await vapi.tool("reserve_slot", {"start": "2026-03-03T04:10:00Z"})  # 09:40 local
    assert not_grain["code"] == "off_grain"
