"""Typed application keys for the resources create_app wires in."""

from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from frontdesk.outbox import Publisher
from frontdesk.settings import Settings
from store import SqlStore

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", SqlStore)
CLOCK = web.AppKey("clock", Callable[[], datetime])
PUBLISHER = web.AppKey("publisher", Publisher)
