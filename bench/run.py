"""`make bench` and `make bench-quick`: issue 10's figures, each beside its baseline and target, in one run.

    .venv/bin/python bench/run.py            # full: every row, median of 3 runs of 10 s; ~6 min
    .venv/bin/python bench/run.py --quick    # the headline rows, one run of 5 s each; under 2 minutes

What it starts, all on 127.0.0.1 and all stopped at the end (Ctrl-C included):
  - a fresh database on DATABASE_URL's server (else 127.0.0.1:5432, else the embedded PostgreSQL), migrated
    and loaded with examples/demo-clinic.toml and a bench clinic (40 chairs open around the clock, 60 days)
    whose free slots the reserve rows take, by the production commands (`frontdesk migrate`, `tenant apply`);
  - the real server, `frontdesk serve` (so its start-up settings apply), 1 process, or WEB_CONCURRENCY=2;
  - bench/baseline_server.py: the bare aiohttp, psycopg pool and SQLAlchemy SELECT 1 handlers (the
    denominators of the ratios), on the same event loop as the server;
  - the load: wrk (Debian's package) with bench/toolcalls.lua when on PATH, else bench/loadgen.py, in a
    process of its own, pinned to the last CPU while the 1-process servers are pinned to the others;
  - full mode: `frontdesk worker` and a fake Twilio for webhook->SMS latency and the RSS rows (Redis: REDIS_URL,
    else 127.0.0.1:6379, else the embedded one; a queue namespace of its own, deleted at the end).

Server CPU per request is the servers' utime+stime (/proc/<pid>/stat, summed over the process tree) over the
run, divided by the requests answered; PostgreSQL's, the same over the backends of the bench database. The
table goes to stdout, everything to bench/results/<UTC>.json. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import admin_url, free_port  # noqa: E402
from bench.stats import judge, median_of, slope  # noqa: E402

DEMO = ROOT / "examples" / "demo-clinic.toml"
LUA = ROOT / "bench" / "toolcalls.lua"
RESULTS = ROOT / "bench" / "results"
BENCH_TZ = ZoneInfo("America/New_York")
CHAIRS = [f"Chair {i}" for i in range(1, 41)]
HORIZON_DAYS = 60
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20
T0 = time.monotonic()

class BenchError(Exception):
    """A reason to stop with one clear line (database unreachable, a server that does not start...)."""


def say(message: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {message}", flush=True)


# ---- processes ------------------------------------------------------------------------------------------------


class Procs:
    """Every process this run starts, each in a session of its own, so that stopping one stops its children
    (a multi-process server's, the worker's) and nothing else."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.running: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], cpus: str | None = None) -> subprocess.Popen:
        if cpus and shutil.which("taskset"):
            argv = ["taskset", "-c", cpus, *argv]
        log = open(self.logdir / f"{name}.log", "ab")
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        self.running.append((name, proc))
        return proc

    def log_tail(self, name: str, lines: int = 15) -> str:
        path = self.logdir / f"{name}.log"
        text = path.read_text(errors="replace").splitlines() if path.exists() else []
        return "\n".join("    " + line for line in text[-lines:])

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=25)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        self.running = [(n, p) for n, p in self.running if p is not proc]

    def stop_all(self) -> None:
        for _, proc in reversed(list(self.running)):
            self.stop(proc)


def tree(pid: int) -> list[int]:
    """pid and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """CPU seconds (utime + stime, fields 14 and 15 of /proc/<pid>/stat) of each process still running."""
    found = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            found[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, IndexError, ValueError):
            pass
    return found


def cpu_seconds(pids: list[int]) -> float:
    return sum(cpu_by_pid(pids).values())


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE_MB
    except (OSError, IndexError, ValueError):
        return float("nan")


def uses_uvloop(pids: list[int]) -> bool:
    for pid in pids:
        try:
            if "uvloop" in Path(f"/proc/{pid}/maps").read_text():
                return True
        except OSError:
            pass
    return False


def wait_ready(url: str, proc: subprocess.Popen, procs: Procs, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{name} exited with code {proc.returncode} while starting "
                             f"(port in use? database unreachable?); the end of its log:\n{procs.log_tail(name)}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise BenchError(f"{name} did not answer {url} within {timeout:.0f} s; the end of its log:\n"
                     f"{procs.log_tail(name)}")


# ---- the bench clinic and its free slots -----------------------------------------------------------------------


def bench_clinic_toml() -> str:
    """40 chairs open every day around the clock for 60 days, 15-minute service and grain, no notice: about
    200,000 distinct free slots, so every reserve of every run takes a slot nobody asked for before."""
    hours = "{ " + ", ".join(f'{d} = ["00:00-23:45"]' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")) + " }"
    chairs = "\n".join(f'[[resources]]\nname = "{c}"\nservices = ["Cleaning"]\nhours = {hours}\n' for c in CHAIRS)
    return f"""[tenant]
