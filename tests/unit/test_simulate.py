"""`frontdesk call simulate`'s pure parts: the script format, the envelopes (read back by the server's own
parser), and which server, tenant and secret a call goes to."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from frontdesk.simulate import (DEFAULT_SCRIPT, DevInfo, Envelopes, SimulationFailed, TenantInfo, choose_target,
                                load_script)
from webhook import vapi

DEMO = TenantInfo("bright-smile", "Bright Smile Dental", "asst_bright_1", False, "BRIGHT_SMILE_SECRET",
                  "demo-secret-bright-smile-0001")
OTHER = TenantInfo("other-clinic", "Other Clinic", None, True, "OTHER_SECRET")


def info(*tenants: TenantInfo) -> DevInfo:
    return DevInfo("http://127.0.0.1:8093", tenants, "/tmp/sms.jsonl")


def test_the_built_in_script_verifies_a_code_only_on_a_call_that_uses_one():
    script = load_script(DEFAULT_SCRIPT)
    assert [s.tool for s in script.for_call(otp=False)] == [
        "check_availability", "reserve", "book_appointment", None]
    assert [s.tool for s in script.for_call(otp=True)] == [
        "check_availability", "reserve", "verify_otp", "book_appointment", None]


def test_every_problem_in_a_script_is_named_by_its_step():
    text = """
caller_number = "555"
[[steps]]
tool = "book_it"
[[steps]]
caller = "hello"
argument = { name = "x" }
[[steps]]
"""
    with pytest.raises(SimulationFailed) as e:
        load_script(text, "call.toml")
    message = str(e.value)
    assert message.startswith("call.toml cannot be played:")
    for where in ("caller_number", "steps[0].tool: 'book_it' is not a tool", "steps[1].argument",
                  "steps[2]: a step needs what the caller says"):
        assert where in message, message


def test_a_script_that_is_not_toml_says_so():
    with pytest.raises(SimulationFailed, match="call.toml is not valid TOML"):
        load_script("[[steps]\n", "call.toml")


def test_a_tool_call_envelope_is_read_back_by_the_webhook_parser():
    now = datetime(2026, 3, 10, 15, 1, 58, 204000, tzinfo=timezone.utc)
    env = Envelopes("http://127.0.0.1:8093/", "sim-1", "+15555550123", "asst_bright_1", clock=lambda: now)
    env.said("user", "Anything Thursday?")
    msg = env.tool_calls("check_availability", {"service": "Cleaning"}, "call_abc")["message"]
    assert (vapi.message_type(msg), vapi.call_id(msg), vapi.assistant_id(msg), vapi.caller_number(msg)) == (
        "tool-calls", "sim-1", "asst_bright_1", "+15555550123")
    assert vapi.tool_calls(msg) == [vapi.ToolCall("call_abc", "check_availability", {"service": "Cleaning"}, None)]
    assert msg["timestamp"] == 1773154918204  # epoch milliseconds
    wrapped = msg["toolWithToolCallList"][0]
    assert wrapped["toolCall"] == msg["toolCallList"][0]
    assert wrapped["function"]["name"] == "check_availability" and "service" in wrapped["function"]["parameters"][
        "properties"]
    assert wrapped["server"]["url"] == "http://127.0.0.1:8093/vapi/tools/check_availability"
    assert msg["call"]["type"] == "inboundPhoneCall" and msg["call"]["customer"] == {"number": "+15555550123"}
    assert msg["artifact"]["messages"][0]["message"] == "Anything Thursday?"


def test_the_call_ends_with_a_status_update_then_an_end_of_call_report():
    times = iter([datetime(2026, 3, 10, 15, 1, tzinfo=timezone.utc) + timedelta(seconds=s) for s in range(10)])
    env = Envelopes("http://x", "sim-1", "+15555550123", None, clock=lambda: next(times))
    env.said("user", "Bye!")
    ended = env.status_ended()["message"]
    assert (ended["type"], ended["status"], vapi.ended_reason(ended)) == (
        "status-update", "ended", "customer-ended-call")
    assert vapi.assistant_id(ended) is None
    report = env.end_of_call_report()["message"]
    assert report["type"] == "end-of-call-report" and report["endedReason"] == "customer-ended-call"
    assert report["artifact"]["transcript"] == "User: Bye!" and report["endedAt"] > report["startedAt"]


def test_the_only_tenant_is_called_with_the_demo_secret_frontdesk_dev_chose():
    target = choose_target(info(DEMO), {}, "http://127.0.0.1:8080", ".data/sms.jsonl")
    assert (target.url, target.slug, target.secret, target.assistant_id, target.require_otp) == (
        "http://127.0.0.1:8093", "bright-smile", "demo-secret-bright-smile-0001", "asst_bright_1", False)


def test_the_secret_comes_from_the_tenants_variable_before_the_demo_value_and_the_flag_before_both():
    env = {"BRIGHT_SMILE_SECRET": "from-the-environment-0001"}
    assert choose_target(info(DEMO), env, "", "").secret == "from-the-environment-0001"
    assert choose_target(info(DEMO), env, "", "", secret="given-on-the-command-line").secret == (
        "given-on-the-command-line")


def test_with_several_tenants_one_must_be_picked_and_the_error_lists_them():
    with pytest.raises(SimulationFailed, match="2 tenants; pick one with --tenant: bright-smile, other-clinic"):
        choose_target(info(DEMO, OTHER), {}, "", "")
    with pytest.raises(SimulationFailed, match="no tenant 'nope'; the server has: bright-smile, other-clinic"):
        choose_target(info(DEMO, OTHER), {}, "", "", tenant="nope")
    target = choose_target(info(DEMO, OTHER), {"OTHER_SECRET": "other-secret-00000001"}, "", "",
                           tenant="other-clinic")
    assert (target.slug, target.secret, target.require_otp) == ("other-clinic", "other-secret-00000001", True)


def test_a_tenant_whose_secret_is_nowhere_names_its_variable():
    with pytest.raises(SimulationFailed, match="set OTHER_SECRET as for `frontdesk dev`, or pass --secret"):
        choose_target(info(OTHER), {}, "", "")


def test_without_a_running_frontdesk_dev_the_secret_and_url_come_from_the_command_line():
    with pytest.raises(SimulationFailed, match="no running `frontdesk dev` found.*start it with `make run`"):
        choose_target(None, {}, "http://127.0.0.1:8080", ".data/sms.jsonl")
    target = choose_target(None, {}, "http://127.0.0.1:8080", ".data/sms.jsonl", secret="s" * 20)
    assert (target.url, target.secret, target.slug, target.require_otp) == (
        "http://127.0.0.1:8080", "s" * 20, None, False)
