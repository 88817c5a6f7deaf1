"""Reading callers' dates and times in the clinic's zone, and saying times back in words."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from domain.model import InvalidArguments, Refused, Unreadable
from domain.phones import to_e164
from domain.when import parse_day, parse_moment
from domain.wording.phrases import ordinal, say_clock, say_day, say_openings, say_time
from domain.wording.presenter import say
from domain.working_time import instant, wall_exists

NY = ZoneInfo("America/New_York")
TUESDAY = date(2026, 3, 10)


@pytest.mark.parametrize("text, expected", [
    ("today", TUESDAY), ("Tomorrow", date(2026, 3, 11)), ("thursday", date(2026, 3, 12)),
    ("next Friday", date(2026, 3, 13)), ("tuesday", TUESDAY), ("monday", date(2026, 3, 16)),
    ("2026-03-12", date(2026, 3, 12)), (" 2026-04-01 ", date(2026, 4, 1)),
])
def test_days_are_read_as_callers_say_them(text, expected):
    assert parse_day(text, TUESDAY) == expected


@pytest.mark.parametrize("value", ["yesterday-ish", "2026-02-30", "", 42, None, ["2026-03-12"]])
def test_unreadable_days_are_invalid_arguments_with_a_sentence(value):
    with pytest.raises(InvalidArguments) as e:
        parse_day(value, TUESDAY)
    assert e.value.code == "invalid_arguments" and say(e.value).endswith(".")


def test_a_local_time_is_read_in_the_clinics_zone_and_an_offset_is_respected():
    assert parse_moment("2026-03-12T14:30", NY, "start") == datetime(2026, 3, 12, 18, 30, tzinfo=timezone.utc)
    assert parse_moment("2026-03-12 14:30", NY, "start") == datetime(2026, 3, 12, 18, 30, tzinfo=timezone.utc)
    assert parse_moment("2026-03-12T18:30:00Z", NY, "start") == datetime(2026, 3, 12, 18, 30, tzinfo=timezone.utc)
    assert parse_moment("2026-03-12T14:30:00-04:00", NY, "start") == datetime(2026, 3, 12, 18, 30,
                                                                               tzinfo=timezone.utc)


@pytest.mark.parametrize("value", ["2026-03-12", 42, "x" * 10_240, "soon", "2026-03-12T25:00", "0001-01-01T00:00"])
def test_unreadable_times_are_invalid_arguments(value):
    with pytest.raises(InvalidArguments):
        parse_moment(value, NY, "start")


def test_a_wall_time_skipped_by_spring_forward_is_reported_not_shifted():
    with pytest.raises(Refused) as e:
        parse_moment("2026-03-08T02:30", NY, "start")
    assert e.value.code == "nonexistent_time" and "clocks change" in say(e.value)
    assert not wall_exists(date(2026, 3, 8), time(2, 30), NY)
    assert wall_exists(date(2026, 3, 8), time(3, 0), NY)
    # as an opening or closing time it moves to the first instant after the gap: 03:00 EDT = 07:00 UTC
    assert instant(date(2026, 3, 8), time(2, 30), NY) == datetime(2026, 3, 8, 7, 0, tzinfo=timezone.utc)


def test_a_wall_time_repeated_by_fall_back_means_its_first_occurrence():
    first = instant(date(2026, 11, 1), time(1, 30), NY)
    assert first == datetime(2026, 11, 1, 5, 30, tzinfo=timezone.utc)  # still EDT
    assert parse_moment("2026-11-01T01:30", NY, "start") == first
    assert parse_moment("2026-11-01T01:30-05:00", NY, "start") == first + timedelta(hours=1)


def test_the_two_occurrences_of_a_repeated_wall_time_are_said_differently():
    first = datetime(2026, 11, 1, 5, 30, tzinfo=timezone.utc)
    second = first + timedelta(hours=1)
    assert say_time(first, NY) == "Sunday November 1st at 1:30 at night, before the clocks go back"
    assert say_time(second, NY) == "Sunday November 1st at 1:30 at night, after the clocks go back"
    assert say_time(first + timedelta(hours=3), NY) == "Sunday November 1st at 3:30 at night"


@pytest.mark.parametrize("n, word", [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"),
                                     (13, "13th"), (21, "21st"), (22, "22nd"), (23, "23rd"), (31, "31st")])
def test_ordinals(n, word):
    assert ordinal(n) == word


@pytest.mark.parametrize("h, m, words", [
    (9, 0, "9 in the morning"), (14, 30, "2:30 in the afternoon"), (12, 0, "noon"), (0, 0, "midnight"),
    (12, 15, "12:15 in the afternoon"), (18, 5, "6:05 in the evening"), (23, 0, "11 at night"),
    (4, 30, "4:30 at night"),
])
def test_clock_times_are_spoken_words(h, m, words):
    assert say_clock(h, m) == words


def test_a_time_is_said_in_the_clinics_zone_without_iso_or_pm():
    start = datetime(2026, 3, 12, 18, 30, tzinfo=timezone.utc)
    text = say_time(start, NY)
    assert text == "Thursday March 12th at 2:30 in the afternoon"
    assert say_day(date(2026, 12, 25)) == "Friday December 25th"
    grouped = say_openings([(start, "Dr Lee"), (datetime(2026, 3, 12, 19, 0, tzinfo=timezone.utc), "Dr Kim"),
                            (datetime(2026, 3, 13, 13, 0, tzinfo=timezone.utc), "Dr Lee")], NY)
    assert grouped == ("On Thursday March 12th I have 2:30 in the afternoon with Dr Lee or 3 in the afternoon "
                       "with Dr Kim. On Friday March 13th I have 9 in the morning with Dr Lee.")
    for bad in ("14:30", "PM", "T18", "\n", "+00:00"):
        assert bad not in grouped


@pytest.mark.parametrize("raw, region, e164", [
    ("(555) 234-4321", "US", "+15552344321"), ("+44 7700 900123", "US", "+447700900123"),
    ("07700 900123", "GB", "+447700900123"),
])
def test_phone_numbers_are_read_to_e164_in_the_clinics_country(raw, region, e164):
    assert to_e164(raw, region) == e164


@pytest.mark.parametrize("raw", ["701 0100", "12", "call me", "+1 555"])
def test_a_number_without_its_area_code_or_no_number_at_all_is_refused(raw):
    with pytest.raises(Unreadable) as e:
        to_e164(raw, "US")
    assert e.value.expected == "phone_number"