slug = "bench-chairs"
name = "Bench Chairs"
timezone = "{BENCH_TZ.key}"
webhook_secret_env = "BENCH_CHAIRS_SECRET"
hold_minutes = 30
slot_minutes = 15
booking_horizon_days = {HORIZON_DAYS}
min_notice_minutes = 0

[[services]]
name = "Cleaning"
minutes = 15

{chairs}"""


def free_slots(today: date) -> list[tuple[str, str]]:
    """Every (chair, local start) of the bench clinic from tomorrow to two days before the horizon, ordered so
    that requests in flight together are for different chairs (and then days): distinct slots, not a queue on
    one provider's day."""
    days = [today + timedelta(days=d) for d in range(1, HORIZON_DAYS - 1)]
    return [(chair, f"{day.isoformat()}T{minute // 60:02d}:{minute % 60:02d}")
            for minute in range(0, 23 * 60, 15) for day in days for chair in CHAIRS]


class SlotPool:
    def __init__(self, path: Path, slots: list[tuple[str, str]]) -> None:
        self.path, self.slots, self.next = path, slots, 0
        path.write_text("".join(f"{r}\t{s}\n" for r, s in slots))

    def take(self, count: int) -> tuple[int, int]:
        """A range of slots never handed out before: (first line, count)."""
        count = min(count, len(self.slots) - self.next)
        if count <= 0:
            raise BenchError("the bench clinic ran out of free slots; run fewer or shorter reserve runs")
        first, self.next = self.next, self.next + count
        return first, count


# ---- load ------------------------------------------------------------------------------------------------------


