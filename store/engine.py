"""The engine and the keyed hash webhook secrets are stored as."""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

#: every session's TimeZone, whatever the server's, the database's or the role's default
_SESSION_OPTIONS = "-c TimeZone=UTC"


def make_engine(url: str, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    """An engine whose sessions run in UTC, so psycopg returns every timestamptz as a UTC datetime.

    Instants must be UTC in Python: `aware datetime + timedelta`, subtraction and comparison of two datetimes
    sharing one ZoneInfo are wall-clock arithmetic, so in a session zone such as America/New_York a value
    read back and shifted across a DST change would be off by an hour. In UTC wall clock and elapsed time agree.
    """
    # libpq options already in the URL (?options=-c%20...) are kept; ours come last, so they win
    given = make_url(url).query.get("options", ())
    options = " ".join([*((given,) if isinstance(given, str) else given), _SESSION_OPTIONS])
    return create_async_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=False,
                               connect_args={"options": options})


def hash_secret(secret: str, key: str) -> str:
    """The keyed hash a webhook secret is stored and looked up as."""
    return hmac.new(key.encode(), secret.encode(), hashlib.sha256).hexdigest()
