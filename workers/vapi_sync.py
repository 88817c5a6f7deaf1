"""Queue `vapi_sync`: bring one clinic's tools and assistants in Vapi up to date (domain.vapi_sync).

Slow and rate-limited, so it has a queue of its own and never holds up codes or texts. Idempotent: a run
that finds nothing to change writes nothing, so a job delivered twice or retried is harmless.
"""

from __future__ import annotations

import dramatiq
import structlog

from assistant.definitions import tool_definitions
from assistant.prompts import system_prompt
from domain.jobs import SYNC_TENANT_TOOLS
from domain.vapi_sync import SyncRefused, VapiRejected, sync_tenant

from .runtime import current

log = structlog.get_logger("frontdesk.worker")

#: Dramatiq's retries, for 429/5xx/no answer after the client's own tries and for a sync already running;
#: a refusal (bad key, invalid body, a configuration the sync cannot use) is recorded and not retried
MAX_RETRIES = 6
MIN_BACKOFF_MS = 30_000
MAX_BACKOFF_MS = 15 * 60_000
#: a sync is a few dozen requests, each bounded by the client's timeout and waits
TIME_LIMIT_MS = 10 * 60_000
#: a sync nobody ran for a day is stale: the next `tenant apply` or `vapi sync` sends a fresh one
MAX_AGE_MS = 86_400_000


async def sync_tenant_tools(tenant_id: int) -> None:
    """Sync clinic `tenant_id`'s tools and assistants to Vapi. Every run is recorded in vapi_sync_runs,
    a failure with Vapi's answer."""
    r = current()
    if r.vapi is None or r.vapi_settings is None:
        raise RuntimeError("this worker has no Vapi client (bootstrap builds it)")
    try:
        report = await sync_tenant(tenant_id, store=r.store, vapi=r.vapi, settings=r.vapi_settings,
                                   render_tools=tool_definitions, render_prompt=system_prompt, clock=r.clock)
    except (SyncRefused, VapiRejected) as e:
        log.warning("vapi_sync_refused", tenant_id=tenant_id, error=str(e))
        raise
    log.info("vapi_synced", tenant_id=tenant_id, tenant=report.slug, writes=report.writes,
             changes=report.plan.lines(), kept=report.kept)


def register(broker: dramatiq.Broker) -> dict[str, dramatiq.Actor]:
    return {SYNC_TENANT_TOOLS.actor: dramatiq.actor(
        broker=broker, queue_name=SYNC_TENANT_TOOLS.queue, actor_name=SYNC_TENANT_TOOLS.actor,
        max_retries=MAX_RETRIES, min_backoff=MIN_BACKOFF_MS, max_backoff=MAX_BACKOFF_MS,
        time_limit=TIME_LIMIT_MS, max_age=MAX_AGE_MS, throws=(SyncRefused, VapiRejected))(sync_tenant_tools)}
