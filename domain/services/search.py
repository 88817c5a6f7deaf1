"""check_availability, and the searches reserving and rescheduling share: openings a week of busy rows at a
time, the nearest alternatives to a time that cannot be had, and why a start is not bookable."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from .. import commands as c
from ..availability import PARTS_OF_DAY, Window, bookable_reason, nearest, openings
from ..model import Opening, Refused, Resource, Schedule, Service, ToolContext, Unreadable
from ..ports import UnitOfWork
from ..results import OpeningsFound
from ..when import parse_day, parse_moment
from ..working_time import schedule_day_bounds


#: how many days of busy rows one availability query reads while widening towards the horizon
SEARCH_CHUNK_DAYS = 7

#: nearest alternatives offered when a time is taken or not bookable
ALTERNATIVES = 3

async def check_availability(cmd: c.CheckAvailability, uow: UnitOfWork, ctx: ToolContext) -> OpeningsFound:
    schedule = await uow.schedule()
    now = ctx.now
    service = schedule.service_named(cmd.service)
    resources = schedule.resources_for(service, cmd.resource)
    today = schedule.today(now)
    last_day = schedule.last_bookable_day(now)
    after = parse_moment(cmd.after, schedule.tz, "after") if cmd.after is not None else None
    before = parse_moment(cmd.before, schedule.tz, "before") if cmd.before is not None else None
    if cmd.part_of_day is not None and cmd.part_of_day not in PARTS_OF_DAY:
        raise Unreadable("part_of_day", "unreadable", field="part_of_day", value=cmd.part_of_day)
    if cmd.date is not None:
        first = final = parse_day(cmd.date, today)
        if first < today:
            raise Refused("in_the_past", day=first)
    else:
        first = after.astimezone(schedule.tz).date() if after else today
        final = before.astimezone(schedule.tz).date() if before else last_day
    if after is not None and cmd.date is not None and after.astimezone(schedule.tz).date() > first:
        first = final = after.astimezone(schedule.tz).date()
    if first > last_day:
        raise Refused("beyond_horizon", horizon_days=schedule.booking_horizon_days, last_day=last_day)
    window = Window(max(first, today), min(final, last_day), after, before, cmd.part_of_day)
    found = await search(uow, schedule, service, resources, now, window, cmd.limit)
    if not found:
        nxt = await _next_open_day(uow, schedule, service, resources, now, window.last_day + timedelta(days=1))
        raise Refused("no_availability", day=first if first == final else None,
                      horizon_days=schedule.booking_horizon_days, next_opening=nxt, tz=schedule.tz)
    return OpeningsFound(tuple(found), schedule.tz)

async def search(uow: UnitOfWork, schedule: Schedule, service: Service, resources: tuple[Resource, ...],
                  now: datetime, window: Window,
                  limit: int) -> list[Opening]:
    """Earliest openings in the window, reading busy rows a week at a time (most searches end in week one)."""
    found: list[Opening] = []
    day = window.first_day
    ids = [r.id for r in resources]
    while day <= window.last_day and len(found) < limit:
        chunk_end = min(day + timedelta(days=SEARCH_CHUNK_DAYS - 1), window.last_day)
        lo, hi = schedule_day_bounds(schedule, day)[0], schedule_day_bounds(schedule, chunk_end)[1]
        busy = await uow.busy(ids, lo, hi, now)
        sub = Window(day, chunk_end, window.after, window.before, window.part_of_day)
        found += openings(schedule, service, resources, busy, now, sub, limit - len(found))
        day = chunk_end + timedelta(days=1)
    return found

async def _next_open_day(uow: UnitOfWork, schedule: Schedule, service: Service, resources: tuple[Resource, ...],
                         now: datetime,
                         from_day: date) -> Opening | None:
    window = Window(from_day, schedule.last_bookable_day(now))
    found = await search(uow, schedule, service, resources, now, window, 1)
    return found[0] if found else None

async def alternatives(uow: UnitOfWork, schedule: Schedule, service: Service, resources: tuple[Resource, ...],
                        now: datetime,
                        target: datetime) -> tuple[Opening, ...]:
    day = max(target.astimezone(schedule.tz).date(), schedule.today(now))
    window = Window(day, min(day + timedelta(days=6), schedule.last_bookable_day(now)))
    found = await search(uow, schedule, service, resources, now, window, 40)
    return tuple(nearest(found, target, ALTERNATIVES))

#: why a time cannot be booked -> the refusal's code, most relevant first (past before closed before off-grain)
_REASONS = {
    "in_the_past": "in_the_past",
    "too_soon": "too_soon",
    "beyond_horizon": "beyond_horizon",
    "closed": "outside_hours",
    "outside_hours": "outside_hours",
    "off_grain": "off_grain",
}

async def bookable_on(uow: UnitOfWork, schedule: Schedule, service: Service, resources: tuple[Resource, ...],
                    start: datetime, now: datetime) -> tuple[Resource, ...]:
    """The resources on which `start` is within hours etc.; raises the most relevant reason otherwise."""
    reasons = [bookable_reason(schedule, r, service, start, now) for r in resources]
    ok = tuple(r for r, reason in zip(resources, reasons) if reason is None)
    if ok:
        return ok
    why = min((r for r in reasons if r is not None), key=list(_REASONS).index)
    rules: dict[str, dict[str, object]] = {
        "too_soon": {"notice_minutes": schedule.min_notice_minutes},
        "beyond_horizon": {"horizon_days": schedule.booking_horizon_days},
        "off_grain": {"grain_minutes": schedule.slot_minutes},
        "closed": {"closed": True},
    }
    rule = rules.get(why, {})
    alts = await alternatives(uow, schedule, service, resources, now, start)
    raise Refused(_REASONS[why], start=start, tz=schedule.tz, alternatives=alts, **rule)
