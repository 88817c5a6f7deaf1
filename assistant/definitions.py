"""Each tool's Vapi function definition, rendered for one clinic from its argument model.

A definition is the body of Vapi's `POST /tool` (CreateFunctionToolDTO): `type: "function"`, `async: false`
(Vapi waits for the answer: a booking tool must never be fire-and-forget), `function` (name, a description
written for the voice model, and the argument model's JSON Schema as `parameters`), `server` (our per-tool
URL, a timeout well under Vapi's 20 s default, and the clinic's credential) and `messages` (what the
assistant says while it waits, and if the tool fails).
"""

from __future__ import annotations

from typing import Any

from domain.model import Schedule
from domain.tool_names import tools_for

from .tool_args import ARGUMENTS, parameters_schema

#: how long Vapi waits for one tool's answer; our answers take milliseconds, so anything near this is a fault
#: the assistant should apologise for rather than keep the caller in silence for Vapi's default 20 s
TOOL_TIMEOUT_SECONDS = 8
#: after this long without an answer, the assistant says the tool's `request-response-delayed` line
DELAYED_AFTER_MS = 2000

#: what the assistant says when it calls a tool (not blocking: it talks while we answer), and after
#: DELAYED_AFTER_MS without an answer
_WAITING = {
    "check_availability": ("Let me check the calendar.", "I'm still looking at the calendar, one moment."),
    "reserve_slot": ("Let me hold that time for you.", "Still holding that time for you, one moment."),
    "release_slot": ("", "One moment."),
    "book_appointment": ("I'm booking that now.", "Still booking, one moment please."),
    "lookup_appointments": ("Let me look up your appointments.", "Still looking, one moment."),
    "cancel_appointment": ("I'm cancelling that now.", "Still working on it, one moment."),
    "reschedule_appointment": ("Let me move that for you.", "Still moving it, one moment."),
    "reserve_atomic": ("Let me hold that time and text you a code.", "Still working on it, one moment."),
    "send_otp": ("I'm texting you a code now.", "Still sending it, one moment."),
    "verify_otp": ("Let me check that code.", "Still checking, one moment."),
    "send_confirmation": ("I'll text that to you now.", "Still sending it, one moment."),
}
#: said when a tool fails (timeout, network): the tool's own answers carry their own speakable errors
_FAILED = "I'm sorry, I'm having trouble reaching the booking system. Let me try that again."


def tool_definitions(schedule: Schedule, public_url: str, secret: str | None) -> dict[str, dict[str, Any]]:
    """The clinic's tools (domain.tool_names.tools_for), each as a Vapi function tool, by name.

    The server is authenticated with the clinic's Vapi credential when its `[vapi] credential_id` names one,
    else with the `X-Vapi-Secret` header carrying `secret` (None: no credential, for showing only).
    """
    server: dict[str, Any] = {"timeoutSeconds": TOOL_TIMEOUT_SECONDS}
    if schedule.vapi.credential_id:
        server["credentialId"] = schedule.vapi.credential_id
    elif secret is not None:
        server["headers"] = {"X-Vapi-Secret": secret}
    out: dict[str, dict[str, Any]] = {}
    for name in tools_for(schedule.require_otp, schedule.vapi.tools):
        parameters = parameters_schema(ARGUMENTS[name])
        description = parameters.pop("description")
        start, delayed = _WAITING[name]
        out[name] = {
            "type": "function",
            "async": False,
            "function": {"name": name, "description": description, "parameters": parameters},
            "server": {"url": f"{public_url.rstrip('/')}/vapi/tools/{name}", **server},
            "messages": [
                {"type": "request-start", "content": start, "blocking": False},
                {"type": "request-response-delayed", "content": delayed, "timingMilliseconds": DELAYED_AFTER_MS},
                {"type": "request-failed", "content": _FAILED},
            ],
        }
    return out
