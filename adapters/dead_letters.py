"""The job queues as an operator sees them: counts per queue, the jobs that failed (dead-lettered, or waiting
to be retried), and retrying or deleting a dead-lettered one.

It reads the keys Dramatiq's RedisBroker writes (dramatiq/brokers/redis/dispatch.lua), for the queues of
domain/jobs.py only, never a KEYS or SCAN of the keyspace. In namespace `ns`, queue `q`:

- `ns:q` a list of message ids waiting; `ns:q.msgs` a hash id -> message of those waiting or running;
- `ns:q.DQ` / `ns:q.DQ.msgs` the same for delayed messages (an eta, or a retry's backoff): a worker fetches
  them at once and keeps them in memory until their eta, so the hash, not the list, is what is delayed;
- `ns:q.XQ` a sorted set of dead-lettered ids scored by when (ms), `ns:q.XQ.msgs` their messages.

A message is Dramatiq's JSON: queue_name, actor_name, args, kwargs, options, message_id, message_timestamp.
The Retries middleware keeps in its options the failed attempts so far (`retries`), the last exception's
traceback (`traceback`) and when it failed (`requeue_timestamp`).
"""

from __future__ import annotations

import heapq
import json
import re
import traceback as tb
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

import dramatiq
import redis.asyncio as aioredis

from domain.model import mask_phone

#: how many ids one Redis round trip reads or moves while scanning a queue for a filter or retrying all of it
CHUNK = 500

# Moves dead-lettered messages back to their queue, each only if it is still dead-lettered: ZREM is the
# test-and-set, so of two admins retrying one job at once exactly one enqueues it.
# KEYS: xq, xq.msgs, q, q.msgs; ARGV: (dead id, new id, new message) per message. Returns how many moved.
_RETRY = """
local moved = 0
for i = 1, #ARGV, 3 do
    if redis.call("zrem", KEYS[1], ARGV[i]) == 1 then
        redis.call("hdel", KEYS[2], ARGV[i])
        redis.call("hset", KEYS[4], ARGV[i + 1], ARGV[i + 2])
        redis.call("rpush", KEYS[3], ARGV[i + 1])
        moved = moved + 1
    end
end
return moved
"""

# KEYS: xq, xq.msgs; ARGV: dead id. 1 if it was there.
_DELETE = """
if redis.call("zrem", KEYS[1], ARGV[1]) == 1 then
    redis.call("hdel", KEYS[2], ARGV[1])
    return 1
end
return 0
"""

# Delayed messages that are retries (options.retries > 0), counted in Redis: no message leaves the server.
# KEYS: q.DQ.msgs
_COUNT_RETRYING = """
local n = 0
for _, data in ipairs(redis.call("hvals", KEYS[1])) do
    local ok, message = pcall(cjson.decode, data)
    if ok and type(message.options) == "table" and (tonumber(message.options.retries) or 0) > 0 then
        n = n + 1
    end
end
return n
"""


# KEYS: q.msgs; ARGV: id, message. Overwrites a message only while it is still there.
_KEEP = """
if redis.call("hexists", KEYS[1], ARGV[1]) == 1 then
    redis.call("hset", KEYS[1], ARGV[1], ARGV[2])
end
"""


class KeepLastError(dramatiq.Middleware):
    """Broker middleware: a dead-lettered message keeps the error that killed it.

    The broker's nack moves the message as it was last enqueued, so without this the dead letter carries
    the error of the attempt before (or none: `max_retries=0`, or an exception in the actor's `throws`).
    Just before the nack, the message with its final options (retries, traceback) replaces the stored one.
    """

    def after_process_message(self, broker, message, *, result=None, exception=None):
        # runs before Retries' hook (after-hooks run in reverse), which overwrites it when it counts the failure
        if exception is not None:
            message.options["traceback"] = "".join(tb.format_exception(exception, limit=30))

    def before_nack(self, broker, message):
        client = getattr(broker, "client", None)
        redis_id = message.options.get("redis_message_id")
        if client is None or redis_id is None:
            return
        key = f"{broker.namespace}:{message.queue_name}.msgs"
        client.eval(_KEEP, 1, key, redis_id, message.encode())


@dataclass(frozen=True)
class QueueCounts:
    """One queue: `queued` waiting or running, `delayed` waiting for an eta (retries included), `retrying`
    the delayed ones that failed before, `dead` dead-lettered (retries used up, kept for inspection)."""

    queue: str
    queued: int
    delayed: int
    retrying: int
    dead: int


State = Literal["dead", "retrying"]


@dataclass(frozen=True)
class FailedJob:
    """A dead-lettered or retrying job, as shown to an operator (arguments redacted)."""

    queue: str
    state: State
    #: the message's id in Redis (what retry and delete take)
    id: str
    actor: str
    #: the first argument, by convention the tenant's id; None for jobs without one
    tenant_id: int | None
    args: str
    #: attempts that failed so far
    attempts: int
    #: the last exception's final line, phone numbers masked; None when none was recorded
    error: str | None
    #: when it failed last (dead: when it was dead-lettered)
    failed_at: datetime | None
    #: when it runs again (retrying only)
    next_at: datetime | None
    #: how many times an operator retried it
    manual_retries: int


