"""A read-only view of the Dramatiq job queues in Redis: counts per queue, and pages of the delayed or
dead-lettered messages with their arguments redacted. Used by the admin API (and free for the dashboard).

    queues = JobQueues.from_url(redis_url, namespace)      # QUEUE_NAMESPACE; the queues of domain/jobs.py
    await queues.counts()                                  # [QueueCounts(queue, queued, in_progress, delayed, dead)]
    page = await queues.messages("confirmations", "dead", cursor=None, limit=50)   # MessagePage(items, next_cursor)
    await queues.aclose()

The key layout is dramatiq's RedisBroker (dramatiq/brokers/redis/dispatch.lua), for namespace N and queue Q:

    N:Q          list of the ids of messages waiting for a worker
    N:Q.msgs     hash id -> encoded message, for those waiting and those a worker fetched and has not acked
    N:Q.DQ.msgs  hash id -> message of every delayed message (a worker fetches them from the list N:Q.DQ at
                 once and keeps them in memory until their eta, then moves them to N:Q): so the hash, not
                 the list, is what is delayed
    N:Q.XQ       sorted set of dead-lettered ids (retries exhausted), scored by when, in ms
    N:Q.XQ.msgs  hash id -> message

Only these keys of the known queues are read, never KEYS or SCAN over the keyspace (HSCAN walks one hash).
A message is dramatiq's JSON: actor_name, args, kwargs, options (eta, retries, traceback, ...).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

import redis.asyncio as aioredis

from domain.jobs import QUEUES

State = Literal["delayed", "dead"]
STATES: tuple[State, ...] = ("delayed", "dead")
#: a page never holds more than this many messages
MAX_PAGE = 500
REDACTED = "[redacted]"

#: keyword and dict keys whose values are never shown
_SECRET_KEY = re.compile(r"secret|token|passw|code|otp|pin|key|auth|signature|cookie", re.IGNORECASE)
#: strings that look like a one-time code (4 to 8 digits)
_CODE = re.compile(r"\d{4,8}")
#: strings that look like a phone number in E.164: shown masked, as everywhere else
_PHONE = re.compile(r"\+\d{7,15}")
#: long unbroken strings mixing letters and digits: API keys, tokens, hashes
_TOKEN = re.compile(r"(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_\-+/=.]{20,}")


@dataclass(frozen=True)
class QueueCounts:
    queue: str
    queued: int  # waiting for a worker
    in_progress: int  # fetched by a worker and not yet acknowledged (running, or prefetched)
    delayed: int  # waiting for their eta (hold expiries, retries' backoff)
    dead: int  # retries exhausted; kept for DEAD_MESSAGE_TTL_MS (adapters/broker.py)


@dataclass(frozen=True)
class JobMessage:
    redis_id: str  # the key in the .msgs hash (dramatiq's redis_message_id)
    message_id: str
    queue: str
    actor: str
    args: list[Any]  # redacted
    kwargs: dict[str, Any]  # redacted
    enqueued_at: datetime | None
    eta: datetime | None  # delayed: when it becomes due
    retries: int
    dead_at: datetime | None  # dead: when it was dead-lettered
    error: str | None  # dead: the last line of its last traceback, redacted, at most 300 characters


@dataclass(frozen=True)
class MessagePage:
    items: list[JobMessage]
    next_cursor: str | None  # pass it back for the next page; None on the last page


def redact(value: Any, key: str | None = None) -> Any:
    """Arguments as they may be shown: values under secret-looking keys, code-like and token-like strings are
    replaced, phone numbers masked; ids and other numbers are kept (jobs carry ids, by design)."""
    if key is not None and _SECRET_KEY.search(key):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        if _PHONE.fullmatch(value):
            return "***" + value[-4:]
        if _CODE.fullmatch(value) or _TOKEN.fullmatch(value):
            return REDACTED
    return value


def _ms(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value / 1000, timezone.utc) if isinstance(value, (int, float)) else None


def _message(queue: str, redis_id: Any, raw: Any, dead_score: Any) -> JobMessage | None:
    if raw is None:  # acked or moved between our two reads
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        data = {}
    options = data.get("options") or {}
    trace = options.get("traceback")
    error = redact(trace.strip().splitlines()[-1][:300]) if isinstance(trace, str) and trace.strip() else None
    return JobMessage(
        redis_id=redis_id.decode() if isinstance(redis_id, bytes) else str(redis_id), message_id=str(data.get("message_id", "")), queue=queue,
        actor=str(data.get("actor_name", "")), args=redact(list(data.get("args") or [])),
        kwargs=redact(dict(data.get("kwargs") or {})), enqueued_at=_ms(data.get("message_timestamp")),
        eta=_ms(options.get("eta")), retries=int(options.get("retries") or 0), dead_at=_ms(dead_score),
        error=error)


class JobQueues:
    """Counts and pages of one deployment's queues (`namespace`, QUEUE_NAMESPACE); reads only."""

    def __init__(self, client: aioredis.Redis, namespace: str, queues: tuple[str, ...] = QUEUES) -> None:
        self.client = client
        self.namespace = namespace
        self.queues = queues

    @classmethod
    def from_url(cls, redis_url: str, namespace: str) -> JobQueues:
        """A view with a client of its own (no connection is made until the first read); close it with aclose()."""
        return cls(aioredis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5), namespace)

    async def aclose(self) -> None:
        await self.client.aclose()

    def _key(self, queue: str, suffix: str = "") -> str:
        return f"{self.namespace}:{queue}{suffix}"

    async def counts(self) -> list[QueueCounts]:
        """Each known queue's counts, read in one MULTI so that queued and in_progress agree."""
        pipe = self.client.pipeline(transaction=True)
        for q in self.queues:
            pipe.llen(self._key(q))
            pipe.hlen(self._key(q, ".msgs"))
            pipe.hlen(self._key(q, ".DQ.msgs"))
            pipe.zcard(self._key(q, ".XQ"))
        values = await pipe.execute()
        out = []
        for i, q in enumerate(self.queues):
            queued, held, delayed, dead = values[4 * i:4 * i + 4]
            out.append(QueueCounts(q, queued, max(held - queued, 0), delayed, dead))
        return out

    async def messages(self, queue: str, state: State, cursor: str | None = None, limit: int = 50) -> MessagePage:
        """A page of a queue's delayed messages (by eta; a page may hold a few more or fewer than `limit`, as
        HSCAN returns them) or dead-lettered ones (newest first). ValueError for an unknown queue, state or
        cursor."""
        if queue not in self.queues:
            raise ValueError(f"unknown queue {queue!r}")
        limit = max(1, min(limit, MAX_PAGE))
        if state == "dead":
            return await self._dead(queue, _offset(cursor), limit)
        if state == "delayed":
            return await self._delayed(queue, _offset(cursor), limit)
        raise ValueError(f"unknown state {state!r}")

    async def _dead(self, queue: str, offset: int, limit: int) -> MessagePage:
        found: list[Any] = await self.client.zrevrange(self._key(queue, ".XQ"), offset, offset + limit,
                                                       withscores=True)
        more = len(found) > limit
        ids = found[:limit]
        raws: list[Any] = await self.client.hmget(self._key(queue, ".XQ.msgs"), [i for i, _ in ids]) if ids else []
        items = [_message(queue, i, raw, score) for (i, score), raw in zip(ids, raws)]
        return MessagePage([m for m in items if m is not None], str(offset + limit) if more else None)

    async def _delayed(self, queue: str, cursor: int, limit: int) -> MessagePage:
        nxt, found = await self.client.hscan(self._key(queue, ".DQ.msgs"), cursor, count=limit)
        entries: dict[Any, Any] = found  # type: ignore[assignment]  # HSCAN without no_values: a dict
        items = [_message(queue, k, raw, None) for k, raw in entries.items()]
        page = sorted((m for m in items if m is not None),
                      key=lambda m: m.eta or datetime.max.replace(tzinfo=timezone.utc))
        return MessagePage(page, str(nxt) if nxt else None)


def _offset(cursor: str | None) -> int:
    if cursor is None or cursor == "":
        return 0
    if not cursor.isdigit():
        raise ValueError(f"bad cursor {cursor!r}")
    return int(cursor)
