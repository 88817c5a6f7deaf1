"""The receptionist's tools, by name: which exist, and which a clinic's assistant gets.

Standard library only. webhook/tools.py registers a handler for each name and a test keeps the two equal;
the tenant file's `[vapi] tools` may narrow a clinic's set to some of them.
"""

from __future__ import annotations

#: every tool, in the order an assistant's definitions and prompts list them
ALL_TOOLS: tuple[str, ...] = (
    "check_availability", "reserve_slot", "release_slot", "book_appointment", "lookup_appointments",
    "cancel_appointment", "reschedule_appointment", "reserve_atomic", "send_otp", "verify_otp",
    "send_confirmation",
)
#: the one-time-code tools: a clinic without `require_otp` does not get them
OTP_TOOLS: frozenset[str] = frozenset({"reserve_atomic", "send_otp", "verify_otp"})


def tools_for(require_otp: bool, narrowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The tools a clinic's assistant gets: all of them, minus the code tools unless codes are required,
    and only those in `narrowed` when the tenant file names some. In ALL_TOOLS order."""
    return tuple(t for t in ALL_TOOLS
                 if (require_otp or t not in OTP_TOOLS) and (narrowed is None or t in narrowed))
