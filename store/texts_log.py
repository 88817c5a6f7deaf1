"""What the admin messages page reads: recent texts with their delivery status, the outbox backlog, and
tenants' names for the job dashboard. Read-only, each on a connection of its own from the store's engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.model import mask_phone


@dataclass(frozen=True)
class TextRow:
    id: int
    tenant: str
    kind: str
    #: masked to its last four digits
    to: str
    status: str
    error_code: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Backlog:
    """Outbox rows not yet handed to the queues, and the age of the oldest."""

    unpublished: int
    oldest: datetime | None


_SQL_RECENT = text(
    "SELECT m.id, t.slug AS tenant, m.kind, m.to_phone, m.status, m.error_code, m.attempts, m.created_at, "
    "m.updated_at FROM sms_messages m JOIN tenants t ON t.id = m.tenant_id "
    "WHERE (CAST(:status AS text) IS NULL OR m.status = :status) ORDER BY m.id DESC LIMIT :n")


async def recent_texts(engine: AsyncEngine, limit: int = 100, status: str | None = None) -> list[TextRow]:
    """The newest texts first (the body is never read: a code's is never stored, the rest is private)."""
    async with engine.connect() as conn:
        rows = (await conn.execute(_SQL_RECENT, {"n": limit, "status": status})).all()
    return [TextRow(id=r.id, tenant=r.tenant, kind=r.kind, to=mask_phone(r.to_phone) or "", status=r.status,
                    error_code=r.error_code, attempts=r.attempts, created_at=r.created_at, updated_at=r.updated_at)
            for r in rows]


async def outbox_backlog(engine: AsyncEngine) -> Backlog:
    async with engine.connect() as conn:
        r = (await conn.execute(text("SELECT count(*) AS n, min(created_at) AS oldest FROM outbox "
                                     "WHERE published_at IS NULL"))).one()
    return Backlog(r.n, r.oldest)


async def tenant_slugs(engine: AsyncEngine) -> dict[int, str]:
    async with engine.connect() as conn:
        return {r.id: r.slug for r in (await conn.execute(text("SELECT id, slug FROM tenants"))).all()}
