"""The tool registry: for each tool name, how its arguments become a command and which use case runs it.

Arguments are checked for type and size here, at the edge; anything wrong becomes `invalid_arguments`
with a sentence the assistant can say. Unknown keys are ignored (Vapi merges static parameters such as
`_call_id` into the arguments).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from domain import commands as c
from domain import services
from domain.model import InvalidArguments, ToolContext, ToolError
from domain.ports import UnitOfWork

#: longest free text accepted in any argument; a 10 KB "name" is a bug or an attack, not a name
MAX_TEXT = 200
MAX_NOTES = 1000

_HINTS = {
    "date": "a date like 2026-03-12, today, tomorrow or a weekday",
    "after": "a date and time like 2026-03-12T14:30",
    "before": "a date and time like 2026-03-12T17:00",
    "start": "a date and time like 2026-03-12T14:30",
    "service": "the name of a service, such as Cleaning",
    "resource": "the name of a provider",
    "part_of_day": "morning, afternoon or evening",
    "limit": "a number from 1 to 10",
    "name": "the caller's full name",
    "phone": "a phone number with area code",
    "notes": "a short note",
    "reason": "a short reason",
    "appointment_id": "the appointment number",
    "code": "the six digits of the code",
}


class Args:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def text(self, key: str, required: bool = False, max_len: int = MAX_TEXT) -> str | None:
        value = self.raw.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise InvalidArguments(f"I need the {_label(key)}: {_HINTS[key]}.", field=key)
            return None
        if not isinstance(value, str):
            raise InvalidArguments(f"The {_label(key)} should be {_HINTS[key]}.", field=key)
        if len(value) > max_len:
            raise InvalidArguments(f"The {_label(key)} is too long; it should be {_HINTS[key]}.", field=key)
        return value.strip()

    def integer(self, key: str, default: int, lo: int, hi: int, clamp: bool = False) -> int:
        value = self.raw.get(key)
        if value is None:
            return default
        if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 10:
            value = int(value.strip())
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < lo or (value > hi and not clamp):
            raise InvalidArguments(f"The {_label(key)} should be {_HINTS[key]}.", field=key)
        return min(value, hi)

    def identifier(self, key: str) -> int:
        value = self.raw.get(key)
        if isinstance(value, str):
            digits = value.strip().lstrip("#")
            value = int(digits) if digits.isdigit() and len(digits) < 19 else value
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
            if value is None:
                raise InvalidArguments(f"I need the {_label(key)}.", field=key)
            raise InvalidArguments(f"The {_label(key)} should be {_HINTS[key]}, like 1042.", field=key)
        return value


def _label(key: str) -> str:
    return key.replace("_", " ")


def _check_availability(a: Args) -> c.CheckAvailability:
    part = a.text("part_of_day")
    return c.CheckAvailability(
        date=a.text("date"), after=a.text("after"), before=a.text("before"), service=a.text("service"),
        resource=a.text("resource"), part_of_day=part.lower() if part else None,
        limit=a.integer("limit", 3, 1, 10, clamp=True),
    )


def _reserve_slot(a: Args) -> c.ReserveSlot:
    return c.ReserveSlot(start=a.text("start", required=True), service=a.text("service"),
                         resource=a.text("resource"))


def _book(a: Args) -> c.BookAppointment:
    return c.BookAppointment(name=a.text("name", required=True), phone=a.text("phone"),
                             notes=a.text("notes", max_len=MAX_NOTES))


def _cancel(a: Args) -> c.CancelAppointment:
    return c.CancelAppointment(appointment_id=a.identifier("appointment_id"), reason=a.text("reason", max_len=MAX_NOTES),
                               phone=a.text("phone"))


def _reschedule(a: Args) -> c.RescheduleAppointment:
    return c.RescheduleAppointment(appointment_id=a.identifier("appointment_id"), start=a.text("start", required=True),
                                   resource=a.text("resource"), phone=a.text("phone"))


def _reserve_atomic(a: Args) -> c.ReserveAtomic:
    return c.ReserveAtomic(start=a.text("start", required=True), service=a.text("service"),
                           resource=a.text("resource"), name=a.text("name"), phone=a.text("phone"))


def _verify(a: Args) -> c.VerifyOtp:
    code = a.raw.get("code")
    if isinstance(code, bool) or not isinstance(code, (str, int)):
        raise InvalidArguments("I need the six digits of the code.", field="code")
    if isinstance(code, str) and len(code) > 100:
        raise InvalidArguments("That's too long to be the code; it has six digits.", field="code")
    return c.VerifyOtp(code=code)


def _send_confirmation(a: Args) -> c.SendConfirmation:
    has_id = a.raw.get("appointment_id") not in (None, "")
    return c.SendConfirmation(appointment_id=a.identifier("appointment_id") if has_id else None,
                              phone=a.text("phone"))


@dataclass(frozen=True)
class Tool:
    parse: Callable[[Args], Any]
    run: Callable[[Any, UnitOfWork, ToolContext], Any]
    writes: bool  # writing tools run in a savepoint with the toolCallId claimed first


TOOL_HANDLERS: dict[str, Tool] = {
    "check_availability": Tool(_check_availability, services.check_availability, writes=False),
    "reserve_slot": Tool(_reserve_slot, services.reserve_slot, writes=True),
    "release_slot": Tool(lambda a: c.ReleaseSlot(), services.release_slot, writes=True),
    "book_appointment": Tool(_book, services.book_appointment, writes=True),
    "lookup_appointments": Tool(lambda a: c.LookupAppointments(phone=a.text("phone")), services.lookup_appointments,
                                writes=False),
    "cancel_appointment": Tool(_cancel, services.cancel_appointment, writes=True),
    "reschedule_appointment": Tool(_reschedule, services.reschedule_appointment, writes=True),
    "reserve_atomic": Tool(_reserve_atomic, services.reserve_atomic, writes=True),
    "send_otp": Tool(lambda a: c.SendOtp(phone=a.text("phone")), services.send_otp, writes=True),
    "verify_otp": Tool(_verify, services.verify_otp, writes=True),
    "send_confirmation": Tool(_send_confirmation, services.send_confirmation, writes=True),
}

_ARGUMENT_ERRORS = {
    "not_json": "The tool arguments weren't valid JSON. Please try again.",
    "not_object": "The tool arguments should be an object of named values.",
    "too_large": "The tool arguments were far too long.",
}


def _failing(error: ToolError) -> services.Handler:
    async def handler(uow: UnitOfWork, ctx: ToolContext) -> dict[str, Any]:
        raise error
    return handler


def prepare(name: str | None, arguments: dict[str, Any], arguments_error: str | None) -> tuple[services.Handler, bool]:
    """The handler to execute for one call, and whether it writes. Bad input yields a handler that fails
    with a speakable error, so that answer is stored and replayed like any other."""
    tool = TOOL_HANDLERS.get(name or "")
    if tool is None:
        return _failing(ToolError("unknown_tool", "Sorry, I can't do that here.", known=sorted(TOOL_HANDLERS))), False
    if arguments_error:
        return _failing(InvalidArguments(_ARGUMENT_ERRORS[arguments_error])), False
    try:
        command = tool.parse(Args(arguments))
    except ToolError as e:
        return _failing(e), False

    async def handler(uow: UnitOfWork, ctx: ToolContext) -> dict[str, Any]:
        return await tool.run(command, uow, ctx)

    return handler, tool.writes
