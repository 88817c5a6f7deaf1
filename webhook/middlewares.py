"""One structured log line per request, and no stack trace ever reaches a caller."""

from __future__ import annotations

import time

import structlog
from aiohttp import web

log = structlog.get_logger("frontdesk.webhook")

#: per-request fields the handlers add to the access line (never secrets, never raw bodies)
LOG_FIELDS = web.RequestKey("log_fields", dict)


@web.middleware
async def access_log(request: web.Request, handler):
    started = time.perf_counter()
    fields: dict = {}
    request[LOG_FIELDS] = fields
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as e:
        status = e.status
        raise
    except Exception:
        log.exception("request_failed", path=request.path, **fields)
        return web.json_response({"error": "internal_error"}, status=500)
    finally:
        # probes and scrapes come every few seconds: logged only when they fail
        if request.path not in ("/healthz", "/readyz", "/metrics") or status >= 400:
            log.info("request", method=request.method, path=request.path, status=status,
                     duration_ms=round((time.perf_counter() - started) * 1000, 2), **fields)
