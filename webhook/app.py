"""create_app(settings): the web application and the resources it owns, built per app, never at import."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone

import structlog
from aiohttp import web

from frontdesk import bootstrap
from frontdesk.outbox import Publisher
from frontdesk.settings import Settings, sqlalchemy_url
from store import SqlStore, make_engine

from .keys import CLOCK, PUBLISHER, SETTINGS, STORE
from .middlewares import access_log
from .routes import setup_routes

log = structlog.get_logger("frontdesk.webhook")

#: Vapi's end-of-call reports carry whole transcripts; allow them, refuse anything absurd
MAX_BODY_BYTES = 8 * 1024 * 1024


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def create_app(settings: Settings, *, store: SqlStore | None = None, publisher: Publisher | None = None,
               clock: Callable[[], datetime] = utc_now) -> web.Application:
    """The webhook app. Pass `store` (and `publisher`) to share them (tests, benchmarks); otherwise they
    are built from settings on start-up and disposed of on clean-up. Without a publisher (no REDIS_URL),
    jobs wait in the outbox for the clock's relay."""
    app = web.Application(middlewares=[access_log], client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app[CLOCK] = clock
    if store is not None:
        app[STORE] = store
        if publisher is not None:
            app[PUBLISHER] = publisher
    else:
        app.cleanup_ctx.append(_store_context)
    setup_routes(app)
    return app


async def _store_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = make_engine(sqlalchemy_url(settings.database_url), settings.db_pool_size, settings.db_max_overflow)
    store = SqlStore(engine, settings.secret_key)
    changed = await store.refresh_env_secrets(settings.environ)
    if changed:
        log.info("tenant_secrets_refreshed_from_env", tenants=changed)
    app[STORE] = store
    publisher = bootstrap.build_publisher(settings, store, app[CLOCK])
    if publisher is not None:
        app[PUBLISHER] = publisher
    yield
    if publisher is not None:
        await publisher.drain()
    await engine.dispose()
