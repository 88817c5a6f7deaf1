"""Phone numbers: parsed and normalised to E.164 with `phonenumbers`, masked for anything that is logged."""

from __future__ import annotations

import phonenumbers

from .model import Unreadable


def to_e164(raw: str, region: str) -> str:
    """'(555) 234-4321' in region 'US' -> '+15552344321'. Raises Unreadable for non-numbers, and for a local
    number without its area code ('701 0100'), which no text could reach."""
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or (phonenumbers.is_possible_number_with_reason(parsed)
                          != phonenumbers.ValidationResult.IS_POSSIBLE):
        raise Unreadable("phone_number", "unreadable")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def written(e164: str, region: str) -> str:
    """How a number is written in a text: national format at home ('(555) 701-0100'), else international."""
    parsed = phonenumbers.parse(e164, region)
    if parsed.country_code == phonenumbers.country_code_for_region(region):
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
