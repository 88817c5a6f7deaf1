"""Openings = working time (domain.working_time) minus busy rows, notice and horizon, on the local grain.

Pure functions over a Schedule and the busy intervals the store returns; no I/O. Instants are UTC.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from .model import Opening, Resource, Schedule, Service
from .working_time import first_on_grain, fits, grain_starts, shifts

_DAY = timedelta(days=1)

PARTS_OF_DAY = {"morning": (0, 12), "afternoon": (12, 18), "evening": (18, 24)}

Busy = dict[int, list[tuple[datetime, datetime]]]  # resource id -> sorted (start, end)


@dataclass(frozen=True)
class Window:
    """What the caller asked for. Days are local dates, inclusive."""

    first_day: date
    last_day: date
    after: datetime | None = None  # inclusive
    before: datetime | None = None  # an opening must start before this
    part_of_day: str | None = None


def _overlaps(busy: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> bool:
    # Active rows on one resource never overlap each other (the database guarantees it), so sorted by
    # start they are sorted by end too: only the last one starting before `end` can reach past `start`.
    i = bisect_left(busy, (end,))
    return i > 0 and busy[i - 1][1] > start


def bookable_reason(schedule: Schedule, resource: Resource, service: Service, start: datetime,
                    now: datetime) -> str | None:
    """Why `start` can never be offered for this resource and service (ignoring other bookings), or None.

    Returns one of: 'in_the_past', 'too_soon', 'beyond_horizon', 'closed', 'outside_hours', 'off_grain'.
    Uses the same working time and grain as `openings`, so every opening passes and nothing else does.
    """
    if start <= now:
        return "in_the_past"
    local = start.astimezone(schedule.tz)
    day = local.date()
    if day > schedule.last_bookable_day(now):
        return "beyond_horizon"
    if start < now + timedelta(minutes=schedule.min_notice_minutes):
        return "too_soon"
    if schedule.is_closed(day, resource.id):
        return "closed"
    if not fits(schedule, resource, start, timedelta(minutes=service.minutes), day):
        return "outside_hours"
    if local.minute % schedule.slot_minutes or local.second or local.microsecond:  # working_time.on_grain
        return "off_grain"
    return None


def openings(
    schedule: Schedule,
    service: Service,
    resources: tuple[Resource, ...],
    busy: Busy,
    now: datetime,
    window: Window,
    limit: int,
    one_per_time: bool = True,
) -> list[Opening]:
    """The earliest `limit` openings in `window`, earliest first, with UTC start and end.

    With `one_per_time`, a time free on several resources is offered once, with the first free resource
    in configuration order filled in.

    Candidates are the grain starts each working interval has worked out once (`working_time.shifts`), so
    no zone is converted per candidate: notice, `after` and `before` cut each interval's starts by
    bisection, part_of_day reads the start's precomputed local hour.
    """
    tz = schedule.tz
    length = timedelta(minutes=service.minutes)
    earliest = now + timedelta(minutes=schedule.min_notice_minutes)
    if earliest <= now:  # no notice: a start must still be in the future
        earliest = now + timedelta(microseconds=1)
    if window.after is not None:
        earliest = max(earliest, window.after)
    first_start: datetime | None = None  # the first start on the grain at or after `earliest`, when needed
    before = window.before
    last_day = min(window.last_day, schedule.last_bookable_day(now))
    parts = PARTS_OF_DAY.get(window.part_of_day or "")
    found: list[Opening] = []
    day = max(window.first_day, schedule.today(now))
    while day <= last_day and len(found) < limit:
        per_day: dict[object, tuple[datetime, int, Opening]] = {}
        for position, resource in enumerate(resources):
            taken = busy.get(resource.id, [])
            for shift in shifts(schedule, resource, day):
                starts = shift.starts
                last = shift.closes - length
                lo, hi = 0, bisect_right(starts, last)
                if earliest > shift.opens:
                    if first_start is None:
                        first_start = first_on_grain(earliest, tz, schedule.slot_minutes)
                    lo = bisect_left(starts, first_start)
                    if first_start <= last and (lo == hi or starts[lo] != first_start):
                        # the interval's starts skip this one (never seen in zone data): step as ever
                        starts = tuple(grain_starts(earliest, last, tz, schedule.slot_minutes))
                        hours = tuple(t.astimezone(tz).hour for t in starts)
                        lo, hi = 0, len(starts)
                    else:
                        hours = shift.hours
                else:
                    hours = shift.hours
                if before is not None:
                    hi = min(hi, bisect_left(starts, before, lo))
                for i in range(lo, hi):
                    if parts is not None and not parts[0] <= hours[i] < parts[1]:
                        continue
                    start = starts[i]
                    key: object = start if one_per_time else (start, resource.id)
                    if key in per_day:
                        continue
                    end = start + length
                    if _overlaps(taken, start, end):
                        continue
                    per_day[key] = (start, position, Opening(start, end, resource, service))
        ordered = sorted(per_day.values(), key=_time_then_position)
        found.extend(o for _, _, o in ordered[: limit - len(found)])
        day += _DAY
    return found


def _time_then_position(entry: tuple[datetime, int, Opening]) -> tuple[datetime, int]:
    return entry[0], entry[1]


def nearest(candidates: list[Opening], target: datetime, count: int = 3) -> list[Opening]:
    """The `count` openings closest in time to `target`, returned in time order."""
    picked = sorted(candidates, key=lambda o: (abs((o.start - target).total_seconds()), o.start))[:count]
    return sorted(picked, key=lambda o: o.start)
