"""`frontdesk vapi sync` and the sync `frontdesk tenant apply` queues, as the command runs them: settings from
the environment, the real Vapi client pointed at a fake served from a thread (the command runs its own
event loop), real PostgreSQL, and a Redis that is not there."""

from __future__ import annotations

import secrets

import pytest

from frontdesk.cli import main
from tests.fakes.vapi import FakeVapi, serving_in_a_thread

#: nothing listens there: publishing fails at once
NO_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def fake_vapi():
    with serving_in_a_thread(FakeVapi(keys={"clinic-key"})) as fake:
        yield fake


@pytest.fixture
def clinic(tmp_path, monkeypatch, database_url, fake_vapi):
    """A clinic file with its own Vapi key variable, and the environment `frontdesk` reads."""
    n = secrets.token_hex(3)
    key_env, secret_env = f"CLINIC_{n.upper()}_VAPI_KEY", f"CLINIC_{n.upper()}_SECRET"
    for name, value in {"DATABASE_URL": database_url, "REDIS_URL": NO_REDIS, "VAPI_BASE_URL": fake_vapi.base_url,
                        "PUBLIC_URL": "https://frontdesk.example.com", secret_env: secrets.token_urlsafe(24),
                        key_env: "clinic-key", "LOG_FORMAT": "console"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("VAPI_API_KEY", raising=False)
    slug = f"cli-clinic-{n}"
    fake_vapi.add_assistant(f"asst-{n}")
    path = tmp_path / "clinic.toml"
    path.write_text(f"""
[tenant]
slug = "{slug}"
name = "Cli Clinic"
timezone = "America/New_York"
assistant_ids = ["asst-{n}"]
webhook_secret_env = "{secret_env}"

[[services]]
name = "Cleaning"
minutes = 30

[[resources]]
name = "Dr Lee"
services = ["Cleaning"]
[resources.hours]
mon = ["09:00-17:00"]

[vapi]
api_key_env = "{key_env}"
tools = ["check_availability", "reserve_slot"]
""")
    return path, slug, key_env


def _outbox(db, slug: str) -> list[tuple]:
    return db.execute("SELECT o.queue, o.actor, o.published_at FROM outbox o JOIN tenants t ON t.id = o.tenant_id "
                      "WHERE t.slug = %s AND o.actor = 'sync_tenant_tools'", (slug,)).fetchall()


def test_tenant_apply_queues_a_sync_and_an_unreachable_redis_does_not_fail_it(clinic, db, capsys):
    path, slug, _ = clinic
    assert main(["tenant", "apply", str(path)]) == 0
    out, err = capsys.readouterr()
    assert f"tenant {slug} created" in out and "Redis is unreachable" in err
    assert _outbox(db, slug) == [("vapi_sync", "sync_tenant_tools", None)]  # the clock's relay publishes it
    assert main(["tenant", "apply", str(path)]) == 0  # unchanged: nothing to sync
    assert len(_outbox(db, slug)) == 1


def test_a_dry_run_prints_the_plan_and_writes_nothing(clinic, db, fake_vapi, capsys, monkeypatch):
    path, slug, key_env = clinic
    monkeypatch.delenv(key_env)  # applied without a key: no sync queued
    assert main(["tenant", "apply", str(path)]) == 0
    monkeypatch.setenv(key_env, "clinic-key")
    monkeypatch.delenv("PUBLIC_URL")  # a dry run does without
    capsys.readouterr()
    assert main(["vapi", "sync", "--tenant", slug, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [f"tenant {slug}: would make these changes (dry run, nothing written)",
                                "  create tool check_availability", "  create tool reserve_slot",
                                f"  patch assistant asst-{slug.rsplit('-', 1)[1]}: system prompt, toolIds"]
    assert fake_vapi.writes() == [] and _outbox(db, slug) == []
    assert db.execute("SELECT count(*) FROM vapi_sync_runs r JOIN tenants t ON t.id = r.tenant_id "
                      "WHERE t.slug = %s", (slug,)).fetchone() == (0,)


def test_sync_now_syncs_here_and_a_refusal_exits_non_zero_with_vapis_answer(clinic, db, fake_vapi, capsys,
                                                                              monkeypatch):
    path, slug, key_env = clinic
    assert main(["tenant", "apply", str(path)]) == 0
    assert main(["vapi", "sync", "--tenant", slug, "--now"]) == 0
    assert f"tenant {slug}: synced, 3 change(s) made in Vapi" in capsys.readouterr().out
    assert len(fake_vapi.tools) == 2

    monkeypatch.setenv(key_env, "revoked")
    assert main(["vapi", "sync", "--tenant", slug, "--now"]) == 1
    err = capsys.readouterr().err
    assert f"tenant {slug}: sync failed: Vapi GET /tool: HTTP 401" in err and "Invalid Key" in err


def test_sync_queues_a_job_for_each_tenant_with_a_key_and_says_when_redis_is_away(clinic, db, capsys, monkeypatch):
    path, slug, key_env = clinic
    monkeypatch.delenv(key_env)
    assert main(["tenant", "apply", str(path)]) == 0
    assert main(["vapi", "sync", "--tenant", f"{slug}-nobody"]) == 2
    monkeypatch.setenv(key_env, "clinic-key")
    capsys.readouterr()
    assert main(["vapi", "sync"]) == 0
    out, err = capsys.readouterr()
    assert f"tenant {slug}: sync queued in the outbox" in out and "Redis is unreachable" in err
    assert _outbox(db, slug) == [("vapi_sync", "sync_tenant_tools", None)]
