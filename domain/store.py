"""The PostgreSQL store: the only module that imports SQLAlchemy.

Double booking is made impossible by the `bookings_no_overlap` exclusion constraint; the application
additionally serialises contenders with a transaction-level advisory lock, because hundreds of
transactions inserting the same range straight into an exclusion-constrained table deadlock (40P01) and
can leave no winner at all. Both 23P01 and 40P01 still come back as "taken", never as an error.

The lock key is (resource id, local day as yyyymmdd), in PostgreSQL's two-int advisory key space, which
this application reserves for it: a booking lies within one local day's working hours, so any two that
could overlap share a key, while callers booking other days of the same provider do not wait on each other.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT, JSONB, TEXT
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .availability import Busy
from .otp import OtpPolicy
from .model import Booking, Closure, OtpChallenge, OutboxEntry, Resource, Schedule, Service, SmsJob, TenantSms
from .tenant_config import TenantSpec

#: how long a process trusts a secret it has looked up; a rotated or removed secret stops working after this
AUTH_CACHE_SECONDS = 5.0
_TAKEN_SQLSTATES = {"23P01", "40P01"}  # exclusion violation, deadlock: both mean "someone else got it"

_BOOKING_COLS = ("id, resource_id, service_id, status, starts_at, ends_at, call_id, hold_expires_at, "
                 "customer_name, phone, notes")


def make_engine(url: str, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    return create_async_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=False)


def hash_secret(secret: str, key: str) -> str:
    """The keyed hash a webhook secret is stored and looked up as."""
    return hmac.new(key.encode(), secret.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class TenantAuth:
    id: int
    slug: str
    assistant_ids: tuple[str, ...]
    version: int


def _day_key(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def _booking(row: Any) -> Booking:
    return Booking(*row)


class SqlStore:
    """Owns the engine and a per-process cache of tenant schedules (keyed by configuration version)."""

    def __init__(self, engine: AsyncEngine, secret_key: str) -> None:
        self.engine = engine
        self._secret_key = secret_key
        self._auth_cache: dict[str, tuple[TenantAuth, float]] = {}
        self._schedules: dict[int, Schedule] = {}

    def secret_hash(self, secret: str) -> str:
        return hash_secret(secret, self._secret_key)

    async def ping(self) -> bool:
        async with self.engine.connect() as conn:
            await conn.execute(_SQL_PING)
        return True

    async def authenticate(self, secret: str) -> TenantAuth | None:
        """The tenant whose secret this is, or None. Hits are cached for AUTH_CACHE_SECONDS (a tool call
        is on the caller's critical path); misses never are."""
        wanted = self.secret_hash(secret)
        cached = self._auth_cache.get(wanted)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        async with self.engine.connect() as conn:
            row = (await conn.execute(_SQL_AUTH, {"h": wanted})).first()
        if row is None or not hmac.compare_digest(row.secret_hash, wanted):
            self._auth_cache.pop(wanted, None)
            return None
        tenant = TenantAuth(row.id, row.slug, tuple(row.assistant_ids), row.config_version)
        if len(self._auth_cache) > 10_000:
            self._auth_cache.clear()
        self._auth_cache[wanted] = (tenant, time.monotonic() + AUTH_CACHE_SECONDS)
        return tenant

    def uow(self, tenant: TenantAuth, read_only: bool = False) -> SqlUnitOfWork:
        """A unit of work for one tenant. Read-only ones run in autocommit (no BEGIN/COMMIT round trips)."""
        return SqlUnitOfWork(self, tenant.id, tenant.version, read_only)

    async def load_schedule(self, conn: AsyncConnection, tenant_id: int, version: int) -> Schedule:
        cached = self._schedules.get(tenant_id)
        if cached is not None and cached.version == version:
            return cached
        t = (await conn.execute(text("SELECT * FROM tenants WHERE id = :t"), {"t": tenant_id})).one()
        services = tuple(
            Service(r.id, r.name, r.minutes)
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
                r.id, r.name, frozenset(links.get(r.id, ())),
                {wd: tuple(v) for wd, v in hours.get(r.id, {}).items()},
            )
            for r in await conn.execute(
                text("SELECT id, name FROM resources WHERE tenant_id = :t AND active ORDER BY position"),
                {"t": tenant_id},
            )
        )
        closures = tuple(
            Closure(r.day, r.resource_id, r.reason)
            for r in await conn.execute(
                text("SELECT day, resource_id, reason FROM closures WHERE tenant_id = :t ORDER BY day"),
                {"t": tenant_id},
            )
        )
        schedule = Schedule(
            tenant_id=t.id, slug=t.slug, name=t.name, tz=ZoneInfo(t.timezone), country=t.country,
            hold_minutes=t.hold_minutes, slot_minutes=t.slot_minutes, require_otp=t.require_otp,
            booking_horizon_days=t.booking_horizon_days, min_notice_minutes=t.min_notice_minutes,
            services=services, resources=resources, closures=closures, version=t.config_version,
            otp=OtpPolicy(t.otp_code_ttl_seconds, t.otp_max_attempts, t.otp_max_sends, t.otp_send_window_seconds,
                          t.otp_resend_cooldown_seconds),
        )
        self._schedules[tenant_id] = schedule
        return schedule

    # ---- administration -------------------------------------------------------------------------

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
                "acct": spec.sms.account_sid, "tok": spec.sms.auth_token_env,
                **{f"otp_{k}": v for k, v in asdict(spec.otp).items()},
            }
            if row is None:
                tenant_id = (await conn.execute(text(
                    "INSERT INTO tenants (slug, name, timezone, country, secret_hash, secret_env, assistant_ids, "
                    "hold_minutes, slot_minutes, require_otp, booking_horizon_days, min_notice_minutes, "
                    "config_fingerprint, sms_from, sms_messaging_service_sid, twilio_account_sid, "
                    "twilio_auth_token_env, " + _OTP_COLUMNS + ") VALUES (:slug, :name, :tz, :country, :h, :env, :a, "
                    ":hold, :slot, :otp, :horizon, :notice, :fp, :sms_from, :mss, :acct, :tok, " + _OTP_VALUES +
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
                    "twilio_auth_token_env = :tok, " + _OTP_SET + " "
                    "WHERE slug = :slug"
                ).bindparams(bindparam("a", type_=ARRAY(TEXT))), values)
                action = "updated"
            await self._apply_schedule(conn, tenant_id, spec)
        self._auth_cache.clear()
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


    # ---- the outbox and the workers' side -----------------------------------------------------------------

    async def mark_published(self, ids: list[int], now: datetime) -> None:
        if ids:
            async with self.engine.begin() as conn:
                await conn.execute(_SQL_MARK_PUBLISHED, {"ids": ids, "now": now})

    async def relay(self, publish, now: datetime, grace_seconds: float, limit: int = 500) -> tuple[int, int]:
        """Publish outbox rows committed more than `grace_seconds` ago (by the database's clock, which
        stamped them) and never published (Redis was down, or the process died between commit and publish). Rows are locked with SKIP LOCKED, so two relays
        never publish the same row at once. Returns (published, failed)."""
        async with self.engine.begin() as conn:
            rows = (await conn.execute(_SQL_UNPUBLISHED, {"grace": grace_seconds, "limit": limit})).all()
            done, failed = [], []
            for r in rows:
                entry = OutboxEntry(r.id, r.queue, r.actor, list(r.args), r.eta)
                if not await publish(entry):
                    failed.append(r.id)
                    break  # Redis is down or slow: stop here rather than time out on every row
                done.append(r.id)
            await conn.execute(_SQL_MARK_PUBLISHED, {"ids": done, "now": now})
            await conn.execute(_SQL_PUBLISH_FAILED, {"ids": failed})
        return len(done), len(failed)

    async def prune(self, now: datetime, outbox_days: int = 7, results_days: int = 30) -> tuple[int, int]:
        """Delete outbox rows published more than `outbox_days` ago and stored tool results older than
        `results_days` (a toolCallId is only replayed within a call). Returns (outbox, results) deleted."""
        async with self.engine.begin() as conn:
            o = (await conn.execute(text("DELETE FROM outbox WHERE published_at < :before"),
                                    {"before": now - timedelta(days=outbox_days)})).rowcount
            r = (await conn.execute(text("DELETE FROM tool_results WHERE created_at < :before"),
                                    {"before": now - timedelta(days=results_days)})).rowcount
        return o, r

    async def tenant_sms(self, tenant_id: int) -> TenantSms | None:
        async with self.engine.connect() as conn:
            r = (await conn.execute(_SQL_TENANT_SMS, {"t": tenant_id})).first()
        if r is None:
            return None
        return TenantSms(r.id, r.slug, r.name, ZoneInfo(r.timezone), r.sms_from, r.sms_messaging_service_sid,
                         r.twilio_account_sid, r.twilio_auth_token_env)

    async def claim_sms(self, tenant_id: int, sms_id: int, now: datetime, stale_after: timedelta) -> SmsJob | None:
        """Take a text for sending, once: a pending or retrying row, or one whose sender vanished mid-send
        (claimed more than `stale_after` ago). None if it was sent, failed for good, or is being sent."""
        async with self.engine.begin() as conn:
            r = (await conn.execute(_SQL_CLAIM_SMS, {"t": tenant_id, "i": sms_id, "now": now,
                                                     "stale": now - stale_after})).first()
        return SmsJob(*r) if r else None

    async def sms_status(self, tenant_id: int, sms_id: int) -> str | None:
        async with self.engine.connect() as conn:
            r = (await conn.execute(text("SELECT status FROM sms_messages WHERE tenant_id = :t AND id = :i"),
                                    {"t": tenant_id, "i": sms_id})).first()
        return r[0] if r else None

    async def finish_sms(self, sms_id: int, status: str, now: datetime, provider_sid: str | None = None,
                         error_code: str | None = None) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(_SQL_FINISH_SMS, {"i": sms_id, "st": status, "sid": provider_sid,
                                                 "err": error_code, "now": now})

    async def sms_status_callback(self, provider_sid: str, status: str, error_code: str | None,
                                  now: datetime) -> int | None:
        """Record Twilio's delivery report for a message we sent; returns its tenant, or None if unknown."""
        async with self.engine.begin() as conn:
            r = (await conn.execute(_SQL_SMS_CALLBACK, {"sid": provider_sid, "st": status, "err": error_code,
                                                        "now": now})).first()
        return r[0] if r else None

    async def tenant_of_sms(self, provider_sid: str) -> int | None:
        async with self.engine.connect() as conn:
            r = (await conn.execute(text("SELECT tenant_id FROM sms_messages WHERE provider_sid = :sid"),
                                    {"sid": provider_sid})).first()
        return r[0] if r else None

    async def expire_holds(self, now: datetime, tenant_id: int | None = None, hold_id: int | None = None) -> int:
        """Mark holds whose time is up as expired (one, or all of them for the sweeper), with audit rows."""
        async with self.engine.begin() as conn:
            rows = (await conn.execute(_SQL_EXPIRE_HOLDS, {"now": now, "t": tenant_id, "i": hold_id})).all()
            for r in rows:
                b = Booking(*r[1:])
                await conn.execute(_SQL_AUDIT, {
                    "t": r[0], "i": b.id, "a": "expired", "c": b.call_id, "k": None, "p": None,
                    "before": {**b.snapshot(), "status": "held"}, "after": b.snapshot()})
        return len(rows)


    async def otp_arm(self, tenant_id: int, challenge_id: int, code_hash: str, salt: str,
                      now: datetime) -> int | None:
        """Give a still-pending, still-young challenge its code (hash only); returns the code's validity in
        seconds, or None when the challenge is settled or too old to send (never sent late)."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(_SQL_OTP_ARM, {"t": tenant_id, "i": challenge_id, "h": code_hash,
                                                     "s": salt, "now": now})).first()
        return row[0] if row else None

    async def otp_mark(self, tenant_id: int, challenge_id: int, status: str, now: datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(_SQL_OTP_MARK, {"t": tenant_id, "i": challenge_id, "st": status, "now": now})


class SqlUnitOfWork:
    """See domain.ports.UnitOfWork. Every statement carries `tenant_id = :t`."""

    def __init__(self, store: SqlStore, tenant_id: int, version: int, read_only: bool = False) -> None:
        self._store = store
        self.tenant_id = tenant_id
        self._version = version
        self.read_only = read_only
        self._conn: AsyncConnection | None = None
        #: jobs written in this transaction; published after it commits
        self.outbox: list[OutboxEntry] = []

    async def __aenter__(self) -> SqlUnitOfWork:
        self._conn = await self._store.engine.connect()
        if self.read_only:
            await self._conn.execution_options(isolation_level="AUTOCOMMIT")
        else:
            await self._conn.begin()
        return self

    async def __aexit__(self, *exc: object) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if conn.in_transaction():
                await conn.rollback()
        finally:
            await conn.close()

    async def commit(self) -> None:
        assert self._conn is not None
        if not self.read_only:
            await self._conn.commit()

    def savepoint(self):
        assert self._conn is not None
        return self._conn.begin_nested()

    async def _all(self, stmt, **params: Any):
        assert self._conn is not None
        return (await self._conn.execute(stmt, {"t": self.tenant_id, **params})).all()

    async def _first(self, stmt, **params: Any):
        assert self._conn is not None
        return (await self._conn.execute(stmt, {"t": self.tenant_id, **params})).first()

    # ---- idempotency --------------------------------------------------------------------------------

    async def stored_result(self, tool_call_id: str) -> str | None:
        row = await self._first(_SQL_STORED, k=tool_call_id)
        return row[0] if row else None

    async def claim_tool_call(self, tool_call_id: str, call_id: str | None, name: str) -> str | None:
        # A concurrent transaction inserting the same key makes this wait for it to finish; then the row
        # is there and its result is returned, so a duplicate never runs the tool a second time.
        row = await self._first(_SQL_CLAIM, k=tool_call_id, c=call_id, n=name)
        if row is not None:
            return None
        return await self.stored_result(tool_call_id)

    async def save_result(self, tool_call_id: str, call_id: str | None, name: str, result: str,
                          claimed: bool) -> str:
        if claimed:
            await self._first(_SQL_SAVE, k=tool_call_id, r=result)
            return result
        row = await self._first(_SQL_INSERT_RESULT, k=tool_call_id, c=call_id, n=name, r=result)
        if row is not None:
            return result
        return await self.stored_result(tool_call_id) or result

    # ---- schedule and slots ---------------------------------------------------------------------------

    async def schedule(self) -> Schedule:
        assert self._conn is not None
        return await self._store.load_schedule(self._conn, self.tenant_id, self._version)

    async def busy(self, resource_ids: list[int], start: datetime, end: datetime, now: datetime) -> Busy:
        out: Busy = {}
        for r in await self._all(_SQL_BUSY, rids=resource_ids, a=start, b=end, now=now):
            out.setdefault(r[0], []).append((r[1], r[2]))
        return out

    async def open_call(self, call_id: str) -> str:
        return (await self._first(_SQL_OPEN_CALL, c=call_id))[0]

    async def end_call(self, call_id: str, reason: str | None, now: datetime) -> list[Booking]:
        await self._first(_SQL_END_CALL, c=call_id, why=reason, now=now)
        return await self.release_holds_of_call(call_id, now)

    async def try_hold(self, resource_id: int, service_id: int, day: date, start: datetime, end: datetime,
                       call_id: str, expires_at: datetime, now: datetime) -> Booking | None:
        return await self._claim_time(resource_id, day, start, end, now, _SQL_INSERT_HOLD,
                                      s=service_id, c=call_id, x=expires_at)

    async def _claim_time(self, resource_id: int, day: date, start: datetime, end: datetime, now: datetime,
                          stmt, **params: Any) -> Booking | None:
        """Run `stmt` (which puts an active row on resource/start/end) serialised with its contenders,
        after retiring expired holds in the way. None when the time is taken (23P01 or 40P01)."""
        assert self._conn is not None
        try:
            async with self._conn.begin_nested():
                await self._conn.execute(_SQL_LOCK, {"r": resource_id, "d": _day_key(day)})
                for row in await self._all(_SQL_RETIRE, r=resource_id, a=start, b=end, now=now):
                    old = _booking(row)
                    await self.audit(old.id, "expired", old.call_id, None, old.phone,
                                     {**old.snapshot(), "status": "held"}, old.snapshot())
                return _booking(await self._first(stmt, r=resource_id, a=start, b=end, now=now, **params))
        except DBAPIError as e:
            if getattr(e.orig, "sqlstate", None) in _TAKEN_SQLSTATES:
                return None
            raise

    async def release_holds_of_call(self, call_id: str, now: datetime, status: str = "released") -> list[Booking]:
        return [_booking(r) for r in await self._all(_SQL_RELEASE_CALL, c=call_id, now=now, st=status)]

    async def hold_of_call(self, call_id: str) -> Booking | None:
        row = await self._first(_SQL_HOLD_OF_CALL, c=call_id)
        return _booking(row) if row else None

    async def last_booking_of_call(self, call_id: str) -> Booking | None:
        row = await self._first(_SQL_LAST_OF_CALL, c=call_id)
        return _booking(row) if row else None

    async def book(self, booking_id: int, name: str, phone: str, notes: str | None, now: datetime) -> Booking:
        return _booking(await self._first(_SQL_BOOK, i=booking_id, n=name, p=phone, notes=notes, now=now))

    async def appointment(self, appointment_id: int) -> Booking | None:
        row = await self._first(_SQL_APPOINTMENT, i=appointment_id)
        return _booking(row) if row else None

    async def appointments_by_phone(self, phone: str, now: datetime) -> list[Booking]:
        return [_booking(r) for r in await self._all(_SQL_BY_PHONE, p=phone, now=now)]

    async def cancel(self, booking_id: int, reason: str | None, now: datetime) -> Booking:
        return _booking(await self._first(_SQL_CANCEL, i=booking_id, why=reason, now=now))

    async def try_move(self, booking_id: int, resource_id: int, day: date, start: datetime, end: datetime,
                       now: datetime) -> Booking | None:
        return await self._claim_time(resource_id, day, start, end, now, _SQL_MOVE, i=booking_id)

    # ---- one-time codes -------------------------------------------------------------------------------------

    async def otp_lock(self, phone: str) -> None:
        await self._first(_SQL_OTP_LOCK, key=f"otp:{self.tenant_id}:{phone}")

    async def otp_recent(self, phone: str, since: datetime) -> tuple[int, datetime | None]:
        row = await self._first(_SQL_OTP_RECENT, p=phone, since=since)
        return row[0], row[1]

    async def create_challenge(self, call_id: str, phone: str, now: datetime) -> int:
        return (await self._first(_SQL_OTP_CREATE, c=call_id, p=phone, now=now))[0]

    async def link_challenge_sms(self, challenge_id: int, sms_id: int) -> None:
        await self._first(_SQL_OTP_LINK, i=challenge_id, s=sms_id)

    async def latest_challenge(self, call_id: str) -> OtpChallenge | None:
        row = await self._first(_SQL_OTP_LATEST, c=call_id)
        return OtpChallenge(*row) if row else None

    async def update_challenge(self, challenge_id: int, status: str, attempts: int, now: datetime) -> None:
        await self._first(_SQL_OTP_UPDATE, i=challenge_id, st=status, a=attempts, now=now)

    async def mark_call_verified(self, call_id: str, phone: str, now: datetime) -> None:
        await self._first(_SQL_CALL_VERIFIED, c=call_id, p=phone, now=now)

    async def verified_phone(self, call_id: str) -> str | None:
        row = await self._first(_SQL_VERIFIED_PHONE, c=call_id)
        return row[0] if row else None

    async def set_hold_customer(self, hold_id: int, name: str | None, phone: str | None) -> None:
        await self._first(_SQL_HOLD_CUSTOMER, i=hold_id, n=name, p=phone)

    async def count_sms(self, key_prefix: str, since: datetime) -> int:
        return (await self._first(_SQL_COUNT_SMS, k=key_prefix + "%", since=since))[0]

    async def audit(self, booking_id: int, action: str, call_id: str | None, tool_call_id: str | None,
                    phone: str | None, before: dict | None, after: dict | None) -> int:
        row = await self._first(_SQL_AUDIT, i=booking_id, a=action, c=call_id, k=tool_call_id,
                                p=("***" + phone[-4:]) if phone else None, before=before, after=after)
        return row[0]

    async def enqueue(self, queue: str, actor: str, args: list[Any], eta: datetime | None = None) -> None:
        row = await self._first(_SQL_OUTBOX, q=queue, a=actor, args=args, eta=eta)
        self.outbox.append(OutboxEntry(row[0], queue, actor, args, eta))

    async def queue_sms(self, kind: str, dedupe_key: str, to_phone: str, body: str | None) -> int | None:
        row = await self._first(_SQL_QUEUE_SMS, k=dedupe_key, kind=kind, to=to_phone, body=body)
        return row[0] if row else None


_OTP_KEYS = ("code_ttl_seconds", "max_attempts", "max_sends", "send_window_seconds", "resend_cooldown_seconds")
_OTP_COLUMNS = ", ".join(f"otp_{k}" for k in _OTP_KEYS)
_OTP_VALUES = ", ".join(f":otp_{k}" for k in _OTP_KEYS)
_OTP_SET = ", ".join(f"otp_{k} = :otp_{k}" for k in _OTP_KEYS)
_SQL_PING = text("SELECT 1")
_OTP_COLS = "id, call_id, phone, status, code_hash, salt, attempts, created_at, expires_at"
_SQL_OTP_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")
_SQL_OTP_RECENT = text(
    "SELECT count(*), max(created_at) FROM otp_challenges WHERE tenant_id = :t AND phone = :p AND created_at > :since")
_SQL_OTP_CREATE = text(
    "INSERT INTO otp_challenges (tenant_id, call_id, phone, created_at) VALUES (:t, :c, :p, :now) RETURNING id")
_SQL_OTP_LINK = text("UPDATE otp_challenges SET sms_id = :s WHERE tenant_id = :t AND id = :i RETURNING 1")
_SQL_OTP_LATEST = text(
    f"SELECT {_OTP_COLS} FROM otp_challenges WHERE tenant_id = :t AND call_id = :c ORDER BY id DESC LIMIT 1 FOR UPDATE")
_SQL_OTP_UPDATE = text(
    "UPDATE otp_challenges SET status = :st, attempts = :a, "
    "verified_at = CASE WHEN :st = 'verified' THEN :now ELSE verified_at END "
    "WHERE tenant_id = :t AND id = :i RETURNING 1")
_SQL_CALL_VERIFIED = text(
    "INSERT INTO call_states (tenant_id, call_id, verified_phone, verified_at) VALUES (:t, :c, :p, :now) "
    "ON CONFLICT (tenant_id, call_id) DO UPDATE SET verified_phone = :p, verified_at = :now RETURNING 1")
_SQL_VERIFIED_PHONE = text("SELECT verified_phone FROM call_states WHERE tenant_id = :t AND call_id = :c")
_SQL_HOLD_CUSTOMER = text(
    "UPDATE bookings SET customer_name = :n, phone = :p WHERE tenant_id = :t AND id = :i AND status = 'held' "
    "RETURNING 1")
_SQL_COUNT_SMS = text(
    "SELECT count(*) FROM sms_messages WHERE tenant_id = :t AND dedupe_key LIKE :k AND created_at > :since")
_SQL_OTP_ARM = text(
    "UPDATE otp_challenges c SET code_hash = :h, salt = :s, sent_at = :now, "
    "expires_at = :now + make_interval(secs => t.otp_code_ttl_seconds) FROM tenants t "
    "WHERE t.id = c.tenant_id AND c.tenant_id = :t AND c.id = :i AND c.status = 'pending' "
    "AND c.created_at > :now - make_interval(secs => t.otp_code_ttl_seconds) RETURNING t.otp_code_ttl_seconds")
_SQL_OTP_MARK = text(
    "UPDATE otp_challenges SET status = :st WHERE tenant_id = :t AND id = :i AND status = 'pending'")
_SQL_AUTH = text("SELECT id, slug, assistant_ids, config_version, secret_hash FROM tenants WHERE secret_hash = :h")
_SQL_STORED = text("SELECT result FROM tool_results WHERE tenant_id = :t AND tool_call_id = :k")
_SQL_CLAIM = text(
    "INSERT INTO tool_results (tenant_id, tool_call_id, call_id, name, result) VALUES (:t, :k, :c, :n, '') "
    "ON CONFLICT DO NOTHING RETURNING 1")
_SQL_SAVE = text("UPDATE tool_results SET result = :r WHERE tenant_id = :t AND tool_call_id = :k RETURNING 1")
_SQL_INSERT_RESULT = text(
    "INSERT INTO tool_results (tenant_id, tool_call_id, call_id, name, result) VALUES (:t, :k, :c, :n, :r) "
    "ON CONFLICT DO NOTHING RETURNING 1")
_SQL_BUSY = text(
    "SELECT resource_id, starts_at, ends_at FROM bookings "
    "WHERE tenant_id = :t AND resource_id = ANY(:rids) AND status IN ('held', 'booked') "
    "AND tstzrange(starts_at, ends_at) && tstzrange(:a, :b) "
    "AND (status = 'booked' OR hold_expires_at > :now) ORDER BY resource_id, starts_at"
).bindparams(bindparam("rids", type_=ARRAY(BIGINT)))
_SQL_OPEN_CALL = text(
    "INSERT INTO call_states (tenant_id, call_id) VALUES (:t, :c) "
    "ON CONFLICT (tenant_id, call_id) DO UPDATE SET status = call_states.status RETURNING status")
_SQL_END_CALL = text(
    "INSERT INTO call_states (tenant_id, call_id, status, ended_reason, ended_at) "
    "VALUES (:t, :c, 'ended', :why, :now) ON CONFLICT (tenant_id, call_id) DO UPDATE SET status = 'ended', "
    "ended_reason = COALESCE(call_states.ended_reason, excluded.ended_reason), "
    "ended_at = COALESCE(call_states.ended_at, excluded.ended_at) RETURNING 1")
_SQL_LOCK = text("SELECT pg_advisory_xact_lock(CAST(:r AS integer), CAST(:d AS integer))")
_SQL_RETIRE = text(
    f"UPDATE bookings SET status = 'expired', updated_at = :now "
    f"WHERE tenant_id = :t AND resource_id = :r AND status = 'held' AND hold_expires_at <= :now "
    f"AND tstzrange(starts_at, ends_at) && tstzrange(:a, :b) RETURNING {_BOOKING_COLS}")
_SQL_INSERT_HOLD = text(
    f"INSERT INTO bookings (tenant_id, resource_id, service_id, status, starts_at, ends_at, call_id, "
    f"hold_expires_at, created_at, updated_at) VALUES (:t, :r, :s, 'held', :a, :b, :c, :x, :now, :now) "
    f"RETURNING {_BOOKING_COLS}")
_SQL_RELEASE_CALL = text(
    f"UPDATE bookings SET status = :st, updated_at = :now "
    f"WHERE tenant_id = :t AND call_id = :c AND status = 'held' RETURNING {_BOOKING_COLS}")
_SQL_HOLD_OF_CALL = text(
    f"SELECT {_BOOKING_COLS} FROM bookings WHERE tenant_id = :t AND call_id = :c AND status = 'held' FOR UPDATE")
_SQL_LAST_OF_CALL = text(
    f"SELECT {_BOOKING_COLS} FROM bookings WHERE tenant_id = :t AND call_id = :c ORDER BY updated_at DESC, id DESC "
    f"LIMIT 1")
_SQL_BOOK = text(
    f"UPDATE bookings SET status = 'booked', customer_name = :n, phone = :p, notes = :notes, hold_expires_at = NULL, "
    f"booked_at = :now, updated_at = :now WHERE tenant_id = :t AND id = :i AND status = 'held' "
    f"RETURNING {_BOOKING_COLS}")
_SQL_APPOINTMENT = text(
    f"SELECT {_BOOKING_COLS} FROM bookings WHERE tenant_id = :t AND id = :i AND status IN ('booked', 'cancelled') "
    f"FOR UPDATE")
_SQL_BY_PHONE = text(
    f"SELECT {_BOOKING_COLS} FROM bookings WHERE tenant_id = :t AND phone = :p AND status = 'booked' "
    f"AND ends_at > :now ORDER BY starts_at LIMIT 10")
_SQL_CANCEL = text(
    f"UPDATE bookings SET status = 'cancelled', cancel_reason = :why, updated_at = :now "
    f"WHERE tenant_id = :t AND id = :i AND status = 'booked' RETURNING {_BOOKING_COLS}")
_SQL_MOVE = text(
    f"UPDATE bookings SET resource_id = :r, starts_at = :a, ends_at = :b, updated_at = :now "
    f"WHERE tenant_id = :t AND id = :i AND status = 'booked' RETURNING {_BOOKING_COLS}")
_SQL_AUDIT = text(
    "INSERT INTO booking_audit (tenant_id, booking_id, action, call_id, tool_call_id, phone_masked, before, after) "
    "VALUES (:t, :i, :a, :c, :k, :p, :before, :after) RETURNING id"
).bindparams(bindparam("before", type_=JSONB), bindparam("after", type_=JSONB))

_SQL_OUTBOX = text(
    "INSERT INTO outbox (tenant_id, queue, actor, args, eta) VALUES (:t, :q, :a, :args, :eta) RETURNING id"
).bindparams(bindparam("args", type_=JSONB))
_SQL_MARK_PUBLISHED = text(
    "UPDATE outbox SET published_at = :now, publish_attempts = publish_attempts + 1 WHERE id = ANY(:ids)"
).bindparams(bindparam("ids", type_=ARRAY(BIGINT)))
_SQL_PUBLISH_FAILED = text(
    "UPDATE outbox SET publish_attempts = publish_attempts + 1 WHERE id = ANY(:ids)"
).bindparams(bindparam("ids", type_=ARRAY(BIGINT)))
_SQL_UNPUBLISHED = text(
    "SELECT id, queue, actor, args, eta FROM outbox WHERE published_at IS NULL "
    "AND created_at < now() - make_interval(secs => :grace) "
    "ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED")
_SQL_QUEUE_SMS = text(
    "INSERT INTO sms_messages (tenant_id, dedupe_key, kind, to_phone, body) VALUES (:t, :k, :kind, :to, :body) "
    "ON CONFLICT (tenant_id, dedupe_key) DO NOTHING RETURNING id")
_SQL_TENANT_SMS = text(
    "SELECT id, slug, name, timezone, sms_from, sms_messaging_service_sid, twilio_account_sid, "
    "twilio_auth_token_env FROM tenants WHERE id = :t")
_SQL_CLAIM_SMS = text(
    "UPDATE sms_messages SET status = 'sending', attempts = attempts + 1, claimed_at = :now, updated_at = :now "
    "WHERE tenant_id = :t AND id = :i AND (status IN ('pending', 'retrying') "
    "OR (status = 'sending' AND claimed_at < :stale)) "
    "RETURNING id, tenant_id, kind, to_phone, body, created_at, attempts")
_SQL_FINISH_SMS = text(
    "UPDATE sms_messages SET status = :st, provider_sid = COALESCE(:sid, provider_sid), error_code = :err, "
    "updated_at = :now, sent_at = CASE WHEN :st = 'sent' THEN :now ELSE sent_at END WHERE id = :i")
# a report never moves a text backwards (a late 'queued' after 'delivered' is ignored)
_SQL_SMS_CALLBACK = text(
    "UPDATE sms_messages SET status = :st, error_code = COALESCE(:err, error_code), updated_at = :now "
    "WHERE provider_sid = :sid AND (CASE status WHEN 'queued' THEN 0 WHEN 'sent' THEN 1 ELSE 2 END) "
    "<= (CASE CAST(:st AS text) WHEN 'queued' THEN 0 WHEN 'sent' THEN 1 ELSE 2 END) RETURNING tenant_id")
_SQL_EXPIRE_HOLDS = text(
    f"UPDATE bookings SET status = 'expired', updated_at = :now WHERE status = 'held' AND hold_expires_at <= :now "
    f"AND (CAST(:t AS bigint) IS NULL OR tenant_id = :t) AND (CAST(:i AS bigint) IS NULL OR id = :i) "
    f"RETURNING tenant_id, {_BOOKING_COLS}")

__all__ = ["SqlStore", "SqlUnitOfWork", "TenantAuth", "hash_secret", "make_engine"]
