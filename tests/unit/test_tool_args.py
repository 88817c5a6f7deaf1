"""Each tool's argument model: good input becomes the domain command, bad input a speakable
`invalid_arguments` naming the field, and the exported JSON Schema is plain, inline and described."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest

from domain import commands as c
from domain.model import InvalidArguments
from domain.wording.presenter import refusal as present
from assistant import tool_args as a
from webhook.tools import TOOL_HANDLERS, prepare, tool_parameters


def _parse(tool: str, arguments: dict) -> object:
    return TOOL_HANDLERS[tool].args.parse(arguments)


def _refusal(tool: str, arguments: dict) -> InvalidArguments:
    with pytest.raises(InvalidArguments) as e:
        _parse(tool, arguments)
    return e.value


# ---- good input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("tool, arguments, command", [
    ("check_availability", {}, c.CheckAvailability()),
    ("check_availability",
     {"date": " next Tuesday ", "after": "2026-03-12T14:30", "before": "2026-03-12T17:00-04:00",
      "service": "Cleaning", "resource": "Dr Lee", "part_of_day": " Afternoon", "limit": "5"},
     c.CheckAvailability(date="next Tuesday", after="2026-03-12T14:30", before="2026-03-12T17:00-04:00",
                         service="Cleaning", resource="Dr Lee", part_of_day="afternoon", limit=5)),
    ("check_availability", {"limit": 25}, c.CheckAvailability(limit=10)),
    ("check_availability", {"limit": 2.0}, c.CheckAvailability(limit=2)),
    ("check_availability", {"date": "", "service": "   ", "limit": None}, c.CheckAvailability()),
    ("reserve_slot", {"start": "2026-03-12T14:30:00-04:00"}, c.ReserveSlot(start="2026-03-12T14:30:00-04:00")),
    ("release_slot", {"start": "ignored"}, c.ReleaseSlot()),
    ("book_appointment", {"name": "  Ana Lopez ", "notes": "n" * 1000},
     c.BookAppointment(name="Ana Lopez", notes="n" * 1000)),
    ("book_appointment", {"name": "N" * 200, "phone": "(212) 555-0188"},
     c.BookAppointment(name="N" * 200, phone="(212) 555-0188")),
    ("lookup_appointments", {}, c.LookupAppointments()),
    ("cancel_appointment", {"appointment_id": "#1042", "reason": "sick"},
     c.CancelAppointment(appointment_id=1042, reason="sick")),
    ("cancel_appointment", {"appointment_id": " 1042 "}, c.CancelAppointment(appointment_id=1042)),
    ("cancel_appointment", {"appointment_id": 2**63 - 1}, c.CancelAppointment(appointment_id=2**63 - 1)),
    ("reschedule_appointment", {"appointment_id": 7, "start": "2026-03-13T09:00", "resource": "Dr Lee"},
     c.RescheduleAppointment(appointment_id=7, start="2026-03-13T09:00", resource="Dr Lee")),
    ("reserve_atomic", {"start": "2026-03-12T14:30", "name": "Ana", "phone": "+15555550123"},
     c.ReserveAtomic(start="2026-03-12T14:30", name="Ana", phone="+15555550123")),
    ("send_otp", {"phone": "212 555 0188"}, c.SendOtp(phone="212 555 0188")),
    ("verify_otp", {"code": "one two three four five six"}, c.VerifyOtp(code="one two three four five six")),
    ("verify_otp", {"code": 12345}, c.VerifyOtp(code=12345)),  # a number keeps its type: the domain pads it
    ("verify_otp", {"code": "9" * 100}, c.VerifyOtp(code="9" * 100)),
    ("send_confirmation", {}, c.SendConfirmation()),
    ("send_confirmation", {"appointment_id": "#9"}, c.SendConfirmation(appointment_id=9)),
])
def test_good_arguments_become_the_domain_command(tool, arguments, command):
    assert _parse(tool, arguments) == command


def test_keys_the_model_does_not_know_are_ignored():
    # Vapi merges static parameters such as `_call_id` into the arguments the model chose
    args = {"start": "2026-03-12T14:30", "_call_id": "call-1", "tenant_id": 5, "extra": {"x": [1]}}
    assert _parse("reserve_slot", args) == c.ReserveSlot(start="2026-03-12T14:30")


# ---- bad input -------------------------------------------------------------------------------------------

_START_MISSING = "I need the start: a date and time like 2026-03-12T14:30."
_LIMIT = "The limit should be a number from 1 to 10."
_ID = "The appointment id should be the appointment number, like 1042."
_CODE = "I need the six digits of the code."


@pytest.mark.parametrize("tool, arguments, field, say", [
    # missing (blank and null count as missing)
    ("reserve_slot", {}, "start", _START_MISSING),
    ("reserve_slot", {"start": None}, "start", _START_MISSING),
    ("reserve_slot", {"start": "  "}, "start", _START_MISSING),
    ("reserve_atomic", {"name": "Ana"}, "start", _START_MISSING),
    ("book_appointment", {"phone": "+15555550123"}, "name", "I need the name: the caller's full name."),
    ("cancel_appointment", {}, "appointment_id", "I need the appointment id."),
    ("cancel_appointment", {"appointment_id": ""}, "appointment_id", "I need the appointment id."),
    ("verify_otp", {}, "code", _CODE),
    # the wrong type
    ("reserve_slot", {"start": 42}, "start", "The start should be a date and time like 2026-03-12T14:30."),
    ("reserve_slot", {"start": ["2026-03-04T10:00"]}, "start",
     "The start should be a date and time like 2026-03-12T14:30."),
    ("check_availability", {"date": 20260304}, "date",
     "The date should be a date like 2026-03-12, today, tomorrow or a weekday."),
    ("check_availability", {"before": True}, "before", "The before should be a date and time like 2026-03-12T17:00."),
    ("book_appointment", {"name": {"first": "Ana"}}, "name", "The name should be the caller's full name."),
    ("lookup_appointments", {"phone": 2125550188}, "phone", "The phone should be a phone number with area code."),
    ("verify_otp", {"code": True}, "code", _CODE),
    ("verify_otp", {"code": 123456.0}, "code", _CODE),
    ("verify_otp", {"code": ["1", "2"]}, "code", _CODE),
    # out of bounds
    ("check_availability", {"limit": "lots"}, "limit", _LIMIT),
    ("check_availability", {"limit": -3}, "limit", _LIMIT),
    ("check_availability", {"limit": 0}, "limit", _LIMIT),
    ("check_availability", {"limit": 2.5}, "limit", _LIMIT),
    ("check_availability", {"limit": True}, "limit", _LIMIT),
    ("check_availability", {"part_of_day": "brunch"}, "part_of_day",
     "The part of day should be morning, afternoon or evening."),
    ("cancel_appointment", {"appointment_id": "abc"}, "appointment_id", _ID),
    ("cancel_appointment", {"appointment_id": 0}, "appointment_id", _ID),
    ("cancel_appointment", {"appointment_id": "-4"}, "appointment_id", _ID),
    ("cancel_appointment", {"appointment_id": 2**63}, "appointment_id", _ID),
    ("cancel_appointment", {"appointment_id": 10**30}, "appointment_id", _ID),
    ("cancel_appointment", {"appointment_id": True}, "appointment_id", _ID),
    ("send_confirmation", {"appointment_id": "#"}, "appointment_id", _ID),
    # too long
    ("book_appointment", {"name": "N" * 201}, "name", "The name is too long; it should be the caller's full name."),
    ("book_appointment", {"name": "Ana", "notes": "n" * 1001}, "notes",
     "The notes is too long; it should be a short note."),
    ("cancel_appointment", {"appointment_id": 1, "reason": "r" * 1001}, "reason",
     "The reason is too long; it should be a short reason."),
    ("check_availability", {"date": "x" * 10_240}, "date",
     "The date is too long; it should be a date like 2026-03-12, today, tomorrow or a weekday."),
    ("verify_otp", {"code": "1" * 101}, "code", "That's too long to be the code; it has six digits."),
    # the first wrong argument, in the order the model declares them, is the one named
    ("reschedule_appointment", {"appointment_id": "x", "start": 5}, "appointment_id", _ID),
    ("reschedule_appointment", {"appointment_id": 1, "start": True}, "start",
     "The start should be a date and time like 2026-03-12T14:30."),
])
def test_bad_arguments_are_refused_with_a_sentence_naming_the_field(tool, arguments, field, say):
    refusal = _refusal(tool, arguments)
    assert present(refusal) == {"ok": False, "code": "invalid_arguments", "say": say, "field": field}


def test_every_argument_of_every_tool_has_a_sentence_for_each_problem():
    for name, tool in TOOL_HANDLERS.items():
        for field in tool.args.model_fields:
            declared = a.say_of(tool.args, field)
            for problem in ("missing", "wrong_type", "too_long"):
                refused = InvalidArguments(declared.kind, problem, field=field, hint=declared.hint)
                say = present(refused)["say"]
                assert 10 < len(say) < 150 and say.endswith("."), (name, field, problem)


def test_prepare_answers_bad_arguments_with_a_stored_refusal_that_writes_nothing():
    handler, writes, _ = prepare("book_appointment", {"name": "N" * 5000}, None)
    assert writes is False
    with pytest.raises(InvalidArguments) as e:
        asyncio.run(handler(None, None))  # type: ignore[arg-type]  # fails before touching either
    assert e.value.code == "invalid_arguments" and e.value.field == "name" and e.value.problem == "too_long"


# ---- the registry and the domain ---------------------------------------------------------------------------


def test_every_tool_model_has_exactly_the_fields_of_its_command():
    for name, tool in TOOL_HANDLERS.items():
        command_fields = [f.name for f in dataclasses.fields(tool.args.command)]
        assert list(tool.args.model_fields) == command_fields, name


def test_every_tool_has_its_own_model():
    models = [tool.args for tool in TOOL_HANDLERS.values()]
    assert len(set(models)) == len(models) == 11
    assert set(models) == set(a.ToolArgs.__subclasses__())


# ---- the JSON Schema for Vapi -------------------------------------------------------------------------------


def _keys(node: object) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in _keys(v)}
    return set()


def test_the_schema_of_every_tool_is_an_inline_object_with_every_argument_described():
    schemas = tool_parameters()
    assert set(schemas) == set(TOOL_HANDLERS)
    for name, schema in schemas.items():
        model = TOOL_HANDLERS[name].args
        assert set(schema) == {"type", "description", "properties", "required"}, name
        assert schema["type"] == "object" and len(schema["description"]) > 20, name
        assert list(schema["properties"]) == list(model.model_fields), name
        assert schema["required"] == [f for f, info in model.model_fields.items() if info.is_required()], name
        for field, prop in schema["properties"].items():
            assert len(prop.get("description", "")) > 10, (name, field)
            assert "type" in prop, (name, field)
        assert not _keys(schema) & {"$ref", "$defs", "title", "anyOf", "ge", "gt", "le", "lt"}, name
        json.dumps(schema)  # plain JSON, ready to send


def test_the_schema_says_what_is_required_and_the_bounds_the_edge_enforces():
    schemas = tool_parameters()
    assert {name: s["required"] for name, s in schemas.items()} == {
        "check_availability": [], "reserve_slot": ["start"], "release_slot": [], "book_appointment": ["name"],
        "lookup_appointments": [], "cancel_appointment": ["appointment_id"],
        "reschedule_appointment": ["appointment_id", "start"], "reserve_atomic": ["start"], "send_otp": [],
        "verify_otp": ["code"], "send_confirmation": [],
    }
    check = schemas["check_availability"]["properties"]
    assert check["limit"] == {"type": "integer", "minimum": 1, "maximum": 10, "default": 3,
                              "description": check["limit"]["description"]}
    assert check["part_of_day"]["enum"] == ["morning", "afternoon", "evening"]
    assert check["date"]["maxLength"] == a.MAX_TEXT
    assert schemas["book_appointment"]["properties"]["notes"]["maxLength"] == a.MAX_NOTES
    assert schemas["cancel_appointment"]["properties"]["appointment_id"]["type"] == "integer"
    assert schemas["verify_otp"]["properties"]["code"]["type"] == "string"  # text keeps a leading zero
    assert "exactly as check_availability returned it" in schemas["reserve_slot"]["properties"]["start"]["description"]


def test_every_tool_the_domain_names_has_a_handler_and_argument_model_and_no_other():
    from domain.tool_names import ALL_TOOLS

    assert list(TOOL_HANDLERS) == list(ALL_TOOLS)


def test_the_assistant_declares_the_same_argument_model_the_webhook_parses_with():
    assert {name: tool.args for name, tool in TOOL_HANDLERS.items()} == a.ARGUMENTS
