"""Vapi's REST API (the part the tool sync uses), over aiohttp: domain.vapi_sync.VapiApi.

Every call carries the clinic's key as `Authorization: Bearer`; the key is never logged. 429, 5xx and
requests that got no answer are tried again, up to `tries` times in all, waiting as Vapi's `Retry-After`
says (seconds or an HTTP date) or else exponentially; then VapiUnavailable. Any other 4xx raises
VapiRejected at once, with Vapi's response body (which says what was wrong).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import aiohttp
import structlog

from domain.vapi_sync import VapiRejected, VapiUnavailable

log = structlog.get_logger("frontdesk.vapi")

DEFAULT_BASE_URL = "https://api.vapi.ai"
#: requests in all, the first included, before a 429/5xx/no answer becomes VapiUnavailable
DEFAULT_TRIES = 5
#: the first wait without Retry-After; doubled each time (2, 4, 8, 16 s: Vapi's own sync tool's schedule)
DEFAULT_BACKOFF_S = 2.0
#: no wait is longer than this, whatever Retry-After says: the job's own retries take over beyond it
MAX_WAIT_S = 60.0
#: one request's limit; Vapi answers these in well under a second
REQUEST_TIMEOUT_S = 30.0
#: Vapi's bodies can be long; an error keeps this much of one
MAX_BODY_CHARS = 2000

Sleep = Callable[[float], Awaitable[None]]


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header (delay-seconds or an HTTP date) as seconds from now; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


class VapiClient:
    """One per process (bootstrap builds it); its aiohttp session is opened on first use, in the running
    event loop, and closed by `close()`. `sleep` is how it waits between tries (tests pass a recorder)."""

    def __init__(self, base_url: str = DEFAULT_BASE_URL, *, tries: int = DEFAULT_TRIES,
                 backoff_s: float = DEFAULT_BACKOFF_S, sleep: Sleep = asyncio.sleep,
                 timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.tries = max(1, tries)
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    def _wait(self, attempt: int, retry_after: str | None) -> float:
        told = retry_after_seconds(retry_after)
        wait = told if told is not None else self.backoff_s * 2 ** (attempt - 1)
        return min(wait, MAX_WAIT_S)

    async def _request(self, key: str, method: str, path: str, body: Any = None,
                       params: dict[str, str] | None = None) -> Any:
        what = f"{method} {path}"
        headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
        status, text, retry_after = 0, "", None
        for attempt in range(1, self.tries + 1):
            try:
                async with self._http().request(method, self.base_url + path, json=body, params=params,
                                                headers=headers) as resp:
                    status, text = resp.status, await resp.text()
                    retry_after = resp.headers.get("Retry-After")
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                status, text, retry_after = 0, f"{type(e).__name__}: {e}", None
            if 200 <= status < 300:
                return _json(text)
            if 400 <= status < 500 and status != 429:
                log.warning("vapi_rejected", request=what, status=status)
                raise VapiRejected(what, status, text[:MAX_BODY_CHARS])
            if attempt < self.tries:
                wait = self._wait(attempt, retry_after)
                log.info("vapi_retry", request=what, status=status, attempt=attempt, wait_s=wait)
                await self._sleep(wait)
        log.warning("vapi_unavailable", request=what, status=status, tries=self.tries)
        raise VapiUnavailable(what, status, text[:MAX_BODY_CHARS])

    async def list_tools(self, key: str) -> list[dict[str, Any]]:
        tools = await self._request(key, "GET", "/tool", params={"limit": "1000"})
        return tools if isinstance(tools, list) else []

    async def create_tool(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._request(key, "POST", "/tool", body))

    async def update_tool(self, key: str, tool_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._request(key, "PATCH", f"/tool/{quote(tool_id, safe='')}", body))

    async def delete_tool(self, key: str, tool_id: str) -> None:
        await self._request(key, "DELETE", f"/tool/{quote(tool_id, safe='')}")

    async def get_assistant(self, key: str, assistant_id: str) -> dict[str, Any]:
        return dict(await self._request(key, "GET", f"/assistant/{quote(assistant_id, safe='')}"))

    async def update_assistant(self, key: str, assistant_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._request(key, "PATCH", f"/assistant/{quote(assistant_id, safe='')}", body))


def _json(text: str) -> Any:
    return json.loads(text) if text.strip() else None
