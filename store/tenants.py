"""Tenants: authenticating a webhook secret, finding the tenant Vapi's signed requests and assistant-requests
are for, loading (and caching) a schedule, applying a tenant file."""

from __future__ import annotations

import hmac
import time
import dataclasses
from dataclasses import asdict, dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT, JSONB, TEXT
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.model import Closure, Resource, Schedule, Service, VapiConfig
from domain.otp import OtpPolicy
from domain.tenant_config import TenantSpec

from .base import StoreBase
from .engine import hash_secret

#: how long a process trusts a secret it has looked up; a rotated or removed secret stops working after this
AUTH_CACHE_SECONDS = 5.0


def vapi_config(stored: dict[str, Any]) -> VapiConfig:
    """The [vapi] table as applied (JSON keeps lists; the config holds tuples)."""
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in stored.items()
                              if k in VapiConfig.__dataclass_fields__}
    return VapiConfig(**values)


@dataclass(frozen=True)
class TenantAuth:
    id: int
    slug: str
    assistant_ids: tuple[str, ...]
    version: int


@dataclass(frozen=True)
class VapiTenant:
    """A tenant found from what a Vapi request names (an assistant, a number): who it is, and its [vapi] table,
    which says how to check the request's signature. Finding it proves nothing: the signature must verify."""

    auth: TenantAuth
    vapi: VapiConfig


#: the OtpPolicy fields, stored in tenants as otp_<field>
_OTP_KEYS = ("code_ttl_seconds", "max_attempts", "max_sends", "send_window_seconds", "resend_cooldown_seconds")
_OTP_COLUMNS = ", ".join(f"otp_{k}" for k in _OTP_KEYS)
_OTP_VALUES = ", ".join(f":otp_{k}" for k in _OTP_KEYS)
_OTP_SET = ", ".join(f"otp_{k} = :otp_{k}" for k in _OTP_KEYS)


