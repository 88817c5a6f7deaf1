"""One-time codes: sending one (alone, or with a hold in one step) and checking what the caller reads back."""

from __future__ import annotations

from datetime import timedelta

from .. import commands as c
from ..jobs import SEND_CODE
from ..model import Refused, Schedule, ToolContext, Unreadable
from ..otp import code_matches, normalize_code
from ..ports import UnitOfWork
from ..results import CodeSent, OtpRejected, SlotHeldCodeSent, Verified
from .appointments import book_hold
from .holds import reserve
from .steps import caller_phone, require_call, require_open_call


async def reserve_atomic(cmd: c.ReserveAtomic, uow: UnitOfWork, ctx: ToolContext) -> SlotHeldCodeSent:
    """Hold the slot for this call AND text a code to the caller's phone, in one step (or neither)."""
    schedule = await uow.schedule()
    phone = caller_phone(schedule, ctx, cmd.phone)
    held = await reserve(c.ReserveSlot(cmd.start, cmd.service, cmd.resource), uow, ctx)
    await uow.set_hold_customer(held.hold.id, cmd.name, phone)
    await _start_challenge(uow, schedule, ctx, phone)
    return SlotHeldCodeSent(held, phone)

async def send_otp(cmd: c.SendOtp, uow: UnitOfWork, ctx: ToolContext) -> CodeSent:
    schedule = await uow.schedule()
    phone = caller_phone(schedule, ctx, cmd.phone)
    return await _start_challenge(uow, schedule, ctx, phone)

async def _start_challenge(uow: UnitOfWork, schedule: Schedule, ctx: ToolContext, phone: str) -> CodeSent:
    """A new code for this call, within the tenant's send limits; the worker generates and texts it."""
    call_id = require_call(ctx)
    await require_open_call(uow, call_id)
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
    call_id = require_call(ctx)
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
                booked = await book_hold(uow, schedule, ctx, call_id, hold.customer_name, ch.phone, hold.notes)
        except Refused as e:
            return Verified(then=e)
        return Verified(then=booked)
    return Verified()
