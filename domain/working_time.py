"""Working time, defined once, in absolute time.

For a resource and a local day, working time is a tuple of absolute intervals `[open, close)` in UTC. Every
rule that asks "is this inside the working hours?" (openings, reserving, rescheduling, alternatives) uses
`working_time` and `on_grain` from here, so whatever is offered can be reserved and nothing outside it can.

Instants are UTC-aware datetimes and all arithmetic happens on them: in Python, `aware datetime +
timedelta` with a ZoneInfo is wall-clock arithmetic (01:45 BST + 20 minutes = 02:05 GMT, 80 minutes later
on the night the clocks go back), and two datetimes sharing one ZoneInfo compare by wall time. The clinic's
zone is used only to turn a local wall time into an instant (`instant`) and to read an instant's wall time.

Clock changes:
- a wall time skipped by a spring-forward change (02:30 in New York on the second Sunday of March) moves to
  the first instant after the gap (03:00 EDT): hours "02:30-05:00" that night are 03:00-05:00;
- a wall time repeated by a fall-back change means its first occurrence, so hours "00:30-03:30" on the
  night the clocks go back are four absolute hours long, and both occurrences of 01:xx are working time.
  Both are offered; the spoken answer says which one (see domain.wording.phrases).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from .model import Resource, Schedule

UTC = timezone.utc
_MINUTE = timedelta(minutes=1)
_DAY = timedelta(days=1)


def wall_exists(day: date, wall: time, tz: ZoneInfo) -> bool:
    """False when a clock change skips this wall time on this day."""
    naive = datetime.combine(day, wall)
    return naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive


def instant(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local wall time on a day: the first occurrence of a repeated wall time, or the
    first instant after the gap for a skipped one."""
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == naive:
        return first
    # Skipped. fold=1 reads it with the offset after the change, which puts it before the change; fold=0
    # with the offset before, which puts it after. The change lies between: find its first instant, the
    # first one whose wall time is at or past `naive` (wall time only moves forward across a gap).
    lo = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    hi = first
    if lo > hi:
        lo, hi = hi, lo
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid.astimezone(tz).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    return hi


@dataclass(frozen=True, slots=True)
class Shift:
    """One working interval `[opens, closes)` of a resource's local day, with its grain starts worked out
    once: `starts` is `grain_starts(opens, closes)` and `hours` the local hour of each (for part_of_day).
    The starts of a service of length L are the prefix up to `closes - L`, so searches step through these
    UTC instants and never convert a zone per candidate."""

    opens: datetime
    closes: datetime
    starts: tuple[datetime, ...]
    hours: tuple[int, ...]


def shifts(schedule: Schedule, resource: Resource, day: date) -> tuple[Shift, ...]:
    """The working intervals of `resource` on local `day` (none if closed), in order of opening, from the
    schedule's memo."""
    key = (resource.id, day)
    memo = schedule.memo.shifts
    found = memo.get(key)
    if found is None:
        if len(memo) >= schedule.memo.LIMIT:
            memo.clear()
        found = memo[key] = _shifts(schedule, resource, day)
    return found


def _shifts(schedule: Schedule, resource: Resource, day: date) -> tuple[Shift, ...]:
    if schedule.is_closed(day, resource.id):
        return ()
    tz = schedule.tz
    out = []
    for opens, closes in sorted(resource.hours.get(day.weekday(), ())):  # in order of opening
        start, end = instant(day, opens, tz), instant(day, closes, tz)
        if start < end:  # both inside one skipped gap: no working time left
            out.append(Shift(start, end, *_steps(schedule, start, end)))
    return tuple(out)


def _steps(schedule: Schedule, start: datetime, end: datetime) -> tuple[tuple[datetime, ...], tuple[int, ...]]:
    """The grain starts of `[start, end]` and their local hours, shared by every resource working it."""
    memo = schedule.memo.steps
    found = memo.get((start, end))
    if found is None:
        if len(memo) >= schedule.memo.LIMIT:
            memo.clear()
        steps = tuple(grain_steps(start, end, schedule.tz, schedule.slot_minutes))
        found = memo[(start, end)] = (tuple(t for t, _ in steps), tuple(local.hour for _, local in steps))
    return found


