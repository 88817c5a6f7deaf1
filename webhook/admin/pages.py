"""The admin pages: the job retry dashboard, messages and calls (to be built)."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Add the pages' routes."""
