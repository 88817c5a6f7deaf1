"""/admin: the operators' side of the service (issue 9). Every route answers 404 while ADMIN_TOKEN is unset.

- api.py: the JSON API under /admin/api/ (Bearer ADMIN_TOKEN only; no cookies, so no CSRF) and its OpenAPI
  document at /admin/api/openapi.json.
- pages.py: the server-rendered pages (the job retry dashboard at /admin/jobs, messages, calls), signed in
  at /admin/login with a signed session cookie, every form POST carrying a CSRF token.
"""

from __future__ import annotations

from aiohttp import web


def setup_admin(app: web.Application) -> None:
    """Add the admin routes to the web app (called by create_app)."""
    from . import api, pages

    api.setup(app)
    pages.setup(app)