class TenantsStoreMixin(StoreBase):
    """SqlStore's tenant side: a per-process cache of secrets and of schedules (keyed by config version)."""

    _secret_key: str
    _auth_cache: dict[str, tuple[TenantAuth, float]]
    _vapi_cache: dict[tuple[str, ...], tuple[VapiTenant, float]]
    _schedules: dict[int, Schedule]

    def secret_hash(self, secret: str) -> str:
        return hash_secret(secret, self._secret_key)

    _SQL_AUTH = text("SELECT id, slug, assistant_ids, config_version, secret_hash FROM tenants WHERE secret_hash = :h")

    async def authenticate(self, secret: str) -> TenantAuth | None:
        """The tenant whose secret this is, or None. Hits are cached for AUTH_CACHE_SECONDS (a tool call
        is on the caller's critical path); misses never are."""
        wanted = self.secret_hash(secret)
        cached = self._auth_cache.get(wanted)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        async with self.engine.connect() as conn:
            row = (await conn.execute(self._SQL_AUTH, {"h": wanted})).first()
        if row is None or not hmac.compare_digest(row.secret_hash, wanted):
            self._auth_cache.pop(wanted, None)
            return None
        tenant = TenantAuth(id=row.id, slug=row.slug, assistant_ids=tuple(row.assistant_ids),
                            version=row.config_version)
        if len(self._auth_cache) > 10_000:
            self._auth_cache.clear()
        self._auth_cache[wanted] = (tenant, time.monotonic() + AUTH_CACHE_SECONDS)
        return tenant

    # ---- the tenant a Vapi request names --------------------------------------------------------------

    _VAPI_COLUMNS = "id, slug, assistant_ids, config_version, vapi"
    #: `@>` and `&&` (not `= ANY`) so the GIN indexes on both arrays serve the lookup; LIMIT 2 to see ambiguity
    _SQL_BY_ASSISTANT = text(f"SELECT {_VAPI_COLUMNS} FROM tenants WHERE assistant_ids @> CAST(:a AS text[]) "
                             "LIMIT 2")
    _SQL_BY_NUMBER = text(f"SELECT {_VAPI_COLUMNS} FROM tenants WHERE vapi_phone_numbers && CAST(:n AS text[]) "
                          "LIMIT 2")

    async def tenant_for_assistant(self, assistant_id: str) -> VapiTenant | None:
        """The tenant one of whose `assistant_ids` this is, or None (also when, against the rule `apply_tenant`
        keeps, two tenants list it). Hits are cached like `authenticate`'s."""
        return await self._vapi_lookup(("assistant", assistant_id), self._SQL_BY_ASSISTANT, {"a": [assistant_id]})

    async def tenant_for_number(self, numbers: tuple[str, ...]) -> VapiTenant | None:
        """The tenant whose `[vapi] phone_numbers` lists any of these (a Vapi number's E.164 form or its id;
        a request names both), or None, also when they point at two different tenants. Cached like
        `authenticate`."""
        if not numbers:
            return None
        return await self._vapi_lookup(("number", *sorted(set(numbers))), self._SQL_BY_NUMBER, {"n": list(numbers)})

    async def _vapi_lookup(self, key: tuple[str, ...], sql: TextClause, params: dict[str, Any]) -> VapiTenant | None:
        cached = self._vapi_cache.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sql, params)).all()
        if len(rows) != 1:
            self._vapi_cache.pop(key, None)
            return None
        row = rows[0]
        found = VapiTenant(auth=TenantAuth(id=row.id, slug=row.slug, assistant_ids=tuple(row.assistant_ids),
                                           version=row.config_version),
                           vapi=vapi_config(row.vapi))
        if len(self._vapi_cache) > 10_000:
            self._vapi_cache.clear()
        self._vapi_cache[key] = (found, time.monotonic() + AUTH_CACHE_SECONDS)
        return found

    async def load_schedule(self, conn: AsyncConnection, tenant_id: int, version: int) -> Schedule:
        cached = self._schedules.get(tenant_id)
        if cached is not None and cached.version == version:
            return cached
        t = (await conn.execute(text("SELECT * FROM tenants WHERE id = :t"), {"t": tenant_id})).one()
        services = tuple(
            Service(**r._mapping)
            for r in await conn.execute(
                text("SELECT id, name, minutes FROM services WHERE tenant_id = :t AND active ORDER BY position"),
                {"t": tenant_id},
            )
        )
        links: dict[int, set[int]] = {}
        for r in await conn.execute(
            text("SELECT resource_id, service_id FROM resource_services WHERE tenant_id = :t"), {"t": tenant_id}
        ):
            links.setdefault(r.resource_id, set()).add(r.service_id)
        hours: dict[int, dict[int, list]] = {}
        for r in await conn.execute(
            text("SELECT resource_id, weekday, opens, closes FROM working_hours WHERE tenant_id = :t "
                 "ORDER BY resource_id, weekday, opens"),
            {"t": tenant_id},
        ):
            hours.setdefault(r.resource_id, {}).setdefault(r.weekday, []).append((r.opens, r.closes))
        resources = tuple(
            Resource(
                id=r.id, name=r.name, service_ids=frozenset(links.get(r.id, ())),
                hours={wd: tuple(v) for wd, v in hours.get(r.id, {}).items()},
            )
            for r in await conn.execute(
                text("SELECT id, name FROM resources WHERE tenant_id = :t AND active ORDER BY position"),
                {"t": tenant_id},
            )
        )
        closures = tuple(
            Closure(**r._mapping)
            for r in await conn.execute(
                text("SELECT day, resource_id, reason FROM closures WHERE tenant_id = :t ORDER BY day"),
                {"t": tenant_id},
            )
        )
        schedule = Schedule(
            tenant_id=t.id, slug=t.slug, name=t.name, tz=ZoneInfo(t.timezone), country=t.country,
            hold_minutes=t.hold_minutes, slot_minutes=t.slot_minutes, require_otp=t.require_otp,
            booking_horizon_days=t.booking_horizon_days, min_notice_minutes=t.min_notice_minutes,
            services=services, resources=resources, closures=closures, version=t.config_version, phone=t.phone,
            assistant_ids=tuple(t.assistant_ids), secret_env=t.secret_env, vapi=vapi_config(t.vapi),
            otp=OtpPolicy(code_ttl_seconds=t.otp_code_ttl_seconds, max_attempts=t.otp_max_attempts,
                          max_sends=t.otp_max_sends, send_window_seconds=t.otp_send_window_seconds,
                          resend_cooldown_seconds=t.otp_resend_cooldown_seconds),
        )
        self._schedules[tenant_id] = schedule
        return schedule

    _SQL_SLUGS = text("SELECT slug FROM tenants ORDER BY slug")
    _SQL_BY_SLUG = text("SELECT id, config_version FROM tenants WHERE slug = :s")

    async def tenant_slugs(self) -> list[str]:
        """Every tenant's slug, in order."""
        async with self.engine.connect() as conn:
            return list((await conn.execute(self._SQL_SLUGS)).scalars())

    async def schedule_by_slug(self, slug: str) -> Schedule | None:
        """The tenant's schedule, or None when no tenant has this slug (administration, not the call path)."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(self._SQL_BY_SLUG, {"s": slug})).first()
            return None if row is None else await self.load_schedule(conn, row.id, row.config_version)

    # ---- administration -------------------------------------------------------------------------

    _SQL_SET_VAPI = text("UPDATE tenants SET vapi = :v, vapi_phone_numbers = :n WHERE id = :i").bindparams(
        bindparam("v", type_=JSONB), bindparam("n", type_=ARRAY(TEXT)))
    _SQL_SHARED_IDS = text(
        "SELECT slug, ARRAY(SELECT unnest(assistant_ids) INTERSECT SELECT unnest(CAST(:a AS text[]))) AS assistants, "
        "ARRAY(SELECT unnest(vapi_phone_numbers) INTERSECT SELECT unnest(CAST(:n AS text[]))) AS numbers "
        "FROM tenants WHERE slug <> :s AND (assistant_ids && CAST(:a AS text[]) "
        "OR vapi_phone_numbers && CAST(:n AS text[]))")

    async def _refuse_shared_ids(self, conn: AsyncConnection, spec: TenantSpec) -> None:
        """An assistant or a Vapi number belongs to one tenant: Vapi's signed requests and assistant-request
        find the tenant by them."""
        for r in await conn.execute(self._SQL_SHARED_IDS, {
                "s": spec.slug, "a": list(spec.assistant_ids), "n": list(spec.vapi.phone_numbers)}):
            if r.assistants:
                raise ValueError(f"tenant.assistant_ids: {', '.join(r.assistants)} already belongs to tenant "
                                 f"{r.slug}; an assistant serves one clinic")
            raise ValueError(f"vapi.phone_numbers: {', '.join(r.numbers)} already belongs to tenant {r.slug}")

    async def apply_tenant(self, spec: TenantSpec) -> tuple[int, str]:
        """Create or update a tenant from its file, in one transaction. Returns (id, 'created'|'updated'|
        'unchanged'). A secret already used by another tenant is refused (ValueError)."""
        secret_hash = self.secret_hash(spec.secret)
        fingerprint = spec.fingerprint(secret_hash)
        async with self.engine.begin() as conn:
            other = (await conn.execute(
                text("SELECT slug FROM tenants WHERE secret_hash = :h AND slug <> :s"),
                {"h": secret_hash, "s": spec.slug},
            )).first()
            if other is not None:
                raise ValueError("tenant.webhook_secret: this secret is already used by another tenant; "
                                 "every tenant needs its own")
            await self._refuse_shared_ids(conn, spec)
            row = (await conn.execute(
                text("SELECT id, config_fingerprint FROM tenants WHERE slug = :s FOR UPDATE"), {"s": spec.slug}
            )).first()
            if row is not None and row.config_fingerprint == fingerprint:
                return row.id, "unchanged"
            values = {
                "slug": spec.slug, "name": spec.name, "tz": spec.timezone, "country": spec.country,
                "h": secret_hash, "env": spec.secret_env, "a": list(spec.assistant_ids),
                "hold": spec.hold_minutes, "slot": spec.slot_minutes, "otp": spec.require_otp,
                "horizon": spec.booking_horizon_days, "notice": spec.min_notice_minutes, "fp": fingerprint,
                "sms_from": spec.sms.from_number, "mss": spec.sms.messaging_service_sid,
                "acct": spec.sms.account_sid, "tok": spec.sms.auth_token_env, "phone": spec.phone,
                **{f"otp_{k}": v for k, v in asdict(spec.otp).items()},
            }
            if row is None:
                tenant_id = (await conn.execute(text(
                    "INSERT INTO tenants (slug, name, timezone, country, secret_hash, secret_env, assistant_ids, "
                    "hold_minutes, slot_minutes, require_otp, booking_horizon_days, min_notice_minutes, "
                    "config_fingerprint, sms_from, sms_messaging_service_sid, twilio_account_sid, "
                    "twilio_auth_token_env, phone, " + _OTP_COLUMNS + ") VALUES (:slug, :name, :tz, :country, :h, "
                    ":env, :a, :hold, :slot, :otp, :horizon, :notice, :fp, :sms_from, :mss, :acct, :tok, :phone, "
                    + _OTP_VALUES +
                    ") RETURNING id"
                ).bindparams(bindparam("a", type_=ARRAY(TEXT))), values)).scalar_one()
                action = "created"
            else:
                tenant_id = row.id
                await conn.execute(text(
                    "UPDATE tenants SET name = :name, timezone = :tz, country = :country, secret_hash = :h, "
                    "secret_env = :env, assistant_ids = :a, hold_minutes = :hold, slot_minutes = :slot, "
                    "require_otp = :otp, booking_horizon_days = :horizon, min_notice_minutes = :notice, "
                    "config_fingerprint = :fp, config_version = config_version + 1, updated_at = now(), "
                    "sms_from = :sms_from, sms_messaging_service_sid = :mss, twilio_account_sid = :acct, "
                    "twilio_auth_token_env = :tok, phone = :phone, " + _OTP_SET + " "
                    "WHERE slug = :slug"
                ).bindparams(bindparam("a", type_=ARRAY(TEXT))), values)
                action = "updated"
            await conn.execute(self._SQL_SET_VAPI, {
                "i": tenant_id, "v": dataclasses.asdict(spec.vapi), "n": list(spec.vapi.phone_numbers)})
            await self._apply_schedule(conn, tenant_id, spec)
        self._auth_cache.clear()
        self._vapi_cache.clear()
        return tenant_id, action

    async def _apply_schedule(self, conn: AsyncConnection, tenant_id: int, spec: TenantSpec) -> None:
        t = {"t": tenant_id}
        service_ids: dict[str, int] = {}
        for pos, s in enumerate(spec.services):
            service_ids[s.name.casefold()] = (await conn.execute(text(
                "INSERT INTO services (tenant_id, name, minutes, position) VALUES (:t, :n, :m, :p) "
                "ON CONFLICT (tenant_id, lower(name)) DO UPDATE SET name = excluded.name, "
                "minutes = excluded.minutes, position = excluded.position, active = true RETURNING id"
            ), {**t, "n": s.name, "m": s.minutes, "p": pos})).scalar_one()
        resource_ids: dict[str, int] = {}
        for pos, r in enumerate(spec.resources):
            resource_ids[r.name.casefold()] = (await conn.execute(text(
                "INSERT INTO resources (tenant_id, name, position) VALUES (:t, :n, :p) "
                "ON CONFLICT (tenant_id, lower(name)) DO UPDATE SET name = excluded.name, "
                "position = excluded.position, active = true RETURNING id"
            ), {**t, "n": r.name, "p": pos})).scalar_one()
        ids = bindparam("ids", type_=ARRAY(BIGINT))
        await conn.execute(text("UPDATE services SET active = false WHERE tenant_id = :t AND NOT id = ANY(:ids)")
                           .bindparams(ids), {**t, "ids": list(service_ids.values())})
        await conn.execute(text("UPDATE resources SET active = false WHERE tenant_id = :t AND NOT id = ANY(:ids)")
                           .bindparams(ids), {**t, "ids": list(resource_ids.values())})
        for table in ("resource_services", "working_hours", "closures"):
            await conn.execute(text(f"DELETE FROM {table} WHERE tenant_id = :t"), t)
        links, hours = [], []
        for r in spec.resources:
            rid = resource_ids[r.name.casefold()]
            links += [{**t, "r": rid, "s": service_ids[s.casefold()]} for s in r.services]
            hours += [{**t, "r": rid, "w": wd, "o": o, "c": c} for wd, ranges in r.hours.items() for o, c in ranges]
        if links:
            await conn.execute(text(
                "INSERT INTO resource_services (tenant_id, resource_id, service_id) VALUES (:t, :r, :s) "
                "ON CONFLICT DO NOTHING"), links)
        if hours:
            await conn.execute(text(
                "INSERT INTO working_hours (tenant_id, resource_id, weekday, opens, closes) "
                "VALUES (:t, :r, :w, :o, :c)"), hours)
        closures = [
            {**t, "d": c.day, "r": resource_ids[c.resource.casefold()] if c.resource else None, "why": c.reason}
            for c in spec.closures
        ]
        if closures:
            await conn.execute(text(
                "INSERT INTO closures (tenant_id, day, resource_id, reason) VALUES (:t, :d, :r, :why)"), closures)

    async def refresh_env_secrets(self, environ: dict[str, str]) -> list[str]:
        """Re-hash secrets of tenants configured with webhook_secret_env from the environment the server
        started with. Returns the slugs whose secret changed."""
        changed = []
        async with self.engine.begin() as conn:
            rows = (await conn.execute(text(
                "SELECT id, slug, secret_env, secret_hash FROM tenants WHERE secret_env IS NOT NULL"))).all()
            for r in rows:
                secret = environ.get(r.secret_env)
                if not secret:
                    continue
                h = self.secret_hash(secret)
                if h != r.secret_hash:
                    await conn.execute(text("UPDATE tenants SET secret_hash = :h, updated_at = now() WHERE id = :i"),
                                       {"h": h, "i": r.id})
                    changed.append(r.slug)
        self._auth_cache.clear()
        return changed
