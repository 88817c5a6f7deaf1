"""`frontdesk call simulate`: play a whole phone call against a running frontdesk, the way Vapi sends it, and
print the transcript: what the caller says, what the assistant says (each tool's `say`), and the texts sent.

It is a client of the HTTP API only: the envelopes are Vapi's (`tool-calls` with `toolCallList` and
`toolWithToolCallList`, then `status-update` ended and an `end-of-call-report`), posted with the tenant's
secret; texts are read from the console SMS backend's log. Which server, tenant and secret come from the
file `frontdesk dev` leaves in its data directory (`DevInfo`), or from the command line.

A call is a script: TOML, a list of `[[steps]]`, each what the caller says and the tool the assistant calls
on hearing it (see DEFAULT_SCRIPT). `$opening`, `$code` and `$appointment` in a step are filled in as the
call goes: the first opening offered, the code texted, the appointment booked.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, TextIO, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from assistant.tool_args import ARGUMENTS, parameters_schema
from domain.tool_names import ALL_TOOLS

#: the file `frontdesk dev` writes in its data directory while it runs, and removes when it stops
DEV_FILE = "dev.json"
#: how long to wait for a text (a code, a confirmation) to appear in the SMS log
DEFAULT_TEXT_TIMEOUT = 20.0
#: how long one request may take; our answers take milliseconds
REQUEST_TIMEOUT = 10.0
#: a script step's `tool = "reserve"`: reserve_slot, or reserve_atomic (hold + texted code) when the call uses one
RESERVE = "reserve"
#: the reason the call ends with, as Vapi reports a caller hanging up
ENDED_REASON = "customer-ended-call"

DEFAULT_SCRIPT = """\
# The call `frontdesk call simulate` plays without --script. Each step is what the caller says, then the tool
# the assistant calls on hearing it, with its arguments. $opening (the first opening offered), $code (the
# code texted in this call) and $appointment (the appointment booked) are filled in as the call goes.
caller_number = "+15555550123"

[[steps]]
caller = "Hi, I'd like to book a cleaning. When is your first opening?"
tool = "check_availability"
arguments = { service = "Cleaning" }

[[steps]]
caller = "The first one works for me."
tool = "reserve"    # reserve_slot, or reserve_atomic (holds it and texts a code) when the call uses a code
arguments = { start = "$opening", service = "Cleaning" }

[[steps]]
only = "otp"        # played only when the call uses a code
caller = "The code is $code."
tool = "verify_otp"
arguments = { code = "$code" }

[[steps]]
caller = "It's Dana Whitfield."
tool = "book_appointment"
arguments = { name = "Dana Whitfield" }

[[steps]]
caller = "Great, thank you. Bye!"
"""


class SimulationFailed(Exception):
    """A step of the call failed: a refusal, an HTTP error, a text that never came. The message says which."""


# ---- the script ----------------------------------------------------------------------------------------------


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    caller: str = ""
    tool: str | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)
    only: Literal["otp", "no-otp"] | None = None

    @field_validator("tool")
    @classmethod
    def _known(cls, tool: str | None) -> str | None:
        if tool is not None and tool != RESERVE and tool not in ALL_TOOLS:
            raise ValueError(f"{tool!r} is not a tool; use {RESERVE!r} or one of {', '.join(ALL_TOOLS)}")
        return tool

    @model_validator(mode="after")
    def _says_or_calls(self) -> _Step:
        if not self.caller.strip() and self.tool is None:
            raise ValueError("a step needs what the caller says (caller), a tool, or both")
        return self


class Script(BaseModel):
    """A call: the number it comes from and its steps, in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    caller_number: str = Field("+15555550123", pattern=r"^\+[1-9]\d{6,14}$")
    steps: list[_Step] = Field(min_length=1)

    def for_call(self, otp: bool) -> list[_Step]:
        """The steps played on a call with (or without) a code."""
        return [s for s in self.steps if s.only is None or (s.only == "otp") == otp]


