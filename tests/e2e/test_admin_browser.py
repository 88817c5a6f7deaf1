"""The job dashboard in a real browser: headless Chromium (Debian's, /usr/bin/chromium) driven by Playwright,
against the web app on a real port and a real worker process on real PostgreSQL and Redis.

A booking's confirmation to a number the console SMS backend's fault file lists is dead-lettered with its
error; an operator signs in, sees it, clears the fault and presses Retry; the text is then sent. Screenshots
at a phone's size are saved under the test's tmp dir (their paths are printed)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.broker import build_broker
from frontdesk.outbox import Publisher
from frontdesk.settings import Settings
from tests.conftest import TEST_SECRET_KEY, Caller
from tests.integration.test_pipeline import _book, eventually

try:
    from playwright.async_api import async_playwright, expect
except ImportError:  # pragma: no cover - the test extra not installed
    async_playwright = None

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
TOKEN = "admin-token-for-the-browser-test-0123"
CALLER = "+15555550123"  # the number tests' tool calls come from
PHONE = {"width": 390, "height": 844}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                       reason=f"Chromium is not installed: run `make browser` (Debian's chromium at {CHROMIUM})"),
    pytest.mark.skipif(async_playwright is None,
                       reason="Playwright is not installed: `make test` installs it from requirements.lock"),
]


@pytest.fixture
def worker(tmp_path, database_url, redis_url, queue_namespace):
    """A real `frontdesk worker` process whose texts are dead-lettered at their first failure (TEXT_RETRIES=0),
    sending through the console backend into tmp_path/sms.jsonl."""
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "QUEUE_NAMESPACE": queue_namespace,
           "SECRET_KEY": TEST_SECRET_KEY, "SMS_BACKEND": "console", "SMS_LOG_PATH": str(tmp_path / "sms.jsonl"),
           "LOG_FORMAT": "json", "TEXT_RETRIES": "0", "WORKER_IDLE_MS": "100"}
    log = open(tmp_path / "worker.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "frontdesk.cli", "worker", "--processes", "1", "--threads", "2"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    yield proc
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        log.close()


async def test_an_operator_retries_a_dead_lettered_text_in_a_browser_and_it_is_sent(
        aiohttp_client, make_tenant, store, clock, redis_url, queue_namespace, worker, tmp_path):
    from webhook import create_app

    sms_log, fault_file = tmp_path / "sms.jsonl", tmp_path / "sms-fail-to.txt"
    fault_file.write_text(f"{CALLER}\n")
    tenant = await make_tenant(name="Bright Smile Dental")
    publisher = Publisher(build_broker(redis_url, publisher=True, namespace=queue_namespace), store, clock)
    settings = Settings(secret_key=TEST_SECRET_KEY, admin_token=TOKEN, redis_url=redis_url,
                        queue_namespace=queue_namespace)
    client = await aiohttp_client(create_app(settings, store=store, publisher=publisher, clock=clock))
    await _book(Caller(client, tenant))  # the confirmation goes to CALLER, whose texts fail

    def text_sent() -> bool:
        lines = sms_log.read_text().splitlines() if sms_log.exists() else []
        return any(json.loads(line)["to"] == CALLER for line in lines)

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = await (await browser.new_context(viewport=PHONE)).new_page()
            page.set_default_timeout(15_000)
            expect.set_options(timeout=15_000)  # a shared, busy CI machine
            await page.goto(str(client.make_url("/admin/jobs")))
            await expect(page).to_have_url(re.compile(r"/admin/login\?next="))  # signed out: sent to sign in
            await page.get_by_label("Admin token").fill(TOKEN)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page.get_by_role("heading", name="Jobs", exact=True)).to_be_visible()

            # the worker fails the text and dead-letters it at once; the page shows it when reloaded
            row = page.locator("#failed-jobs tbody tr").filter(has_text=f"{tenant.id}, ")

            async def dead_lettered() -> bool:
                await page.reload()
                return await row.count() == 1
            await eventually(dead_lettered, timeout=30, what="the dead-lettered text on /admin/jobs")
            await expect(row).to_contain_text("send_sms")
            await expect(row).to_contain_text(tenant.slug)
            await expect(row.locator(".error")).to_contain_text(
                "SmsTransientError: console: texts to ***0123 fail while sms-fail-to.txt lists the number")
            assert not text_sent()
            shot = tmp_path / "dead-lettered.png"
            await page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")

            fault_file.write_text("")  # the fault cleared
            await row.get_by_role("button", name="Retry").click()
            await expect(page.get_by_role("status")).to_have_text("Job sent back to its queue.")

            confirmations = page.locator("tr", has=page.get_by_role("link", name="confirmations", exact=True))

            async def done() -> bool:
                await page.reload()
                counts = [c.strip() for c in await confirmations.locator("td.num").all_inner_texts()]
                return counts == ["0", "0", "0", "0"] and await row.count() == 0 and text_sent()
            await eventually(done, timeout=30, what="the retried text sent and off the dashboard")

            await page.get_by_role("link", name="Messages").click()
            text = page.locator("#texts tbody tr").filter(has_text=tenant.slug)
            await expect(text.locator("td.status-sent")).to_have_text("sent")
            shot = tmp_path / "sent.png"
            await page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")
        finally:
            await browser.close()
    assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
    [line] = [json.loads(line) for line in sms_log.read_text().splitlines()]
    assert line["to"] == CALLER and line["body"].startswith("Bright Smile Dental: you're booked for")
