"""The metrics module's counting rules."""

from __future__ import annotations

from prometheus_client import REGISTRY

from adapters import metrics
from domain.results import OtpRejected, SlotReleased, Verified


def now(sample: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(sample, labels) or 0.0


def test_a_tool_name_that_is_no_tool_is_counted_as_unknown():
    before = now("frontdesk_tool_calls_total", tool="unknown", outcome="unknown_tool")
    metrics.tool_called("drop_table_bookings", "unknown_tool", 0.01)
    assert now("frontdesk_tool_calls_total", tool="unknown", outcome="unknown_tool") == before + 1


def test_code_verifications_are_counted_by_result_and_the_try_that_locks_counts_as_locked():
    results = ("ok", "invalid", "locked", "expired")
    before = {r: now("frontdesk_otp_verifications_total", result=r) for r in results}
    for outcome in (Verified(), OtpRejected("otp_invalid", tries_left=2), OtpRejected("otp_locked", 0, True),
                    OtpRejected("otp_locked"), OtpRejected("otp_expired")):
        metrics.result_committed(outcome)
    added = {r: now("frontdesk_otp_verifications_total", result=r) - before[r] for r in results}
    assert added == {"ok": 1, "invalid": 1, "locked": 2, "expired": 1}


def test_released_holds_are_counted_by_how_many_and_releasing_nothing_counts_nothing():
    before = now("frontdesk_holds_total", event="released")
    metrics.result_committed(SlotReleased(0))
    metrics.result_committed(SlotReleased(2))
    assert now("frontdesk_holds_total", event="released") == before + 2