def load_script(text: str, source: str = "the built-in script") -> Script:
    """A script from TOML text; every problem is named by where it is (`steps[2].tool`)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SimulationFailed(f"{source} is not valid TOML: {e}") from None
    try:
        return Script.model_validate(data)
    except ValidationError as e:
        problems = [f"  - {_where(d['loc'])}: {d['msg'].removeprefix('Value error, ')}" for d in e.errors()]
        raise SimulationFailed("\n".join([f"{source} cannot be played:", *problems])) from None


def _where(loc: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "the file"


# ---- what `frontdesk dev` tells `call simulate` ---------------------------------------------------------------


@dataclass(frozen=True)
class TenantInfo:
    """A tenant the server serves, as a caller's assistant knows it. The secret itself is never written
    down, except the demo value `frontdesk dev` chose itself (it prints it in its banner anyway)."""

    slug: str
    name: str
    assistant_id: str | None
    require_otp: bool
    secret_env: str | None
    demo_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class DevInfo:
    """The running `frontdesk dev`: where it listens, its tenants, and where its texts are written (None when
    they go through Twilio)."""

    url: str
    tenants: tuple[TenantInfo, ...]
    sms_log: str | None
    pid: int = 0

    def write(self, path: Path) -> None:
        """Atomically: a reader never sees half a file."""
        data = {"url": self.url, "pid": self.pid, "sms_log": self.sms_log,
                "tenants": [{k: v for k, v in vars(t).items() if v is not None} for t in self.tenants]}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)

    @staticmethod
    def remove(path: Path, pid: int) -> None:
        """Remove the file if process `pid` wrote it (another `frontdesk dev` may have written it since)."""
        try:
            ours = json.loads(path.read_text(encoding="utf-8")).get("pid") == pid
        except (OSError, ValueError, AttributeError):
            ours = False
        if ours:
            path.unlink(missing_ok=True)

    @classmethod
    def read(cls, path: Path) -> DevInfo | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise SimulationFailed(f"cannot read {path}: {e}") from None
        known = set(TenantInfo.__dataclass_fields__)
        try:
            return cls(url=data["url"], sms_log=data.get("sms_log"), pid=data.get("pid", 0),
                       tenants=tuple(TenantInfo(**{k: v for k, v in t.items() if k in known})
                                     for t in data.get("tenants", [])))
        except (KeyError, TypeError, AttributeError) as e:
            raise SimulationFailed(f"{path} is not as `frontdesk dev` writes it ({e!r}); restart it") from None


@dataclass(frozen=True)
class Target:
    """Where the call goes and as whom."""

    url: str
    secret: str
    slug: str | None
    assistant_id: str | None
    require_otp: bool
    sms_log: Path | None
    secret_hint: str  # how to give the right secret, for the message when the server refuses this one


def choose_target(info: DevInfo | None, environ: dict[str, str], default_url: str, sms_log: str,
                  url: str | None = None, tenant: str | None = None, secret: str | None = None,
                  dev_file: Path | None = None) -> Target:
    """The server, tenant and secret of the call: the command line's first, then what `frontdesk dev` wrote."""
    if info is None:
        if secret is None:
            where = f" ({dev_file} does not exist)" if dev_file else ""
            raise SimulationFailed(f"no running `frontdesk dev` found{where}: start it with `make run`, "
                                   "or give the server's tenant secret with --secret (and --url)")
        return Target(url or default_url, secret, tenant, None, False, Path(sms_log), "check --secret")
    tenants = {t.slug: t for t in info.tenants}
    if tenant is None:
        if len(tenants) != 1:
            raise SimulationFailed(f"the server has {len(tenants)} tenants; pick one with --tenant: "
                                   + ", ".join(sorted(tenants)))
        [chosen] = tenants.values()
    elif tenant in tenants:
        chosen = tenants[tenant]
    else:
        raise SimulationFailed(f"no tenant {tenant!r}; the server has: {', '.join(sorted(tenants)) or 'none'}")
    hint = "check --secret"
    if secret is None:
        if chosen.secret_env and environ.get(chosen.secret_env):
            secret, hint = environ[chosen.secret_env], f"is {chosen.secret_env} the same as `frontdesk dev`'s?"
        elif chosen.demo_secret:
            secret = chosen.demo_secret
        else:
            raise SimulationFailed(f"no secret for tenant {chosen.slug}: set {chosen.secret_env} as for "
                                   "`frontdesk dev`, or pass --secret")
    return Target(url or info.url, secret, chosen.slug, chosen.assistant_id, chosen.require_otp,
                  Path(info.sms_log) if info.sms_log else None, hint)


