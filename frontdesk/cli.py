"""The `frontdesk` command: migrate, serve, tenant apply, worker, clock, vapi show/sync, call simulate, dev."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import secrets
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from domain.jobs import QUEUES
from domain.tenant_config import TenantConfigError, load_tenant_file
from frontdesk import bootstrap, logs, vapi_cli
from frontdesk.settings import DEV_SECRET_KEY, Settings

if TYPE_CHECKING:
    from aiohttp import web

log = structlog.get_logger("frontdesk")

#: Heroku stops a dyno with SIGTERM, then SIGKILL 30 s later. A web process lets requests in flight finish for
#: up to this long and a worker its running jobs, leaving the rest of the 30 s for their clean-up (the web
#: publisher's drain waits at most 5 s; a worker notices the signal within 1 s and then closes its consumers)
STOP_TIMEOUT_S = 20
#: what stops `serve`, `worker` and `clock` gracefully: SIGTERM (Heroku, `kill`) and SIGINT (Ctrl-C)
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEMO_TENANT = PROJECT_ROOT / "examples" / "demo-clinic.toml"
#: what `frontdesk dev` puts in its own environment and its children's when unset: the demo clinic's secret
#: (its tenant file names the variable, as a production one would); printed in the banner
DEMO_ENVIRONMENT = {"BRIGHT_SMILE_SECRET": "demo-secret-bright-smile-0001"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="frontdesk", description="Back end of a voice-AI receptionist.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="bring DATABASE_URL's schema up to date")
    serve = sub.add_parser("serve", help="run the webhook server (production)")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=None, help="default: $PORT, else 8080")
    serve.add_argument("--processes", type=int, default=None,
                       help="server processes sharing the port (default: $WEB_CONCURRENCY, else 1)")
    tenant = sub.add_parser("tenant", help="manage tenants")
    tenant_sub = tenant.add_subparsers(dest="tenant_command", required=True)
    apply = tenant_sub.add_parser("apply", help="create or update a tenant from a TOML file")
    apply.add_argument("file", type=Path)
    worker = sub.add_parser("worker", help=f"run the Dramatiq workers (queues: {', '.join(QUEUES)})")
    worker.add_argument("--processes", type=int, default=None, help="default: $WORKER_PROCESSES, else 2")
    worker.add_argument("--threads", type=int, default=None, help="default: $WORKER_THREADS, else 4")
    worker.add_argument("--queues", nargs="*", default=None, choices=QUEUES, metavar="QUEUE",
                        help=f"only these queues, of {', '.join(QUEUES)} (default: all)")
    clock = sub.add_parser("clock", help="run the periodic work: outbox relay, hold sweeper (one instance)")
    clock.add_argument("--relay-every", type=float, default=10.0, help="seconds between outbox relays")
    clock.add_argument("--sweep-every", type=float, default=60.0, help="seconds between hold sweeps")
    dev = sub.add_parser("dev", help="demo: embedded PostgreSQL (unless DATABASE_URL), demo clinic, server")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=None, help="default: $PORT, else 8080")
    dev.add_argument("--data-dir", type=Path, default=Path(".data"))
    call = sub.add_parser("call", help="phone calls, as Vapi makes them")
    call_sub = call.add_subparsers(dest="call_command", required=True)
    simulate = call_sub.add_parser(
        "simulate", help="play a whole call against a running server and print the transcript",
        description="Play a whole call against a running frontdesk (by default the `frontdesk dev` whose "
                    "data directory is --data-dir), with Vapi's envelopes, and print the transcript. "
                    "Exits 1 if a step is refused, fails over HTTP or a text does not come.")
    simulate.add_argument("--url", default=None,
                          help="the server (default: the running `frontdesk dev`'s, else http://127.0.0.1:$PORT)")
    simulate.add_argument("--tenant", default=None, metavar="SLUG", help="which tenant (default: the only one)")
    simulate.add_argument("--secret", default=None,
                          help="the tenant's webhook secret (default: from its webhook_secret_env variable)")
    simulate.add_argument("--script", type=Path, default=None, metavar="FILE",
                          help="the caller's turns, as TOML (default: a built-in call that books a cleaning)")
    simulate.add_argument("--otp", action=argparse.BooleanOptionalAction, default=None,
                          help="verify the caller by a texted code (default: if the tenant requires it)")
    simulate.add_argument("--data-dir", type=Path, default=Path(".data"),
                          help="where the `frontdesk dev` to call keeps its data (default: .data)")
    _add_vapi_commands(sub)
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    if args.command in ("serve", "worker", "dev"):
        settings = _metrics_dir(settings, args)
    if args.command == "dev":
        return _dev(args, settings)
    if args.command == "call" and args.call_command == "simulate":
        return _call_simulate(args, settings)
    logs.configure(settings.log_format)
    if args.command == "migrate":
        return _migrate(settings)
    if args.command == "serve":
        return _serve(settings, args.host, args.port or settings.port, args.processes or settings.web_concurrency)
    if args.command == "tenant" and args.tenant_command == "apply":
        return _tenant_apply(settings, args.file)
    if args.command == "worker":
        return _worker(settings, args.processes, args.threads, args.queues)
    if args.command == "clock":
        return _clock(settings, args.relay_every, args.sweep_every)
    if args.command == "vapi":
        return args.vapi_run(settings, args)
    parser.error("unknown command")
    return 2


def _metrics_dir(settings: Settings, args: argparse.Namespace) -> Settings:
    """Before anything imports prometheus_client (which picks its mode once, at import): the directory where
    this process and its children write their metric values (PROMETHEUS_MULTIPROC_DIR), so that /metrics sums
    them. `dev` keeps it in its data directory and a multi-process `serve` makes a temporary one when unset;
    anything else without it counts in memory, alone. Files of processes no longer running are removed."""
    path = settings.prometheus_multiproc_dir
    if not path and args.command == "dev":
        path = str((args.data_dir / "metrics").resolve())
    elif not path and args.command == "serve" and (args.processes or settings.web_concurrency) > 1:
        path = tempfile.mkdtemp(prefix="frontdesk-metrics-")
    if not path:
        return settings
    if "prometheus_client" in sys.modules:  # a bug here: this process's own values would not be in the files
        log.warning("metrics_mode_chosen_too_early", directory=path)
    clean_metrics_dir(Path(path))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return Settings.from_env({**settings.environ, "PROMETHEUS_MULTIPROC_DIR": path})


def clean_metrics_dir(path: Path) -> None:
    """Create `path`; remove the value files (`counter_<pid>.db`...) of processes that are not running, and of
    this one (a pid reused after a restart must not carry on an old count). Web and worker processes of one
    machine share the directory and start in any order, so the files of running processes stay."""
    path.mkdir(parents=True, exist_ok=True)
    for file in path.glob("*.db"):
        pid = file.stem.rpartition("_")[2]
        if not pid.isdigit() or int(pid) == os.getpid() or not _running(int(pid)):
            file.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _need_database(settings: Settings) -> None:
    if not settings.database_url:
        raise SystemExit("DATABASE_URL is not set. Set it to postgresql://user@host/db, "
                         "or run `frontdesk dev` to use the embedded PostgreSQL.")


def _migrate(settings: Settings) -> int:
    _need_database(settings)
    started = time.perf_counter()
    print("migrating the database to the newest schema...", file=sys.stderr, flush=True)
    bootstrap.migrate(settings.database_url)
    print(f"database is up to date ({time.perf_counter() - started:.1f}s)", file=sys.stderr)
    return 0


def _tenant_apply(settings: Settings, path: Path) -> int:
    _need_database(settings)
    try:
        spec = load_tenant_file(path, settings.environ)
    except TenantConfigError as e:
        print(str(e), file=sys.stderr)
        return 2

    async def apply() -> tuple[int, str]:
        store = bootstrap.build_store(settings)
        try:
            return await store.apply_tenant(spec)
        finally:
            await store.close()

    try:
        tenant_id, action = asyncio.run(apply())
    except ValueError as e:
        print(f"{path} cannot be applied:\n  - {e}", file=sys.stderr)
        return 2
    print(f"tenant {spec.slug} {action}: {len(spec.services)} service(s), {len(spec.resources)} resource(s), "
          f"{len(spec.closures)} closure(s), time zone {spec.timezone}")
    if action != "unchanged":
        vapi_cli.sync_after_apply(settings, tenant_id, spec.slug, spec.vapi)
    return 0


def _serve(settings: Settings, host: str, port: int, processes: int = 1) -> int:
    _need_database(settings)
    if settings.secret_key == DEV_SECRET_KEY:
        log.warning("secret_key_not_set", hint="set SECRET_KEY in production; tenants must be re-applied after")
    log.info("serving", host=host, port=port, processes=processes)
    if processes <= 1:
        _serve_one(settings.environ, host, port, False)
        return 0
    # one event loop per core: processes share the port with SO_REUSEPORT and the kernel spreads connections
    import multiprocessing
    from multiprocessing.connection import wait

    ctx = multiprocessing.get_context("spawn")
    children = [ctx.Process(target=_serve_one, args=(settings.environ, host, port, True)) for _ in range(processes)]
    # The children start with SIGTERM/SIGINT ignored (an ignored signal stays ignored across fork and exec) and
    # handle them once they can stop gracefully: a stop that comes while they start cannot kill them half-way;
    # this process sends it again until they have exited.
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    for child in children:
        child.start()
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        # Heroku signals every process of the dyno and Ctrl-C the whole process group, so a child hears it
        # more than once: each one stops on the first and ignores the rest
        for child in children:
            if child.is_alive() and child.pid is not None:
                os.kill(child.pid, signal.SIGTERM)

    from adapters.metrics import mark_process_dead

    for sig in STOP_SIGNALS:
        signal.signal(sig, stop)
    running = list(children)
    while running:
        ended = wait([child.sentinel for child in running], timeout=1)
        if stopping and not ended:
            stop(signal.SIGTERM, None)  # for a child that was still starting, and ignored it
        for child in [c for c in running if c.sentinel in ended]:
            child.join()
            running.remove(child)
            mark_process_dead(child.pid or 0, settings.prometheus_multiproc_dir)
            if not stopping:  # a server died on its own: stop the others, so that the whole dyno restarts
                log.error("web_process_exited", pid=child.pid, exitcode=child.exitcode)
                stop(signal.SIGTERM, None)
    failed = [child.exitcode for child in children if child.exitcode != 0]
    if failed:
        log.error("web_processes_failed", exitcodes=failed)
    return 1 if failed else 0


def _serve_one(environ: dict[str, str], host: str, port: int, reuse_port: bool) -> None:
    from webhook import create_app

    settings = Settings.from_env(environ)
    logs.configure(settings.log_format)
    run = asyncio.run
    if settings.web_event_loop == "uvloop":
        import uvloop

        run = uvloop.run
    try:
        run(_run_server(create_app(settings), host, port, reuse_port))
    finally:
        # Stopped. Python resets its signal handlers to the default (deadly) ones as it exits, and a `--processes`
        # parent repeats its SIGTERM to children that are slow to exit: ignore it rather than die with -15.
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)


async def _run_server(app: web.Application, host: str, port: int, reuse_port: bool) -> None:
    """Serve `app` until the first SIGTERM or SIGINT, then stop as Heroku expects: stop listening (a new
    connection is refused), let the requests in flight finish and answer for up to STOP_TIMEOUT_S, run the
    app's clean-up (the publisher's drain, the engine's disposal) and return. Further signals change nothing.

    aiohttp's `run_app` does the same on the first signal, but raises GracefulExit again on a second one and
    so cuts the clean-up short; with Heroku (which signals every process of a dyno, while the `--processes`
    parent forwards its own SIGTERM) or Ctrl-C (which reaches the whole process group), a second one is usual.
    """
    from aiohttp import web

    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def on_signal(signum: int, frame: object) -> None:
        if not loop.is_closed():  # once it is, the process is on its way out: nothing more to do
            loop.call_soon_threadsafe(stopping.set)

    # signal.signal rather than loop.add_signal_handler, whose handlers asyncio.run removes (restoring the
    # default, deadly one) when it closes the loop: a signal still arriving then would kill the process on its
    # way out, with a failure code. Ignored until now when started by a `--processes` parent.
    for sig in STOP_SIGNALS:
        signal.signal(sig, on_signal)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=STOP_TIMEOUT_S)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, reuse_port=reuse_port or None).start()
        tune_gc()
        log.info("web_process_ready", pid=os.getpid())
        await stopping.wait()
        log.info("web_process_stopping", pid=os.getpid(), requests_wait_s=STOP_TIMEOUT_S)
    finally:
        started = time.monotonic()
        await runner.cleanup()
        log.info("web_process_stopped", pid=os.getpid(), seconds=round(time.monotonic() - started, 2))


#: allocations between two young-generation collections (Python's default is 700)
GC_YOUNG_THRESHOLD = 20_000


def tune_gc() -> None:
    """Once the server is up: move everything start-up made (modules, the app, pools, templates) out of the
    collector's sight, and collect the young generation less often.

    Under load the default thresholds ran a full collection over every object start-up made, every ~1.5 s,
    pausing all requests for 40-58 ms: most of the p99 latency (issue 10). A tool call leaves almost nothing
    behind in reference cycles, so collecting less often costs little memory (bench/ measures RSS over
    100,000 calls)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def _need_redis(settings: Settings) -> None:
    if not settings.redis_url:
        raise SystemExit("REDIS_URL is not set. Set it to redis://host:6379/0, or run `frontdesk dev`.")


