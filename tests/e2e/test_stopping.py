"""Dynos that stop cleanly: `frontdesk serve`, `worker` and `clock` as real processes, stopped as Heroku stops
them (SIGTERM to every process of the dyno, SIGKILL 30 s later) or as Ctrl-C does (SIGINT to the process group).

Each test makes the work in flight slow in a way production code cannot tell from a slow database or provider
(a row lock held from the test, a fake Twilio that waits), signals while it waits, then lets it go on.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from frontdesk.cli import STOP_TIMEOUT_S
from tests.conftest import TEST_SECRET_KEY, Caller, tool_calls_body
from tests.e2e.processes import free_port, wait_for, worker_env
from tests.integration.test_pipeline import eventually

ROOT = Path(__file__).resolve().parents[2]
#: Heroku's grace between SIGTERM and SIGKILL
HEROKU_KILL_AFTER_S = 30


def _start(args: list[str], env: dict, log_path: Path) -> subprocess.Popen:
    # its own session, as on a dyno: a signal to its process group reaches it and every process it started
    return subprocess.Popen([sys.executable, "-m", "frontdesk.cli", *args], cwd=ROOT, env=env,
                            stdout=open(log_path, "a"), stderr=subprocess.STDOUT, start_new_session=True)


def _signal_group(proc: subprocess.Popen, sig: int) -> float:
    """Signal every process of `proc`'s group, as Heroku does to a dyno; returns when, for timing the stop."""
    os.killpg(proc.pid, sig)
    return time.monotonic()


async def _exit_within(proc: subprocess.Popen, since: float, log_path: Path,
                       limit: float = HEROKU_KILL_AFTER_S) -> float:
    """Seconds from `since` until `proc` exited 0; kills its group and fails if that takes over `limit`.
    Waits in a thread: the fakes the process talks to run on this test's event loop."""
    try:
        await asyncio.to_thread(proc.wait, timeout=max(0.0, limit - (time.monotonic() - since)))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"still running {limit}s after the signal:\n{log_path.read_text()[-3000:]}") from None
    took = time.monotonic() - since
    assert proc.returncode == 0, log_path.read_text()[-3000:]
    return took


def _group_is_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def _events(log_path: Path) -> list[str]:
    """The events logged, in order (lines that are not JSON, such as a traceback's, are skipped)."""
    events = []
    for line in log_path.read_text().splitlines():
        try:
            events.append(json.loads(line)["event"])
        except (ValueError, KeyError, TypeError):
            continue
    return events


def _logged(log_path: Path, event: str) -> bool:
    return event in _events(log_path)


def _kill_if_running(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _waiting_on(db: psycopg.Connection, locker: int) -> int:
    """How many sessions wait for a lock that the session `locker` holds. Asked on an autocommit connection:
    within one transaction, PostgreSQL keeps showing the pg_stat_activity it saw first."""
    return db.execute("SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                      (locker,)).fetchone()[0]


def _connection_refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


# ---- web --------------------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_serve_on_sigterm_answers_the_tool_call_in_flight_refuses_new_connections_and_exits_0(
        make_tenant, db, database_url, redis_url, queue_namespace, tmp_path):
    import aiohttp

    tenant = await make_tenant()
    port = free_port()
    log_path = tmp_path / "serve.log"
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "QUEUE_NAMESPACE": queue_namespace,
           "SECRET_KEY": TEST_SECRET_KEY, "LOG_FORMAT": "json"}
    server = _start(["serve", "--host", "127.0.0.1", "--port", str(port)], env, log_path)
    tool_call_id = f"tc-stop-{port}"
    # A writing tool claims its toolCallId first; a row with that key, inserted and not committed by this
    # connection, makes that INSERT wait, as a slow database would.
    lock = psycopg.connect(database_url)
    try:
        await asyncio.to_thread(wait_for, f"http://127.0.0.1:{port}/readyz", server, 60)
        lock.execute("INSERT INTO tool_results (tenant_id, tool_call_id, call_id, name, result) "
                     "VALUES (%s, %s, 'call-stop', 'reserve_slot', '')", (tenant.id, tool_call_id))
        async with aiohttp.ClientSession() as http:
            check = tool_calls_body([("check_availability", {"service": "Cleaning"}, f"{tool_call_id}-c")], "call-stop")
            async with http.post(f"http://127.0.0.1:{port}/vapi/webhook", json=check,
                                 headers={"X-Vapi-Secret": tenant.secret}) as resp:
                opening = json.loads((await resp.json())["results"][0]["result"])["openings"][0]
            body = tool_calls_body([("reserve_slot", {"service": "Cleaning", "start": opening["start"]},
                                     tool_call_id)], "call-stop")
            request = asyncio.create_task(http.post(f"http://127.0.0.1:{port}/vapi/webhook", json=body,
                                                    headers={"X-Vapi-Secret": tenant.secret}))
            locker = lock.info.backend_pid
            await eventually(lambda: _waiting_on(db, locker) == 1, timeout=30,
                             what="the request to wait on the row lock")

            signalled = _signal_group(server, signal.SIGTERM)
            await eventually(lambda: _connection_refused(port), timeout=10, what="new connections to be refused")
            assert not request.done() and server.poll() is None  # still answering the call in flight
            lock.rollback()  # the database answers at last

            resp = await asyncio.wait_for(request, timeout=STOP_TIMEOUT_S)
            assert resp.status == 200
            answer = await resp.json()
        result = json.loads(answer["results"][0]["result"])
        assert answer["results"][0]["toolCallId"] == tool_call_id
        assert result["ok"] is True and result["hold_id"], result
        took = await _exit_within(server, signalled, log_path, limit=STOP_TIMEOUT_S)
    finally:
        lock.close()
        _kill_if_running(server)
    assert _logged(log_path, "web_process_stopped")
    print(f"serve stopped {took:.2f}s after SIGTERM, a request in flight answered")