def working_time(schedule: Schedule, resource: Resource, day: date) -> tuple[tuple[datetime, datetime], ...]:
    """The absolute intervals `[open, close)` in which `resource` works on local `day` (none if closed)."""
    return tuple((s.opens, s.closes) for s in shifts(schedule, resource, day))


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The absolute span of a local day, `[00:00, next day's 00:00)`; every working interval of `day` lies
    inside it."""
    return instant(day, time(0), tz), instant(day + _DAY, time(0), tz)


def schedule_day_bounds(schedule: Schedule, day: date) -> tuple[datetime, datetime]:
    """`day_bounds` in the schedule's zone, from its memo."""
    memo = schedule.memo.bounds
    found = memo.get(day)
    if found is None:
        if len(memo) >= schedule.memo.LIMIT:
            memo.clear()
        found = memo[day] = day_bounds(day, schedule.tz)
    return found


def on_grain(start: datetime, tz: ZoneInfo, grain_minutes: int) -> bool:
    """Starts fall on the local grain, counted from the top of the local hour (grain divides 60)."""
    local = start.astimezone(tz)
    return local.minute % grain_minutes == 0 and local.second == 0 and local.microsecond == 0


def grain_starts(first: datetime, last: datetime, tz: ZoneInfo, grain_minutes: int) -> Iterator[datetime]:
    """The instants in `[first, last]` that fall on the local grain, in order.

    Steps by the grain in UTC; where the zone's offset changes between two steps (by an amount that need not
    be a multiple of the grain: Lord Howe's 30 minutes, Nepal's +5:45), it finds the next start again.
    """
    return (t for t, _ in grain_steps(first, last, tz, grain_minutes))


def grain_steps(first: datetime, last: datetime, tz: ZoneInfo,
                grain_minutes: int) -> Iterator[tuple[datetime, datetime]]:
    """`grain_starts`, each with its local reading in `tz` (one zone conversion per start)."""
    grain = timedelta(minutes=grain_minutes)
    t = first_on_grain(first, tz, grain_minutes)
    local = t.astimezone(tz)
    while t <= last:
        yield t, local
        step = t + grain
        step_local = step.astimezone(tz)
        if step_local.utcoffset() != local.utcoffset():
            step = _next_on_grain(t + _MINUTE, tz, grain_minutes)
            step_local = step.astimezone(tz)
        t, local = step, step_local


def fits(schedule: Schedule, resource: Resource, start: datetime, length: timedelta,
         local_day: date | None = None) -> bool:
    """`[start, start + length)` lies inside one working interval of the resource. `local_day`, the local
    date of `start`, if the caller has it already."""
    end = start + length
    if local_day is None:
        local_day = start.astimezone(schedule.tz).date()
    # the day before too: an open that falls in a gap spanning midnight moves onto the next local date
    for day in (local_day, local_day - _DAY):
        if any(s.opens <= start and end <= s.closes for s in shifts(schedule, resource, day)):
            return True
    return False


def first_on_grain(t: datetime, tz: ZoneInfo, grain_minutes: int) -> datetime:
    """The first start on the local grain at or after `t` (where `grain_starts(t, ...)` begins)."""
    return _next_on_grain(_ceil_minute(t), tz, grain_minutes)


def _ceil_minute(t: datetime) -> datetime:
    t = t.astimezone(UTC)
    if t.second or t.microsecond:
        t = t.replace(second=0, microsecond=0) + _MINUTE
    return t


def _next_on_grain(t: datetime, tz: ZoneInfo, grain_minutes: int) -> datetime:
    """The first whole-minute instant at or after `t` whose local minute is on the grain."""
    local = t.astimezone(tz)
    guess = t + timedelta(minutes=(-local.minute) % grain_minutes)
    if on_grain(guess, tz, grain_minutes):
        return guess
    # the offset changed within those few minutes: walk minute by minute (at most a couple of hours)
    while not on_grain(t, tz, grain_minutes):
        t += _MINUTE
    return t
