"""How Vapi proves who it is calling for, over HTTP through create_app against real PostgreSQL: a signed
request (Vapi's HMAC credential) as an alternative to the shared secret, and assistant-request, which asks
which assistant answers a call on one of a clinic's Vapi numbers.

Signatures here are computed with hmac/hashlib directly, as Vapi documents them, not with the code under test."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from structlog.testing import capture_logs

from domain.tenant_config import parse_tenant
from frontdesk.settings import Settings
from tests.conftest import DEFAULT_NOW, TEST_SECRET_KEY, clinic_config, tool_calls_body

UNAUTHORIZED = {"error": "unauthorized"}
NOT_SET_UP = {"error": "Sorry, this number isn't set up yet. Please call back later."}
NOW_SECONDS = int(DEFAULT_NOW.timestamp())


class Clinic:
    def __init__(self, slug: str, tenant_id: int, secret: str, assistant_ids: tuple[str, ...], key: str | None,
                 number: str, number_id: str) -> None:
        self.slug, self.id, self.secret, self.assistant_ids = slug, tenant_id, secret, assistant_ids
        self.assistant_id = assistant_ids[0] if assistant_ids else None
        self.key, self.number, self.number_id = key, number, number_id


@pytest.fixture
def environ() -> dict[str, str]:
    """The web server's environment: each clinic made with an HMAC key adds its variable here."""
    return {"SECRET_KEY": TEST_SECRET_KEY, "DATABASE_URL": "unused"}


@pytest.fixture
def make_clinic(store, environ):
    async def make(*, hmac_key: bool = True, key_in_server_env: bool = True, assistants: int = 1,
                   **vapi: Any) -> Clinic:
        data = clinic_config()
        n = data["tenant"]["slug"].split("-")[1]
        data["tenant"]["assistant_ids"] = [f"asst_{n}_{i}_{secrets.token_hex(3)}" for i in range(assistants)]
        number = "+1555" + "".join(secrets.choice("0123456789") for _ in range(7))
        number_id = str(uuid.uuid4())
        data["vapi"] = {"phone_numbers": [number, number_id], **vapi}
        file_env: dict[str, str] = {}
        key = None
        if hmac_key:
            key = secrets.token_urlsafe(32)
            var = f"HMAC_KEY_{secrets.token_hex(4).upper()}"
            data["vapi"]["hmac_secret_env"] = var
            file_env[var] = key
            if key_in_server_env:
                environ[var] = key
        spec = parse_tenant(data, "test", file_env)
        tenant_id, _ = await store.apply_tenant(spec)
        return Clinic(spec.slug, tenant_id, spec.secret, spec.assistant_ids, key, number, number_id)
    return make


@pytest.fixture
async def server(aiohttp_client, store, clock, environ):
    """Started on first use, so that the clinics made before it have their keys in its environment."""
    from webhook import create_app

    started = []

    async def start():
        if not started:
            started.append(await aiohttp_client(create_app(Settings.from_env(environ), store=store, clock=clock)))
        return started[0]
    return start


def signature(key: str, stamp: str, raw: bytes, algorithm: str = "sha256", encoding: str = "hex",
              prefix: str = "") -> str:
    mac = hmac.new(key.encode(), stamp.encode() + b"." + raw, getattr(hashlib, algorithm)).digest()
    return prefix + (base64.b64encode(mac).decode() if encoding == "base64" else mac.hex())


def signed(key: str, raw: bytes, stamp: str | int = NOW_SECONDS, **how: str) -> dict[str, str]:
    return {"x-timestamp": str(stamp), "x-signature": signature(key, str(stamp), raw, **how),
            "Content-Type": "application/json"}


def availability(assistant_id: str | None) -> bytes:
    return json.dumps(tool_calls_body([("check_availability", {"date": "2026-03-04"}, "tc-1")],
                                      assistant_id=assistant_id)).encode()


async def post(server, raw: bytes, headers: dict[str, str]):
    client = await server()
    return await client.post("/vapi/webhook", data=raw, headers=headers)


