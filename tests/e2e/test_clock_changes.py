"""The clock-change bugs of the first release, over HTTP: exact lengths, one definition of working time,
and answers that say which of two repeated wall times they mean."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

UTC = timezone.utc
EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _clinic(tz: str, hours: list[str], minutes: int, country: str = "US") -> dict:
    return {"timezone": tz, "country": country, "min_notice_minutes": 0,
            "services": [{"name": "Quick look", "minutes": minutes}],
            "resources": [{"name": "Dr Night", "services": ["Quick look"], "hours": {d: hours for d in EVERY_DAY}}]}


async def _openings(vapi, day: str, limit: int = 10) -> list[dict]:
    found = await vapi.tool("check_availability", {"date": day, "limit": limit})
    assert found["ok"], found
    return found["openings"]


async def test_on_the_night_the_clocks_go_back_a_20_minute_opening_lasts_and_blocks_20_minutes(
        make_tenant, caller_for, clock, db):
    clock.set(datetime(2027, 10, 28, 12, 0, tzinfo=UTC))
    vapi = caller_for(await make_tenant(**_clinic("Europe/London", ["00:30-03:30"], 20, "GB")))
    openings = await _openings(vapi, "2027-10-31", limit=50)
    quarter_to_two = [o for o in openings if o["start"][11:16] == "01:45"]
    assert [(o["start"], o["end"]) for o in quarter_to_two] == [
        ("2027-10-31T01:45:00+01:00", "2027-10-31T01:05:00+00:00"),
        ("2027-10-31T01:45:00+00:00", "2027-10-31T02:05:00+00:00"),
    ]
    assert quarter_to_two[0]["say"].endswith("before the clocks go back with Dr Night")
    assert quarter_to_two[1]["say"].endswith("after the clocks go back with Dr Night")

    held = await vapi.tool("reserve_slot", {"start": quarter_to_two[0]["start"]}, caller="07700 900123")
    assert held["ok"] and held["end"] == "2027-10-31T01:05:00+00:00"
    starts_at, ends_at = db.execute("SELECT starts_at, ends_at FROM bookings WHERE id = %s",
                                    (int(held["hold_id"]),)).fetchone()
    assert ends_at - starts_at == timedelta(minutes=20)
    # the hold blocks 00:45-01:05 UTC and nothing more: 01:00 GMT overlaps it, 01:15 GMT is free again
    after = {o["start"] for o in await _openings(vapi, "2027-10-31", limit=50)}
    assert "2027-10-31T01:00:00+00:00" not in after and "2027-10-31T01:15:00+00:00" in after
    assert "2027-10-31T01:45:00+00:00" in after


async def test_what_is_offered_at_a_midnight_spring_forward_can_be_reserved(make_tenant, caller_for, clock):
    # America/Santiago springs forward at midnight: on Sunday 2027-09-05, 00:00-01:00 does not exist
    clock.set(datetime(2027, 9, 1, 12, 0, tzinfo=UTC))
    vapi = caller_for(await make_tenant(**_clinic("America/Santiago", ["00:00-03:00"], 30, "CL")))
    openings = await _openings(vapi, "2027-09-05", limit=3)
    assert [o["start"] for o in openings] == [
        "2027-09-05T01:00:00-03:00", "2027-09-05T01:15:00-03:00", "2027-09-05T01:30:00-03:00"]
    held = await vapi.tool("reserve_slot", {"start": openings[0]["start"]})
    assert held["ok"], held
    skipped = await vapi.tool("reserve_slot", {"start": "2027-09-05T00:30"}, call_id="another-call")
    assert skipped["code"] == "nonexistent_time"


async def test_a_second_booking_in_one_call_for_another_person_needs_its_own_hold(make_tenant, caller_for, clock):
    vapi = caller_for(await make_tenant())
    held = await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"})
    booked = await vapi.tool("book_appointment", {"name": "Dana Whitfield"})
    assert booked["ok"] and held["ok"]
    again = await vapi.tool("book_appointment", {"name": "  dana   WHITFIELD "})
    assert again["already_booked"] and again["appointment_id"] == booked["appointment_id"]
    other = await vapi.tool("book_appointment", {"name": "Sam Whitfield"})
    assert other["ok"] is False and other["code"] == "no_active_hold"
    assert other["say"].startswith("I need to hold a time for that appointment first")
    assert "already" not in other["say"]
