"""Dependencies point inward: domain/ knows no web, queue, SMS or database library, nor the store/ that
implements its ports with SQLAlchemy; store/ knows the domain but no web, worker, queue or SMS code; web and
workers never import each other (the composition root, frontdesk/, wires them)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FORBIDDEN = {
    "domain": {"webhook", "workers", "frontdesk", "store", "aiohttp", "dramatiq", "twilio", "redis", "sqlalchemy",
               "psycopg"},
    "store": {"webhook", "workers", "frontdesk", "aiohttp", "dramatiq", "twilio", "redis"},
    "webhook": {"workers"},
    "workers": {"webhook"},
}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_it_must_not(package):
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) & FORBIDDEN[package])
                 for p in (ROOT / package).rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


@pytest.mark.parametrize("module", ["model.py", "jobs.py"])
def test_the_model_and_the_job_registry_use_only_the_standard_library(module):
    allowed = {"__future__", "dataclasses", "datetime", "typing", "zoneinfo"}
    assert _imports(ROOT / "domain" / module) <= allowed