async def refused(server, raw: bytes, headers: dict[str, str]) -> str:
    """Posts, checks the 401 says nothing, and returns the reason the access log gives (for the test only)."""
    with capture_logs() as logs:
        resp = await post(server, raw, headers)
    assert resp.status == 401
    assert await resp.json() == UNAUTHORIZED
    [line] = [entry for entry in logs if entry["event"] == "request"]
    logged = repr(logs)
    for value in headers.values():  # never a signature or a secret in the log
        assert len(value) < 20 or value not in logged
    return line["refused"]


# ---- signed requests -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stamp", [NOW_SECONDS, NOW_SECONDS * 1000 + 123], ids=["seconds", "milliseconds"])
async def test_a_request_signed_with_the_clinics_key_is_served_like_one_with_its_secret(make_clinic, server, db,
                                                                                       stamp):
    clinic = await make_clinic()
    raw = json.dumps(tool_calls_body([("reserve_slot", {"start": "2026-03-04T10:00"}, "tc-1")],
                                     assistant_id=clinic.assistant_id)).encode()
    resp = await post(server, raw, signed(clinic.key, raw, stamp))
    assert resp.status == 200, await resp.text()
    assert json.loads((await resp.json())["results"][0]["result"])["ok"] is True
    # scoped to the signing clinic, as a secret-authenticated call would be
    assert db.execute("SELECT tenant_id FROM bookings WHERE status = 'held' AND tenant_id = %s",
                      (clinic.id,)).fetchall() == [(clinic.id,)]


async def test_a_signed_request_naming_only_a_vapi_number_finds_its_clinic_by_the_number(make_clinic, server):
    clinic = await make_clinic()
    for where in ({"phoneNumber": {"number": clinic.number}},
                  {"call": {"id": "c1", "phoneNumberId": clinic.number_id}}):
        raw = json.dumps({"message": {"type": "status-update", "status": "in-progress", **where}}).encode()
        resp = await post(server, raw, signed(clinic.key, raw))
        assert resp.status == 200, (where, await resp.text())


async def test_a_wrong_or_missing_signature_is_refused(make_clinic, server):
    clinic = await make_clinic()
    raw = availability(clinic.assistant_id)
    wrong = signed(clinic.key, raw)
    wrong["x-signature"] = signature("not-the-key", str(NOW_SECONDS), raw)
    no_signature = {"x-timestamp": str(NOW_SECONDS)}
    no_timestamp = {"x-signature": signed(clinic.key, raw)["x-signature"]}
    unreadable = {**signed(clinic.key, raw), "x-signature": "zz-not-hex"}
    not_a_time = {**signed(clinic.key, raw, stamp="2026-03-02T13:00:00Z")}
    reasons = [await refused(server, raw, headers)
               for headers in (wrong, no_signature, no_timestamp, unreadable, not_a_time, {})]
    assert reasons == ["signature_mismatch", "signature_missing", "signature_missing", "signature_unreadable",
                       "timestamp_unreadable", "signature_missing"]


@pytest.mark.parametrize("offset", [timedelta(minutes=-5, seconds=-1), timedelta(minutes=5, seconds=1),
                                    timedelta(hours=-6), timedelta(days=400)],
                         ids=["just-stale", "just-future", "hours-old", "far-future"])
@pytest.mark.parametrize("unit", [1, 1000], ids=["seconds", "milliseconds"])
async def test_a_signature_outside_five_minutes_of_now_is_refused_either_way(make_clinic, server, offset, unit):
    clinic = await make_clinic()
    raw = availability(clinic.assistant_id)
    stamp = int((DEFAULT_NOW + offset).timestamp() * unit)
    assert await refused(server, raw, signed(clinic.key, raw, stamp)) == "timestamp_outside_window"


@pytest.mark.parametrize("offset", [timedelta(minutes=-4, seconds=-59), timedelta(minutes=4, seconds=59)])
async def test_a_signature_within_five_minutes_either_way_is_accepted(make_clinic, server, offset):
    clinic = await make_clinic()
    raw = availability(clinic.assistant_id)
    resp = await post(server, raw, signed(clinic.key, raw, int((DEFAULT_NOW + offset).timestamp() * 1000)))
    assert resp.status == 200