# ---- Vapi's envelopes -------------------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def tool_definition(name: str) -> dict[str, Any]:
    """The `function` of a tool as the assistant is configured with it (assistant.tool_args)."""
    model = ARGUMENTS.get(name)
    if model is None:
        return {"name": name, "parameters": {"type": "object", "properties": {}}}
    parameters = parameters_schema(model)
    return {"name": name, "description": parameters.pop("description"), "parameters": parameters}


class Envelopes:
    """The messages Vapi posts during one inbound call, with the fields our server (and Vapi's spec) use."""

    def __init__(self, base_url: str, call_id: str, caller: str, assistant_id: str | None,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.base_url = base_url.rstrip("/")
        self.call_id = call_id
        self.caller = caller
        self.assistant_id = assistant_id
        self.clock = clock
        self.started_at = clock()
        #: the conversation so far, as Vapi's `artifact.messages`
        self.messages: list[dict[str, Any]] = []

    def said(self, role: Literal["user", "bot"], text: str) -> None:
        now = self.clock()
        self.messages.append({"role": role, "message": text, "time": int(now.timestamp() * 1000),
                              "secondsFromStart": round((now - self.started_at).total_seconds(), 2)})

    def _message(self, kind: str, **fields: Any) -> dict[str, Any]:
        call: dict[str, Any] = {"id": self.call_id, "type": "inboundPhoneCall", "status": "in-progress",
                                "createdAt": _iso(self.started_at), "startedAt": _iso(self.started_at),
                                "customer": {"number": self.caller}}
        if self.assistant_id:
            call["assistantId"] = self.assistant_id
        return {"message": {"timestamp": int(self.clock().timestamp() * 1000), "type": kind, **fields,
                            "artifact": {"messages": list(self.messages)}, "call": call,
                            "customer": {"number": self.caller}}}

    def tool_calls(self, name: str, arguments: dict[str, Any], tool_call_id: str) -> dict[str, Any]:
        """One tool call; `arguments` as an object, which is what real captures show."""
        call = {"id": tool_call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
        tool = {"type": "function", "function": tool_definition(name), "async": False,
                "server": {"url": self.tool_url(name), "timeoutSeconds": 8}, "toolCall": call}
        return self._message("tool-calls", toolCallList=[call], toolWithToolCallList=[tool])

    def tool_url(self, name: str) -> str:
        return f"{self.base_url}/vapi/tools/{name}"

    def status_ended(self, reason: str = ENDED_REASON) -> dict[str, Any]:
        return self._message("status-update", status="ended", endedReason=reason)

    def end_of_call_report(self, reason: str = ENDED_REASON) -> dict[str, Any]:
        transcript = "\n".join(f"{'User' if m['role'] == 'user' else 'AI'}: {m['message']}" for m in self.messages)
        report = self._message("end-of-call-report", endedReason=reason, startedAt=_iso(self.started_at),
                               endedAt=_iso(self.clock()), analysis={"summary": ""})
        report["message"]["artifact"]["transcript"] = transcript
        return report


# ---- the texts ----------------------------------------------------------------------------------------------------

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float, poll: float = 0.05) -> T | None:
    """`check()`'s first truthy answer, asked until `timeout` seconds have passed; None if it never came."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(poll)  # the log is a file with no notification; the condition is checked each round


class SmsLog:
    """The console SMS backend's file, read from where it ended when the call began: this call's texts only."""

    def __init__(self, path: Path | None, to: str, tenant: str | None) -> None:
        self.path = path
        self.to = to
        self.tenant = tenant
        self._offset = self._size()

    def _size(self) -> int:
        try:
            return self.path.stat().st_size if self.path else 0
        except FileNotFoundError:
            return 0

    def next_text(self) -> str | None:
        """The body of the next text to the caller that was not read yet, if one has been written."""
        if self.path is None:
            return None
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return None
        for line in chunk.splitlines(keepends=True):
            if not line.endswith(b"\n"):  # still being written
                return None
            self._offset += len(line)
            text = json.loads(line)
            if text.get("to") == self.to and (self.tenant is None or text.get("tenant") in (None, self.tenant)):
                return str(text["body"])
        return None


# ---- the call ----------------------------------------------------------------------------------------------------


class Call:
    """One simulated call: posts each step to the server and writes the transcript to `out`."""

    def __init__(self, target: Target, script: Script, otp: bool, out: TextIO,
                 text_timeout: float = DEFAULT_TEXT_TIMEOUT) -> None:
        self.target = target
        self.script = script
        self.otp = otp
        self.out = out
        self.text_timeout = text_timeout
        self.call_id = f"sim-{secrets.token_hex(8)}"
        self.envelopes = Envelopes(target.url, self.call_id, script.caller_number, target.assistant_id)
        self.texts = SmsLog(target.sms_log, script.caller_number, target.slug)
        self.filled: dict[str, str] = {}

    def play(self) -> None:
        """The whole call; raises SimulationFailed at the first step that goes wrong (and still hangs up)."""
        ended = False
        try:
            for n, step in enumerate(self.script.for_call(self.otp), 1):
                self._step(n, step)
            self._post(f"{self.target.url}/vapi/webhook", self.envelopes.status_ended(), "status-update")
            ended = True
            self._say("call ended", ENDED_REASON)
            self._post(f"{self.target.url}/vapi/webhook", self.envelopes.end_of_call_report(), "end-of-call-report")
        finally:
            if not ended:  # let go of anything held for this call, as Vapi would when the caller hangs up
                try:
                    self._post(f"{self.target.url}/vapi/webhook", self.envelopes.status_ended(), "status-update")
                except SimulationFailed:
                    pass

    def _say(self, who: str, text: str) -> None:
        print(f"{who}: {text}", file=self.out, flush=True)

    def _fill(self, n: int, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return string.Template(value).substitute(self.filled)
            except KeyError as e:
                raise SimulationFailed(f"step {n} uses ${e.args[0]}, which nothing in this call has given yet "
                                       "($opening: an opening offered, $code: a code texted, $appointment: "
                                       "an appointment booked)") from None
            except ValueError as e:
                raise SimulationFailed(f"step {n}: {e} in {value!r} (write $$ for a dollar sign)") from None
        if isinstance(value, dict):
            return {k: self._fill(n, v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._fill(n, v) for v in value]
        return value

    def _step(self, n: int, step: _Step) -> None:
        if step.caller.strip():
            said = self._fill(n, step.caller.strip())
            self._say("caller", said)
            self.envelopes.said("user", said)
        if step.tool is None:
            return
        tool = step.tool
        if tool == RESERVE:
            tool = "reserve_atomic" if self.otp else "reserve_slot"
        answer = self._tool(tool, self._fill(n, step.arguments))
        self._say("assistant", answer["say"])
        self.envelopes.said("bot", answer["say"])
        if answer.get("ok") is not True:
            raise SimulationFailed(f"step {n}: {tool} was refused ({answer.get('code', 'no code')}): {answer['say']}"
                                   + ("; this tenant requires a code: try --otp"
                                      if answer.get("code") == "otp_required" else ""))
        self._remember(answer)
        if answer.get("code_sent_to"):
            body = self._text(f"the code {tool} texted")
            code = re.search(r"\b(\d{4,10})\b", body)
            if code is None:
                raise SimulationFailed(f"step {n}: the text {body!r} has no code in it")
            self.filled["code"] = code.group(1)
        if answer.get("confirmation") == "queued":
            self._text(f"the confirmation of {tool}")

    def _remember(self, answer: dict[str, Any]) -> None:
        openings = answer.get("openings")
        if isinstance(openings, list) and openings:
            self.filled["opening"] = str(openings[0]["start"])
        if answer.get("appointment_id"):
            self.filled["appointment"] = str(answer["appointment_id"])

    def _text(self, what: str) -> str:
        if self.target.sms_log is None:
            raise SimulationFailed(f"waiting for {what}, but texts are sent by Twilio here, not written to a log "
                                   "this command can read")
        body = wait_for(self.texts.next_text, self.text_timeout)
        if body is None:
            raise SimulationFailed(f"{what} was not texted to {self.script.caller_number} within "
                                   f"{self.text_timeout:g} s: nothing new in {self.target.sms_log} "
                                   "(is the worker running?)")
        self._say(f"text to {self.script.caller_number}", body)
        return body

    def _tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        tool_call_id = f"call_{secrets.token_hex(12)}"
        reply = self._post(self.envelopes.tool_url(name), self.envelopes.tool_calls(name, arguments, tool_call_id),
                           name)
        results = reply.get("results") if isinstance(reply, dict) else None
        if not (isinstance(results, list) and len(results) == 1 and isinstance(results[0], dict)):
            raise SimulationFailed(f"{name}: expected one result, got {json.dumps(reply)[:300]}")
        item = results[0]
        if item.get("toolCallId") != tool_call_id or item.get("name") != name:
            raise SimulationFailed(f"{name}: the result is for {item.get('name')!r} / {item.get('toolCallId')!r}, "
                                   f"not {name!r} / {tool_call_id!r}")
        if not isinstance(item.get("result"), str):
            raise SimulationFailed(f"{name}: no result string: {json.dumps(item)[:300]}")
        try:
            answer = json.loads(item["result"])
        except ValueError:
            raise SimulationFailed(f"{name}: the result is not JSON: {item['result'][:300]!r}") from None
        if not (isinstance(answer, dict) and isinstance(answer.get("say"), str)):
            raise SimulationFailed(f"{name}: the result has nothing to say: {item['result'][:300]}")
        return answer

    def _post(self, url: str, body: dict[str, Any], what: str) -> Any:
        req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              "X-Vapi-Secret": self.target.secret})
        try:
            with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", "replace")[:300]
            if e.code == 401:
                raise SimulationFailed(f"{what}: the server refused the secret (HTTP 401 {detail}); "
                                       f"{self.target.secret_hint}") from None
            raise SimulationFailed(f"{what}: HTTP {e.code} from {url}: {detail}") from None
        except urllib.error.URLError as e:
            raise SimulationFailed(f"cannot reach {url}: {e.reason}. Is the server (`make run`) running?") from None
        except OSError as e:
            raise SimulationFailed(f"{what}: no answer from {url}: {e}") from None
        try:
            return json.loads(raw)
        except ValueError:
            raise SimulationFailed(f"{what}: the answer is not JSON: {raw[:300]!r}") from None


def run(data_dir: Path, environ: dict[str, str], default_url: str, sms_log: str, *, url: str | None = None,
        tenant: str | None = None, secret: str | None = None, script: Path | None = None,
        otp: bool | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """The command: 0 when the whole call went as scripted, 1 (with the reason on `err`) when it did not."""
    try:
        text = script.read_text(encoding="utf-8") if script else DEFAULT_SCRIPT
    except OSError as e:
        print(f"cannot read {script}: {e.strerror}", file=err)
        return 2
    try:
        plan = load_script(text, str(script) if script else "the built-in script")
        dev_file = data_dir / DEV_FILE
        target = choose_target(DevInfo.read(dev_file), environ, default_url, sms_log, url, tenant, secret, dev_file)
        Call(target, plan, target.require_otp if otp is None else otp, out).play()
    except SimulationFailed as e:
        print(f"call failed: {e}", file=err, flush=True)
        return 1
    return 0

