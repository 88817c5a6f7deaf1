"""The assistant's system prompt for one clinic.

PLACEHOLDER: the real prompts are written in branch vapi-defs and replace this module at merge; the tool
sync (`frontdesk vapi sync`) only relies on `system_prompt(schedule) -> str`.
"""

from __future__ import annotations

from domain.model import Schedule
from domain.tool_names import tools_for


def system_prompt(schedule: Schedule) -> str:
    """A short prompt naming the clinic and the tools its assistant has."""
    tools = ", ".join(tools_for(schedule.require_otp, schedule.vapi.tools))
    return (f"You are the receptionist of {schedule.name}. You book, move and cancel appointments for "
            f"callers using these tools: {tools}. Never guess a time: check availability first.")
