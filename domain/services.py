"""Use cases: (command, unit of work, context) -> result payload.

Each returns a dict that becomes the tool's `result` (with "ok": true and a speakable "say"), or raises
ToolError. `execute` runs one inside a transaction with tool-call idempotency and turns ToolError into an
`ok: false` payload: the one place where domain errors become caller-facing results.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any

from . import commands as c
from .availability import PARTS_OF_DAY, Window, bookable_reason, nearest, openings
from .jobs import EXPIRE_HOLD, SEND_CODE, SEND_SMS
from .model import Booking, InvalidArguments, Opening, Schedule, ToolContext, ToolError, speak_list
from .notify import confirmation_body
from .otp import code_matches, normalize_code
from .phones import say_ending, to_e164
from .phrases import say_day, say_opening, say_openings, say_time
from .ports import UnitOfWork
from .when import parse_day, parse_moment
from .working_time import day_bounds

#: how many days of busy rows one availability query reads while widening towards the horizon
SEARCH_CHUNK_DAYS = 7
#: nearest alternatives offered when a time is taken or not bookable
ALTERNATIVES = 3
#: confirmations re-sent on request, per appointment per hour
RESENDS_PER_HOUR = 3

Handler = Callable[[UnitOfWork, ToolContext], Awaitable[dict[str, Any]]]


def encode(payload: dict[str, Any]) -> str:
    """Compact single-line JSON: what Vapi puts into the model's context as the tool result."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str)


async def execute(uow: UnitOfWork, ctx: ToolContext, name: str, handler: Handler) -> str:
    """Run one tool call exactly once per (tenant, toolCallId); a replay gets the stored result, byte for byte.

    Writing tools claim the id first (a concurrent duplicate waits, then reads the stored answer) and run
    inside a savepoint, so a ToolError undoes everything the tool did while its answer is still stored.
    Read-only tools (`uow.read_only`) compute first and store after, in autocommit.
    """
    writes = not uow.read_only
    async with uow:
        key = ctx.tool_call_id
        if key and writes:
            stored = await uow.claim_tool_call(key, ctx.call_id, name)
            if stored is not None:
                return stored
        # A read-only tool runs without a claim; if the id turns out to be stored already, save_result
        # returns the stored answer instead of the fresh one, so a replay is still byte-identical.
        queued = len(uow.outbox)
        try:
            if writes:
                async with uow.savepoint():
                    payload = await handler(uow, ctx)
            else:
                payload = await handler(uow, ctx)
        except ToolError as e:
            del uow.outbox[queued:]  # the savepoint rolled those outbox rows back
            payload = e.payload()
        result = encode(payload)
        if key:
            result = await uow.save_result(key, ctx.call_id, name, result, claimed=writes)
        await uow.commit()
        return result


# ---- shaping results ------------------------------------------------------------------------------------


def _iso(dt: datetime, schedule: Schedule) -> str:
    return dt.astimezone(schedule.tz).isoformat()


def _opening(o: Opening, schedule: Schedule) -> dict[str, Any]:
    return {
        "start": _iso(o.start, schedule), "end": _iso(o.end, schedule), "resource": o.resource.name,
        "service": o.service.name, "say": say_opening(o.start, schedule.tz, o.resource.name),
    }


def _appointment(b: Booking, schedule: Schedule) -> dict[str, Any]:
    resource = schedule.resource(b.resource_id)
    service = schedule.service(b.service_id)
    r_name = resource.name if resource else None
    return {
        "appointment_id": str(b.id), "start": _iso(b.starts_at, schedule), "end": _iso(b.ends_at, schedule),
        "resource": r_name, "service": service.name if service else None,
        "say": say_opening(b.starts_at, schedule.tz, r_name),
    }


def _require_call(ctx: ToolContext) -> str:
    if not ctx.call_id:
        raise ToolError("missing_call", "I can only do that during a call, and I couldn't tell which call this is.")
    return ctx.call_id


