"""The project as deployed: a wheel built from a clean copy of the source (not the editable install the tests
run from) carries the prompt templates, and the package installed from it renders a clinic's prompt."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_wheel_ships_the_prompt_templates_and_renders_a_prompt_from_them(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".data", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir",
         str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("frontdesk-*.whl")
    templates = sorted(Path(n).name for n in zipfile.ZipFile(wheel).namelist() if n.startswith("assistant/templates/"))
    shipped = sorted(p.name for p in (ROOT / "assistant" / "templates").glob("*.j2"))
    assert templates == shipped and "booking.md.j2" in shipped and "otp.md.j2" in shipped

    installed = tmp_path / "installed"
    zipfile.ZipFile(wheel).extractall(installed)
    render = subprocess.run(
        [sys.executable, "-c",
         "import assistant; from assistant.prompts import system_prompt; from assistant.schedule import "
         "schedule_from_spec, EnvironForShowing; from domain.tenant_config import load_tenant_file; "
         f"print(assistant.__file__); print(system_prompt(schedule_from_spec(load_tenant_file("
         f"{str(ROOT / 'examples' / 'quick-care.toml')!r}, EnvironForShowing({{}})))))"],
        capture_output=True, text=True, timeout=60, env={"PYTHONPATH": str(installed)}, cwd=tmp_path)
    assert render.returncode == 0, render.stderr
    where, prompt = render.stdout.split("\n", 1)
    assert where.startswith(str(installed))  # the wheel's package, not the source tree
    assert "Quick Care Clinic" in prompt and "(Prompt: code flow, version" in prompt
