"""Log lines: one JSON object per line, each written to stdout in one write() call."""

from __future__ import annotations

import io
import json
import sys

import structlog

from frontdesk import logs


class RecordingStdout(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


def test_each_log_line_is_one_write_of_the_whole_line_to_stdout_as_it_is_then(monkeypatch):
    logs.configure("json")
    log = structlog.get_logger("frontdesk.test")  # made before stdout is swapped, as module loggers are
    out = RecordingStdout()
    monkeypatch.setattr(sys, "stdout", out)
    log.info("request", path="/vapi/webhook", status=200)
    log.warning("publish_failed", outbox_id=7)
    assert len(out.writes) == 2 and all(w.endswith("\n") and w.count("\n") == 1 for w in out.writes)
    first, second = (json.loads(w) for w in out.writes)
    assert (first["event"], first["status"], second["event"], second["level"]) == (
        "request", 200, "publish_failed", "warning")