def worker_argv(settings: Settings, processes: int | None, threads: int | None,
                queues: list[str] | None) -> list[str]:
    # `module:callable`: Dramatiq calls workers.main.setup() in each worker process, after the import
    argv = ["workers.main:setup", "--processes", str(processes or settings.worker_processes),
            "--threads", str(threads or settings.worker_threads), "--skip-logging",
            "--worker-shutdown-timeout", str(STOP_TIMEOUT_S * 1000)]
    if queues:
        argv += ["--queues", *queues]
    return argv


def _worker(settings: Settings, processes: int | None, threads: int | None, queues: list[str] | None) -> int:
    _need_database(settings)
    _need_redis(settings)
    # read by dramatiq when it is imported: how long an idle worker waits before polling Redis again
    os.environ["dramatiq_worker_timeout"] = str(settings.worker_idle_ms)
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    argv = worker_argv(settings, processes, threads, queues)
    log.info("workers_starting", argv=argv)
    return dramatiq_main(make_argument_parser().parse_args(argv)) or 0


def _clock(settings: Settings, relay_every: float, sweep_every: float) -> int:
    _need_database(settings)
    _need_redis(settings)
    from frontdesk.clock import run_clock

    asyncio.run(run_clock(settings, relay_every, sweep_every))
    return 0


