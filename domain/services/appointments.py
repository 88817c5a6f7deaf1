"""Appointments: booking the call's hold, looking up, cancelling, rescheduling, re-sending a confirmation."""

from __future__ import annotations

from datetime import timedelta

from .. import commands as c
from ..jobs import SEND_SMS
from ..model import Refused, Schedule, ToolContext
from ..ports import UnitOfWork
from ..results import AppointmentsFound, Booked, Cancelled, ConfirmationQueued, Rescheduled
from ..when import parse_moment
from ..wording.texts import confirmation_body
from .search import alternatives, bookable_on
from .steps import (appointment_of, caller_phone, own_appointment, queue_confirmation, release_holds, require_call,
                    require_verified)


#: confirmations re-sent on request, per appointment per hour
RESENDS_PER_HOUR = 3

async def book_appointment(cmd: c.BookAppointment, uow: UnitOfWork, ctx: ToolContext) -> Booked:
    call_id = require_call(ctx)
    schedule = await uow.schedule()
    phone = caller_phone(schedule, ctx, cmd.phone)
    await require_verified(uow, schedule, ctx, phone)
    return await book_hold(uow, schedule, ctx, call_id, cmd.name, phone, cmd.notes)

async def book_hold(uow: UnitOfWork, schedule: Schedule, ctx: ToolContext, call_id: str, name: str, phone: str,
                     notes: str | None) -> Booked:
    """Turn the call's active hold into an appointment, in this transaction, with its confirmation queued."""
    now = ctx.now
    hold = await uow.hold_of_call(call_id)
    if hold is None or not hold.hold_is_live(now):
        last = hold or await uow.last_booking_of_call(call_id)
        if last is not None and last.status == "booked" and _same_name(last.customer_name, name):
            # the assistant asked again (new toolCallId) after it had booked: same appointment, not a second one
            return Booked(appointment_of(last, schedule), name, phone, already=True)
        if last is not None and (last.status == "expired" or last.status == "held"):
            raise Refused("hold_expired")
        if last is not None and last.status == "booked":  # booking for someone else: that needs its own time
            raise Refused("no_active_hold", for_someone_else=True)
        raise Refused("no_active_hold")
    booked = await uow.book(hold.id, name, phone, notes, now)
    audit_id = await uow.audit(booked.id, "booked", call_id, ctx.tool_call_id, phone, hold.snapshot(),
                               booked.snapshot())
    await queue_confirmation(uow, schedule, "booked", booked, audit_id)
    return Booked(appointment_of(booked, schedule), name, phone)

def _same_name(a: str | None, b: str) -> bool:
    return " ".join((a or "").split()).casefold() == " ".join(b.split()).casefold()

async def lookup_appointments(cmd: c.LookupAppointments, uow: UnitOfWork, ctx: ToolContext) -> AppointmentsFound:
    schedule = await uow.schedule()
    phone = caller_phone(schedule, ctx, cmd.phone)
    await require_verified(uow, schedule, ctx, phone)
    found = await uow.appointments_by_phone(phone, ctx.now)
    return AppointmentsFound(phone, tuple(appointment_of(b, schedule) for b in found))

async def cancel_appointment(cmd: c.CancelAppointment, uow: UnitOfWork, ctx: ToolContext) -> Cancelled:
    schedule = await uow.schedule()
    appt = await own_appointment(uow, schedule, ctx, cmd.appointment_id, cmd.phone)
    if appt.status == "cancelled":
        return Cancelled(appointment_of(appt, schedule), already=True)
    if appt.starts_at <= ctx.now:
        raise Refused("in_the_past", appointment_id=appt.id, change="cancel")
    cancelled = await uow.cancel(appt.id, cmd.reason, ctx.now)
    audit_id = await uow.audit(appt.id, "cancelled", ctx.call_id, ctx.tool_call_id, appt.phone, appt.snapshot(),
                               cancelled.snapshot())
    await queue_confirmation(uow, schedule, "cancelled", cancelled, audit_id)
    return Cancelled(appointment_of(appt, schedule))

async def reschedule_appointment(cmd: c.RescheduleAppointment, uow: UnitOfWork, ctx: ToolContext) -> Rescheduled:
    schedule = await uow.schedule()
    now = ctx.now
    appt = await own_appointment(uow, schedule, ctx, cmd.appointment_id, cmd.phone)
    if appt.status != "booked":
        raise Refused("not_found", appointment_id=appt.id, change="reschedule")
    if appt.starts_at <= now:
        raise Refused("in_the_past", appointment_id=appt.id, change="reschedule")
    service = schedule.service(appt.service_id)
    if service is None:
        raise Refused("not_found", appointment_id=appt.id, service_gone=True)
    if cmd.resource is not None:
        resources = schedule.resources_for(service, cmd.resource)
    else:  # the same provider first, then anyone else who offers the service
        able = schedule.resources_for(service, None)
        resources = tuple(sorted(able, key=lambda r: r.id != appt.resource_id))
    start = parse_moment(cmd.start, schedule.tz, "start")
    candidates = await bookable_on(uow, schedule, service, resources, start, now)
    end = start + timedelta(minutes=service.minutes)
    if ctx.call_id:  # the caller may have put the new time on hold first: that hold is theirs to use
        hold = await uow.hold_of_call(ctx.call_id)
        if hold is not None and hold.starts_at < end and hold.ends_at > start:
            await release_holds(uow, ctx, ctx.call_id, "released")
    for resource in candidates:
        moved = await uow.try_move(appt.id, resource.id, start.astimezone(schedule.tz).date(), start, end, now)
        if moved is not None:
            audit_id = await uow.audit(appt.id, "rescheduled", ctx.call_id, ctx.tool_call_id, appt.phone,
                                       appt.snapshot(), moved.snapshot())
            await queue_confirmation(uow, schedule, "rescheduled", moved, audit_id)
            return Rescheduled(appointment_of(moved, schedule), appt.starts_at)
    alts = await alternatives(uow, schedule, service, resources, now, start)
    raise Refused("slot_taken", start=start, tz=schedule.tz, alternatives=alts, appointment_id=appt.id)

async def send_confirmation(cmd: c.SendConfirmation, uow: UnitOfWork, ctx: ToolContext) -> ConfirmationQueued:
    """Text the confirmation again on request, at most RESENDS_PER_HOUR times per appointment."""
    schedule = await uow.schedule()
    phone = caller_phone(schedule, ctx, None if ctx.caller_phone else cmd.phone)
    await require_verified(uow, schedule, ctx, phone)
    if cmd.appointment_id is not None:
        appt = await own_appointment(uow, schedule, ctx, cmd.appointment_id, cmd.phone)
    else:
        upcoming = await uow.appointments_by_phone(phone, ctx.now)
        if not upcoming:
            raise Refused("not_found", phone=phone)
        appt = upcoming[0]
    if appt.status != "booked" or appt.starts_at <= ctx.now:
        raise Refused("not_found", appointment_id=appt.id, change="confirm")
    prefix = f"resend:{appt.id}:"
    sent = await uow.count_sms(prefix, ctx.now - timedelta(hours=1))
    if sent >= RESENDS_PER_HOUR:
        raise Refused("rate_limited", appointment_id=appt.id, per_hour=RESENDS_PER_HOUR)
    sms_id = await uow.queue_sms("confirmation", f"{prefix}{sent + 1}", appt.phone or phone,
                                 confirmation_body("booked", schedule, appt))
    if sms_id is not None:
        await uow.enqueue(SEND_SMS.queue, SEND_SMS.actor, [uow.tenant_id, sms_id])
    return ConfirmationQueued(appointment_of(appt, schedule), appt.phone or phone)
