"""A Schedule made from a tenant file without a database is the one the database loads once the file is
applied (ids aside): what `frontdesk vapi show --file` renders is what the clinic's calls will use."""

from __future__ import annotations

import secrets
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from assistant.schedule import schedule_from_spec
from domain.model import Schedule
from domain.tenant_config import load_tenant_file

ROOT = Path(__file__).resolve().parents[2]


def _by_name(schedule: Schedule) -> dict[str, Any]:
    """The schedule with every id replaced by the name it stands for."""
    services = {s.id: s.name for s in schedule.services}
    resources = {r.id: r.name for r in schedule.resources}
    plain = replace(schedule, tenant_id=0, version=0, services=(), resources=(), closures=())
    return {
        **asdict(plain),
        "services": [(s.name, s.minutes) for s in schedule.services],
        "resources": [(r.name, sorted(services[i] for i in r.service_ids), r.hours) for r in schedule.resources],
        "closures": [(c.day, resources.get(c.resource_id or 0), c.reason) for c in schedule.closures],
    }


async def test_the_schedule_made_from_a_file_is_the_one_the_database_loads_after_applying_it(store):
    secret = f"quick-care-{secrets.token_urlsafe(16)}"
    spec = load_tenant_file(ROOT / "examples" / "quick-care.toml", {"QUICK_CARE_SECRET": secret})
    await store.apply_tenant(spec)
    loaded = await store.schedule_by_slug("quick-care")
    assert loaded is not None and loaded.slug == "quick-care"
    assert _by_name(schedule_from_spec(spec)) == _by_name(loaded)
    assert await store.schedule_by_slug("no-such-clinic") is None
    assert "quick-care" in await store.tenant_slugs()
