"""GET /metrics: counts read back in Prometheus' text format, and the token."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from frontdesk.settings import Settings
from tests.conftest import TEST_SECRET_KEY, Caller


def value(text: str, sample: str, **labels: str) -> float:
    """The value of one sample (`frontdesk_tool_calls_total` with these labels) in a scrape; 0 when absent."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


async def scrape(client, **headers: str) -> str:
    resp = await client.get("/metrics", headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/plain")
    return await resp.text()


async def test_metrics_count_each_tool_call_by_outcome_and_what_it_did(client, make_tenant):
    vapi = Caller(client, await make_tenant())
    # this process's counters live as long as it does: compare with a scrape taken before
    before = await scrape(client)
    assert (await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"}))["ok"]
    refused = await vapi.tool("reserve_slot", {"start": "2026-03-04T03:00"})  # the clinic is closed at 3 AM
    assert not refused["ok"]
    after = await scrape(client)

    def added(sample: str, **labels: str) -> float:
        return value(after, sample, **labels) - value(before, sample, **labels)

    assert added("frontdesk_tool_calls_total", tool="reserve_slot", outcome="ok") == 1
    refusals = {s.labels["outcome"]: s.value for f in text_string_to_metric_families(after) for s in f.samples
                if s.name == "frontdesk_tool_calls_total" and s.labels["tool"] == "reserve_slot"
                and s.labels["outcome"] != "ok"}
    assert sum(refusals.values()) - sum(
        value(before, "frontdesk_tool_calls_total", tool="reserve_slot", outcome=code) for code in refusals) == 1
    assert added("frontdesk_tool_call_duration_seconds_count", tool="reserve_slot") == 2
    assert added("frontdesk_holds_total", event="created") == 1  # the refused call held nothing
    assert "frontdesk_outbox_unpublished" in after  # read from the database at scrape time


async def test_a_replayed_tool_call_is_counted_as_replayed_and_books_nothing_twice(client, make_tenant):
    vapi = Caller(client, await make_tenant())
    await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"})
    before = await scrape(client)
    await vapi.tool("book_appointment", {"name": "Ana"}, tool_call_id="tc-book-1")
    await vapi.tool("book_appointment", {"name": "Ana"}, tool_call_id="tc-book-1")  # Vapi retried
    after = await scrape(client)
    assert (value(after, "frontdesk_bookings_total", action="booked")
            - value(before, "frontdesk_bookings_total", action="booked")) == 1
    assert (value(after, "frontdesk_tool_calls_total", tool="book_appointment", outcome="replayed")
            - value(before, "frontdesk_tool_calls_total", tool="book_appointment", outcome="replayed")) == 1


async def test_with_metrics_token_set_metrics_need_it_as_a_bearer_token(aiohttp_client, store, clock):
    from webhook import create_app

    settings = Settings(secret_key=TEST_SECRET_KEY, metrics_token="scrape-me-0123456789")
    client = await aiohttp_client(create_app(settings, store=store, clock=clock))
    assert (await client.get("/metrics")).status == 401
    assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status == 401
    assert (await client.get("/metrics", headers={"Authorization": "Basic scrape-me-0123456789"})).status == 401
    assert "frontdesk_tool_calls" in await scrape(client, Authorization="Bearer scrape-me-0123456789")
