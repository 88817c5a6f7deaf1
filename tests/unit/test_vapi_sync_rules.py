"""The Vapi sync's pure rules: the plan, the assistant's model, which key and secret it may use, and how the
client reads Retry-After."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from adapters.vapi import retry_after_seconds
from domain.model import VapiConfig
from domain.vapi_sync import (
    SyncedTool,
    SyncRefused,
    SyncSettings,
    api_key_for,
    assistant_model,
    definition_hash,
    plan_tools,
    public_url_for,
)


def test_the_hash_of_a_definition_ignores_key_order_and_sees_any_change():
    assert definition_hash({"a": 1, "b": {"c": [1, 2]}}) == definition_hash({"b": {"c": [1, 2]}, "a": 1})
    assert definition_hash({"a": 1}) != definition_hash({"a": 2})


def test_the_plan_creates_the_missing_patches_the_changed_and_deletes_only_what_the_sync_made():
    desired = {"new": {"v": 1}, "same": {"v": 2}, "changed": {"v": 3}, "vanished": {"v": 4}}
    known = {"same": SyncedTool("same", "id-same", definition_hash({"v": 2})),
             "changed": SyncedTool("changed", "id-changed", definition_hash({"v": 0})),
             "vanished": SyncedTool("vanished", "id-vanished", definition_hash({"v": 4})),
             "dropped": SyncedTool("dropped", "id-dropped", "x")}
    changes, unchanged = plan_tools(desired, known, {"id-same", "id-changed", "id-dropped", "someone-elses"})
    assert [(c.action, c.name, c.tool_id) for c in changes] == [
        ("create", "new", None), ("patch", "changed", "id-changed"), ("create", "vanished", None),
        ("delete", "dropped", "id-dropped")]
    assert unchanged == ["same"]


def test_the_assistant_model_replaces_the_system_message_and_the_sync_s_tools_and_keeps_the_rest():
    current = {"provider": "openai", "model": "gpt-4.1", "temperature": 0.2,
               "messages": [{"role": "user", "content": "hi"}, {"role": "system", "content": "old"}],
               "toolIds": ["mine-old", "handmade", "deleted-elsewhere"]}
    model = assistant_model(current, "new prompt", ["t1", "t2"], managed={"mine-old", "t1", "t2"},
                            existing_ids={"t1", "t2", "handmade", "mine-old"})
    assert model == {"provider": "openai", "model": "gpt-4.1", "temperature": 0.2,
                     "messages": [{"role": "system", "content": "new prompt"}, {"role": "user", "content": "hi"}],
                     "toolIds": ["t1", "t2", "handmade"]}
    assert current["toolIds"] == ["mine-old", "handmade", "deleted-elsewhere"]  # not modified in place
    assert assistant_model(model, "new prompt", ["t1", "t2"], {"t1", "t2"}, {"t1", "t2", "handmade"}) == model


def test_the_key_is_the_clinics_own_variable_else_vapi_api_key_and_never_a_silent_fallback():
    settings = SyncSettings(public_url="https://x.example", default_api_key="shared", environ={"OWN": "own"})
    assert api_key_for("c", VapiConfig(), settings) == "shared"
    assert api_key_for("c", VapiConfig(api_key_env="OWN"), settings) == "own"
    with pytest.raises(SyncRefused, match="set MISSING"):
        api_key_for("c", VapiConfig(api_key_env="MISSING"), settings)
    with pytest.raises(SyncRefused, match="set VAPI_API_KEY"):
        api_key_for("c", VapiConfig(), SyncSettings("https://x.example", "", {}))


def test_a_real_sync_needs_an_https_public_url_and_a_dry_run_does_without():
    assert public_url_for(SyncSettings("https://fd.example/", "", {}), False) == "https://fd.example"
    assert public_url_for(SyncSettings("", "", {}), True).startswith("https://")
    for url in ("", "http://fd.example"):
        with pytest.raises(SyncRefused, match="PUBLIC_URL"):
            public_url_for(SyncSettings(url, "", {}), False)


def test_retry_after_is_read_as_seconds_or_as_an_http_date():
    now = datetime(2026, 3, 2, 13, 0, tzinfo=timezone.utc)
    assert retry_after_seconds("3", now) == 3.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=12), usegmt=True), now) == 12.0
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=12), usegmt=True), now) == 0.0
    assert retry_after_seconds("soon", now) is None and retry_after_seconds(None, now) is None
