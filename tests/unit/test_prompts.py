"""The system prompt: rendered for every example clinic, in the flow its settings call for, naming exactly
the clinic's tools, carrying its name, zone, services and providers, what to do for every code a tool can
answer, and the version of the template it came from."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.prompts import FLOWS, prompt_version, system_prompt
from assistant.schedule import EnvironForShowing, schedule_from_spec
from domain.model import Schedule
from domain.tenant_config import load_tenant_file
from domain.tool_names import ALL_TOOLS, OTP_TOOLS, tools_for
from domain.wording import presenter

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))
TEMPLATES = ROOT / "assistant" / "templates"


def _schedule(path: Path) -> Schedule:
    return schedule_from_spec(load_tenant_file(path, EnvironForShowing({})))


def _named_tools(prompt: str) -> set[str]:
    return {tool for tool in ALL_TOOLS if re.search(rf"\b{tool}\b", prompt)}


def _template_version(template: str) -> int:
    first_line = (TEMPLATES / template).read_text().splitlines()[0]
    match = re.fullmatch(r"\{# prompt version: (\d+) #\}", first_line)
    assert match, f"{template} must start with a version line"
    return int(match.group(1))


def test_both_flows_and_both_example_clinics_are_covered():
    assert {p.name for p in EXAMPLES} >= {"demo-clinic.toml", "quick-care.toml"}
    assert {_schedule(p).require_otp for p in EXAMPLES} == {False, True}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_prompt_names_exactly_the_clinics_tools(path):
    schedule = _schedule(path)
    assert _named_tools(system_prompt(schedule)) == set(tools_for(schedule.require_otp, schedule.vapi.tools))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_prompt_carries_the_clinics_name_zone_services_and_providers(path):
    schedule = _schedule(path)
    prompt = system_prompt(schedule)
    assert schedule.name in prompt and schedule.tz.key in prompt
    for service in schedule.services:
        assert f"{service.name} ({service.minutes} minutes)" in prompt
    for resource in schedule.resources:
        offered = ", ".join(s.name for s in schedule.services if s.id in resource.service_ids)
        assert f"{resource.name} ({offered})" in prompt
    # the clinic's local time, through Vapi's Liquid (its own {{now}} is UTC); no other template syntax is left
    assert f'{{{{"now" | date: "%A %B %d, %Y, %I:%M %p", "{schedule.tz.key}"}}}}' in prompt
    assert prompt.count("{{") == 1 and "{%" not in prompt and "{#" not in prompt


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_prompt_states_the_version_of_the_template_it_came_from(path):
    schedule = _schedule(path)
    template = FLOWS[schedule.require_otp]
    version = _template_version(template)
    flow = "code flow" if schedule.require_otp else "booking flow"
    assert system_prompt(schedule).endswith(f"(Prompt: {flow}, version {version}.)\n")
    assert prompt_version(schedule) == f"{template.split('.')[0]}-{version}"


def test_a_clinic_with_codes_gets_the_code_flow_and_one_without_the_booking_flow():
    demo = _schedule(ROOT / "examples" / "demo-clinic.toml")
    booking, with_codes = system_prompt(demo), system_prompt(replace(demo, require_otp=True))
    assert "Codes: not required" in booking and "## Booking\n" in booking
    assert "Call reserve_slot with that opening's `start` unchanged" in booking
    assert "Codes: required" in with_codes and "## Booking, with a code" in with_codes
    assert "Call reserve_atomic with that opening's `start` unchanged" in with_codes
    assert "call verify_otp with it as text" in with_codes


def test_the_prompt_carries_what_a_receptionist_must_do():
    prompt = system_prompt(_schedule(ROOT / "examples" / "demo-clinic.toml"))
    for rule in ("go in `date` exactly as they said them", "Never work out a date yourself",
                 "Offer at most three times", "Offer only times check_availability returned",
                 "Wait for a yes", "Never say an appointment is booked", "Read phone numbers in groups",
                 "Say it as it is", "`start` to the next tool unchanged", '"5 5 5, 7 0 1, 0 1 0 0"'):
        assert rule in prompt, rule


#: every code a tool can answer with: each refusal and code rejection the presenter words, and bad arguments
CODES = set(presenter._REFUSALS) | set(presenter._OTP_REJECTED) | {"otp_invalid", "invalid_arguments"}
CODE_ONLY = {c for c in CODES if c.startswith("otp_")} | {"no_code"}


@pytest.mark.parametrize("require_otp", [False, True])
def test_a_clinic_with_every_tool_is_told_what_to_do_for_every_code_it_can_meet(require_otp):
    prompt = system_prompt(replace(_schedule(ROOT / "examples" / "demo-clinic.toml"), require_otp=require_otp))
    codes = CODES if require_otp else CODES - CODE_ONLY
    assert {c for c in codes if not re.search(rf"\b{c}\b", prompt)} == set()
    if not require_otp:
        assert {c for c in CODE_ONLY if re.search(rf"\b{c}\b", prompt)} == set()


@given(require_otp=st.booleans(), narrowed=st.none() | st.sets(st.sampled_from(ALL_TOOLS)).map(tuple))
def test_however_a_clinic_narrows_its_tools_its_prompt_names_exactly_those_it_has(require_otp, narrowed):
    demo = _schedule(ROOT / "examples" / "demo-clinic.toml")
    schedule = replace(demo, require_otp=require_otp, vapi=replace(demo.vapi, tools=narrowed))
    tools = set(tools_for(require_otp, narrowed))
    assert _named_tools(system_prompt(schedule)) == tools
    assert require_otp or not tools & OTP_TOOLS
