"""The admin pages over HTTP through create_app, against real PostgreSQL and real Redis: signing in, CSRF,
the wrong-token limit, the job dashboard's actions and the messages page."""

from __future__ import annotations

import re

import pytest
from yarl import URL
from dramatiq import Message

from adapters.broker import build_broker
from frontdesk.settings import Settings
from tests.conftest import TEST_SECRET_KEY
from tests.integration.test_dead_letters import dead_letter
from domain.jobs import SEND_SMS

TOKEN = "admin-token-for-tests-0123456789"


@pytest.fixture
async def admin(aiohttp_client, store, clock, redis_url, queue_namespace):
    from webhook import create_app

    settings = Settings(secret_key=TEST_SECRET_KEY, admin_token=TOKEN, redis_url=redis_url,
                        queue_namespace=queue_namespace)
    return await aiohttp_client(create_app(settings, store=store, clock=clock))


@pytest.fixture
def broker(redis_url, queue_namespace):
    broker = build_broker(redis_url, namespace=queue_namespace)
    yield broker
    broker.close()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


async def sign_in(client, token: str = TOKEN):
    form = await client.get("/admin/login")
    return await client.post("/admin/login", data={"csrf_token": csrf_of(await form.text()), "token": token,
                                                   "next": "/admin/jobs"}, allow_redirects=False)


async def test_with_admin_token_unset_every_admin_page_is_a_404(aiohttp_client, store, clock):
    from webhook import create_app

    client = await aiohttp_client(create_app(Settings(secret_key=TEST_SECRET_KEY), store=store, clock=clock))
    for path in ("/admin", "/admin/login", "/admin/jobs", "/admin/messages"):
        assert (await client.get(path, allow_redirects=False)).status == 404, path
    assert (await client.post("/admin/login", data={"token": ""})).status == 404


