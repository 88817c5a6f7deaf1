"""structlog set-up: one JSON object per line in production, readable colours in dev (LOG_FORMAT)."""

from __future__ import annotations

import logging
import sys

import orjson
import structlog


def _dumps(event: dict, **_: object) -> str:
    """orjson instead of json: a third of the cost of the access line written for every request."""
    return orjson.dumps(event, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()


def configure(log_format: str = "json", level: int = logging.INFO) -> None:
    renderer = (structlog.dev.ConsoleRenderer() if log_format == "console"
                else structlog.processors.JSONRenderer(serializer=_dumps))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info if log_format != "console" else structlog.processors.StackInfoRenderer(),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # One write() per line, message and newline together: print() writes them separately, and with several
        # processes on one stdout pipe two lines could interleave into one (a log shipper drops those). The
        # factory runs for every line (nothing is cached), so it writes to sys.stdout as it is at that moment.
        logger_factory=structlog.WriteLoggerFactory(),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
