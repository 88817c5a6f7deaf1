"""GET /metrics: every metric in Prometheus' text format, behind METRICS_TOKEN when it is set."""

from __future__ import annotations

import asyncio
import hmac

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from adapters import metrics
from store.outbox import backlog_total

from .keys import SETTINGS, STORE
from .middlewares import LOG_FIELDS

log = structlog.get_logger("frontdesk.webhook")

#: a scrape never waits longer than this on the database for the outbox's backlog; without it, the rest is shown
BACKLOG_TIMEOUT_S = 2.0


def _authorized(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # constant-time: how long the comparison takes says nothing about how much of the token was right
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


async def metrics_endpoint(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if settings.metrics_token and not _authorized(request, settings.metrics_token):
        request[LOG_FIELDS]["outcome"] = "unauthorized"
        return web.json_response({"error": "unauthorized"}, status=401, headers={"WWW-Authenticate": "Bearer"})
    extra = []
    try:
        unpublished, _, age = backlog_total(
            await asyncio.wait_for(request.app[STORE].outbox_backlog(), BACKLOG_TIMEOUT_S))
        extra = metrics.outbox_backlog(unpublished, age)
    except Exception as e:  # the database is down or slow: the counters are still worth scraping
        log.warning("metrics_backlog_unavailable", error=type(e).__name__)
    body = await asyncio.to_thread(metrics.exposition, settings.prometheus_multiproc_dir, extra)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
