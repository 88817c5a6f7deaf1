"""The composition root: settings in; engine and store, broker and publisher, SMS sender, Vapi client,
migrations out.
The web, worker and clock processes all build their resources here, and only here; nothing here runs at
import time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config

import migrations
from frontdesk.settings import Settings, sqlalchemy_url
from store import SqlStore, make_engine, make_pool

if TYPE_CHECKING:
    from dramatiq.brokers.redis import RedisBroker

    from adapters.vapi import VapiClient
    from domain.vapi_sync import SyncSettings

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
    """The store: its engine and its units of work's pool are both sized by DB_POOL_SIZE and DB_MAX_OVERFLOW,
    and connect only when used (the pool: once opened, which only the web process does)."""
    engine = make_engine(sqlalchemy_url(settings.database_url), settings.db_pool_size, settings.db_max_overflow)
    pool = make_pool(settings.database_url, settings.db_pool_size, settings.db_pool_size + settings.db_max_overflow)
    return SqlStore(engine, settings.secret_key, pool)


def build_broker(settings: Settings, *, publisher: bool = False) -> RedisBroker:
    """The Dramatiq broker on REDIS_URL, in QUEUE_NAMESPACE: a worker's, or (`publisher=True`) one that
    only enqueues and fails fast (web and clock processes)."""
    from adapters.broker import build_broker as redis_broker

    return redis_broker(settings.redis_url, publisher=publisher, namespace=settings.queue_namespace)


def build_sms_sender(settings: Settings):
    """The SMS port's implementation chosen by SMS_BACKEND: `console` (dev default) or `twilio`."""
    from adapters.sms import ConsoleSms, TwilioSms

    if settings.sms_backend == "twilio":
        if not (settings.twilio_account_sid and settings.twilio_auth_token):
            raise SystemExit("SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
        callback = f"{settings.public_url}/twilio/status" if settings.public_url else None
        return TwilioSms(settings.twilio_account_sid, settings.twilio_auth_token,
                         settings.twilio_from_number or None, callback, settings.twilio_api_base or None,
                         settings.environ)
    if settings.sms_backend != "console":
        raise SystemExit(f"SMS_BACKEND must be console or twilio, not {settings.sms_backend!r}")
    return ConsoleSms(settings.sms_log_path)


def build_vapi_client(settings: Settings, sleep: Callable[[float], Awaitable[None]] | None = None) -> VapiClient:
    """Vapi's REST API at VAPI_BASE_URL (its session opens on first use, in the caller's event loop);
    `sleep` is how it waits between retries (tests record the waits instead)."""
    from adapters.vapi import VapiClient

    return VapiClient(settings.vapi_base_url) if sleep is None else VapiClient(settings.vapi_base_url, sleep=sleep)


def vapi_sync_settings(settings: Settings) -> SyncSettings:
    """What the Vapi tool sync reads from the settings and the environment."""
    from domain.vapi_sync import SyncSettings

    return SyncSettings(public_url=settings.public_url, default_api_key=settings.vapi_api_key,
                        environ=settings.environ)


def build_publisher(settings: Settings, store: SqlStore, clock):
    """The after-commit publisher, or None when REDIS_URL is unset (jobs then wait in the outbox)."""
    from frontdesk.outbox import Publisher

    if not settings.redis_url:
        return None
    return Publisher(build_broker(settings, publisher=True), store, clock)
