"""Signed requests, as Vapi's HMAC credential sends them: `x-signature` = HMAC(key, "{x-timestamp}.{raw body}").

Checked against the bytes that arrived, never against re-serialised JSON (key order and spacing would differ).
The timestamp's unit is undocumented, so seconds and milliseconds are both read; either way a request more
than REPLAY_WINDOW away from now, in the past or the future, is refused, so a captured request cannot be
replayed later. The answer says why a request was refused, for the log line only: never the key, never the
signature, and never to the caller.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone

from domain.model import VapiConfig

#: how far a signed request's timestamp may be from our clock, either way
REPLAY_WINDOW = timedelta(minutes=5)
#: timestamps above this are milliseconds (as seconds it would be the year 5138; as ms, 1973)
_MILLISECONDS_ABOVE = 10**11
#: a timestamp longer than this is not one (and int() of a huge string is slow)
_MAX_TIMESTAMP_DIGITS = 16

_DIGESTS = {"sha256": hashlib.sha256, "sha512": hashlib.sha512, "sha1": hashlib.sha1}


def _timestamp(value: str) -> datetime | None:
    if not (value.isascii() and value.isdigit()) or len(value) > _MAX_TIMESTAMP_DIGITS:
        return None
    n = int(value)
    seconds = n / 1000 if n > _MILLISECONDS_ABOVE else n
    try:
        return datetime.fromtimestamp(seconds, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _decoded(signature: str, encoding: str) -> bytes | None:
    try:
        if encoding == "base64":
            return base64.b64decode(signature, validate=True)
        return bytes.fromhex(signature)
    except (binascii.Error, ValueError):
        return None


def refusal(raw: bytes, headers: Mapping[str, str], key: str, config: VapiConfig, now: datetime) -> str | None:
    """None when `raw` carries a valid, fresh signature made with `key` as `config` describes; else why not
    (a word for the log). `headers` is looked up by the configured names (aiohttp's are case-insensitive)."""
    stamp = (headers.get(config.hmac_timestamp_header) or "").strip()
    signature = (headers.get(config.hmac_signature_header) or "").strip()
    if not stamp or not signature:
        return "signature_missing"
    when = _timestamp(stamp)
    if when is None:
        return "timestamp_unreadable"
    if abs(now - when) > REPLAY_WINDOW:
        return "timestamp_outside_window"
    if config.hmac_signature_prefix:
        signature = signature.removeprefix(config.hmac_signature_prefix)
    given = _decoded(signature, config.hmac_encoding)
    if given is None:
        return "signature_unreadable"
    digest = _DIGESTS.get(config.hmac_algorithm)
    if digest is None:  # the tenant file allows only the three above; a stored row could still be odd
        return "algorithm_unknown"
    expected = hmac.new(key.encode(), stamp.encode() + b"." + raw, digest).digest()
    if not hmac.compare_digest(expected, given):
        return "signature_mismatch"
    return None

