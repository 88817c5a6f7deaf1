"""What the use cases answer: one frozen dataclass per kind of answer, carrying domain objects and facts.

No sentence and no JSON field name is built here or in the use cases: `domain.wording.presenter` turns a
result, or a refusal (`model.Refused`, raised), into the tool's answer and its `say`. verify_otp returns
its rejections (`OtpRejected`) instead of raising them, because a wrong try must be committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from .model import Booking, InvalidArguments, Opening, Refused, Resource, Service, Unreadable

__all__ = [
    "Appointment", "AppointmentsFound", "Booked", "Cancelled", "CodeSent", "ConfirmationQueued", "InvalidArguments",
    "OpeningsFound", "Outcome", "OtpRejected", "Refused", "Rescheduled", "Result", "SlotHeld", "SlotHeldCodeSent",
    "SlotReleased", "Unreadable", "Verified", "outcome_code",
]


@dataclass(frozen=True)
class Appointment:
    """A booking as the caller is told about it: with its service and resource (None if no longer configured)
    and the clinic's zone, in which its times are read out."""

    booking: Booking
    service: Service | None
    resource: Resource | None
    tz: ZoneInfo


@dataclass(frozen=True)
class OpeningsFound:
    openings: tuple[Opening, ...]
    tz: ZoneInfo


@dataclass(frozen=True)
class SlotHeld:
    hold: Booking
    opening: Opening
    expires_at: datetime
    hold_minutes: int
    tz: ZoneInfo


@dataclass(frozen=True)
class SlotHeldCodeSent:
    """reserve_atomic: the slot is held and a code is on its way to `phone`."""

    held: SlotHeld
    phone: str


@dataclass(frozen=True)
class SlotReleased:
    released: int  # holds released: 0 when the call held nothing


@dataclass(frozen=True)
class CodeSent:
    phone: str


@dataclass(frozen=True)
class OtpRejected:
    """A code that did not verify. `code`: no_code, otp_locked, otp_failed, otp_expired, otp_not_sent_yet or
    otp_invalid (with `tries_left`); `last_try` when this very try locked the code."""

    code: str
    tries_left: int | None = None
    last_try: bool = False


@dataclass(frozen=True)
class Booked:
    """The call's hold became an appointment for `name`; `already` when it had been booked by an earlier
    tool call of this call (the assistant asked again), so nothing new was booked."""

    appointment: Appointment
    name: str
    phone: str
    already: bool = False


@dataclass(frozen=True)
class Verified:
    """The caller's phone is verified; `then` is what became of booking the held slot at once, if it was tried
    (a refusal there does not undo the verification)."""

    then: Booked | Refused | None = None


@dataclass(frozen=True)
class AppointmentsFound:
    phone: str
    appointments: tuple[Appointment, ...]


@dataclass(frozen=True)
class Cancelled:
    appointment: Appointment
    already: bool = False


@dataclass(frozen=True)
class Rescheduled:
    appointment: Appointment  # where it is now
    previous_start: datetime


@dataclass(frozen=True)
class ConfirmationQueued:
    appointment: Appointment
    phone: str  # the number the text goes to


Result = (OpeningsFound | SlotHeld | SlotHeldCodeSent | SlotReleased | CodeSent | OtpRejected | Booked | Verified
          | AppointmentsFound | Cancelled | Rescheduled | ConfirmationQueued)
#: what a tool call ends in: a result, or the refusal a use case raised
Outcome = Result | Refused


def outcome_code(outcome: Outcome) -> str:
    """'ok', or the machine code of a refusal or rejection: what the request log records."""
    if isinstance(outcome, Verified) and isinstance(outcome.then, Refused):
        return outcome.then.code
    if isinstance(outcome, (Refused, OtpRejected)):
        return outcome.code
    return "ok"
