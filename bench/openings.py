"""The pure Python of a check_availability answer, without the web server or the database.

    .venv/bin/python bench/openings.py [--calls 2000] [--repeat 7] [--code DIR]

Loads the demo clinic (examples/demo-clinic.toml, through domain.tenant_config) as the Schedule the store
would cache, fills its 60-day horizon with a realistic busy list (about half of each working day booked, in
the services' lengths), and times what one tool call computes between the busy query and the stored
answer: reading the arguments (assistant.tool_args), the use case (domain.services.search, against an
in-memory unit of work that only hands out the schedule and the busy rows), and the presenter wording the
answer as JSON. Each shape is called `--calls` times in a row, `--repeat` times; it prints the median
and the least CPU time of this process (time.process_time, so that other processes on a shared machine
count less than in wall time) in microseconds per call. The Schedule is reused across calls, as the store reuses it per configuration
version, except in the "fresh Schedule" row (a copy per call: the first call after a configuration change).

No I/O happens in the timed code: the use case's awaits never suspend, so each call is driven by hand
instead of by an event loop.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import statistics
import sys
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
#: --code DIR times another checkout's code with this script (e.g. `git archive main | tar -x -C DIR`)
ROOT = Path(sys.argv[sys.argv.index("--code") + 1]).resolve() if "--code" in sys.argv else HERE
sys.path.insert(0, str(ROOT))

from assistant.schedule import EnvironForShowing, schedule_from_spec  # noqa: E402
from assistant.tool_args import CheckAvailabilityArgs, ReserveSlotArgs  # noqa: E402
from domain.model import Refused, Schedule, ToolContext  # noqa: E402
from domain.services import search  # noqa: E402
from domain.tenant_config import load_tenant_file  # noqa: E402
from domain.when import parse_moment  # noqa: E402
from domain.wording.presenter import answer  # noqa: E402
from domain.working_time import day_bounds, working_time  # noqa: E402

UTC = timezone.utc
#: Monday 1 March 2027, 08:07 in New York: the clinic opens within the notice period
NOW = datetime(2027, 3, 1, 13, 7, tzinfo=UTC)
#: the week the "no availability" shape asks about is booked solid
FULL_WEEK = date(2027, 3, 15)

Busy = dict[int, list[tuple[datetime, datetime]]]


def busy_rows(schedule: Schedule, seed: int = 7) -> Busy:
    """About half of each working interval booked, in the clinic's service lengths on its grain, for the
    whole horizon; the FULL_WEEK booked from opening to closing."""
    rng = random.Random(seed)
    today = schedule.today(NOW)
    lengths = sorted({timedelta(minutes=s.minutes) for s in schedule.services})
    grain = timedelta(minutes=schedule.slot_minutes)
    rows: Busy = {}
    for r in schedule.resources:
        taken = rows.setdefault(r.id, [])
        for n in range(schedule.booking_horizon_days + 1):
            day = today + timedelta(days=n)
            for opens, closes in working_time(schedule, r, day):
                if FULL_WEEK <= day < FULL_WEEK + timedelta(days=7):
                    taken.append((opens, closes))
                    continue
                t = opens
                while t < closes:
                    length = rng.choice(lengths)
                    if rng.random() < 0.5 and t + length <= closes:
                        taken.append((t, t + length))
                        t += length
                    else:
                        t += grain
    return rows


class MemoryUnitOfWork:
    """The two reads a check_availability makes, from memory (what the store would return)."""

    def __init__(self, schedule: Schedule, busy: Busy, ends: dict[int, list[datetime]] | None = None) -> None:
        self._schedule, self._busy = schedule, busy
        # a resource's rows never overlap, so sorted by start they are sorted by end too
        self._ends = ends if ends is not None else {i: [e for _, e in rows] for i, rows in busy.items()}

    def with_schedule(self, schedule: Schedule) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(schedule, self._busy, self._ends)

    async def schedule(self) -> Schedule:
        return self._schedule

    async def busy(self, resource_ids: list[int], start: datetime, end: datetime, now: datetime) -> Busy:
        out: Busy = {}
        for i in resource_ids:
            rows = self._busy.get(i, [])
            out[i] = rows[bisect_right(self._ends.get(i, []), start):bisect_left(rows, (end,))]
        return out


def run(coro: Any) -> Any:
    """The result of a coroutine that never suspends."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("the use case waited on something")


