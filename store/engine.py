"""The engine and the keyed hash webhook secrets are stored as."""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def make_engine(url: str, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    return create_async_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=False)


def hash_secret(secret: str, key: str) -> str:
    """The keyed hash a webhook secret is stored and looked up as."""
    return hmac.new(key.encode(), secret.encode(), hashlib.sha256).hexdigest()
