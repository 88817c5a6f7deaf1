"""Use-case decisions that need no database, on an in-memory unit of work: which result or refusal a
use case comes to, and what it leaves behind. Races and constraints are tested on PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from domain import commands as c
from domain import services
from domain.model import OtpChallenge, Refused, Resource, Schedule, Service, ToolContext
from domain.otp import OtpPolicy, hash_code
from domain.results import Booked, OtpRejected, SlotHeld, Verified
from domain.wording import presenter
from tests.fakes.uow import FakeUnitOfWork

NY = ZoneInfo("America/New_York")
CLEANING = Service(1, "Cleaning", 30)
WEEKDAYS = {d: ((time(9), time(17)),) for d in range(5)}
LEE = Resource(1, "Dr Lee", frozenset({1}), WEEKDAYS)
PHONE = "+15555550123"
#: Monday March 2nd 2026, 9 in the morning in New York
NOW = datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)
#: Wednesday March 4th, 10 in the morning
WED_10 = datetime(2026, 3, 4, 15, 0, tzinfo=timezone.utc)


def _schedule(**changes) -> Schedule:
    s = Schedule(1, "bright-smile", "Bright Smile Dental", NY, "US", 10, 15, False, 60, 60, (CLEANING,), (LEE,),
                 otp=OtpPolicy(max_attempts=3))
    return replace(s, **changes)


def _ctx(call_id: str | None = "call-1", tool_call_id: str | None = None, now: datetime = NOW) -> ToolContext:
    return ToolContext(1, call_id, tool_call_id, PHONE, now)


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(_schedule(), now=NOW)


# ---- reserve ---------------------------------------------------------------------------------------------


async def test_a_second_reservation_replaces_the_calls_first_hold(uow):
    first = await services.reserve_slot(c.ReserveSlot("2026-03-04T10:00"), uow, _ctx())
    second = await services.reserve_slot(c.ReserveSlot("2026-03-04T11:00"), uow, _ctx())
    assert isinstance(second, SlotHeld) and second.opening.start == WED_10 + timedelta(hours=1)
    assert uow.state.bookings[first.hold.id].status == "released"
    assert uow.state.bookings[second.hold.id].status == "held"
    assert (first.hold.id, "replaced") in uow.state.audits
    assert [e.actor for e in uow.outbox] == ["expire_hold", "expire_hold"]
    assert second.expires_at == NOW + timedelta(minutes=10)


async def test_reserving_on_a_call_that_ended_is_refused_and_holds_nothing(uow):
    uow.state.calls["call-1"] = "ended"
    with pytest.raises(Refused) as e:
        await services.reserve_slot(c.ReserveSlot("2026-03-04T10:00"), uow, _ctx())
    assert e.value.code == "call_ended" and uow.state.bookings == {}


async def test_a_taken_time_is_refused_with_the_nearest_free_times_as_openings(uow):
    await services.reserve_slot(c.ReserveSlot("2026-03-04T10:00"), uow, _ctx("call-2"))
    with pytest.raises(Refused) as e:
        await services.reserve_slot(c.ReserveSlot("2026-03-04T10:00"), uow, _ctx())
    assert e.value.code == "slot_taken" and e.value.facts["start"] == WED_10
    # 10:00-10:30 is held; 9:30 and 10:30 are 30 minutes off, then 9:15 before 10:45 on a tie; in time order
    assert [o.start for o in e.value.facts["alternatives"]] == [WED_10 - timedelta(minutes=45),
                                                               WED_10 - timedelta(minutes=30),
                                                               WED_10 + timedelta(minutes=30)]


# ---- book ------------------------------------------------------------------------------------------------


async def _booked(uow: FakeUnitOfWork, name: str = "Dana Whitfield") -> Booked:
    await services.reserve_slot(c.ReserveSlot("2026-03-04T10:00"), uow, _ctx())
    return await services.book_appointment(c.BookAppointment(name), uow, _ctx())


async def test_booking_turns_the_hold_into_an_appointment_with_one_confirmation_queued(uow):
    booked = await _booked(uow)
    assert not booked.already and booked.phone == PHONE and booked.name == "Dana Whitfield"
    assert uow.state.bookings[booked.appointment.booking.id].status == "booked"
    (sms_id, kind, to, body, _), = uow.state.sms.values()
    assert kind == "confirmation" and to == PHONE and body.startswith("Bright Smile Dental: you're booked for Wed Mar 4")
    assert [e.actor for e in uow.outbox] == ["expire_hold", "send_sms"]


async def test_asking_again_with_the_same_name_is_the_same_appointment_not_a_second_one(uow):
    first = await _booked(uow)
    again = await services.book_appointment(c.BookAppointment("  dana   WHITFIELD "), uow, _ctx())
    assert again.already and again.appointment.booking.id == first.appointment.booking.id
    assert len(uow.state.sms) == 1 and sum(b.status == "booked" for b in uow.state.bookings.values()) == 1


async def test_booking_for_another_name_after_a_booking_needs_a_time_of_its_own(uow):
    await _booked(uow)
    with pytest.raises(Refused) as e:
        await services.book_appointment(c.BookAppointment("Sam Other"), uow, _ctx())
    assert e.value.code == "no_active_hold" and e.value.facts == {"for_someone_else": True}


async def test_booking_after_the_hold_ran_out_is_hold_expired_and_without_any_hold_no_active_hold(uow):
    with pytest.raises(Refused) as e:
        await services.book_appointment(c.BookAppointment("Dana"), uow, _ctx())
    assert e.value.code == "no_active_hold" and e.value.facts == {}
    await services.reserve_slot(c.ReserveSlot("2026-03-04T10:00"), uow, _ctx())
    with pytest.raises(Refused) as e:
        await services.book_appointment(c.BookAppointment("Dana"), uow, _ctx(now=NOW + timedelta(minutes=11)))
    assert e.value.code == "hold_expired"


async def test_with_require_otp_booking_needs_this_calls_verified_phone():
    uow = FakeUnitOfWork(_schedule(require_otp=True), now=NOW)
    await services.reserve_slot(c.ReserveSlot("2026-03-04T10:00"), uow, _ctx())
    with pytest.raises(Refused) as e:
        await services.book_appointment(c.BookAppointment("Dana"), uow, _ctx())
    assert e.value.code == "otp_required" and e.value.facts == {"phone": PHONE}
    uow.state.verified["call-1"] = PHONE
    assert isinstance(await services.book_appointment(c.BookAppointment("Dana"), uow, _ctx()), Booked)


# ---- verify_otp --------------------------------------------------------------------------------------------


def _challenge(uow: FakeUnitOfWork, code: str = "123456", **changes) -> OtpChallenge:
    ch = OtpChallenge(1, "call-1", PHONE, "sent", hash_code(code, "salt"), "salt", 0, NOW, NOW + timedelta(minutes=5))
    ch = replace(ch, **changes)
    uow.state.challenges[ch.id] = ch
    return ch


async def test_wrong_codes_count_down_and_the_last_one_locks_even_the_right_code_out(uow):
    _challenge(uow)
    verify = services.verify_otp
    assert await verify(c.VerifyOtp("000000"), uow, _ctx()) == OtpRejected("otp_invalid", tries_left=2)
    assert await verify(c.VerifyOtp("111111"), uow, _ctx()) == OtpRejected("otp_invalid", tries_left=1)
    assert uow.state.challenges[1].attempts == 2
    assert await verify(c.VerifyOtp("222222"), uow, _ctx()) == OtpRejected("otp_locked", tries_left=0, last_try=True)
    assert uow.state.challenges[1].status == "locked"
    assert await verify(c.VerifyOtp("123456"), uow, _ctx()) == OtpRejected("otp_locked")
    assert "call-1" not in uow.state.verified


async def test_a_wrong_try_is_committed_although_the_answer_is_a_failure(uow):
    _challenge(uow)
    answer = await services.execute(uow, _ctx(tool_call_id="t1"), "verify_otp",
                                    lambda u, x: services.verify_otp(c.VerifyOtp("000000"), u, x), presenter.answer)
    assert answer.outcome == "otp_invalid" and uow.commits == 1
    assert uow.state.challenges[1].attempts == 1


async def test_an_expired_code_or_none_sent_yet_is_rejected_without_counting_a_try(uow):
    assert await services.verify_otp(c.VerifyOtp("123456"), uow, _ctx()) == OtpRejected("no_code")
    _challenge(uow, code_hash=None, salt=None)
    assert await services.verify_otp(c.VerifyOtp("123456"), uow, _ctx()) == OtpRejected("otp_not_sent_yet")
    later = _ctx(now=NOW + timedelta(minutes=6))
    assert await services.verify_otp(c.VerifyOtp("123456"), uow, later) == OtpRejected("otp_expired")
    assert uow.state.challenges[1].status == "expired" and uow.state.challenges[1].attempts == 0


async def test_the_right_code_verifies_and_books_a_named_hold_at_once(uow):
    held = await services.reserve_atomic(c.ReserveAtomic("2026-03-04T10:00", name="Dana Whitfield"), uow, _ctx())
    _challenge(uow, id=held.held.hold.id + 100)
    verified = await services.verify_otp(c.VerifyOtp("1 2 3 4 5 6"), uow, _ctx())
    assert isinstance(verified, Verified) and isinstance(verified.then, Booked)
    assert verified.then.name == "Dana Whitfield" and uow.state.verified["call-1"] == PHONE


async def test_a_booking_that_fails_after_the_right_code_keeps_the_verification(uow):
    held = await services.reserve_atomic(c.ReserveAtomic("2026-03-04T10:00", name="Dana Whitfield"), uow, _ctx())
    _challenge(uow, id=held.held.hold.id + 100, created_at=NOW + timedelta(minutes=20),
               expires_at=NOW + timedelta(minutes=25))
    verified = await services.verify_otp(c.VerifyOtp("123456"), uow, _ctx(now=NOW + timedelta(minutes=21)))
    assert isinstance(verified.then, Refused) and verified.then.code == "hold_expired"
    assert uow.state.verified["call-1"] == PHONE


# ---- the runner ------------------------------------------------------------------------------------------


async def test_a_refusal_undoes_what_the_tool_did_and_its_answer_is_stored_and_replayed(uow):
    uow.state.challenges[1] = OtpChallenge(1, "call-0", PHONE, "sent", None, None, 0, NOW - timedelta(seconds=5),
                                           None)  # a code just sent to this number: the cooldown refuses

    async def reserve_atomic(u, x):
        return await services.reserve_atomic(c.ReserveAtomic("2026-03-04T10:00", name="Dana"), u, x)

    first = await services.execute(uow, _ctx(tool_call_id="t1"), "reserve_atomic", reserve_atomic, presenter.answer)
    assert first.outcome == "otp_cooldown"
    assert first.text.startswith('{"ok":false,"code":"otp_cooldown","say":"I just sent a code.')
    assert uow.state.bookings == {} and uow.outbox == []  # the hold was made, then undone with its expiry job
    again = await services.execute(uow, _ctx(tool_call_id="t1"), "reserve_atomic", reserve_atomic, presenter.answer)
    assert again.text == first.text and again.outcome == "replayed" and uow.state.bookings == {}


async def test_without_a_call_a_call_tool_is_refused_and_the_presenter_given_to_the_runner_words_it(uow):
    answer = await services.execute(uow, _ctx(call_id=None), "reserve_slot",
                                    lambda u, x: services.reserve_slot(c.ReserveSlot("2026-03-04T10:00"), u, x),
                                    lambda outcome: f"<{outcome.code}>")
    assert answer.text == "<missing_call>" and answer.outcome == "missing_call"


async def test_a_booked_slot_is_not_offered_again(uow):
    await _booked(uow)
    found = await services.check_availability(c.CheckAvailability(date="2026-03-04", limit=2), uow, _ctx())
    assert [o.start for o in found.openings] == [WED_10 - timedelta(hours=1), WED_10 - timedelta(minutes=45)]
