"""One-time codes through HTTP and the real job function, against real PostgreSQL."""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta

import pytest
import structlog

from frontdesk import logs
from workers import otp
from workers.runtime import Resources, install
from adapters.sms import RecordingSms


@pytest.fixture
def texts(store, clock):
    sms = RecordingSms()
    install(Resources(store, sms, clock))
    yield sms
    install(None)


async def _deliver(db, tenant_id: int, texts: RecordingSms) -> str:
    """Run the worker's send_code job for the newest challenge; return the code the caller received."""
    cid, sms_id = db.execute("SELECT id, sms_id FROM otp_challenges WHERE tenant_id = %s ORDER BY id DESC LIMIT 1",
                             (tenant_id,)).fetchone()
    before = len(texts.sent)
    await otp.send_code(tenant_id, cid, sms_id)
    assert len(texts.sent) == before + 1
    return re.search(r"\b(\d{6})\b", texts.sent[-1][2]).group(1)


async def test_reserve_atomic_texts_a_code_and_verify_books_at_once(make_tenant, caller_for, db, texts):
    tenant = await make_tenant(name="Bright Smile Dental")
    vapi = caller_for(tenant)
    held_raw = await vapi.raw("reserve_atomic", {"start": "2026-03-04T10:00", "name": "Dana Whitfield"})
    held = json.loads(held_raw)
    assert held["ok"] and held["code_sent_to"] == "ending in 0123" and "0 1 2 3" in held["say"]
    code = await _deliver(db, tenant.id, texts)
    assert texts.sent[-1][2] == f"Bright Smile Dental: your verification code is {code}. It expires in 5 minutes."
    row = db.execute("SELECT code_hash, salt, status FROM otp_challenges WHERE tenant_id = %s", (tenant.id,)).fetchone()
    assert code not in json.dumps(row) and row[2] == "sent"
    assert db.execute("SELECT body FROM sms_messages WHERE kind = 'otp' AND tenant_id = %s",
                      (tenant.id,)).fetchone()[0] is None
    spoken = " ".join(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"][int(d)]
                      for d in code)
    booked_raw = await vapi.raw("verify_otp", {"code": spoken})
    booked = json.loads(booked_raw)
    assert booked["ok"] and booked["verified"] is True and booked["appointment_id"]
    assert booked["start"] == "2026-03-04T10:00:00-05:00" and "texting a confirmation" in booked["say"]
    assert db.execute("SELECT status, customer_name, phone FROM bookings WHERE id = %s",
                      (int(booked["appointment_id"]),)).fetchone() == ("booked", "Dana Whitfield", "+15555550123")
    assert [r[0] for r in db.execute("SELECT kind FROM sms_messages WHERE tenant_id = %s ORDER BY id",
                                     (tenant.id,))] == ["otp", "confirmation"]
    for raw in (held_raw, booked_raw):  # the code itself is in no result
        assert not re.search(rf"(?<!\d){code}(?!\d)", raw), raw


async def test_five_wrong_codes_lock_and_a_locked_code_refuses_even_the_right_one(
        make_tenant, caller_for, db, texts, clock):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    await vapi.tool("send_otp", {})
    code = await _deliver(db, tenant.id, texts)
    wrong = "000000" if code != "000000" else "111111"
    answers = [await vapi.tool("verify_otp", {"code": wrong}) for _ in range(5)]
    assert [a["code"] for a in answers] == ["otp_invalid"] * 4 + ["otp_locked"]
    assert [a.get("tries_left") for a in answers[:4]] == [4, 3, 2, 1]
    assert (await vapi.tool("verify_otp", {"code": code}))["code"] == "otp_locked"
    clock.set(clock() + timedelta(seconds=31))
    await vapi.tool("send_otp", {})
    fresh = await _deliver(db, tenant.id, texts)
    assert (await vapi.tool("verify_otp", {"code": fresh}))["verified"] is True


async def test_an_expired_code_is_refused(make_tenant, caller_for, db, texts, clock):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    await vapi.tool("send_otp", {})
    code = await _deliver(db, tenant.id, texts)
    clock.set(clock() + timedelta(minutes=5))
    assert (await vapi.tool("verify_otp", {"code": code}))["code"] == "otp_expired"


async def test_an_otp_job_older_than_the_codes_validity_is_dropped_not_sent_late(
        make_tenant, caller_for, db, texts, clock, store):
    tenant = await make_tenant()
    await caller_for(tenant).tool("send_otp", {})
    cid, sms_id = db.execute("SELECT id, sms_id FROM otp_challenges WHERE tenant_id = %s", (tenant.id,)).fetchone()
    install(Resources(store, texts, lambda: clock() + timedelta(minutes=6)))
    await otp.send_code(tenant.id, cid, sms_id)
    assert texts.sent == []
    assert db.execute("SELECT status FROM otp_challenges WHERE id = %s", (cid,)).fetchone()[0] == "expired"


