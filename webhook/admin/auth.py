"""Signing in to the admin pages: ADMIN_TOKEN, a session cookie, CSRF tokens and a limit on wrong guesses.

- A signed-in browser holds an encrypted, signed session cookie (aiohttp_session's Fernet storage, keyed from
  SECRET_KEY): HttpOnly, SameSite=Strict, path /admin, Secure when the request came over https.
- `Authorization: Bearer <ADMIN_TOKEN>` works too, for scripts; such requests carry no cookie, so no CSRF.
- Every form POST from a session carries `csrf_token`, a random value kept in that session.
- Wrong tokens (at sign-in or as a Bearer) are counted per client address: after MAX_FAILURES within
  FAILURE_WINDOW_S it answers 429 until the oldest failure ages out.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from aiohttp import web
from aiohttp_session import Session, get_session, new_session, session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.fernet import Fernet

#: wrong tokens one client address may try within FAILURE_WINDOW_S before it is refused with 429
MAX_FAILURES = 5
FAILURE_WINDOW_S = 300.0
#: a sign-in lasts this long
SESSION_MAX_AGE_S = 12 * 3600
COOKIE_NAME = "frontdesk_admin"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FailureLimit:
    """Counts wrong tokens per client address in a sliding window (in memory: per web process)."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = FAILURE_WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, who: str) -> deque[float]:
        now = self._clock()
        times = self._failures.get(who, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            self._failures.pop(who, None)
        return times

    def retry_after(self, who: str) -> int:
        """Seconds until `who` may try again; 0 when it may now."""
        times = self._recent(who)
        if len(times) < self.max_failures:
            return 0
        return max(1, int(times[0] + self.window_s - self._clock()) + 1)

    def failed(self, who: str) -> None:
        if len(self._failures) > 10_000:  # a flood of addresses cannot grow this without bound
            for key in list(self._failures)[:5_000]:
                self._recent(key)
        self._failures.setdefault(who, deque()).append(self._clock())


LIMIT = web.AppKey("admin_failure_limit", FailureLimit)
TOKEN = web.AppKey("admin_token", str)


class _Storage(EncryptedCookieStorage):
    """The cookie is Secure when the request came over https (directly, or via a proxy that says so)."""

    async def save_session(self, request: web.Request, response: web.StreamResponse, session: Session) -> None:
        # save_cookie reads these params synchronously below, before any other request can run
        self._cookie_params["secure"] = is_https(request)
        await super().save_session(request, response, session)


def is_https(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def session_key(secret_key: str) -> Fernet:
    """The cookie's Fernet key, derived from SECRET_KEY (never SECRET_KEY itself)."""
    digest = hmac.new(secret_key.encode(), b"frontdesk admin session cookie", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def setup(app: web.Application, admin_token: str, secret_key: str) -> None:
    """Sessions for /admin pages only, the token, and the failure limit."""
    app[TOKEN] = admin_token
    app[LIMIT] = FailureLimit()
    sessions = session_middleware(_Storage(session_key(secret_key), cookie_name=COOKIE_NAME, path="/admin",
                                           max_age=SESSION_MAX_AGE_S, httponly=True, samesite="Strict"))

    @web.middleware
    async def admin_sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/admin") and not request.path.startswith("/admin/api"):
            return await sessions(request, handler)
        return await handler(request)

    app.middlewares.append(admin_sessions)


def client_address(request: web.Request) -> str:
    return request.remote or "unknown"


def token_matches(request: web.Request, given: str) -> bool:
    """Constant-time comparison with ADMIN_TOKEN."""
    return hmac.compare_digest(given.encode(), request.app[TOKEN].encode())


def _fingerprint(request: web.Request) -> str:
    # a session names the token it was opened with: changing ADMIN_TOKEN signs everyone out
    return hmac.new(request.app[TOKEN].encode(), b"session", hashlib.sha256).hexdigest()[:16]


def too_many(request: web.Request) -> web.Response | None:
    wait = request.app[LIMIT].retry_after(client_address(request))
    if not wait:
        return None
    return web.Response(status=429, text=f"Too many wrong tokens. Try again in {wait} seconds.\n",
                        headers={"Retry-After": str(wait)})


async def sign_in(request: web.Request) -> Session:
    """A fresh session (a new CSRF token: nothing from before sign-in carries over)."""
    session = await new_session(request)
    session["admin"] = _fingerprint(request)
    session["csrf"] = secrets.token_urlsafe(24)
    return session


async def csrf_token(request: web.Request) -> str:
    """This session's CSRF token, made on first use (the sign-in form has one before anyone is signed in)."""
    session = await get_session(request)
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return str(session["csrf"])


async def csrf_ok(request: web.Request) -> bool:
    form = await request.post()
    given = form.get("csrf_token")
    session = await get_session(request)
    expected = session.get("csrf")
    return isinstance(given, str) and isinstance(expected, str) and hmac.compare_digest(given, expected)


def _wants_page(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "Authorization" not in request.headers and ("text/html" in accept or not accept or "*/*" in accept)


def required(handler: Handler) -> Handler:
    """Only for a signed-in session or a Bearer ADMIN_TOKEN; a session's POST also needs its CSRF token."""

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        if header:
            limited = too_many(request)
            if limited is not None:
                return limited
            scheme, _, given = header.partition(" ")
            if scheme.lower() == "bearer" and token_matches(request, given.strip()):
                return await handler(request)
            request.app[LIMIT].failed(client_address(request))
            raise web.HTTPUnauthorized(text="wrong or missing admin token\n",
                                       headers={"WWW-Authenticate": 'Bearer realm="frontdesk admin"'})
        session = await get_session(request)
        if not hmac.compare_digest(str(session.get("admin", "")), _fingerprint(request)):
            if request.method == "GET" and _wants_page(request):
                raise web.HTTPSeeOther("/admin/login?" + urlencode({"next": request.rel_url.path_qs}))
            raise web.HTTPUnauthorized(text="sign in first\n",
                                       headers={"WWW-Authenticate": 'Bearer realm="frontdesk admin"'})
        if request.method == "POST" and not await csrf_ok(request):
            raise web.HTTPForbidden(text="missing or wrong csrf_token: reload the page and try again\n")
        return await handler(request)

    return guarded
