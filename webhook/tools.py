"""The tool registry: for each tool name, how its arguments become a command and which use case runs it.

Arguments are checked for type and size here, at the edge, by each tool's model in `assistant/tool_args.py`;
anything wrong becomes `invalid_arguments` naming the field and what was expected (domain.wording.presenter
says it). Unknown keys are ignored (Vapi merges static parameters such as `_call_id` into the arguments).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from domain import services
from domain.model import InvalidArguments, Refused, ToolContext
from domain.ports import UnitOfWork

from assistant import tool_args as a


@dataclass(frozen=True)
class Tool:
    args: type[a.ToolArgs]  # the arguments, declared once: validation, speakable errors and JSON Schema
    run: Callable[[Any, UnitOfWork, ToolContext], Any]
    writes: bool  # writing tools run in a savepoint with the toolCallId claimed first
    #: False only for a tool whose refusals leave nothing to undo by construction, so it runs without the
    #: savepoint (two round trips fewer, and no ROLLBACK TO on a refusal): reserve_slot, whose one write,
    #: `hold_for_call`, undoes itself when the time is taken (tests/e2e/test_safety.py checks it)
    savepoint: bool = True


class Prepared(NamedTuple):
    """One tool call, ready to run: its handler, whether it writes, whether it needs the runner's savepoint."""

    handler: services.Handler
    writes: bool
    savepoint: bool = True


TOOL_HANDLERS: dict[str, Tool] = {
    "check_availability": Tool(a.CheckAvailabilityArgs, services.check_availability, writes=False),
    "reserve_slot": Tool(a.ReserveSlotArgs, services.reserve_slot, writes=True, savepoint=False),
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


def _failing(error: Refused) -> services.Handler:
    async def handler(uow: UnitOfWork, ctx: ToolContext) -> Any:
        raise error
    return handler


def prepare(name: str | None, arguments: dict[str, Any], arguments_error: str | None) -> Prepared:
    """The handler to execute for one call, whether it writes and needs a savepoint. Bad input yields a
    handler that fails with a refusal, so that answer is stored and replayed like any other."""
    tool = TOOL_HANDLERS.get(name or "")
    if tool is None:
        return Prepared(_failing(Refused("unknown_tool", known=tuple(sorted(TOOL_HANDLERS)))), False)
    if arguments_error:  # not_json, not_object or too_large
        return Prepared(_failing(InvalidArguments("object", arguments_error)), False)
    try:
        command = tool.args.parse(arguments)
    except Refused as e:
        return Prepared(_failing(e), False)

    async def handler(uow: UnitOfWork, ctx: ToolContext) -> Any:
        return await tool.run(command, uow, ctx)

    return Prepared(handler, tool.writes, tool.savepoint)