async def test_the_signature_covers_the_raw_bytes_so_any_change_to_the_body_is_refused(make_clinic, server):
    clinic = await make_clinic()
    # spacing and key order as no json.dumps here would write them: served, so the raw bytes were verified
    raw = (b'{ "message" :{"toolCallList":[{"function":{"arguments":{"date":"2026-03-04"},'
           b'"name":"check_availability"},"id":"tc-1"}],   "type":"tool-calls",'
           b'"call":{"assistantId":"' + clinic.assistant_id.encode() + b'","id":"call-1"}}}\n')
    headers = signed(clinic.key, raw)
    assert (await post(server, raw, headers)).status == 200
    changed = raw.replace(b"2026-03-04", b"2026-03-05")
    respaced = json.dumps(json.loads(raw)).encode()  # the same JSON, serialised again
    for body in (changed, respaced, raw.rstrip(b"\n")):
        assert await refused(server, body, headers) == "signature_mismatch"


async def test_a_signature_made_with_another_clinics_key_is_refused(make_clinic, server):
    a = await make_clinic()
    b = await make_clinic()
    raw_a = availability(a.assistant_id)
    assert await refused(server, raw_a, signed(b.key, raw_a)) == "signature_mismatch"  # B's key, A's assistant
    number_a = json.dumps({"message": {"type": "status-update", "phoneNumber": {"number": a.number}}}).encode()
    assert await refused(server, number_a, signed(b.key, number_a)) == "signature_mismatch"  # B's key, A's number
    raw_b = availability(b.assistant_id)
    assert (await post(server, raw_b, signed(b.key, raw_b))).status == 200


async def test_the_clinics_algorithm_encoding_prefix_and_header_names_are_used(make_clinic, server):
    clinic = await make_clinic(hmac_algorithm="sha512", hmac_encoding="base64", hmac_signature_prefix="v1=",
                               hmac_signature_header="X-Vapi-Signature", hmac_timestamp_header="X-Vapi-Timestamp")
    sha1 = await make_clinic(hmac_algorithm="sha1")
    raw = availability(clinic.assistant_id)
    sig = signature(clinic.key, str(NOW_SECONDS), raw, "sha512", "base64", "v1=")
    headers = {"X-Vapi-Timestamp": str(NOW_SECONDS), "X-Vapi-Signature": sig}
    assert (await post(server, raw, headers)).status == 200
    raw1 = availability(sha1.assistant_id)
    assert (await post(server, raw1, signed(sha1.key, raw1, algorithm="sha1"))).status == 200
    # the default form (sha256, hex, x-signature) is not what this clinic's credential sends
    assert await refused(server, raw, signed(clinic.key, raw)) == "signature_missing"
    assert await refused(server, raw, {"x-timestamp": str(NOW_SECONDS), "x-signature": sig}) == "signature_missing"
    hex512 = {**headers, "X-Vapi-Signature": signature(clinic.key, str(NOW_SECONDS), raw, "sha512", "hex", "v1=")}
    assert await refused(server, raw, hex512) == "signature_mismatch"  # hex digits read as base64: other bytes


async def test_a_clinic_without_an_hmac_key_cannot_be_reached_by_signature(make_clinic, server):
    no_hmac = await make_clinic(hmac_key=False)
    raw = availability(no_hmac.assistant_id)
    assert await refused(server, raw, signed("any-key-at-all", raw)) == "hmac_not_configured"
    unset = await make_clinic(key_in_server_env=False)  # named in the file, missing where the server runs
    raw = availability(unset.assistant_id)
    assert await refused(server, raw, signed(unset.key, raw)) == "hmac_key_unset"
    unknown = availability("asst_nobody_has")
    assert await refused(server, unknown, signed("any-key-at-all", unknown)) == "no_credential_and_no_tenant_named"
    unsigned_garbage = b"not json"
    assert await refused(server, unsigned_garbage, signed("any-key-at-all", unsigned_garbage)) == \
        "unsigned_body_unreadable"


async def test_the_shared_secret_still_works_and_decides_alone_when_present(make_clinic, server):
    clinic = await make_clinic()
    raw = availability(clinic.assistant_id)
    assert (await post(server, raw, {"X-Vapi-Secret": clinic.secret})).status == 200
    assert (await post(server, raw, {"Authorization": f"Bearer {clinic.secret}"})).status == 200
    # a wrong secret is not rescued by a valid signature
    assert await refused(server, raw, {**signed(clinic.key, raw), "X-Vapi-Secret": "wrong-secret-xyz"}) == \
        "secret_unknown"
    # and the secret path still says when a body is not JSON
    assert (await post(server, b"{", {"X-Vapi-Secret": clinic.secret})).status == 400


