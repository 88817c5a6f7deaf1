"""Openings = working time (domain.working_time) minus busy rows, notice and horizon, on the local grain.

Pure functions over a Schedule and the busy intervals the store returns; no I/O. Instants are UTC.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from .model import Opening, Resource, Schedule, Service
from .working_time import first_on_grain, fits, grain_steps, shifts

_DAY = timedelta(days=1)
_NEVER = datetime.min.replace(tzinfo=timezone.utc)

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
        wanted = limit - len(found)
        per_day: dict[object, tuple[datetime, int, Opening]] = {}
        for position, resource in enumerate(resources):
            taken = busy.get(resource.id, [])
            # A resource's k-th free start of the day is the latest of its starts that can be among the
            # day's first k openings (each earlier one is an earlier time), so it stops there. Its intervals
            # come in order of opening, so a start is either later than those counted or one of them again.
            free, counted = 0, _NEVER
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
                        steps = tuple(grain_steps(earliest, last, tz, schedule.slot_minutes))
                        starts, hours = tuple(t for t, _ in steps), tuple(local.hour for _, local in steps)
                        lo, hi = 0, len(starts)
                    else:
                        hours = shift.hours
                else:
                    hours = shift.hours
                if before is not None:
                    hi = min(hi, bisect_left(starts, before, lo))
                for a, b in _clear_of(taken, starts, lo, hi, length):
                    for i in range(a, b):
                        if parts is not None and not parts[0] <= hours[i] < parts[1]:
                            continue
                        start = starts[i]
                        key: object = start if one_per_time else (start, resource.id)
                        if key not in per_day:
                            per_day[key] = (start, position, Opening(start, start + length, resource, service))
                        if start > counted:
                            free, counted = free + 1, start
                            if free == wanted:
                                break
                    if free == wanted:
                        break
                if free == wanted:
                    break
        ordered = sorted(per_day.values(), key=_time_then_position)
        found.extend(o for _, _, o in ordered[:wanted])
        day += _DAY
    return found


def _clear_of(taken: list[tuple[datetime, datetime]], starts: tuple[datetime, ...], lo: int, hi: int,
              length: timedelta) -> Iterator[tuple[int, int]]:
    """The runs `[a, b)` of indexes in `starts[lo:hi]` whose `[start, start + length)` overlaps no busy row.

    Active rows on one resource never overlap each other (the database guarantees it), so sorted by start
    they are sorted by end too: the free starts lie in the gaps between consecutive rows, found by bisection
    instead of a look-up per start.
    """
    if lo >= hi:
        return
    first, reach = starts[lo], starts[hi - 1] + length
    k = max(bisect_left(taken, (first,)) - 1, 0)  # the last row starting before the first start can reach it
    for row_start, row_end in taken[k:bisect_left(taken, (reach,), k)]:
        b = bisect_right(starts, row_start - length, lo, hi)  # ends by the time the row starts
        if b > lo:
            yield lo, b
        lo = max(lo, bisect_left(starts, row_end, lo, hi))  # starts once the row has ended
        if lo >= hi:
            return
    yield lo, hi


def _time_then_position(entry: tuple[datetime, int, Opening]) -> tuple[datetime, int]:
    return entry[0], entry[1]


def nearest(candidates: list[Opening], target: datetime, count: int = 3) -> list[Opening]:
    """The `count` openings closest in time to `target`, returned in time order."""
    picked = sorted(candidates, key=lambda o: (abs((o.start - target).total_seconds()), o.start))[:count]
    return sorted(picked, key=lambda o: o.start)
