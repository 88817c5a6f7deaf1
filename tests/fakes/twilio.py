"""A local fake of Twilio's Messages API that the real `twilio` client is pointed at (TWILIO_API_BASE).

It records every create-message request and answers from a script: by default 201 with a new SID;
queue `fail(status, code)` entries to answer errors first.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class FakeTwilio:
    requests: list[dict] = field(default_factory=list)  # every POST's form fields, failures included
    delivered: list[dict] = field(default_factory=list)  # only the ones answered 201
    script: list[tuple[int, int | None]] = field(default_factory=list)
    #: while set, requests hang until it is cleared (a provider that never answers)
    hang: asyncio.Event | None = None

    def fail(self, status: int, code: int | None = None, times: int = 1) -> None:
        self.script += [(status, code)] * times

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self._create)
        return app

    async def _create(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        form["account"] = request.match_info["account"]
        self.requests.append(form)
        if self.hang is not None and self.hang.is_set():
            while self.hang.is_set():
                await asyncio.sleep(0.05)
        if self.script:
            status, code = self.script.pop(0)
            return web.json_response({"code": code, "message": f"fake error {code or status}",
                                      "more_info": "https://www.twilio.com/docs/errors", "status": status},
                                     status=status)
        sid = "SM" + secrets.token_hex(16)
        self.delivered.append({**form, "sid": sid})
        return web.json_response({"sid": sid, "status": "queued", "to": form.get("To"), "body": form.get("Body"),
                                  "account_sid": form["account"], "num_segments": "1"}, status=201)