def _web_children(pid: int) -> list[int]:
    """The `serve` parent's web server processes (multiprocessing's spawn children)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(int(child))
            except FileNotFoundError:
                continue
    return found


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["heroku-sigterm", "ctrl-c-sigint"])
async def test_serve_with_two_processes_stops_both_and_exits_0_when_the_whole_group_is_signalled(
        sig, database_url, tmp_path):
    port = free_port()
    log_path = tmp_path / "serve.log"
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET_KEY, "LOG_FORMAT": "json"}
    env.pop("REDIS_URL", None)
    parent = _start(["serve", "--host", "127.0.0.1", "--port", str(port), "--processes", "2"], env, log_path)
    try:
        await asyncio.to_thread(wait_for, f"http://127.0.0.1:{port}/readyz", parent, 60)
        await eventually(lambda: _events(log_path).count("web_process_ready") == 2, timeout=30,
                     what="both server processes to listen")
        children = _web_children(parent.pid)
        assert len(children) == 2, children
        # every process hears it once from the signal and once more from the parent forwarding it
        signalled = _signal_group(parent, sig)
        took = await _exit_within(parent, signalled, log_path, limit=STOP_TIMEOUT_S)
        await eventually(lambda: _group_is_gone(parent.pid), timeout=10, what="no process of the group to be left")
    finally:
        _kill_if_running(parent)
    assert _events(log_path).count("web_process_stopped") == 2
    print(f"serve --processes 2 stopped {took:.2f}s after {signal.Signals(sig).name} to its group")


# ---- worker -----------------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_worker_on_sigterm_finishes_the_text_it_is_sending_requeues_the_next_and_each_is_sent_once(
        aiohttp_client, make_tenant, store, db, clock, database_url, redis_url, queue_namespace, fake_twilio,
        tmp_path):
    import redis as redis_lib

    from adapters.broker import build_broker
    from frontdesk.outbox import Publisher
    from frontdesk.settings import Settings
    from webhook import create_app

    tenant = await make_tenant()
    env = worker_env(database_url, redis_url, queue_namespace, TEST_SECRET_KEY, fake_twilio.base_url)
    first_log, second_log = tmp_path / "worker-1.log", tmp_path / "worker-2.log"
    fake_twilio.hang = asyncio.Event()
    fake_twilio.hang.set()  # Twilio takes its time to answer
    # one thread: the first text is being sent while the second waits in the worker's prefetched messages
    worker_args = ["worker", "--processes", "1", "--threads", "1"]
    first = _start(worker_args, env, first_log)
    second = None
    publisher = Publisher(build_broker(redis_url, publisher=True, namespace=queue_namespace), store, clock)
    client = await aiohttp_client(create_app(Settings(secret_key=TEST_SECRET_KEY), store=store,
                                             publisher=publisher, clock=clock))
    vapi = Caller(client, tenant)
    redis = redis_lib.Redis.from_url(redis_url)
    try:
        for call_id, start in (("call-a", "2026-03-04T10:00"), ("call-b", "2026-03-04T11:00")):
            await vapi.tool("reserve_slot", {"start": start}, call_id=call_id)
            assert (await vapi.tool("book_appointment", {"name": "Dana Whitfield"}, call_id=call_id))["ok"]
        await eventually(lambda: len(fake_twilio.requests) == 1, timeout=30, what="the worker to call Twilio")

        signalled = _signal_group(first, signal.SIGTERM)
        await eventually(lambda: _logged(first_log, "worker_stopping"), timeout=10, what="the worker to start stopping")
        assert first.poll() is None  # waiting for the text in flight
        fake_twilio.hang.clear()  # Twilio answers
        took = await _exit_within(first, signalled, first_log, limit=STOP_TIMEOUT_S + 5)
        assert len(fake_twilio.delivered) == 1 and len(fake_twilio.requests) == 1
        # the second text was requeued when the worker stopped, not left to the heartbeat maintenance
        assert redis.llen(f"{queue_namespace}:confirmations") == 1
        assert list(redis.scan_iter(f"{queue_namespace}:__acks__.*")) == []

        second = _start(worker_args, env, second_log)
        await eventually(lambda: len(fake_twilio.delivered) == 2, timeout=60, what="the second text from a new worker")
        await eventually(lambda: [r[0] for r in db.execute("SELECT status FROM sms_messages WHERE tenant_id = %s",
                                                       (tenant.id,)).fetchall()] == ["sent", "sent"]
                     and redis.hlen(f"{queue_namespace}:confirmations.msgs") == 0,
                     timeout=30, what="both texts to be marked sent and their jobs acknowledged")
        await _exit_within(second, _signal_group(second, signal.SIGTERM), second_log, limit=STOP_TIMEOUT_S + 5)
    finally:
        _kill_if_running(first)
        _kill_if_running(second)
        redis.close()
    assert len(fake_twilio.requests) == 2  # each text reached Twilio once: none cut, none repeated
    assert len({m["Body"] for m in fake_twilio.delivered}) == 2
    assert "Killing worker process" not in first_log.read_text()  # Dramatiq's answer to a second SIGTERM
    print(f"worker stopped {took:.2f}s after SIGTERM, its text in flight sent")


# ---- clock ------------------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_clock_on_sigterm_finishes_its_pass_then_exits_0(
        make_tenant, db, database_url, redis_url, queue_namespace, tmp_path):
    tenant = await make_tenant()
    log_path = tmp_path / "clock.log"
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "QUEUE_NAMESPACE": queue_namespace,
           "SECRET_KEY": TEST_SECRET_KEY, "LOG_FORMAT": "json"}
    old_key = f"tc-old-{queue_namespace}"
    db.execute("INSERT INTO tool_results (tenant_id, tool_call_id, call_id, name, result, created_at) "
               "VALUES (%s, %s, 'c-old', 'check_availability', '{}', now() - interval '40 days')", (tenant.id, old_key))
    # the clock's first pass prunes tool results older than 30 days; this row, locked here, makes it wait
    lock = psycopg.connect(database_url)
    clock_proc = None
    try:
        lock.execute("SELECT 1 FROM tool_results WHERE tool_call_id = %s FOR UPDATE", (old_key,))
        locker = lock.info.backend_pid
        clock_proc = _start(["clock"], env, log_path)
        await eventually(lambda: _waiting_on(db, locker) == 1, timeout=30,
                         what="the clock's prune to wait on the row lock")

        signalled = _signal_group(clock_proc, signal.SIGTERM)
        await eventually(lambda: _logged(log_path, "clock_stopping"), timeout=10, what="the clock to hear SIGTERM")
        assert clock_proc.poll() is None  # the pass under way is not cut
        lock.rollback()
        took = await _exit_within(clock_proc, signalled, log_path)
    finally:
        lock.close()
        _kill_if_running(clock_proc)
    assert db.execute("SELECT count(*) FROM tool_results WHERE tool_call_id = %s",
                      (old_key,)).fetchone()[0] == 0  # the prune of that pass did finish
    assert _logged(log_path, "clock_stopped")
    print(f"clock stopped {took:.2f}s after SIGTERM, its pass finished")
