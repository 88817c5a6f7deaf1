"""The arithmetic of `make bench`: percentiles, medians of runs, slopes, and each target of issue 10 judged.

Pure functions, so tests/unit can check them without starting anything.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile (p in 0..100): a value that was measured, never an interpolation, so a p99 of
    200 samples is the 198th smallest. NaN when there is nothing."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[min(len(ordered), max(rank, 1)) - 1]


def median_of(runs: Sequence[dict], key: str) -> float:
    """The median of one figure over repeated runs (each figure on its own: the median req/s and the median p99
    may come from different runs). NaN when no run has it."""
    values = [r[key] for r in runs if r.get(key) is not None and not _nan(r[key])]
    return statistics.median(values) if values else math.nan


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ys over xs; NaN with fewer than two distinct xs."""
    if len(xs) < 2 or len(set(xs)) < 2:
        return math.nan
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def _nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


@dataclass(frozen=True)
class Target:
    """One aim of the issue: `measured <op> bound`, where op is '>=', '<=' or '<'."""

    text: str
    op: str
    bound: float

    def met(self, measured: float | None) -> bool | None:
        """True or False; None when the figure was not measured (skipped, or NaN)."""
        if measured is None or _nan(measured):
            return None
        if self.op == ">=":
            return measured >= self.bound
        if self.op == "<=":
            return measured <= self.bound
        if self.op == "<":
            return measured < self.bound
        raise ValueError(f"unknown comparison {self.op!r}")


def verdict(results: Sequence[bool | None]) -> str:
    """MET when every part is met, NOT MET when any part is not, `not measured` when a part is missing and
    none failed."""
    if any(r is False for r in results):
        return "NOT MET"
    if not results or any(r is None for r in results):
        return "not measured"
    return "MET"


def flat(first: float, last: float, tolerance: float = 0.05) -> bool | None:
    """RSS counts as flat when the last sample is at most `tolerance` (5 %) above the first one after warm-up."""
    if _nan(first) or _nan(last) or first <= 0:
        return None
    return last <= first * (1 + tolerance)


