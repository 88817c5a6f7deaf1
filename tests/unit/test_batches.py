"""adapters.batches: one task at a time writes what has piled up; retries keep order; a crash drops one batch."""

from __future__ import annotations

import asyncio

from adapters.batches import Batches, Retry


async def test_items_added_together_are_written_in_few_batches_in_order():
    written: list[list[int]] = []

    async def write(batch: list[int]) -> None:
        written.append(batch)

    batches = Batches("t", write, batch=4)
    for i in range(10):
        batches.add(i)
    await batches.flush()
    assert written == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] and batches.pending == 0


async def test_a_retried_batch_stays_first_and_a_crashing_one_is_dropped_alone():
    written: list[list[int]] = []
    calls = 0

    async def write(batch: list[int]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise Retry("away")
        if batch[0] == 1:
            raise RuntimeError("cannot ever be written")
        written.append(batch)

    batches = Batches("t", write, batch=1)
    batches.RETRY_FIRST_S = 0.001
    for i in range(3):
        batches.add(i)
    await batches.flush()
    assert written == [[0], [2]] and (batches.failures, batches.pending) == (1, 0)


async def test_beyond_max_pending_the_newest_items_are_dropped_and_counted():
    gate = asyncio.Event()

    async def write(batch: list[int]) -> None:
        await gate.wait()

    batches = Batches("t", write, batch=10, max_pending=3)
    for i in range(5):
        batches.add(i)
    assert (batches.pending, batches.dropped) == (3, 2)
    gate.set()
    await batches.flush()
    assert batches.pending == 0
