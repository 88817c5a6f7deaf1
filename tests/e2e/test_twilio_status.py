"""Twilio's delivery reports: signed ones are recorded, unsigned or wrongly signed ones get 403."""

from __future__ import annotations

from twilio.request_validator import RequestValidator

from domain.notify import deliver_sms
from frontdesk.settings import Settings
from tests.conftest import TEST_SECRET_KEY, Caller
from adapters.sms import RecordingSms

TOKEN = "twilio-auth-token-for-tests"
URL = "https://frontdesk.example/twilio/status"


async def test_status_callbacks_are_accepted_only_with_a_valid_signature(
        aiohttp_client, make_tenant, store, db, clock):
    from webhook import create_app

    settings = Settings(secret_key=TEST_SECRET_KEY, twilio_auth_token=TOKEN, public_url="https://frontdesk.example")
    client = await aiohttp_client(create_app(settings, store=store, clock=clock))
    tenant = await make_tenant()
    vapi = Caller(client, tenant)
    await vapi.tool("reserve_slot", {"start": "2026-03-04T10:00"})
    await vapi.tool("book_appointment", {"name": "Ana"})
    sms_id = db.execute("SELECT id FROM sms_messages WHERE tenant_id = %s", (tenant.id,)).fetchone()[0]
    sender = RecordingSms()
    await deliver_sms(store, sender, tenant.id, sms_id, clock())
    sid = db.execute("SELECT provider_sid FROM sms_messages WHERE id = %s", (sms_id,)).fetchone()[0]

    def report(status: str) -> dict:
        return {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC" + "0" * 32, "To": "+15555550123"}

    def signed(params: dict, token: str = TOKEN) -> dict:
        return {"X-Twilio-Signature": RequestValidator(token).compute_signature(URL, params)}

    unsigned = await client.post("/twilio/status", data=report("delivered"))
    forged = await client.post("/twilio/status", data=report("delivered"), headers=signed(report("delivered"), "x"))
    tampered = await client.post("/twilio/status", data=report("failed"), headers=signed(report("delivered")))
    assert (unsigned.status, forged.status, tampered.status) == (403, 403, 403)
    assert db.execute("SELECT status FROM sms_messages WHERE id = %s", (sms_id,)).fetchone()[0] == "sent"

    ok = await client.post("/twilio/status", data=report("delivered"), headers=signed(report("delivered")))
    assert ok.status == 204
    assert db.execute("SELECT status FROM sms_messages WHERE id = %s", (sms_id,)).fetchone()[0] == "delivered"
    late = await client.post("/twilio/status", data=report("queued"), headers=signed(report("queued")))
    assert late.status == 204
    assert db.execute("SELECT status FROM sms_messages WHERE id = %s", (sms_id,)).fetchone()[0] == "delivered"
    undelivered = {**report("undelivered"), "ErrorCode": "30003"}
    assert (await client.post("/twilio/status", data=undelivered, headers=signed(undelivered))).status == 204
    assert db.execute("SELECT status, error_code FROM sms_messages WHERE id = %s",
                      (sms_id,)).fetchone() == ("undelivered", "30003")
