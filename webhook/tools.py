"""The tool registry: for each tool name, how its arguments become a command and which use case runs it.

Arguments are checked for type and size here, at the edge, by each tool's model in `tool_args.py`;
anything wrong becomes `invalid_arguments` with a sentence the assistant can say.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from domain import services
from domain.model import InvalidArguments, ToolContext, ToolError
from domain.ports import UnitOfWork

from . import tool_args as a


@dataclass(frozen=True)
class Tool:
    args: type[a.ToolArgs]  # the arguments, declared once: validation, speakable errors and JSON Schema
    run: Callable[[Any, UnitOfWork, ToolContext], Any]
    writes: bool  # writing tools run in a savepoint with the toolCallId claimed first


TOOL_HANDLERS: dict[str, Tool] = {
    "check_availability": Tool(a.CheckAvailabilityArgs, services.check_availability, writes=False),
    "reserve_slot": Tool(a.ReserveSlotArgs, services.reserve_slot, writes=True),
    "release_slot": Tool(a.ReleaseSlotArgs, services.release_slot, writes=True),
    "book_appointment": Tool(a.BookAppointmentArgs, services.book_appointment, writes=True),
    "lookup_appointments": Tool(a.LookupAppointmentsArgs, services.lookup_appointments, writes=False),
    "cancel_appointment": Tool(a.CancelAppointmentArgs, services.cancel_appointment, writes=True),
    "reschedule_appointment": Tool(a.RescheduleAppointmentArgs, services.reschedule_appointment, writes=True),
    "reserve_atomic": Tool(a.ReserveAtomicArgs, services.reserve_atomic, writes=True),
    "send_otp": Tool(a.SendOtpArgs, services.send_otp, writes=True),
    "verify_otp": Tool(a.VerifyOtpArgs, services.verify_otp, writes=True),
    "send_confirmation": Tool(a.SendConfirmationArgs, services.send_confirmation, writes=True),
}


def tool_parameters() -> dict[str, dict[str, Any]]:
    """Each tool's arguments as the inline JSON Schema Vapi takes as `function.parameters`."""
    return {name: a.parameters_schema(tool.args) for name, tool in TOOL_HANDLERS.items()}


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
        command = tool.args.parse(arguments)
    except ToolError as e:
        return _failing(e), False

    async def handler(uow: UnitOfWork, ctx: ToolContext) -> dict[str, Any]:
        return await tool.run(command, uow, ctx)

    return handler, tool.writes
