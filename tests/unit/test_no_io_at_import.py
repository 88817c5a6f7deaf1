"""No I/O at import time: importing any module of the application opens no connection, reads no setting
from the environment and installs no global broker. Clients built at import break tests and survive
forks badly; settings are read once, by the process's entry point."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "store", "adapters", "assistant", "webhook", "workers", "frontdesk")

#: run in a fresh interpreter: every connection attempt and name lookup fails and is recorded, and so is
#: every read of a variable the settings are made of; then each module given is imported
PROBE = textwrap.dedent("""
    import importlib, json, os, socket, sys
    # the standard library's wsgiref copies the whole environment when imported (prometheus_client imports
    # it): not a read of our settings, so it is imported before the reads are watched
    import wsgiref.handlers

    attempts, reads = [], set()
    WATCHED = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "LOG_FORMAT", "SMS_BACKEND", "QUEUE_NAMESPACE"}

    def refuse(self, address, *args):
        attempts.append(f"connect {address!r}")
        raise OSError("no connections at import time")

    def no_lookup(host, *args, **kwargs):
        attempts.append(f"getaddrinfo {host!r}")
        raise OSError("no name lookups at import time")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.getaddrinfo = no_lookup
    Environ = type(os.environ)
    real_getitem = Environ.__getitem__

    def watched_getitem(self, key):
        if key in WATCHED:
            reads.add(key)
        return real_getitem(self, key)

    Environ.__getitem__ = watched_getitem

    failed = {}
    for name in sys.argv[1:]:
        try:
            importlib.import_module(name)
        except BaseException as e:
            failed[name] = f"{type(e).__name__}: {e}"
    import dramatiq.broker
    print(json.dumps({"failed": failed, "attempts": attempts, "env_reads": sorted(reads),
                      "global_broker": repr(dramatiq.broker.global_broker)}))
""")


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_importing_every_module_opens_no_connection_and_reads_no_settings():
    modules = _modules()
    assert {"workers.main", "webhook.app", "frontdesk.bootstrap", "frontdesk.cli", "domain.jobs", "store.uow", "adapters.broker", "adapters.sms"} <= set(modules)
    # unreachable addresses (TEST-NET-1), and nothing else in the environment
    env = {"DATABASE_URL": "postgresql://frontdesk@192.0.2.1:5432/frontdesk",
           "REDIS_URL": "redis://192.0.2.1:6379/0"}
    probe = subprocess.run([sys.executable, "-c", PROBE, *modules], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr[-3000:]
    report = json.loads(probe.stdout.strip().splitlines()[-1])
    assert report == {"failed": {}, "attempts": [], "env_reads": [], "global_broker": "None"}, probe.stderr[-3000:]