def _call_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from frontdesk import simulate

    return simulate.run(args.data_dir, settings.environ, f"http://127.0.0.1:{settings.port}",
                        settings.sms_log_path, url=args.url, tenant=args.tenant, secret=args.secret,
                        script=args.script, otp=args.otp)


def _dev(args: argparse.Namespace, settings: Settings) -> int:
    from aiohttp import web

    from frontdesk.simulate import DEV_FILE, DevInfo, TenantInfo
    from webhook import create_app

    logs.configure(os.environ.get("LOG_FORMAT", "console").lower())
    port = args.port or settings.port
    env = dict(settings.environ)
    demo_env = {name: value for name, value in DEMO_ENVIRONMENT.items() if not env.get(name)}
    if not env.get("ADMIN_TOKEN"):  # the job dashboard is part of the demo: a fresh token each run
        demo_env["ADMIN_TOKEN"] = secrets.token_urlsafe(18)
    env.update(demo_env)
    os.environ.update(demo_env)
    redis_handle = None
    if not settings.database_url:
        from frontdesk.embedded import start_postgres

        print(f"starting the embedded PostgreSQL in {args.data_dir}/pg ...", flush=True)
        env["DATABASE_URL"] = start_postgres(args.data_dir)
    if not settings.redis_url:
        from frontdesk.embedded import start_redis

        print(f"starting the embedded Redis in {args.data_dir} ...", flush=True)
        env["REDIS_URL"], redis_handle = start_redis(args.data_dir)
    env.setdefault("SMS_LOG_PATH", str(args.data_dir / "sms.jsonl"))
    # a text failed on purpose (the console backend's sms-fail-to.txt) is dead-lettered within seconds, not the
    # half hour twelve retries take, so the demo shows it on the dashboard to retry
    env.setdefault("TEXT_RETRIES", "2")
    env.setdefault("LOG_FORMAT", "console")
    settings = Settings.from_env(env)
    print("migrating ...", flush=True)
    bootstrap.migrate(settings.database_url)
    if _tenant_apply(settings, DEMO_TENANT) != 0:
        return 2
    spec = load_tenant_file(DEMO_TENANT, settings.environ)
    # the worker and the clock run as their own processes, exactly as in production
    # (each in its own session: a Ctrl-C reaches only this process, which then stops them in order)
    children = [
        subprocess.Popen([sys.executable, "-m", "frontdesk.cli", "worker", "--processes", "1", "--threads", "4"],
                         env=env, start_new_session=True),
        subprocess.Popen([sys.executable, "-m", "frontdesk.cli", "clock"], env=env, start_new_session=True),
    ]
    base = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '') else args.host}:{port}"
    # what `frontdesk call simulate` needs to call this server (the database is not reachable from it)
    dev_file = args.data_dir / DEV_FILE
    DevInfo(base, (TenantInfo(spec.slug, spec.name, spec.assistant_ids[0] if spec.assistant_ids else None,
                              spec.require_otp, spec.secret_env,
                              demo_env.get(spec.secret_env) if spec.secret_env else None),),
            str(Path(settings.sms_log_path).resolve()) if settings.sms_backend == "console" else None,
            os.getpid()).write(dev_file)
    simulate_cmd = f"{_this_command()} call simulate" + ("" if args.data_dir == Path(".data") else
                                                         f" --data-dir {args.data_dir}")
    print(_banner(base, spec.secret, spec.assistant_ids[0] if spec.assistant_ids else None,
                  settings.sms_backend, settings.sms_log_path, simulate_cmd, settings.admin_token), flush=True)
    try:
        web.run_app(create_app(settings), host=args.host, port=port, print=None, access_log=None)
    except OSError as e:
        print(f"cannot listen on {args.host}:{port}: {e.strerror}. Try `frontdesk dev --port 8081`.",
              file=sys.stderr)
        return 1
    finally:
        DevInfo.remove(dev_file, os.getpid())
        print("stopping the worker and the clock ...", flush=True)
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=35)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        if redis_handle is not None:
            redis_handle.shutdown()
    return 0