def _caller_phone(schedule: Schedule, ctx: ToolContext, given: str | None) -> str:
    raw = given or ctx.caller_phone
    if not raw:
        raise ToolError("phone_required", "What's the best phone number to reach you?")
    return to_e164(raw, schedule.country)


# ---- check_availability ------------------------------------------------------------------------------------


async def check_availability(cmd: c.CheckAvailability, uow: UnitOfWork, ctx: ToolContext) -> dict[str, Any]:
    schedule = await uow.schedule()
    now = ctx.now
    service = schedule.service_named(cmd.service)
    resources = schedule.resources_for(service, cmd.resource)
    today = schedule.today(now)
    last_day = schedule.last_bookable_day(now)
    after = parse_moment(cmd.after, schedule.tz, "after") if cmd.after is not None else None
    before = parse_moment(cmd.before, schedule.tz, "before") if cmd.before is not None else None
    if cmd.part_of_day is not None and cmd.part_of_day not in PARTS_OF_DAY:
        raise InvalidArguments("The part of day should be morning, afternoon or evening.")
    if cmd.date is not None:
        first = final = parse_day(cmd.date, today)
        if first < today:
            raise ToolError("in_the_past", f"{say_day(first)} has already passed. Which day would you like?")
    else:
        first = after.astimezone(schedule.tz).date() if after else today
        final = before.astimezone(schedule.tz).date() if before else last_day
    if after is not None and cmd.date is not None and after.astimezone(schedule.tz).date() > first:
        first = final = after.astimezone(schedule.tz).date()
    if first > last_day:
        raise ToolError(
            "beyond_horizon",
            f"We only book up to {schedule.booking_horizon_days} days ahead, so the latest day is {say_day(last_day)}.",
            last_day=last_day.isoformat(),
        )
    window = Window(max(first, today), min(final, last_day), after, before, cmd.part_of_day)
    found = await _search(uow, schedule, service, resources, now, window, cmd.limit)
    if not found:
        nxt = await _next_open_day(uow, schedule, service, resources, now, window.last_day + timedelta(days=1))
        asked = f"on {say_day(first)}" if first == final else "then"
        if nxt is None:
            raise ToolError("no_availability", f"I'm sorry, there are no openings {asked}, and nothing "
                                               f"in the next {schedule.booking_horizon_days} days either.")
        raise ToolError(
            "no_availability",
            f"I'm sorry, there are no openings {asked}. The next opening is {say_opening(nxt.start, schedule.tz, nxt.resource.name)}.",
            next_open_day=nxt.start.astimezone(schedule.tz).date().isoformat(),
            next_opening=_opening(nxt, schedule),
        )
    return {
        "ok": True,
        "timezone": str(schedule.tz),
        "openings": [_opening(o, schedule) for o in found],
        "say": say_openings([(o.start, o.resource.name) for o in found], schedule.tz),
    }


