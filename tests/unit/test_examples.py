"""The example files shipped with the project load, pure (no database)."""

from __future__ import annotations

from pathlib import Path

from domain.tenant_config import load_tenant_file
from frontdesk.cli import DEMO_ENVIRONMENT
from frontdesk.simulate import load_script

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_clinic_file_loads_as_bright_smile_in_new_york():
    spec = load_tenant_file(ROOT / "examples" / "demo-clinic.toml", DEMO_ENVIRONMENT)
    assert spec.slug == "bright-smile" and spec.timezone == "America/New_York"


def test_every_example_call_script_can_be_played():
    scripts = sorted((ROOT / "examples").glob("call-*.toml"))
    assert scripts
    for path in scripts:
        script = load_script(path.read_text(), str(path))
        assert script.for_call(otp=False) and script.for_call(otp=True)
