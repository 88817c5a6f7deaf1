"""The background jobs, declared once: which queue each runs on and its actor's name.

Use cases enqueue by these (through the unit of work's outbox), the workers register their actors under
them, the broker declares exactly their queues and the clock enqueues the sweeper by them; a name
spelled twice can drift, a constant cannot. A queue exists only because a job runs on it.

One queue per concern, so a queue can get its own worker group (`frontdesk worker --queues otp`):
`otp` is the latency-sensitive one (a caller is waiting on the line for the code); `confirmations` and
`holds` can lag by seconds without anyone noticing; `vapi_sync` talks to Vapi's REST API, slowly and with
long backoffs, and must never hold up the others.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Job:
    """A kind of background job: the Dramatiq queue it is published to and the actor that runs it."""

    queue: str
    actor: str


#: text a one-time code for an OTP challenge, generated just before sending; args (tenant_id, challenge_id,
#: sms_id). Latency-sensitive: the caller is on the line waiting for it, so `otp` has its own queue.
SEND_CODE = Job("otp", "send_code")
#: send a queued booking, reschedule or cancellation text exactly once; args (tenant_id, sms_id)
SEND_SMS = Job("confirmations", "send_sms")
#: release one hold at its expires_at if it is still held (delayed until then); args (tenant_id, hold_id)
EXPIRE_HOLD = Job("holds", "expire_hold")
#: release every hold whose time is up, catching any EXPIRE_HOLD that was lost; no args (the clock sends it)
SWEEP_EXPIRED_HOLDS = Job("holds", "sweep_expired_holds")

#: bring one clinic's tools and assistants in Vapi up to date with its configuration; args (tenant_id,)
SYNC_TENANT_TOOLS = Job("vapi_sync", "sync_tenant_tools")

#: every job, each with exactly one actor in workers/
JOBS: tuple[Job, ...] = (SEND_CODE, SEND_SMS, EXPIRE_HOLD, SWEEP_EXPIRED_HOLDS, SYNC_TENANT_TOOLS)
#: the queues the broker declares: those the jobs run on, in order of first appearance, each once
QUEUES: tuple[str, ...] = tuple(dict.fromkeys(job.queue for job in JOBS))
