"""The texts sent by SMS: a booking change's confirmation and a one-time code. Written, not spoken: short,
with '2:30 PM' and the clinic's number as people write them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from ..model import Booking, Schedule
from ..phones import written


def sms_time(dt: datetime, tz: ZoneInfo) -> str:
    """'Thu Mar 12 at 2:30 PM': written, short, in the clinic's zone."""
    local = dt.astimezone(tz)
    clock = local.strftime("%I:%M %p").lstrip("0").replace(":00 ", " ")
    return f"{local.strftime('%a %b')} {local.day} at {clock}"


def confirmation_body(change: str, schedule: Schedule, booking: Booking) -> str:
    """The text for a booking change. It never promises a reply keyword: nothing receives replies yet, so it
    says how to cancel or change instead (the clinic's number from the tenant file)."""
    resource = schedule.resource(booking.resource_id)
    who = f" with {resource.name}" if resource else ""
    when = sms_time(booking.starts_at, schedule.tz)
    call = (f"call {written(schedule.phone, schedule.country)}" if schedule.phone
            else f"call {schedule.name}")
    if change == "booked":
        return f"{schedule.name}: you're booked for {when}{who}. To cancel or change it, {call}."
    if change == "rescheduled":
        return f"{schedule.name}: your appointment is moved to {when}{who}. To cancel or change it, {call}."
    return f"{schedule.name}: your appointment on {when}{who} is cancelled."


def otp_code_text(clinic: str, code: str, valid_minutes: int) -> str:
    """The one-time code's text; the code appears nowhere else (no row, job or log line)."""
    return f"{clinic}: your verification code is {code}. It expires in {valid_minutes} minutes."