# ---- frontdesk vapi ... : what a clinic's Vapi assistant is given -------------------------------------------


def _add_vapi_commands(sub: argparse._SubParsersAction) -> None:
    """The `vapi` group. Each subcommand sets `vapi_run(settings, args) -> exit code`; add one the same way."""
    vapi = sub.add_parser("vapi", help="what a clinic's Vapi assistant is given")
    vapi_sub = vapi.add_subparsers(dest="vapi_command", required=True)
    show = vapi_sub.add_parser(
        "show", help="print a clinic's Vapi tool definitions and system prompt as JSON, without any network",
        description="Prints {\"tenant\", \"tools\", \"system_prompt\"}: paste the tools into Vapi's Tools and the "
                    "prompt into the assistant's system prompt. Reads the clinic from --file, else from DATABASE_URL.")
    show.add_argument("--tenant", metavar="SLUG", help="which clinic, when the database has several")
    show.add_argument("--file", type=Path, metavar="TENANT.toml",
                      help="read the clinic from its tenant file instead of the database")
    show.set_defaults(vapi_run=_vapi_show)
    vapi_cli.add_sync_parser(vapi_sub).set_defaults(vapi_run=_vapi_sync)


def _vapi_sync(settings: Settings, args: argparse.Namespace) -> int:
    _need_database(settings)
    return vapi_cli.sync(settings, args.tenant, args.dry_run, args.now)


