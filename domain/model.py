"""The booking model: a tenant's schedule, openings, holds and appointments, and the refusals a caller hears of.

Standard library only. Times are timezone-aware datetimes; local wall times are interpreted in the
tenant's IANA zone with zoneinfo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .otp import OtpPolicy

if TYPE_CHECKING:
    from .working_time import Shift

UTC = timezone.utc

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Service:
    id: int
    name: str
    minutes: int


@dataclass(frozen=True)
class Resource:
    """A provider, chair or room; an appointment occupies one resource for the service's length."""

    id: int
    name: str
    service_ids: frozenset[int]
    #: weekday (0 = Monday) -> ((opens, closes), ...) in local wall time
    hours: dict[int, tuple[tuple[time, time], ...]]


@dataclass(frozen=True)
class Closure:
    day: date
    resource_id: int | None = None  # None: the whole clinic is closed
    reason: str = ""


@dataclass(frozen=True)
class VapiConfig:
    """A clinic's `[vapi]` table: how its Vapi assistants are configured and how Vapi may authenticate."""

    #: the environment variable holding the clinic's Vapi API key (None: VAPI_API_KEY)
    api_key_env: str | None = None
    #: the clinic's Vapi numbers (E.164, or Vapi phone-number ids), for assistant-request
    phone_numbers: tuple[str, ...] = ()
    #: a Vapi credential id for the tools' server (instead of the X-Vapi-Secret header)
    credential_id: str | None = None
    #: only these tools (None: every tool the clinic's settings allow)
    tools: tuple[str, ...] | None = None
    #: signed requests (Vapi's HMAC credential): the variable holding the key, and how Vapi signs
    hmac_secret_env: str | None = None
    hmac_algorithm: str = "sha256"
    hmac_encoding: str = "hex"
    hmac_signature_header: str = "x-signature"
    hmac_timestamp_header: str = "x-timestamp"
    hmac_signature_prefix: str = ""


class Memo:
    """Facts derived from one Schedule and kept with it: each resource's working time per local day
    (`working_time.Shift`s, keyed by (resource id, day)), the grain starts of each absolute working interval
    (keyed by the interval, so resources working the same hours share one tuple) and each local day's bounds.
    At most `LIMIT` entries each: the days searched move forward with time, so a full memo is emptied and
    filled again. A clinic of 40 chairs booking 60 days ahead needs 2,400 shift entries, each a few small
    tuples referring to the shared starts."""

    LIMIT = 16_384

    __slots__ = ("shifts", "steps", "bounds")

    def __init__(self) -> None:
        self.shifts: dict[tuple[int, date], tuple[Shift, ...]] = {}
        self.steps: dict[tuple[datetime, datetime], tuple[tuple[datetime, ...], tuple[int, ...]]] = {}
        self.bounds: dict[date, tuple[datetime, datetime]] = {}


@dataclass(frozen=True)
class Schedule:
    """Everything about a tenant that availability needs, loaded once per configuration version."""

    tenant_id: int
    slug: str
    name: str
    tz: ZoneInfo
    country: str
    hold_minutes: int
    slot_minutes: int
    require_otp: bool
    booking_horizon_days: int
    min_notice_minutes: int
    services: tuple[Service, ...]
    resources: tuple[Resource, ...]
    closures: tuple[Closure, ...] = ()
    version: int = 0
    otp: OtpPolicy = OtpPolicy()
    #: the clinic's own number (E.164), which texts give patients to call to cancel or change
    phone: str | None = None
    #: the Vapi assistants allowed to use this clinic's secret (the first answers assistant-request)
    assistant_ids: tuple[str, ...] = ()
    #: the environment variable holding the webhook secret (None: the secret was written in the file)
    secret_env: str | None = None
    vapi: VapiConfig = VapiConfig()

    @property
    def memo(self) -> Memo:
        """What domain.working_time works out once per (resource, local day), kept with this Schedule, so per
        configuration version (the store caches one Schedule per version; `replace` makes a new one). Not a
        field: equality, `asdict` and `replace` never see it."""
        memo = self.__dict__.get("_memo")
        if memo is None:  # two threads may both make one; either will do
            memo = self.__dict__["_memo"] = Memo()
        return memo

    def service_named(self, name: str | None) -> Service:
        if name is None:
            return self.services[0]
        wanted = _fold(name)
        for s in self.services:
            if _fold(s.name) == wanted:
                return s
        raise Refused("unknown_service", asked=name, offered=tuple(s.name for s in self.services))

    def resource_named(self, name: str) -> Resource:
        wanted = _fold(name)
        for r in self.resources:
            if _fold(r.name) == wanted:
                return r
        raise Refused("unknown_resource", asked=name, known=tuple(r.name for r in self.resources))

    def resource(self, resource_id: int) -> Resource | None:
        for r in self.resources:
            if r.id == resource_id:
                return r
        return None

    def service(self, service_id: int) -> Service | None:
        for s in self.services:
            if s.id == service_id:
                return s
        return None

    def resources_for(self, service: Service, resource_name: str | None) -> tuple[Resource, ...]:
        """The resources that can give `service`, in configuration order; one if a name was given."""
        if resource_name is not None:
            r = self.resource_named(resource_name)
            if service.id not in r.service_ids:
                raise Refused("resource_does_not_offer_service", resource=r.name, service=service.name)
            return (r,)
        found = tuple(r for r in self.resources if service.id in r.service_ids)
        if not found:
            raise Refused("no_availability", nobody_offers=service.name)
        return found

    def is_closed(self, day: date, resource_id: int) -> bool:
        return any(c.day == day and c.resource_id in (None, resource_id) for c in self.closures)

    def today(self, now: datetime) -> date:
        return now.astimezone(self.tz).date()

    def last_bookable_day(self, now: datetime) -> date:
        return self.today(now) + timedelta(days=self.booking_horizon_days)


