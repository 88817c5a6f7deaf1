"""Reading the dates and times callers (through the LLM) give us, in the tenant's zone, DST-correct.

- dates: 'YYYY-MM-DD', 'today', 'tomorrow', weekday names ('thursday', 'next thursday': the next one,
  today included).
- times: local 'YYYY-MM-DDTHH:MM' (tenant zone) or ISO 8601 with an offset or 'Z'.
A local wall time that does not exist (skipped by a spring-forward change) is reported, never shifted
silently; an ambiguous one (repeated by a fall-back change) means its first occurrence.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from .model import UTC, Refused, Unreadable

_WEEKDAY_NAMES = {
    "monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "tues": 1, "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thur": 3, "thurs": 3, "friday": 4, "fri": 4, "saturday": 5, "sat": 5,
    "sunday": 6, "sun": 6,
}
_LOCAL_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")


def parse_day(value: object, today: date, field: str = "date") -> date:
    """A calendar day from 'YYYY-MM-DD', 'today', 'tomorrow' or a weekday name."""
    if not isinstance(value, str):
        raise Unreadable("date", "wrong_type", field=field, value=value)
    text = value.strip().lower()
    if text == "today":
        return today
    if text == "tomorrow":
        return today + timedelta(days=1)
    for prefix in ("next ", "this ", "on "):
        if text.startswith(prefix):
            text = text[len(prefix):].strip()
    if text in _WEEKDAY_NAMES:
        return today + timedelta(days=(_WEEKDAY_NAMES[text] - today.weekday()) % 7)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Unreadable("date", "unreadable", field=field, value=value) from None


def parse_moment(value: object, tz: ZoneInfo, field: str) -> datetime:
    """An aware datetime from a local 'YYYY-MM-DDTHH:MM' (tenant zone) or an ISO string with offset."""
    if not isinstance(value, str):
        raise Unreadable("date_time", "wrong_type", field=field, value=value)
    text = value.strip()
    if len(text) > 40:
        raise Unreadable("date_time", "too_long", field=field, value=value)
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise Unreadable("date_time", "unreadable", field=field, value=value) from None
    if not 1900 <= parsed.year <= 2999:
        raise Unreadable("date_time", "out_of_range", field=field, value=value)
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    if not _LOCAL_RE.match(text):
        raise Unreadable("date_time", "needs_time", field=field, value=value)
    # working_time.wall_exists and .instant in one conversion: an existing wall time is its first occurrence
    first = parsed.replace(tzinfo=tz).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) != parsed:
        raise Refused("nonexistent_time", day=parsed.date(), wall=parsed.time())
    return first

