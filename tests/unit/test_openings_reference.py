"""The fast openings equal the straightforward ones, over many zones and clock changes.

`openings` steps through grain starts each working interval works out once (kept on the Schedule) and
never converts a zone per candidate. The oracle here is the code it replaced, kept as it was: working time
worked out per call, `grain_starts` from `max(open, earliest)` with a zone conversion per candidate for
part_of_day. Hypothesis draws the clinic of test_working_time_properties (a zone, a day around one of its
clock changes, hours across it), adds a second resource, closures, notice, a horizon, busy rows, a window
with after/before (not on the minute) and part_of_day, a limit and one_per_time, and compares.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from domain.availability import PARTS_OF_DAY, Busy, Window, bookable_reason, openings
from domain.model import Closure, Opening, Resource, Schedule, Service
from domain.working_time import instant, on_grain

from .test_working_time_properties import PROPERTY_SETTINGS, UTC, clinics

# ---- the oracle: availability as it was before the memo ---------------------------------------------------

_MINUTE = timedelta(minutes=1)


def reference_grain_starts(first: datetime, last: datetime, tz: ZoneInfo, grain_minutes: int) -> Iterator[datetime]:
    grain = timedelta(minutes=grain_minutes)
    t = _next_on_grain(_ceil_minute(first), tz, grain_minutes)
    while t <= last:
        yield t
        step = t + grain
        if step.astimezone(tz).utcoffset() != t.astimezone(tz).utcoffset():
            step = _next_on_grain(t + _MINUTE, tz, grain_minutes)
        t = step


def _ceil_minute(t: datetime) -> datetime:
    t = t.astimezone(UTC)
    if t.second or t.microsecond:
        t = t.replace(second=0, microsecond=0) + _MINUTE
    return t


def _next_on_grain(t: datetime, tz: ZoneInfo, grain_minutes: int) -> datetime:
    local = t.astimezone(tz)
    guess = t + timedelta(minutes=(-local.minute) % grain_minutes)
    if on_grain(guess, tz, grain_minutes):
        return guess
    while not on_grain(t, tz, grain_minutes):
        t += _MINUTE
    return t



def reference_working_time(schedule: Schedule, resource: Resource, day: date) -> tuple[tuple[datetime, datetime], ...]:
    if schedule.is_closed(day, resource.id):
        return ()
    out = []
    for opens, closes in resource.hours.get(day.weekday(), ()):
        start, end = instant(day, opens, schedule.tz), instant(day, closes, schedule.tz)
        if start < end:
            out.append((start, end))
    return tuple(out)


def reference_fits(schedule: Schedule, resource: Resource, start: datetime, length: timedelta) -> bool:
    end = start + length
    local_day = start.astimezone(schedule.tz).date()
    for day in (local_day, local_day - timedelta(days=1)):
        if any(o <= start and end <= c for o, c in reference_working_time(schedule, resource, day)):
            return True
    return False


def reference_bookable_reason(schedule: Schedule, resource: Resource, service: Service, start: datetime,
                              now: datetime) -> str | None:
    if start <= now:
        return "in_the_past"
    day = start.astimezone(schedule.tz).date()
    if day > schedule.last_bookable_day(now):
        return "beyond_horizon"
    if start < now + timedelta(minutes=schedule.min_notice_minutes):
        return "too_soon"
    if schedule.is_closed(day, resource.id):
        return "closed"
    if not reference_fits(schedule, resource, start, timedelta(minutes=service.minutes)):
        return "outside_hours"
    if not on_grain(start, schedule.tz, schedule.slot_minutes):
        return "off_grain"
    return None


def _overlaps(busy: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> bool:
    i = bisect_left(busy, (end,))
    return i > 0 and busy[i - 1][1] > start


def reference_openings(schedule: Schedule, service: Service, resources: tuple[Resource, ...], busy: Busy,
                       now: datetime, window: Window, limit: int, one_per_time: bool = True) -> list[Opening]:
    tz = schedule.tz
    length = timedelta(minutes=service.minutes)
    earliest = now + timedelta(minutes=schedule.min_notice_minutes)
    if earliest <= now:
        earliest = now + timedelta(microseconds=1)
    if window.after is not None:
        earliest = max(earliest, window.after)
    last_day = min(window.last_day, schedule.last_bookable_day(now))
    parts = PARTS_OF_DAY.get(window.part_of_day or "")
    found: list[Opening] = []
    day = max(window.first_day, schedule.today(now))
    while day <= last_day and len(found) < limit:
        per_day: dict[object, Opening] = {}
        for resource in resources:
            taken = busy.get(resource.id, [])
            for open_at, close_at in reference_working_time(schedule, resource, day):
                for start in reference_grain_starts(max(open_at, earliest), close_at - length, tz,
                                                    schedule.slot_minutes):
                    if window.before is not None and start >= window.before:
                        break
                    if parts is not None and not parts[0] <= start.astimezone(tz).hour < parts[1]:
                        continue
                    key: object = start if one_per_time else (start, resource.id)
                    if key in per_day:
                        continue
                    end = start + length
                    if _overlaps(taken, start, end):
                        continue
                    per_day[key] = Opening(start, end, resource, service)
        ordered = sorted(per_day.values(), key=lambda o: (o.start, resources.index(o.resource)))
        found.extend(ordered[: limit - len(found)])
        day += timedelta(days=1)
    return found


# ---- the cases ----------------------------------------------------------------------------------------------


def _wall(minute: int) -> time:
    return time(minute // 60, minute % 60)


@st.composite
def searches(draw):
    schedule, service, day, _ = draw(clinics())
    first = schedule.resources[0]
    # a second resource, working on the day before, the day and the day after; some days in two ranges,
    # in either order and possibly overlapping (a tenant file cannot say that, a Schedule can)
    hours: dict[int, tuple[tuple[time, time], ...]] = {}
    for d in (day - timedelta(days=1), day, day + timedelta(days=1)):
        ranges = []
        for _ in range(draw(st.integers(1, 2))):
            opens = draw(st.integers(0, 23 * 60))
            closes = draw(st.integers(opens + 1, 23 * 60 + 59))
            ranges.append((_wall(opens), _wall(closes)))
        hours[d.weekday()] = tuple(ranges)
    second = Resource(11, "Dr Kim", frozenset({1}), hours)
    resources = draw(st.sampled_from([(first,), (first, second), (second, first)]))
    closures = draw(st.lists(st.builds(
        Closure, st.sampled_from([day - timedelta(days=1), day, day + timedelta(days=1)]),
        st.sampled_from([None, 10, 11])), max_size=2))
    day_start = instant(day, time(0), schedule.tz)
    now = day_start + timedelta(seconds=draw(st.integers(-36 * 3600, 30 * 3600)))
    schedule = dataclasses.replace(
        schedule, resources=(first, second), closures=tuple(closures),
        min_notice_minutes=draw(st.sampled_from([0, 0, 15, 60, 90, 24 * 60])),
        booking_horizon_days=draw(st.integers(0, 4)))
    span = (day_start - timedelta(hours=30), day_start + timedelta(hours=54))

    def moment():
        return span[0] + timedelta(seconds=draw(st.integers(0, int((span[1] - span[0]).total_seconds()))))

    window = Window(day - timedelta(days=draw(st.integers(0, 1))), day + timedelta(days=draw(st.integers(0, 1))),
                    after=draw(st.none() | st.builds(moment)), before=draw(st.none() | st.builds(moment)),
                    part_of_day=draw(st.sampled_from([None, *PARTS_OF_DAY])))
    # busy rows: some of the openings themselves, and stretches that need not sit on the grain
    free = reference_openings(schedule, service, resources, {}, now - timedelta(days=3),
                              Window(day - timedelta(days=1), day + timedelta(days=1)), 10_000, one_per_time=False)
    busy: Busy = {}
    for o in draw(st.lists(st.sampled_from(free), max_size=6, unique_by=lambda o: (o.start, o.resource.id))) \
            if free else []:
        busy.setdefault(o.resource.id, []).append((o.start, o.end))
    for resource_id in draw(st.lists(st.sampled_from([10, 11]), max_size=2)):
        start = moment()
        busy.setdefault(resource_id, []).append((start, start + timedelta(minutes=draw(st.integers(1, 180)))))
    for rows in busy.values():  # rows of one resource never overlap (the database guarantees it)
        rows.sort()
        kept = [rows[0]]
        for row in rows[1:]:
            if row[0] >= kept[-1][1]:
                kept.append(row)
        rows[:] = kept
    return schedule, service, resources, busy, now, window, draw(st.integers(1, 60)), draw(st.booleans())


@PROPERTY_SETTINGS
@given(searches())
def test_the_openings_are_those_of_the_straightforward_search(case):
    schedule, service, resources, busy, now, window, limit, one_per_time = case
    expected = reference_openings(schedule, service, resources, busy, now, window, limit, one_per_time)
    assert openings(schedule, service, resources, busy, now, window, limit, one_per_time) == expected
    # again, from the working time the first search kept on the schedule
    assert openings(schedule, service, resources, busy, now, window, limit, one_per_time) == expected


@PROPERTY_SETTINGS
@given(searches(), st.lists(st.integers(0, 5 * 24 * 3600), min_size=1, max_size=40))
def test_the_reserve_check_is_that_of_the_straightforward_code(case, offsets):
    schedule, service, resources, _, now, _, _, _ = case
    day_start = now.replace(second=0, microsecond=0) - timedelta(days=2)
    for offset in offsets:
        start = day_start + timedelta(seconds=offset - offset % 60 if offset % 3 else offset)
        for resource in resources:
            assert (bookable_reason(schedule, resource, service, start, now)
                    == reference_bookable_reason(schedule, resource, service, start, now))


def test_a_schedule_keeps_at_most_its_memos_limit_of_working_days_and_a_new_version_starts_afresh():
    schedule, service = _demo()
    limit = schedule.memo.LIMIT
    day = date(2027, 1, 4)
    for n in range(limit + 10):
        openings(schedule, service, schedule.resources, {}, datetime(2027, 1, 1, tzinfo=UTC),
                 Window(day + timedelta(days=n), day + timedelta(days=n)), 1)
        assert len(schedule.memo.shifts) <= limit
    assert len(schedule.memo.shifts) > 0
    assert dataclasses.replace(schedule, version=2).memo.shifts == {}


def _demo() -> tuple[Schedule, Service]:
    service = Service(1, "Cleaning", 30)
    resource = Resource(10, "Dr Lee", frozenset({1}), {d: ((time(9), time(17)),) for d in range(7)})
    schedule = Schedule(tenant_id=1, slug="t", name="T", tz=ZoneInfo("America/New_York"), country="US",
                        hold_minutes=10, slot_minutes=15, require_otp=False, booking_horizon_days=10_000,
                        min_notice_minutes=0, services=(service,), resources=(resource,))
    return schedule, service
