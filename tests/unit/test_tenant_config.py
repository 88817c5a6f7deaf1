"""Tenant files: defaults, and every problem named by its field, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.tenant_config import TenantConfigError, load_tenant_file, parse_tenant

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


def test_the_demo_clinic_loads():
    assert load_tenant_file(ROOT / "examples" / "demo-clinic.toml", {}).slug == "bright-smile"


@pytest.mark.parametrize("change, field", [
    ({"timezone": None}, "tenant.timezone"),
    ({"timezone": "Mars/Olympus"}, "tenant.timezone"),
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
