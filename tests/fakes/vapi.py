"""A local fake of the part of Vapi's REST API the tool sync uses; the real client (adapters/vapi.py) is
pointed at it through VAPI_BASE_URL.

One organisation: the tools and assistants it holds, every request it got (method, path, body), and a
script of errors to answer first (`fail(429, retry_after="3")`). Like Vapi: bearer keys, 201 on create,
read-only fields refused in bodies (`type` on a tool PATCH too), PATCH replaces whole top-level fields,
409 deleting a pinned tool. Unlike Vapi it notes any tool deleted while an assistant still names it (a call
with that assistant would then fail), so tests can prove the sync detaches first.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

READ_ONLY = {"id", "orgId", "createdAt", "updatedAt"}


@dataclass
class FakeVapi:
    keys: set[str] = field(default_factory=lambda: {"vapi-test-key"})
    tools: dict[str, dict[str, Any]] = field(default_factory=dict)
    assistants: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: every request: (method, path, JSON body or None), failures included
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    #: (status, Retry-After or None): answered to the next requests, in order, before anything else
    script: list[tuple[int, str | None]] = field(default_factory=list)
    pinned: set[str] = field(default_factory=set)
    deleted_while_referenced: list[str] = field(default_factory=list)
    base_url: str = ""

    # ---- set-up and inspection --------------------------------------------------------------------------

    def fail(self, status: int, retry_after: str | None = None, times: int = 1) -> None:
        self.script += [(status, retry_after)] * times

    def add_tool(self, name: str, url: str = "https://elsewhere.example.com/hook") -> str:
        """A tool somebody else made in the organisation; the sync must never touch it."""
        tool_id = str(uuid.uuid4())
        self.tools[tool_id] = {"id": tool_id, "orgId": "org-1", "type": "function",
                               "function": {"name": name}, "server": {"url": url}}
        return tool_id

    def add_assistant(self, assistant_id: str, model: dict[str, Any] | None = None) -> None:
        self.assistants[assistant_id] = {
            "id": assistant_id, "orgId": "org-1", "name": "Receptionist", "firstMessage": "Hello!",
            "model": model if model is not None else {"provider": "openai", "model": "gpt-4.1", "messages": []}}

    def writes(self) -> list[tuple[str, str, Any]]:
        return [r for r in self.requests if r[0] in ("POST", "PATCH", "DELETE")]

    def tool_named(self, name: str) -> list[dict[str, Any]]:
        return [t for t in self.tools.values() if t.get("function", {}).get("name") == name]

    # ---- the API ----------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._gate])
        app.router.add_get("/tool", self._list_tools)
        app.router.add_post("/tool", self._create_tool)
        app.router.add_patch("/tool/{id}", self._update_tool)
        app.router.add_delete("/tool/{id}", self._delete_tool)
        app.router.add_get("/assistant/{id}", self._get_assistant)
        app.router.add_patch("/assistant/{id}", self._update_assistant)
        return app

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        self.requests.append((request.method, request.path, body))
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in self.keys:
            return _error(401, "Invalid Key. Hot tip, you may be using the private key instead of the public "
                               "key, or vice versa.", "Unauthorized")
        if self.script:
            status, retry_after = self.script.pop(0)
            headers = {"Retry-After": retry_after} if retry_after else {}
            return _error(status, f"fake error {status}", "Error", headers)
        return await handler(request)

    async def _list_tools(self, request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", "100"))
        return web.json_response(list(self.tools.values())[:limit])

    async def _create_tool(self, request: web.Request) -> web.Response:
        body = await request.json()
        bad = sorted(READ_ONLY & set(body))
        if bad or body.get("type") != "function":
            return _error(400, [f"property {k} should not exist" for k in bad] or ["type must be function"])
        tool_id = str(uuid.uuid4())
        self.tools[tool_id] = {**body, "id": tool_id, "orgId": "org-1", "createdAt": "2026-01-01T00:00:00Z"}
        return web.json_response(self.tools[tool_id], status=201)

    async def _update_tool(self, request: web.Request) -> web.Response:
        tool_id, body = request.match_info["id"], await request.json()
        if tool_id not in self.tools:
            return _error(404, "Not Found", "Not Found")
        bad = sorted((READ_ONLY | {"type"}) & set(body))
        if bad:
            return _error(400, [f"property {k} should not exist" for k in bad])
        self.tools[tool_id].update(body)
        return web.json_response(self.tools[tool_id])

    async def _delete_tool(self, request: web.Request) -> web.Response:
        tool_id = request.match_info["id"]
        if tool_id not in self.tools:
            return _error(404, "Not Found", "Not Found")
        if tool_id in self.pinned:
            return web.json_response({"error": "tool_pinned", "message": "a version is pinned"}, status=409)
        if any(tool_id in (a.get("model") or {}).get("toolIds", []) for a in self.assistants.values()):
            self.deleted_while_referenced.append(tool_id)
        return web.json_response(self.tools.pop(tool_id))

    async def _get_assistant(self, request: web.Request) -> web.Response:
        assistant = self.assistants.get(request.match_info["id"])
        if assistant is None:
            return _error(404, "Not Found", "Not Found")
        return web.json_response(assistant)

    async def _update_assistant(self, request: web.Request) -> web.Response:
        assistant, body = self.assistants.get(request.match_info["id"]), await request.json()
        if assistant is None:
            return _error(404, "Not Found", "Not Found")
        bad = sorted(READ_ONLY & set(body))
        model = body.get("model", assistant["model"])
        if bad or not (model.get("provider") and model.get("model")):
            return _error(400, [f"property {k} should not exist" for k in bad] or ["model.provider is required"])
        assistant.update(body)  # partial at the top level only: a field sent replaces the whole subtree
        return web.json_response(assistant)


def _error(status: int, message: Any, error: str = "Bad Request",
           headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"message": message, "error": error, "statusCode": status}, status=status,
                             headers=headers)


@contextmanager
def serving_in_a_thread(fake: FakeVapi) -> Iterator[FakeVapi]:
    """Serve `fake` on 127.0.0.1 from a thread of its own (for code that runs its own event loop, such as
    the `frontdesk` command), with `fake.base_url` set."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(fake.app())
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        fake.base_url = f"http://127.0.0.1:{port}"
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield fake
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
