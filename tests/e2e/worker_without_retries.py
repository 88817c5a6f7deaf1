"""What `frontdesk worker` runs in each worker process, except that a failed text is not retried: it is
dead-lettered at its first failure. For tests that need a dead-lettered text from a real worker process at
once, without waiting out send_sms's twelve retries. Run as
`python -m dramatiq tests.e2e.worker_without_retries:setup --processes 1 --threads 2`."""

from __future__ import annotations

from dramatiq import get_broker

import workers.main
from domain.jobs import SEND_SMS


def setup() -> None:
    workers.main.setup()
    get_broker().get_actor(SEND_SMS.actor).options["max_retries"] = 0
