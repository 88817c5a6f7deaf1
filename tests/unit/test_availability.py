"""Openings from working hours, pure: grain, closing time, notice, horizon, closures, busy rows, DST."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from domain.availability import Window, bookable_reason, nearest, openings
from domain.model import Closure, Resource, Schedule, Service

UTC = timezone.utc
CLEANING = Service(1, "Cleaning", 30)


def schedule(tz: str = "America/New_York", hours=None, resources=None, closures=(), **kw) -> Schedule:
    hours = hours or {d: ((time(9), time(17)),) for d in range(7)}
    resources = resources or (Resource(10, "Dr Lee", frozenset({1}), hours),)
    values = dict(tenant_id=1, slug="t", name="T", tz=ZoneInfo(tz), country="US", hold_minutes=10, slot_minutes=15,
                  require_otp=False, booking_horizon_days=60, min_notice_minutes=0, services=(CLEANING,),
                  resources=tuple(resources), closures=tuple(closures))
    values.update(kw)
    return Schedule(**values)


def starts(s: Schedule, now: datetime, first: date, last: date | None = None, busy=None, limit=50, **window):
    found = openings(s, CLEANING, s.resources, busy or {}, now, Window(first, last or first, **window), limit)
    return [o.start.astimezone(s.tz) for o in found]


NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # Monday 07:00 in New York


def test_the_grain_counts_from_the_top_of_the_local_hour_and_services_end_by_closing():
    s = schedule(hours={2: ((time(9, 10), time(10, 0)),)})
    assert [t.strftime("%H:%M") for t in starts(s, NOW, date(2026, 3, 4))] == ["09:15", "09:30"]


def test_nine_oclock_is_nine_oclock_local_on_both_sides_of_each_us_clock_change():
    s = schedule()
    spring = [starts(s, datetime(2026, 3, 5, tzinfo=UTC), date(2026, 3, d), limit=1)[0] for d in (7, 9)]
    assert [t.hour for t in spring] == [9, 9]
    assert [t.utcoffset() for t in spring] == [timedelta(hours=-5), timedelta(hours=-4)]
    fall = [starts(s, datetime(2026, 10, 28, tzinfo=UTC), date(2026, d // 100, d % 100), limit=1)[0]
            for d in (1031, 1102)]
    assert [t.hour for t in fall] == [9, 9]
    assert [t.utcoffset() for t in fall] == [timedelta(hours=-4), timedelta(hours=-5)]


def test_a_skipped_wall_time_is_never_offered_and_both_occurrences_of_a_repeated_hour_are():
    night = schedule(hours={6: ((time(1, 0), time(4, 0)),)})
    spring = starts(night, datetime(2026, 3, 5, tzinfo=UTC), date(2026, 3, 8))
    assert all(t.hour != 2 for t in spring)
    assert "01:45" in [t.strftime("%H:%M") for t in spring]
    # 01:00 EST to 04:00 EDT is two absolute hours: the last 30-minute start is 03:30
    assert (spring[0].astimezone(UTC), spring[-1].astimezone(UTC)) == (
        datetime(2026, 3, 8, 6, 0, tzinfo=UTC), datetime(2026, 3, 8, 7, 30, tzinfo=UTC))
    fall = [t.astimezone(UTC) for t in starts(night, datetime(2026, 10, 28, tzinfo=UTC), date(2026, 11, 1))]
    # 01:00 EDT to 04:00 EST is four absolute hours: 01:xx EDT, 01:xx EST again, then 02:00-03:30 EST
    assert len(fall) == 15 and len(set(fall)) == 15
    assert all(b - a == timedelta(minutes=15) for a, b in zip(fall, fall[1:]))
    assert (fall[0], fall[-1]) == (datetime(2026, 11, 1, 5, 0, tzinfo=UTC), datetime(2026, 11, 1, 8, 30, tzinfo=UTC))


def test_an_opening_lasts_the_service_length_in_absolute_time_across_fall_back():
    london = schedule("Europe/London", hours={6: ((time(0, 30), time(3, 30)),)})
    twenty = Service(2, "Quick look", 20)
    found = openings(london, twenty, london.resources, {}, datetime(2027, 10, 28, tzinfo=UTC),
                     Window(date(2027, 10, 31), date(2027, 10, 31)), 50)
    assert found and all(o.end - o.start == timedelta(minutes=20) for o in found)
    quarter_to_two = [o for o in found if o.start.astimezone(london.tz).strftime("%H:%M") == "01:45"]
    assert [o.end.astimezone(london.tz).isoformat() for o in quarter_to_two] == [
        "2027-10-31T01:05:00+00:00", "2027-10-31T02:05:00+00:00"]


def test_london_and_kolkata():
    london = schedule("Europe/London")
    assert starts(london, datetime(2026, 3, 25, tzinfo=UTC), date(2026, 3, 29), limit=1)[0].utcoffset() == \
        timedelta(hours=1)
    kolkata = schedule("Asia/Kolkata")
    first = starts(kolkata, datetime(2026, 3, 2, tzinfo=UTC), date(2026, 3, 3), limit=4)
    assert [t.strftime("%H:%M") for t in first] == ["09:00", "09:15", "09:30", "09:45"]
    assert [t.astimezone(UTC).strftime("%H:%M") for t in first] == ["03:30", "03:45", "04:00", "04:15"]


def test_min_notice_horizon_and_closures_remove_openings():
    s = schedule(min_notice_minutes=150, booking_horizon_days=2,
                 closures=(Closure(date(2026, 3, 3)),))
    now = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 09:00 local + 2.5 h notice
    assert starts(s, now, date(2026, 3, 2), limit=1)[0].strftime("%H:%M") == "11:30"
    assert starts(s, now, date(2026, 3, 3)) == []  # closed
    assert starts(s, now, date(2026, 3, 4), limit=1)[0].date() == date(2026, 3, 4)
    assert starts(s, now, date(2026, 3, 5)) == []  # beyond the horizon


def test_a_closure_of_one_resource_leaves_the_others_open():
    hours = {d: ((time(9), time(17)),) for d in range(7)}
    s = schedule(resources=(Resource(10, "Dr Lee", frozenset({1}), hours), Resource(11, "Dr Kim", frozenset({1}), hours)),
                 closures=(Closure(date(2026, 3, 4), resource_id=10),))
    found = openings(s, CLEANING, s.resources, {}, NOW, Window(date(2026, 3, 4), date(2026, 3, 4)), 3)
    assert {o.resource.name for o in found} == {"Dr Kim"}


def test_busy_rows_remove_overlapping_starts_and_back_to_back_is_allowed():
    s = schedule()
    ten = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # 10:00 local
    busy = {10: [(ten, ten + timedelta(minutes=30))]}
    walls = [t.strftime("%H:%M") for t in starts(s, NOW, date(2026, 3, 4), busy=busy,
                                                after=ten - timedelta(hours=1), before=ten + timedelta(hours=1))]
    assert walls == ["09:00", "09:15", "09:30", "10:30", "10:45"]


def test_part_of_day_and_a_one_opening_per_time_with_the_first_free_resource():
    hours = {d: ((time(9), time(20)),) for d in range(7)}
    s = schedule(resources=(Resource(10, "Dr Lee", frozenset({1}), hours), Resource(11, "Dr Kim", frozenset({1}), hours)))
    day = date(2026, 3, 4)
    morning = openings(s, CLEANING, s.resources, {}, NOW, Window(day, day, part_of_day="morning"), 50)
    assert max(o.start.astimezone(s.tz).hour for o in morning) == 11
    assert len({o.start for o in morning}) == len(morning) and {o.resource.name for o in morning} == {"Dr Lee"}
    evening = openings(s, CLEANING, s.resources, {}, NOW, Window(day, day, part_of_day="evening"), 50)
    assert min(o.start.astimezone(s.tz).hour for o in evening) == 18
    nine = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)
    busy = {10: [(nine, nine + timedelta(minutes=30))]}
    first = openings(s, CLEANING, s.resources, busy, NOW, Window(day, day), 1)[0]
    assert (first.start, first.resource.name) == (nine, "Dr Kim")


def test_bookable_reason_names_why_a_time_cannot_be_booked():
    s = schedule(min_notice_minutes=60, booking_horizon_days=30, closures=(Closure(date(2026, 3, 6)),))
    r = s.resources[0]
    local = lambda d, h, m=0: datetime(2026, 3, d, h, m, tzinfo=s.tz)  # noqa: E731
    assert bookable_reason(s, r, CLEANING, local(1, 10), NOW) == "in_the_past"
    assert bookable_reason(s, r, CLEANING, local(2, 7, 30), NOW) == "too_soon"
    assert bookable_reason(s, r, CLEANING, datetime(2026, 5, 1, 10, tzinfo=s.tz), NOW) == "beyond_horizon"
    assert bookable_reason(s, r, CLEANING, local(6, 10), NOW) == "closed"
    assert bookable_reason(s, r, CLEANING, local(4, 16, 45), NOW) == "outside_hours"
    assert bookable_reason(s, r, CLEANING, local(4, 10, 7), NOW) == "off_grain"
    assert bookable_reason(s, r, CLEANING, local(4, 16, 30), NOW) is None


def test_nearest_picks_the_closest_three_in_time_order():
    s = schedule()
    found = openings(s, CLEANING, s.resources, {}, NOW, Window(date(2026, 3, 4), date(2026, 3, 4)), 50)
    target = datetime(2026, 3, 4, 15, 5, tzinfo=UTC)  # 10:05 local
    assert [o.start.astimezone(s.tz).strftime("%H:%M") for o in nearest(found, target)] == ["09:45", "10:00", "10:15"]
