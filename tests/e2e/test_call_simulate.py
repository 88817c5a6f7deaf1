"""`frontdesk call simulate` plays whole calls against a real `frontdesk dev` process (with its worker and
clock) and fails loudly when a step fails."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.e2e.processes import free_port, stop, wait_for

ROOT = Path(__file__).resolve().parents[2]
#: each test takes a second or two, but the `frontdesk dev` they share takes five to start and stop
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dev_database(database_url):
    """A database of its own on the tests' PostgreSQL server: `frontdesk dev` migrates it and applies the demo
    clinic, which other tests apply to the shared test database themselves."""
    name = f"fdtest_sim_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(urlsplit(database_url)._replace(path="/" + name))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db(dev_database):
    with psycopg.connect(dev_database, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def dev_server(dev_database, redis_url, tmp_path_factory):
    """`frontdesk dev` on a free port, on the tests' PostgreSQL and Redis, with its own job queues."""
    tmp = tmp_path_factory.mktemp("simulate")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "BRIGHT_SMILE_SECRET", "SMS_LOG_PATH")}
    env.update(DATABASE_URL=dev_database, REDIS_URL=redis_url, LOG_FORMAT="json",
               QUEUE_NAMESPACE=f"fdtest-sim-{secrets.token_hex(4)}")
    out_path = tmp / "dev.out"
    with open(out_path, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "frontdesk.cli", "dev", "--port", str(port),
                                 "--data-dir", str(tmp / "data")], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(f"http://127.0.0.1:{port}/readyz", proc, timeout=60)
            yield tmp / "data", env
        finally:
            stop(proc)
    assert proc.returncode == 0, out_path.read_text()[-2000:]


def simulate(dev_server, *args: str) -> subprocess.CompletedProcess:
    data_dir, env = dev_server
    return subprocess.run([sys.executable, "-m", "frontdesk.cli", "call", "simulate", "--data-dir", str(data_dir),
                           *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def booked(db) -> list[tuple]:
    return db.execute("SELECT b.call_id, b.customer_name, b.phone, b.starts_at FROM bookings b "
                      "JOIN tenants t ON t.id = b.tenant_id WHERE t.slug = 'bright-smile' "
                      "AND b.status = 'booked' ORDER BY b.id").fetchall()


def turns(stdout: str) -> list[tuple[str, str]]:
    return [tuple(line.split(": ", 1)) for line in stdout.splitlines()]


def test_a_simulated_call_books_the_first_opening_and_the_confirmation_is_texted(dev_server, db):
    before = booked(db)
    call = simulate(dev_server)
    assert call.returncode == 0, call.stdout + call.stderr
    said = turns(call.stdout)
    assert [who for who, _ in said] == ["caller", "assistant", "caller", "assistant", "caller", "assistant",
                                        "text to +15555550123", "caller", "call ended"], call.stdout
    assert re.search(r"I have \d+(:\d\d)? in the (morning|afternoon|evening)", said[1][1])  # an offered time
    assert said[3][1].startswith("I'm holding ") and "for the next 10 minutes" in said[3][1]
    assert said[5][1].startswith("You're booked for a Cleaning on ") and "Dana Whitfield" in said[5][1]
    assert said[6][1].startswith("Bright Smile Dental: you're booked for ")
    assert said[8][1] == "customer-ended-call"
    after = booked(db)
    assert len(after) == len(before) + 1
    call_id, name, phone, _ = after[-1]
    assert call_id.startswith("sim-") and (name, phone) == ("Dana Whitfield", "+15555550123")


def test_with_otp_the_code_texted_is_read_back_before_booking(dev_server, db):
    before = booked(db)
    call = simulate(dev_server, "--otp")
    assert call.returncode == 0, call.stdout + call.stderr
    said = turns(call.stdout)
    assert [who for who, _ in said] == ["caller", "assistant", "caller", "assistant", "text to +15555550123",
                                        "caller", "assistant", "caller", "assistant", "text to +15555550123",
                                        "caller", "call ended"], call.stdout
    assert "I've texted a 6-digit code" in said[3][1]
    code = re.fullmatch(r"Bright Smile Dental: your verification code is (\d{6})\. .*", said[4][1]).group(1)
    assert said[5][1] == f"The code is {code}." and said[6][1] == "Thank you, you're verified."
    assert said[8][1].startswith("You're booked for a Cleaning on ")
    assert said[9][1].startswith("Bright Smile Dental: you're booked for ")
    assert len(booked(db)) == len(before) + 1


def test_a_wrong_secret_fails_the_call_with_a_clear_message(dev_server, db):
    before = booked(db)
    call = simulate(dev_server, "--secret", "not-the-secret-of-any-clinic")
    assert call.returncode == 1
    assert "the server refused the secret (HTTP 401" in call.stderr, call.stderr
    assert "assistant:" not in call.stdout and booked(db) == before