class Load:
    """Runs one bounded load with wrk (when on PATH) or bench/loadgen.py, and measures the servers' CPU."""

    def __init__(self, cpus: str | None, use_wrk: bool, db_url: str, procs: Procs) -> None:
        self.cpus, self.wrk, self.db_url, self.procs = cpus, use_wrk, db_url, procs
        self.name = "wrk (" + _wrk_version() + ")" if use_wrk else "bench/loadgen.py (Python, aiohttp)"
        self.conn: psycopg.Connection | None = None  # one for the whole run: connections may be scarce

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def run(self, url: str, kind: str, connections: int, seconds: float, server_pids: list[int],
            args: list[str]) -> dict:
        """args: the wrk script's arguments after the kind (see bench/toolcalls.lua)."""
        if self.conn is None:
            self.conn = psycopg.connect(self.db_url, autocommit=True)
        backends = pg_backends(self.conn)
        cpu0, pg0, busy0 = cpu_seconds(server_pids), cpu_by_pid(backends), machine_busy_seconds()
        if self.wrk:
            argv = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
                    "-s", str(LUA), url, "--", kind, *args]
            marker = "WRK_JSON "
        else:
            argv = [sys.executable, str(ROOT / "bench" / "loadgen.py"), "load", "--url", url, "--kind", kind,
                    "--connections", str(connections), "--seconds", str(seconds)]
            names = ["--secret", "--nonce", "--assistant", "--slots", "--first", "--count"]
            argv += [x for pair in zip(names, args) for x in pair]
            marker = "LOADGEN_JSON "
        if self.cpus and shutil.which("taskset"):
            argv = ["taskset", "-c", self.cpus, *argv]
        gen0 = _children_cpu()
        t0 = time.monotonic()
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        except subprocess.TimeoutExpired:
            raise BenchError(f"the load generator did not finish within {seconds + 60:.0f} s: {' '.join(argv)}")
        cpu1, busy1 = cpu_seconds(server_pids), machine_busy_seconds()
        # backends of connections a pool opened during the run count whole (they are new), those it closed
        # during the run are gone and not counted: with pools that churn connections this is a lower bound
        after = cpu_by_pid(pg_backends(self.conn))
        pg = sum(v - pg0.get(pid, 0.0) if v >= pg0.get(pid, 0.0) else v for pid, v in after.items())  # pid reused
        gen1 = _children_cpu()
        wall = time.monotonic() - t0
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith(marker)), None)
        if line is None:
            raise BenchError(f"the load generator printed no summary (exit {out.returncode}):\n"
                             f"{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
        r = json.loads(line[len(marker):])
        n = max(r["requests"], 1)
        errors = sum(r["errors"].values())
        return {"requests": r["requests"], "rps": r["requests"] / (r["duration_us"] / 1e6),
                "p50_ms": r["p50_us"] / 1000, "p90_ms": r["p90_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
                "max_ms": r["max_us"] / 1000, "errors": errors, "error_kinds": r["errors"],
                "ok": r.get("ok", 0), "refused": r.get("refused", 0), "other": r.get("other", 0),
                "cpu_ms_per_req": (cpu1 - cpu0) * 1000 / n,
                "pg_cpu_ms_per_req": pg * 1000 / n if after else None,
                "loadgen_cpu_ms_per_req": (gen1 - gen0) * 1000 / n,
                # cores' worth of CPU over the run: the server's, and everything else on the machine besides
                # the server, its PostgreSQL backends and the load generator (other people's work: noise)
                "server_cores": (cpu1 - cpu0) / wall, "others_cores": max(
                    0.0, (busy1 - busy0 - (cpu1 - cpu0) - pg - (gen1 - gen0)) / wall)}


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent not idle since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle, iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


def _children_cpu() -> float:
    """CPU seconds of this process's waited-for children: the load generator's, measured around its run."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wrk_version() -> str:
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return (out.stdout + out.stderr).split("Copyright")[0].strip()


def pg_backends(conn: psycopg.Connection) -> list[int]:
    """PostgreSQL's processes serving the bench database, when they run on this machine (readable in /proc)."""
    pids = [r[0] for r in conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
    return [p for p in pids if os.path.exists(f"/proc/{p}/stat")]


# ---- the run ---------------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick = args.quick
        self.seconds = args.seconds or (5.0 if self.quick else 10.0)
        self.runs = args.runs or (1 if self.quick else 3)
        self.warmup = 1.0 if self.quick else 2.0
        self.tmp = Path(tempfile.mkdtemp(prefix="fdbench-"))
        self.procs = Procs(self.tmp)
        self.nonce = secrets.token_hex(4)
        self.dbname = f"fd_bench_{self.nonce}"
        self.admin = ""
        self.db_url = ""
        self.redis: tuple[str, object] | None = None
        self.results: dict = {"rows": {}, "table": []}
        cpus = os.cpu_count() or 1
        pin = args.pin and cpus >= 2 and shutil.which("taskset") is not None
        self.loadgen_cpus = str(cpus - 1) if pin else None
        self.server_cpus = f"0-{cpus - 2}" if pin else None
        use_wrk = shutil.which("wrk") is not None and not args.python_loadgen
        self.load = None  # type: Load | None
        self.use_wrk = use_wrk

    # -- set-up

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("WEB_CONCURRENCY", "PORT")}
        env.update({"DATABASE_URL": self.db_url, "SECRET_KEY": self.secret_key, "LOG_FORMAT": "json",
                    "BRIGHT_SMILE_SECRET": self.demo_secret, "BENCH_CHAIRS_SECRET": self.chairs_secret,
                    "QUEUE_NAMESPACE": self.dbname, "SMS_BACKEND": "twilio",
                    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "bench",
                    "TWILIO_FROM_NUMBER": "+15557010100", "TWILIO_API_BASE": f"http://127.0.0.1:{self.twilio_port}",
                    "PUBLIC_URL": ""})
        if self.redis is not None:
            env["REDIS_URL"] = self.redis[0]
        else:
            env.pop("REDIS_URL", None)
        env.update(extra)
        return env

    def frontdesk(self, *argv: str) -> None:
        out = subprocess.run([sys.executable, "-m", "frontdesk.cli", *argv], cwd=ROOT, env=self.env(),
                             capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise BenchError(f"frontdesk {' '.join(argv)} failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")

    def setup(self) -> None:
        self.secret_key = secrets.token_hex(32)
        self.demo_secret = "bench-demo-" + secrets.token_hex(12)
        self.chairs_secret = "bench-chairs-" + secrets.token_hex(12)
        self.twilio_port = free_port()
        given = os.environ.get("DATABASE_URL")
        if given:  # named explicitly: no quiet fall-back to another server
            try:
                psycopg.connect(given, connect_timeout=3).close()
            except psycopg.OperationalError as e:
                raise BenchError(f"DATABASE_URL's PostgreSQL is unreachable or refuses the connection: {e}")
        try:
            self.admin = admin_url()
        except Exception as e:  # noqa: BLE001 - any failure to reach or start PostgreSQL ends the run here
            raise BenchError(f"no PostgreSQL reachable (DATABASE_URL, 127.0.0.1:5432) nor startable: {e}")
        parts = urlsplit(self.admin)
        say(f"PostgreSQL at {parts.hostname}:{parts.port or 5432}; creating database {self.dbname}")
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.dbname}"')
        self.db_url = urlunsplit(parts._replace(path="/" + self.dbname))
        from bench.sms_latency import redis_url

        url, handle = redis_url()  # the servers publish jobs to Redis as in production, the worker reads them
        self.redis = (url, handle)
        say(f"Redis at {url} (queue namespace {self.dbname})")
        say("migrating and applying the demo clinic and the bench clinic (frontdesk migrate, tenant apply) ...")
        self.frontdesk("migrate")
        self.frontdesk("tenant", "apply", str(DEMO))
        chairs = self.tmp / "bench-chairs.toml"
        chairs.write_text(bench_clinic_toml())
        self.frontdesk("tenant", "apply", str(chairs))
        self.slots = SlotPool(self.tmp / "slots.tsv", free_slots(datetime.now(BENCH_TZ).date()))
        self.load = Load(self.loadgen_cpus, self.use_wrk, self.db_url, self.procs)
        say(f"load generator: {self.load.name}"
            + (f", pinned to CPU {self.loadgen_cpus}; 1-process servers to CPU {self.server_cpus}"
               if self.loadgen_cpus else ", not pinned"))

    def start_frontdesk(self, processes: int = 1) -> tuple[subprocess.Popen, str]:
        port = free_port()
        name = f"frontdesk-serve-{processes}p"
        env = self.env(WEB_CONCURRENCY=str(processes))
        proc = self.procs.start(name, [sys.executable, "-m", "frontdesk.cli", "serve", "--host", "127.0.0.1",
                                       "--port", str(port)], env, self.server_cpus if processes == 1 else None)
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/readyz", proc, self.procs, name)
        return proc, base

    def start_baseline(self, loop: str) -> tuple[subprocess.Popen, str]:
        port = free_port()
        proc = self.procs.start("baseline-server", [sys.executable, str(ROOT / "bench" / "baseline_server.py"),
                                                    "--port", str(port), "--database-url", self.db_url,
                                                    "--loop", loop], self.env(), self.server_cpus)
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/bare", proc, self.procs, "baseline-server")
        return proc, base

    # -- measuring

    def measure(self, label: str, url: str, kind: str, connections: int, pids: list[int],
                args_for_run, runs: int | None = None, seconds: float | None = None) -> list[dict]:
        """Warm-up, then `runs` bounded runs; prints each."""
        assert self.load is not None
        runs = runs or self.runs
        seconds = seconds or self.seconds
        say(f"{label}: {connections} connection(s), warm-up {self.warmup:g} s, then {runs} x {seconds:g} s ...")
        self.load.run(url, kind, connections, self.warmup, pids, args_for_run())
        out = []
        for i in range(runs):
            r = self.load.run(url, kind, connections, seconds, pids, args_for_run())
            extra = f", {r['ok']} ok / {r['refused']} refused / {r['other']} other" if kind == "reserve" else ""
            if r["errors"]:
                extra += f", {r['errors']} errors {r['error_kinds']}"
            say(f"  run {i + 1}/{runs}: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
                f"server CPU {r['cpu_ms_per_req']:.3f} ms/req (load generator {r['loadgen_cpu_ms_per_req']:.3f}); "
                f"cores busy: server {r['server_cores']:.2f}, rest of the machine {r['others_cores']:.2f}{extra}")
            out.append(r)
        return out

    def row(self, key: str, runs: list[dict], **extra) -> dict:
        row = {"runs": runs, **{k: median_of(runs, k) for k in
                                ("rps", "p50_ms", "p99_ms", "cpu_ms_per_req", "pg_cpu_ms_per_req", "server_cores",
                                 "others_cores")}, **extra}
        self.results["rows"][key] = row
        return row

    def bookings_count(self) -> int:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            return conn.execute("SELECT count(*) FROM bookings b JOIN tenants t ON t.id = b.tenant_id "
                                "WHERE t.slug = 'bench-chairs'").fetchone()[0]

    def holders(self, chair: str, start: str) -> int:
        at = datetime.fromisoformat(start).replace(tzinfo=BENCH_TZ)
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            return conn.execute(
                "SELECT count(*) FROM bookings b JOIN resources r ON r.id = b.resource_id "
                "JOIN tenants t ON t.id = b.tenant_id WHERE t.slug = 'bench-chairs' AND r.name = %s "
                "AND b.starts_at = %s AND b.status IN ('held', 'booked')", (chair, at)).fetchone()[0]

    def run(self) -> None:
        self.setup()
        c = self.args.concurrency
        check = lambda: [self.demo_secret, self.nonce + secrets.token_hex(2), "asst_bright_1"]  # noqa: E731
        chunk = int(max(4000 * self.seconds, 20000))

        def reserve_args() -> list[str]:
            first, count = self.slots.take(chunk)
            return [self.chairs_secret, self.nonce + secrets.token_hex(2), "-", str(self.slots.path),
                    str(first), str(count), str(min(2, c))]

        # frontdesk, 1 process
        server, base = self.start_frontdesk(1)
        pids = tree(server.pid)
        loop = "uvloop" if uses_uvloop(pids) else "asyncio"
        self.results["server_event_loop"] = loop
        say(f"frontdesk serve (1 process, pid {server.pid}) on {base}, event loop: {loop}")

        # the baselines, on the same event loop
        baseline, bbase = self.start_baseline(loop)
        bpids = tree(baseline.pid)
        say(f"baseline server (pid {baseline.pid}) on {bbase}")
        for key, label, path in (("bare", "bare aiohttp handler", "/bare"),
                                 ("psycopg", "psycopg pool SELECT 1 handler", "/psycopg"),
                                 ("sqlalchemy", "SQLAlchemy async SELECT 1 handler", "/sqlalchemy")):
            self.row(key, self.measure(label, bbase + path, "get", c, bpids, lambda: []))
        self.procs.stop(baseline)

        hook = base + "/vapi/webhook"
        self.row("check", self.measure("check_availability, 1 process", hook, "check", c, pids, check))
        self.row("check_unloaded", self.measure("check_availability unloaded", hook, "check", 1, pids, check))
        before = self.bookings_count()
        runs = self.measure("reserve_slot on distinct free slots", hook, "reserve", c, pids, reserve_args)
        created = self.bookings_count() - before
        answered_ok = sum(r["ok"] for r in runs)
        say(f"  bookings rows the reserve runs created (warm-up included): {created}; answered ok: {answered_ok}")
        self.row("reserve", runs, rows_created_including_warmup=created)
        for r in runs:
            r["holds_per_s"] = r["ok"] / r["requests"] * r["rps"] if r["requests"] else 0.0
        self.results["rows"]["reserve"]["holds_per_s"] = median_of(runs, "holds_per_s")
        self.racers(base, pids)

        if not self.quick or self.args.two_processes:
            self.procs.stop(server)
            server, base = self.start_frontdesk(2)
            pids = tree(server.pid)
            say(f"frontdesk serve with WEB_CONCURRENCY=2 (pids {pids}) on {base}")
            self.row("check_2p", self.measure("check_availability, WEB_CONCURRENCY=2", base + "/vapi/webhook",
                                              "check", c, pids, check))
        self.procs.stop(server)

        if not self.quick:
            self.sms_and_memory()

    def racers(self, base: str, pids: list[int]) -> None:
        n, repeats = self.args.racers, self.args.race_repeats
        say(f"{n} concurrent reserve_slot calls for one slot, {repeats} times ...")
        out = []
        for i in range(repeats):
            first, _ = self.slots.take(1)
            chair, start = self.slots.slots[first]
            argv = [sys.executable, str(ROOT / "bench" / "loadgen.py"), "race", "--url", base + "/vapi/webhook",
                    "--secret", self.chairs_secret, "--nonce", f"{self.nonce}-{i}", "--slot", f"{chair}\t{start}",
                    "--racers", str(n)]
            if self.loadgen_cpus:
                argv = ["taskset", "-c", self.loadgen_cpus, *argv]
            cpu0 = cpu_seconds(pids)
            res = subprocess.run(argv, capture_output=True, text=True, timeout=90)
            cpu = cpu_seconds(pids) - cpu0
            line = next((ln for ln in res.stdout.splitlines() if ln.startswith("RACE_JSON ")), None)
            if line is None:
                raise BenchError(f"the racers printed no summary (exit {res.returncode}):\n{res.stderr[-2000:]}")
            r = json.loads(line[len("RACE_JSON "):])
            r["holders_in_database"] = self.holders(chair, start)
            # the racers' connections are opened with a /healthz each first, inside this figure too
            r["server_cpu_ms_per_racer"] = cpu * 1000 / n
            say(f"  {i + 1}/{repeats}: last answer after {r['last_answer_s'] * 1000:.0f} ms, "
                f"{r['winners']} winner(s), {r['refused']} refused, {r['other']} other; "
                f"holds of that slot in the database: {r['holders_in_database']}; "
                f"server CPU {r['server_cpu_ms_per_racer']:.2f} ms per racer")
            out.append(r)
        self.results["rows"]["race"] = {"racers": n, "repeats": out,
                                        "last_answer_s_max": max(r["last_answer_s"] for r in out),
                                        "winners": [r["winners"] for r in out],
                                        "server_cpu_ms_per_racer": median_of(out, "server_cpu_ms_per_racer")}

    # -- webhook to SMS, memory (full mode)

    def sms_and_memory(self) -> None:
        if self.redis is None:
            say("no Redis: skipping webhook->SMS and memory")
            return
        from bench.sms_latency import FakeTwilio, book

        fake = FakeTwilio()
        stop_fake = serve_fake_twilio(fake, self.twilio_port)
        try:
            server, base = self.start_frontdesk(1)
            worker = self.procs.start("frontdesk-worker", [sys.executable, "-m", "frontdesk.cli", "worker",
                                                           "--processes", "1", "--threads", "4"], self.env())
            # the idle bookings, then 5 between each chunk of the memory row's load (at most 180 chunks)
            first, count = self.slots.take(self.args.bookings + 5 + 5 * 181)
            slots = iter(self.slots.slots[first:first + count])
            phones = (f"+1555{n:07d}" for n in range(1, 10_000_000))
            say(f"webhook->SMS: {self.args.bookings} bookings one after another (reserve_slot + book_appointment), "
                "idle worker (1 process x 4 threads), fake Twilio ...")
            latencies = asyncio.run(self._sms_idle(base, fake, book, slots, phones, worker))
            from bench.stats import percentile

            sms = {"n": len(latencies), "p50_ms": percentile(latencies, 50) * 1000,
                   "p99_ms": percentile(latencies, 99) * 1000}
            self.results["rows"]["sms"] = sms
            say(f"  answer -> fake Twilio: p50 {sms['p50_ms']:.1f} ms, p99 {sms['p99_ms']:.1f} ms")
            self.memory(server, worker, base, fake, book, slots, phones)
        finally:
            stop_fake()

    async def _sms_idle(self, base, fake, book, slots, phones, worker) -> list[float]:
        import aiohttp

        lat = []
        async with aiohttp.ClientSession() as session:
            for i in range(self.args.bookings + 5):
                chair, start = next(slots)
                phone = next(phones)
                t_answer, _ = await book(session, base, chair, start, phone, secret=self.chairs_secret)
                deadline = time.perf_counter() + 30
                while phone not in fake.received:
                    if worker.poll() is not None:
                        raise BenchError(f"the worker exited:\n{self.procs.log_tail('frontdesk-worker')}")
                    if time.perf_counter() > deadline:
                        raise BenchError("no text reached the fake Twilio within 30 s; the worker's log:\n"
                                         + self.procs.log_tail("frontdesk-worker"))
                    await asyncio.sleep(0.002)
                if i >= 5:  # the first five warm up
                    lat.append(fake.received[phone] - t_answer)
        return lat

    def memory(self, server, worker, base, fake, book, slots, phones) -> None:
        assert self.load is not None
        total, chunk_s = self.args.memory_calls, 5.0
        web_pids = tree(server.pid)
        say(f"memory: RSS of the web process and the worker over {total} tool calls (check_availability from "
            f"the load generator, 32 connections, {chunk_s:g} s at a time, with a few bookings between, which "
            "the worker texts) ...")
        samples = []
        calls = 0
        bookings_sent = 0
        deadline = time.monotonic() + 900
        while calls < total and time.monotonic() < deadline:
            r = self.load.run(base + "/vapi/webhook", "check", 32, chunk_s, web_pids,
                              [self.demo_secret, self.nonce + secrets.token_hex(2), "asst_bright_1"])
            calls += r["requests"]

            async def some_bookings() -> int:
                import aiohttp

                async with aiohttp.ClientSession() as session:
                    for _ in range(5):
                        chair, start = next(slots)
                        await book(session, base, chair, start, next(phones), secret=self.chairs_secret)
                return 5

            bookings_sent += asyncio.run(some_bookings())
            calls += 10
            worker_pids = tree(worker.pid)
            web = sum(rss_mb(p) for p in tree(server.pid))
            wrk_rss = max((rss_mb(p) for p in worker_pids), default=float("nan"))
            samples.append({"calls": calls, "web_rss_mb": web, "worker_rss_mb": wrk_rss})
            say(f"  {calls} calls: web {web:.1f} MB, worker {wrk_rss:.1f} MB (largest of its {len(worker_pids)} "
                f"processes), {len(fake.received)} texts so far")
        warm = [s for s in samples if s["calls"] >= min(10_000, total // 10)] or samples
        first, last = warm[0], samples[-1]
        xs = [s["calls"] / 10_000 for s in warm]
        mem = {"samples": samples, "calls": calls, "bookings": bookings_sent, "texts": len(fake.received)}
        for who in ("web", "worker"):
            ys = [s[f"{who}_rss_mb"] for s in warm]
            mem[who] = {"first_after_warmup_mb": first[f"{who}_rss_mb"], "first_at_calls": first["calls"],
                        "last_mb": last[f"{who}_rss_mb"], "slope_mb_per_10k_calls": slope(xs, ys)}
        self.results["rows"]["memory"] = mem

    def cleanup(self) -> None:
        self.procs.stop_all()
        if self.load is not None:
            self.load.close()
        if self.admin:
            try:
                with psycopg.connect(self.admin, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
                say(f"dropped database {self.dbname}")
            except psycopg.Error as e:
                print(f"could not drop database {self.dbname}: {e}", file=sys.stderr)
        if self.redis is not None:
            url, handle = self.redis
            try:
                import redis

                client = redis.Redis.from_url(url, socket_connect_timeout=2)
                keys = list(client.scan_iter(match=f"{self.dbname}*", count=1000))
                for i in range(0, len(keys), 500):
                    client.delete(*keys[i:i + 500])
            except Exception as e:  # noqa: BLE001 - clean-up does what it can
                print(f"could not delete the Redis keys {self.dbname}*: {e}", file=sys.stderr)
            if handle is not None:
                handle.shutdown()  # type: ignore[attr-defined]
        shutil.rmtree(self.tmp, ignore_errors=True)


def serve_fake_twilio(fake, port: int):
    """The fake Twilio on 127.0.0.1:port in a thread of its own (this process blocks on the load generator);
    returns a function that stops it."""
    from aiohttp import web

    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{a}/Messages.json", fake.create)
    runner = web.AppRunner(app)
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not started.wait(10):
        raise BenchError(f"the fake Twilio could not listen on 127.0.0.1:{port}")

    def stop() -> None:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)

    return stop


# ---- output ----------------------------------------------------------------------------------------------------


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if value != value:
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"


def render(table: list[dict]) -> str:
    head = ("figure", "measured", "unit", "baseline", "ratio", "target", "verdict")
    body = [(r["figure"], fmt(r["measured"]), r["unit"], fmt(r["baseline"]), fmt(r["ratio"]), r["target"] or "",
             r["verdict"]) for r in table]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)),
             "  ".join("-" * w for w in widths)]
    for b in body:
        lines.append("  ".join(cell.rjust(w) if i in (1, 3, 4) else cell.ljust(w)
                               for i, (cell, w) in enumerate(zip(b, widths))))
    return "\n".join(line.rstrip() for line in lines)


def markdown(table: list[dict]) -> str:
    lines = ["| figure | measured | unit | baseline | ratio | target | verdict |", "|---|---:|---|---:|---:|---|---|"]
    for r in table:
        lines.append(f"| {r['figure']} | {fmt(r['measured'])} | {r['unit']} | {fmt(r['baseline'])} | "
                     f"{fmt(r['ratio'])} | {r['target']} | {r['verdict']} |")
    return "\n".join(lines)


def checkout() -> dict:
    def git(*argv: str) -> str:
        out = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True)
        return out.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def main() -> int:
    parser = argparse.ArgumentParser(description="issue 10's benchmark: figures, baselines, ratios, targets")
    parser.add_argument("--quick", action="store_true", help="headline rows only, one 5 s run each (< 2 min)")
    parser.add_argument("--seconds", type=float, default=None, help="length of a run (10, quick: 5)")
    parser.add_argument("--runs", type=int, default=None, help="runs per row, median reported (3, quick: 1)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--racers", type=int, default=200)
    parser.add_argument("--race-repeats", type=int, default=5)
    parser.add_argument("--bookings", type=int, default=60, help="bookings for webhook->SMS latency")
    parser.add_argument("--memory-calls", type=int, default=100_000)
    parser.add_argument("--two-processes", action="store_true", help="also WEB_CONCURRENCY=2 in quick mode")
    parser.add_argument("--python-loadgen", action="store_true", help="bench/loadgen.py even when wrk is there")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="do not pin the load generator and 1-process servers to different CPUs")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default bench/results/<UTC>.json)")
    parser.add_argument("--markdown", type=Path, default=None, metavar="RESULT_JSON",
                        help="print the table of a results file as Markdown (for bench/README.md) and exit")
    args = parser.parse_args()
    if args.markdown:
        saved = json.loads(args.markdown.read_text())
        print(markdown(judge(saved["rows"])))
        return 0

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    # Ctrl-C stops the run even when started from a shell that made this process ignore SIGINT
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = datetime.now(timezone.utc)
    load_at_start = os.getloadavg()  # others' work on this machine: a high figure means noisy rows
    bench = Bench(args)
    say(f"{'quick' if args.quick else 'full'} bench of {ROOT} ({os.cpu_count()} cores, Python "
        f"{platform.python_version()}); every child process is stopped and the database dropped at the end")
    try:
        bench.run()
    except BenchError as e:
        print(f"\nbench failed: {e}", file=sys.stderr)
        return 1
    except psycopg.OperationalError as e:
        print(f"\nbench failed: PostgreSQL refused or dropped the harness's connection: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: stopping what was started ...", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        bench.cleanup()
        signal.signal(signal.SIGINT, signal.default_int_handler)
    table = judge(bench.results["rows"])
    bench.results["table"] = table
    results = {
        "started_utc": started.isoformat(timespec="seconds"), "mode": "quick" if args.quick else "full",
        "seconds_per_run": bench.seconds, "runs_per_row": bench.runs, "concurrency": args.concurrency,
        "cores": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine(),
        "load_generator": bench.load.name if bench.load else None, "pinned": {
            "load_generator_cpus": bench.loadgen_cpus, "one_process_server_cpus": bench.server_cpus},
        "checkout": checkout(), "elapsed_s": round(time.monotonic() - T0, 1),
        "load_average_at_start": load_at_start, "load_average_at_end": os.getloadavg(), **bench.results}
    RESULTS.mkdir(exist_ok=True)
    out = args.out or RESULTS / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print()
    print(f"{started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load generator: {results['load_generator']}, "
          f"{args.concurrency} concurrent, {'median of ' + str(bench.runs) + ' runs' if bench.runs > 1 else '1 run'}"
          f" of {bench.seconds:g} s, server event loop: {results.get('server_event_loop')}, checkout "
          f"{results['checkout']['commit'][:7]}{' (dirty)' if results['checkout']['dirty'] else ''}, load average "
          f"{load_at_start[0]:.1f} at start (the machine's other work makes every row noisy)")
    print(render(table))
    print(f"\nwritten: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
