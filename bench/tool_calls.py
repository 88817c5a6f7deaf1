"""Tool-call throughput and latency against PostgreSQL, next to baselines measured in the same run.

    .venv/bin/python bench/tool_calls.py [--seconds 5] [--concurrency 32] [--server-processes 1]
                                         [--only reserve] [--racers 200 --rounds 5]

Starts the real server (create_app) in a separate process on 127.0.0.1 with two extra baseline routes
(a bare aiohttp handler, and one SELECT 1 through the same database layer), drives it with concurrent
Vapi tool-calls POSTs from this process, and prints req/s and p50/p99 per scenario. Uses DATABASE_URL's
server when set, else 127.0.0.1:5432, else the embedded PostgreSQL; always in a fresh database that is
dropped at the end. Load goes only to 127.0.0.1 and every scenario is bounded in time.

Besides the demo clinic it applies a bench clinic (two providers open 06:00-22:00 every day in UTC, a year
ahead) for two reserve scenarios: holds on distinct free slots (each request a new call and a slot nobody
else asked for, consecutive requests on the same provider and day) and rounds of `--racers` concurrent
calls for one slot (time until the last of them is answered, and the number of winners).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import secrets
import socket
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import admin_url, free_port  # noqa: E402
from domain.tenant_config import load_tenant_file, parse_tenant  # noqa: E402
from frontdesk import bootstrap  # noqa: E402
from frontdesk.cli import DEMO_ENVIRONMENT  # noqa: E402
from frontdesk.settings import Settings  # noqa: E402

DEMO = ROOT / "examples" / "demo-clinic.toml"

#: the bench clinic's opening hours (every day, UTC) and the 30-minute slots they hold per provider and day
BENCH_HOURS = ("06:00", "22:00")
BENCH_SLOTS_PER_DAY = 32
BENCH_PROVIDERS = ("Dr A", "Dr B")


def bench_clinic() -> dict:
    every_day = {d: [f"{BENCH_HOURS[0]}-{BENCH_HOURS[1]}"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    return {"tenant": {"slug": "bench-clinic", "name": "Bench Clinic", "timezone": "UTC", "assistant_ids": ["asst_bench"],
                       "webhook_secret": "bench-secret-" + secrets.token_hex(8), "hold_minutes": 10,
                       "slot_minutes": 15, "booking_horizon_days": 366, "min_notice_minutes": 60},
            "services": [{"name": "Cleaning", "minutes": 30}],
            "resources": [{"name": name, "services": ["Cleaning"], "hours": every_day} for name in BENCH_PROVIDERS],
            "closures": []}


def bench_slot(n: int) -> dict:
    """The n-th distinct free slot of the bench clinic: providers alternate, then 30-minute steps through a day,
    then days, from two days ahead."""
    provider, k = BENCH_PROVIDERS[n % len(BENCH_PROVIDERS)], n // len(BENCH_PROVIDERS)
    day = (datetime.now() + timedelta(days=2 + k // BENCH_SLOTS_PER_DAY)).date()
    minutes = int(BENCH_HOURS[0][:2]) * 60 + 30 * (k % BENCH_SLOTS_PER_DAY)
    return {"start": f"{day.isoformat()}T{minutes // 60:02d}:{minutes % 60:02d}", "resource": provider}


def with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def serve(url: str, port: int) -> None:
    """The server process: the production app plus two baseline routes."""
    from aiohttp import web

    from webhook import create_app
    from webhook.keys import STORE

    app = create_app(Settings.from_env({"DATABASE_URL": url, "DB_POOL_SIZE": "20", "LOG_FORMAT": "json"}))

    async def bare(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def select1(request: web.Request) -> web.Response:
        await request.app[STORE].ping()  # exactly one SELECT 1 through the engine
        return web.json_response({"ok": True})

    app.router.add_get("/bench/bare", bare)
    app.router.add_get("/bench/select1", select1)
    import logging

    import structlog
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, reuse_port=True)


def envelope(name: str, args: dict, call_id: str, assistant: str = "asst_bright_1") -> dict:
    return {"message": {"type": "tool-calls", "call": {"id": call_id, "assistantId": assistant},
                        "customer": {"number": "+15555550123"},
                        "toolCallList": [{"id": f"tc-{secrets.token_hex(8)}", "type": "function",
                                          "function": {"name": name, "arguments": args}}]}}


async def drive(base: str, scenario, seconds: float, concurrency: int, secret: str | None = None) -> dict:
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    errors = 0
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def worker(w: int) -> None:
            nonlocal errors
            i = 0
            while time.perf_counter() < deadline:
                i += 1
                method, path, body = scenario(w, i)
                t0 = time.perf_counter()
                async with session.request(method, base + path, json=body,
                                           headers={"X-Vapi-Secret": secret or SECRET}) as resp:
                    data = await resp.read()
                latencies.append(time.perf_counter() - t0)
                if resp.status != 200:
                    errors += 1
                    continue
                if body is not None:
                    result = json.loads(json.loads(data)["results"][0]["result"])
                    key = "ok" if result["ok"] else result["code"]
                    outcomes[key] = outcomes.get(key, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*[worker(w) for w in range(concurrency)])
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "n": len(latencies), "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "errors": errors, "outcomes": outcomes,
    }


SECRET = ""
BENCH_SECRET = ""


async def race(base: str, racers: int, rounds: int) -> dict:
    """Rounds of `racers` concurrent reserve_slot calls for one slot of the bench clinic, each a call of its own:
    per round, the time until the last caller is answered, and how many got the slot."""
    walls: list[float] = []
    winners: list[int] = []
    outcomes: dict[str, int] = {}
    errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=racers)) as session:
        async def one(rnd: int, i: int, args: dict) -> str:
            nonlocal errors
            body = envelope("reserve_slot", args, f"race{rnd}-{i}", "asst_bench")
            async with session.post(base + "/vapi/webhook", json=body, headers={"X-Vapi-Secret": BENCH_SECRET}) as r:
                data = await r.read()
            if r.status != 200:
                errors += 1
                return "error"
            result = json.loads(json.loads(data)["results"][0]["result"])
            return "ok" if result["ok"] else result["code"]

        for rnd in range(rounds + 1):  # round 0 warms up
            args = bench_slot(20_000 + rnd * 2)  # far from the distinct-slot scenario's slots
            t0 = time.perf_counter()
            got = await asyncio.gather(*[one(rnd, i, args) for i in range(racers)])
            if rnd == 0:
                continue
            walls.append(time.perf_counter() - t0)
            winners.append(got.count("ok"))
            for g in got:
                outcomes[g] = outcomes.get(g, 0) + 1
    return {"walls": walls, "winners": winners, "outcomes": outcomes, "errors": errors}


async def run(base: str, seconds: float, concurrency: int, only: str | None) -> list[tuple[str, dict]]:
    async with aiohttp.ClientSession() as session:
        starts: list[str] = []
        for day in range(1, 15):  # real openings to reserve, over the next two weeks
            date = (datetime.now() + timedelta(days=day)).date().isoformat()
            async with session.post(base + "/vapi/webhook", headers={"X-Vapi-Secret": SECRET},
                                    json=envelope("check_availability", {"date": date, "limit": 10}, "seed")) as r:
                result = json.loads((await r.json())["results"][0]["result"])
            starts += [o["start"] for o in result.get("openings", [])]
    print(f"  {len(starts)} openings to reserve from", flush=True)

    scenarios = [
        ("bare aiohttp handler", lambda w, i: ("GET", "/bench/bare", None)),
        ("SELECT 1 via SqlStore", lambda w, i: ("GET", "/bench/select1", None)),
        ("check_availability", lambda w, i: ("POST", "/vapi/webhook",
                                             envelope("check_availability", {"service": "Cleaning"}, f"c{w}"))),
        ("reserve_slot", lambda w, i: ("POST", "/vapi/webhook",
                                       envelope("reserve_slot", {"start": starts[(w * 7 + i) % len(starts)]},
                                                f"r{w}-{i}"))),
    ]
    # distinct free slots: the n-th request of all takes the n-th slot (warm-up and measured run share a counter)
    issued = iter(range(10**9))
    bench_scenarios = [
        ("reserve_slot, free slots", lambda w, i: ("POST", "/vapi/webhook",
                                                  envelope("reserve_slot", bench_slot(next(issued)), f"f{w}-{i}-{secrets.token_hex(3)}",
                                                           "asst_bench"))),
    ]
    rows = []
    for name, scenario in scenarios + bench_scenarios:
        if only and only not in name:
            continue
        secret = BENCH_SECRET if (name, scenario) in bench_scenarios else SECRET
        print(f"measuring {name}: {concurrency} concurrent for {seconds:.0f}s ...", flush=True)
        await drive(base, scenario, min(1.0, seconds / 5), concurrency, secret)  # warm-up
        rows.append((name, await drive(base, scenario, seconds, concurrency, secret)))
    return rows


def explain_busy(url: str) -> None:
    with psycopg.connect(url) as conn:
        tenant = conn.execute("SELECT id FROM tenants WHERE slug = 'bright-smile'").fetchone()[0]
        rids = [r[0] for r in conn.execute("SELECT id FROM resources WHERE tenant_id = %s", (tenant,))]
        count = conn.execute("SELECT count(*) FROM bookings").fetchone()[0]
        conn.execute("ANALYZE bookings")
        plan = conn.execute(
            "EXPLAIN ANALYZE SELECT resource_id, starts_at, ends_at FROM bookings "
            "WHERE tenant_id = %s AND resource_id = ANY(%s) AND status IN ('held', 'booked') "
            "AND tstzrange(starts_at, ends_at) && tstzrange(now(), now() + interval '7 days') "
            "AND (status = 'booked' OR hold_expires_at > now()) ORDER BY resource_id, starts_at",
            (tenant, rids)).fetchall()
    lines = [p[0] for p in plan]
    print(f"\nbusy-interval query over {count} bookings rows (one week, {len(rids)} resources):")
    for line in lines:
        if "Scan" in line or "Execution Time" in line or "Sort " in line[:12]:
            print("  " + line.strip())


def main() -> int:
    global SECRET, BENCH_SECRET
    parser = argparse.ArgumentParser(description="tool-call benchmark")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--server-processes", type=int, default=1,
                        help="server processes sharing the port (SO_REUSEPORT), like WEB_CONCURRENCY")
    parser.add_argument("--only", help="run only the scenarios whose name contains this (e.g. reserve)")
    parser.add_argument("--racers", type=int, default=200, help="concurrent reserves of one slot per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of racers (0: skip)")
    args = parser.parse_args()

    admin = admin_url()
    name = f"fd_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_db(admin, name)
    procs: list = []
    try:
        print(f"database {name}: migrating and applying the demo clinic ...", flush=True)
        bootstrap.migrate(url)
        spec = load_tenant_file(DEMO, DEMO_ENVIRONMENT)  # the demo secret, as `frontdesk dev` sets it
        SECRET = spec.secret
        bench_spec = parse_tenant(bench_clinic(), "bench", {})
        BENCH_SECRET = bench_spec.secret

        async def apply() -> None:
            store = bootstrap.build_store(Settings.from_env({"DATABASE_URL": url}))
            await store.apply_tenant(spec)
            await store.apply_tenant(bench_spec)
            await store.engine.dispose()

        asyncio.run(apply())
        port = free_port()
        procs = [mp.get_context("spawn").Process(target=serve, args=(url, port), daemon=True)
                 for _ in range(args.server_processes)]
        for proc in procs:
            proc.start()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline or not all(p.is_alive() for p in procs):
                    raise SystemExit("the server did not start")
                time.sleep(0.1)
        rows = asyncio.run(run(base, args.seconds, args.concurrency, args.only))
        raced = asyncio.run(race(base, args.racers, args.rounds)) if args.rounds else None
        print(f"\n{os.cpu_count()} cores, {args.server_processes} server process(es), load generator in another, "
              f"{args.concurrency} concurrent, {args.seconds:.0f}s each")
        print(f"{'scenario':<24}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}  outcomes")
        for label, r in rows:
            outs = ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items()))
            print(f"{label:<24}{r['rps']:>9.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['errors']:>8}  {outs}")
        by = dict(rows)
        if "check_availability" in by and "SELECT 1 via SqlStore" in by:
            print(f"\ncheck_availability / SELECT 1 throughput: "
                  f"{by['check_availability']['rps'] / by['SELECT 1 via SqlStore']['rps']:.2f}")
        if raced:
            walls = ", ".join(f"{w * 1000:.0f}" for w in raced["walls"])
            outs = ", ".join(f"{k} {v}" for k, v in sorted(raced["outcomes"].items()))
            print(f"\n{args.racers} concurrent reserve_slot for one slot, {args.rounds} rounds: last answer after "
                  f"[{walls}] ms; winners per round {raced['winners']}; errors {raced['errors']}; {outs}")
        if not args.only:
            explain_busy(url)
    finally:
        for proc in procs:
            proc.terminate()
            proc.join(10)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
