"""Each tool's Vapi function definition: one per registered tool, only the tools the clinic gets, served
synchronously at its own URL with the clinic's credential, and a `parameters` schema that accepts the README's
example arguments and refuses a wrong type, checked with `jsonschema` as Vapi's model would be held to it."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from assistant.definitions import DELAYED_AFTER_MS, TOOL_TIMEOUT_SECONDS, tool_definitions
from assistant.schedule import EnvironForShowing, schedule_from_spec
from domain.model import Schedule
from domain.tenant_config import load_tenant_file
from domain.tool_names import ALL_TOOLS, OTP_TOOLS
from webhook.tools import TOOL_HANDLERS

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
URL = "https://frontdesk.example.com"
SECRET = "a-secret-of-the-clinic-0001"


def _demo(**changes: Any) -> Schedule:
    schedule = schedule_from_spec(load_tenant_file(ROOT / "examples" / "demo-clinic.toml", EnvironForShowing({})))
    return replace(schedule, **changes)


def _with_vapi(schedule: Schedule, **changes: Any) -> Schedule:
    return replace(schedule, vapi=replace(schedule.vapi, **changes))


def _readme_examples() -> dict[str, Any]:
    """The JSON block right below the README's tool table: tool -> one example of its arguments."""
    text = README.read_text()
    below_table = text[text.index("| tool | arguments | answers |"):]
    block = re.search(r"```json\n(.*?)\n```", below_table, re.S)
    assert block is not None, "the README has no ```json block of example arguments below its tool table"
    return json.loads(block.group(1))


EVERY_TOOL = tool_definitions(_demo(require_otp=True), URL, SECRET)


# ---- which tools ------------------------------------------------------------------------------------------


def test_every_registered_tool_has_a_definition_and_every_definition_a_registered_tool():
    assert list(EVERY_TOOL) == list(ALL_TOOLS)
    assert set(EVERY_TOOL) == set(TOOL_HANDLERS)
    assert all(d["function"]["name"] == name for name, d in EVERY_TOOL.items())


def test_a_clinic_without_codes_gets_no_code_tools():
    assert list(tool_definitions(_demo(), URL, SECRET)) == [t for t in ALL_TOOLS if t not in OTP_TOOLS]


def test_the_tenant_files_vapi_tools_narrow_a_clinics_tools_but_never_add_code_tools():
    narrowed = ("verify_otp", "book_appointment", "check_availability", "reserve_slot")
    with_codes = _with_vapi(_demo(require_otp=True), tools=narrowed)
    assert list(tool_definitions(with_codes, URL, SECRET)) == [
        "check_availability", "reserve_slot", "book_appointment", "verify_otp"]
    without_codes = _with_vapi(_demo(), tools=narrowed)
    assert list(tool_definitions(without_codes, URL, SECRET)) == [
        "check_availability", "reserve_slot", "book_appointment"]


# ---- how each is served -----------------------------------------------------------------------------------


def test_each_tool_is_a_synchronous_function_at_its_own_url_with_the_clinics_secret_header():
    for name, d in tool_definitions(_demo(), URL + "/", SECRET).items():
        assert set(d) == {"type", "async", "function", "server", "messages"}
        assert d["type"] == "function" and d["async"] is False  # Vapi must wait for a booking's answer
        assert d["server"] == {"url": f"{URL}/vapi/tools/{name}", "timeoutSeconds": TOOL_TIMEOUT_SECONDS,
                               "headers": {"X-Vapi-Secret": SECRET}}
        json.dumps(d)  # plain JSON, ready to send


def test_a_clinic_with_a_vapi_credential_is_served_with_it_and_no_secret_header():
    schedule = _with_vapi(_demo(), credential_id="cred-1234")
    for d in tool_definitions(schedule, URL, SECRET).values():
        assert d["server"] == {"url": d["server"]["url"], "timeoutSeconds": TOOL_TIMEOUT_SECONDS,
                               "credentialId": "cred-1234"}


def test_without_a_secret_the_server_carries_no_credential():
    for d in tool_definitions(_demo(), URL, None).values():
        assert "headers" not in d["server"] and "credentialId" not in d["server"]


def test_the_assistant_talks_while_a_tool_runs_and_apologises_when_it_fails():
    for name, d in EVERY_TOOL.items():
        start, delayed, failed = d["messages"]
        assert start["type"] == "request-start" and start["blocking"] is False, name
        assert delayed["type"] == "request-response-delayed", name
        assert delayed["timingMilliseconds"] == DELAYED_AFTER_MS and delayed["content"], name
        assert failed["type"] == "request-failed" and failed["content"], name
        # a request-complete message would replace the model's answer: the tools' own `say` is spoken instead
        assert not any(m["type"] == "request-complete" for m in d["messages"]), name


def test_each_description_tells_the_voice_model_when_to_call_the_tool_and_what_it_returns():
    for name, d in EVERY_TOOL.items():
        description = d["function"]["description"]
        assert 150 < len(description) < 900, (name, len(description))
        assert "Returns" in description and "`say`" in description, name
        assert "\n" not in description and "  " not in description, name
        assert "description" not in d["function"]["parameters"], name  # said once, as the function's


# ---- the arguments' schema, as Vapi's model sees it ---------------------------------------------------------


def _schema(tool: str) -> dict[str, Any]:
    schema = EVERY_TOOL[tool]["function"]["parameters"]
    jsonschema.validators.validator_for(schema).check_schema(schema)
    return schema


def test_the_readme_gives_one_example_for_every_tool():
    assert set(_readme_examples()) == set(TOOL_HANDLERS)


@pytest.mark.parametrize("tool", ALL_TOOLS)
def test_the_schema_accepts_the_readmes_example_and_the_tool_parses_it(tool):
    example = _readme_examples()[tool]
    jsonschema.validate(example, _schema(tool))
    TOOL_HANDLERS[tool].args.parse(example)  # and the webhook agrees


#: a value of the wrong JSON type for each type the schemas use
_WRONG = {"string": 42, "integer": "soon", "number": "soon", "boolean": "yes", "object": [], "array": {}}


@pytest.mark.parametrize("tool", ALL_TOOLS)
def test_the_schema_refuses_a_wrong_type_for_every_argument_and_arguments_that_are_no_object(tool):
    schema = _schema(tool)
    example = _readme_examples()[tool]
    for field, prop in schema["properties"].items():
        wrong = {**example, field: _WRONG[prop["type"]]}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(wrong, schema)
    for not_an_object in ([], "start=now", None):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(not_an_object, schema)


@pytest.mark.parametrize("tool", [t for t in ALL_TOOLS if EVERY_TOOL[t]["function"]["parameters"]["required"]])
def test_the_schema_refuses_arguments_missing_a_required_one(tool):
    schema = _schema(tool)
    for field in schema["required"]:
        example = {k: v for k, v in _readme_examples()[tool].items() if k != field}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(example, schema)


def test_the_schema_refuses_values_out_of_bounds():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"part_of_day": "brunch"}, _schema("check_availability"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"limit": 0}, _schema("check_availability"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "N" * 201}, _schema("book_appointment"))


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.toml")), ids=lambda p: p.name)
def test_an_example_clinics_definitions_name_no_tool_it_lacks(path):
    schedule = schedule_from_spec(load_tenant_file(path, EnvironForShowing({})))
    definitions = tool_definitions(schedule, URL, SECRET)
    named = {t for t in ALL_TOOLS if re.search(rf"\b{t}\b", json.dumps(list(definitions.values())))}
    assert named == set(definitions)
