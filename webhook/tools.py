"""The tool registry: for each tool name, how its arguments become a command and which use case runs it.

Arguments are checked for type and size here, at the edge; anything wrong becomes `invalid_arguments`
naming the field and what was expected (domain.wording.presenter says it). Unknown keys are ignored (Vapi
merges static parameters such as `_call_id` into the arguments).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from domain import commands as c
from domain import services
from domain.model import InvalidArguments, Refused, ToolContext
from domain.ports import UnitOfWork

#: longest free text accepted in any argument; a 10 KB "name" is a bug or an attack, not a name
MAX_TEXT = 200
MAX_NOTES = 1000


class Args:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def text(self, key: str, required: bool = False, max_len: int = MAX_TEXT) -> str | None:
        value = self.raw.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise InvalidArguments("text", "missing", field=key)
            return None
        if not isinstance(value, str):
            raise InvalidArguments("text", "wrong_type", field=key)
        if len(value) > max_len:
            raise InvalidArguments("text", "too_long", field=key)
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
            raise InvalidArguments("integer", "wrong_type", field=key)
        return min(value, hi)

    def identifier(self, key: str) -> int:
        value = self.raw.get(key)
        if isinstance(value, str):
            digits = value.strip().lstrip("#")
            value = int(digits) if digits.isdigit() and len(digits) < 19 else value
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
            if value is None:
                raise InvalidArguments("identifier", "missing", field=key)
            raise InvalidArguments("identifier", "wrong_type", field=key)
        return value


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
        raise InvalidArguments("otp_code", "wrong_type", field="code")
    if isinstance(code, str) and len(code) > 100:
        raise InvalidArguments("otp_code", "too_long", field="code")
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

def _failing(error: Refused) -> services.Handler:
    async def handler(uow: UnitOfWork, ctx: ToolContext) -> Any:
        raise error
    return handler


def prepare(name: str | None, arguments: dict[str, Any], arguments_error: str | None) -> tuple[services.Handler, bool]:
    """The handler to execute for one call, and whether it writes. Bad input yields a handler that fails
    with a refusal, so that answer is stored and replayed like any other."""
    tool = TOOL_HANDLERS.get(name or "")
    if tool is None:
        return _failing(Refused("unknown_tool", known=tuple(sorted(TOOL_HANDLERS)))), False
    if arguments_error:  # not_json, not_object or too_large
        return _failing(InvalidArguments("object", arguments_error)), False
    try:
        command = tool.parse(Args(arguments))
    except Refused as e:
        return _failing(e), False

    async def handler(uow: UnitOfWork, ctx: ToolContext) -> Any:
        return await tool.run(command, uow, ctx)

    return handler, tool.writes
