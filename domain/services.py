"""Use cases: (command, unit of work, context) -> result.

Each returns one of `domain.results` or raises `Refused` (a machine code and facts). None of them words
anything: `execute` runs one inside a transaction with tool-call idempotency and hands its result or
refusal to the presenter it is given, the one place where outcomes become what the caller hears.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from . import commands as c
from .availability import PARTS_OF_DAY, Window, bookable_reason, nearest, openings
from .jobs import EXPIRE_HOLD, SEND_CODE, SEND_SMS
from .model import Booking, Opening, Refused, Resource, Schedule, Service, ToolContext, Unreadable
from .otp import code_matches, normalize_code
from .phones import to_e164
from .ports import UnitOfWork
from .results import (
    Appointment, AppointmentsFound, Booked, Cancelled, CodeSent, ConfirmationQueued, OpeningsFound, OtpRejected,
    Outcome, Rescheduled, Result, SlotHeld, SlotHeldCodeSent, SlotReleased, Verified, outcome_code,
)
from .when import parse_day, parse_moment
from .wording.texts import confirmation_body
from .working_time import day_bounds

#: how many days of busy rows one availability query reads while widening towards the horizon
SEARCH_CHUNK_DAYS = 7
#: nearest alternatives offered when a time is taken or not bookable
ALTERNATIVES = 3
#: confirmations re-sent on request, per appointment per hour
RESENDS_PER_HOUR = 3

Handler = Callable[[UnitOfWork, ToolContext], Awaitable[Result]]
#: words an outcome as the tool's answer (the JSON string stored and returned), e.g. domain.wording.presenter.answer
Present = Callable[[Outcome], str]


@dataclass(frozen=True)
class ToolAnswer:
    text: str  # the tool's `result`, exactly as stored
    outcome: str  # "ok", a refusal's code, or "replayed" when the stored answer of an earlier call was returned


async def execute(uow: UnitOfWork, ctx: ToolContext, name: str, handler: Handler, present: Present) -> ToolAnswer:
    """Run one tool call exactly once per (tenant, toolCallId); a replay gets the stored result, byte for byte.

    Writing tools claim the id first (a concurrent duplicate waits, then reads the stored answer) and run
    inside a savepoint, so a Refused undoes everything the tool did while its answer is still stored.
    Read-only tools (`uow.read_only`) compute first and store after, in autocommit.

    The answer is stored in the same transaction as the change it reports, so it must be worded here, before
    commit; `present` is a parameter (not an import) so that the runner stays free of wording and the caller
    chooses it (the webhook passes domain.wording.presenter.answer; a second language would pass its own).
    """
    writes = not uow.read_only
    async with uow:
        key = ctx.tool_call_id
        if key and writes:
            stored = await uow.claim_tool_call(key, ctx.call_id, name)
            if stored is not None:
                return ToolAnswer(stored, "replayed")
        # A read-only tool runs without a claim; if the id turns out to be stored already, save_result
        # returns the stored answer instead of the fresh one, so a replay is still byte-identical.
        queued = len(uow.outbox)
        outcome: Outcome
        try:
            if writes:
                async with uow.savepoint():
                    outcome = await handler(uow, ctx)
            else:
                outcome = await handler(uow, ctx)
        except Refused as e:
            del uow.outbox[queued:]  # the savepoint rolled those outbox rows back
            outcome = e
        text = present(outcome)
        if key:
            text = await uow.save_result(key, ctx.call_id, name, text, claimed=writes)
        await uow.commit()
        return ToolAnswer(text, outcome_code(outcome))


# ---- common steps ---------------------------------------------------------------------------------------


def _appointment(b: Booking, schedule: Schedule) -> Appointment:
    return Appointment(b, schedule.service(b.service_id), schedule.resource(b.resource_id), schedule.tz)


def _require_call(ctx: ToolContext) -> str:
    if not ctx.call_id:
        raise Refused("missing_call")
    return ctx.call_id


def _caller_phone(schedule: Schedule, ctx: ToolContext, given: str | None) -> str:
    raw = given or ctx.caller_phone
    if not raw:
        raise Refused("phone_required")
    return to_e164(raw, schedule.country)


# ---- check_availability ------------------------------------------------------------------------------------


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
    found = await _search(uow, schedule, service, resources, now, window, cmd.limit)
    if not found:
        nxt = await _next_open_day(uow, schedule, service, resources, now, window.last_day + timedelta(days=1))
        raise Refused("no_availability", day=first if first == final else None,
                      horizon_days=schedule.booking_horizon_days, next_opening=nxt, tz=schedule.tz)
    return OpeningsFound(tuple(found), schedule.tz)


async def _search(uow: UnitOfWork, schedule: Schedule, service: Service, resources: tuple[Resource, ...],
                  now: datetime, window: Window,
                  limit: int) -> list[Opening]:
    """Earliest openings in the window, reading busy rows a week at a time (most searches end in week one)."""
    found: list[Opening] = []
    day = window.first_day
    ids = [r.id for r in resources]
    while day <= window.last_day and len(found) < limit:
        chunk_end = min(day + timedelta(days=SEARCH_CHUNK_DAYS - 1), window.last_day)
        lo, hi = day_bounds(day, schedule.tz)[0], day_bounds(chunk_end, schedule.tz)[1]
        busy = await uow.busy(ids, lo, hi, now)
        sub = Window(day, chunk_end, window.after, window.before, window.part_of_day)
        found += openings(schedule, service, resources, busy, now, sub, limit - len(found))
        day = chunk_end + timedelta(days=1)
    return found


async def _next_open_day(uow: UnitOfWork, schedule: Schedule, service: Service, resources: tuple[Resource, ...],
                         now: datetime,
                         from_day: date) -> Opening | None:
    window = Window(from_day, schedule.last_bookable_day(now))
    found = await _search(uow, schedule, service, resources, now, window, 1)
    return found[0] if found else None


async def _alternatives(uow: UnitOfWork, schedule: Schedule, service: Service, resources: tuple[Resource, ...],
                        now: datetime,
                        target: datetime) -> tuple[Opening, ...]:
    day = max(target.astimezone(schedule.tz).date(), schedule.today(now))
    window = Window(day, min(day + timedelta(days=6), schedule.last_bookable_day(now)))
    found = await _search(uow, schedule, service, resources, now, window, 40)
    return tuple(nearest(found, target, ALTERNATIVES))


# ---- reserve / release ------------------------------------------------------------------------------------


async def _require_open_call(uow: UnitOfWork, call_id: str) -> None:
    """The one check that a call is still open: nothing is held or texted for a call that has ended."""
    if await uow.open_call(call_id) == "ended":
        raise Refused("call_ended")


async def _release_holds(uow: UnitOfWork, ctx: ToolContext, call_id: str, action: str) -> int:
    """Release the call's hold (if any) and audit it as `action` ('released' or 'replaced'); returns how many."""
    released = await uow.release_holds_of_call(call_id, ctx.now)
    for old in released:
        await uow.audit_hold_ended(old, action, call_id, ctx.tool_call_id)
    return len(released)

