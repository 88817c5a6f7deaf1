"""`frontdesk vapi show`: a clinic's tool definitions and system prompt as JSON, from its tenant file or from
the database, with no network; the secret only where it can honestly be known, a placeholder otherwise."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from assistant.prompts import system_prompt
from assistant.schedule import SECRET_PLACEHOLDER, schedule_from_spec
from domain.tenant_config import load_tenant_file
from frontdesk.cli import DEMO_ENVIRONMENT
from domain.tool_names import ALL_TOOLS, OTP_TOOLS
from frontdesk.cli import main, pick_tenant
from tests.conftest import TEST_SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo-clinic.toml"
QUICK_CARE = ROOT / "examples" / "quick-care.toml"
PUBLIC_URL = "https://frontdesk.example.com"


@pytest.fixture
def env(monkeypatch):
    """The process environment `main` reads its settings from: no database, no public URL, no clinic secret."""
    for name in ("DATABASE_URL", "PUBLIC_URL", "PORT", "QUICK_CARE_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET_KEY)
    return monkeypatch


def _show(capsys, *args: str) -> tuple[int, Any, str]:
    code = main(["vapi", "show", *args])
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else out, err


def _secret_headers(shown: dict[str, Any]) -> set[str]:
    return {tool["server"]["headers"]["X-Vapi-Secret"] for tool in shown["tools"]}


# ---- from a tenant file -------------------------------------------------------------------------------------


def test_the_demo_file_shows_its_tools_its_secret_and_its_prompt(env, capsys):
    env.setenv("PUBLIC_URL", PUBLIC_URL)
    env.setenv("BRIGHT_SMILE_SECRET", "demo-secret-bright-smile-0001")
    code, shown, err = _show(capsys, "--file", str(DEMO))
    assert code == 0 and err == ""
    assert list(shown) == ["tenant", "tools", "system_prompt"] and shown["tenant"] == "bright-smile"
    names = [tool["function"]["name"] for tool in shown["tools"]]
    assert names == [t for t in ALL_TOOLS if t not in OTP_TOOLS]
    assert [tool["server"]["url"] for tool in shown["tools"]] == [f"{PUBLIC_URL}/vapi/tools/{n}" for n in names]
    # its variable is set here, so the secret is printed: it is what must be pasted into Vapi
    assert _secret_headers(shown) == {"demo-secret-bright-smile-0001"}
    assert shown["system_prompt"] == system_prompt(schedule_from_spec(load_tenant_file(DEMO, DEMO_ENVIRONMENT)))


def test_without_a_public_url_the_tools_point_at_this_machine_and_stderr_says_so(env, capsys):
    env.setenv("PORT", "9123")
    code, shown, err = _show(capsys, "--file", str(DEMO))
    assert code == 0
    assert {tool["server"]["url"].rsplit("/vapi/", 1)[0] for tool in shown["tools"]} == {"http://127.0.0.1:9123"}
    assert "PUBLIC_URL is not set" in err and "http://127.0.0.1:9123" in err


def test_a_secret_named_by_variable_is_shown_only_when_the_variable_is_set(env, capsys):
    env.setenv("PUBLIC_URL", PUBLIC_URL)
    code, shown, err = _show(capsys, "--file", str(QUICK_CARE))
    assert code == 0 and shown["tenant"] == "quick-care"
    assert [tool["function"]["name"] for tool in shown["tools"]] == [
        "check_availability", "release_slot", "lookup_appointments", "cancel_appointment", "reserve_atomic",
        "send_otp", "verify_otp"]
    assert _secret_headers(shown) == {SECRET_PLACEHOLDER}
    assert "QUICK_CARE_SECRET" in err
    env.setenv("QUICK_CARE_SECRET", "quick-care-secret-from-the-env")
    code, shown, err = _show(capsys, "--file", str(QUICK_CARE))
    assert code == 0 and _secret_headers(shown) == {"quick-care-secret-from-the-env"} and err == ""


def test_a_bad_file_is_refused_with_its_problems_and_nothing_printed(env, capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(DEMO.read_text().replace('timezone = "America/New_York"', 'timezone = "Mars/Olympus"'))
    code, out, err = _show(capsys, "--file", str(bad))
    assert code == 2 and out == "" and "tenant.timezone" in err


# ---- from the database --------------------------------------------------------------------------------------


def _apply(capsys, path: Path) -> None:
    assert main(["tenant", "apply", str(path)]) == 0
    capsys.readouterr()


def _demo_copy(tmp_path: Path) -> tuple[Path, str]:
    """The demo clinic under a slug, assistant and secret of its own (the database is shared by the tests),
    the secret written in the file (inline)."""
    tag = secrets.token_hex(3)
    copy = tmp_path / "clinic.toml"
    copy.write_text(DEMO.read_text().replace('slug = "bright-smile"', f'slug = "show-{tag}"')
                    .replace('"asst_bright_1"', f'"asst_show_{tag}"')
                    .replace('webhook_secret_env = "BRIGHT_SMILE_SECRET"',
                             f'webhook_secret = "show-secret-{secrets.token_urlsafe(16)}"'))
    return copy, f"show-{tag}"


def test_from_the_database_a_tenant_shows_as_its_file_does(env, capsys, database_url):
    env.setenv("DATABASE_URL", database_url)
    env.setenv("PUBLIC_URL", PUBLIC_URL)
    env.setenv("QUICK_CARE_SECRET", f"quick-care-{secrets.token_urlsafe(16)}")
    _apply(capsys, QUICK_CARE)
    code, from_database, err = _show(capsys, "--tenant", "quick-care")
    assert code == 0 and err == ""
    assert from_database == _show(capsys, "--file", str(QUICK_CARE))[1]
    # the database keeps a hash of the secret: without its variable, only the placeholder can be shown
    env.delenv("QUICK_CARE_SECRET")
    code, shown, err = _show(capsys, "--tenant", "quick-care")
    assert code == 0 and _secret_headers(shown) == {SECRET_PLACEHOLDER} and "set QUICK_CARE_SECRET" in err


def test_an_inline_secret_is_not_shown_from_the_database(env, capsys, database_url, tmp_path):
    env.setenv("DATABASE_URL", database_url)
    copy, slug = _demo_copy(tmp_path)
    _apply(capsys, copy)
    code, shown, err = _show(capsys, "--tenant", slug)
    assert code == 0 and shown["tenant"] == slug
    assert _secret_headers(shown) == {SECRET_PLACEHOLDER} and "not stored in clear" in err


def test_with_several_tenants_and_no_tenant_named_the_command_lists_them_and_fails(env, capsys, database_url,
                                                                                   tmp_path):
    env.setenv("DATABASE_URL", database_url)
    env.setenv("QUICK_CARE_SECRET", f"quick-care-{secrets.token_urlsafe(16)}")
    copy, slug = _demo_copy(tmp_path)
    _apply(capsys, copy)
    _apply(capsys, QUICK_CARE)
    code, out, err = _show(capsys)
    assert code == 2 and out == ""
    assert "--tenant" in err and slug in err and "quick-care" in err
    code, out, err = _show(capsys, "--tenant", "no-such-clinic")
    assert code == 2 and out == "" and "no tenant 'no-such-clinic'" in err and slug in err


def test_without_a_database_or_a_file_the_command_says_what_it_needs(env, capsys):
    with pytest.raises(SystemExit, match="DATABASE_URL is not set"):
        main(["vapi", "show"])


def test_the_only_tenant_is_shown_without_naming_it_and_none_is_an_error():
    assert pick_tenant(["quick-care"], None) == "quick-care"
    assert pick_tenant(["a-clinic", "quick-care"], "quick-care") == "quick-care"
    with pytest.raises(ValueError, match="no tenants yet"):
        pick_tenant([], None)
    with pytest.raises(ValueError, match="2 tenants; choose one with --tenant SLUG: a-clinic, quick-care"):
        pick_tenant(["a-clinic", "quick-care"], None)
