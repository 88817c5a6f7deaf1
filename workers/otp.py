"""Queue `otp`: one-time codes. Latency-sensitive (a caller is waiting on the line), so it has its own
queue and can get its own worker group (`frontdesk worker --queues otp`).

The code is generated here, just before sending, and only its salted hash is stored; it never appears in
a job's arguments, a database row or a log line. A job older than the code's validity is dropped.
"""

from __future__ import annotations

import dramatiq
import structlog

from adapters import metrics
from domain.jobs import SEND_CODE
from domain.model import SmsJob
from domain.notify import deliver_sms
from domain.otp import hash_code, new_code, new_salt
from domain.wording.texts import otp_code_text

from .runtime import current

#: matches the default code validity: an older job is dropped by Dramatiq before it runs
MAX_AGE_MS = 300_000
log = structlog.get_logger("frontdesk.worker")

_SETTLED = {"sent": "sent", "failed": "failed", "opted_out": "failed", "expired": "expired"}


async def send_code(tenant_id: int, challenge_id: int, sms_id: int) -> None:
    """Text a fresh code for challenge `challenge_id` unless it was verified, replaced or is too old; a job
    delivered twice texts once."""
    r = current()
    now = r.clock()

    async def body(job: SmsJob) -> str | None:
        code, salt = new_code(), new_salt()
        ttl = await r.store.otp_arm(tenant_id, challenge_id, hash_code(code, salt), salt, now)
        tenant = await r.store.tenant_sms(tenant_id)
        if ttl is None or tenant is None:
            return None  # verified, replaced or too old: never send a code late
        return otp_code_text(tenant.name, code, ttl // 60)

    outcome = await deliver_sms(r.store, r.sms, tenant_id, sms_id, now, body_for=body)
    if outcome in _SETTLED:
        await r.store.otp_mark(tenant_id, challenge_id, _SETTLED[outcome], now)
    metrics.OTP_SENDS.labels(outcome).inc()
    log.info("otp_job", tenant_id=tenant_id, challenge_id=challenge_id, outcome=outcome)


def register(broker: dramatiq.Broker) -> dict[str, dramatiq.Actor]:
    return {SEND_CODE.actor: dramatiq.actor(
        broker=broker, queue_name=SEND_CODE.queue, actor_name=SEND_CODE.actor, max_retries=6,
        min_backoff=500, max_backoff=10_000, time_limit=20_000, max_age=MAX_AGE_MS)(send_code)}