# ---- assistant-request --------------------------------------------------------------------------------------


def assistant_request(number: str | None = None, number_id: str | None = None,
                      call_number_id: str | None = None) -> bytes:
    """Shaped like a captured assistant-request: no assistant yet, the number it rang and the caller."""
    phone: dict[str, Any] = {"provider": "twilio", "name": "main line", "status": "active"}
    if number:
        phone["number"] = number
    if number_id:
        phone["id"] = number_id
    call: dict[str, Any] = {"id": f"call-{secrets.token_hex(4)}", "type": "inboundPhoneCall", "status": "ringing",
                            "customer": {"number": "+15559023344"}}
    if call_number_id:
        call["phoneNumberId"] = call_number_id
    return json.dumps({"message": {"timestamp": NOW_SECONDS * 1000, "type": "assistant-request",
                                   "customer": {"number": "+15559023344"}, "phoneNumber": phone,
                                   "call": call}}).encode()


async def test_assistant_request_names_the_first_assistant_of_the_clinic_owning_the_number(make_clinic, server):
    clinic = await make_clinic(assistants=2)
    for raw in (assistant_request(number=clinic.number), assistant_request(call_number_id=clinic.number_id),
                assistant_request(number_id=clinic.number_id),
                assistant_request(clinic.number, clinic.number_id, clinic.number_id)):
        for headers in ({"X-Vapi-Secret": clinic.secret}, signed(clinic.key, raw)):
            resp = await post(server, raw, headers)
            assert resp.status == 200, await resp.text()
            assert await resp.json() == {"assistantId": clinic.assistant_ids[0]}


async def test_assistant_request_for_a_number_nobody_owns_gets_a_sentence_vapi_speaks(make_clinic, server):
    clinic = await make_clinic()
    bare = await make_clinic(assistants=0)
    unknown = assistant_request("+15550000000", str(uuid.uuid4()), str(uuid.uuid4()))
    resp = await post(server, unknown, {"X-Vapi-Secret": clinic.secret})
    assert resp.status == 200
    assert await resp.json() == NOT_SET_UP
    raw = assistant_request(number=bare.number)
    for headers in ({"X-Vapi-Secret": bare.secret}, signed(bare.key, raw)):
        resp = await post(server, raw, headers)
        assert resp.status == 200
        assert await resp.json() == NOT_SET_UP


async def test_assistant_request_needs_the_owning_clinics_credential(make_clinic, server):
    a = await make_clinic()
    b = await make_clinic()
    raw = assistant_request(a.number, a.number_id, a.number_id)
    tampered = {**signed(a.key, raw), "x-signature": signature(a.key, str(NOW_SECONDS), raw + b" ")}
    reasons = [await refused(server, raw, headers) for headers in (
        {}, {"X-Vapi-Secret": "not-a-real-secret-at-all"}, {"X-Vapi-Secret": b.secret},
        {"Authorization": f"Bearer {b.secret}"}, signed(b.key, raw), tampered)]
    assert reasons == ["signature_missing", "secret_unknown", "number_of_another_tenant",
                       "number_of_another_tenant", "signature_mismatch", "signature_mismatch"]
    # a signature cannot vouch for a number nobody owns: there is no key to check it with
    unknown = assistant_request("+15550000001")
    assert await refused(server, unknown, signed(a.key, unknown)) == "no_credential_and_no_tenant_named"


async def test_assistant_request_is_answered_well_within_vapis_deadline(make_clinic, server):
    clinic = await make_clinic()
    await server()
    for headers_of in (lambda raw: {"X-Vapi-Secret": clinic.secret}, lambda raw: signed(clinic.key, raw)):
        raw = assistant_request(clinic.number, clinic.number_id, clinic.number_id)
        started = time.perf_counter()
        resp = await post(server, raw, headers_of(raw))
        elapsed = time.perf_counter() - started
        assert await resp.json() == {"assistantId": clinic.assistant_id}
        # Vapi allows 7.5 s in all; a sanity bound on a shared machine, not a benchmark
        assert elapsed < 0.5, elapsed
