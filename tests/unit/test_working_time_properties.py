"""Properties of working time and openings, over many zones and every clock change of the next two years.

Hypothesis draws a zone (half the time from a list of awkward ones: changes at midnight, 30-minute changes,
odd offsets, negative summer time), a day around one of that zone's clock changes, working hours near the
change, a service length that need not divide the hour and a grain. The properties are checked against an
independent oracle that scans minute by minute, not against the code's own helpers.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, available_timezones

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.availability import Window, bookable_reason, openings
from domain.model import Opening, Resource, Schedule, Service
from domain.working_time import day_bounds

UTC = timezone.utc
FIRST_DAY, LAST_DAY = date(2026, 12, 1), date(2028, 12, 1)  # "the next two years"
GRAINS = (5, 6, 10, 12, 15, 20, 30, 60)  # every grain the tenant file accepts (divides the hour, 5-60)
AWKWARD = (
    "America/Santiago", "America/Asuncion", "America/Havana", "Asia/Beirut", "Africa/Cairo",  # at midnight
    "Australia/Lord_Howe",  # 30-minute change
    "Pacific/Chatham", "America/St_Johns", "Asia/Kathmandu", "Australia/Eucla", "Pacific/Marquesas",  # odd offsets
    "Europe/Dublin",  # negative summer time in the zone data
    "Antarctica/Troll",  # a two-hour change
    "Africa/Casablanca",  # changes around Ramadan
    "Europe/London", "America/New_York", "Australia/Adelaide", "Asia/Kolkata", "Pacific/Kiritimati",
)
ALL_ZONES = tuple(sorted(available_timezones()))
PROPERTY_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.lru_cache(maxsize=None)
def changes(zone: str) -> tuple[datetime, ...]:
    """The instants (UTC) at which the zone's offset changes between FIRST_DAY and LAST_DAY."""
    tz = ZoneInfo(zone)
    found: list[datetime] = []
    t = datetime.combine(FIRST_DAY, time(0), UTC)
    end = datetime.combine(LAST_DAY, time(0), UTC)
    while t < end:
        nxt = t + timedelta(hours=6)
        if t.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
            lo, hi = t, nxt  # bisect to the second
            while hi - lo > timedelta(seconds=1):
                mid = lo + timedelta(seconds=(hi - lo).total_seconds() // 2)
                if mid.astimezone(tz).utcoffset() == lo.astimezone(tz).utcoffset():
                    lo = mid
                else:
                    hi = mid
            found.append(hi)
        t = nxt
    return tuple(found)


def _minute_of_day(local: datetime) -> int:
    return local.hour * 60 + local.minute


def oracle_instant(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The first minute whose wall time is at or past `wall` on `day`: the first occurrence of a repeated
    wall time, the first instant after the gap for a skipped one. Found by scanning, minute by minute."""
    naive = datetime.combine(day, wall)
    t = naive.replace(tzinfo=UTC) - timedelta(hours=16)
    while t.astimezone(tz).replace(tzinfo=None) < naive:
        t += timedelta(minutes=1)
    return t


@st.composite
def clinics(draw):
    zone = draw(st.one_of(
        st.sampled_from([z for z in AWKWARD if z in ALL_ZONES]),
        st.sampled_from(ALL_ZONES).filter(lambda z: bool(changes(z))),  # any zone that changes its clocks
        st.sampled_from(ALL_ZONES),
    ))
    tz = ZoneInfo(zone)
    around = None  # the minute of the local day at which the clocks change, if they change that day
    if changes(zone):
        change = draw(st.sampled_from(changes(zone)))
        before, after = (change - timedelta(seconds=1)).astimezone(tz), change.astimezone(tz)
        day = draw(st.sampled_from([before.date(), after.date(), before.date() - timedelta(days=1),
                                    after.date() + timedelta(days=1)]))
        if day == after.date():
            around = _minute_of_day(after)
        elif day == before.date():
            around = _minute_of_day(before) + 1
    else:
        day = draw(st.dates(FIRST_DAY, LAST_DAY))
    minutes = draw(st.one_of(st.integers(5, 90), st.integers(5, 240)))
    last = 23 * 60 + 59
    if around is not None and draw(st.integers(0, 9)) < 8:  # mostly, working hours that cross the change
        opens = max(0, around - draw(st.integers(0, minutes + 60)))
        closes = min(last, max(around + draw(st.integers(0, 120)), opens + minutes + draw(st.integers(0, 90))))
    else:
        opens = draw(st.integers(0, last - 1))
        closes = draw(st.integers(opens + 1, last))
    if opens >= closes:
        opens = closes - 1
    ranges = [(time(opens // 60, opens % 60), time(closes // 60, closes % 60))]
    if closes <= 22 * 60 and draw(st.booleans()):  # a second range later that day
        later = draw(st.integers(closes, 23 * 60))
        ranges.append((time(later // 60, later % 60), time(23, 59)))
    service = Service(1, "Visit", minutes)
    resource = Resource(10, "Dr Lee", frozenset({1}), {day.weekday(): tuple(ranges)})
    schedule = Schedule(
        tenant_id=1, slug="t", name="T", tz=tz, country="US", hold_minutes=10,
        slot_minutes=draw(st.sampled_from(GRAINS)), require_otp=False, booking_horizon_days=366,
        min_notice_minutes=0, services=(service,), resources=(resource,),
    )
    now = datetime.combine(day - timedelta(days=3), time(0), UTC)
    return schedule, service, day, now


def _openings(schedule: Schedule, service: Service, first: date, last: date, now: datetime,
              busy=None) -> list[Opening]:
    return openings(schedule, service, schedule.resources, busy or {}, now, Window(first, last), 10_000,
                    one_per_time=False)


@PROPERTY_SETTINGS
@given(clinics())
def test_every_opening_lasts_exactly_the_service_length_in_absolute_time(case):
    schedule, service, day, now = case
    for o in _openings(schedule, service, day, day, now):
        assert o.start.utcoffset() == timedelta(0)  # instants are UTC
        assert o.end.astimezone(UTC) - o.start.astimezone(UTC) == timedelta(minutes=service.minutes)


@PROPERTY_SETTINGS
@given(clinics())
def test_the_openings_are_exactly_the_starts_on_the_local_grain_inside_working_time(case):
    """Every opening lies inside working time and starts on the local grain, and every such start is offered:
    checked against working time found by scanning the clock minute by minute."""
    schedule, service, day, now = case
    tz, length = schedule.tz, timedelta(minutes=service.minutes)
    expected = []
    for opens, closes in schedule.resources[0].hours[day.weekday()]:
        t, close = oracle_instant(day, opens, tz), oracle_instant(day, closes, tz)
        while t + length <= close:
            if t.astimezone(tz).minute % schedule.slot_minutes == 0:
                expected.append(t)
            t += timedelta(minutes=1)
    found = _openings(schedule, service, day, day, now)
    assert [o.start for o in found] == sorted(set(expected))
    for o in found:
        local = o.start.astimezone(tz)
        assert local.minute % schedule.slot_minutes == 0 and local.second == 0 and local.microsecond == 0


@PROPERTY_SETTINGS
@given(clinics())
def test_the_reserve_check_accepts_exactly_the_openings(case):
    """Whatever is offered can be reserved, and no other start in the day can."""
    schedule, service, day, now = case
    resource = schedule.resources[0]
    offered = {o.start for o in _openings(schedule, service, day - timedelta(days=1), day + timedelta(days=1), now)}
    lo, hi = day_bounds(day, schedule.tz)
    accepted = set()
    t = lo
    while t < hi:
        if bookable_reason(schedule, resource, service, t, now) is None:
            accepted.add(t)
        t += timedelta(minutes=1)
    assert accepted == {s for s in offered if lo <= s < hi}


@PROPERTY_SETTINGS
@given(clinics(), st.lists(st.integers(0, 10_000), min_size=1, max_size=4))
def test_openings_the_store_accepts_never_overlap_and_take_nothing_else(case, picks):
    schedule, service, day, now = case
    busy: dict[int, list[tuple[datetime, datetime]]] = {10: []}
    found = _openings(schedule, service, day, day, now)
    for pick in picks:
        if not found:
            break
        booked = found[pick % len(found)]
        busy[10] = sorted(busy[10] + [(booked.start, booked.end)])
        after = _openings(schedule, service, day, day, now, busy)
        for o in after:  # nothing offered overlaps anything booked
            assert all(o.end <= b_start or o.start >= b_end for b_start, b_end in busy[10])
        # and booking took away exactly the openings that overlap it
        assert [o.start for o in after] == [
            o.start for o in found if o.end <= booked.start or o.start >= booked.end]
        found = after