def check(uow: Any, arguments: dict[str, Any]) -> str:
    """One check_availability, arguments to the answer's JSON."""
    ctx = ToolContext(tenant_id=1, call_id="call-1", tool_call_id="tc-1", caller_phone=None, now=NOW)
    try:
        cmd = CheckAvailabilityArgs.parse(arguments)
        outcome = run(search.check_availability(cmd, uow, ctx))
    except Refused as refused:
        outcome = refused
    return answer(outcome)


def taken(uow: Any, schedule: Schedule, arguments: dict[str, Any]) -> str:
    """What reserve_slot computes when its time was just taken: the nearest alternatives, worded."""
    cmd = ReserveSlotArgs.parse(arguments)
    service = schedule.service_named(cmd.service)
    resources = schedule.resources_for(service, cmd.resource)
    start = parse_moment(cmd.start, schedule.tz, "start")
    run(search.bookable_on(uow, schedule, service, resources, start, NOW))
    alternatives = run(search.alternatives(uow, schedule, service, resources, NOW, start))
    return answer(Refused("slot_taken", start=start, tz=schedule.tz, alternatives=alternatives))


def shapes(schedule: Schedule, busy: Busy) -> dict[str, Callable[[], str]]:
    uow = MemoryUnitOfWork(schedule, busy)
    full = FULL_WEEK.isoformat()
    full_end = (FULL_WEEK + timedelta(days=7)).isoformat()
    return {
        "a date (tomorrow)": lambda: check(uow, {"date": "tomorrow"}),
        "a week, afternoons, limit 10": lambda: check(
            uow, {"after": "2027-03-08T00:00", "before": "2027-03-15T00:00", "part_of_day": "afternoon",
                  "limit": 10}),
        "a week with no availability": lambda: check(
            uow, {"after": f"{full}T00:00", "before": f"{full_end}T00:00", "service": "Checkup"}),
        "reserve_slot taken: alternatives": lambda: taken(uow, schedule, {"start": "2027-03-03T10:00"}),
        "a date, fresh Schedule each call": lambda: check(
            uow.with_schedule(dataclasses.replace(schedule)), {"date": "tomorrow"}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--show", action="store_true", help="print each shape's answer once")
    parser.add_argument("--code", metavar="DIR", help="time the code of this checkout instead (read before "
                        "anything is imported)")
    args = parser.parse_args()
    spec = load_tenant_file(HERE / "examples" / "demo-clinic.toml", EnvironForShowing(os.environ))
    schedule = schedule_from_spec(spec, tenant_id=1)
    busy = busy_rows(schedule)
    lo, hi = day_bounds(schedule.today(NOW), schedule.tz)[0], NOW + timedelta(days=61)
    rows = sum(1 for r in busy.values() for s, _ in r if lo <= s < hi)
    print(f"code: {Path(sys.modules['domain'].__file__ or '').parents[1]}; "
          f"{rows} busy rows; Python {sys.version.split()[0]}")
    for name, call in shapes(schedule, busy).items():
        if args.show:
            print(f"  {name}: {call()}")
        call()  # warm up (and fill the schedule's caches, as the first call after a change does)
        per_call = []
        for _ in range(args.repeat):
            t0 = time.process_time()
            for _ in range(args.calls):
                call()
            per_call.append((time.process_time() - t0) / args.calls * 1e6)
        print(f"{name:36} {statistics.median(per_call):8.1f} us CPU per call (least {min(per_call):.1f})")


if __name__ == "__main__":
    main()
