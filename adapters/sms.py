"""SMS senders: Twilio (the `twilio` library), a console/file one for dev, and a recording fake for tests."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import threading
from datetime import datetime, timezone
from pathlib import Path

import structlog
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from domain.model import TenantSms, mask_phone
from domain.notify import SmsPermanentError, SmsTransientError

log = structlog.get_logger("frontdesk.sms")

#: Twilio error codes that will never succeed on retry; 21610 is the recipient having replied STOP
PERMANENT_CODES = {21211: "failed", 21214: "failed", 21408: "failed", 21610: "opted_out", 21612: "failed",
                   21614: "failed", 21606: "failed", 21660: "failed"}


#: how long one call to Twilio may take; a hung send then fails as transient (and is retried) well within the
#: job's 30 s time limit and a stopping worker's 20 s, instead of holding the worker until Heroku's SIGKILL
SEND_TIMEOUT_S = 10.0


class TwilioSms:
    """Sends through Twilio's Messages API with the tenant's Messaging Service (or from-number) and a
    status callback. `api_base` points the real client at a local fake in tests."""

    def __init__(self, account_sid: str, auth_token: str, from_number: str | None = None,
                 status_callback: str | None = None, api_base: str | None = None,
                 environ: dict[str, str] | None = None) -> None:
        self._default = (account_sid, auth_token)
        self._from = from_number
        self._status_callback = status_callback
        self._api_base = api_base
        self._environ = os.environ if environ is None else environ
        self._clients: dict[tuple[str, str], Client] = {}
        self._lock = threading.Lock()

    def _client(self, tenant: TenantSms) -> Client:
        creds = self._default
        if tenant.account_sid and tenant.auth_token_env and self._environ.get(tenant.auth_token_env):
            creds = (tenant.account_sid, self._environ[tenant.auth_token_env])
        with self._lock:
            client = self._clients.get(creds)
            if client is None:
                client = Client(*creds, http_client=TwilioHttpClient(timeout=SEND_TIMEOUT_S))
                if self._api_base:
                    client.api.base_url = self._api_base
                self._clients[creds] = client
        return client

    def _send(self, tenant: TenantSms, to: str, body: str) -> str:
        params: dict = {"to": to, "body": body}
        if tenant.messaging_service_sid:
            params["messaging_service_sid"] = tenant.messaging_service_sid
        else:
            params["from_"] = tenant.from_number or self._from
        if self._status_callback:
            params["status_callback"] = self._status_callback
        try:
            message = self._client(tenant).messages.create(**params)
        except TwilioRestException as e:
            if e.code in PERMANENT_CODES:
                raise SmsPermanentError(str(e.code), PERMANENT_CODES[e.code]) from None
            if e.status and 400 <= e.status < 500 and e.status != 429:
                raise SmsPermanentError(str(e.code or e.status)) from None
            raise SmsTransientError(f"twilio {e.status}") from None
        except (TwilioException, OSError) as e:
            raise SmsTransientError(type(e).__name__) from None
        return message.sid

    async def send(self, tenant: TenantSms, to: str, body: str) -> str:
        sid = await asyncio.to_thread(self._send, tenant, to, body)
        log.info("sms_sent", tenant=tenant.slug, to=mask_phone(to), provider="twilio")
        return sid


#: beside the console SMS log: numbers listed here fail to send, for trying the job dashboard in the demo
FAIL_FILE = "sms-fail-to.txt"


class ConsoleSms:
    """Dev: appends each text as one JSON line {"to", "body", "tenant", "at"} to a file, logs only
    "sms sent to ***4321". The file is where a developer reads one-time codes; logs never carry them.

    A fault switch for the demo: while the file `sms-fail-to.txt` beside that log lists a number (one per
    line, E.164), a text to it fails as Twilio's 503 would (SmsTransientError: retried, in the end
    dead-lettered); a line `+15555550123 permanent` fails it for good as Twilio's 21211 would (the text is
    marked failed). Delete the line or the file to clear the fault; it is read on every send."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.fail_file = self.path.parent / FAIL_FILE
        self._n = 0

    def _forced_failure(self, to: str) -> None:
        try:
            lines = self.fail_file.read_text(encoding="utf-8").splitlines()
        except OSError:
            return
        for line in lines:
            number, _, kind = line.strip().partition(" ")
            if number == to:
                log.warning(f"sms to {mask_phone(to)} failed on purpose ({self.fail_file.name})")
                if kind.strip() == "permanent":
                    raise SmsPermanentError("21211")
                raise SmsTransientError(f"console: texts to {mask_phone(to)} fail while {self.fail_file.name} "
                                        f"lists the number")

    async def send(self, tenant: TenantSms, to: str, body: str) -> str:
        self._forced_failure(to)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"to": to, "body": body, "tenant": tenant.slug,
                           "at": datetime.now(timezone.utc).isoformat()})
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
        self._n += 1
        log.info(f"sms sent to {mask_phone(to)}", tenant=tenant.slug)
        return f"console-{os.getpid()}-{self._n}-{datetime.now(timezone.utc).timestamp()}"


class RecordingSms:
    """Tests: remembers what was sent; can be told to fail."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.fail_with: list[Exception] = []

    async def send(self, tenant: TenantSms, to: str, body: str) -> str:
        if self.fail_with:
            raise self.fail_with.pop(0)
        self.sent.append((tenant.slug, to, body))
        return "SM" + secrets.token_hex(16)
