"""Queue `confirmations`: booking, reschedule and cancellation texts, each sent exactly once."""

from __future__ import annotations

import dramatiq
import structlog

from domain.jobs import SEND_SMS
from domain.notify import deliver_sms

from .runtime import current

log = structlog.get_logger("frontdesk.worker")


async def send_sms(tenant_id: int, sms_id: int) -> None:
    """Send queued text `sms_id` unless it was already sent: a job delivered twice texts once."""
    r = current()
    outcome = await deliver_sms(r.store, r.sms, tenant_id, sms_id, r.clock())
    log.info("sms_job", tenant_id=tenant_id, sms_id=sms_id, outcome=outcome)


#: retries of a text before it is dead-lettered (TEXT_RETRIES); with the backoff below, about half an hour
DEFAULT_RETRIES = 12


def register(broker: dramatiq.Broker, max_retries: int = DEFAULT_RETRIES) -> dict[str, dramatiq.Actor]:
    return {SEND_SMS.actor: dramatiq.actor(
        broker=broker, queue_name=SEND_SMS.queue, actor_name=SEND_SMS.actor,
        max_retries=max_retries, min_backoff=2_000, max_backoff=300_000, time_limit=30_000,
        max_age=2 * 86_400_000)(send_sms)}
