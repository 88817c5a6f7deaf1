"""Typed application keys for the resources create_app wires in (built by frontdesk.bootstrap)."""

from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from frontdesk.outbox import Publisher
from frontdesk.settings import Settings
from store import SqlStore

SETTINGS = web.AppKey("settings", Settings)
#: the database engine and the store over it
STORE = web.AppKey("store", SqlStore)
Clock = Callable[[], datetime]
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
#: absent without REDIS_URL: jobs then wait in the outbox for the clock's relay
PUBLISHER = web.AppKey("publisher", Publisher)
