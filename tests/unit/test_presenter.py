"""The presenter: each kind of result, and refusals, become the tool's answer and the sentence the caller
hears, byte for byte as the assistant has always been given them."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from domain.model import Booking, InvalidArguments, Opening, Refused, Resource, Schedule, Service, Unreadable
from domain.results import (
    Appointment, AppointmentsFound, Booked, Cancelled, CodeSent, ConfirmationQueued, OpeningsFound, OtpRejected,
    Rescheduled, SlotHeld, SlotHeldCodeSent, SlotReleased, Verified, outcome_code,
)
from domain.wording.presenter import answer, payload, say
from domain.wording.texts import confirmation_body, otp_code_text

NY = ZoneInfo("America/New_York")
CLEANING = Service(1, "Cleaning", 30)
EXAM = Service(2, "Exam", 20)
LEE = Resource(1, "Dr Lee", frozenset({1, 2}), {})
KIM = Resource(2, "Dr Kim", frozenset({1}), {})
PHONE = "+15555550123"
#: Thursday March 12th 2026 at 2:30 in the afternoon, New York
T = datetime(2026, 3, 12, 18, 30, tzinfo=timezone.utc)


def _opening(start: datetime, resource: Resource = LEE, service: Service = CLEANING) -> Opening:
    return Opening(start, start + timedelta(minutes=service.minutes), resource, service)


def _booking(id_: int = 42, start: datetime = T, status: str = "booked", service_id: int = 1) -> Booking:
    return Booking(id_, 1, service_id, status, start, start + timedelta(minutes=30), "call-1",
                   customer_name="Dana Whitfield", phone=PHONE)


def _appt(booking: Booking | None = None, service: Service | None = CLEANING) -> Appointment:
    return Appointment(booking or _booking(), service, LEE, NY)


APPT_FIELDS = {"appointment_id": "42", "start": "2026-03-12T14:30:00-04:00", "end": "2026-03-12T15:00:00-04:00",
               "resource": "Dr Lee", "service": "Cleaning",
               "say": "Thursday March 12th at 2:30 in the afternoon with Dr Lee"}


# ---- results -------------------------------------------------------------------------------------------


def test_openings_are_listed_with_their_times_and_said_grouped_by_day():
    found = OpeningsFound((_opening(T), _opening(T + timedelta(minutes=30), KIM), _opening(T + timedelta(days=1))), NY)
    assert answer(found) == (
        '{"ok":true,"timezone":"America/New_York","openings":['
        '{"start":"2026-03-12T14:30:00-04:00","end":"2026-03-12T15:00:00-04:00","resource":"Dr Lee",'
        '"service":"Cleaning","say":"Thursday March 12th at 2:30 in the afternoon with Dr Lee"},'
        '{"start":"2026-03-12T15:00:00-04:00","end":"2026-03-12T15:30:00-04:00","resource":"Dr Kim",'
        '"service":"Cleaning","say":"Thursday March 12th at 3 in the afternoon with Dr Kim"},'
        '{"start":"2026-03-13T14:30:00-04:00","end":"2026-03-13T15:00:00-04:00","resource":"Dr Lee",'
        '"service":"Cleaning","say":"Friday March 13th at 2:30 in the afternoon with Dr Lee"}],'
        '"say":"On Thursday March 12th I have 2:30 in the afternoon with Dr Lee or 3 in the afternoon with Dr Kim. '
        'On Friday March 13th I have 2:30 in the afternoon with Dr Lee."}')


def _held() -> SlotHeld:
    hold = Booking(7, 1, 1, "held", T, T + timedelta(minutes=30), "call-1", hold_expires_at=T)
    return SlotHeld(hold, _opening(T), datetime(2026, 3, 12, 14, 10, tzinfo=timezone.utc), 10, NY)


def test_a_held_slot_gives_the_hold_and_when_it_expires():
    assert answer(_held()) == (
        '{"ok":true,"hold_id":"7","start":"2026-03-12T14:30:00-04:00","end":"2026-03-12T15:00:00-04:00",'
        '"resource":"Dr Lee","service":"Cleaning","expires_at":"2026-03-12T10:10:00-04:00",'
        '"say":"I\'m holding Thursday March 12th at 2:30 in the afternoon with Dr Lee for you for the next 10 '
        'minutes."}')


def test_a_held_slot_with_a_code_sent_adds_where_the_code_went_after_the_hold():
    p = payload(SlotHeldCodeSent(_held(), PHONE))
    assert list(p) == ["ok", "hold_id", "start", "end", "resource", "service", "expires_at", "say", "code_sent_to"]
    assert p["code_sent_to"] == "ending in 0123"
    assert p["say"] == ("I'm holding Thursday March 12th at 2:30 in the afternoon with Dr Lee for you for the next "
                        "10 minutes. I've texted a 6-digit code to the number ending in 0 1 2 3; please read it to me.")


def test_releasing_says_whether_anything_was_on_hold():
    assert payload(SlotReleased(1)) == {"ok": True, "released": True, "say": "Okay, I've let that time go."}
    assert payload(SlotReleased(0)) == {"ok": True, "released": False,
                                        "say": "There was no time on hold, so nothing to release."}


def test_a_code_sent_reads_back_only_the_last_four_digits():
    assert answer(CodeSent(PHONE)) == (
        '{"ok":true,"code_sent_to":"ending in 0123","say":"I\'ve texted a 6-digit code to the number ending in '
        '0 1 2 3. Please read it to me when it arrives."}')


@pytest.mark.parametrize("rejected, expected", [
    (OtpRejected("no_code"), {"ok": False, "code": "no_code",
                              "say": "I haven't sent you a code yet. Shall I send one?"}),
    (OtpRejected("otp_invalid", tries_left=1), {"ok": False, "code": "otp_invalid",
                                               "say": "That code isn't right. You have 1 try left.",
                                               "tries_left": 1}),
    (OtpRejected("otp_invalid", tries_left=3), {"ok": False, "code": "otp_invalid",
                                               "say": "That code isn't right. You have 3 tries left.",
                                               "tries_left": 3}),
    (OtpRejected("otp_locked", tries_left=0, last_try=True),
     {"ok": False, "code": "otp_locked",
      "say": "That's not right, and that was the last try. I can send you a new code."}),
    (OtpRejected("otp_locked"), {"ok": False, "code": "otp_locked",
                                 "say": "That code is locked after too many wrong tries. I can send you a new one."}),
    (OtpRejected("otp_failed"), {"ok": False, "code": "otp_failed",
                                 "say": "I couldn't text that number. Is there another number I can use?"}),
    (OtpRejected("otp_expired"), {"ok": False, "code": "otp_expired",
                                  "say": "That code has expired. Shall I send you a new one?"}),
    (OtpRejected("otp_not_sent_yet"), {"ok": False, "code": "otp_not_sent_yet",
                                       "say": "The code is still on its way. Please give it a moment."}),
])
def test_a_rejected_code_is_a_failure_with_its_own_sentence(rejected, expected):
    assert payload(rejected) == expected
    assert outcome_code(rejected) == expected["code"]


def test_booked_gives_the_appointment_the_phone_and_the_queued_confirmation():
    p = payload(Booked(_appt(), "Dana Whitfield", PHONE))
    assert p == {"ok": True, **APPT_FIELDS, "phone": PHONE, "confirmation": "queued",
                 "say": "You're booked for a Cleaning on Thursday March 12th at 2:30 in the afternoon with Dr Lee, "
                        "Dana Whitfield. I'm texting a confirmation to the number ending in 0 1 2 3."}
    assert list(p) == ["ok", *APPT_FIELDS, "phone", "confirmation"]


def test_booked_says_an_before_a_vowel_and_appointment_for_a_service_no_longer_configured():
    assert say(Booked(_appt(service=Service(2, "Exam", 20)), "Dana", PHONE)).startswith("You're booked for an Exam on")
    assert say(Booked(_appt(service=None), "Dana", PHONE)).startswith("You're booked for an appointment on")


def test_booked_already_says_so_and_nothing_about_a_text():
    p = payload(Booked(_appt(), "Dana Whitfield", PHONE, already=True))
    assert list(p) == ["ok", "already_booked", *APPT_FIELDS]
    assert p["say"] == "You're already booked for Thursday March 12th at 2:30 in the afternoon with Dr Lee."


def test_verified_alone_booked_at_once_or_refused_booking():
    assert payload(Verified()) == {"ok": True, "verified": True, "say": "Thank you, you're verified."}
    booked = payload(Verified(then=Booked(_appt(), "Dana Whitfield", PHONE)))
    assert booked == {**payload(Booked(_appt(), "Dana Whitfield", PHONE)), "verified": True}
    refused = Verified(then=Refused("hold_expired"))
    assert answer(refused) == (
        '{"ok":false,"code":"hold_expired","say":"Thank you, you\'re verified. I\'m sorry, the hold on that time ran '
        'out. Shall I check if it\'s still free?","verified":true}')
    assert outcome_code(refused) == "hold_expired"


def test_appointments_found_are_counted_and_listed():
    one = payload(AppointmentsFound(PHONE, (_appt(),)))
    assert one == {"ok": True, "appointments": [APPT_FIELDS],
                   "say": "I see 1 upcoming appointment: Cleaning on Thursday March 12th at 2:30 in the afternoon "
                          "with Dr Lee."}
    two = AppointmentsFound(PHONE, (_appt(), _appt(_booking(43, T + timedelta(days=1)))))
    assert say(two) == ("I see 2 upcoming appointments: Cleaning on Thursday March 12th at 2:30 in the afternoon "
                        "with Dr Lee and Cleaning on Friday March 13th at 2:30 in the afternoon with Dr Lee.")
    assert payload(AppointmentsFound(PHONE, ())) == {
        "ok": True, "appointments": [],
        "say": "I don't see any upcoming appointments for the number ending in 0 1 2 3."}


def test_cancelled_and_already_cancelled():
    p = payload(Cancelled(_appt()))
    assert list(p) == ["ok", "cancelled", *APPT_FIELDS]
    assert p["say"] == "Okay, your appointment on Thursday March 12th at 2:30 in the afternoon with Dr Lee is cancelled."
    p = payload(Cancelled(_appt(), already=True))
    assert list(p) == ["ok", "already_cancelled", *APPT_FIELDS]
    assert p["say"] == "That appointment on Thursday March 12th at 2:30 in the afternoon with Dr Lee is already cancelled."


def test_rescheduled_gives_the_new_time_and_the_previous_start():
    p = payload(Rescheduled(_appt(), T - timedelta(days=1)))
    assert list(p) == ["ok", "rescheduled", *APPT_FIELDS, "previous_start"]
    assert p["previous_start"] == "2026-03-11T14:30:00-04:00"
    assert p["say"] == "Done. Your appointment is now Thursday March 12th at 2:30 in the afternoon with Dr Lee."


def test_a_queued_confirmation_says_where_it_goes():
    p = payload(ConfirmationQueued(_appt(), "+15555559876"))
    assert list(p) == ["ok", *APPT_FIELDS, "confirmation"]
    assert p["say"] == ("I'm texting the confirmation for Thursday March 12th at 2:30 in the afternoon with Dr Lee "
                        "to the number ending in 9 8 7 6.")


# ---- refusals ------------------------------------------------------------------------------------------


def test_a_taken_slot_offers_the_nearest_times():
    alts = (_opening(T + timedelta(minutes=15)), _opening(T - timedelta(minutes=15), KIM))
    refused = Refused("slot_taken", start=T, tz=NY, alternatives=alts)
    p = payload(refused)
    assert list(p) == ["ok", "code", "say", "alternatives"]
    assert p["say"] == ("Sorry, Thursday March 12th at 2:30 in the afternoon was just taken. The nearest times I have "
                        "are Thursday March 12th at 2:45 in the afternoon with Dr Lee or Thursday March 12th at 2:15 "
                        "in the afternoon with Dr Kim.")
    assert [a["start"] for a in p["alternatives"]] == ["2026-03-12T14:45:00-04:00", "2026-03-12T14:15:00-04:00"]
    assert outcome_code(refused) == "slot_taken"


def test_a_time_that_cannot_be_moved_to_keeps_the_appointment_and_says_so_even_without_alternatives():
    p = payload(Refused("slot_taken", start=T, tz=NY, alternatives=(), appointment_id=42))
    assert p == {"ok": False, "code": "slot_taken", "alternatives": [],
                 "say": "Sorry, Thursday March 12th at 2:30 in the afternoon isn't free, so your appointment stays "
                        "where it was."}


@pytest.mark.parametrize("refused, sentence", [
    (Refused("in_the_past", start=T, tz=NY, alternatives=()), "That time has already passed."),
    (Refused("too_soon", start=T, tz=NY, alternatives=(), notice_minutes=60),
     "That's too soon; we need at least 60 minutes' notice."),
    (Refused("beyond_horizon", start=T, tz=NY, alternatives=(), horizon_days=60), "We only book up to 60 days ahead."),
    (Refused("outside_hours", start=T, tz=NY, alternatives=(), closed=True), "We're closed on Thursday March 12th."),
    (Refused("outside_hours", start=T, tz=NY, alternatives=()),
     "We're not open for that at Thursday March 12th at 2:30 in the afternoon."),
    (Refused("off_grain", start=T, tz=NY, alternatives=(), grain_minutes=15),
     "Appointments start every 15 minutes, so Thursday March 12th at 2:30 in the afternoon isn't a start time."),
])
def test_a_time_that_cannot_be_booked_says_why(refused, sentence):
    assert payload(refused) == {"ok": False, "code": refused.code, "say": sentence, "alternatives": []}


def test_no_availability_names_the_next_opening_or_the_horizon():
    nxt = _opening(T + timedelta(days=2))
    p = payload(Refused("no_availability", day=date(2026, 3, 12), horizon_days=60, next_opening=nxt, tz=NY))
    assert list(p) == ["ok", "code", "say", "next_open_day", "next_opening"]
    assert p["say"] == ("I'm sorry, there are no openings on Thursday March 12th. The next opening is Saturday March "
                        "14th at 2:30 in the afternoon with Dr Lee.")
    assert p["next_open_day"] == "2026-03-14" and p["next_opening"]["start"] == "2026-03-14T14:30:00-04:00"
    assert payload(Refused("no_availability", day=None, horizon_days=60, next_opening=None, tz=NY)) == {
        "ok": False, "code": "no_availability",
        "say": "I'm sorry, there are no openings then, and nothing in the next 60 days either."}
    assert say(Refused("no_availability", nobody_offers="Checkup")) == "Nobody offers Checkup right now."


@pytest.mark.parametrize("refused, expected", [
    (Refused("missing_call"),
     {"say": "I can only do that during a call, and I couldn't tell which call this is."}),
    (Refused("phone_required"), {"say": "What's the best phone number to reach you?"}),
    (Refused("unknown_service", asked="Root canal", offered=("Cleaning", "Checkup")),
     {"say": "We don't offer Root canal. We offer Cleaning and Checkup.", "services": ["Cleaning", "Checkup"]}),
    (Refused("unknown_resource", asked="Dr B", known=("Dr Lee", "Dr Kim", "Dr Patel")),
     {"say": "I couldn't find Dr B. You can see Dr Lee, Dr Kim, or Dr Patel.",
      "resources": ["Dr Lee", "Dr Kim", "Dr Patel"]}),
    (Refused("resource_does_not_offer_service", resource="Dr Kim", service="Exam"), {"say": "Dr Kim doesn't do Exam."}),
    (Refused("in_the_past", day=date(2026, 1, 1)),
     {"say": "Thursday January 1st has already passed. Which day would you like?"}),
    (Refused("in_the_past", appointment_id=42, change="cancel"),
     {"say": "That appointment has already started or passed, so I can't cancel it."}),
    (Refused("in_the_past", appointment_id=42, change="reschedule"),
     {"say": "That appointment has already started or passed, so I can't move it."}),
    (Refused("beyond_horizon", horizon_days=60, last_day=date(2026, 5, 11)),
     {"say": "We only book up to 60 days ahead, so the latest day is Monday May 11th.", "last_day": "2026-05-11"}),
    (Refused("nonexistent_time", day=date(2026, 3, 8), wall=time(2, 30)),
     {"say": "02:30 doesn't exist on that day because the clocks change. Please pick another time."}),
    (Refused("call_ended"), {"say": "This call has already ended."}),
    (Refused("otp_cooldown", retry_after_seconds=12),
     {"say": "I just sent a code. Please check your messages; I can send another in 12 seconds.",
      "retry_after_seconds": 12}),
    (Refused("otp_rate_limited"),
     {"say": "I've sent too many codes to that number for now. Please try again in a few minutes."}),
    (Refused("otp_required", phone=PHONE),
     {"say": "First I need to check it's you: I can text a code to the number ending in 0 1 2 3. Shall I send it?",
      "phone_ending": "0123"}),
    (Refused("hold_expired"),
     {"say": "I'm sorry, the hold on that time ran out. Shall I check if it's still free?"}),
    (Refused("no_active_hold"), {"say": "I need to hold a time for you first. Which time would you like?"}),
    (Refused("no_active_hold", for_someone_else=True),
     {"say": "I need to hold a time for that appointment first. Which time would you like?"}),
    (Refused("not_found", phone=PHONE),
     {"say": "I don't see any upcoming appointments for the number ending in 0 1 2 3."}),
    (Refused("not_found", appointment_id=77, phone=PHONE),
     {"say": "I couldn't find appointment 77 for the number ending in 0 1 2 3."}),
    (Refused("not_found", appointment_id=42, change="confirm"),
     {"say": "That appointment isn't coming up, so there's nothing to confirm."}),
    (Refused("not_found", appointment_id=42, change="reschedule"),
     {"say": "That appointment was cancelled, so there's nothing to move."}),
    (Refused("not_found", appointment_id=42, service_gone=True),
     {"say": "That service is no longer offered; please call the clinic."}),
    (Refused("rate_limited", appointment_id=42, per_hour=3),
     {"say": "I've already re-sent that confirmation a few times; please check your messages."}),
    (Refused("unknown_tool", known=("book_appointment", "check_availability")),
     {"say": "Sorry, I can't do that here.", "known": ["book_appointment", "check_availability"]}),
    (Refused("temporarily_unavailable"),
     {"say": "I'm sorry, I'm having trouble reaching the booking system. Please give me a moment and try again."}),
])
def test_each_refusal_is_a_code_a_sentence_and_its_fields(refused, expected):
    p = payload(refused)
    assert p == {"ok": False, "code": refused.code, **expected}
    assert list(p)[:3] == ["ok", "code", "say"]
    assert json.loads(answer(refused)) == p


@pytest.mark.parametrize("refused, expected", [
    (InvalidArguments("text", "missing", field="start", hint="a date and time like 2026-03-12T14:30"),
     {"say": "I need the start: a date and time like 2026-03-12T14:30.", "field": "start"}),
    (InvalidArguments("text", "wrong_type", field="name", hint="the caller's full name"),
     {"say": "The name should be the caller's full name.", "field": "name"}),
    (InvalidArguments("text", "too_long", field="part_of_day", hint="morning, afternoon or evening"),
     {"say": "The part of day is too long; it should be morning, afternoon or evening.", "field": "part_of_day"}),
    (InvalidArguments("integer", "wrong_type", field="limit", hint="a number from 1 to 10"),
     {"say": "The limit should be a number from 1 to 10.", "field": "limit"}),
    (InvalidArguments("identifier", "missing", field="appointment_id", hint="the appointment number"),
     {"say": "I need the appointment id.", "field": "appointment_id"}),
    (InvalidArguments("identifier", "wrong_type", field="appointment_id", hint="the appointment number"),
     {"say": "The appointment id should be the appointment number, like 1042.", "field": "appointment_id"}),
    (InvalidArguments("otp_code", "wrong_type", field="code", hint="the six digits of the code"),
     {"say": "I need the six digits of the code.", "field": "code"}),
    (InvalidArguments("otp_code", "too_long", field="code", hint="the six digits of the code"),
     {"say": "That's too long to be the code; it has six digits.", "field": "code"}),
    (InvalidArguments("object", "not_json"), {"say": "The tool arguments weren't valid JSON. Please try again."}),
    (InvalidArguments("object", "not_object"), {"say": "The tool arguments should be an object of named values."}),
    (InvalidArguments("object", "too_large"), {"say": "The tool arguments were far too long."}),
    (Unreadable("otp_code", "unreadable", value="12"), {"say": "Please read me the six digits of the code."}),
    (Unreadable("date", "unreadable", field="date", value="someday " * 10),
     {"say": "I couldn't understand the date 'someday someday someday someday someday ...'. Please give a date "
             "like 2026-03-12, today, tomorrow or a weekday."}),
    (Unreadable("date_time", "out_of_range", field="start", value="0001-01-01T00:00"),
     {"say": "The start 0001-01-01T00:00 is not a date I can book."}),
    (Unreadable("date_time", "needs_time", field="after", value="2026-03-12"),
     {"say": "The after needs a time of day too, like 2026-03-12T14:30."}),
    (Unreadable("date_time", "wrong_type", field="start", value=42),
     {"say": "The start should be a date and time like 2026-03-12T14:30, in the clinic's local time."}),
    (Unreadable("phone_number", "unreadable"),
     {"say": "That phone number doesn't look right. Please give the full number, including the area code."}),
    (Unreadable("part_of_day", "unreadable", field="part_of_day", value="night"),
     {"say": "The part of day should be morning, afternoon or evening."}),
])
def test_invalid_arguments_say_what_was_expected_and_name_the_field_only_when_checked_at_the_edge(refused, expected):
    assert payload(refused) == {"ok": False, "code": "invalid_arguments", **expected}


def test_a_code_without_wording_still_gives_the_caller_a_sentence():
    assert payload(Refused("something_new")) == {"ok": False, "code": "something_new",
                                                 "say": "I'm sorry, I can't do that right now."}


# ---- texts ---------------------------------------------------------------------------------------------


def _clinic(phone: str | None = "+12024561111") -> Schedule:
    return Schedule(1, "bright-smile", "Bright Smile Dental", NY, "US", 10, 15, False, 60, 60, (CLEANING,), (LEE,),
                    phone=phone)


def test_confirmation_texts_say_what_changed_and_how_to_cancel_or_change_it():
    b = _booking()
    assert confirmation_body("booked", _clinic(), b) == (
        "Bright Smile Dental: you're booked for Thu Mar 12 at 2:30 PM with Dr Lee. To cancel or change it, "
        "call (202) 456-1111.")
    assert confirmation_body("rescheduled", _clinic(None), b) == (
        "Bright Smile Dental: your appointment is moved to Thu Mar 12 at 2:30 PM with Dr Lee. To cancel or change "
        "it, call Bright Smile Dental.")
    assert confirmation_body("cancelled", _clinic(), _booking(start=datetime(2026, 3, 12, 13, 0, tzinfo=timezone.utc))) == (
        "Bright Smile Dental: your appointment on Thu Mar 12 at 9 AM with Dr Lee is cancelled.")


def test_the_code_text_gives_the_code_and_its_validity():
    assert otp_code_text("Bright Smile Dental", "012345", 5) == (
        "Bright Smile Dental: your verification code is 012345. It expires in 5 minutes.")