@dataclass(frozen=True)
class Opening:
    start: datetime
    end: datetime
    resource: Resource
    service: Service


@dataclass(frozen=True)
class Booking:
    """A row of the slot store: a hold (status 'held') or an appointment (status 'booked')."""

    id: int
    resource_id: int
    service_id: int
    status: str
    starts_at: datetime
    ends_at: datetime
    call_id: str | None
    hold_expires_at: datetime | None = None
    customer_name: str | None = None
    phone: str | None = None
    notes: str | None = None

    def hold_is_live(self, now: datetime) -> bool:
        """A hold blocks its time until `hold_expires_at`, whether or not anything has marked it expired yet
        (the store's SQL spells the same rule once, in store/bookings.py)."""
        return self.status == "held" and self.hold_expires_at is not None and self.hold_expires_at > now

    def snapshot(self) -> dict[str, Any]:
        """What the audit trail records of this row (phone masked)."""
        return {
            "id": self.id,
            "status": self.status,
            "resource_id": self.resource_id,
            "service_id": self.service_id,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "hold_expires_at": self.hold_expires_at.isoformat() if self.hold_expires_at else None,
            "phone": mask_phone(self.phone),
        }


@dataclass(frozen=True)
class HoldAttempt:
    """What holding a time for a call came to: the call had ended (and nothing was done), or the hold, None
    when the time was taken."""

    call_ended: bool
    hold: Booking | None = None


@dataclass(frozen=True)
class OutboxEntry:
    """A job written in a transaction, published to the queue after that transaction commits."""

    id: int
    queue: str
    actor: str
    args: list[Any]
    eta: datetime | None = None


@dataclass(frozen=True)
class TenantSms:
    """What sending a text for a tenant needs."""

    tenant_id: int
    slug: str
    name: str
    tz: ZoneInfo
    from_number: str | None = None
    messaging_service_sid: str | None = None
    account_sid: str | None = None
    auth_token_env: str | None = None


@dataclass(frozen=True)
class SmsJob:
    """A claimed sms_messages row, ready to send."""

    id: int
    tenant_id: int
    kind: str
    to_phone: str
    body: str | None
    created_at: datetime
    attempts: int


@dataclass(frozen=True)
class OtpChallenge:
    id: int
    call_id: str
    phone: str
    status: str
    code_hash: str | None
    salt: str | None
    attempts: int
    created_at: datetime
    expires_at: datetime | None


class Refused(Exception):
    """A use case declines: a stable machine `code` (listed in the README) and the facts behind it, never a
    sentence. Raised anywhere in a use case: the runner undoes what the tool did and stores the answer that
    `domain.wording.presenter` words from the code and the facts, e.g.
    `Refused("slot_taken", start=..., tz=..., alternatives=(Opening, ...))`.
    """

    def __init__(self, code: str, **facts: Any) -> None:
        super().__init__(code)
        self.code = code
        self.facts = facts

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, **{self.facts!r})"


class InvalidArguments(Refused):
    """An argument rejected at the edge: which `field`, what was `expected` (text, integer, identifier,
    otp_code, object) and the `problem` (missing, wrong_type, too_long, not_json, ...). The answer names the
    field, so the assistant knows which argument to fix."""

    def __init__(self, expected: str, problem: str, *, field: str | None = None, value: object = None,
                 hint: str | None = None) -> None:
        super().__init__("invalid_arguments", expected=expected, problem=problem, field=field, value=value,
                         hint=hint)
        self.expected = expected
        self.problem = problem
        self.field = field
        self.value = value
        #: what the argument should be, as its tool declares it ("a date and time like 2026-03-12T14:30")
        self.hint = hint


class Unreadable(InvalidArguments):
    """A value a use case could not read as what it should be (a date, a date and time, a phone number, a
    code). The argument's name is only said, not given as a field (as the answers always were)."""


@dataclass
class ToolContext:
    """Who is asking: the tenant (from the credential), the call and the tool call (from the envelope)."""

    tenant_id: int
    call_id: str | None
    tool_call_id: str | None
    caller_phone: str | None  # E.164 caller ID, None for web calls or withheld numbers
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


def mask_phone(phone: str | None) -> str | None:
    """'+15551234321' -> '***4321'. Phone numbers never reach logs or audit rows in full."""
    if not phone:
        return None
    return "***" + phone[-4:]


def _fold(s: str) -> str:
    return " ".join(s.replace(".", " ").split()).casefold()