def pick_tenant(slugs: list[str], wanted: str | None) -> str:
    """The slug to show: `wanted`, or the only tenant there is. ValueError says why not, listing the slugs."""
    if wanted is not None:
        if wanted in slugs:
            return wanted
        raise ValueError(f"there is no tenant {wanted!r}; the tenants are: {', '.join(slugs) or 'none'}")
    if len(slugs) == 1:
        return slugs[0]
    if not slugs:
        raise ValueError("the database has no tenants yet; apply one with `frontdesk tenant apply FILE`")
    raise ValueError(f"the database has {len(slugs)} tenants; choose one with --tenant SLUG: {', '.join(slugs)}")


def _vapi_show(settings: Settings, args: argparse.Namespace) -> int:
    from assistant.definitions import tool_definitions
    from assistant.prompts import system_prompt
    from assistant.schedule import SECRET_PLACEHOLDER, EnvironForShowing, schedule_from_spec

    if args.file is not None:
        try:
            # variables the file names but this environment lacks read as the placeholder: showing needs no secret
            spec = load_tenant_file(args.file, EnvironForShowing(settings.environ))
        except TenantConfigError as e:
            print(str(e), file=sys.stderr)
            return 2
        if args.tenant is not None and args.tenant != spec.slug:
            print(f"{args.file} is tenant {spec.slug!r}, not {args.tenant!r}", file=sys.stderr)
            return 2
        schedule = schedule_from_spec(spec)
        # A secret written in the file is printed as it is: whoever can run this can read the file, and the
        # output is made to be pasted into Vapi, where only the real secret works (`frontdesk dev` prints the
        # demo clinic's too). A secret in webhook_secret_env is printed when that variable is set here.
        secret = spec.secret
    else:
        _need_database(settings)
        try:
            schedule = asyncio.run(_schedule_from_database(settings, args.tenant))
        except ValueError as e:
            print(f"frontdesk vapi show: {e}", file=sys.stderr)
            return 2
        # the database keeps only a hash of the secret: it can be shown only from its variable, if set here
        secret = settings.environ.get(schedule.secret_env or "") or SECRET_PLACEHOLDER
    if secret == SECRET_PLACEHOLDER and not schedule.vapi.credential_id:
        where = f"set {schedule.secret_env} to print it" if schedule.secret_env else "it is not stored in clear"
        print(f"note: the X-Vapi-Secret header shows {SECRET_PLACEHOLDER} ({where}); put the clinic's webhook "
              "secret there in Vapi", file=sys.stderr)
    public_url = settings.public_url
    if not public_url:
        public_url = f"http://127.0.0.1:{settings.port}"
        print(f"note: PUBLIC_URL is not set, so the tools' server URLs use {public_url}; set PUBLIC_URL to the "
              "URL Vapi reaches this service at", file=sys.stderr)
    shown = {
        "tenant": schedule.slug,
        "tools": list(tool_definitions(schedule, public_url, secret).values()),
        "system_prompt": system_prompt(schedule),
    }
    print(json.dumps(shown, indent=2, ensure_ascii=False))
    return 0


