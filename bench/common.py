"""What the benchmarks share: where PostgreSQL is, and a free local port."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]


def admin_url() -> str:
    """DATABASE_URL's server if set, else 127.0.0.1:5432, else an embedded PostgreSQL."""
    for url in (os.environ.get("DATABASE_URL"), "postgresql://root@127.0.0.1:5432/postgres"):
        if not url:
            continue
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return url
        except psycopg.OperationalError:
            pass
    from frontdesk.embedded import start_postgres

    return start_postgres(ROOT / ".data" / "bench", database="postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
