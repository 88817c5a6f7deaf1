"""The engine, the units of work's connection pool, and the keyed hash webhook secrets are stored as."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from .base import row_factory

#: every session's TimeZone, whatever the server's, the database's or the role's default
_SESSION_OPTIONS = "-c TimeZone=UTC"

#: how long a unit of work waits for a connection of the pool: a caller kept waiting longer than this has heard
#: silence for too long anyway, and with the database down it gets an apology instead of a hang
POOL_TIMEOUT_SECONDS = 10.0


def _session_options(url: URL) -> str:
    # libpq options already in the URL (?options=-c%20...) are kept; ours come last, so they win
    given = url.query.get("options", ())
    return " ".join([*((given,) if isinstance(given, str) else given), _SESSION_OPTIONS])


def make_engine(url: str, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    """An engine whose sessions run in UTC, so psycopg returns every timestamptz as a UTC datetime.

    Instants must be UTC in Python: `aware datetime + timedelta`, subtraction and comparison of two datetimes
    sharing one ZoneInfo are wall-clock arithmetic, so in a session zone such as America/New_York a value
    read back and shifted across a DST change would be off by an hour. In UTC wall clock and elapsed time agree.
    """
    return create_async_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=False,
                               connect_args={"options": _session_options(make_url(url))})


def make_pool(url: str | URL, min_size: int, max_size: int) -> AsyncConnectionPool[AsyncConnection[Any]]:
    """The units of work's psycopg pool (closed: SqlStore opens it in the running event loop), for the same
    database as the engine and with the same session options (UTC). `url` is a libpq or SQLAlchemy URL.

    Its connections are in autocommit (a writing unit of work sends its own BEGIN), return rows by column
    name (store.base.Row), and prepare a statement on the server once it ran `prepare_threshold` (psycopg's
    default, 5) times on them. `min_size` connections are opened up front and kept, up to `max_size` while
    units of work wait for one; those above `min_size` close after 10 minutes idle.
    """
    sa_url = make_url(url)
    conninfo = sa_url.set(drivername="postgresql", query={k: v for k, v in sa_url.query.items() if k != "options"})
    kwargs: dict[str, Any] = {"autocommit": True, "row_factory": row_factory, "options": _session_options(sa_url)}
    return AsyncConnectionPool(conninfo.render_as_string(hide_password=False), kwargs=kwargs, min_size=min_size,
                               max_size=max_size, open=False, timeout=POOL_TIMEOUT_SECONDS, name="frontdesk-uow")


def hash_secret(secret: str, key: str) -> str:
    """The keyed hash a webhook secret is stored and looked up as."""
    return hmac.new(key.encode(), secret.encode(), hashlib.sha256).hexdigest()
