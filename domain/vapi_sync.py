"""Keeping a clinic's tools and assistants in Vapi in step with its configuration (`frontdesk vapi sync`).

The rules (which API key and which webhook secret a sync may use), the plan (which tools to create, patch or
delete, which assistants to patch) and the use case that applies it through two ports: Vapi's REST API and
the store's record of the tools the sync created. Standard library only.

Vapi has no field to tag a tool's owner, so the sync keeps its own map (tenant, tool name) -> Vapi tool id
and the hash of the definition it last sent; it only ever patches or deletes a tool whose id is in that map,
never any other tool of the Vapi organisation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from .model import Schedule, VapiConfig

#: the setting holding the Vapi API key of every clinic whose `[vapi] api_key_env` names none
DEFAULT_API_KEY_ENV = "VAPI_API_KEY"
#: stands in for PUBLIC_URL in a dry run without one (the plan then shows every tool's URL as changed)
DRY_RUN_PUBLIC_URL = "https://PUBLIC_URL.invalid"

Definition = dict[str, Any]
#: (schedule, public_url, webhook secret or None) -> {tool name: Vapi CreateFunctionToolDTO}
RenderTools = Callable[[Schedule, str, "str | None"], dict[str, Definition]]
#: schedule -> the assistant's system prompt
RenderPrompt = Callable[[Schedule], str]


# ---- errors ---------------------------------------------------------------------------------------------


class VapiError(Exception):
    """Vapi refused or could not answer a request: what was asked (`POST /tool`), the HTTP status (0: no
    answer at all) and Vapi's response body, which says why."""

    #: True when the same request may succeed later (rate limit, Vapi down): the job is retried
    transient = False

    def __init__(self, request: str, status: int, body: str) -> None:
        super().__init__(request, status, body)
        self.request = request
        self.status = status
        self.body = body

    def __str__(self) -> str:
        answer = f"HTTP {self.status}" if self.status else "no answer"
        return f"Vapi {self.request}: {answer}: {self.body}"


class VapiRejected(VapiError):
    """A 4xx other than 429 (bad key, invalid body, unknown assistant): sending it again cannot help."""


class VapiUnavailable(VapiError):
    """429, 5xx or no answer, still so after the client's own retries: worth trying again later."""

    transient = True


class SyncRefused(Exception):
    """The clinic's configuration or the settings make a sync impossible; the message says what to fix."""


class SyncBusy(Exception):
    """Another sync of the same clinic is running; this one is retried later."""


# ---- ports ----------------------------------------------------------------------------------------------


