"""Tenants are configuration files: parse and validate a clinic's TOML into a TenantSpec.

Every problem names the field it is about (`resources[0].hours.mon[1]`), and all problems are reported
together, so a file is fixed in one pass and nothing is ever half-applied.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .model import WEEKDAYS
from .otp import OtpPolicy

#: defaults for optional [tenant] settings
DEFAULT_HOLD_MINUTES = 10
DEFAULT_SLOT_MINUTES = 15
DEFAULT_HORIZON_DAYS = 60
DEFAULT_MIN_NOTICE_MINUTES = 60
DEFAULT_COUNTRY = "US"
#: a webhook secret shorter than this is refused: it is the clinic's only credential
MIN_SECRET_LENGTH = 16

_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_HOURS_RE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_TENANT_KEYS = {
    "slug", "name", "timezone", "country", "assistant_ids", "webhook_secret", "webhook_secret_env",
    "hold_minutes", "slot_minutes", "require_otp", "booking_horizon_days", "min_notice_minutes",
}


class TenantConfigError(Exception):
    """A tenant file that cannot be applied; `problems` lists every field at fault."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))

    def __str__(self) -> str:
        lines = [f"{self.source} cannot be applied:"] + [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    minutes: int


@dataclass(frozen=True)
class ResourceSpec:
    name: str
    services: tuple[str, ...]
    hours: dict[int, tuple[tuple[time, time], ...]]


@dataclass(frozen=True)
class ClosureSpec:
    day: date
    resource: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class SmsSpec:
    """How this clinic's texts are sent; anything unset falls back to the TWILIO_* settings."""

    from_number: str | None = None
    messaging_service_sid: str | None = None
    account_sid: str | None = None
    auth_token_env: str | None = None


@dataclass(frozen=True)
class TenantSpec:
    slug: str
    name: str
    timezone: str
    country: str
    assistant_ids: tuple[str, ...]
    secret: str = field(repr=False)
    secret_env: str | None
    hold_minutes: int
    slot_minutes: int
    require_otp: bool
    booking_horizon_days: int
    min_notice_minutes: int
    services: tuple[ServiceSpec, ...]
    resources: tuple[ResourceSpec, ...]
    closures: tuple[ClosureSpec, ...]
    sms: SmsSpec = SmsSpec()
    otp: OtpPolicy = OtpPolicy()

    def fingerprint(self, secret_hash: str) -> str:
        """A digest of everything applied, so re-applying an unchanged file is a no-op."""
        data = asdict(self)
        data["secret"] = secret_hash
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def load_tenant_file(path: str | Path, environ: dict[str, str] | None = None) -> TenantSpec:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise TenantConfigError(str(path), [f"cannot read the file: {e.strerror}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise TenantConfigError(str(path), [f"not valid TOML: {e}"]) from None
    return parse_tenant(data, str(path), os.environ if environ is None else environ)


def parse_tenant(data: dict[str, Any], source: str, environ: dict[str, str]) -> TenantSpec:
    p = _Problems()
    unknown = set(data) - {"tenant", "services", "resources", "closures", "sms", "otp"}
    for key in sorted(unknown):
        p.add(key, "unknown section")
    t = data.get("tenant")
    if not isinstance(t, dict):
        p.add("tenant", "the [tenant] table is required")
        t = {}
    for key in sorted(set(t) - _TENANT_KEYS):
        p.add(f"tenant.{key}", "unknown field")

    slug = p.string(t, "tenant.slug", required=True)
    if slug and not _SLUG_RE.match(slug):
        p.add("tenant.slug", "use 2-63 lowercase letters, digits and dashes, e.g. \"bright-smile\"")
    name = p.string(t, "tenant.name", required=True)
    tz_name = p.string(t, "tenant.timezone", required=True)
    if tz_name:
        try:
            ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            p.add("tenant.timezone", f"{tz_name!r} is not an IANA time zone such as \"America/New_York\"")
    country = p.string(t, "tenant.country") or DEFAULT_COUNTRY
    if not re.fullmatch(r"[A-Z]{2}", country):
        p.add("tenant.country", "use a two-letter country code such as \"US\" or \"GB\"")

    assistant_ids = t.get("assistant_ids", [])
    if not isinstance(assistant_ids, list) or not all(isinstance(a, str) and a.strip() for a in assistant_ids):
        p.add("tenant.assistant_ids", "must be a list of Vapi assistant id strings")
        assistant_ids = []

    secret, secret_env = "", None
    has_secret, has_env = "webhook_secret" in t, "webhook_secret_env" in t
    if has_secret == has_env:
        p.add("tenant.webhook_secret", "give exactly one of webhook_secret or webhook_secret_env")
    elif has_secret:
        secret = p.string(t, "tenant.webhook_secret", required=True) or ""
    else:
        secret_env = p.string(t, "tenant.webhook_secret_env", required=True)
        if secret_env:
            secret = environ.get(secret_env, "")
            if not secret:
                p.add("tenant.webhook_secret_env", f"the environment variable {secret_env} is not set")
    if secret and len(secret) < MIN_SECRET_LENGTH:
        where = "tenant.webhook_secret" if has_secret else f"tenant.webhook_secret_env ({secret_env})"
        p.add(where, f"the secret must be at least {MIN_SECRET_LENGTH} characters; generate one with "
                     "python3 -c 'import secrets; print(secrets.token_urlsafe(24))'")

    hold = p.integer(t, "tenant.hold_minutes", DEFAULT_HOLD_MINUTES, 1, 60)
    slot = p.integer(t, "tenant.slot_minutes", DEFAULT_SLOT_MINUTES, 5, 60)
    if slot and 60 % slot:
        p.add("tenant.slot_minutes", "must divide an hour evenly: 5, 10, 15, 20, 30 or 60")
    horizon = p.integer(t, "tenant.booking_horizon_days", DEFAULT_HORIZON_DAYS, 1, 366)
    notice = p.integer(t, "tenant.min_notice_minutes", DEFAULT_MIN_NOTICE_MINUTES, 0, 60 * 24 * 14)
    require_otp = t.get("require_otp", False)
    if not isinstance(require_otp, bool):
        p.add("tenant.require_otp", "must be true or false")
        require_otp = False

    services = _services(data.get("services"), p)
    service_names = {s.name.casefold() for s in services}
    resources = _resources(data.get("resources"), service_names, p)
    closures = _closures(data.get("closures"), {r.name.casefold() for r in resources}, p)
    sms = _sms(data.get("sms"), environ, p)
    otp = _otp(data.get("otp"), p)

    if p.problems:
        raise TenantConfigError(source, p.problems)
    return TenantSpec(
        slug=slug or "", name=name or "", timezone=tz_name or "", country=country,
        assistant_ids=tuple(a.strip() for a in assistant_ids), secret=secret, secret_env=secret_env,
        hold_minutes=hold, slot_minutes=slot, require_otp=require_otp, booking_horizon_days=horizon,
        min_notice_minutes=notice, services=services, resources=resources, closures=closures, sms=sms, otp=otp,
    )


def _otp(value: Any, p: _Problems) -> OtpPolicy:
    if value is None:
        return OtpPolicy()
    if not isinstance(value, dict):
        p.add("otp", "must be a table: [otp]")
        return OtpPolicy()
    limits = {"code_ttl_seconds": (60, 1800), "max_attempts": (1, 10), "max_sends": (1, 20),
              "send_window_seconds": (60, 86400), "resend_cooldown_seconds": (0, 600)}
    for key in sorted(set(value) - set(limits)):
        p.add(f"otp.{key}", "unknown field")
    defaults = OtpPolicy()
    return OtpPolicy(**{k: p.integer(value, f"otp.{k}", getattr(defaults, k), lo, hi) for k, (lo, hi) in limits.items()})


def _sms(value: Any, environ: dict[str, str], p: _Problems) -> SmsSpec:
    if value is None:
        return SmsSpec()
    if not isinstance(value, dict):
        p.add("sms", "must be a table: [sms]")
        return SmsSpec()
    for key in sorted(set(value) - {"from_number", "messaging_service_sid", "account_sid", "auth_token_env"}):
        p.add(f"sms.{key}", "unknown field")
    from_number = p.string(value, "sms.from_number")
    if from_number and not re.fullmatch(r"\+[1-9]\d{6,14}", from_number):
        p.add("sms.from_number", "must be an E.164 number such as \"+15557010100\"")
    service_sid = p.string(value, "sms.messaging_service_sid")
    if service_sid and not service_sid.startswith("MG"):
        p.add("sms.messaging_service_sid", "a Messaging Service SID starts with MG")
    account_sid = p.string(value, "sms.account_sid")
    if account_sid and not account_sid.startswith("AC"):
        p.add("sms.account_sid", "an Account SID starts with AC")
    token_env = p.string(value, "sms.auth_token_env")
    if token_env and not environ.get(token_env):
        p.add("sms.auth_token_env", f"the environment variable {token_env} is not set")
    if (account_sid is None) != (token_env is None):
        p.add("sms.account_sid", "give account_sid and auth_token_env together")
    return SmsSpec(from_number, service_sid, account_sid, token_env)


def _services(items: Any, p: _Problems) -> tuple[ServiceSpec, ...]:
    if not isinstance(items, list) or not items:
        p.add("services", "at least one [[services]] entry is required")
        return ()
    out, seen = [], set()
    for i, s in enumerate(items):
        where = f"services[{i}]"
        if not isinstance(s, dict):
            p.add(where, "must be a table with name and minutes")
            continue
        for key in sorted(set(s) - {"name", "minutes"}):
            p.add(f"{where}.{key}", "unknown field")
        name = p.string(s, f"{where}.name", required=True)
        minutes = p.integer(s, f"{where}.minutes", None, 5, 8 * 60)
        if name:
            if name.casefold() in seen:
                p.add(f"{where}.name", f"{name!r} is listed twice")
            seen.add(name.casefold())
            if minutes:
                out.append(ServiceSpec(name, minutes))
    return tuple(out)


def _resources(items: Any, service_names: set[str], p: _Problems) -> tuple[ResourceSpec, ...]:
    if not isinstance(items, list) or not items:
        p.add("resources", "at least one [[resources]] entry is required")
        return ()
    out, seen = [], set()
    for i, r in enumerate(items):
        where = f"resources[{i}]"
        if not isinstance(r, dict):
            p.add(where, "must be a table with name, services and hours")
            continue
        for key in sorted(set(r) - {"name", "services", "hours"}):
            p.add(f"{where}.{key}", "unknown field")
        name = p.string(r, f"{where}.name", required=True)
        if name:
            if name.casefold() in seen:
                p.add(f"{where}.name", f"{name!r} is listed twice")
            seen.add(name.casefold())
        services = r.get("services")
        if not isinstance(services, list) or not services or not all(isinstance(s, str) for s in services):
            p.add(f"{where}.services", "must be a non-empty list of service names")
            services = []
        for s in services:
            if s.casefold() not in service_names:
                p.add(f"{where}.services", f"{s!r} is not one of the [[services]]")
        hours = _hours(r.get("hours"), f"{where}.hours", p)
        if name:
            out.append(ResourceSpec(name, tuple(services), hours))
    return tuple(out)


def _hours(value: Any, where: str, p: _Problems) -> dict[int, tuple[tuple[time, time], ...]]:
    if not isinstance(value, dict) or not value:
        p.add(where, 'must give opening hours, e.g. { mon = ["09:00-17:00"] }')
        return {}
    out: dict[int, tuple[tuple[time, time], ...]] = {}
    for key, ranges in value.items():
        if key not in WEEKDAYS:
            p.add(f"{where}.{key}", f"unknown day; use {', '.join(WEEKDAYS)}")
            continue
        if not isinstance(ranges, list):
            p.add(f"{where}.{key}", 'must be a list like ["09:00-12:00", "13:00-17:00"]')
            continue
        parsed = []
        for j, text in enumerate(ranges):
            at = f"{where}.{key}[{j}]"
            m = _HOURS_RE.match(text.strip()) if isinstance(text, str) else None
            if not m:
                p.add(at, f"{text!r} should look like \"09:00-17:00\"")
                continue
            h1, m1, h2, m2 = map(int, m.groups())
            if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
                p.add(at, f"{text!r} is not a valid time range (use 00:00-23:59)")
                continue
            opens, closes = time(h1, m1), time(h2, m2)
            if closes <= opens:
                p.add(at, f"{text!r} ends before it starts")
                continue
            parsed.append((opens, closes))
        parsed.sort()
        for (a_open, a_close), (b_open, _) in zip(parsed, parsed[1:]):
            if b_open < a_close:
                p.add(f"{where}.{key}", "time ranges overlap")
        out[WEEKDAYS.index(key)] = tuple(parsed)
    return out


def _closures(items: Any, resource_names: set[str], p: _Problems) -> tuple[ClosureSpec, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        p.add("closures", 'must be [[closures]] entries with a date = "YYYY-MM-DD"')
        return ()
    out = []
    for i, c in enumerate(items):
        where = f"closures[{i}]"
        if not isinstance(c, dict):
            p.add(where, "must be a table with a date")
            continue
        for key in sorted(set(c) - {"date", "resource", "reason"}):
            p.add(f"{where}.{key}", "unknown field")
        raw = c.get("date")
        day: date | None = None
        if isinstance(raw, date):
            day = raw
        elif isinstance(raw, str):
            try:
                day = date.fromisoformat(raw)
            except ValueError:
                pass
        if day is None:
            p.add(f"{where}.date", f"{raw!r} is not a date like \"2026-12-25\"")
        resource = c.get("resource")
        if resource is not None and (not isinstance(resource, str) or resource.casefold() not in resource_names):
            p.add(f"{where}.resource", f"{resource!r} is not one of the [[resources]]")
        reason = c.get("reason", "")
        if not isinstance(reason, str):
            p.add(f"{where}.reason", "must be text")
            reason = ""
        if day is not None:
            out.append(ClosureSpec(day, resource, reason))
    return tuple(out)


class _Problems:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    def string(self, table: dict, where: str, required: bool = False) -> str | None:
        key = where.rsplit(".", 1)[-1]
        value = table.get(key)
        if value is None:
            if required:
                self.add(where, "is required")
            return None
        if not isinstance(value, str) or not value.strip():
            self.add(where, "must be non-empty text")
            return None
        if len(value) > 200:
            self.add(where, "is longer than 200 characters")
            return None
        return value.strip()

    def integer(self, table: dict, where: str, default: int | None, lo: int, hi: int) -> int:
        key = where.rsplit(".", 1)[-1]
        value = table.get(key, default)
        if value is None:
            self.add(where, "is required")
            return 0
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(where, "must be a whole number")
            return 0
        if not lo <= value <= hi:
            self.add(where, f"must be between {lo} and {hi}")
            return 0
        return value
