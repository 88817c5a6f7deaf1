"""Tenants are configuration files: a clinic's TOML, declared as pydantic models and read into a TenantSpec.

Every problem names the field it is about (`resources[0].hours.mon[1]`), and all problems are reported
together, so a file is fixed in one pass and nothing is ever half-applied.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WrapValidator,
    field_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from .model import WEEKDAYS, VapiConfig
from .otp import OtpPolicy
from .tool_names import ALL_TOOLS

#: defaults for optional [tenant] settings
DEFAULT_HOLD_MINUTES = 10
DEFAULT_SLOT_MINUTES = 15
DEFAULT_HORIZON_DAYS = 60
DEFAULT_MIN_NOTICE_MINUTES = 60
DEFAULT_COUNTRY = "US"
#: a webhook secret shorter than this is refused: it is the clinic's only credential
MIN_SECRET_LENGTH = 16

_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
_COUNTRY_RE = re.compile(r"[A-Z]{2}")
_E164_RE = re.compile(r"\+[1-9]\d{6,14}")
_HOURS_RE = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")
_SHORT_SECRET = (f"must be at least {MIN_SECRET_LENGTH} characters; generate one with "
                 "python3 -c 'import secrets; print(secrets.token_urlsafe(24))'")


class TenantConfigError(Exception):
    """A tenant file that cannot be applied; `problems` lists every field at fault."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))

    def __str__(self) -> str:
        lines = [f"{self.source} cannot be applied:"] + [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


# ---- the rules a value must follow ----------------------------------------------------------------------


@dataclass
class _Reading:
    """What the validators of one file share: the environment that secrets are read from, and the names of
    the [[services]] and [[resources]] read so far. Pydantic validates fields in their declared order
    (services, resources, closures), so a later table can refer to them and a name listed twice is caught."""

    environ: Mapping[str, str]
    names: dict[str, set[str]] = field(default_factory=lambda: {"services": set(), "resources": set()})


def _reading(info: ValidationInfo) -> _Reading | None:
    return info.context if isinstance(info.context, _Reading) else None


def _problem(message: str) -> PydanticCustomError:
    """A problem reported as it is written (a validator's own words, not pydantic's)."""
    return PydanticCustomError("tenant_file", message)


def _rule(ok: Callable[[Any], object], message: str) -> AfterValidator:
    """Refuses, with `message`, a value that `ok` says no to."""

    def check(value: Any) -> Any:
        if not ok(value):
            raise _problem(message)
        return value

    return AfterValidator(check)


def _iana_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "America" is a directory of zones
        raise _problem(f"{name!r} is not an IANA time zone such as \"America/New_York\"") from None
    return name


def _env_is_set(name: str, info: ValidationInfo) -> str:
    reading = _reading(info)
    if not (reading and reading.environ.get(name)):
        raise _problem(f"the environment variable {name} is not set")
    return name


def _listed_once(kind: str) -> AfterValidator:
    """The name of a [[services]] or [[resources]] entry: unique (ignoring case) among its kind."""

    def check(name: str, info: ValidationInfo) -> str:
        if (reading := _reading(info)) is not None:
            if name.casefold() in reading.names[kind]:
                raise _problem(f"{name!r} is listed twice")
            reading.names[kind].add(name.casefold())
        return name

    return AfterValidator(check)


def _one_of(kind: str) -> AfterValidator:
    """A reference to a [[services]] or [[resources]] entry by its name (ignoring case)."""

    def check(name: str, info: ValidationInfo) -> str:
        if (reading := _reading(info)) is not None and name.casefold() not in reading.names[kind]:
            raise _problem(f"{name!r} is not one of the [[{kind}]]")
        return name

    return AfterValidator(check)


def _weekday(day: Any) -> int:
    """"mon" -> 0 ... "sun" -> 6: the file names days, the spec numbers them as date.weekday() does."""
    if isinstance(day, str) and day in WEEKDAYS:
        return WEEKDAYS.index(day)
    raise _problem(f"unknown day; use {', '.join(WEEKDAYS)}")


def _time_range(text: Any) -> tuple[time, time]:
    """"09:00-17:00" -> (09:00, 17:00)."""
    m = _HOURS_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if not m:
        raise _problem(f"{text!r} should look like \"09:00-17:00\"")
    h1, m1, h2, m2 = map(int, m.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise _problem(f"{text!r} is not a valid time range (use 00:00-23:59)")
    opens, closes = time(h1, m1), time(h2, m2)
    if closes <= opens:
        raise _problem(f"{text!r} ends before it starts")
    return opens, closes


def _day_hours(ranges: Any, handler: Callable[[Any], tuple[Any, ...]]) -> tuple[Any, ...]:
    """A day's time ranges, sorted. Each is checked, and those that are right must not overlap: an overlap
    is reported even when another range of the day is wrong, so the day is fixed in one pass."""
    if not isinstance(ranges, list | tuple):
        raise _problem('must be a list like ["09:00-12:00", "13:00-17:00"]')
    try:
        parsed, wrong = sorted(handler(ranges)), None
    except ValidationError as e:
        parsed, wrong = sorted(r for r in map(_right_or_none, ranges) if r), e
    problems = [] if wrong is None else [
        InitErrorDetails(type=PydanticCustomError(d["type"], d["msg"]), loc=d["loc"], input=d["input"])
        for d in wrong.errors(include_url=False)
    ]
    if any(later[0] < earlier[1] for earlier, later in zip(parsed, parsed[1:])):
        problems.append(InitErrorDetails(type=_problem("time ranges overlap"), input=ranges))
    if problems:
        raise ValidationError.from_exception_data("hours", problems)
    return tuple(parsed)


def _right_or_none(text: Any) -> tuple[time, time] | None:
    try:
        return _time_range(text)
    except PydanticCustomError:
        return None


def _iso_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):  # TOML's own 2026-12-25
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _problem(f"{value!r} is not a date like \"2026-12-25\"")


#: text, as every name and setting in the file: trimmed, not empty, at most 200 characters
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
#: a number as TOML writes it: 10, not 10.0, "10" or true
Whole = Annotated[int, Strict()]
Slug = Annotated[Text, _rule(_SLUG_RE.fullmatch, 'use 2-63 lowercase letters, digits and dashes, e.g. "bright-smile"')]
Country = Annotated[Text, _rule(_COUNTRY_RE.fullmatch, 'use a two-letter country code such as "US" or "GB"')]
SlotMinutes = Annotated[Whole, _rule(lambda m: 60 % m == 0, "must divide an hour evenly: 5, 10, 15, 20, 30 or 60")]
Secret = Annotated[Text, _rule(lambda s: len(s) >= MIN_SECRET_LENGTH, f"the secret {_SHORT_SECRET}")]
EnvName = Annotated[Text, AfterValidator(_env_is_set)]
#: the name of an environment variable that need not be set where the file is applied (only where it is used)
EnvVarName = Annotated[Text, _rule(re.compile(r"[A-Za-z_][A-Za-z0-9_]*").fullmatch,
                                   "must be the name of an environment variable, such as BRIGHT_SMILE_VAPI_KEY")]
ToolName = Annotated[Text, _rule(ALL_TOOLS.__contains__, "is not a tool; the tools are " + ", ".join(ALL_TOOLS))]
E164 = Annotated[Text, _rule(_E164_RE.fullmatch, 'must be an E.164 number such as "+15557010100"')]
MessagingServiceSid = Annotated[Text, _rule(lambda s: s.startswith("MG"), "a Messaging Service SID starts with MG")]
AccountSid = Annotated[Text, _rule(lambda s: s.startswith("AC"), "an Account SID starts with AC")]
Weekday = Annotated[int, BeforeValidator(_weekday)]
TimeRange = Annotated[tuple[time, time], BeforeValidator(_time_range)]
DayHours = Annotated[tuple[TimeRange, ...], WrapValidator(_day_hours)]

_GIVEN_WITH_A_PROBLEM = object()  # a field that failed its own check is missing from info.data, but was given


# ---- the file, table by table --------------------------------------------------------------------------


class _Table(BaseModel):
    """A TOML table: a key it does not declare is refused (a misspelt key is a mistake, never ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceSpec(_Table):
    """A [[services]] entry: something a caller can book, and how long it takes."""

    name: Annotated[Text, _listed_once("services")]
    minutes: Whole = Field(ge=5, le=8 * 60)


class ResourceSpec(_Table):
    """A [[resources]] entry: a provider, chair or room, the services it gives, and its weekly hours."""

    name: Annotated[Text, _listed_once("resources")]
    services: Annotated[tuple[Annotated[Text, _one_of("services")], ...],
                        _rule(len, "must list at least one of the [[services]]")]
    #: weekday (0 = Monday) -> local opening hours; the file writes { mon = ["09:00-12:00", "13:00-17:00"] }
    hours: Annotated[dict[Weekday, DayHours], _rule(len, 'must give opening hours, e.g. { mon = ["09:00-17:00"] }')]


class ClosureSpec(_Table):
    """A [[closures]] entry: a day the clinic (or only `resource`) is closed."""

    day: Annotated[date, BeforeValidator(_iso_date)] = Field(alias="date")
    resource: Annotated[Text, _one_of("resources")] | None = None
    reason: str = ""


class SmsSpec(_Table):
    """[sms], optional: how this clinic's texts are sent; anything unset falls back to the TWILIO_* settings."""

    from_number: E164 | None = None
    messaging_service_sid: MessagingServiceSid | None = None
    #: this clinic's own Twilio account: the name of the environment variable holding its auth token...
    auth_token_env: EnvName | None = None
    #: ... and its Account SID, given together
    account_sid: AccountSid | None = Field(None, validate_default=True)

    @field_validator("account_sid")
    @classmethod
    def _given_with_its_token(cls, sid: str | None, info: ValidationInfo) -> str | None:
        token_given = info.data.get("auth_token_env", _GIVEN_WITH_A_PROBLEM) is not None
        if (sid is not None) != token_given:
            raise _problem("give account_sid and auth_token_env together")
        return sid


class _Otp(_Table):
    """[otp], optional: the one-time-code policy (read into an OtpPolicy, whose defaults are these)."""

    code_ttl_seconds: Whole = Field(OtpPolicy.code_ttl_seconds, ge=60, le=1800)
    max_attempts: Whole = Field(OtpPolicy.max_attempts, ge=1, le=10)
    max_sends: Whole = Field(OtpPolicy.max_sends, ge=1, le=20)
    send_window_seconds: Whole = Field(OtpPolicy.send_window_seconds, ge=60, le=86400)
    resend_cooldown_seconds: Whole = Field(OtpPolicy.resend_cooldown_seconds, ge=0, le=600)


class _Vapi(_Table):
    """[vapi], optional: how this clinic's Vapi assistants are configured (`frontdesk vapi sync`) and how Vapi
    may authenticate to us besides the webhook secret (a signed request, with Vapi's HMAC credential)."""

    api_key_env: EnvVarName | None = None
    phone_numbers: tuple[Text, ...] = ()
    credential_id: Text | None = None
    tools: tuple[ToolName, ...] | None = None
    hmac_secret_env: EnvName | None = None
    hmac_algorithm: Literal["sha256", "sha512", "sha1"] = "sha256"
    hmac_encoding: Literal["hex", "base64"] = "hex"
    hmac_signature_header: Text = "x-signature"
    hmac_timestamp_header: Text = "x-timestamp"
    hmac_signature_prefix: str = ""

    @field_validator("phone_numbers")
    @classmethod
    def _numbers_or_ids(cls, numbers: tuple[str, ...]) -> tuple[str, ...]:
        """A number is kept as E.164 ("+1 555 701 0100" -> "+15557010100"); anything else is a Vapi id."""
        out = []
        for n in numbers:
            if n.startswith("+"):
                try:
                    parsed = phonenumbers.parse(n, None)
                except phonenumbers.NumberParseException:
                    raise _problem(f"{n!r} is not a phone number in E.164 form, such as \"+15557010100\"") from None
                n = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            out.append(n)
        if len(set(out)) != len(out):
            raise _problem("lists a number twice")
        return tuple(out)


class _Tenant(_Table):
    """[tenant]: the clinic itself."""

    slug: Slug
    name: Text
    timezone: Annotated[Text, AfterValidator(_iana_zone)]
    country: Country = DEFAULT_COUNTRY
    #: the clinic's own number, for patients to call; read in `country`, kept as E.164
    phone: Text | None = None
    assistant_ids: tuple[Text, ...] = ()
    webhook_secret_env: EnvName | None = None
    webhook_secret: Secret | None = Field(None, repr=False, validate_default=True)
    hold_minutes: Whole = Field(DEFAULT_HOLD_MINUTES, ge=1, le=60)
    slot_minutes: SlotMinutes = Field(DEFAULT_SLOT_MINUTES, ge=5, le=60)
    require_otp: StrictBool = False
    booking_horizon_days: Whole = Field(DEFAULT_HORIZON_DAYS, ge=1, le=366)
    min_notice_minutes: Whole = Field(DEFAULT_MIN_NOTICE_MINUTES, ge=0, le=60 * 24 * 14)

    @field_validator("phone")
    @classmethod
    def _e164(cls, phone: str | None, info: ValidationInfo) -> str | None:
        """"(555) 701-0100" in "US" -> "+15557010100". A number without its area code is refused."""
        if phone is None or "country" not in info.data:  # a wrong country is reported on its own
            return phone
        try:
            number = phonenumbers.parse(phone, info.data["country"])
        except phonenumbers.NumberParseException:
            number = None
        if number is None or (phonenumbers.is_possible_number_with_reason(number)
                              != phonenumbers.ValidationResult.IS_POSSIBLE):
            raise _problem(f"{phone!r} is not a phone number; give the clinic's number with its area code")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    @field_validator("webhook_secret_env")
    @classmethod
    def _long_enough(cls, name: str | None, info: ValidationInfo) -> str | None:
        reading = _reading(info)
        if name is not None and reading is not None and len(reading.environ[name]) < MIN_SECRET_LENGTH:
            raise _problem(f"the secret in {name} {_SHORT_SECRET}")
        return name

    @field_validator("webhook_secret")
    @classmethod
    def _exactly_one(cls, secret: str | None, info: ValidationInfo) -> str | None:
        env_given = info.data.get("webhook_secret_env", _GIVEN_WITH_A_PROBLEM) is not None
        if (secret is not None) == env_given:
            raise _problem("give exactly one of webhook_secret or webhook_secret_env")
        return secret


class _TenantFile(_Table):
    """A whole tenant file."""

    tenant: _Tenant
    # (not Field(min_length=1): pydantic counts only the entries that are right, so one wrong entry would
    # also read as "no entries")
    services: Annotated[tuple[ServiceSpec, ...], _rule(len, "at least one [[services]] entry is required")]
    resources: Annotated[tuple[ResourceSpec, ...], _rule(len, "at least one [[resources]] entry is required")]
    closures: tuple[ClosureSpec, ...] = ()
    sms: SmsSpec = SmsSpec()
    otp: _Otp = _Otp()
    vapi: _Vapi = _Vapi()


# ---- what is applied -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TenantSpec:
    """A tenant file, checked, as SqlStore.apply_tenant stores it: the [tenant] settings, the other tables,
    and the webhook secret itself (from the file, or from the environment variable `secret_env`)."""

    slug: str
    name: str
    timezone: str
    country: str
    phone: str | None
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
    vapi: VapiConfig = VapiConfig()

    @classmethod
    def _of(cls, file: _TenantFile, environ: Mapping[str, str]) -> TenantSpec:
        settings = dict(file.tenant)  # the [tenant] fields, by name
        secret, secret_env = settings.pop("webhook_secret"), settings.pop("webhook_secret_env")
        return cls(**settings, secret=secret or environ[secret_env], secret_env=secret_env,
                   services=file.services, resources=file.resources, closures=file.closures, sms=file.sms,
                   otp=OtpPolicy(**dict(file.otp)), vapi=VapiConfig(**dict(file.vapi)))

    def fingerprint(self, secret_hash: str) -> str:
        """A digest of everything applied, so re-applying an unchanged file is a no-op."""
        data = _AS_JSON.dump_python(self, mode="json") | {"secret": secret_hash}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


_AS_JSON = TypeAdapter(TenantSpec)


def load_tenant_file(path: str | Path, environ: Mapping[str, str] | None = None) -> TenantSpec:
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


def parse_tenant(data: dict[str, Any], source: str, environ: Mapping[str, str]) -> TenantSpec:
    try:
        file = _TenantFile.model_validate(data, context=_Reading(environ))
    except ValidationError as e:
        raise TenantConfigError(source, [f"{_path(d['loc'])}: {_message(d)}"
                                         for d in e.errors(include_url=False)]) from None
    return TenantSpec._of(file, environ)


# ---- pydantic's errors in the file's words ---------------------------------------------------------------

#: what a whole part of the file should be, said instead of pydantic's "Field required" or "Input should be..."
_SECTIONS = {
    "tenant": "the [tenant] table is required",
    "services": "at least one [[services]] entry is required",
    "resources": "at least one [[resources]] entry is required",
    "closures": 'must be [[closures]] entries with a date = "YYYY-MM-DD"',
    "sms": "must be a table: [sms]",
    "otp": "must be a table: [otp]",
    "vapi": "must be a table: [vapi]",
}
_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "unknown field",
    "literal_error": "must be one of {expected}",
    "string_type": "must be text",
    "string_too_short": "must be non-empty text",
    "string_too_long": "is longer than {max_length} characters",
    "int_type": "must be a whole number",
    "bool_type": "must be true or false",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "tuple_type": "must be a list",
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "date_type": "must be a date",
}


def _path(loc: tuple[str | int, ...]) -> str:
    """('resources', 0, 'hours', 'mon', 1) -> 'resources[0].hours.mon[1]'."""
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for "the key itself, not its value"
            continue
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out or "the file"


def _message(error: Any) -> str:
    kind, loc = error["type"], error["loc"]
    if kind == "tenant_file":
        return str(error["msg"])
    if len(loc) == 1:
        return _SECTIONS.get(str(loc[0]), "unknown section")
    template = _MESSAGES.get(kind)
    return template.format(**error.get("ctx", {})) if template else error["msg"]
