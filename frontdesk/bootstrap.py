"""The composition root: settings in, engine / store / migrations out. Both the web and (later) the worker
processes call these; nothing here runs at import time."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

import migrations
from domain.store import SqlStore, make_engine
from frontdesk.settings import Settings, sqlalchemy_url

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def migrate(database_url: str) -> None:
    """Bring the database to the newest schema (idempotent)."""
    command.upgrade(alembic_config(database_url), "head")


def build_store(settings: Settings) -> SqlStore:
    engine = make_engine(sqlalchemy_url(settings.database_url), settings.db_pool_size, settings.db_max_overflow)
    return SqlStore(engine, settings.secret_key)
