"""create_app(settings): the web application and the resources it owns, built per app, never at import.

Each resource is built by frontdesk.bootstrap (the one composition root) in its own cleanup context,
stored under its typed key (keys.py), and closed in reverse order on clean-up: the publisher drains
before the store (the database engine it marks rows through, and the tools' pool) is closed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone

import structlog
from aiohttp import web

from frontdesk import bootstrap
from frontdesk.outbox import Publisher
from frontdesk.settings import Settings
from store import SqlStore

from .keys import CLOCK, PUBLISHER, SETTINGS, STORE
from .middlewares import access_log
from .admin import setup_admin
from .routes import setup_routes

log = structlog.get_logger("frontdesk.webhook")

#: Vapi's end-of-call reports carry whole transcripts; allow them, refuse anything absurd
MAX_BODY_BYTES = 8 * 1024 * 1024


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def create_app(settings: Settings, *, store: SqlStore | None = None, publisher: Publisher | None = None,
               clock: Callable[[], datetime] = utc_now) -> web.Application:
    """The webhook app. Its store and publisher are built from `settings` on start-up and closed on
    clean-up; pass `store` or `publisher` to share your own instead (tests, benchmarks), which the app
    then leaves open. Without a publisher (no REDIS_URL), jobs wait in the outbox for the clock's relay."""
    app = web.Application(middlewares=[access_log], client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app[CLOCK] = clock
    if store is None:
        app.cleanup_ctx.append(store_context)
    else:
        app[STORE] = store
    if publisher is None:
        app.cleanup_ctx.append(publisher_context)
    else:
        app[PUBLISHER] = publisher
    setup_routes(app)
    setup_admin(app)
    return app


async def store_context(app: web.Application) -> AsyncIterator[None]:
    """The store, its engine and its pool, opened in the server's event loop; tenants' webhook secrets kept in
    the environment are re-read first. On clean-up both are closed."""
    settings = app[SETTINGS]
    store = bootstrap.build_store(settings)
    try:
        changed = await store.refresh_env_secrets(settings.environ)
        if changed:
            log.info("tenant_secrets_refreshed_from_env", tenants=changed)
        await store.open()
        app[STORE] = store
        yield
    finally:
        await store.close()


async def publisher_context(app: web.Application) -> AsyncIterator[None]:
    """The after-commit publisher, when REDIS_URL is set; on clean-up, publishes in flight finish first."""
    publisher = bootstrap.build_publisher(app[SETTINGS], app[STORE], app[CLOCK])
    if publisher is None:
        yield
        return
    app[PUBLISHER] = publisher
    yield
    await publisher.drain()