#: issue 10's "What to reach", each as it is judged here
TARGETS = {
    "check_ratio": Target(">= 0.5 x psycopg SELECT 1", ">=", 0.5),
    "check_p99": Target("< 25 ms (1 or 2 processes)", "<", 25.0),
    "check_unloaded_p50": Target("<= 2 ms", "<=", 2.0),
    "reserve_rate": Target(">= 850 holds/s", ">=", 850.0),
    "reserve_ratio": Target(">= 1/3 x psycopg SELECT 1", ">=", 1 / 3),
    "race_last": Target("< 0.5 s, every time", "<", 0.5),
    "race_winners": Target("exactly 1, every time", "<=", 0),  # judged on the largest |winners - 1|
    "sms_p50": Target("< 150 ms idle", "<", 150.0),
}


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def judge(rows: dict) -> list[dict]:
    """The table `make bench` prints, from the measured rows (bench/run.py's keys): each figure with its
    baseline, the ratio, the target and MET / NOT MET. Rows not measured (quick mode) are left out."""
    table: list[dict] = []

    def g(key: str, field: str):
        return rows.get(key, {}).get(field)

    def add(figure: str, measured, unit: str, baseline=None, r=None, target: str = "", judged=()) -> None:
        table.append({"figure": figure, "measured": measured, "unit": unit, "baseline": baseline, "ratio": r,
                      "target": target, "verdict": verdict(list(judged)) if target else ""})

    def cpu_rows(key: str, label: str) -> None:
        """The server's CPU per request against the psycopg baseline's, PostgreSQL's, and how busy the cores were."""
        cpu, base = g(key, "cpu_ms_per_req"), g("psycopg", "cpu_ms_per_req")
        add(f"{label}, server CPU", cpu, "ms/req", base, ratio(cpu, base))
        if g(key, "pg_cpu_ms_per_req") is not None:
            add(f"{label}, PostgreSQL CPU", g(key, "pg_cpu_ms_per_req"), "ms/req")
        if g(key, "others_cores") is not None:
            add("  meanwhile, cores busy: the server / the rest of the machine",
                f"{g(key, 'server_cores'):.2f} / {g(key, 'others_cores'):.2f}", "cores")

    psy = g("psycopg", "rps")
    for key, label in (("bare", "bare aiohttp handler @32"), ("psycopg", "psycopg pool SELECT 1 @32"),
                       ("sqlalchemy", "SQLAlchemy async SELECT 1 @32")):
        if key in rows:
            add(label + ", req/s", g(key, "rps"), "req/s")
            add(label + ", p99", g(key, "p99_ms"), "ms")
            add(label + ", server CPU", g(key, "cpu_ms_per_req"), "ms/req")
    # p99 < 25 ms may be reached with WEB_CONCURRENCY=2: the best of the two counts
    p99s = [p for p in (g("check", "p99_ms"), g("check_2p", "p99_ms")) if p is not None and not _nan(p)]
    best_p99 = min(p99s) if p99s else None
    if "check" in rows:
        r = ratio(g("check", "rps"), psy)
        add("check_availability @32, 1 process, req/s", g("check", "rps"), "req/s", psy, r,
            TARGETS["check_ratio"].text, [TARGETS["check_ratio"].met(r)])
        add("check_availability @32, 1 process, p50", g("check", "p50_ms"), "ms")
        add("check_availability @32, 1 process, p99", g("check", "p99_ms"), "ms", g("psycopg", "p99_ms"), None,
            TARGETS["check_p99"].text, [TARGETS["check_p99"].met(best_p99)])
        cpu_rows("check", "check_availability @32")
    if "check_2p" in rows:
        add("check_availability @32, WEB_CONCURRENCY=2, req/s", g("check_2p", "rps"), "req/s", psy,
            ratio(g("check_2p", "rps"), psy))
        add("check_availability @32, WEB_CONCURRENCY=2, server CPU", g("check_2p", "cpu_ms_per_req"), "ms/req")
        add("check_availability @32, WEB_CONCURRENCY=2, p99", g("check_2p", "p99_ms"), "ms", None, None,
            TARGETS["check_p99"].text, [TARGETS["check_p99"].met(best_p99)])
    if "check_unloaded" in rows:
        p50 = g("check_unloaded", "p50_ms")
        add("check_availability unloaded (1 connection), p50", p50, "ms", None, None,
            TARGETS["check_unloaded_p50"].text, [TARGETS["check_unloaded_p50"].met(p50)])
    if "reserve" in rows:
        holds = g("reserve", "holds_per_s")
        r = ratio(holds, psy)
        add("reserve_slot on distinct free slots @32, holds/s", holds, "holds/s", psy, r,
            f"{TARGETS['reserve_rate'].text}, {TARGETS['reserve_ratio'].text}",
            [TARGETS["reserve_rate"].met(holds), TARGETS["reserve_ratio"].met(r)])
        runs = rows["reserve"]["runs"]
        add("reserve_slot answers, all runs: holds / refusals / other (not 200, unreadable)",
            " / ".join(str(sum(x[k] for x in runs)) for k in ("ok", "refused", "other")), "answers")
        add("reserve_slot @32, p99", g("reserve", "p99_ms"), "ms")
        cpu_rows("reserve", "reserve_slot @32")
    if "race" in rows:
        race = rows["race"]
        off = max(abs(w - 1) for w in race["winners"])
        add(f"{race['racers']} racers for one slot, last answer (worst of {len(race['repeats'])})",
            race["last_answer_s_max"], "s", None, None, TARGETS["race_last"].text,
            [TARGETS["race_last"].met(race["last_answer_s_max"])])
        add("  winners each time", "/".join(str(w) for w in race["winners"]), "", None, None,
            TARGETS["race_winners"].text, [TARGETS["race_winners"].met(off)])
        if race.get("server_cpu_ms_per_racer") is not None:
            add("  server CPU per racer", race["server_cpu_ms_per_racer"], "ms")
    if "sms" in rows:
        add("webhook -> SMS (fake Twilio), idle, p50", rows["sms"]["p50_ms"], "ms", None, None,
            TARGETS["sms_p50"].text, [TARGETS["sms_p50"].met(rows["sms"]["p50_ms"])])
    if "memory" in rows:
        mem = rows["memory"]
        for who, label in (("web", "web process"), ("worker", "worker process")):
            m = mem[who]
            add(f"RSS of the {label} over {mem['calls']:,} calls: first after warm-up -> last",
                f"{m['first_after_warmup_mb']:.1f} -> {m['last_mb']:.1f}", "MB", None, None,
                "flat (last <= first + 5 %)", [flat(m["first_after_warmup_mb"], m["last_mb"])])
            add("  its slope", m["slope_mb_per_10k_calls"], "MB per 10k calls")
    return table
