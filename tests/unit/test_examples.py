"""The example files shipped with the project load, pure (no database)."""

from __future__ import annotations

from pathlib import Path

from domain.tenant_config import load_tenant_file
from frontdesk.cli import DEMO_ENVIRONMENT

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_clinic_file_loads_as_bright_smile_in_new_york():
    spec = load_tenant_file(ROOT / "examples" / "demo-clinic.toml", DEMO_ENVIRONMENT)
    assert spec.slug == "bright-smile" and spec.timezone == "America/New_York"
