"""Holding a time for a call, letting it go, and the call's end releasing it."""

from __future__ import annotations

from datetime import datetime, timedelta

from .. import commands as c
from ..jobs import EXPIRE_HOLD
from ..model import Opening, Refused, ToolContext
from ..ports import UnitOfWork
from ..results import SlotHeld, SlotReleased
from ..when import parse_moment
from .search import alternatives, bookable_on
from .steps import release_holds, require_call


async def reserve(cmd: c.ReserveSlot, uow: UnitOfWork, ctx: ToolContext) -> SlotHeld:
    call_id = require_call(ctx)
    schedule = await uow.schedule()
    now = ctx.now
    service = schedule.service_named(cmd.service)
    resources = schedule.resources_for(service, cmd.resource)
    start = parse_moment(cmd.start, schedule.tz, "start")
    candidates = await bookable_on(uow, schedule, service, resources, start, now)
    end = start + timedelta(minutes=service.minutes)
    expires = now + timedelta(minutes=schedule.hold_minutes)
    # one round trip: the call still open, its previous hold replaced, the time held on the first candidate
    # where it is free (audited, its expiry queued)
    attempt = await uow.hold_for_call(call_id, ctx.tool_call_id, [r.id for r in candidates], service.id,
                                      start.astimezone(schedule.tz).date(), start, end, expires, now, EXPIRE_HOLD)
    if attempt.call_ended:
        raise Refused("call_ended")
    if attempt.hold is not None:
        resource = next(r for r in candidates if r.id == attempt.hold.resource_id)
        return SlotHeld(attempt.hold, Opening(start, end, resource, service), expires, schedule.hold_minutes,
                        schedule.tz)
    alts = await alternatives(uow, schedule, service, resources, now, start)
    raise Refused("slot_taken", start=start, tz=schedule.tz, alternatives=alts)

async def reserve_slot(cmd: c.ReserveSlot, uow: UnitOfWork, ctx: ToolContext) -> SlotHeld:
    return await reserve(cmd, uow, ctx)

async def release_slot(cmd: c.ReleaseSlot, uow: UnitOfWork, ctx: ToolContext) -> SlotReleased:
    call_id = require_call(ctx)
    return SlotReleased(await release_holds(uow, ctx, call_id, "released"))

async def end_call(cmd: c.EndCall, uow: UnitOfWork, now: datetime) -> int:
    """The call ended: release its holds at once (idempotently) and mark it ended. Returns holds released."""
    async with uow:
        released = await uow.end_call(cmd.call_id, cmd.reason, now)
        for old in released:
            await uow.audit_hold_ended(old, "released", cmd.call_id, None)
        await uow.commit()
    return len(released)