async def test_a_page_without_a_session_redirects_to_sign_in_and_a_script_gets_401(admin):
    page = await admin.get("/admin/jobs?state=retrying", headers={"Accept": "text/html"}, allow_redirects=False)
    assert page.status == 303
    location = URL(page.headers["Location"])
    assert location.path == "/admin/login" and location.query["next"] == "/admin/jobs?state=retrying"
    script = await admin.get("/admin/jobs", headers={"Authorization": "Bearer wrong"})
    assert script.status == 401 and script.headers["WWW-Authenticate"].startswith("Bearer")
    api_style = await admin.get("/admin/messages", headers={"Accept": "application/json"})
    assert api_style.status == 401
    ok = await admin.get("/admin/jobs", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status == 200 and "Dead-lettered" in await ok.text()


async def test_signing_in_sets_a_strict_http_only_cookie_and_signing_out_ends_it(admin):
    response = await sign_in(admin)
    assert response.status == 303 and response.headers["Location"] == "/admin/jobs"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin" in cookie
    assert "Secure" not in cookie  # plain http here; over https (or X-Forwarded-Proto: https) it is Secure
    page = await admin.get("/admin/jobs")
    assert page.status == 200 and "Sign out" in await page.text()
    out = await admin.post("/admin/logout", data={"csrf_token": csrf_of(await page.text())}, allow_redirects=False)
    assert out.status == 303
    assert (await admin.get("/admin/jobs", allow_redirects=False)).status == 303


async def test_the_cookie_is_secure_when_a_proxy_says_the_request_was_https(admin):
    form = await admin.get("/admin/login")
    response = await admin.post("/admin/login", data={"csrf_token": csrf_of(await form.text()), "token": TOKEN},
                                headers={"X-Forwarded-Proto": "https"}, allow_redirects=False)
    assert "Secure" in response.headers["Set-Cookie"]


async def test_a_form_post_without_its_csrf_token_is_refused(admin, broker):
    dead_letter(broker, SEND_SMS, (1, 2))
    await sign_in(admin)
    page = await (await admin.get("/admin/jobs")).text()
    job_id = re.search(r'name="id" value="([^"]+)"', page).group(1)
    for data in ({"queue": "confirmations", "id": job_id},
                 {"queue": "confirmations", "id": job_id, "csrf_token": "forged"}):
        assert (await admin.post("/admin/jobs/retry", data=data)).status == 403
    assert (await admin.post("/admin/login", data={"token": TOKEN})).status == 403
    ok = await admin.post("/admin/jobs/retry", data={"queue": "confirmations", "id": job_id,
                                                     "csrf_token": csrf_of(page)})
    assert ok.status == 200 and "Job sent back to its queue." in await ok.text()


async def test_five_wrong_tokens_from_one_address_are_answered_429_even_for_the_right_one(admin):
    for _ in range(4):
        assert (await sign_in(admin, "guess")).status == 401
    fifth = await sign_in(admin, "guess")
    assert fifth.status == 429 and int(fifth.headers["Retry-After"]) > 0
    assert (await sign_in(admin)).status == 429
    bearer = await admin.get("/admin/jobs", headers={"Authorization": f"Bearer {TOKEN}"})
    assert bearer.status == 429


async def test_the_dashboard_lists_counts_and_failed_jobs_and_retries_deletes_and_pages(admin, broker, make_tenant):
    tenant = await make_tenant()
    for sms_id in range(30):
        dead_letter(broker, SEND_SMS, (tenant.id, sms_id))
    broker.enqueue(Message(queue_name="confirmations", actor_name="send_sms", args=(tenant.id, 99), kwargs={},
                           options={"retries": 3, "traceback": "X\nSmsTransientError: twilio 503"}), delay=60_000)
    await sign_in(admin)
    page = await (await admin.get("/admin/jobs")).text()
    assert "30 in all, page 1" in page and 'rel="next"' in page and tenant.slug in page
    assert "SmsTransientError: twilio 503 for ***0123" in page
    row = re.search(r'confirmations</a></td>\s*<td class="num" data-label="Queued">(\d+)</td>'
                    r'<td class="num" data-label="Delayed">(\d+)</td>', page)
    assert row.groups() == ("0", "1")  # confirmations: nothing queued, one delayed
    page2 = await (await admin.get("/admin/jobs?page=2")).text()
    assert 'rel="prev"' in page2 and page2.count('action="/admin/jobs/retry"') == 5
    retrying = await (await admin.get("/admin/jobs?state=retrying")).text()
    assert f"{tenant.id}, 99" in retrying and "retries itself" in retrying
    other = await (await admin.get("/admin/jobs?tenant=999999")).text()
    assert "0 in all" in other

    csrf = csrf_of(page)
    job_id = re.search(r'name="id" value="([^"]+)"', page).group(1)
    deleted = await admin.post("/admin/jobs/delete", data={"queue": "confirmations", "id": job_id,
                                                           "csrf_token": csrf, "back": "/admin/jobs"})
    assert "Job deleted." in await deleted.text()
    everything = await admin.post("/admin/jobs/retry-all", data={"queue": "confirmations", "csrf_token": csrf})
    text = await everything.text()
    assert "29 jobs of confirmations sent back to the queue." in text and "0 in all" in text


async def test_the_messages_page_shows_statuses_error_codes_masked_numbers_and_the_backlog(
        admin, make_tenant, caller_for, db):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    held = await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"})
    assert held["ok"]
    assert (await vapi.tool("book_appointment", {"name": "Dana Whitfield"}))["ok"]
    db.execute("UPDATE sms_messages SET status = 'failed', error_code = '21211' WHERE tenant_id = %s", (tenant.id,))
    await sign_in(admin)
    page = await (await admin.get("/admin/messages?status=failed")).text()
    assert tenant.slug in page and "21211" in page and "***0123" in page and "+15555550123" not in page
    assert re.search(r"Outbox backlog: <strong>\d+</strong>", page)


async def test_the_calls_page_shows_one_calls_tool_calls_changes_and_texts_and_nothing_of_another(
        admin, make_tenant, caller_for):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    assert (await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"}, call_id="call-trail"))["ok"]
    assert (await vapi.tool("book_appointment", {"name": "Dana Whitfield"}, call_id="call-trail"))["ok"]
    refused = await vapi.tool("reserve_slot", {"start": "2026-03-04T03:00"}, call_id="call-trail")
    assert refused["code"] == "outside_hours"
    assert (await vapi.tool("reserve_slot", {"start": "2026-03-05T11:00"}, call_id="another-call"))["ok"]
    await sign_in(admin)
    assert "Call id" in await (await admin.get("/admin/calls")).text()
    page = await (await admin.get("/admin/calls?call_id=call-trail")).text()
    tools = re.findall(r'data-label="Tool">(\w+)</td><td data-label="Outcome">(\w+)<', page)
    assert tools == [("reserve_slot", "ok"), ("book_appointment", "ok"), ("reserve_slot", "outside_hours")]
    changes = re.findall(r'data-label="Change">(\w+)</td>', page)
    assert changes == ["held", "booked"]
    assert "confirmation" in page and "***0123" in page and "+15555550123" not in page
    assert "you're booked" not in page  # texts' bodies are never shown
    assert "another-call" not in page and "2026-03-05T11" not in page