#: why a time cannot be booked -> the refusal's code, most relevant first (past before closed before off-grain)
_REASONS = {
    "in_the_past": "in_the_past",
    "too_soon": "too_soon",
    "beyond_horizon": "beyond_horizon",
    "closed": "outside_hours",
    "outside_hours": "outside_hours",
    "off_grain": "off_grain",
}


async def _bookable(uow: UnitOfWork, schedule: Schedule, service: Service, resources: tuple[Resource, ...],
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
    alts = await _alternatives(uow, schedule, service, resources, now, start)
    raise Refused(_REASONS[why], start=start, tz=schedule.tz, alternatives=alts, **rule)


async def _reserve(cmd: c.ReserveSlot, uow: UnitOfWork, ctx: ToolContext) -> SlotHeld:
    call_id = _require_call(ctx)
    schedule = await uow.schedule()
    now = ctx.now
    service = schedule.service_named(cmd.service)
    resources = schedule.resources_for(service, cmd.resource)
    start = parse_moment(cmd.start, schedule.tz, "start")
    candidates = await _bookable(uow, schedule, service, resources, start, now)
    await _require_open_call(uow, call_id)
    await _release_holds(uow, ctx, call_id, "replaced")  # a call holds one slot: the new one replaces it
    end = start + timedelta(minutes=service.minutes)
    expires = now + timedelta(minutes=schedule.hold_minutes)
    for resource in candidates:
        hold = await uow.try_hold(resource.id, service.id, start.astimezone(schedule.tz).date(), start, end,
                                  call_id, expires, now)
        if hold is not None:
            await uow.audit(hold.id, "held", call_id, ctx.tool_call_id, None, None, hold.snapshot())
            await uow.enqueue(EXPIRE_HOLD.queue, EXPIRE_HOLD.actor, [uow.tenant_id, hold.id], eta=expires)
            return SlotHeld(hold, Opening(start, end, resource, service), expires, schedule.hold_minutes, schedule.tz)
    alts = await _alternatives(uow, schedule, service, resources, now, start)
    raise Refused("slot_taken", start=start, tz=schedule.tz, alternatives=alts)


async def reserve_slot(cmd: c.ReserveSlot, uow: UnitOfWork, ctx: ToolContext) -> SlotHeld:
    return await _reserve(cmd, uow, ctx)


async def reserve_atomic(cmd: c.ReserveAtomic, uow: UnitOfWork, ctx: ToolContext) -> SlotHeldCodeSent:
    """Hold the slot for this call AND text a code to the caller's phone, in one step (or neither)."""
    schedule = await uow.schedule()
    phone = _caller_phone(schedule, ctx, cmd.phone)
    held = await _reserve(c.ReserveSlot(cmd.start, cmd.service, cmd.resource), uow, ctx)
    await uow.set_hold_customer(held.hold.id, cmd.name, phone)
    await _start_challenge(uow, schedule, ctx, phone)
    return SlotHeldCodeSent(held, phone)


async def send_otp(cmd: c.SendOtp, uow: UnitOfWork, ctx: ToolContext) -> CodeSent:
    schedule = await uow.schedule()
    phone = _caller_phone(schedule, ctx, cmd.phone)
    return await _start_challenge(uow, schedule, ctx, phone)


async def _start_challenge(uow: UnitOfWork, schedule: Schedule, ctx: ToolContext, phone: str) -> CodeSent:
    """A new code for this call, within the tenant's send limits; the worker generates and texts it."""
    call_id = _require_call(ctx)
    await _require_open_call(uow, call_id)
    policy, now = schedule.otp, ctx.now
    await uow.otp_lock(phone)  # concurrent requests for one number are counted one at a time
    sends, last = await uow.otp_recent(phone, now - timedelta(seconds=policy.send_window_seconds))
    if last is not None and (now - last).total_seconds() < policy.resend_cooldown_seconds:
        wait = int(policy.resend_cooldown_seconds - (now - last).total_seconds()) + 1
        raise Refused("otp_cooldown", retry_after_seconds=wait)
    if sends >= policy.max_sends:
        raise Refused("otp_rate_limited")
    challenge_id = await uow.create_challenge(call_id, phone, now)
    sms_id = await uow.queue_sms("otp", f"otp:{challenge_id}", phone, None)
    assert sms_id is not None
    await uow.link_challenge_sms(challenge_id, sms_id)
    await uow.enqueue(SEND_CODE.queue, SEND_CODE.actor, [uow.tenant_id, challenge_id, sms_id])
    return CodeSent(phone)


async def verify_otp(cmd: c.VerifyOtp, uow: UnitOfWork, ctx: ToolContext) -> Verified | OtpRejected:
    """Check the code read back. A wrong code is returned (OtpRejected), not raised: the try must be counted,
    so the transaction commits even though the answer is a failure."""
    call_id = _require_call(ctx)
    schedule = await uow.schedule()
    policy, now = schedule.otp, ctx.now
    code = normalize_code(cmd.code)
    if code is None:
        raise Unreadable("otp_code", "unreadable", value=cmd.code)
    ch = await uow.latest_challenge(call_id)
    if ch is None:
        return OtpRejected("no_code")
    if ch.status == "locked":
        return OtpRejected("otp_locked")
    if ch.status == "failed":
        return OtpRejected("otp_failed")
    if ch.status != "verified":
        too_old = ch.created_at + timedelta(seconds=policy.code_ttl_seconds) <= now
        if ch.status == "expired" or (ch.expires_at is not None and ch.expires_at <= now) or too_old:
            await uow.update_challenge(ch.id, "expired", ch.attempts, now)
            return OtpRejected("otp_expired")
        if ch.code_hash is None:
            return OtpRejected("otp_not_sent_yet")
        if not code_matches(code, ch.salt, ch.code_hash):
            attempts = ch.attempts + 1
            if attempts >= policy.max_attempts:
                await uow.update_challenge(ch.id, "locked", attempts, now)
                return OtpRejected("otp_locked", tries_left=0, last_try=True)
            await uow.update_challenge(ch.id, ch.status, attempts, now)
            return OtpRejected("otp_invalid", tries_left=policy.max_attempts - attempts)
        await uow.update_challenge(ch.id, "verified", ch.attempts, now)
        await uow.mark_call_verified(call_id, ch.phone, now)
    hold = await uow.hold_of_call(call_id)
    if hold is not None and hold.customer_name:
        try:
            async with uow.savepoint():  # a failed booking must not undo the verification
                booked = await _book_hold(uow, schedule, ctx, call_id, hold.customer_name, ch.phone, hold.notes)
        except Refused as e:
            return Verified(then=e)
        return Verified(then=booked)
    return Verified()


async def send_confirmation(cmd: c.SendConfirmation, uow: UnitOfWork, ctx: ToolContext) -> ConfirmationQueued:
    """Text the confirmation again on request, at most RESENDS_PER_HOUR times per appointment."""
    schedule = await uow.schedule()
    phone = _caller_phone(schedule, ctx, None if ctx.caller_phone else cmd.phone)
    await _require_verified(uow, schedule, ctx, phone)
    if cmd.appointment_id is not None:
        appt = await _own_appointment(uow, schedule, ctx, cmd.appointment_id, cmd.phone)
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
    return ConfirmationQueued(_appointment(appt, schedule), appt.phone or phone)


async def release_slot(cmd: c.ReleaseSlot, uow: UnitOfWork, ctx: ToolContext) -> SlotReleased:
    call_id = _require_call(ctx)
    return SlotReleased(await _release_holds(uow, ctx, call_id, "released"))


# ---- book / lookup / cancel / reschedule ----------------------------------------------------------------


async def book_appointment(cmd: c.BookAppointment, uow: UnitOfWork, ctx: ToolContext) -> Booked:
    call_id = _require_call(ctx)
    schedule = await uow.schedule()
    phone = _caller_phone(schedule, ctx, cmd.phone)
    await _require_verified(uow, schedule, ctx, phone)
    return await _book_hold(uow, schedule, ctx, call_id, cmd.name, phone, cmd.notes)


async def _book_hold(uow: UnitOfWork, schedule: Schedule, ctx: ToolContext, call_id: str, name: str, phone: str,
                     notes: str | None) -> Booked:
    """Turn the call's active hold into an appointment, in this transaction, with its confirmation queued."""
    now = ctx.now
    hold = await uow.hold_of_call(call_id)
    if hold is None or not hold.hold_is_live(now):
        last = hold or await uow.last_booking_of_call(call_id)
        if last is not None and last.status == "booked" and _same_name(last.customer_name, name):
            # the assistant asked again (new toolCallId) after it had booked: same appointment, not a second one
            return Booked(_appointment(last, schedule), name, phone, already=True)
        if last is not None and (last.status == "expired" or last.status == "held"):
            raise Refused("hold_expired")
        if last is not None and last.status == "booked":  # booking for someone else: that needs its own time
            raise Refused("no_active_hold", for_someone_else=True)
        raise Refused("no_active_hold")
    booked = await uow.book(hold.id, name, phone, notes, now)
    audit_id = await uow.audit(booked.id, "booked", call_id, ctx.tool_call_id, phone, hold.snapshot(),
                               booked.snapshot())
    await _confirm(uow, schedule, "booked", booked, audit_id)
    return Booked(_appointment(booked, schedule), name, phone)


async def _require_verified(uow: UnitOfWork, schedule: Schedule, ctx: ToolContext, phone: str) -> None:
    """With require_otp, the phone acted on must be the one verified by code in this call."""
    if not schedule.require_otp:
        return
    verified = await uow.verified_phone(ctx.call_id) if ctx.call_id else None
    if verified != phone:
        raise Refused("otp_required", phone=phone)


async def _confirm(uow: UnitOfWork, schedule: Schedule, change: str, booking: Booking, audit_id: int) -> None:
    """Exactly one automatic text per booking change: its sms row is keyed by the change's audit row, and
    it is queued in the same transaction as the change (the outbox), so it is never lost."""
    if not booking.phone:
        return
    sms_id = await uow.queue_sms("confirmation", f"confirmation:{audit_id}", booking.phone,
                                 confirmation_body(change, schedule, booking))
    if sms_id is not None:
        await uow.enqueue(SEND_SMS.queue, SEND_SMS.actor, [uow.tenant_id, sms_id])


def _same_name(a: str | None, b: str) -> bool:
    return " ".join((a or "").split()).casefold() == " ".join(b.split()).casefold()


async def lookup_appointments(cmd: c.LookupAppointments, uow: UnitOfWork, ctx: ToolContext) -> AppointmentsFound:
    schedule = await uow.schedule()
    phone = _caller_phone(schedule, ctx, cmd.phone)
    await _require_verified(uow, schedule, ctx, phone)
    found = await uow.appointments_by_phone(phone, ctx.now)
    return AppointmentsFound(phone, tuple(_appointment(b, schedule) for b in found))


async def _own_appointment(uow: UnitOfWork, schedule: Schedule, ctx: ToolContext, appointment_id: int,
                           phone_arg: str | None) -> Booking:
    # Only for the caller's own number: caller ID, or the number given on a web call that has none.
    phone = _caller_phone(schedule, ctx, None if ctx.caller_phone else phone_arg)
    await _require_verified(uow, schedule, ctx, phone)
    appt = await uow.appointment(appointment_id)
    if appt is None or appt.phone != phone:
        raise Refused("not_found", appointment_id=appointment_id, phone=phone)
    return appt


async def cancel_appointment(cmd: c.CancelAppointment, uow: UnitOfWork, ctx: ToolContext) -> Cancelled:
    schedule = await uow.schedule()
    appt = await _own_appointment(uow, schedule, ctx, cmd.appointment_id, cmd.phone)
    if appt.status == "cancelled":
        return Cancelled(_appointment(appt, schedule), already=True)
    if appt.starts_at <= ctx.now:
        raise Refused("in_the_past", appointment_id=appt.id, change="cancel")
    cancelled = await uow.cancel(appt.id, cmd.reason, ctx.now)
    audit_id = await uow.audit(appt.id, "cancelled", ctx.call_id, ctx.tool_call_id, appt.phone, appt.snapshot(),
                               cancelled.snapshot())
    await _confirm(uow, schedule, "cancelled", cancelled, audit_id)
    return Cancelled(_appointment(appt, schedule))


async def reschedule_appointment(cmd: c.RescheduleAppointment, uow: UnitOfWork, ctx: ToolContext) -> Rescheduled:
    schedule = await uow.schedule()
    now = ctx.now
    appt = await _own_appointment(uow, schedule, ctx, cmd.appointment_id, cmd.phone)
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
    candidates = await _bookable(uow, schedule, service, resources, start, now)
    end = start + timedelta(minutes=service.minutes)
    if ctx.call_id:  # the caller may have put the new time on hold first: that hold is theirs to use
        hold = await uow.hold_of_call(ctx.call_id)
        if hold is not None and hold.starts_at < end and hold.ends_at > start:
            await _release_holds(uow, ctx, ctx.call_id, "released")
    for resource in candidates:
        moved = await uow.try_move(appt.id, resource.id, start.astimezone(schedule.tz).date(), start, end, now)
        if moved is not None:
            audit_id = await uow.audit(appt.id, "rescheduled", ctx.call_id, ctx.tool_call_id, appt.phone,
                                       appt.snapshot(), moved.snapshot())
            await _confirm(uow, schedule, "rescheduled", moved, audit_id)
            return Rescheduled(_appointment(moved, schedule), appt.starts_at)
    alts = await _alternatives(uow, schedule, service, resources, now, start)
    raise Refused("slot_taken", start=start, tz=schedule.tz, alternatives=alts, appointment_id=appt.id)


# ---- call lifecycle ------------------------------------------------------------------------------------


async def end_call(cmd: c.EndCall, uow: UnitOfWork, now: datetime) -> int:
    """The call ended: release its holds at once (idempotently) and mark it ended. Returns holds released."""
    async with uow:
        released = await uow.end_call(cmd.call_id, cmd.reason, now)
        for old in released:
            await uow.audit_hold_ended(old, "released", cmd.call_id, None)
        await uow.commit()
    return len(released)
