"""Read-only tools' answers: recorded in `tool_results` without delaying the answer, and never lost quietly."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

import psycopg
import pytest

from store.engine import make_pool
from store.results import ResultWriter
from tests.integration.test_pipeline import eventually


def _stored(db, tenant_id: int, key: str):
    return db.execute("SELECT call_id, name, result FROM tool_results WHERE tenant_id = %s AND tool_call_id = %s",
                      (tenant_id, key)).fetchone()


async def test_a_read_only_answer_is_given_while_its_record_still_waits_then_recorded(
        make_tenant, caller_for, db, database_url):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    # an uncommitted row with the same key makes the record's INSERT wait, as a slow database would
    lock = psycopg.connect(database_url)
    try:
        lock.execute("INSERT INTO tool_results (tenant_id, tool_call_id, call_id, name, result) "
                     "VALUES (%s, 'tc-slow', 'other', 'check_availability', 'theirs')", (tenant.id,))
        answer = await asyncio.wait_for(
            vapi.raw("check_availability", {"date": "2026-03-04"}, tool_call_id="tc-slow", call_id="call-rec"), 10)
        assert json.loads(answer)["openings"]  # answered, although the record cannot be written yet
        lock.rollback()
    finally:
        lock.close()
    await eventually(lambda: _stored(db, tenant.id, "tc-slow") is not None, what="the answer to be recorded")
    assert _stored(db, tenant.id, "tc-slow") == ("call-rec", "check_availability", answer)


async def test_a_retried_read_only_call_is_answered_afresh_and_the_first_answer_is_kept(
        make_tenant, caller_for, db, store):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    first = await vapi.raw("check_availability", {"date": "2026-03-04", "limit": 1}, tool_call_id="tc-again")
    await store.results.flush()
    held = await vapi.tool("reserve_slot", {"start": json.loads(first)["openings"][0]["start"]}, call_id="taker")
    assert held["ok"] is True
    again = await vapi.raw("check_availability", {"date": "2026-03-04", "limit": 1}, tool_call_id="tc-again")
    assert json.loads(again)["openings"][0]["start"] != json.loads(first)["openings"][0]["start"]  # current
    await store.results.flush()
    assert _stored(db, tenant.id, "tc-again")[2] == first  # the record of what was said first stays


@asynccontextmanager
async def _pool(url: str):
    pool = make_pool(url, 0, 2)
    pool.timeout = 0.2  # a connection not had in 0.2 s: the database is away
    await pool.open(wait=False)
    try:
        yield pool
    finally:
        await pool.close()


class Switch:
    """Connections from one pool or the other, as a database goes away and comes back."""

    def __init__(self, pool) -> None:
        self.pool = pool

    def __call__(self):
        return self.pool.connection()


async def test_rows_wait_while_the_database_is_away_and_are_written_once_it_is_back(make_tenant, db, database_url):
    tenant = await make_tenant()
    async with _pool("postgresql://root@127.0.0.1:1/nowhere") as away, _pool(database_url) as back:
        connect = Switch(away)  # nothing listens on port 1
        writer = ResultWriter(connect)
        writer.RETRY_FIRST_S = 0.01
        writer.add((tenant.id, "tc-away", "call-away", "lookup_appointments", '{"ok":true}'))
        await eventually(lambda: writer.failures >= 2, what="two failed writes")
        assert writer.pending == 1 and _stored(db, tenant.id, "tc-away") is None
        connect.pool = back  # the database is reachable again
        writer.add((tenant.id, "tc-away-2", "call-away", "lookup_appointments", '{"ok":true}'))
        await writer.flush()
        assert _stored(db, tenant.id, "tc-away") == ("call-away", "lookup_appointments", '{"ok":true}')
        assert _stored(db, tenant.id, "tc-away-2") is not None


async def test_a_row_the_database_refuses_is_dropped_alone(make_tenant, db, store):
    tenant = await make_tenant()
    store.results.add((tenant.id, "tc-good-1", "call-mixed", "check_availability", "{}"))
    store.results.add((-1, "tc-no-such-tenant", "call-mixed", "check_availability", "{}"))  # foreign key
    store.results.add((tenant.id, "tc-good-2", "call-mixed", "check_availability", "{}"))
    await store.results.flush()
    assert store.results.pending == 0
    assert [r[0] for r in db.execute("SELECT tool_call_id FROM tool_results WHERE call_id = 'call-mixed' "
                                     "ORDER BY 1")] == ["tc-good-1", "tc-good-2"]


async def test_a_full_queue_drops_the_newest_rows_and_counts_them(make_tenant):
    tenant = await make_tenant()
    async with _pool("postgresql://root@127.0.0.1:1/nowhere") as away:
        writer = ResultWriter(away.connection, max_pending=3)
        writer.RETRY_FIRST_S = 0.01
        for i in range(5):
            writer.add((tenant.id, f"tc-{i}", None, "check_availability", "{}"))
        assert (writer.pending, writer.dropped) == (3, 2)
        await writer.flush(timeout=0.05)


@pytest.mark.parametrize("rows", [1, 1200])
async def test_many_rows_are_written_in_batches(make_tenant, db, store, rows):
    tenant = await make_tenant()
    for i in range(rows):
        store.results.add((tenant.id, f"tc-batch-{i}", "call-batch", "check_availability", f'{{"n":{i}}}'))
    await store.results.flush()
    assert db.execute("SELECT count(*), min(result), max(length(result)) FROM tool_results "
                      "WHERE tenant_id = %s AND call_id = 'call-batch'",
                      (tenant.id,)).fetchone()[0] == rows
