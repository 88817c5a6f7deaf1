"""`frontdesk dev` on a bare machine: embedded PostgreSQL, demo clinic, the printed curl answers openings."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.processes import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_frontdesk_dev_without_database_url_serves_the_printed_curl(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PORT")}
    env["LOG_FORMAT"] = "json"
    out_path = tmp_path / "dev.out"
    with open(out_path, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "frontdesk.cli", "dev", "--port", str(port),
                                 "--data-dir", str(tmp_path / "data")], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(f"http://127.0.0.1:{port}/healthz", proc, timeout=90)
            wait_for(f"http://127.0.0.1:{port}/readyz", proc, timeout=10)
            printed = out_path.read_text()
            assert "demo-secret-bright-smile-0001" in printed
            curl = next(line for line in printed.splitlines() if line.startswith("curl "))
            argv = shlex.split(curl)
            secret = next(a.split(": ", 1)[1] for a in argv if a.startswith("X-Vapi-Secret"))
            body = argv[argv.index("-d") + 1].encode()
            req = urllib.request.Request(argv[2], data=body, method="POST",
                                         headers={"Content-Type": "application/json", "X-Vapi-Secret": secret})
            with urllib.request.urlopen(req, timeout=10) as resp:
                answer = json.loads(resp.read())
            result = json.loads(answer["results"][0]["result"])
            assert result["ok"] is True and len(result["openings"]) == 3, result
            assert not re.search(r"\d{4}-\d{2}-\d{2}T", result["say"])  # spoken words, not ISO strings

            # the asynchronous side: a code texted by the worker, verified, and the confirmation texted;
            # the banner's command finds this server, its tenant, secret and SMS log in the data directory
            simulate = next(line for line in printed.splitlines() if " call simulate" in line)
            assert simulate.endswith(f"call simulate --data-dir {tmp_path / 'data'}"), simulate
            sms_log = tmp_path / "data" / "sms.jsonl"
            call = subprocess.run([sys.executable, "-m", "frontdesk.cli", "call", "simulate", "--otp",
                                   "--data-dir", str(tmp_path / "data")], cwd=ROOT, env=env, capture_output=True,
                                  text=True, timeout=60)
            assert call.returncode == 0, call.stdout + call.stderr
            bodies = [json.loads(line)["body"] for line in sms_log.read_text().splitlines()]
            assert len(bodies) == 2 and "verification code is" in bodies[0] and "you're booked for" in bodies[1]
            code = re.search(r"code is (\d{6})", bodies[0]).group(1)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                raise
    assert proc.returncode == 0, out_path.read_text()[-2000:]
    assert code not in out_path.read_text()  # the server, worker and clock logs never carry the code
    assert not (tmp_path / "data" / "dev.json").exists()  # nothing tells `call simulate` a stopped server runs


def _server_children(pid: int) -> list[int]:
    """Pids of the `serve` process's children that are web servers (multiprocessing spawn children; the
    resource tracker multiprocessing also starts is not one)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"spawn_main" in cmdline:
                found.append(int(child))
    return sorted(found)


@pytest.mark.slow
def test_frontdesk_serve_with_two_processes_answers_and_stops_cleanly(database_url, tmp_path):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_FORMAT": "json", "SECRET_KEY": "serve-test-key"}
    secret = f"serve-test-secret-{os.getpid()}-{port}"
    # a copy of the demo clinic with its own slug, secret and assistant: an assistant serves one clinic, and
    # other tests apply the demo clinic itself to the same database
    assistant = f"asst_serve_test_{port}"
    clinic = tmp_path / "clinic.toml"
    # its own variable and assistant: other tests apply the demo clinic itself to the same database, and
    # the server re-reads every tenant's secret from its variable at start-up
    secret_env, assistant = f"SERVE_TEST_SECRET_{port}", f"asst_serve_{port}"
    env[secret_env] = secret
    clinic.write_text((ROOT / "examples" / "demo-clinic.toml").read_text()
                      .replace('slug = "bright-smile"', f'slug = "serve-test-{port}"')
                      .replace('"BRIGHT_SMILE_SECRET"', f'"{secret_env}"')
                      .replace('"asst_bright_1"', f'"{assistant}"'))
    apply = subprocess.run([sys.executable, "-m", "frontdesk.cli", "tenant", "apply", str(clinic)], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=60)
    assert apply.returncode == 0, apply.stderr
    out = open(tmp_path / "serve.out", "w")
    proc = subprocess.Popen([sys.executable, "-m", "frontdesk.cli", "serve", "--host", "127.0.0.1", "--port",
                             str(port), "--processes", "2"], cwd=ROOT, env=env, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/readyz", proc, timeout=60)
        servers = _server_children(proc.pid)
        assert len(servers) == 2, servers  # two server processes share the port
        from frontdesk.cli import demo_request

        for i in range(4):  # several connections: the kernel spreads them over both processes
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/vapi/webhook", method="POST",
                data=json.dumps(demo_request(assistant, f"serve-{os.getpid()}-{i}")).encode(),
                headers={"Content-Type": "application/json", "X-Vapi-Secret": secret})
            with urllib.request.urlopen(req, timeout=10) as resp:
                result = json.loads(json.loads(resp.read())["results"][0]["result"])
            assert result["ok"] is True
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        out.close()
    assert proc.returncode == 0, (tmp_path / "serve.out").read_text()[-2000:]
    assert [pid for pid in servers if Path(f"/proc/{pid}").exists()] == []  # no server left behind
