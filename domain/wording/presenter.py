"""The tool's answer, in English: a use case's result or refusal -> one line of JSON with "ok", the machine
fields and a `say` sentence the assistant speaks as it is.

Every caller-facing sentence of a tool answer is here (built from `phrases`); the use cases only state what
happened (`domain.results`, `model.Refused`). `answer` is what `services.execute` is given to word and
encode an outcome before storing it; `payload` is the same answer as a dict. The field order of each
answer is part of the bytes a replay returns, so it is kept as it always was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..model import InvalidArguments, Opening, Refused, Unreadable
from ..results import (
    Appointment, AppointmentsFound, Booked, Cancelled, CodeSent, ConfirmationQueued, OpeningsFound, OtpRejected,
    Outcome, Rescheduled, SlotHeld, SlotHeldCodeSent, SlotReleased, Verified,
)
from .phrases import say_day, say_ending, say_local_opening, say_local_openings_each, say_opening, say_time, speak_list

Payload = dict[str, Any]


#: spoken by Vapi (assistant-request) to a caller on a number no clinic has claimed, or whose clinic has no
#: assistant yet
NUMBER_NOT_SET_UP = "Sorry, this number isn't set up yet. Please call back later."
#: spoken by Vapi (assistant-request) when we cannot tell whose number it is (the database is unreachable)
NUMBER_UNAVAILABLE = "Sorry, we can't take your call right now. Please call back in a few minutes."


def answer(outcome: Outcome) -> str:
    """The tool's `result`: compact single-line JSON, as Vapi puts it into the model's context."""
    return encode(payload(outcome))


def encode(data: Payload) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)


def payload(outcome: Outcome) -> Payload:
    if isinstance(outcome, Refused):
        return refusal(outcome)
    return _RESULTS[type(outcome)](outcome)


def say(outcome: Outcome) -> str:
    """Only the sentence (for tests and logs of what the caller heard)."""
    return str(payload(outcome)["say"])


# ---- pieces --------------------------------------------------------------------------------------------


def _iso(dt: datetime, tz: ZoneInfo) -> str:
    return dt.astimezone(tz).isoformat()


def _opening(o: Opening, tz: ZoneInfo, local_start: datetime | None = None, said: str | None = None) -> Payload:
    """An opening's fields; `local_start` is its start already read in `tz` and `said` its words, if the
    caller has them."""
    start = o.start.astimezone(tz) if local_start is None else local_start
    return {
        "start": start.isoformat(), "end": _iso(o.end, tz), "resource": o.resource.name,
        "service": o.service.name, "say": say_local_opening(start, o.resource.name) if said is None else said,
    }


def _appointment(a: Appointment) -> Payload:
    b = a.booking
    r_name = a.resource.name if a.resource else None
    return {
        "appointment_id": str(b.id), "start": _iso(b.starts_at, a.tz), "end": _iso(b.ends_at, a.tz),
        "resource": r_name, "service": a.service.name if a.service else None,
        "say": say_opening(b.starts_at, a.tz, r_name),
    }


def _code_sent_to(phone: str) -> str:
    return f"ending in {phone[-4:]}"


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


# ---- results -------------------------------------------------------------------------------------------


def _openings_found(r: OpeningsFound) -> Payload:
    starts = [o.start.astimezone(r.tz) for o in r.openings]  # each start read in the zone once
    said, each = say_local_openings_each([(start, o.resource.name) for o, start in zip(r.openings, starts)])
    return {
        "ok": True,
        "timezone": str(r.tz),
        "openings": [_opening(o, r.tz, start, words) for o, start, words in zip(r.openings, starts, each)],
        "say": said,
    }


def _slot_held(r: SlotHeld) -> Payload:
    o = r.opening
    return {
        "ok": True, "hold_id": str(r.hold.id), "start": _iso(o.start, r.tz), "end": _iso(o.end, r.tz),
        "resource": o.resource.name, "service": o.service.name, "expires_at": _iso(r.expires_at, r.tz),
        "say": f"I'm holding {say_opening(o.start, r.tz, o.resource.name)} for you for the next "
               f"{r.hold_minutes} minutes.",
    }


def _slot_held_code_sent(r: SlotHeldCodeSent) -> Payload:
    held = _slot_held(r.held)
    return {**held, "code_sent_to": _code_sent_to(r.phone),
            "say": f"{held['say']} I've texted a 6-digit code to {say_ending(r.phone)}; please read it to me."}


def _slot_released(r: SlotReleased) -> Payload:
    if not r.released:
        return {"ok": True, "released": False, "say": "There was no time on hold, so nothing to release."}
    return {"ok": True, "released": True, "say": "Okay, I've let that time go."}


def _code_sent(r: CodeSent) -> Payload:
    return {"ok": True, "code_sent_to": _code_sent_to(r.phone),
            "say": f"I've texted a 6-digit code to {say_ending(r.phone)}. Please read it to me when it arrives."}


_OTP_REJECTED = {
    "no_code": "I haven't sent you a code yet. Shall I send one?",
    "otp_locked": "That code is locked after too many wrong tries. I can send you a new one.",
    "otp_failed": "I couldn't text that number. Is there another number I can use?",
    "otp_expired": "That code has expired. Shall I send you a new one?",
    "otp_not_sent_yet": "The code is still on its way. Please give it a moment.",
}


def _otp_rejected(r: OtpRejected) -> Payload:
    if r.code == "otp_invalid":
        left = r.tries_left
        return {"ok": False, "code": r.code,
                "say": f"That code isn't right. You have {left} {'try' if left == 1 else 'tries'} left.",
                "tries_left": left}
    if r.code == "otp_locked" and r.last_try:
        return {"ok": False, "code": r.code,
                "say": "That's not right, and that was the last try. I can send you a new code."}
    return {"ok": False, "code": r.code, "say": _OTP_REJECTED[r.code]}


def _booked(r: Booked) -> Payload:
    appt = _appointment(r.appointment)
    if r.already:
        return {"ok": True, "already_booked": True, **appt, "say": f"You're already booked for {appt['say']}."}
    service = appt["service"] or "appointment"
    return {"ok": True, **appt, "phone": r.phone, "confirmation": "queued",
            "say": f"You're booked for {_article(service)} {service} on {appt['say']}, {r.name}. "
                   f"I'm texting a confirmation to {say_ending(r.phone)}."}


def _verified(r: Verified) -> Payload:
    if isinstance(r.then, Refused):
        refused = refusal(r.then)
        return {**refused, "verified": True, "say": f"Thank you, you're verified. {refused['say']}"}
    if r.then is not None:
        return {**_booked(r.then), "verified": True}
    return {"ok": True, "verified": True, "say": "Thank you, you're verified."}


def _appointments_found(r: AppointmentsFound) -> Payload:
    items = [_appointment(a) for a in r.appointments]
    if not items:
        return {"ok": True, "appointments": [],
                "say": f"I don't see any upcoming appointments for {say_ending(r.phone)}."}
    listed = speak_list([f"{i['service']} on {i['say']}" for i in items], "and")
    return {"ok": True, "appointments": items,
            "say": f"I see {len(items)} upcoming appointment{'s' if len(items) > 1 else ''}: {listed}."}


def _cancelled(r: Cancelled) -> Payload:
    info = _appointment(r.appointment)
    if r.already:
        return {"ok": True, "already_cancelled": True, **info,
                "say": f"That appointment on {info['say']} is already cancelled."}
    return {"ok": True, "cancelled": True, **info, "say": f"Okay, your appointment on {info['say']} is cancelled."}


def _rescheduled(r: Rescheduled) -> Payload:
    info = _appointment(r.appointment)
    return {"ok": True, "rescheduled": True, **info, "previous_start": _iso(r.previous_start, r.appointment.tz),
            "say": f"Done. Your appointment is now {info['say']}."}


def _confirmation_queued(r: ConfirmationQueued) -> Payload:
    info = _appointment(r.appointment)
    return {"ok": True, **info, "confirmation": "queued",
            "say": f"I'm texting the confirmation for {info['say']} to {say_ending(r.phone)}."}


_RESULTS: dict[type, Callable[[Any], Payload]] = {
    OpeningsFound: _openings_found, SlotHeld: _slot_held, SlotHeldCodeSent: _slot_held_code_sent,
    SlotReleased: _slot_released, CodeSent: _code_sent, OtpRejected: _otp_rejected, Booked: _booked,
    Verified: _verified, AppointmentsFound: _appointments_found, Cancelled: _cancelled, Rescheduled: _rescheduled,
    ConfirmationQueued: _confirmation_queued,
}


# ---- refusals ------------------------------------------------------------------------------------------
# Each returns (say, fields); the answer is {"ok": false, "code", "say", **fields}.

Said = tuple[str, Payload]


def refusal(e: Refused) -> Payload:
    if isinstance(e, InvalidArguments):
        say_, fields = _invalid(e)
    else:
        words = _REFUSALS.get(e.code)
        say_, fields = words(**e.facts) if words else (_FALLBACK, {})
    return {"ok": False, "code": e.code, "say": say_, **fields}


#: said for a code without wording of its own (a bug, but the caller still hears a sentence)
_FALLBACK = "I'm sorry, I can't do that right now."


def _nearest(alternatives: tuple[Opening, ...], tz: ZoneInfo) -> Said:
    """' The nearest times I have are ...' and the alternatives field, after a time that cannot be had."""
    alts = [_opening(o, tz) for o in alternatives]
    said = " The nearest times I have are " + speak_list([a["say"] for a in alts], "or") + "." if alts else ""
    return said, {"alternatives": alts}


def _not_bookable(lead: str, tz: ZoneInfo, alternatives: tuple[Opening, ...]) -> Said:
    more, fields = _nearest(alternatives, tz)
    return lead + more, fields


def _in_the_past(*, day: date | None = None, start: datetime | None = None, tz: ZoneInfo | None = None,
                 alternatives: tuple[Opening, ...] = (), appointment_id: int | None = None,
                 change: str | None = None) -> Said:
    if day is not None:  # a day asked for in check_availability
        return f"{say_day(day)} has already passed. Which day would you like?", {}
    if change is not None:  # an appointment that has started
        verb = "cancel" if change == "cancel" else "move"
        return f"That appointment has already started or passed, so I can't {verb} it.", {}
    assert tz is not None  # a start refused with its alternatives always comes with the clinic's zone
    return _not_bookable("That time has already passed.", tz, alternatives)


def _beyond_horizon(*, horizon_days: int, last_day: date | None = None, start: datetime | None = None,
                    tz: ZoneInfo | None = None, alternatives: tuple[Opening, ...] = ()) -> Said:
    if last_day is not None:  # the days asked for in check_availability
        return (f"We only book up to {horizon_days} days ahead, so the latest day is {say_day(last_day)}.",
                {"last_day": last_day.isoformat()})
    assert tz is not None  # a start refused with its alternatives always comes with the clinic's zone
    return _not_bookable(f"We only book up to {horizon_days} days ahead.", tz, alternatives)


def _too_soon(*, notice_minutes: int, start: datetime, tz: ZoneInfo, alternatives: tuple[Opening, ...]) -> Said:
    return _not_bookable(f"That's too soon; we need at least {notice_minutes} minutes' notice.", tz, alternatives)


def _outside_hours(*, start: datetime, tz: ZoneInfo, alternatives: tuple[Opening, ...], closed: bool = False) -> Said:
    lead = (f"We're closed on {say_day(start.astimezone(tz).date())}." if closed
            else f"We're not open for that at {say_time(start, tz)}.")
    return _not_bookable(lead, tz, alternatives)


def _off_grain(*, grain_minutes: int, start: datetime, tz: ZoneInfo, alternatives: tuple[Opening, ...]) -> Said:
    return _not_bookable(f"Appointments start every {grain_minutes} minutes, so {say_time(start, tz)} isn't a "
                         "start time.", tz, alternatives)


def _slot_taken(*, start: datetime, tz: ZoneInfo, alternatives: tuple[Opening, ...],
                appointment_id: int | None = None) -> Said:
    lead = (f"Sorry, {say_time(start, tz)} isn't free, so your appointment stays where it was."
            if appointment_id is not None else f"Sorry, {say_time(start, tz)} was just taken.")
    return _not_bookable(lead, tz, alternatives)


def _no_availability(*, nobody_offers: str | None = None, day: date | None = None, horizon_days: int = 0,
                     next_opening: Opening | None = None, tz: ZoneInfo | None = None) -> Said:
    if nobody_offers is not None:
        return f"Nobody offers {nobody_offers} right now.", {}
    asked = f"on {say_day(day)}" if day is not None else "then"
    if next_opening is None:
        return (f"I'm sorry, there are no openings {asked}, and nothing in the next {horizon_days} days either.",
                {})
    assert tz is not None
    return (f"I'm sorry, there are no openings {asked}. The next opening is "
            f"{say_opening(next_opening.start, tz, next_opening.resource.name)}.",
            {"next_open_day": next_opening.start.astimezone(tz).date().isoformat(),
             "next_opening": _opening(next_opening, tz)})


def _not_found(*, phone: str | None = None, appointment_id: int | None = None, change: str | None = None,
               service_gone: bool = False) -> Said:
    if service_gone:
        return "That service is no longer offered; please call the clinic.", {}
    if change == "reschedule":  # not booked any more
        return "That appointment was cancelled, so there's nothing to move.", {}
    if change == "confirm":  # cancelled or past
        return "That appointment isn't coming up, so there's nothing to confirm.", {}
    if appointment_id is not None:
        return f"I couldn't find appointment {appointment_id} for {say_ending(phone or '')}.", {}
    return f"I don't see any upcoming appointments for {say_ending(phone or '')}.", {}


def _no_active_hold(*, for_someone_else: bool = False) -> Said:
    if for_someone_else:  # the call booked already: another appointment needs its own time
        return "I need to hold a time for that appointment first. Which time would you like?", {}
    return "I need to hold a time for you first. Which time would you like?", {}


def _fixed(sentence: str) -> Callable[..., Said]:
    return lambda **_: (sentence, {})


_REFUSALS: dict[str, Callable[..., Said]] = {
    "missing_call": _fixed("I can only do that during a call, and I couldn't tell which call this is."),
    "phone_required": _fixed("What's the best phone number to reach you?"),
    "call_ended": _fixed("This call has already ended."),
    "unknown_tool": lambda known: ("Sorry, I can't do that here.", {"known": list(known)}),
    "unknown_service": lambda asked, offered: (f"We don't offer {asked}. We offer {speak_list(list(offered), 'and')}.",
                                               {"services": list(offered)}),
    "unknown_resource": lambda asked, known: (f"I couldn't find {asked}. You can see {speak_list(list(known), 'or')}.",
                                              {"resources": list(known)}),
    "resource_does_not_offer_service": lambda resource, service: (f"{resource} doesn't do {service}.", {}),
    "nonexistent_time": lambda day, wall: (f"{wall.strftime('%H:%M')} doesn't exist on that day because the clocks "
                                           "change. Please pick another time.", {}),
    "no_availability": _no_availability,
    "in_the_past": _in_the_past,
    "beyond_horizon": _beyond_horizon,
    "too_soon": _too_soon,
    "outside_hours": _outside_hours,
    "off_grain": _off_grain,
    "slot_taken": _slot_taken,
    "hold_expired": _fixed("I'm sorry, the hold on that time ran out. Shall I check if it's still free?"),
    "no_active_hold": _no_active_hold,
    "not_found": _not_found,
    "otp_required": lambda phone: (f"First I need to check it's you: I can text a code to {say_ending(phone)}. "
                                   "Shall I send it?", {"phone_ending": phone[-4:]}),
    "otp_cooldown": lambda retry_after_seconds: (
        f"I just sent a code. Please check your messages; I can send another in {retry_after_seconds} seconds.",
        {"retry_after_seconds": retry_after_seconds}),
    "otp_rate_limited": _fixed("I've sent too many codes to that number for now. Please try again in a few minutes."),
    "rate_limited": _fixed("I've already re-sent that confirmation a few times; please check your messages."),
    "temporarily_unavailable": _fixed("I'm sorry, I'm having trouble reaching the booking system. Please give me a "
                                      "moment and try again."),
}


# ---- invalid arguments ---------------------------------------------------------------------------------

#: (expected, problem) -> sentence; {label} is the argument's name in words, {value} what was given (clipped)
_INVALID = {
    ("text", "missing"): "I need the {label}: {hint}.",
    ("text", "wrong_type"): "The {label} should be {hint}.",
    ("text", "too_long"): "The {label} is too long; it should be {hint}.",
    ("integer", "wrong_type"): "The {label} should be {hint}.",
    ("integer", "missing"): "I need the {label}: {hint}.",
    ("identifier", "missing"): "I need the {label}.",
    ("identifier", "wrong_type"): "The {label} should be {hint}, like 1042.",
    ("otp_code", "missing"): "I need the six digits of the code.",
    ("otp_code", "wrong_type"): "I need the six digits of the code.",
    ("otp_code", "too_long"): "That's too long to be the code; it has six digits.",
    ("otp_code", "unreadable"): "Please read me the six digits of the code.",
    ("date", "wrong_type"): "The {label} should be a date like 2026-03-12, today, tomorrow or a weekday.",
    ("date", "unreadable"): "I couldn't understand the {label} '{value}'. Please give a date like 2026-03-12, "
                            "today, tomorrow or a weekday.",
    ("date_time", "wrong_type"): "The {label} should be a date and time like 2026-03-12T14:30, in the clinic's "
                                 "local time.",
    ("date_time", "too_long"): "The {label} is too long to be a date and time.",
    ("date_time", "unreadable"): "I couldn't understand the {label} '{value}'. Please give a date and time like "
                                 "2026-03-12T14:30.",
    ("date_time", "out_of_range"): "The {label} {value} is not a date I can book.",
    ("date_time", "needs_time"): "The {label} needs a time of day too, like 2026-03-12T14:30.",
    ("phone_number", "unreadable"): "That phone number doesn't look right. Please give the full number, including "
                                    "the area code.",
    ("part_of_day", "unreadable"): "The part of day should be morning, afternoon or evening.",
    ("object", "not_json"): "The tool arguments weren't valid JSON. Please try again.",
    ("object", "not_object"): "The tool arguments should be an object of named values.",
    ("object", "too_large"): "The tool arguments were far too long.",
}


def _invalid(e: InvalidArguments) -> Said:
    template = _INVALID.get((e.expected, e.problem), "I couldn't use the {label}.")
    field = e.field or "arguments"
    sentence = template.format(label=field.replace("_", " "), hint=e.hint or "", value=_clip(e.value))
    named = e.field is not None and not isinstance(e, Unreadable)
    return sentence, ({"field": e.field} if named else {})


def _clip(value: object, limit: int = 40) -> str:
    text = str(value).replace("\n", " ").replace("\r", " ")
    return text if len(text) <= limit else text[:limit] + "..."
