"""Openings = working hours (local, DST-correct) minus closures, busy rows, min notice; on the grain.

Pure functions over a Schedule and the busy intervals the store returns; no I/O.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from .model import Opening, Resource, Schedule, Service
from .when import local_datetime

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


def _grain_starts(opens: time, closes: time, grain: int) -> list[time]:
    """Start wall times on the grain counted from the top of the local hour, from opens until closes."""
    first = opens.hour * 60 + opens.minute
    first = -(-first // grain) * grain  # round up to the grain
    last = closes.hour * 60 + closes.minute
    return [time(m // 60, m % 60) for m in range(first, last, grain) if m < 24 * 60]


def _overlaps(busy: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> bool:
    # Active rows on one resource never overlap each other (the database guarantees it), so sorted by
    # start they are sorted by end too: only the last one starting before `end` can reach past `start`.
    i = bisect_left(busy, (end,))
    return i > 0 and busy[i - 1][1] > start


def bookable_reason(schedule: Schedule, resource: Resource, service: Service, start: datetime,
                    now: datetime) -> str | None:
    """Why `start` can never be offered for this resource and service (ignoring other bookings), or None.

    Returns one of: 'in_the_past', 'too_soon', 'beyond_horizon', 'closed', 'outside_hours', 'off_grain'.
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
    end = start + timedelta(minutes=service.minutes)
    for opens, closes in resource.hours.get(day.weekday(), ()):
        o = local_datetime(day, opens, schedule.tz)
        c = local_datetime(day, closes, schedule.tz)
        if o is None or c is None:
            continue
        if o <= start and end <= c:
            minute = local.hour * 60 + local.minute
            if minute % schedule.slot_minutes or local.second or local.microsecond:
                return "off_grain"
            return None
    return "outside_hours"


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
    """The earliest `limit` openings in `window`, earliest first.

    With `one_per_time`, a time free on several resources is offered once, with the first free resource
    in configuration order filled in.
    """
    tz = schedule.tz
    earliest = now + timedelta(minutes=schedule.min_notice_minutes)
    last_day = min(window.last_day, schedule.last_bookable_day(now))
    length = timedelta(minutes=service.minutes)
    found: list[Opening] = []
    day = max(window.first_day, schedule.today(now))
    # Wall times well before `earliest` on its own day cannot qualify: skip them before any zone maths
    # (the margin covers any DST shift).
    earliest_local = earliest.astimezone(tz)
    skip_before = (earliest_local - timedelta(hours=3)).time() if earliest_local.hour >= 3 else time(0)
    while day <= last_day and len(found) < limit:
        per_day: dict[datetime, Opening] = {}
        for resource in resources:
            if schedule.is_closed(day, resource.id):
                continue
            taken = busy.get(resource.id, [])
            for opens, closes in resource.hours.get(day.weekday(), ()):
                close_at = local_datetime(day, closes, tz)
                if close_at is None:
                    continue
                for wall in _grain_starts(opens, closes, schedule.slot_minutes):
                    if day == earliest_local.date() and wall < skip_before:
                        continue
                    if window.part_of_day:
                        lo, hi = PARTS_OF_DAY[window.part_of_day]
                        if not lo <= wall.hour < hi:
                            continue
                    start = local_datetime(day, wall, tz)
                    if start is None:  # skipped by a spring-forward change: never offered
                        continue
                    end = start + length
                    if end > close_at or start < earliest:
                        continue
                    if window.after is not None and start < window.after:
                        continue
                    if window.before is not None and start >= window.before:
                        continue
                    if one_per_time and start in per_day:
                        continue
                    if _overlaps(taken, start, end):
                        continue
                    opening = Opening(start, end, resource, service)
                    if one_per_time:
                        per_day[start] = opening
                    else:
                        per_day[(start, resource.id)] = opening  # type: ignore[index]
        ordered = sorted(per_day.values(), key=lambda o: (o.start, resources.index(o.resource)))
        found.extend(ordered[: limit - len(found)])
        day += timedelta(days=1)
    return found


def nearest(candidates: list[Opening], target: datetime, count: int = 3) -> list[Opening]:
    """The `count` openings closest in time to `target`, returned in time order."""
    picked = sorted(candidates, key=lambda o: (abs((o.start - target).total_seconds()), o.start))[:count]
    return sorted(picked, key=lambda o: o.start)
