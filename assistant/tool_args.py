"""Each tool's arguments, declared once as a pydantic model.

A model says, per argument: its type and bounds (checked here, at the edge), a `description` for the voice
model (what to pass and in which form; exported as the tool's JSON Schema for Vapi), and a `Say` hint: how
the argument is named to the caller when it is missing or wrong. Validation errors become
`InvalidArguments` naming the field, the problem and that hint; domain.wording.presenter words it.

Blank strings and nulls count as missing; strings are stripped; unknown keys are ignored (Vapi merges static
parameters such as `_call_id` into the arguments). Each model turns into the domain's command dataclass
of the same field names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import PydanticCustomError, core_schema

from domain import commands as c
from domain.model import InvalidArguments

#: longest free text accepted in any argument; a 10 KB "name" is a bug or an attack, not a name
MAX_TEXT = 200
#: longest note or cancellation reason
MAX_NOTES = 1000
#: most openings check_availability returns; a larger limit is read as this one
MAX_LIMIT = 10
#: longest spoken code accepted ("one two three four five six" and some slack)
MAX_CODE = 100


@dataclass(frozen=True)
class Say:
    """How an argument is named to the caller when it is missing or wrong: `hint` completes "I need the
    start: ...", "The start should be ..." (domain.wording.presenter holds those sentences); `kind` is what
    the presenter words it as (text, integer, identifier, otp_code). Not part of the JSON Schema."""

    hint: str
    kind: str = "text"


def _no_booleans(value: Any) -> Any:
    # pydantic reads true/false as 1/0 in lax mode; a boolean is never a count, an id or a code here
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "a boolean is not a number")
    return value


def _appointment_number(value: Any) -> Any:
    # callers read ids off a text as "#1042"
    return value.strip().lstrip("#") if isinstance(value, str) else value


def _lowercase(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_TEXT)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_NOTES)]

# ---- the arguments, each declared once: type, bounds, description for the model, hint for the caller ----
# A model writes an optional one as `Kind | None = None` (null never reaches validation: it means missing);
# the kind's description and hint then sit inside that union, where `say_of` and `_InlineSchema` find them.

Day = Annotated[Text, Say("a date like 2026-03-12, today, tomorrow or a weekday"), Field(
    description='The day to search, as the caller said it when that is "today", "tomorrow" or a weekday '
                '("Tuesday", "next Tuesday"); any other day as YYYY-MM-DD. Leave out to search from today on.',
    examples=["tomorrow", "next Tuesday", "2026-03-12"])]
After = Annotated[Text, Say("a date and time like 2026-03-12T14:30"), Field(
    description="Only openings starting at or after this time: the clinic's local time like 2026-03-12T14:30 "
                "(or an ISO time with an offset).",
    examples=["2026-03-12T14:30"])]
Before = Annotated[Text, Say("a date and time like 2026-03-12T17:00"), Field(
    description="Only openings starting before this time: the clinic's local time like 2026-03-12T17:00 "
                "(or an ISO time with an offset).",
    examples=["2026-03-12T17:00"])]
Start = Annotated[Text, Say("a date and time like 2026-03-12T14:30"), Field(
    description="The opening's `start` exactly as check_availability returned it, or the clinic's local time "
                "like 2026-03-12T14:30.",
    examples=["2026-03-12T14:30:00-04:00", "2026-03-12T14:30"])]
Service = Annotated[Text, Say("the name of a service, such as Cleaning"), Field(
    description="The service the caller wants, by the clinic's name for it, such as Cleaning. Leave out if "
                "they did not say.",
    examples=["Cleaning"])]
Resource = Annotated[Text, Say("the name of a provider"), Field(
    description="The provider the caller asked for, by name, such as Dr Lee. Leave out to allow anyone.",
    examples=["Dr Lee"])]
PartOfDay = Annotated[Literal["morning", "afternoon", "evening"], BeforeValidator(_lowercase),
                      Say("morning, afternoon or evening"),
                      Field(description="The part of the day the caller prefers, if they said one.")]
# bounds go right after the type, before any validator wraps it, to stay JSON Schema (`minimum`, not `ge`)
Limit = Annotated[int, Field(ge=1), BeforeValidator(_no_booleans), AfterValidator(lambda n: min(n, MAX_LIMIT)),
                  Say(f"a number from 1 to {MAX_LIMIT}", kind="integer"),
                  Field(description=f"How many openings to return, from 1 to {MAX_LIMIT}.",
                        json_schema_extra={"maximum": MAX_LIMIT})]
Name = Annotated[Text, Say("the caller's full name"), Field(
    description="The caller's full name, as they gave it.", examples=["Ana Lopez"])]
Phone = Annotated[Text, Say("a phone number with area code"), Field(
    description="A phone number with area code, only if the caller gives one; leave out to use the number "
                "they are calling from.",
    examples=["(212) 555-0188"])]
Notes = Annotated[LongText, Say("a short note"), Field(
    description="Anything the clinic should know, in a sentence or two, if the caller mentioned something.")]
Reason = Annotated[LongText, Say("a short reason"), Field(
    description="Why the caller is cancelling, in a few words, if they said.")]
AppointmentId = Annotated[
    int, Field(gt=0, lt=2**63), BeforeValidator(_no_booleans), BeforeValidator(_appointment_number),
    Say("the appointment number", kind="identifier"),
    # (no tool named: the tools that return one differ from clinic to clinic)
    Field(description="The appointment's number (`appointment_id`) as a booking or a lookup returned it, or as "
                      'the caller read it from their text ("1042" or "#1042").',
          examples=[1042])]
Code = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_CODE)] | StrictInt,
    # the model is asked for text: a number would lose a leading zero (int codes are still accepted)
    WithJsonSchema({"type": "string", "maxLength": MAX_CODE}),
    Say("the six digits of the code", kind="otp_code"),
    Field(description='The code exactly as the caller read it back, as text: "123456", "1 2 3 4 5 6" or '
                      '"one two three four five six".',
          examples=["123456"])]


# ---- the models --------------------------------------------------------------------------------------------


class ToolArgs(BaseModel):
    """The arguments of one tool; subclasses name the domain command they become."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    command: ClassVar[type]

    @model_validator(mode="before")
    @classmethod
    def _blank_is_missing(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {k: v for k, v in data.items() if v is not None and not (isinstance(v, str) and not v.strip())}

    @classmethod
    def parse(cls, arguments: dict[str, Any]) -> Any:
        """The command for these arguments, or `InvalidArguments` naming the first field that is wrong."""
        try:
            args = cls.model_validate(arguments)
        except ValidationError as e:
            raise _invalid(cls, e) from None
        # the fields by name (extra keys are ignored, so there are none); dict(args) would go through
        # pydantic's __iter__, which cost more than the validation itself
        return cls.command(**args.__dict__)


def _invalid(model: type[ToolArgs], error: ValidationError) -> InvalidArguments:
    errors = error.errors(include_url=False, include_input=False)
    field = str(errors[0]["loc"][0])
    kinds = {e["type"] for e in errors if e["loc"][:1] == (field,)}
    problem = "missing" if "missing" in kinds else "too_long" if "string_too_long" in kinds else "wrong_type"
    say = say_of(model, field)
    return InvalidArguments(say.kind, problem, field=field, hint=say.hint)


def say_of(model: type[ToolArgs], field: str) -> Say:
    """The caller-facing hint declared on one field (inside `Kind | None` for an optional one)."""
    info = model.model_fields[field]
    inner = [get_args(a)[1:] for a in get_args(info.annotation) if get_origin(a) is Annotated]
    return next(m for m in [*info.metadata, *(m for meta in inner for m in meta)] if isinstance(m, Say))


class CheckAvailabilityArgs(ToolArgs):
    """Find open appointment times. Call it before you offer any time, and offer only the times it returns.
    Pass the caller's own words for the day ("tomorrow", "next Tuesday") in `date`: it resolves them in the
    clinic's time zone, so never work a date out yourself. Returns `openings` (each with `start`, `resource`,
    `service` and a `say` ready to speak) and a `say` that offers at most three of them: say it as it is.
    When the caller picks one, pass its `start` unchanged to the tool that holds it. If `ok` is false, say its
    `say`: no_availability names the next open day."""

    command = c.CheckAvailability

    date: Day | None = None
    after: After | None = None
    before: Before | None = None
    service: Service | None = None
    resource: Resource | None = None
    part_of_day: PartOfDay | None = None
    limit: Limit = 3


class ReserveSlotArgs(ToolArgs):
    """Hold one opening for this call, for the clinic's hold time, so nobody else takes it while you take the
    caller's name. Call it only after reading the date, time and provider back and hearing a yes. Pass the
    opening's `start` unchanged. Returns `ok`, `hold_id`, `expires_at` and a `say` to speak; it is not a
    booking yet: book_appointment books it. If the time was just taken (slot_taken), say its `say`, which
    offers the nearest free times (`alternatives`), and offer only those."""

    command = c.ReserveSlot

    start: Start
    service: Service | None = None
    resource: Resource | None = None


class ReleaseSlotArgs(ToolArgs):
    """Let go of the time held for this call, when the caller no longer wants it or picks another day. Takes
    no arguments; holding another time replaces the hold anyway. Returns `released` and a `say`."""

    command = c.ReleaseSlot


class BookAppointmentArgs(ToolArgs):
    """Book the time held for this call (hold it first) in the caller's name. Call it only after reading back
    the name, service, date, time and provider and hearing a yes. The phone is the number they call from
    unless they give another. Returns `appointment_id`, `start` and a `say` that confirms the booking and the
    text that follows: say it; only now is the caller booked. If `ok` is false (hold_expired, no_active_hold,
    phone_required, otp_required), say its `say` and do what it asks."""

    command = c.BookAppointment

    name: Name
    phone: Phone | None = None
    notes: Notes | None = None


class LookupAppointmentsArgs(ToolArgs):
    """List the caller's upcoming appointments, found by the number they call from (or `phone` when there is
    no caller ID). Returns `appointments`, each with its `appointment_id`, `start`, `service`, `resource` and a
    `say`, and a `say` listing them: say it. Use an appointment's `appointment_id` to cancel or move it."""

    command = c.LookupAppointments

    phone: Phone | None = None


class CancelAppointmentArgs(ToolArgs):
    """Cancel one of the caller's own upcoming appointments (only theirs: found by the number they call from).
    Read the appointment back (date, time, provider) and hear a yes first. Returns `cancelled` and a `say`:
    say it; only then is it cancelled. not_found means it is not theirs or not upcoming."""

    command = c.CancelAppointment

    appointment_id: AppointmentId
    reason: Reason | None = None
    phone: Annotated[Phone | None, Field(
        description="The phone number the appointment was booked with, only on a call without caller ID.")] = None


class RescheduleAppointmentArgs(ToolArgs):
    """Move one of the caller's own appointments to a new time, found first with check_availability: the new
    time is taken and the old one freed in one step, or nothing changes. Read the new date, time and provider
    back and hear a yes first. Returns `rescheduled`, `previous_start` and a `say`: say it. On slot_taken the
    appointment stays where it was; its `say` offers the nearest free times."""

    command = c.RescheduleAppointment

    appointment_id: AppointmentId
    start: Annotated[Start, Field(
        description="The new time: an opening's `start` exactly as check_availability returned it, or the "
                    "clinic's local time like 2026-03-12T14:30.")]
    resource: Annotated[Resource | None, Field(
        description="Another provider, by name, only if the caller asks to change provider.")] = None
    phone: Annotated[Phone | None, Field(
        description="The phone number the appointment was booked with, only on a call without caller ID.")] = None


class ReserveAtomicArgs(ToolArgs):
    """Hold an opening for this call and text the caller a six-digit code, in one step. Call it after reading
    the date, time and provider back and hearing a yes; pass the opening's `start` unchanged and the caller's
    full name, so the code alone completes the booking. Returns `hold_id`, `expires_at`, `code_sent_to` and a
    `say` asking for the code: say it, then pass what they read to verify_otp, which books the time."""

    command = c.ReserveAtomic

    start: Start
    service: Service | None = None
    resource: Resource | None = None
    name: Annotated[Name | None, Field(
        description="The caller's full name, if you have it, so that verify_otp can book at once.")] = None
    phone: Annotated[Phone | None, Field(
        description="The number to text the code to, only if the caller gives one; leave out to use the "
                    "number they are calling from.")] = None


class SendOtpArgs(ToolArgs):
    """Text the caller a six-digit code that proves the phone number is theirs, when a tool answered
    otp_required or a code expired. Returns `code_sent_to` ("ending in 4321") and a `say` asking for the code:
    say it, then pass what they read back to verify_otp. otp_cooldown and otp_rate_limited mean wait."""

    command = c.SendOtp

    phone: Annotated[Phone | None, Field(
        description="The number to text the code to, only if the caller gives one; leave out to use the "
                    "number they are calling from.")] = None


class VerifyOtpArgs(ToolArgs):
    """Check the code the caller read back from their text. Pass it as text exactly as they said it; never
    guess or complete it. Returns `verified`; with a held time and a known name it also books (then it has
    `appointment_id`, `start` and a `say` confirming the booking). Say its `say`. otp_invalid tells the tries
    left; otp_expired and otp_locked mean this code can no longer be used."""

    command = c.VerifyOtp

    code: Code


class SendConfirmationArgs(ToolArgs):
    """Text the confirmation of an upcoming appointment again, only when the caller asks for it (booking,
    moving and cancelling already text one). Returns a `say` naming the number it goes to: say it."""

    command = c.SendConfirmation

    appointment_id: Annotated[AppointmentId | None, Field(
        description="Which appointment (`appointment_id`, e.g. 1042); leave out for the caller's next one.")] = None
    phone: Annotated[Phone | None, Field(
        description="The phone number the appointment was booked with, only on a call without caller ID.")] = None


# ---- JSON Schema for Vapi's `function.parameters` -------------------------------------------------------------


class _InlineSchema(GenerateJsonSchema):
    """Plain, inline JSON Schema: no titles, and an optional argument is just left out (null is never needed)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def nullable_schema(self, schema: core_schema.NullableSchema) -> dict[str, Any]:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> dict[str, Any]:
        json_schema = super().default_schema(schema)
        if json_schema.get("default", ...) is None:
            del json_schema["default"]
        return json_schema


def parameters_schema(model: type[ToolArgs]) -> dict[str, Any]:
    """One tool's arguments as the JSON Schema object Vapi takes as `function.parameters`."""
    schema = model.model_json_schema(schema_generator=_InlineSchema)
    schema.pop("title", None)
    return {"type": "object", "description": " ".join(schema["description"].split()), "properties": schema.get("properties", {}),
            "required": schema.get("required", [])}


#: each tool's argument model, by the tool's name (domain.tool_names.ALL_TOOLS order; a test keeps them equal)
ARGUMENTS: dict[str, type[ToolArgs]] = {
    "check_availability": CheckAvailabilityArgs,
    "reserve_slot": ReserveSlotArgs,
    "release_slot": ReleaseSlotArgs,
    "book_appointment": BookAppointmentArgs,
    "lookup_appointments": LookupAppointmentsArgs,
    "cancel_appointment": CancelAppointmentArgs,
    "reschedule_appointment": RescheduleAppointmentArgs,
    "reserve_atomic": ReserveAtomicArgs,
    "send_otp": SendOtpArgs,
    "verify_otp": VerifyOtpArgs,
    "send_confirmation": SendConfirmationArgs,
}
