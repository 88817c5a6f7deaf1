"""The admin JSON API under /admin/api/ (to be built)."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Add the API's routes."""
