"""The service's Prometheus metrics, declared once, and what counts them.

The web app and the workers import this module (they may not import each other); domain/ never does: its
use cases return typed results (domain/results.py) and the edges count what those say happened.

Several processes per machine add up through prometheus_client's multiprocess mode: when
PROMETHEUS_MULTIPROC_DIR is set before prometheus_client is first imported (the `frontdesk` command sees to
it), each process writes its values to files of its own there, and `exposition()` sums the files of every
process that shares the directory. Without it (tests, one process) the values live in this process's
default registry, and that is what `exposition()` shows.

Every metric has labels, so declaring them opens no file: a process's files are created on its first count.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric

from domain.notify import SmsPermanentError, SmsSender, SmsTransientError
from domain.model import TenantSms
from domain.results import (Booked, Cancelled, OtpRejected, Outcome, Rescheduled, SlotHeld, SlotHeldCodeSent,
                            SlotReleased, Verified)
from domain.tool_names import ALL_TOOLS

#: tool calls answer within Vapi's few seconds; finer at the low end, where nearly all of them are
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

TOOL_CALLS = Counter("frontdesk_tool_calls", "Tool calls answered, by tool and outcome code "
                     "(ok, a refusal's code, replayed).", ["tool", "outcome"])
TOOL_CALL_SECONDS = Histogram("frontdesk_tool_call_duration_seconds", "Time to answer a tool call, by tool.",
                              ["tool"], buckets=LATENCY_BUCKETS)
HOLDS = Counter("frontdesk_holds", "Holds on a slot, by event: created, released (by the caller or the end "
                "of the call), expired (their time was up).", ["event"])
BOOKINGS = Counter("frontdesk_bookings", "Appointments booked, cancelled and rescheduled.", ["action"])
OTP_SENDS = Counter("frontdesk_otp_sends", "One-time-code jobs, by outcome: sent, failed, opted_out, expired "
                    "(too late to send), skipped (already settled).", ["outcome"])
OTP_VERIFICATIONS = Counter("frontdesk_otp_verifications", "Codes tried, by result: ok, invalid, locked, "
                            "expired, failed, not_sent_yet, no_code.", ["result"])
SMS_SENDS = Counter("frontdesk_sms_sends", "Texts handed to the SMS provider, by its answer: sent, failed, "
                    "opted_out (permanent), retrying (transient).", ["status"])
SMS_CALLBACKS = Counter("frontdesk_sms_status_callbacks", "Twilio's delivery reports, by status (queued, sent, "
                        "delivered, undelivered, failed).", ["status"])
JOBS_PROCESSED = Counter("frontdesk_jobs_processed", "Background job runs, by actor (each retry is a run).",
                         ["actor"])
JOBS_FAILED = Counter("frontdesk_jobs_failed", "Background job runs that raised, by actor (a retry may follow).",
                      ["actor"])

_TOOLS = frozenset(ALL_TOOLS)


def tool_called(tool: str | None, outcome: str, seconds: float) -> None:
    """One tool call answered. A name that is no tool is counted as "unknown": callers choose the names, and
    every distinct label value is a time series kept forever."""
    name = tool if tool in _TOOLS else "unknown"
    TOOL_CALLS.labels(name, outcome).inc()
    TOOL_CALL_SECONDS.labels(name).observe(seconds)


def result_committed(outcome: Outcome) -> None:
    """Count what a committed tool call did, from its result; a refusal changed nothing and counts nothing here."""
    if isinstance(outcome, SlotHeldCodeSent | SlotHeld):
        HOLDS.labels("created").inc()
    elif isinstance(outcome, SlotReleased):
        holds_released(outcome.released)
    elif isinstance(outcome, Booked):
        _booked(outcome)
    elif isinstance(outcome, Verified):
        OTP_VERIFICATIONS.labels("ok").inc()
        if isinstance(outcome.then, Booked):
            _booked(outcome.then)
    elif isinstance(outcome, OtpRejected):
        OTP_VERIFICATIONS.labels("locked" if outcome.last_try else outcome.code.removeprefix("otp_")).inc()
    elif isinstance(outcome, Cancelled):
        if not outcome.already:
            BOOKINGS.labels("cancelled").inc()
    elif isinstance(outcome, Rescheduled):
        BOOKINGS.labels("rescheduled").inc()


def _booked(booked: Booked) -> None:
    if not booked.already:  # asked again in the same call: nothing new was booked
        BOOKINGS.labels("booked").inc()


def holds_released(n: int) -> None:
    if n:
        HOLDS.labels("released").inc(n)


def holds_expired(n: int) -> None:
    if n:
        HOLDS.labels("expired").inc(n)


class CountingSms:
    """The SMS port, counting each of the provider's answers (SMS_SENDS) on the way through."""

    def __init__(self, sender: SmsSender) -> None:
        self._sender = sender

    async def send(self, tenant: TenantSms, to: str, body: str) -> str:
        try:
            sid = await self._sender.send(tenant, to, body)
        except SmsPermanentError as e:
            SMS_SENDS.labels(e.status).inc()
            raise
        except SmsTransientError:
            SMS_SENDS.labels("retrying").inc()
            raise
        SMS_SENDS.labels("sent").inc()
        return sid


def outbox_backlog(unpublished: int, oldest_age_seconds: float | None) -> list[Metric]:
    """The outbox's backlog as gauges, read from the database at scrape time (so every web process shows the
    same, and no process's stale value lingers): rows not yet on the queue, and how long the oldest has waited."""
    count = GaugeMetricFamily("frontdesk_outbox_unpublished", "Outbox rows committed but not yet published "
                              "to the job queue.", value=unpublished)
    age = GaugeMetricFamily("frontdesk_outbox_oldest_unpublished_age_seconds", "Age of the oldest unpublished "
                            "outbox row (0 when there is none).", value=oldest_age_seconds or 0.0)
    return [count, age]


class _Fixed:
    """A collector of metrics computed beforehand (prometheus_client collects synchronously; the database
    is read asynchronously, before)."""

    def __init__(self, metrics: Iterable[Metric]) -> None:
        self._metrics = list(metrics)

    def collect(self) -> Iterator[Metric]:
        return iter(self._metrics)


def exposition(multiproc_dir: str, extra: Iterable[Metric] = ()) -> bytes:
    """Every metric in Prometheus' text format: summed over the processes writing to `multiproc_dir`, or
    this process's own when it is empty; then `extra`. Reads files: run it off the event loop."""
    registry = CollectorRegistry(auto_describe=False)
    if multiproc_dir:
        multiprocess.MultiProcessCollector(registry, path=multiproc_dir)
    else:
        registry.register(REGISTRY)  # a registry is a collector: of all its collectors
    registry.register(_Fixed(extra))
    return generate_latest(registry)


def mark_process_dead(pid: int, multiproc_dir: str) -> None:
    """Forget the live gauges of process `pid` (it exited); its counters stay, as counters must."""
    if multiproc_dir:
        multiprocess.mark_process_dead(pid, multiproc_dir)