async def test_sends_are_limited_per_phone_with_a_cooldown(make_tenant, caller_for, clock):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    assert (await vapi.tool("send_otp", {}, call_id="a"))["ok"]
    cooldown = await vapi.tool("send_otp", {}, call_id="b")  # another call, same phone
    # the clock has not moved: the whole 30 s cooldown is left, rounded up past it (int(30 - 0) + 1)
    assert cooldown["code"] == "otp_cooldown" and cooldown["retry_after_seconds"] == 31
    for _ in range(4):
        clock.set(clock() + timedelta(seconds=31))
        assert (await vapi.tool("send_otp", {}))["ok"]
    clock.set(clock() + timedelta(seconds=31))
    assert (await vapi.tool("send_otp", {}))["code"] == "otp_rate_limited"
    clock.set(clock() + timedelta(minutes=10))
    assert (await vapi.tool("send_otp", {}))["ok"]


async def test_with_require_otp_booking_and_lookups_wait_for_a_verified_phone(make_tenant, caller_for, db, texts):
    tenant = await make_tenant(require_otp=True)
    vapi = caller_for(tenant)
    await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"})
    for name, args in (("book_appointment", {"name": "Ana"}), ("lookup_appointments", {}),
                       ("cancel_appointment", {"appointment_id": 1}),
                       ("reschedule_appointment", {"appointment_id": 1, "start": "2026-03-05T10:00"})):
        assert (await vapi.tool(name, args))["code"] == "otp_required", name
    await vapi.tool("send_otp", {})
    code = await _deliver(db, tenant.id, texts)
    assert (await vapi.tool("verify_otp", {"code": code}))["verified"] is True
    booked = await vapi.tool("book_appointment", {"name": "Ana"})
    assert booked["ok"]
    other_phone = await vapi.tool("lookup_appointments", {"phone": "+12125550188"}, caller=None)
    assert other_phone["code"] == "otp_required"  # verified for the caller's number only
    assert (await vapi.tool("lookup_appointments", {}))["appointments"][0]["appointment_id"] == booked["appointment_id"]


async def test_codes_never_reach_any_log(make_tenant, caller_for, db, texts, capsys, caplog):
    logs.configure("json")
    caplog.set_level(logging.DEBUG)
    try:
        tenant = await make_tenant()
        vapi = caller_for(tenant)
        await vapi.tool("send_otp", {})
        code = await _deliver(db, tenant.id, texts)
        wrong = "000000" if code != "000000" else "111111"
        await vapi.tool("verify_otp", {"code": wrong})
        await vapi.tool("verify_otp", {"code": code})
    finally:
        structlog.reset_defaults()
    out = capsys.readouterr()
    captured = out.out + out.err + caplog.text
    assert '"event":"request"' in captured  # the logs were captured (orjson writes no spaces)
    assert code not in captured and wrong not in captured


async def test_send_confirmation_resends_on_request_with_a_limit(make_tenant, caller_for, db):
    tenant = await make_tenant()
    vapi = caller_for(tenant)
    await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"})
    booked = await vapi.tool("book_appointment", {"name": "Ana"})
    answers = [await vapi.tool("send_confirmation", {}) for _ in range(4)]
    assert [a.get("code", "ok") for a in answers] == ["ok", "ok", "ok", "rate_limited"]
    assert answers[0]["appointment_id"] == booked["appointment_id"]
    assert db.execute("SELECT count(*) FROM sms_messages WHERE tenant_id = %s AND kind = 'confirmation'",
                      (tenant.id,)).fetchone()[0] == 4


async def test_a_right_code_stays_verified_even_when_the_hold_ran_out_meanwhile(
        make_tenant, caller_for, db, texts, clock):
    tenant = await make_tenant(hold_minutes=2)
    vapi = caller_for(tenant)
    await vapi.tool("reserve_atomic", {"start": "2026-03-04T10:00", "name": "Dana"})
    code = await _deliver(db, tenant.id, texts)
    clock.set(clock() + timedelta(minutes=3))  # the hold expired while the caller read the code
    answer = await vapi.tool("verify_otp", {"code": code})
    assert answer["ok"] is False and answer["code"] == "hold_expired" and answer["verified"] is True
    assert "verified" in answer["say"]
    assert db.execute("SELECT verified_phone FROM call_states WHERE tenant_id = %s AND call_id = 'call-1'",
                      (tenant.id,)).fetchone()[0] == "+15555550123"
    # verified for the rest of the call: saying the code again just confirms it, and a new hold books
    assert (await vapi.tool("verify_otp", {"code": code}))["verified"] is True
    await vapi.tool("reserve_slot", {"start": "2026-03-04T11:00"})
    assert (await vapi.tool("book_appointment", {"name": "Dana"}))["ok"] is True
