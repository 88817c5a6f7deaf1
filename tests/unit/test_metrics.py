"""The metrics module's counting rules, and the multiprocess directory the `frontdesk` command prepares."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import REGISTRY

from adapters import metrics
from domain.results import OtpRejected, SlotReleased, Verified
from frontdesk.cli import clean_metrics_dir

ROOT = Path(__file__).resolve().parents[2]


def now(sample: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(sample, labels) or 0.0


def test_a_tool_name_that_is_no_tool_is_counted_as_unknown():
    before = now("frontdesk_tool_calls_total", tool="unknown", outcome="unknown_tool")
    metrics.tool_called("drop_table_bookings", "unknown_tool", 0.01)
    assert now("frontdesk_tool_calls_total", tool="unknown", outcome="unknown_tool") == before + 1


def test_code_verifications_are_counted_by_result_and_the_try_that_locks_counts_as_locked():
    results = ("ok", "invalid", "locked", "expired")
    before = {r: now("frontdesk_otp_verifications_total", result=r) for r in results}
    for outcome in (Verified(), OtpRejected("otp_invalid", tries_left=2), OtpRejected("otp_locked", 0, True),
                    OtpRejected("otp_locked"), OtpRejected("otp_expired")):
        metrics.result_committed(outcome)
    added = {r: now("frontdesk_otp_verifications_total", result=r) - before[r] for r in results}
    assert added == {"ok": 1, "invalid": 1, "locked": 2, "expired": 1}


def test_released_holds_are_counted_by_how_many_and_releasing_nothing_counts_nothing():
    before = now("frontdesk_holds_total", event="released")
    metrics.result_committed(SlotReleased(0))
    metrics.result_committed(SlotReleased(2))
    assert now("frontdesk_holds_total", event="released") == before + 2


def test_the_metrics_directory_keeps_the_files_of_running_processes_only(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    running = str(os.getppid())
    for name in (f"counter_{dead}.db", f"histogram_{dead}.db", f"counter_{running}.db",
                 f"gauge_livesum_{running}.db", f"counter_{os.getpid()}.db"):
        (tmp_path / name).write_bytes(b"")
    clean_metrics_dir(tmp_path / "new")
    clean_metrics_dir(tmp_path)
    assert (tmp_path / "new").is_dir()
    assert sorted(p.name for p in tmp_path.glob("*.db")) == [f"counter_{running}.db", f"gauge_livesum_{running}.db"]


def test_the_frontdesk_command_imports_prometheus_client_only_after_choosing_its_mode():
    # prometheus_client decides at import whether values go to PROMETHEUS_MULTIPROC_DIR: importing it
    # before `frontdesk serve` sets that would leave the process's counts out of /metrics
    probe = "import sys, frontdesk.cli; print('prometheus_client' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
