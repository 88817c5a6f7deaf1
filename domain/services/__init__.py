"""Use cases: (command, unit of work, context) -> result.

Each returns one of `domain.results` or raises `Refused` (a machine code and facts). None of them words
anything: `execute` runs one inside a transaction with tool-call idempotency and hands its result or
refusal to the presenter it is given, the one place where outcomes become what the caller hears.

By concern: search.py (check_availability and the searches others share), holds.py (reserve, release,
the call's end), appointments.py (book, look up, cancel, reschedule, re-send a confirmation), otp.py
(one-time codes), steps.py (steps several use cases share, each written once), runner.py (execute).
"""

from .appointments import (book_appointment, cancel_appointment, lookup_appointments, reschedule_appointment,
                           send_confirmation)
from .holds import end_call, release_slot, reserve_slot
from .otp import reserve_atomic, send_otp, verify_otp
from .runner import Handler, Present, ToolAnswer, execute
from .search import check_availability

__all__ = [
    "Handler", "Present", "ToolAnswer", "book_appointment", "cancel_appointment", "check_availability", "end_call",
    "execute", "lookup_appointments", "release_slot", "reschedule_appointment", "reserve_atomic", "reserve_slot",
    "send_confirmation", "send_otp", "verify_otp",
]
