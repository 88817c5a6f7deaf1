"""The Python load generator of `make bench`, run as a process of its own (never inside the server's).

    python bench/loadgen.py load --url URL --kind get|check|reserve --connections 32 --seconds 10 [...]
    python bench/loadgen.py race --url URL --secret S --nonce N --slot "Chair 1<TAB>2026-12-01T09:00" --racers 200

`load` does what bench/toolcalls.lua does with wrk, and is the fallback when wrk is not installed: it keeps
N connections busy for a bounded time and prints one line `LOADGEN_JSON {...}` with the same fields as the
wrk script's summary (so bench/run.py reads either). Being Python on a shared core, it runs out of breath
long before the bare aiohttp handler does, so with it the baselines are lower bounds.

`race` opens N connections first, then sends N reserve_slot calls for one slot, each from its own call, at
once, and prints `RACE_JSON {...}`: seconds from the first request sent to the last answer, winners, refusals.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stats import percentile  # noqa: E402


def envelope(name: str, arguments: dict, call_id: str, tool_call_id: str, assistant: str) -> dict:
    call: dict = {"id": call_id}
    if assistant and assistant != "-":
        call["assistantId"] = assistant
    return {"message": {"type": "tool-calls", "call": call, "customer": {"number": "+15555550123"},
                        "toolCallList": [{"id": tool_call_id, "type": "function",
                                          "function": {"name": name, "arguments": arguments}}]}}


def outcome(status: int, body: bytes) -> str:
    """ok, refused or other, by the tool result's "ok" (Vapi's result is a JSON string inside the answer)."""
    if status != 200:
        return "other"
    try:
        result = json.loads(body)["results"][0]["result"]
        result = json.loads(result) if isinstance(result, str) else result
        return "ok" if result.get("ok") else "refused"
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return "other"


def read_slots(path: str, first: int, count: int) -> list[tuple[str, str]]:
    with open(path) as f:
        lines = f.read().splitlines()[first:first + count]
    return [tuple(line.split("\t", 1)) for line in lines]  # type: ignore[misc]


async def load(args: argparse.Namespace) -> dict:
    slots = read_slots(args.slots, args.first, args.count) if args.kind == "reserve" else []
    headers = {"X-Vapi-Secret": args.secret} if args.kind != "get" else {}
    latencies: list[float] = []
    counts = {"ok": 0, "refused": 0, "other": 0}
    errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
    counter = 0

    def next_request() -> tuple[str, dict | None]:
        nonlocal counter
        counter += 1
        if args.kind == "get":
            return "GET", None
        tool_call = f"tc-{args.nonce}-py-{counter}"
        if args.kind == "check":
            return "POST", envelope("check_availability", {"service": "Cleaning"},
                                    f"c-{args.nonce}-py-{counter // 10}", tool_call, args.assistant)
        resource, start = slots[(counter - 1) % len(slots)]
        return "POST", envelope("reserve_slot", {"start": start, "resource": resource},
                                f"r-{args.nonce}-py-{counter}", tool_call, args.assistant)

    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.connections),
                                     timeout=timeout) as session:
        deadline = time.perf_counter() + args.seconds

        async def connection() -> None:
            while time.perf_counter() < deadline:
                method, body = next_request()
                t0 = time.perf_counter()
                try:
                    async with session.request(method, args.url, json=body, headers=headers) as resp:
                        data = await resp.read()
                except asyncio.TimeoutError:
                    errors["timeout"] += 1
                    continue
                except aiohttp.ClientConnectionError:
                    errors["connect"] += 1
                    await asyncio.sleep(0.01)
                    continue
                latencies.append(time.perf_counter() - t0)
                if resp.status >= 400:
                    errors["status"] += 1
                if args.kind != "get":
                    counts[outcome(resp.status, data)] += 1

        started = time.perf_counter()
        await asyncio.gather(*[connection() for _ in range(args.connections)])
        elapsed = time.perf_counter() - started

    def us(p: float) -> int:
        return int(percentile(latencies, p) * 1e6) if latencies else 0

    return {"requests": len(latencies), "duration_us": int(elapsed * 1e6), "p50_us": us(50), "p90_us": us(90),
            "p99_us": us(99), "max_us": us(100),
            "mean_us": sum(latencies) / len(latencies) * 1e6 if latencies else 0.0,
            "errors": errors, **counts}


async def race(args: argparse.Namespace) -> dict:
    resource, start = args.slot.split("\t", 1)
    headers = {"X-Vapi-Secret": args.secret}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.racers),
                                     timeout=aiohttp.ClientTimeout(total=30)) as session:
        base = args.url.split("/vapi/")[0]
        # open the connections first: the race is about answering, not about TCP handshakes
        await asyncio.gather(*[_get(session, base + "/healthz") for _ in range(args.racers)])
        bodies = [envelope("reserve_slot", {"start": start, "resource": resource}, f"race-{args.nonce}-{i}",
                           f"tc-race-{args.nonce}-{i}", args.assistant) for i in range(args.racers)]
        go = asyncio.Event()
        answered: list[tuple[float, str]] = []

        async def racer(body: dict) -> None:
            await go.wait()
            async with session.post(args.url, json=body, headers=headers) as resp:
                data = await resp.read()
            answered.append((time.perf_counter(), outcome(resp.status, data)))

        tasks = [asyncio.create_task(racer(b)) for b in bodies]
        await asyncio.sleep(0)  # every racer waits on the event
        t0 = time.perf_counter()
        go.set()
        await asyncio.gather(*tasks)
    times = sorted(t - t0 for t, _ in answered)
    kinds = [k for _, k in answered]
    return {"racers": args.racers, "answered": len(answered), "last_answer_s": times[-1],
            "first_answer_s": times[0], "p50_answer_s": percentile(times, 50), "winners": kinds.count("ok"),
            "refused": kinds.count("refused"), "other": kinds.count("other")}


async def _get(session: aiohttp.ClientSession, url: str) -> None:
    async with session.get(url) as resp:
        await resp.read()


def main() -> int:
    parser = argparse.ArgumentParser(description="Python load generator of make bench")
    sub = parser.add_subparsers(dest="mode", required=True)
    lp = sub.add_parser("load")
    lp.add_argument("--url", required=True)
    lp.add_argument("--kind", choices=("get", "check", "reserve"), required=True)
    lp.add_argument("--connections", type=int, default=32)
    lp.add_argument("--seconds", type=float, default=10)
    lp.add_argument("--secret", default="")
    lp.add_argument("--nonce", default="x")
    lp.add_argument("--assistant", default="-")
    lp.add_argument("--slots", default="")
    lp.add_argument("--first", type=int, default=0)
    lp.add_argument("--count", type=int, default=0)
    rp = sub.add_parser("race")
    rp.add_argument("--url", required=True)
    rp.add_argument("--secret", required=True)
    rp.add_argument("--nonce", required=True)
    rp.add_argument("--assistant", default="-")
    rp.add_argument("--slot", required=True)
    rp.add_argument("--racers", type=int, default=200)
    args = parser.parse_args()
    if args.mode == "load":
        print("LOADGEN_JSON " + json.dumps(asyncio.run(load(args))), flush=True)
    else:
        print("RACE_JSON " + json.dumps(asyncio.run(race(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
