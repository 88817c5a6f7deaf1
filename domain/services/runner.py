"""Running one tool call: a transaction, tool-call idempotency, and the presenter that words the outcome.

`execute` takes the presenter as a parameter, so the domain never imports the web layer while the answer it
stores (and replays byte for byte) is exactly what the caller hears."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..model import Refused, ToolContext
from ..ports import UnitOfWork
from ..results import Outcome, Result, outcome_code


Handler = Callable[[UnitOfWork, ToolContext], Awaitable[Result]]

#: words an outcome as the tool's answer (the JSON string stored and returned), e.g. domain.wording.presenter.answer
Present = Callable[[Outcome], str]


@dataclass(frozen=True)

class ToolAnswer:
    text: str  # the tool's `result`, exactly as stored
    outcome: str  # "ok", a refusal's code, or "replayed" when the stored answer of an earlier call was returned

async def execute(uow: UnitOfWork, ctx: ToolContext, name: str, handler: Handler, present: Present,
                  savepoint: bool = True) -> ToolAnswer:
    """Run one tool call exactly once per (tenant, toolCallId); a replay gets the stored result, byte for byte.

    Writing tools claim the id first (a concurrent duplicate waits, then reads the stored answer) and run
    inside a savepoint, so a Refused undoes everything the tool did while its answer is still stored; with
    `savepoint=False` (a tool whose refusals leave nothing to undo by construction) they run without one.
    Read-only tools (`uow.read_only`) run in autocommit, and their answer is recorded without delaying it:
    they change nothing, so a retried one is answered afresh instead of replayed (store/results.py).

    The answer is stored in the same transaction as the change it reports, so it must be worded here, before
    commit; `present` is a parameter (not an import) so that the runner stays free of wording and the caller
    chooses it (the webhook passes domain.wording.presenter.answer; a second language would pass its own).
    """
    writes = not uow.read_only
    async with uow:
        key = ctx.tool_call_id
        if key and writes:
            stored = await uow.claim_tool_call(key, ctx.call_id, name)
            if stored is not None:
                return ToolAnswer(stored, "replayed")
        queued = len(uow.outbox)
        outcome: Outcome
        try:
            if writes and savepoint:
                async with uow.savepoint():
                    outcome = await handler(uow, ctx)
            else:
                outcome = await handler(uow, ctx)
        except Refused as e:
            del uow.outbox[queued:]  # the savepoint rolled those outbox rows back (or nothing was written)
            outcome = e
        text = present(outcome)
        if key and writes:
            await uow.save_result(key, text)
        elif key:
            uow.record_result(key, ctx.call_id, name, text)
        await uow.commit()
        return ToolAnswer(text, outcome_code(outcome))