@dataclass(frozen=True)
class JobPage:
    jobs: list[FailedJob]
    #: how many jobs match the filters in all
    total: int
    offset: int
    limit: int


class DeadLetters:
    """Counts, failed jobs, retry and delete over the queues `queues` in namespace `namespace`."""

    def __init__(self, client: aioredis.Redis, namespace: str, queues: Sequence[str]) -> None:
        # typed Any: redis-py's annotations give every reply one union of all reply types
        self._redis: Any = client
        self._ns = namespace
        self.queues = tuple(queues)
        self._retry = client.register_script(_RETRY)
        self._delete = client.register_script(_DELETE)
        self._count_retrying = client.register_script(_COUNT_RETRYING)

    @classmethod
    def from_url(cls, url: str, namespace: str, queues: Sequence[str]) -> DeadLetters:
        return cls(aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5), namespace, queues)

    async def close(self) -> None:
        await self._redis.aclose()

    def _key(self, queue: str, suffix: str = "") -> str:
        if queue not in self.queues:
            raise ValueError(f"unknown queue {queue!r}")
        return f"{self._ns}:{queue}{suffix}"

    async def counts(self) -> list[QueueCounts]:
        """Every queue's counts, in one round trip."""
        pipe = self._redis.pipeline(transaction=False)
        for q in self.queues:
            pipe.hlen(self._key(q, ".msgs"))
            pipe.hlen(self._key(q, ".DQ.msgs"))
            pipe.zcard(self._key(q, ".XQ"))
        raw = await pipe.execute()
        retrying = [await self._count_retrying(keys=[self._key(q, ".DQ.msgs")]) for q in self.queues]
        return [QueueCounts(q, raw[3 * i], raw[3 * i + 1], retrying[i], raw[3 * i + 2])
                for i, q in enumerate(self.queues)]

    async def jobs(self, state: State = "dead", *, queue: str | None = None, tenant_id: int | None = None,
                   actor: str | None = None, offset: int = 0, limit: int = 50) -> JobPage:
        """A page of dead-lettered jobs (newest first) or retrying ones (next to run first), optionally only
        one queue's, one tenant's or one actor's."""
        queues = [queue] if queue else list(self.queues)
        for q in queues:
            self._key(q)
        offset, limit = max(0, offset), max(1, limit)

        def wanted(job: FailedJob) -> bool:
            return (tenant_id is None or job.tenant_id == tenant_id) and (actor is None or job.actor == actor)

        if state == "dead" and tenant_id is None and actor is None:
            # no filter: each queue's newest offset+limit ids by score, merged; only the page is read
            per_queue = []
            for q in queues:
                ids = await self._redis.zrevrange(self._key(q, ".XQ"), 0, offset + limit - 1, withscores=True)
                per_queue.append([(-score, q, _text(mid)) for mid, score in ids])
            page = list(heapq.merge(*per_queue))[offset:offset + limit]
            total = sum([await self._redis.zcard(self._key(q, ".XQ")) for q in queues])
            jobs = []
            for neg_score, q, mid in page:
                data = await self._redis.hget(self._key(q, ".XQ.msgs"), mid)
                if data is not None:
                    jobs.append(_job(q, "dead", mid, data, -neg_score))
            return JobPage(jobs, total, offset, limit)

        found: list[FailedJob] = []
        for q in queues:
            source = self._dead(q) if state == "dead" else self._retrying(q)
            found.extend([job async for job in source if wanted(job)])
        if state == "dead":
            found.sort(key=lambda j: j.failed_at or _EPOCH, reverse=True)
        else:
            found.sort(key=lambda j: j.next_at or _EPOCH)
        return JobPage(found[offset:offset + limit], len(found), offset, limit)

    async def _dead(self, queue: str):
        xq, msgs = self._key(queue, ".XQ"), self._key(queue, ".XQ.msgs")
        start = 0
        while True:
            ids = await self._redis.zrevrange(xq, start, start + CHUNK - 1, withscores=True)
            if not ids:
                return
            datas = await self._redis.hmget(msgs, [mid for mid, _ in ids])
            for (mid, score), data in zip(ids, datas):
                if data is not None:
                    yield _job(queue, "dead", _text(mid), data, score)
            start += CHUNK

    async def _retrying(self, queue: str):
        # HSCAN walks this one known hash in steps, not the keyspace
        async for mid, data in self._redis.hscan_iter(self._key(queue, ".DQ.msgs"), count=CHUNK):
            job = _job(queue, "retrying", _text(mid), data, None)
            if job.attempts > 0:
                yield job

    async def retry(self, queue: str, message_id: str) -> bool:
        """Put dead-lettered message `message_id` back on its queue, with its retries reset (the actor's
        failure policy applies afresh). False if it is no longer dead-lettered (retried or deleted already)."""
        data = await self._redis.hget(self._key(queue, ".XQ.msgs"), message_id)
        if data is None:
            return False
        return await self._move(queue, [(message_id, data)]) == 1

    async def retry_all(self, queue: str) -> int:
        """Retry every job dead-lettered in `queue` until now; returns how many went back on the queue."""
        xq, msgs = self._key(queue, ".XQ"), self._key(queue, ".XQ.msgs")
        newest = await self._redis.zrevrange(xq, 0, 0, withscores=True)
        if not newest:
            return 0
        # only what was dead when asked: a retried job that fails again at once is not picked up again
        cutoff = newest[0][1]
        moved = 0
        while True:
            ids = await self._redis.zrangebyscore(xq, "-inf", cutoff, start=0, num=CHUNK)
            if not ids:
                return moved
            datas = await self._redis.hmget(msgs, ids)
            pairs = [(_text(mid), data) for mid, data in zip(ids, datas) if data is not None]
            orphans = [mid for mid, data in zip(ids, datas) if data is None]
            if orphans:  # an id whose message is gone cannot be retried; drop it so the loop ends
                await self._redis.zrem(xq, *orphans)
            if pairs:
                moved += await self._move(queue, pairs)

    async def delete(self, queue: str, message_id: str) -> bool:
        """Drop dead-lettered message `message_id` for good. False if it was not there."""
        return await self._delete(keys=[self._key(queue, ".XQ"), self._key(queue, ".XQ.msgs")],
                                  args=[message_id]) == 1

    async def _move(self, queue: str, pairs: Iterable[tuple[str, bytes | str]]) -> int:
        args: list[str] = []
        for dead_id, data in pairs:
            new_id = str(uuid.uuid4())
            args += [dead_id, new_id, _requeued(data, queue, new_id)]
        keys = [self._key(queue, ".XQ"), self._key(queue, ".XQ.msgs"), self._key(queue), self._key(queue, ".msgs")]
        return int(await self._retry(keys=keys, args=args))


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _requeued(data: bytes | str, queue: str, new_id: str) -> str:
    """The dead message as a fresh one on `queue`: a new Redis id (the broker's rule: one per enqueue), no
    eta, retries counted from zero; the last traceback goes too (it is in the log), the count of manual
    retries is kept."""
    message = json.loads(data)
    options = message.get("options") or {}
    for stale in ("eta", "retries", "traceback", "requeue_timestamp"):
        options.pop(stale, None)
    options["redis_message_id"] = new_id
    options["manual_retries"] = int(options.get("manual_retries", 0)) + 1
    message["options"] = options
    message["queue_name"] = queue
    return json.dumps(message, separators=(",", ":"))


