"""A clinic's Schedule straight from its tenant file, without a database: what `frontdesk vapi show --file`
renders the tools and the prompt from, and what tests render the example clinics with."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from zoneinfo import ZoneInfo

from domain.model import Closure, Resource, Schedule, Service
from domain.tenant_config import TenantSpec

#: what the clinic's webhook secret is shown as when it is not known here
SECRET_PLACEHOLDER = "<the clinic's webhook secret>"


class EnvironForShowing(Mapping[str, str]):
    """An environment in which a variable that is not set reads as SECRET_PLACEHOLDER.

    A tenant file names its secrets by variable (webhook_secret_env, [sms] auth_token_env, [vapi]
    hmac_secret_env) and loading it requires them to be set, as applying it must; showing what the file
    configures needs none of them, so it is read against this instead."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def __getitem__(self, name: str) -> str:
        return self._environ.get(name) or SECRET_PLACEHOLDER

    def __iter__(self) -> Iterator[str]:
        return iter(self._environ)

    def __len__(self) -> int:
        return len(self._environ)


def schedule_from_spec(spec: TenantSpec, tenant_id: int = 0) -> Schedule:
    """The Schedule that applying `spec` would load, with services and resources numbered 1, 2, ... in file
    order (a database gives other ids; nothing rendered for the assistant shows them). `version` is 0."""
    services = tuple(Service(id=i, name=s.name, minutes=s.minutes) for i, s in enumerate(spec.services, 1))
    service_ids = {s.name.casefold(): s.id for s in services}
    resources = tuple(
        Resource(id=i, name=r.name, service_ids=frozenset(service_ids[name.casefold()] for name in r.services),
                 hours={day: tuple(ranges) for day, ranges in sorted(r.hours.items())})
        for i, r in enumerate(spec.resources, 1)
    )
    resource_ids = {r.name.casefold(): r.id for r in resources}
    closures = tuple(
        Closure(day=c.day, resource_id=resource_ids[c.resource.casefold()] if c.resource else None, reason=c.reason)
        for c in sorted(spec.closures, key=lambda c: c.day)
    )
    return Schedule(
        tenant_id=tenant_id, slug=spec.slug, name=spec.name, tz=ZoneInfo(spec.timezone), country=spec.country,
        hold_minutes=spec.hold_minutes, slot_minutes=spec.slot_minutes, require_otp=spec.require_otp,
        booking_horizon_days=spec.booking_horizon_days, min_notice_minutes=spec.min_notice_minutes,
        services=services, resources=resources, closures=closures, otp=spec.otp, phone=spec.phone,
        assistant_ids=spec.assistant_ids, secret_env=spec.secret_env, vapi=spec.vapi,
    )