class VapiApi(Protocol):
    """The part of Vapi's REST API the sync uses. `key` is the clinic's private API key, given per call
    (clinics may have Vapi organisations of their own). Errors raise VapiRejected or VapiUnavailable."""

    async def list_tools(self, key: str) -> list[dict[str, Any]]: ...
    async def create_tool(self, key: str, body: Definition) -> dict[str, Any]: ...
    async def update_tool(self, key: str, tool_id: str, body: Definition) -> dict[str, Any]: ...
    async def delete_tool(self, key: str, tool_id: str) -> None: ...
    async def get_assistant(self, key: str, assistant_id: str) -> dict[str, Any]: ...
    async def update_assistant(self, key: str, assistant_id: str, body: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class SyncedTool:
    """A tool the sync created in Vapi for a clinic, and the hash of the definition it last sent."""

    name: str
    tool_id: str
    definition_hash: str


class VapiSyncStore(Protocol):
    """What the sync keeps in the database: its map of created tools, and a record of every run."""

    async def tenant_schedule(self, tenant_id: int) -> Schedule | None: ...
    async def synced_tools(self, tenant_id: int) -> dict[str, SyncedTool]: ...
    async def save_synced_tool(self, tenant_id: int, tool: SyncedTool) -> None: ...
    async def forget_synced_tool(self, tenant_id: int, name: str) -> None: ...
    async def start_sync_run(self, tenant_id: int, now: datetime) -> int: ...
    async def finish_sync_run(self, run_id: int, now: datetime, status: str, writes: int,
                              error: str | None) -> None: ...
    def sync_lock(self, tenant_id: int) -> AbstractAsyncContextManager[bool]:
        """Held for a whole sync: True if this process got the clinic's lock, False if another sync has it."""
        ...


# ---- rules ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncSettings:
    """What a sync needs from the process's settings."""

    #: this service's public https base URL ("" when unset): the tools' server URLs start with it
    public_url: str
    #: VAPI_API_KEY ("" when unset)
    default_api_key: str
    #: the environment, where clinics' `[vapi] api_key_env` and `webhook_secret_env` variables are read
    environ: Mapping[str, str]


def api_key_for(slug: str, vapi: VapiConfig, settings: SyncSettings) -> str:
    """The clinic's Vapi API key: the variable its `[vapi] api_key_env` names, else VAPI_API_KEY."""
    name = vapi.api_key_env
    key = settings.environ.get(name, "") if name else settings.default_api_key
    if not key:
        raise SyncRefused(f"tenant {slug}: no Vapi API key: set {name or DEFAULT_API_KEY_ENV} "
                          f"to the Vapi organisation's private API key")
    return key


def has_api_key(vapi: VapiConfig, settings: SyncSettings) -> bool:
    """Whether the clinic can be synced at all (`frontdesk vapi sync` without --tenant skips the others)."""
    try:
        api_key_for("", vapi, settings)
    except SyncRefused:
        return False
    return True


def webhook_secret_for(schedule: Schedule, environ: Mapping[str, str]) -> str | None:
    """The plaintext secret the tools send as `X-Vapi-Secret`, or None when the clinic's `[vapi]
    credential_id` authenticates them instead. The database holds only the secret's hash, so it must come
    from the clinic's `webhook_secret_env` variable."""
    if schedule.vapi.credential_id:
        return None
    if schedule.secret_env is None:
        raise SyncRefused(
            f"tenant {schedule.slug}: its webhook_secret is written in its file, so the sync cannot give it to "
            f"Vapi; move it to an environment variable (webhook_secret_env) or set [vapi] credential_id")
    secret = environ.get(schedule.secret_env, "")
    if not secret:
        raise SyncRefused(f"tenant {schedule.slug}: {schedule.secret_env} (its webhook_secret_env) is not set")
    return secret


def public_url_for(settings: SyncSettings, dry_run: bool) -> str:
    url = settings.public_url.rstrip("/")
    if url.startswith("https://"):
        return url
    if dry_run and not url:
        return DRY_RUN_PUBLIC_URL
    raise SyncRefused("PUBLIC_URL must be this service's public https:// URL, which Vapi calls the tools at"
                      + (f" (got {url!r})" if url else " (it is not set)"))


def definition_hash(definition: Definition) -> str:
    """sha256 of the definition's canonical JSON (sorted keys, no spaces): equal definitions, equal hashes."""
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


# ---- the plan -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolChange:
    action: Literal["create", "patch", "delete"]
    name: str
    tool_id: str | None = None  # None: not created yet
    definition: Definition | None = None  # None for a delete
    hash: str | None = None


@dataclass(frozen=True)
class AssistantChange:
    assistant_id: str
    model: dict[str, Any]
    #: what differs, for people: "system prompt", "toolIds"
    what: tuple[str, ...]


@dataclass
class SyncPlan:
    tools: list[ToolChange] = field(default_factory=list)
    assistants: list[AssistantChange] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The plan for people, one change a line."""
        out = [f"{c.action} tool {c.name}" + (f" ({c.tool_id})" if c.tool_id else "") for c in self.tools]
        out += [f"patch assistant {a.assistant_id}: {', '.join(a.what)}" for a in self.assistants]
        return out or ["nothing to change"]


def plan_tools(desired: Mapping[str, Definition], known: Mapping[str, SyncedTool],
               existing_ids: set[str]) -> tuple[list[ToolChange], list[str]]:
    """Which tools to create (not in the map, or deleted in Vapi since), patch (the definition's hash
    differs from the one last sent) and delete (in the map, no longer wanted); and the unchanged ones."""
    changes: list[ToolChange] = []
    unchanged: list[str] = []
    for name, definition in desired.items():
        h = definition_hash(definition)
        mine = known.get(name)
        if mine is None or mine.tool_id not in existing_ids:
            changes.append(ToolChange("create", name, None, definition, h))
        elif mine.definition_hash != h:
            changes.append(ToolChange("patch", name, mine.tool_id, definition, h))
        else:
            unchanged.append(name)
    changes += [ToolChange("delete", name, mine.tool_id) for name, mine in known.items() if name not in desired]
    return changes, unchanged


def assistant_model(current: Mapping[str, Any] | None, prompt: str, tool_ids: list[str], managed: set[str],
                    existing_ids: set[str]) -> dict[str, Any]:
    """The assistant's whole `model` (Vapi's PATCH replaces it, so nothing may be left out): every field as
    it is, the system message replaced by `prompt` (other messages kept, after it), and `toolIds` the
    clinic's tools, followed by any tool someone attached by hand that the sync does not manage and that
    still exists (an id that no longer exists makes Vapi fail the call)."""
    model = dict(current or {})
    others = [m for m in model.get("messages") or () if not (isinstance(m, dict) and m.get("role") == "system")]
    model["messages"] = [{"role": "system", "content": prompt}, *others]
    foreign = [i for i in model.get("toolIds") or ()
               if i not in managed and i not in tool_ids and i in existing_ids]
    model["toolIds"] = [*tool_ids, *dict.fromkeys(foreign)]
    return model


def _what_changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[str, ...]:
    what = []
    if before.get("messages") != after.get("messages"):
        what.append("system prompt")
    if before.get("toolIds") != after.get("toolIds"):
        what.append("toolIds")
    return tuple(what)


# ---- the use case ---------------------------------------------------------------------------------------


@dataclass
class SyncReport:
    """What a sync did (or, dry, would do)."""

    tenant_id: int
    slug: str
    plan: SyncPlan
    writes: int = 0
    dry_run: bool = False
    #: deletes Vapi refused with 409 (a pinned version); they are tried again on the next sync
    kept: list[str] = field(default_factory=list)


@dataclass
class _Run:
    writes: int = 0


async def sync_tenant(tenant_id: int, *, store: VapiSyncStore, vapi: VapiApi, settings: SyncSettings,
                      render_tools: RenderTools, render_prompt: RenderPrompt, clock: Callable[[], datetime],
                      dry_run: bool = False) -> SyncReport:
    """Bring clinic `tenant_id`'s tools and assistants in Vapi up to date: create missing tools, patch
    changed ones, point each of its assistants at them with its system prompt, then delete the tools it
    created that are no longer wanted. A second run finds nothing to do and writes nothing.

    A real run is recorded (started, finished, status, writes, the error with Vapi's body) and holds the
    clinic's lock; a dry run only reads from Vapi and writes nothing anywhere. Raises SyncRefused (fix the
    configuration), SyncBusy, VapiRejected or VapiUnavailable (try again later)."""
    if dry_run:
        return await _sync(tenant_id, store, vapi, settings, render_tools, render_prompt, True, _Run())
    async with store.sync_lock(tenant_id) as locked:
        if not locked:
            raise SyncBusy(f"another sync of tenant {tenant_id} is running")
        run_id = await store.start_sync_run(tenant_id, clock())
        run = _Run()
        try:
            report = await _sync(tenant_id, store, vapi, settings, render_tools, render_prompt, False, run)
        except (SyncRefused, VapiError) as e:
            await store.finish_sync_run(run_id, clock(), "failed", run.writes, str(e))
            raise
        except BaseException as e:
            await store.finish_sync_run(run_id, clock(), "failed", run.writes, f"{type(e).__name__}: {e}")
            raise
        await store.finish_sync_run(run_id, clock(), "ok", run.writes, None)
        return report


async def _sync(tenant_id: int, store: VapiSyncStore, vapi: VapiApi, settings: SyncSettings,
                render_tools: RenderTools, render_prompt: RenderPrompt, dry_run: bool, run: _Run) -> SyncReport:
    schedule = await store.tenant_schedule(tenant_id)
    if schedule is None:
        raise SyncRefused(f"there is no tenant {tenant_id}")
    key = api_key_for(schedule.slug, schedule.vapi, settings)
    secret = webhook_secret_for(schedule, settings.environ)
    desired = render_tools(schedule, public_url_for(settings, dry_run), secret)
    prompt = render_prompt(schedule)

    known = await store.synced_tools(tenant_id)
    existing_ids = {str(t["id"]) for t in await vapi.list_tools(key) if isinstance(t, dict) and "id" in t}
    changes, unchanged = plan_tools(desired, known, existing_ids)
    plan = SyncPlan(tools=changes, unchanged=unchanged)
    report = SyncReport(tenant_id, schedule.slug, plan, dry_run=dry_run)

    ids = {name: mine.tool_id for name, mine in known.items()}
    for c in changes:
        if c.action == "create" and not dry_run:
            assert c.definition is not None and c.hash is not None
            created = await vapi.create_tool(key, c.definition)
            run.writes += 1
            ids[c.name] = str(created["id"])
            existing_ids.add(ids[c.name])
            await store.save_synced_tool(tenant_id, SyncedTool(c.name, ids[c.name], c.hash))
        elif c.action == "create":
            ids[c.name] = f"<new {c.name}>"
        elif c.action == "patch" and not dry_run:
            assert c.definition is not None and c.hash is not None and c.tool_id is not None
            # `type` is fixed at creation: Vapi rejects it in an update
            await vapi.update_tool(key, c.tool_id, {k: v for k, v in c.definition.items() if k != "type"})
            run.writes += 1
            await store.save_synced_tool(tenant_id, SyncedTool(c.name, c.tool_id, c.hash))

    tool_ids = [ids[name] for name in desired]
    managed = {mine.tool_id for mine in known.values()} | set(tool_ids)
    for assistant_id in schedule.assistant_ids:
        assistant = await vapi.get_assistant(key, assistant_id)
        current = assistant.get("model") or {}
        model = assistant_model(current, prompt, tool_ids, managed, existing_ids)
        if model == current:
            continue
        plan.assistants.append(AssistantChange(assistant_id, model, _what_changed(current, model)))
        if not dry_run:
            await vapi.update_assistant(key, assistant_id, {"model": model})
            run.writes += 1

    # deleted last: the assistants no longer name them (a tool id that is gone fails the call)
    for c in changes:
        if c.action != "delete" or dry_run:
            continue
        assert c.tool_id is not None
        try:
            await vapi.delete_tool(key, c.tool_id)
            run.writes += 1
        except VapiRejected as e:
            if e.status == 409:  # a version is pinned somewhere: keep it in the map, try again next time
                report.kept.append(c.name)
                continue
            if e.status != 404:  # 404: already gone, which is what was wanted
                raise
        await store.forget_synced_tool(tenant_id, c.name)
    report.writes = run.writes
    return report
