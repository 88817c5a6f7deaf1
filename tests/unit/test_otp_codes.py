"""Reading a one-time code back from however the caller said it, pure (no database, no Redis)."""

from __future__ import annotations

import pytest

from domain.otp import normalize_code


@pytest.mark.parametrize("spoken, code", [
    ("123456", "123456"),
    ("1 2 3 4 5 6", "123456"),
    ("123-456", "123456"),
    ("one two three four five six", "123456"),
    ("One, two, three. Four five six", "123456"),
    (123456, "123456"),
    ("one double two three four five", "122345"),
])
def test_a_code_is_read_the_same_however_it_is_said(spoken, code):
    assert normalize_code(spoken) == code


def test_a_code_sent_as_a_number_keeps_its_leading_zeros():
    assert normalize_code(12345) == "012345"


@pytest.mark.parametrize("spoken", ["12345", "1234567", "abc", "", None, 1234567, True,
                                    "one two three four five sixty"])
def test_things_that_are_not_codes_are_refused(spoken):
    assert normalize_code(spoken) is None