async def _schedule_from_database(settings: Settings, wanted: str | None):
    store = bootstrap.build_store(settings)
    try:
        slug = pick_tenant(await store.tenant_slugs(), wanted)
        schedule = await store.schedule_by_slug(slug)
        if schedule is None:  # removed in between
            raise ValueError(f"there is no tenant {slug!r} any more")
        return schedule
    finally:
        await store.close()


def _this_command() -> str:
    """How to run `frontdesk` from here: .venv/bin/frontdesk after `make run`, not necessarily on PATH."""
    script = Path(sys.executable).parent / "frontdesk"
    if not script.exists():
        return "frontdesk"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def demo_request(assistant_id: str | None, tool_call_id: str) -> dict:
    """A check_availability tool call as Vapi sends it (trimmed to what the server reads)."""
    call: dict = {"id": "demo-call-1", "type": "inboundPhoneCall", "customer": {"number": "+15555550123"}}
    if assistant_id:
        call["assistantId"] = assistant_id
    return {"message": {
        "type": "tool-calls",
        "call": call,
        "customer": {"number": "+15555550123"},
        "toolCallList": [{"id": tool_call_id, "type": "function",
                          "function": {"name": "check_availability", "arguments": {"service": "Cleaning"}}}],
    }}


def _banner(base: str, secret: str, assistant_id: str | None, sms_backend: str = "console",
            sms_log: str = "", simulate_cmd: str = "frontdesk call simulate", admin_token: str = "") -> str:
    body = json.dumps(demo_request(assistant_id, f"demo-{int(time.time())}"), separators=(",", ":"))
    return f"""
frontdesk is running.
  webhook URL : {base}/vapi/webhook   (per-tool URLs: {base}/vapi/tools/<name>)
  demo secret : {secret}   (send as X-Vapi-Secret or Authorization: Bearer)
  health      : {base}/healthz   readiness: {base}/readyz
  texts       : {'written to ' + sms_log if sms_backend == 'console' else 'sent by Twilio'} (a worker and the clock are running)
  dashboard   : {base}/admin/login   admin token: {admin_token or '(ADMIN_TOKEN unset: no dashboard)'}

Ask for the first three openings:
curl -s {base}/vapi/webhook -H 'Content-Type: application/json' -H 'X-Vapi-Secret: {secret}' -d '{body}'

Play a whole call (add --otp to verify the caller by a texted code):
{simulate_cmd}

Press Ctrl-C to stop.
"""


if __name__ == "__main__":
    sys.exit(main())
