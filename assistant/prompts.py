"""A clinic's system prompt for its Vapi assistant, rendered from versioned Jinja2 templates.

Two flows, one template each in assistant/templates/: `booking.md.j2` (find, read back, hold with
reserve_slot, read back, book_appointment) and, for a clinic with `require_otp`, `otp.md.j2` (find, read
back, hold and text a code with reserve_atomic, verify_otp books). Both include the same parts: the clinic
(name, zone, services, providers, whether codes are required), the tools, how to speak and pass dates,
other requests, and what to do for each code a tool answers. A prompt names exactly the clinic's tools
(domain.tool_names.tools_for): every part that mentions a tool is conditional on the clinic having it.

Each flow's first line is `{# prompt version: N #}`; the rendered prompt states it on its last line, so a
transcript shows which prompt an assistant had. Bump N with any change to the flow or a part it includes.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import jinja2

from domain.model import Schedule
from domain.phones import written
from domain.tool_names import ALL_TOOLS, tools_for

#: the flow template a clinic's prompt is rendered from, by whether it requires codes
FLOWS = {False: "booking.md.j2", True: "otp.md.j2"}

_VERSION_LINE = re.compile(r"\A\{#\s*prompt version:\s*(\d+)\s*#\}")
#: Vapi renders Liquid in a system prompt: this gives the assistant the clinic's local date and time (Vapi's
#: own {{now}} is UTC). The zone is filled in per clinic.
_LOCAL_NOW = '{{"now" | date: "%A %B %d, %Y, %I:%M %p", "ZONE"}}'


@cache
def _templates() -> jinja2.Environment:
    # built on first use, not at import: the templates are package data read from disk
    return jinja2.Environment(
        loader=jinja2.PackageLoader("assistant", "templates"),
        autoescape=False,  # plain text for a language model, not HTML
        undefined=jinja2.StrictUndefined,  # a misspelt variable fails the render instead of vanishing
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,  # so that an included part ends its paragraph
    )


def prompt_version(schedule: Schedule) -> str:
    """The flow and version of the clinic's prompt, e.g. "booking-1" or "otp-1"."""
    name = FLOWS[schedule.require_otp]
    return f"{name.split('.')[0]}-{_version_of(name)}"


def _version_of(template: str) -> int:
    env = _templates()
    assert env.loader is not None
    source, _, _ = env.loader.get_source(env, template)
    match = _VERSION_LINE.match(source)
    if match is None:
        raise ValueError(f"{template} must start with a {{# prompt version: N #}} line")
    return int(match.group(1))


def system_prompt(schedule: Schedule) -> str:
    """The clinic's system prompt: the code flow when it requires codes, else the booking flow."""
    name = FLOWS[schedule.require_otp]
    tools = tools_for(schedule.require_otp, schedule.vapi.tools)
    # the tool the flow holds a time with: a clinic with codes holds and texts the code in one step
    holds = ("reserve_atomic", "reserve_slot") if schedule.require_otp else ("reserve_slot",)
    context: dict[str, Any] = {
        "version": _version_of(name),
        "tools": tools,
        "has": {tool: tool in tools for tool in ALL_TOOLS},
        "hold_tool": next((tool for tool in holds if tool in tools), None),
        "clinic": _clinic(schedule),
    }
    return _templates().get_template(name).render(context).strip() + "\n"


def _clinic(schedule: Schedule) -> dict[str, Any]:
    services = {s.id: s.name for s in schedule.services}
    phone = written(schedule.phone, schedule.country) if schedule.phone else None
    return {
        "name": schedule.name,
        "timezone": schedule.tz.key,
        "local_now": _LOCAL_NOW.replace("ZONE", schedule.tz.key),
        "phone": phone,
        "phone_spoken": _in_groups(phone) if phone else None,
        "services": [{"name": s.name, "minutes": s.minutes} for s in schedule.services],
        "providers": [{"name": r.name, "services": [services[i] for i in sorted(r.service_ids) if i in services]}
                      for r in schedule.resources],
        "require_otp": schedule.require_otp,
        "hold_minutes": schedule.hold_minutes,
        "code_minutes": schedule.otp.code_ttl_seconds // 60,
        "code_tries": schedule.otp.max_attempts,
    }


def _in_groups(number: str) -> str:
    """"(555) 701-0100" -> "5 5 5, 7 0 1, 0 1 0 0": digit by digit, in the groups it is written in."""
    return ", ".join(" ".join(group) for group in re.findall(r"\d+", number))
