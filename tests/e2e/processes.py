"""Helpers for tests that start the `frontdesk` command as a real process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, timeout: float) -> None:
    """Until `url` answers 200; fails at once if the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args!r} exited early with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)  # polling a server that is starting: the condition is checked each round
    raise AssertionError(f"{url} did not answer within {timeout}s")


def stop(proc: subprocess.Popen, sig: int = signal.SIGINT, timeout: float = 30) -> None:
    """Stop a process started with start_new_session=True as Ctrl-C would; kill its group if it hangs."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


def worker_env(database_url: str, redis_url: str, queue_namespace: str, secret_key: str, twilio_base: str,
               **extra: str) -> dict[str, str]:
    """The environment of a `frontdesk` process that texts through the real `twilio` client pointed at a
    local fake Twilio, logging JSON; `extra` adds or overrides variables."""
    return {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "QUEUE_NAMESPACE": queue_namespace,
            "SECRET_KEY": secret_key, "SMS_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
            "TWILIO_AUTH_TOKEN": "test-token", "TWILIO_FROM_NUMBER": "+15557010100", "TWILIO_API_BASE": twilio_base,
            "LOG_FORMAT": "json", **extra}

