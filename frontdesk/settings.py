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
    #: web server processes (`frontdesk serve`); one per core is usual
    web_concurrency: int = 1
    log_format: str = "json"  # json | console
    #: key of the HMAC that turns webhook secrets into the hashes stored and looked up
    secret_key: str = DEV_SECRET_KEY
    db_pool_size: int = DEFAULT_DB_POOL_SIZE
    db_max_overflow: int = 10
    sms_backend: str = "console"  # console | twilio
    sms_log_path: str = ".data/sms.jsonl"
    twilio_account_sid: str = ""
    twilio_auth_token: str = field(default="", repr=False)
    twilio_from_number: str = ""
    #: where the Twilio client sends API calls; tests point it at a local fake
    twilio_api_base: str = ""
    #: this service's public base URL, for Twilio's delivery-status callbacks
    public_url: str = ""
    worker_processes: int = 2
    worker_threads: int = 4
    #: how long an idle worker waits before polling Redis again; bounds pick-up latency
    worker_idle_ms: int = 100
    #: Redis key prefix of the job queues (several deployments or test runs can share one Redis)
    queue_namespace: str = "dramatiq"
    environ: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        return cls(
            database_url=env.get("DATABASE_URL", ""),
            redis_url=env.get("REDIS_URL", ""),
            port=_int(env, "PORT", DEFAULT_PORT),
            web_concurrency=_int(env, "WEB_CONCURRENCY", 1),
            log_format=env.get("LOG_FORMAT", "json").lower(),
            secret_key=env.get("SECRET_KEY") or DEV_SECRET_KEY,
            db_pool_size=_int(env, "DB_POOL_SIZE", DEFAULT_DB_POOL_SIZE),
            db_max_overflow=_int(env, "DB_MAX_OVERFLOW", 10),
            sms_backend=env.get("SMS_BACKEND", "console").lower(),
            sms_log_path=env.get("SMS_LOG_PATH", ".data/sms.jsonl"),
            twilio_account_sid=env.get("TWILIO_ACCOUNT_SID", ""),
            twilio_auth_token=env.get("TWILIO_AUTH_TOKEN", ""),
            twilio_from_number=env.get("TWILIO_FROM_NUMBER", ""),
            twilio_api_base=env.get("TWILIO_API_BASE", ""),
            public_url=env.get("PUBLIC_URL", "").rstrip("/"),
            worker_processes=_int(env, "WORKER_PROCESSES", 2),
            worker_threads=_int(env, "WORKER_THREADS", 4),
            worker_idle_ms=_int(env, "WORKER_IDLE_MS", 100),
            queue_namespace=env.get("QUEUE_NAMESPACE", "dramatiq"),
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
