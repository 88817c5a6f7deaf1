"""Tenant files: defaults, and every problem named by its field, all at once."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from domain.tenant_config import TenantConfigError, load_tenant_file, parse_tenant
from frontdesk.cli import DEMO_ENVIRONMENT

ROOT = Path(__file__).resolve().parents[2]


def minimal(**tenant):
    t = {"slug": "demo", "name": "Demo", "timezone": "America/New_York", "webhook_secret": "s" * 20}
    t.update(tenant)
    return {"tenant": {k: v for k, v in t.items() if v is not None},
            "services": [{"name": "Cleaning", "minutes": 30}],
            "resources": [{"name": "Dr Lee", "services": ["Cleaning"], "hours": {"mon": ["09:00-17:00"]}}]}


def problems(data, environ=None) -> list[str]:
    with pytest.raises(TenantConfigError) as e:
        parse_tenant(data, "clinic.toml", environ or {})
    return e.value.problems


def test_a_minimal_file_gets_the_documented_defaults():
    spec = parse_tenant(minimal(), "clinic.toml", {})
    assert (spec.hold_minutes, spec.slot_minutes, spec.booking_horizon_days, spec.min_notice_minutes,
            spec.country, spec.require_otp) == (10, 15, 60, 60, "US", False)


def test_the_demo_clinic_loads_with_its_secret_from_the_variable_frontdesk_dev_sets():
    spec = load_tenant_file(ROOT / "examples" / "demo-clinic.toml", DEMO_ENVIRONMENT)
    assert (spec.slug, spec.phone, spec.secret_env) == ("bright-smile", "+15557010100", "BRIGHT_SMILE_SECRET")
    assert spec.secret == DEMO_ENVIRONMENT["BRIGHT_SMILE_SECRET"]


def test_opening_hours_are_kept_by_weekday_number_sorted():
    data = minimal()
    data["resources"][0]["hours"] = {"sun": ["13:00-17:00", "09:00-12:00"], "mon": []}
    hours = parse_tenant(data, "clinic.toml", {}).resources[0].hours
    assert hours == {6: ((time(9), time(12)), (time(13), time(17))), 0: ()}


@pytest.mark.parametrize("change, field", [
    ({"timezone": None}, "tenant.timezone"),
    ({"timezone": "Mars/Olympus"}, "tenant.timezone"),
    ({"timezone": "America"}, "tenant.timezone"),
    ({"hold_minuts": 5}, "tenant.hold_minuts"),
    ({"webhook_secret": None}, "tenant.webhook_secret"),
    ({"webhook_secret_env": "X"}, "tenant.webhook_secret"),
    ({"webhook_secret": "short"}, "tenant.webhook_secret"),
    ({"slot_minutes": 7}, "tenant.slot_minutes"),
    ({"hold_minutes": "ten"}, "tenant.hold_minutes"),
    ({"require_otp": "yes"}, "tenant.require_otp"),
    ({"slug": "Bright Smile!"}, "tenant.slug"),
])
def test_each_bad_tenant_field_is_named(change, field):
    assert any(p.startswith(field + ":") for p in problems(minimal(**change))), problems(minimal(**change))


def test_a_secret_env_must_be_set():
    data = minimal(webhook_secret=None, webhook_secret_env="CLINIC_SECRET")
    assert any("CLINIC_SECRET is not set" in p for p in problems(data))
    assert parse_tenant(data, "x", {"CLINIC_SECRET": "e" * 20}).secret == "e" * 20


def test_schedule_problems_are_named_and_all_reported_together():
    data = minimal()
    data["resources"][0]["hours"] = {"mon": ["13:00-12:00", "09:00-11:00", "10:00-12:00"], "funday": ["09:00-10:00"]}
    data["resources"][0]["services"] = ["Cleaning", "Whitening"]
    data["closures"] = [{"date": "2026-02-30"}, {"date": "2026-12-25", "resource": "Dr Nobody"}]
    found = problems(data)
    for field in ("resources[0].hours.mon[0]", "resources[0].hours.mon:", "resources[0].hours.funday",
                  "resources[0].services", "closures[0].date", "closures[1].resource"):
        assert any(p.startswith(field) for p in found), (field, found)
    assert len(found) >= 6


def test_a_file_that_is_not_toml_is_refused(tmp_path):
    bad = tmp_path / "clinic.toml"
    bad.write_text("[tenant\nslug = ")
    with pytest.raises(TenantConfigError, match="not valid TOML"):
        load_tenant_file(bad, {})
    with pytest.raises(TenantConfigError, match="cannot read"):
        load_tenant_file(tmp_path / "missing.toml", {})


def test_several_problems_anywhere_in_the_file_are_reported_at_once_with_their_paths():
    data = minimal(slot_minutes=7, hold_minutes=True, timezone="America", webhook_secret="short")
    data["services"].append({"name": " cleaning ", "minutes": 3})
    data["resources"][0]["hours"] = {"mon": ["09:00-12:00", "9am-5pm"]}
    data["sms"] = {"from_number": "555-0100"}
    data["otp"] = {"max_attempts": 0}
    data["extras"] = {}
    assert problems(data) == [
        "tenant.timezone: 'America' is not an IANA time zone such as \"America/New_York\"",
        "tenant.webhook_secret: the secret must be at least 16 characters; generate one with "
        "python3 -c 'import secrets; print(secrets.token_urlsafe(24))'",
        "tenant.hold_minutes: must be a whole number",
        "tenant.slot_minutes: must divide an hour evenly: 5, 10, 15, 20, 30 or 60",
        "services[1].name: 'cleaning' is listed twice",
        "services[1].minutes: must be at least 5",
        "resources[0].hours.mon[1]: '9am-5pm' should look like \"09:00-17:00\"",
        "sms.from_number: must be an E.164 number such as \"+15557010100\"",
        "otp.max_attempts: must be at least 1",
        "extras: unknown section",
    ]


def test_one_wrong_entry_is_not_also_reported_as_no_entries():
    data = minimal()
    data["services"][0]["minutes"] = 2
    assert problems(data) == ["services[0].minutes: must be at least 5"]
    data["services"] = []
    assert "services: at least one [[services]] entry is required" in problems(data)


@pytest.mark.parametrize("section, entry, path", [
    ("services", {"name": "Cleaning", "minutes": 30, "price": 90}, "services[0].price"),
    ("resources", {"name": "Dr Lee", "services": ["Cleaning"], "hours": {"mon": ["09:00-17:00"]}, "room": 2},
     "resources[0].room"),
    ("closures", {"date": "2026-12-25", "why": "Christmas"}, "closures[0].why"),
    ("sms", {"from_number": "+15557010100", "form_number": "+15557010100"}, "sms.form_number"),
    ("otp", {"max_attempt": 3}, "otp.max_attempt"),
])
def test_an_unknown_key_in_a_nested_table_is_named(section, entry, path):
    data = minimal()
    data[section] = entry if section in ("sms", "otp") else [entry]
    assert problems(data) == [f"{path}: unknown field"]


def test_a_secret_from_the_environment_must_be_long_enough_too():
    data = minimal(webhook_secret=None, webhook_secret_env="CLINIC_SECRET")
    assert problems(data, {"CLINIC_SECRET": "short"}) == [
        "tenant.webhook_secret_env: the secret in CLINIC_SECRET must be at least 16 characters; generate one "
        "with python3 -c 'import secrets; print(secrets.token_urlsafe(24))'"]


@pytest.mark.parametrize("written, country, e164", [
    ("+1 555 701 0100", "US", "+15557010100"),
    ("(555) 701-0100", "US", "+15557010100"),
    ("020 7946 0018", "GB", "+442079460018"),
])
def test_the_clinic_phone_is_read_in_its_country_and_kept_as_e164(written, country, e164):
    assert parse_tenant(minimal(phone=written, country=country), "clinic.toml", {}).phone == e164


def test_the_clinic_phone_is_optional():
    assert parse_tenant(minimal(), "clinic.toml", {}).phone is None


@pytest.mark.parametrize("written", ["701 0100", "call us", "12", ""])
def test_a_clinic_phone_that_is_not_a_whole_number_is_refused(written):
    found = problems(minimal(phone=written))
    assert len(found) == 1 and found[0].startswith("tenant.phone: "), found
    if written.strip():
        assert found == [f"tenant.phone: {written!r} is not a phone number; give the clinic's number with its "
                         "area code"]


def test_the_fingerprint_changes_with_what_is_applied_and_only_then():
    one = parse_tenant(minimal(phone="+1 555 701 0100"), "clinic.toml", {})
    same = parse_tenant(minimal(phone="(555) 701-0100"), "clinic.toml", {})
    other = parse_tenant(minimal(phone="+1 555 701 0199"), "clinic.toml", {})
    renamed = parse_tenant(minimal(phone="+1 555 701 0100", name="Demo 2"), "clinic.toml", {})
    assert one.fingerprint("h") == same.fingerprint("h") != other.fingerprint("h")
    assert renamed.fingerprint("h") != one.fingerprint("h")
    assert one.fingerprint("h") != one.fingerprint("another hash")
