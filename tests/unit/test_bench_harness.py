"""The arithmetic and the judging of `make bench` (bench/stats.py), the load generator's reading of answers,
and the bench clinic's slots: the parts of the harness a wrong figure could come from without any error."""

from __future__ import annotations

import json
import math
from datetime import date

import pytest

from bench.loadgen import outcome
from bench.run import CHAIRS, free_slots
from bench.stats import Target, flat, judge, median_of, percentile, slope, verdict


def test_percentile_is_a_measured_value_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 201)]  # 1..200, shuffled order does not matter
    assert percentile(list(reversed(values)), 50) == 100.0
    assert percentile(values, 99) == 198.0
    assert percentile(values, 100) == 200.0
    assert percentile(values, 0) == 1.0
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def test_median_of_runs_takes_each_figure_on_its_own_and_skips_missing_ones() -> None:
    runs = [{"rps": 10.0, "p99": 5.0}, {"rps": 30.0, "p99": float("nan")}, {"rps": 20.0, "p99": 1.0}]
    assert median_of(runs, "rps") == 20.0
    assert median_of(runs, "p99") == 3.0
    assert math.isnan(median_of(runs, "absent"))


def test_slope_is_least_squares_and_nan_without_two_points() -> None:
    assert slope([1, 2, 3, 4], [10, 12, 14, 16]) == pytest.approx(2.0)
    assert slope([1, 2, 3], [5, 5, 5]) == 0.0
    assert math.isnan(slope([1], [1]))
    assert math.isnan(slope([2, 2], [1, 3]))


def test_targets_compare_as_written_and_missing_figures_are_not_judged() -> None:
    assert Target("", ">=", 0.5).met(0.5) is True
    assert Target("", "<", 25).met(25.0) is False
    assert Target("", "<=", 2).met(2.0) is True
    assert Target("", ">=", 1).met(None) is None
    assert Target("", ">=", 1).met(float("nan")) is None
    assert verdict([True, True]) == "MET"
    assert verdict([True, False]) == "NOT MET"
    assert verdict([None, False]) == "NOT MET"
    assert verdict([True, None]) == "not measured"


def test_rss_is_flat_within_five_percent_of_the_first_sample_after_warm_up() -> None:
    assert flat(100.0, 104.9) is True
    assert flat(100.0, 106.0) is False
    assert flat(100.0, 90.0) is True
    assert flat(float("nan"), 90.0) is None


def _run(**kw: float) -> dict:
    return {"rps": 0.0, "p50_ms": 0.0, "p99_ms": 0.0, "cpu_ms_per_req": 0.1, "ok": 0, "refused": 0, "other": 0,
            "errors": 0, **kw}


def _rows() -> dict:
    return {
        "psycopg": {"rps": 3000.0, "p99_ms": 10.0, "cpu_ms_per_req": 0.25},
        "check": {"rps": 1600.0, "p50_ms": 5.0, "p99_ms": 40.0, "cpu_ms_per_req": 0.6},
        "check_2p": {"rps": 2000.0, "p99_ms": 20.0},
        "check_unloaded": {"p50_ms": 1.5},
        "reserve": {"holds_per_s": 900.0, "p99_ms": 60.0, "cpu_ms_per_req": 1.0,
                    "runs": [_run(ok=9000, refused=2), _run(ok=9100, other=1)]},
        "race": {"racers": 200, "repeats": [{}, {}, {}], "last_answer_s_max": 0.3, "winners": [1, 1, 1]},
    }


def _verdicts(table: list[dict]) -> dict[str, str]:
    return {row["figure"]: row["verdict"] for row in table if row["target"]}


def test_judging_the_issue_targets() -> None:
    table = judge(_rows())
    v = _verdicts(table)
    assert v["check_availability @32, 1 process, req/s"] == "MET"  # 1600 / 3000 >= 0.5
    # the 1-process p99 misses 25 ms, but WEB_CONCURRENCY=2 reaches it, which the issue allows
    assert v["check_availability @32, 1 process, p99"] == "MET"
    assert v["check_availability unloaded (1 connection), p50"] == "MET"
    assert v["reserve_slot on distinct free slots @32, holds/s"] == "NOT MET"  # 900 < 3000 / 3
    assert v["200 racers for one slot, last answer (worst of 3)"] == "MET"
    assert v["  winners each time"] == "MET"
    answers = next(r for r in table if r["figure"].startswith("reserve_slot answers"))
    assert answers["measured"] == "18100 / 2 / 1"
    ratio = next(r for r in table if r["figure"] == "check_availability @32, 1 process, req/s")["ratio"]
    assert ratio == pytest.approx(1600 / 3000)


def test_two_winners_once_fails_the_race_and_rows_not_measured_are_left_out() -> None:
    rows = _rows()
    rows["race"]["winners"] = [1, 2, 1]
    del rows["check_2p"]
    v = _verdicts(judge(rows))
    assert v["  winners each time"] == "NOT MET"
    assert v["check_availability @32, 1 process, p99"] == "NOT MET"  # 40 ms, and no 2-process figure
    assert not any("WEB_CONCURRENCY" in figure for figure in v)
    assert not any("SMS" in figure or "RSS" in figure for figure in v)


@pytest.mark.parametrize("result, expected", [
    ({"ok": True, "hold_id": 3}, "ok"),
    ({"ok": False, "code": "slot_taken"}, "refused"),
])
def test_the_python_load_generator_reads_the_tool_result_inside_the_answer(result: dict, expected: str) -> None:
    answer = json.dumps({"results": [{"toolCallId": "t", "result": json.dumps(result)}]}).encode()
    assert outcome(200, answer) == expected
    assert outcome(500, answer) == "other"
    assert outcome(200, b"not json") == "other"


def test_the_bench_clinic_slots_are_distinct_and_neighbours_are_other_chairs() -> None:
    slots = free_slots(date(2026, 3, 1))
    assert len(slots) == len(set(slots)) > 100_000
    assert all(a[0] != b[0] for a, b in zip(slots[:200], slots[1:201]))
    assert {chair for chair, _ in slots[:len(CHAIRS)]} == set(CHAIRS)
    assert slots[0][1] == "2026-03-02T00:00"
