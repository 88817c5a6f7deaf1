"""`frontdesk vapi sync`, and the sync `frontdesk tenant apply` asks for: the command side of the Vapi tool
sync (domain.vapi_sync). cli.py only wires the parser to these functions."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime, timezone

from domain.model import VapiConfig
from domain.vapi_sync import SyncBusy, SyncRefused, VapiError, has_api_key, sync_tenant
from frontdesk import bootstrap
from frontdesk.settings import Settings
from store import SqlStore


def add_sync_parser(vapi_sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    sync = vapi_sub.add_parser(
        "sync", help="create, update and delete the clinics' tools in Vapi and point their assistants at them",
        description="Queues a sync job for every tenant with a Vapi API key (or one, with --tenant). It only "
                    "ever changes tools it created itself.")
    sync.add_argument("--tenant", metavar="SLUG", help="only this tenant")
    sync.add_argument("--dry-run", action="store_true",
                      help="print the changes a sync would make, and change nothing (reads from Vapi)")
    sync.add_argument("--now", action="store_true", help="sync here and now instead of queueing a job")
    return sync


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def sync(settings: Settings, tenant: str | None, dry_run: bool, now: bool) -> int:
    """Queue (or, with --now or --dry-run, run here) a sync of each chosen tenant. Exit 1 if one failed."""
    return asyncio.run(_sync(settings, tenant, dry_run, now))


async def _sync(settings: Settings, slug: str | None, dry_run: bool, now: bool) -> int:
    store = bootstrap.build_store(settings)
    sync_settings = bootstrap.vapi_sync_settings(settings)
    try:
        tenants = await store.vapi_tenants()
        if slug is not None:
            tenants = [t for t in tenants if t.slug == slug]
            if not tenants:
                print(f"there is no tenant {slug}", file=sys.stderr)
                return 2
        else:
            tenants = [t for t in tenants if has_api_key(t.vapi, sync_settings)]
            if not tenants:
                print("no tenant has a Vapi API key: set VAPI_API_KEY, or a tenant's [vapi] api_key_env",
                      file=sys.stderr)
                return 2
        if not (dry_run or now):
            for t in tenants:
                print(f"tenant {t.slug}: {await _enqueue(settings, store, t.id)}")
            return 0
        vapi = bootstrap.build_vapi_client(settings)
        failed = 0
        try:
            for t in tenants:
                try:
                    report = await sync_tenant(t.id, store=store, vapi=vapi, settings=sync_settings,
                                               render_tools=_render_tools(), render_prompt=_render_prompt(),
                                               clock=_utc_now, dry_run=dry_run)
                except (SyncRefused, SyncBusy, VapiError) as e:
                    print(f"tenant {t.slug}: sync failed: {e}", file=sys.stderr)
                    failed += 1
                    continue
                head = ("would make these changes (dry run, nothing written)" if dry_run
                        else f"synced, {report.writes} change(s) made in Vapi")
                print(f"tenant {t.slug}: {head}")
                for line in report.plan.lines():
                    print(f"  {line}")
                for name in report.kept:
                    print(f"  Vapi refused to delete tool {name} (a version is pinned); it is tried again "
                          f"on the next sync", file=sys.stderr)
        finally:
            await vapi.close()
        return 1 if failed else 0
    finally:
        await store.close()


def _render_tools():  # the assistant package is imported only when a sync runs
    from assistant.definitions import tool_definitions

    return tool_definitions


def _render_prompt():
    from assistant.prompts import system_prompt

    return system_prompt


async def _enqueue(settings: Settings, store: SqlStore, tenant_id: int) -> str:
    """Write the job to the outbox and publish it; if Redis cannot take it now, the clock's relay will."""
    entry = await store.enqueue_sync(tenant_id)
    publisher = bootstrap.build_publisher(settings, store, _utc_now)
    if publisher is None:
        return "sync queued in the outbox (REDIS_URL is not set: `frontdesk clock` publishes it once it is)"
    try:
        published = await publisher.publish_now([entry])
    finally:
        publisher.broker.close()
    if not published:
        print("Redis is unreachable: the sync waits in the outbox until `frontdesk clock` publishes it",
              file=sys.stderr)
        return "sync queued in the outbox"
    return "sync queued"


def sync_after_apply(settings: Settings, tenant_id: int, slug: str, vapi: VapiConfig) -> None:
    """After `tenant apply` created or changed a tenant: queue a sync if it has a Vapi key. Never fails the
    apply: a database, Redis or anything else out of reach is said on stderr."""
    if not has_api_key(vapi, bootstrap.vapi_sync_settings(settings)):
        return

    async def enqueue() -> str:
        store = bootstrap.build_store(settings)
        try:
            return await _enqueue(settings, store, tenant_id)
        finally:
            await store.close()

    try:
        print(f"tenant {slug}: Vapi {asyncio.run(enqueue())}")
    except Exception as e:
        print(f"tenant {slug}: the Vapi sync could not be queued ({type(e).__name__}: {e}); "
              f"run `frontdesk vapi sync --tenant {slug}` later", file=sys.stderr)