def _job(queue: str, state: State, message_id: str, data: bytes | str, score: float | None) -> FailedJob:
    try:
        message = json.loads(data)
    except ValueError:
        message = {}
    options = message.get("options") or {}
    args = list(message.get("args") or [])
    kwargs = message.get("kwargs") or {}
    first = args[0] if args else None
    failed_ms = score if state == "dead" else options.get("requeue_timestamp")
    return FailedJob(
        queue=queue, state=state, id=message_id, actor=str(message.get("actor_name", "?")),
        tenant_id=first if isinstance(first, int) and not isinstance(first, bool) else None,
        args=redact_arguments(args, kwargs),
        # a dead job failed at least once, even when its failure was not counted (an exception in `throws`)
        attempts=max(int(options.get("retries") or 0), 1 if state == "dead" else 0),
        error=last_error(options.get("traceback")), failed_at=_from_ms(failed_ms),
        next_at=_from_ms(options.get("eta")) if state == "retrying" else None,
        manual_retries=int(options.get("manual_retries") or 0))


def _from_ms(ms: Any) -> datetime | None:
    if not isinstance(ms, (int, float)):
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


#: keyword arguments never shown: one-time codes, secrets, tokens
_SECRET_NAME = re.compile(r"code|otp|pin|secret|token|password|key", re.IGNORECASE)
#: a string of 4 to 8 digits is taken for a one-time code
_CODE = re.compile(r"\d{4,8}")
_PHONE = re.compile(r"\+?\d[\d\s().-]{7,}\d")
HIDDEN = "•••"


def _redact(value: Any) -> str:
    if isinstance(value, str):
        if _CODE.fullmatch(value):
            return HIDDEN
        if _PHONE.fullmatch(value):
            return mask_phone(value) or HIDDEN
        return repr(value if len(value) <= 40 else value[:39] + "…")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_redact(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {HIDDEN if _SECRET_NAME.search(str(k)) else _redact(v)}"
                               for k, v in value.items()) + "}"
    return repr(value)


def redact_arguments(args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    """A job's arguments for display: ids and other numbers as they are; anything that looks like a one-time
    code, and any keyword named like a secret, hidden; phone numbers masked to their last digits."""
    parts = [_redact(a) for a in args]
    parts += [f"{k}={HIDDEN if _SECRET_NAME.search(k) else _redact(v)}" for k, v in kwargs.items()]
    return ", ".join(parts)


def last_error(traceback: Any) -> str | None:
    """A traceback's last line ("SmsTransientError: twilio 503"), phone numbers masked."""
    if not isinstance(traceback, str) or not traceback.strip():
        return None
    line = traceback.strip().splitlines()[-1].strip()
    return _PHONE.sub(lambda m: mask_phone(m.group(0)) or HIDDEN, line)[:300]
