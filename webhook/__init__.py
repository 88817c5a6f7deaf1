"""The aiohttp webhook Vapi calls: envelope parsing, authentication, the tool registry, HTTP routes."""

from .app import create_app

__all__ = ["create_app"]