async def _search(uow: UnitOfWork, schedule: Schedule, service, resources, now: datetime, window: Window,
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


async def _next_open_day(uow: UnitOfWork, schedule: Schedule, service, resources, now: datetime,
                         from_day: date) -> Opening | None:
    window = Window(from_day, schedule.last_bookable_day(now))
    found = await _search(uow, schedule, service, resources, now, window, 1)
    return found[0] if found else None


async def _alternatives(uow: UnitOfWork, schedule: Schedule, service, resources, now: datetime,
                        target: datetime) -> list[dict[str, Any]]:
    day = max(target.astimezone(schedule.tz).date(), schedule.today(now))
    window = Window(day, min(day + timedelta(days=6), schedule.last_bookable_day(now)))
    found = await _search(uow, schedule, service, resources, now, window, 40)
    return [_opening(o, schedule) for o in nearest(found, target, ALTERNATIVES)]


def _alternatives_say(alts: list[dict[str, Any]]) -> str:
    if not alts:
        return ""
    return " The nearest times I have are " + speak_list([a["say"] for a in alts], "or") + "."


# ---- reserve / release ------------------------------------------------------------------------------------

_REASONS = {
    "in_the_past": ("in_the_past", "That time has already passed."),
    "too_soon": ("too_soon", "That's too soon; we need at least {notice} minutes' notice."),
    "beyond_horizon": ("beyond_horizon", "We only book up to {horizon} days ahead."),
    "closed": ("outside_hours", "We're closed on {day}."),
    "outside_hours": ("outside_hours", "We're not open for that at {time}."),
    "off_grain": ("off_grain", "Appointments start every {grain} minutes, so {time} isn't a start time."),
}


async def _bookable(uow: UnitOfWork, schedule: Schedule, service, resources, start: datetime,
                    now: datetime) -> tuple:
    """The resources on which `start` is within hours etc.; raises the most relevant reason otherwise."""
    reasons = [bookable_reason(schedule, r, service, start, now) for r in resources]
    ok = tuple(r for r, why in zip(resources, reasons) if why is None)
    if ok:
        return ok
    why = min(reasons, key=list(_REASONS).index)  # past before closed before off-grain
    code, template = _REASONS[why]
    say = template.format(
        notice=schedule.min_notice_minutes, horizon=schedule.booking_horizon_days, grain=schedule.slot_minutes,
        day=say_day(start.astimezone(schedule.tz).date()), time=say_time(start, schedule.tz),
    )
    alts = await _alternatives(uow, schedule, service, resources, now, start)
    raise ToolError(code, say + _alternatives_say(alts), alternatives=alts)


async def _reserve(cmd: c.ReserveSlot, uow: UnitOfWork, ctx: ToolContext) -> dict[str, Any]:
    call_id = _require_call(ctx)
    schedule = await uow.schedule()
    now = ctx.now
    service = schedule.service_named(cmd.service)
    resources = schedule.resources_for(service, cmd.resource)
    start = parse_moment(cmd.start, schedule.tz, "start")
    candidates = await _bookable(uow, schedule, service, resources, start, now)
    if await uow.open_call(call_id) == "ended":
        raise ToolError("call_ended", "This call has already ended.")
    for old in await uow.release_holds_of_call(call_id, now):  # a call holds one slot: the new one replaces it
        await uow.audit(old.id, "replaced", call_id, ctx.tool_call_id, None,
                        {**old.snapshot(), "status": "held"}, old.snapshot())
    end = start + timedelta(minutes=service.minutes)
    expires = now + timedelta(minutes=schedule.hold_minutes)
    for resource in candidates:
        hold = await uow.try_hold(resource.id, service.id, start.astimezone(schedule.tz).date(), start, end,
                                  call_id, expires, now)
        if hold is not None:
            await uow.audit(hold.id, "held", call_id, ctx.tool_call_id, None, None, hold.snapshot())
            await uow.enqueue(EXPIRE_HOLD.queue, EXPIRE_HOLD.actor, [uow.tenant_id, hold.id], eta=expires)
            when = say_opening(start, schedule.tz, resource.name)
            return {
                "ok": True, "hold_id": str(hold.id), "_hold": hold, "start": _iso(start, schedule), "end": _iso(end, schedule),
                "resource": resource.name, "service": service.name, "expires_at": _iso(expires, schedule),
                "say": f"I'm holding {when} for you for the next {schedule.hold_minutes} minutes.",
            }
    alts = await _alternatives(uow, schedule, service, resources, now, start)
    raise ToolError(
        "slot_taken",
        f"Sorry, {say_time(start, schedule.tz)} was just taken." + _alternatives_say(alts),
        alternatives=alts,
    )


async def reserve_slot(cmd: c.ReserveSlot, uow: UnitOfWork, ctx: ToolContext) -> dict[str, Any]:
    result = await _reserve(cmd, uow, ctx)
    result.pop("_hold")
    return result


async def reserve_atomic(cmd: c.ReserveAtomic, uow: UnitOfWork, ctx: ToolContext) -> dict[str, Any]:
    """Hold the slot for this call AND text a code to the caller's phone, in one step (or neither)."""
    schedule = await uow.schedule()
    phone = _caller_phone(schedule, ctx, cmd.phone)
    result = await _reserve(c.ReserveSlot(cmd.start, cmd.service, cmd.resource), uow, ctx)
    hold = result.pop("_hold")
    await uow.set_hold_customer(hold.id, cmd.name, phone)
    sent = await _start_challenge(uow, schedule, ctx, phone)
    return {**result, "code_sent_to": sent["code_sent_to"],
            "say": f"{result['say']} I've texted a 6-digit code to {say_ending(phone)}; please read it to me."}


async def send_otp(cmd: c.SendOtp, uow: UnitOfWork, ctx: ToolContext) -> dict[str, Any]:
    schedule = await uow.schedule()
    phone = _caller_phone(schedule, ctx, cmd.phone)
    return await _start_challenge(uow, schedule, ctx, phone)


async def _start_challenge(uow: UnitOfWork, schedule: Schedule, ctx: ToolContext, phone: str) -> dict[str, Any]:
    """A new code for this call, within the tenant's send limits; the worker generates and texts it."""
    call_id = _require_call(ctx)
    if await uow.open_call(call_id) == "ended":
        raise ToolError("call_ended", "This call has already ended.")
    policy, now = schedule.otp, ctx.now
    await uow.otp_lock(phone)  # concurrent requests for one number are counted one at a time
    sends, last = await uow.otp_recent(phone, now - timedelta(seconds=policy.send_window_seconds))
    if last is not None and (now - last).total_seconds() < policy.resend_cooldown_seconds:
        wait = int(policy.resend_cooldown_seconds - (now - last).total_seconds()) + 1
        raise ToolError("otp_cooldown", f"I just sent a code. Please check your messages; I can send another in "
                                        f"{wait} seconds.", retry_after_seconds=wait)
    if sends >= policy.max_sends:
        raise ToolError("otp_rate_limited", "I've sent too many codes to that number for now. Please try again "
                                            "in a few minutes.")
    challenge_id = await uow.create_challenge(call_id, phone, now)
    sms_id = await uow.queue_sms("otp", f"otp:{challenge_id}", phone, None)
    assert sms_id is not None
    await uow.link_challenge_sms(challenge_id, sms_id)
    await uow.enqueue(SEND_CODE.queue, SEND_CODE.actor, [uow.tenant_id, challenge_id, sms_id])
    return {"ok": True, "code_sent_to": f"ending in {phone[-4:]}",
            "say": f"I've texted a 6-digit code to {say_ending(phone)}. Please read it to me when it arrives."}


def _fail(code: str, say: str, **fields: Any) -> dict[str, Any]:
    # returned, not raised: a wrong try must be counted (committed) even though the answer is a failure
    return {"ok": False, "code": code, "say": say, **fields}


async def verify_otp(cmd: c.VerifyOtp, uow: UnitOfWork, ctx: ToolContext) -> dict[str, Any]:
    call_id = _require_call(ctx)
    schedule = await uow.schedule()
    policy, now = schedule.otp, ctx.now
    code = normalize_code(cmd.code)
    if code is None:
        raise InvalidArguments("Please read me the six digits of the code.")
    ch = await uow.latest_challenge(call_id)
    if ch is None:
        return _fail("no_code", "I haven't sent you a code yet. Shall I send one?")
    if ch.status == "locked":
        return _fail("otp_locked", "That code is locked after too many wrong tries. I can send you a new one.")
    if ch.status == "failed":
        return _fail("otp_failed", "I couldn't text that number. Is there another number I can use?")
    if ch.status != "verified":
        too_old = ch.created_at + timedelta(seconds=policy.code_ttl_seconds) <= now
        if ch.status == "expired" or (ch.expires_at is not None and ch.expires_at <= now) or too_old:
            await uow.update_challenge(ch.id, "expired", ch.attempts, now)
            return _fail("otp_expired", "That code has expired. Shall I send you a new one?")
        if ch.code_hash is None:
            return _fail("otp_not_sent_yet", "The code is still on its way. Please give it a moment.")
        if not code_matches(code, ch.salt, ch.code_hash):
            attempts = ch.attempts + 1
            if attempts >= policy.max_attempts:
                await uow.update_challenge(ch.id, "locked", attempts, now)
                return _fail("otp_locked", "That's not right, and that was the last try. I can send you a new code.")
            await uow.update_challenge(ch.id, ch.status, attempts, now)
            left = policy.max_attempts - attempts
            return _fail("otp_invalid", f"That code isn't right. You have {left} {'try' if left == 1 else 'tries'} "
                                        "left.", tries_left=left)
        await uow.update_challenge(ch.id, "verified", ch.attempts, now)
        await uow.mark_call_verified(call_id, ch.phone, now)
    hold = await uow.hold_of_call(call_id)
    if hold is not None and hold.customer_name:
        try:
            async with uow.savepoint():  # a failed booking must not undo the verification
                booked = await _book_hold(uow, schedule, ctx, call_id, hold.customer_name, ch.phone, hold.notes)
        except ToolError as e:
            return {**e.payload(), "verified": True, "say": f"Thank you, you're verified. {e.say}"}
        return {**booked, "verified": True}
    return {"ok": True, "verified": True, "say": "Thank you, you're verified."}


async def send_confirmation(cmd: c.SendConfirmation, uow: UnitOfWork, ctx: ToolContext) -> dict[str, Any]:
    """Text the confirmation again on request, at most RESENDS_PER_HOUR times per appointment."""
    schedule = await uow.schedule()
    phone = _caller_phone(schedule, ctx, None if ctx.caller_phone else cmd.phone)
    await _require_verified(uow, schedule, ctx, phone)
    if cmd.appointment_id is not None:
        appt = await _own_appointment(uow, schedule, ctx, cmd.appointment_id, cmd.phone)
    else:
        upcoming = await uow.appointments_by_phone(phone, ctx.now)
        if not upcoming:
            raise ToolError("not_found", f"I don't see any upcoming appointments for {say_ending(phone)}.")
        appt = upcoming[0]
    if appt.status != "booked" or appt.starts_at <= ctx.now:
        raise ToolError("not_found", "That appointment isn't coming up, so there's nothing to confirm.")
    prefix = f"resend:{appt.id}:"
    sent = await uow.count_sms(prefix, ctx.now - timedelta(hours=1))
    if sent >= RESENDS_PER_HOUR:
        raise ToolError("rate_limited", "I've already re-sent that confirmation a few times; please check your "
                                        "messages.")
    sms_id = await uow.queue_sms("confirmation", f"{prefix}{sent + 1}", appt.phone or phone,
                                 confirmation_body("booked", schedule, appt))
    if sms_id is not None:
        await uow.enqueue(SEND_SMS.queue, SEND_SMS.actor, [uow.tenant_id, sms_id])
    info = _appointment(appt, schedule)
    return {"ok": True, **info, "confirmation": "queued",
            "say": f"I'm texting the confirmation for {info['say']} to {say_ending(appt.phone or phone)}."}


async def release_slot(cmd: c.ReleaseSlot, uow: UnitOfWork, ctx: ToolContext) -> dict[str, Any]:
    call_id = _require_call(ctx)
    released = await uow.release_holds_of_call(call_id, ctx.now)
    for old in released:
        await uow.audit(old.id, "released", call_id, ctx.tool_call_id, None,
                        {**old.snapshot(), "status": "held"}, old.snapshot())
    if not released:
        return {"ok": True, "released": False, "say": "There was no time on hold, so nothing to release."}
    return {"ok": True, "released": True, "say": "Okay, I've let that time go."}


# ---- book / lookup / cancel / reschedule ----------------------------------------------------------------


async def book_appointment(cmd: c.BookAppointment, uow: UnitOfWork, ctx: ToolContext) -> dict[str, Any]:
    call_id = _require_call(ctx)
    schedule = await uow.schedule()
    phone = _caller_phone(schedule, ctx, cmd.phone)
    await _require_verified(uow, schedule, ctx, phone)
    return await _book_hold(uow, schedule, ctx, call_id, cmd.name, phone, cmd.notes)


async def _book_hold(uow: UnitOfWork, schedule: Schedule, ctx: ToolContext, call_id: str, name: str, phone: str,
                     notes: str | None) -> dict[str, Any]:
    """Turn the call's active hold into an appointment, in this transaction, with its confirmation queued."""
    now = ctx.now
    hold = await uow.hold_of_call(call_id)
    if hold is None or hold.hold_expires_at is None or hold.hold_expires_at <= now:
        last = hold or await uow.last_booking_of_call(call_id)
        if last is not None and last.status == "booked" and _same_name(last.customer_name, name):
            # the assistant asked again (new toolCallId) after it had booked: same appointment, not a second one
            appt = _appointment(last, schedule)
            return {"ok": True, "already_booked": True, **appt,
                    "say": f"You're already booked for {appt['say']}."}
        if last is not None and (last.status == "expired" or last.status == "held"):
            raise ToolError("hold_expired", "I'm sorry, the hold on that time ran out. Shall I check if it's still free?")
        if last is not None and last.status == "booked":  # booking for someone else: that needs its own time
            raise ToolError("no_active_hold", "I need to hold a time for that appointment first. Which time "
                                              "would you like?")
        raise ToolError("no_active_hold", "I need to hold a time for you first. Which time would you like?")
    booked = await uow.book(hold.id, name, phone, notes, now)
    audit_id = await uow.audit(booked.id, "booked", call_id, ctx.tool_call_id, phone, hold.snapshot(),
                               booked.snapshot())
    await _confirm(uow, schedule, "booked", booked, audit_id)
    appt = _appointment(booked, schedule)
    service = appt["service"] or "appointment"
    return {"ok": True, **appt, "phone": phone, "confirmation": "queued",
            "say": f"You're booked for {_article(service)} {service} on {appt['say']}, {name}. "
                   f"I'm texting a confirmation to {say_ending(phone)}."}


async def _require_verified(uow: UnitOfWork, schedule: Schedule, ctx: ToolContext, phone: str) -> None:
    """With require_otp, the phone acted on must be the one verified by code in this call."""
    if not schedule.require_otp:
        return
    verified = await uow.verified_phone(ctx.call_id) if ctx.call_id else None
    if verified != phone:
        raise ToolError("otp_required", f"First I need to check it's you: I can text a code to {say_ending(phone)}. "
                                        "Shall I send it?", phone_ending=phone[-4:])


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


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


async def lookup_appointments(cmd: c.LookupAppointments, uow: UnitOfWork, ctx: ToolContext) -> dict[str, Any]:
    schedule = await uow.schedule()
    phone = _caller_phone(schedule, ctx, cmd.phone)
    await _require_verified(uow, schedule, ctx, phone)
    found = await uow.appointments_by_phone(phone, ctx.now)
    items = [_appointment(b, schedule) for b in found]
    if not items:
        return {"ok": True, "appointments": [],
                "say": f"I don't see any upcoming appointments for {say_ending(phone)}."}
    listed = speak_list([f"{i['service']} on {i['say']}" for i in items], "and")
    return {"ok": True, "appointments": items,
            "say": f"I see {len(items)} upcoming appointment{'s' if len(items) > 1 else ''}: {listed}."}


async def _own_appointment(uow: UnitOfWork, schedule: Schedule, ctx: ToolContext, appointment_id: int,
                           phone_arg: str | None) -> Booking:
    # Only for the caller's own number: caller ID, or the number given on a web call that has none.
    phone = _caller_phone(schedule, ctx, None if ctx.caller_phone else phone_arg)
    await _require_verified(uow, schedule, ctx, phone)
    appt = await uow.appointment(appointment_id)
    if appt is None or appt.phone != phone:
        raise ToolError("not_found", f"I couldn't find appointment {appointment_id} for {say_ending(phone)}.")
    return appt


async def cancel_appointment(cmd: c.CancelAppointment, uow: UnitOfWork, ctx: ToolContext) -> dict[str, Any]:
    schedule = await uow.schedule()
    appt = await _own_appointment(uow, schedule, ctx, cmd.appointment_id, cmd.phone)
    info = _appointment(appt, schedule)
    if appt.status == "cancelled":
        return {"ok": True, "already_cancelled": True, **info,
                "say": f"That appointment on {info['say']} is already cancelled."}
    if appt.starts_at <= ctx.now:
        raise ToolError("in_the_past", "That appointment has already started or passed, so I can't cancel it.")
    cancelled = await uow.cancel(appt.id, cmd.reason, ctx.now)
    audit_id = await uow.audit(appt.id, "cancelled", ctx.call_id, ctx.tool_call_id, appt.phone, appt.snapshot(),
                               cancelled.snapshot())
    await _confirm(uow, schedule, "cancelled", cancelled, audit_id)
    return {"ok": True, "cancelled": True, **info, "say": f"Okay, your appointment on {info['say']} is cancelled."}


async def reschedule_appointment(cmd: c.RescheduleAppointment, uow: UnitOfWork, ctx: ToolContext) -> dict[str, Any]:
    schedule = await uow.schedule()
    now = ctx.now
    appt = await _own_appointment(uow, schedule, ctx, cmd.appointment_id, cmd.phone)
    if appt.status != "booked":
        raise ToolError("not_found", "That appointment was cancelled, so there's nothing to move.")
    if appt.starts_at <= now:
        raise ToolError("in_the_past", "That appointment has already started or passed, so I can't move it.")
    service = schedule.service(appt.service_id)
    if service is None:
        raise ToolError("not_found", "That service is no longer offered; please call the clinic.")
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
            for old in await uow.release_holds_of_call(ctx.call_id, now):
                await uow.audit(old.id, "released", ctx.call_id, ctx.tool_call_id, None,
                                {**old.snapshot(), "status": "held"}, old.snapshot())
    for resource in candidates:
        moved = await uow.try_move(appt.id, resource.id, start.astimezone(schedule.tz).date(), start, end, now)
        if moved is not None:
            audit_id = await uow.audit(appt.id, "rescheduled", ctx.call_id, ctx.tool_call_id, appt.phone,
                                       appt.snapshot(), moved.snapshot())
            await _confirm(uow, schedule, "rescheduled", moved, audit_id)
            info = _appointment(moved, schedule)
            return {"ok": True, "rescheduled": True, **info,
                    "previous_start": _iso(appt.starts_at, schedule),
                    "say": f"Done. Your appointment is now {info['say']}."}
    alts = await _alternatives(uow, schedule, service, resources, now, start)
    raise ToolError(
        "slot_taken",
        f"Sorry, {say_time(start, schedule.tz)} isn't free, so your appointment stays where it was."
        + _alternatives_say(alts),
        alternatives=alts,
    )


# ---- call lifecycle ------------------------------------------------------------------------------------


async def end_call(cmd: c.EndCall, uow: UnitOfWork, now: datetime) -> int:
    """The call ended: release its holds at once (idempotently) and mark it ended. Returns holds released."""
    async with uow:
        released = await uow.end_call(cmd.call_id, cmd.reason, now)
        for old in released:
            await uow.audit(old.id, "released", cmd.call_id, None, None,
                            {**old.snapshot(), "status": "held"}, old.snapshot())
        await uow.commit()
    return len(released)
