"""Openings = working time (domain.working_time) minus busy rows, notice and horizon, on the local grain.

Pure functions over a Schedule and the busy intervals the store returns; no I/O. Instants are UTC.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from .model import Opening, Resource, Schedule, Service
from .working_time import fits, grain_starts, on_grain, working_time

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
    day = start.astimezone(schedule.tz).date()
    if day > schedule.last_bookable_day(now):
        return "beyond_horizon"
    if start < now + timedelta(minutes=schedule.min_notice_minutes):
        return "too_soon"
    if schedule.is_closed(day, resource.id):
        return "closed"
    if not fits(schedule, resource, start, timedelta(minutes=service.minutes)):
        return "outside_hours"
    if not on_grain(start, schedule.tz, schedule.slot_minutes):
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
    """
    tz = schedule.tz
    length = timedelta(minutes=service.minutes)
    earliest = now + timedelta(minutes=schedule.min_notice_minutes)
    if earliest <= now:  # no notice: a start must still be in the future
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
            for open_at, close_at in working_time(schedule, resource, day):
                for start in grain_starts(max(open_at, earliest), close_at - length, tz, schedule.slot_minutes):
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


def nearest(candidates: list[Opening], target: datetime, count: int = 3) -> list[Opening]:
    """The `count` openings closest in time to `target`, returned in time order."""
    picked = sorted(candidates, key=lambda o: (abs((o.start - target).total_seconds()), o.start))[:count]
    return sorted(picked, key=lambda o: o.start)
