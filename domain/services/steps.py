"""Steps several use cases share, each written once: which call and phone this is, whether the call is
still open, whether the caller is verified, releasing a call's hold, queuing a confirmation text."""

from __future__ import annotations

from ..jobs import SEND_SMS
from ..model import Booking, Refused, Schedule, ToolContext
from ..phones import to_e164
from ..ports import UnitOfWork
from ..results import Appointment
from ..wording.texts import confirmation_body


def appointment_of(b: Booking, schedule: Schedule) -> Appointment:
    return Appointment(b, schedule.service(b.service_id), schedule.resource(b.resource_id), schedule.tz)

def require_call(ctx: ToolContext) -> str:
    if not ctx.call_id:
        raise Refused("missing_call")
    return ctx.call_id

def caller_phone(schedule: Schedule, ctx: ToolContext, given: str | None) -> str:
    raw = given or ctx.caller_phone
    if not raw:
        raise Refused("phone_required")
    return to_e164(raw, schedule.country)

async def require_open_call(uow: UnitOfWork, call_id: str) -> None:
    """The one check that a call is still open: nothing is held or texted for a call that has ended."""
    if await uow.open_call(call_id) == "ended":
        raise Refused("call_ended")

async def release_holds(uow: UnitOfWork, ctx: ToolContext, call_id: str, action: str) -> int:
    """Release the call's hold (if any) and audit it as `action` ('released' or 'replaced'); returns how many."""
    released = await uow.release_holds_of_call(call_id, ctx.now)
    for old in released:
        await uow.audit_hold_ended(old, action, call_id, ctx.tool_call_id)
    return len(released)

async def require_verified(uow: UnitOfWork, schedule: Schedule, ctx: ToolContext, phone: str) -> None:
    """With require_otp, the phone acted on must be the one verified by code in this call."""
    if not schedule.require_otp:
        return
    verified = await uow.verified_phone(ctx.call_id) if ctx.call_id else None
    if verified != phone:
        raise Refused("otp_required", phone=phone)

async def own_appointment(uow: UnitOfWork, schedule: Schedule, ctx: ToolContext, appointment_id: int,
                           phone_arg: str | None) -> Booking:
    # Only for the caller's own number: caller ID, or the number given on a web call that has none.
    phone = caller_phone(schedule, ctx, None if ctx.caller_phone else phone_arg)
    await require_verified(uow, schedule, ctx, phone)
    appt = await uow.appointment(appointment_id)
    if appt is None or appt.phone != phone:
        raise Refused("not_found", appointment_id=appointment_id, phone=phone)
    return appt

async def queue_confirmation(uow: UnitOfWork, schedule: Schedule, change: str, booking: Booking, audit_id: int) -> None:
    """Exactly one automatic text per booking change: its sms row is keyed by the change's audit row, and
    it is queued in the same transaction as the change (the outbox), so it is never lost."""
    if not booking.phone:
        return
    sms_id = await uow.queue_sms("confirmation", f"confirmation:{audit_id}", booking.phone,
                                 confirmation_body(change, schedule, booking))
    if sms_id is not None:
        await uow.enqueue(SEND_SMS.queue, SEND_SMS.actor, [uow.tenant_id, sms_id])
