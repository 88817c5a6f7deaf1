"""Settings, read from the environment once, at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

#: used only when SECRET_KEY is unset (the dev demo and tests); production must set its own
DEV_SECRET_KEY = "frontdesk-dev-only-secret-key-change-me"
DEFAULT_PORT = 8080
DEFAULT_DB_POOL_SIZE = 10


def sqlalchemy_url(url: str) -> str:
    """postgresql://... (as Heroku and libpq write it) -> the psycopg 3 dialect SQLAlchemy needs."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    redis_url: str = ""
    port: int = DEFAULT_PORT
    log_format: str = "json"  # json | console
    #: key of the HMAC that turns webhook secrets into the hashes stored and looked up
    secret_key: str = DEV_SECRET_KEY
    db_pool_size: int = DEFAULT_DB_POOL_SIZE
    db_max_overflow: int = 10
    environ: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        return cls(
            database_url=env.get("DATABASE_URL", ""),
            redis_url=env.get("REDIS_URL", ""),
            port=_int(env, "PORT", DEFAULT_PORT),
            log_format=env.get("LOG_FORMAT", "json").lower(),
            secret_key=env.get("SECRET_KEY") or DEV_SECRET_KEY,
            db_pool_size=_int(env, "DB_POOL_SIZE", DEFAULT_DB_POOL_SIZE),
            db_max_overflow=_int(env, "DB_MAX_OVERFLOW", 10),
            environ=env,
        )


def _int(env: dict[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{key} must be a whole number, got {raw!r}") from None
