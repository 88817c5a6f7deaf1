"""Speakable English for times, dates, lists and phone numbers, in the tenant's zone.

A text-to-speech voice reads these as they are: "Thursday March 12th at 2:30 in the afternoon with Dr Lee".
No ISO strings, no "14:30", no "PM".
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def speak_list(items: list[str], conj: str = "or") -> str:
    """'a', 'a or b', 'a, b, or c'."""
    items = [i for i in items if i]
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        return f"{items[0]} {conj} {items[1]}"
    return ", ".join(items[:-1]) + f", {conj} {items[-1]}"


def say_ending(e164: str) -> str:
    """'the number ending in 4 3 2 1': how a number is read back without saying all of it."""
    return "the number ending in " + " ".join(e164[-4:])


def ordinal(n: int) -> str:
    if 11 <= n % 100 <= 13:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


@lru_cache(maxsize=1024)  # the days of a horizon, said again and again
def say_day(d: date) -> str:
    """'Thursday March 12th'."""
    return f"{_DAYS[d.weekday()]} {_MONTHS[d.month - 1]} {ordinal(d.day)}"


@lru_cache(maxsize=24 * 60)
def say_clock(hour: int, minute: int) -> str:
    """'9 in the morning', '2:30 in the afternoon', 'noon', '6:15 in the evening', 'midnight'."""
    if hour == 12 and minute == 0:
        return "noon"
    if hour == 0 and minute == 0:
        return "midnight"
    h12 = hour % 12 or 12
    clock = f"{h12}" if minute == 0 else f"{h12}:{minute:02d}"
    if hour < 12:
        part = "at night" if hour < 5 else "in the morning"
    elif hour < 18:
        part = "in the afternoon"
    else:
        part = "in the evening" if hour < 22 else "at night"
    return f"{clock} {part}"


def say_wall(dt: datetime, tz: ZoneInfo) -> str:
    """The wall time of an instant in `tz`, in words. On the night the clocks go back a wall time happens
    twice, so it says which: '1:30 at night, before the clocks go back' / '..., after the clocks go back'."""
    return say_local_wall(dt.astimezone(tz))


def say_local_wall(local: datetime) -> str:
    """`say_wall` of an instant already read in the clinic's zone (`dt.astimezone(tz)`): callers that word
    several things about one instant convert it once."""
    text = say_clock(local.hour, local.minute)
    other = local.replace(fold=1 - local.fold)
    if other.utcoffset() != local.utcoffset():  # repeated wall time
        text += ", before the clocks go back" if local.fold == 0 else ", after the clocks go back"
    return text


def say_time(dt: datetime, tz: ZoneInfo) -> str:
    """'Thursday March 12th at 2:30 in the afternoon' for an aware datetime, in `tz`."""
    return say_local_time(dt.astimezone(tz))


def say_local_time(local: datetime) -> str:
    """`say_time` of an instant already read in the clinic's zone."""
    return f"{say_day(local.date())} at {say_local_wall(local)}"


def say_opening(start: datetime, tz: ZoneInfo, resource: str | None) -> str:
    return say_local_opening(start.astimezone(tz), resource)


def say_local_opening(local_start: datetime, resource: str | None) -> str:
    text = say_local_time(local_start)
    return f"{text} with {resource}" if resource else text


def say_openings(starts: list[tuple[datetime, str]], tz: ZoneInfo) -> str:
    """Several openings grouped by day: 'On Thursday March 12th I have 9 in the morning with Dr Lee or
    2:30 in the afternoon with Dr Kim. On Friday March 13th I have noon with Dr Lee.'"""
    return say_local_openings([(start.astimezone(tz), resource) for start, resource in starts])


def say_local_openings(starts: list[tuple[datetime, str]]) -> str:
    """`say_openings` of starts already read in the clinic's zone."""
    return say_local_openings_each(starts)[0]


def say_local_openings_each(starts: list[tuple[datetime, str]]) -> tuple[str, list[str]]:
    """`say_local_openings`, and each opening as `say_local_opening` says it, from one reading of each wall
    time (what a list of openings and the sentence offering them both need)."""
    by_day: dict[date, list[str]] = {}
    each = []
    for local, resource in starts:
        day, wall = local.date(), say_local_wall(local)
        by_day.setdefault(day, []).append(f"{wall} with {resource}")
        each.append(f"{say_day(day)} at {wall} with {resource}" if resource else f"{say_day(day)} at {wall}")
    parts = [f"On {say_day(d)} I have {speak_list(times, 'or')}." for d, times in by_day.items()]
    return " ".join(parts), each
