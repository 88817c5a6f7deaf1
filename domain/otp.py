"""One-time codes, Twilio-Verify-like: 6 digits from `secrets`, stored only as a salted hash, read back
from however a caller says them ("1 2 3 4 5 6", "123-456", "one two three four five six")."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

CODE_LENGTH = 6

_WORDS = {"zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "to": "2", "too": "2", "three": "3",
          "four": "4", "for": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "ate": "8", "nine": "9"}


@dataclass(frozen=True)
class OtpPolicy:
    code_ttl_seconds: int = 300
    max_attempts: int = 5
    max_sends: int = 5
    send_window_seconds: int = 600
    resend_cooldown_seconds: int = 30


def new_code() -> str:
    return f"{secrets.randbelow(10 ** CODE_LENGTH):0{CODE_LENGTH}d}"


def new_salt() -> str:
    return secrets.token_hex(16)


def hash_code(code: str, salt: str) -> str:
    return hmac.new(salt.encode(), code.encode(), hashlib.sha256).hexdigest()


def code_matches(code: str, salt: str | None, code_hash: str | None) -> bool:
    if not salt or not code_hash:
        return False
    return hmac.compare_digest(hash_code(code, salt), code_hash)


def normalize_code(spoken: object) -> str | None:
    """The six digits in what the caller said, or None if it is not a code."""
    if isinstance(spoken, int) and not isinstance(spoken, bool):
        spoken = f"{spoken:0{CODE_LENGTH}d}" if 0 <= spoken < 10 ** CODE_LENGTH else str(spoken)
    if not isinstance(spoken, str) or len(spoken) > 100:
        return None
    digits = []
    for token in re.findall(r"[a-zA-Z]+|\d", spoken.lower()):
        if token.isdigit():
            digits.append(token)
        elif token in _WORDS:
            digits.append(_WORDS[token])
        elif token in ("double", "triple"):
            digits.append(token)
        else:
            return None
    out: list[str] = []
    repeat = 1
    for d in digits:
        if d == "double":
            repeat = 2
        elif d == "triple":
            repeat = 3
        else:
            out.extend([d] * repeat)
            repeat = 1
    code = "".join(out)
    return code if len(code) == CODE_LENGTH else None
