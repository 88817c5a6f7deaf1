"""Webhook-to-SMS latency and confirmation throughput, with real processes on 127.0.0.1.

    .venv/bin/python bench/sms_latency.py [--bookings 60] [--backlog 300]

Starts the web server and `frontdesk worker` processes against a fresh PostgreSQL database and Redis
(REDIS_URL, else 127.0.0.1:6379, else an embedded Redis), with a local fake Twilio that the real twilio
client is pointed at. Measures, for book_appointment tool calls over HTTP:
  - latency from the tool call's answer to the fake Twilio receiving the confirmation, p50/p99, with an
    idle worker and with a worker busy with a steady stream of other bookings;
  - the tool call's own latency (the enqueue is an outbox insert plus a background publish);
  - the throughput of a backlog of confirmations drained by 2 worker processes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import aiohttp
import psycopg
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import admin_url, free_port  # noqa: E402
from domain.tenant_config import parse_tenant  # noqa: E402
from frontdesk import bootstrap  # noqa: E402
from frontdesk.settings import Settings  # noqa: E402

SECRET = "bench-secret-" + secrets.token_hex(8)
TZ = ZoneInfo("America/New_York")
RESOURCES = [f"Chair {i}" for i in range(1, 21)]


def tenant_file() -> dict:
    every_day = {d: ["00:00-23:45"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    return {"tenant": {"slug": "bench", "name": "Bench Clinic", "timezone": "America/New_York",
                       "webhook_secret": SECRET, "min_notice_minutes": 0, "booking_horizon_days": 60},
            "services": [{"name": "Cleaning", "minutes": 15}],
            "resources": [{"name": r, "services": ["Cleaning"], "hours": every_day} for r in RESOURCES]}


def slots():
    """Distinct (resource, local start) pairs, from tomorrow on."""
    day = datetime.now(TZ).date() + timedelta(days=1)
    while True:
        for minute in range(0, 23 * 60, 15):
            for r in RESOURCES:
                yield r, f"{day.isoformat()}T{minute // 60:02d}:{minute % 60:02d}"
        day += timedelta(days=1)


def redis_url():
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        import redis
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return url, None
    except Exception:
        from frontdesk.embedded import start_redis
        return start_redis(Path(tempfile.mkdtemp(prefix="fdbench-")))


class FakeTwilio:
    def __init__(self) -> None:
        self.received: dict[str, float] = {}  # To -> when the (first) text for it arrived

    async def create(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.received.setdefault(form["To"], time.perf_counter())
        return web.json_response({"sid": "SM" + secrets.token_hex(16), "status": "queued"}, status=201)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


async def book(session, base: str, resource: str, start: str, phone: str, secret: str = "") -> float:
    """reserve then book in one call; returns when the book answer arrived (and how long book took)."""
    call = f"bench-{secrets.token_hex(6)}"

    async def tool(name: str, args: dict) -> dict:
        body = {"message": {"type": "tool-calls", "call": {"id": call}, "customer": {"number": phone},
                            "toolCallList": [{"id": secrets.token_hex(8), "function": {"name": name,
                                                                                       "arguments": args}}]}}
        async with session.post(base + "/vapi/webhook", json=body, headers={"X-Vapi-Secret": secret or SECRET}) as r:
            return json.loads((await r.json())["results"][0]["result"])

    held = await tool("reserve_slot", {"start": start, "resource": resource})
    assert held["ok"], held
    t0 = time.perf_counter()
    booked = await tool("book_appointment", {"name": "Bench"})
    t1 = time.perf_counter()
    assert booked["ok"], booked
    return t1, t1 - t0


async def main_async(args) -> None:
    admin = admin_url()
    name = f"fd_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db_url = urlunsplit(urlsplit(admin)._replace(path="/" + name))
    r_url, r_handle = redis_url()
    fake = FakeTwilio()
    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{a}/Messages.json", fake.create)
    runner = web.AppRunner(app)
    await runner.setup()
    tw_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", tw_port).start()
    procs: list[subprocess.Popen] = []
    env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": r_url, "QUEUE_NAMESPACE": name,
           "SMS_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "x",
           "TWILIO_FROM_NUMBER": "+15557010100", "TWILIO_API_BASE": f"http://127.0.0.1:{tw_port}",
           "LOG_FORMAT": "json"}
    logf = open(tempfile.mktemp(prefix="fdbench-", suffix=".log"), "w")

    def spawn(*argv: str) -> subprocess.Popen:
        p = subprocess.Popen([sys.executable, "-m", "frontdesk.cli", *argv], cwd=ROOT, env=env, stdout=logf,
                             stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(p)
        return p

    def stop(p: subprocess.Popen) -> None:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)

    try:
        print(f"database {name}, redis {r_url}: migrating ...", flush=True)
        bootstrap.migrate(db_url)
        store = bootstrap.build_store(Settings.from_env({"DATABASE_URL": db_url}))
        await store.apply_tenant(parse_tenant(tenant_file(), "bench", {}))
        await store.engine.dispose()
        port = free_port()
        spawn("serve", "--host", "127.0.0.1", "--port", str(port))
        worker = spawn("worker", "--processes", "1", "--threads", "4")
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(base + "/readyz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            free = slots()
            phones = (f"+1555{n:07d}" for n in range(1, 10_000_000))

            async def measure(count: int) -> tuple[list[float], list[float]]:
                lat, own = [], []
                for _ in range(count):
                    resource, start = next(free)
                    phone = next(phones)
                    t_answer, took = await book(session, base, resource, start, phone)
                    own.append(took)
                    while phone not in fake.received:
                        await asyncio.sleep(0.002)
                    lat.append(fake.received[phone] - t_answer)
                return lat, own

            print(f"idle worker: {args.bookings} bookings one after another ...", flush=True)
            await measure(5)  # warm-up
            idle, idle_own = await measure(args.bookings)

            print(f"busy worker: {args.bookings} bookings while 8 other callers book continuously ...", flush=True)
            stop_load = asyncio.Event()

            async def background() -> None:
                while not stop_load.is_set():
                    resource, start = next(free)
                    await book(session, base, resource, start, next(phones))

            load = [asyncio.create_task(background()) for _ in range(8)]
            busy, busy_own = await measure(args.bookings)
            stop_load.set()
            await asyncio.gather(*load)

            print(f"backlog: {args.backlog} confirmations queued with the worker stopped, then 2 worker "
                  "processes drain them ...", flush=True)
            stop(worker)
            backlog_phones = []
            sem = asyncio.Semaphore(16)

            async def queued() -> None:
                async with sem:
                    resource, start = next(free)
                    phone = next(phones)
                    backlog_phones.append(phone)
                    await book(session, base, resource, start, phone)

            await asyncio.gather(*[queued() for _ in range(args.backlog)])
            t0 = time.perf_counter()
            spawn("worker", "--processes", "2", "--threads", "4")
            deadline = t0 + 120
            while not all(p in fake.received for p in backlog_phones) and time.perf_counter() < deadline:
                await asyncio.sleep(0.01)
            drained = sum(p in fake.received for p in backlog_phones)
            # time from the first to the last text received (worker start-up excluded)
            times = sorted(fake.received[p] for p in backlog_phones if p in fake.received)
            span = times[-1] - times[0] if len(times) > 1 else float("nan")

        def row(label: str, values: list[float]) -> str:
            return (f"{label:<44}{statistics.median(values) * 1000:>9.1f}{pct(values, 0.99) * 1000:>9.1f}"
                    f"{len(values):>6}")

        print(f"\n{os.cpu_count()} cores; web: 1 process; worker: 1 process x 4 threads "
              f"(backlog: 2 processes x 4 threads); WORKER_IDLE_MS={os.environ.get('WORKER_IDLE_MS', '100')}")
        print(f"{'':<44}{'p50 ms':>9}{'p99 ms':>9}{'n':>6}")
        print(row("answer -> fake Twilio, idle worker", idle))
        print(row("answer -> fake Twilio, busy worker (8 bookers)", busy))
        print(row("book_appointment tool call itself, idle", idle_own))
        print(row("book_appointment tool call itself, busy", busy_own))
        print(f"backlog: {drained}/{len(backlog_phones)} texts delivered by 2 worker processes in {span:.2f} s "
              f"= {drained / span:.0f} texts/s" if span == span and span > 0 else "backlog: not drained")
    finally:
        for p in procs:
            stop(p)
        await runner.cleanup()
        logf.close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if r_handle is not None:
            r_handle.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description="webhook-to-SMS latency benchmark")
    parser.add_argument("--bookings", type=int, default=60)
    parser.add_argument("--backlog", type=int, default=300)
    asyncio.run(main_async(parser.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
