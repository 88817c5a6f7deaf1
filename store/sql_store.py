"""SqlStore: the engine's owner, composed of the per-concern mixins; hands out units of work."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.model import Schedule

from .admin import AdminStoreMixin
from .bookings import BookingsStoreMixin
from .otp import OtpStoreMixin
from .results import ResultWriter
from .outbox import OutboxStoreMixin
from .sms import SmsStoreMixin
from .tenants import TenantAuth, TenantsStoreMixin, VapiTenant
from .uow import SqlUnitOfWork
from .vapi import VapiSyncStoreMixin


class SqlStore(TenantsStoreMixin, BookingsStoreMixin, OtpStoreMixin, SmsStoreMixin, OutboxStoreMixin,
               VapiSyncStoreMixin, AdminStoreMixin):
    """Owns the engine and a per-process cache of tenant schedules (keyed by configuration version)."""

    def __init__(self, engine: AsyncEngine, secret_key: str) -> None:
        self.engine = engine
        self._secret_key = secret_key
        self._auth_cache: dict[str, tuple[TenantAuth, float]] = {}
        self._vapi_cache: dict[tuple[str, ...], tuple[VapiTenant, float]] = {}
        self._schedules: dict[int, Schedule] = {}
        #: read-only tools' answers, written in batches off the request path
        self.results = ResultWriter(engine)

    async def close(self) -> None:
        """Write what is still waiting to be written, then close the engine's connections."""
        await self.results.flush()
        await self.engine.dispose()

    _SQL_PING = text("SELECT 1")

    async def ping(self) -> bool:
        async with self.engine.connect() as conn:
            await conn.execute(self._SQL_PING)
        return True

    def uow(self, tenant: TenantAuth, read_only: bool = False) -> SqlUnitOfWork:
        """A unit of work for one tenant. Read-only ones run in autocommit (no BEGIN/COMMIT round trips)."""
        return SqlUnitOfWork(self, tenant.id, tenant.version, read_only)
