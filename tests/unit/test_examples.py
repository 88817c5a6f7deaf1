"""The example files shipped with the project load, pure (no database), and so do the Schedules made of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.schedule import SECRET_PLACEHOLDER, EnvironForShowing, schedule_from_spec
from domain.tenant_config import TenantConfigError, load_tenant_file
from domain.tool_names import tools_for
from frontdesk.cli import DEMO_ENVIRONMENT
from frontdesk.simulate import load_script

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_clinic_file_loads_as_bright_smile_in_new_york():
    spec = load_tenant_file(ROOT / "examples" / "demo-clinic.toml", DEMO_ENVIRONMENT)
    assert spec.slug == "bright-smile" and spec.timezone == "America/New_York"


def test_quick_care_requires_codes_in_london_with_narrowed_tools_and_a_vapi_number():
    spec = load_tenant_file(ROOT / "examples" / "quick-care.toml", {"QUICK_CARE_SECRET": "q" * 24})
    assert (spec.slug, spec.timezone, spec.require_otp, spec.secret) == ("quick-care", "Europe/London", True, "q" * 24)
    assert spec.vapi.phone_numbers == ("+442079460000",)
    assert tools_for(spec.require_otp, spec.vapi.tools) == (
        "check_availability", "release_slot", "lookup_appointments", "cancel_appointment", "reserve_atomic",
        "send_otp", "verify_otp")


def test_a_file_naming_its_secret_by_variable_loads_for_showing_with_a_placeholder_when_the_variable_is_unset():
    with pytest.raises(TenantConfigError, match="QUICK_CARE_SECRET is not set"):
        load_tenant_file(ROOT / "examples" / "quick-care.toml", {})
    spec = load_tenant_file(ROOT / "examples" / "quick-care.toml", EnvironForShowing({}))
    assert spec.secret == SECRET_PLACEHOLDER and spec.secret_env == "QUICK_CARE_SECRET"
    given = load_tenant_file(ROOT / "examples" / "quick-care.toml", EnvironForShowing({"QUICK_CARE_SECRET": "s" * 20}))
    assert given.secret == "s" * 20


def test_a_schedule_made_from_a_file_links_services_resources_and_closures_by_name():
    schedule = schedule_from_spec(load_tenant_file(ROOT / "examples" / "demo-clinic.toml", DEMO_ENVIRONMENT))
    assert [(s.id, s.name, s.minutes) for s in schedule.services] == [(1, "Cleaning", 30), (2, "Checkup", 45)]
    lee, patel = schedule.resources
    assert (lee.name, lee.service_ids, patel.name, patel.service_ids) == ("Dr Lee", {1, 2}, "Dr Patel", {1})
    assert schedule.resources_for(schedule.service_named("checkup"), None) == (lee,)
    assert [c.day.isoformat() for c in schedule.closures] == ["2026-12-25", "2027-01-01"]
    assert (schedule.tz.key, schedule.phone, schedule.require_otp) == ("America/New_York", "+15557010100", False)


def test_the_readmes_vapi_table_is_valid_and_documents_every_setting():
    import dataclasses
    import re
    import tomllib

    from domain.model import VapiConfig
    from domain.tenant_config import parse_tenant

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Configuring Vapi"):]
    block = re.search(r"```toml\n(\[vapi\].*?)```", section, re.S)
    assert block is not None
    documented = tomllib.loads(block.group(1))["vapi"]
    assert set(documented) == {f.name for f in dataclasses.fields(VapiConfig)}
    clinic = tomllib.loads((ROOT / "examples" / "demo-clinic.toml").read_text()) | {"vapi": documented}
    spec = parse_tenant(clinic, "README.md", {**DEMO_ENVIRONMENT, "QUICK_CARE_HMAC_KEY": "k" * 32})
    assert spec.vapi.phone_numbers == ("+442079460000",) and spec.vapi.hmac_secret_env == "QUICK_CARE_HMAC_KEY"
    # "the values shown for the hmac_* settings are the defaults"
    assert {k: v for k, v in documented.items() if k.startswith("hmac_") and k != "hmac_secret_env"} == {
        f.name: f.default for f in dataclasses.fields(VapiConfig) if f.name.startswith("hmac_") and f.name != "hmac_secret_env"}


def test_every_example_call_script_can_be_played():
    scripts = sorted((ROOT / "examples" / "calls").glob("*.toml"))
    assert scripts
    for path in scripts:
        script = load_script(path.read_text(), str(path))
        assert script.for_call(otp=False) and script.for_call(otp=True)
