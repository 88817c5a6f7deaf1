"""Settings, read from the environment once, at start-up.

Each setting is the environment variable of its name in capitals (`port` is PORT), declared once below with
its type and default; pydantic-settings reads them and pydantic checks them. An empty variable counts as unset.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, PrivateAttr, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

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


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


#: a count of processes, threads, connections or milliseconds: 1 or more
Count = Annotated[int, Field(ge=1)]


class Settings(BaseSettings):
    """`Settings.from_env()` reads the environment; `Settings(port=9000, ...)` holds just what it is given."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid", env_ignore_empty=True)

    database_url: str = ""
    redis_url: str = ""
    port: int = Field(DEFAULT_PORT, ge=1, le=65535)
    #: web server processes (`frontdesk serve`); one per core is usual
    web_concurrency: Count = 1
    #: the web process's event loop: uvloop (faster, measured in bench/README.md) or Python's own asyncio
    web_event_loop: Annotated[Literal["uvloop", "asyncio"], BeforeValidator(_lower)] = "uvloop"
    log_format: Annotated[Literal["json", "console"], BeforeValidator(_lower)] = "json"
    #: key of the HMAC that turns webhook secrets into the hashes stored and looked up
    secret_key: Annotated[str, AfterValidator(lambda key: key or DEV_SECRET_KEY)] = Field(DEV_SECRET_KEY, repr=False)
    db_pool_size: Count = DEFAULT_DB_POOL_SIZE
    db_max_overflow: int = Field(10, ge=0)
    sms_backend: Annotated[Literal["console", "twilio"], BeforeValidator(_lower)] = "console"
    sms_log_path: str = ".data/sms.jsonl"
    twilio_account_sid: str = ""
    twilio_auth_token: str = Field("", repr=False)
    twilio_from_number: str = ""
    #: where the Twilio client sends API calls; tests point it at a local fake
    twilio_api_base: str = ""
    #: this service's public base URL, for Twilio's delivery-status callbacks and the URLs the Vapi tool sync
    #: gives Vapi's tools (kept without a trailing /)
    public_url: Annotated[str, AfterValidator(lambda url: url.rstrip("/"))] = ""
    #: Vapi's REST API, for `frontdesk vapi sync`; tests point it at a local fake
    vapi_base_url: Annotated[str, AfterValidator(lambda url: url.rstrip("/"))] = "https://api.vapi.ai"
    #: the Vapi private API key of every clinic whose [vapi] api_key_env names no key of its own
    vapi_api_key: str = Field("", repr=False)
    worker_processes: Count = 2
    worker_threads: Count = 4
    #: how long an idle worker waits before polling Redis again; bounds pick-up latency
    worker_idle_ms: Count = 100
    #: Redis key prefix of the job queues (several deployments or test runs can share one Redis)
    queue_namespace: str = "dramatiq"
    #: how often a failed confirmation text is retried (with backoff) before it is dead-lettered; `frontdesk dev`
    #: uses 2, so a failure forced in the demo reaches the dashboard's dead letters within seconds
    text_retries: Annotated[int, Field(ge=0, le=50)] = 12
    #: the operators' token for /admin (dashboard sign-in and `Authorization: Bearer` on /admin/api);
    #: unset: every /admin route answers 404
    admin_token: str = Field("", repr=False)
    #: when set, /metrics needs `Authorization: Bearer <METRICS_TOKEN>`; unset: /metrics is open
    metrics_token: str = Field("", repr=False)
    #: where every process on this machine writes its metric values, summed by /metrics (prometheus_client's
    #: multiprocess mode; its own variable name). `frontdesk serve --processes 2+` and `frontdesk dev` make one
    #: when unset; set it to the same directory for the web and worker processes of one machine
    prometheus_multiproc_dir: str = ""

    _environ: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def environ(self) -> dict[str, str]:
        """The whole environment the settings were read from: tenant files name variables of their own
        (webhook_secret_env, auth_token_env)."""
        return self._environ

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings in `environ`, or else in the process environment. A bad value exits with one line
        that names its variable: "PORT must be a whole number, got 'abc'"."""
        env = dict(os.environ if environ is None else environ)
        try:
            settings = cls(**_Environment(cls, env)())
        except ValidationError as e:
            raise SystemExit("; ".join(_complaint(error) for error in e.errors())) from None
        settings._environ = env
        return settings

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # only what the constructor is given: from_env() passes what it read, tests pass what they need,
        # and nothing is taken from the process environment behind their back
        return (init_settings,)


class _Environment(EnvSettingsSource):
    """pydantic-settings' reading of environment variables, from a given environment instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._given = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:  # the hook its dotenv sibling overrides too
        return {name if self.case_sensitive else name.lower(): value for name, value in self._given.items()
                if not (self.env_ignore_empty and value == "")}


def _complaint(error: Any) -> str:
    """pydantic's error about one setting -> "PORT must be a whole number, got 'abc'"."""
    kind, ctx = error["type"], error.get("ctx", {})
    if kind in ("int_parsing", "int_type", "int_from_float"):
        what = "must be a whole number"
    elif kind == "greater_than_equal":
        what = f"must be at least {ctx['ge']}"
    elif kind == "less_than_equal":
        what = f"must be at most {ctx['le']}"
    elif kind == "literal_error":
        what = f"must be {ctx['expected']}"
    else:
        what = f"is not right ({error['msg']})"
    return f"{str(error['loc'][0]).upper()} {what}, got {error['input']!r}"
