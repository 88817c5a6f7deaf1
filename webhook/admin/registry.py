"""One declaration per admin API route: it adds the aiohttp route, checks its parameters, and is its
operation in the OpenAPI 3.1 document, so the document cannot drift from what is served.

    api = ApiRegistry("/admin/api", guard)

    @api.route("GET", "/resources", summary="...", params=[TENANT_REQUIRED], response={...})
    async def resources(request, q): ...        # q: the parsed parameters by name, path ones included

A handler raises ApiError(status, message) for a 4xx/5xx answer `{"error": message}`. Unknown or repeated query
parameters, and values a parameter's parser refuses (ValueError), are answered 400 naming the parameter.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request, dict[str, Any]], Awaitable[web.Response]]
#: checks a request before its handler: raises web.HTTPNotFound (admin disabled) or ApiError (401)
Guard = Callable[[web.Request, bool], None]

ERROR_SCHEMA = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}

_STATUS_TEXT = {
    200: "OK", 400: "A bad parameter or body, named in `error`", 401: "No or a wrong `Authorization: Bearer` token",
    404: "Not found (every /admin/api route answers 404 while ADMIN_TOKEN is unset)",
    409: "The use case refused (the presenter's answer, with `error` = its code)",
    503: "A backing service (PostgreSQL or Redis) is unavailable or not configured",
}


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Param:
    """A query, path or header parameter: its JSON Schema (for the document) and its parser (for requests)."""

    name: str
    schema: dict[str, Any]
    description: str
    parse: Callable[[str], Any] = str
    required: bool = False
    where: str = "query"


@dataclass
class Operation:
    method: str
    path: str  # under the prefix, aiohttp syntax: /appointments/{id}/cancel
    handler: Handler
    summary: str
    params: tuple[Param, ...]
    response: dict[str, Any]  # JSON Schema of the 200 body
    errors: tuple[int, ...]
    body: dict[str, Any] | None = None
    auth: bool = True
    description: str = ""
    extra: dict[int, dict[str, Any]] = field(default_factory=dict)  # other statuses' body schemas


def to_json(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=to_json))


class ApiRegistry:
    def __init__(self, prefix: str, guard: Guard) -> None:
        self.prefix = prefix
        self.guard = guard
        self.operations: list[Operation] = []

    def route(self, method: str, path: str, *, summary: str, response: dict[str, Any],
              params: tuple[Param, ...] | list[Param] = (), body: dict[str, Any] | None = None,
              errors: tuple[int, ...] = (400,), auth: bool = True, description: str = "",
              extra: dict[int, dict[str, Any]] | None = None) -> Callable[[Handler], Handler]:
        def add(handler: Handler) -> Handler:
            self.operations.append(Operation(method, path, handler, summary, tuple(params), response, errors, body,
                                             auth, description or (handler.__doc__ or "").strip(), extra or {}))
            return handler
        return add

    def install(self, app: web.Application) -> None:
        for op in self.operations:
            app.router.add_route(op.method, self.prefix + op.path, self._wrap(op))

    def _wrap(self, op: Operation) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            self.guard(request, op.auth)
            try:
                return await op.handler(request, _parameters(op, request))
            except ApiError as e:
                return json_response({"error": e.message}, status=e.status)
        return handle

    # ---- the document -------------------------------------------------------------------------------

    def openapi(self, title: str, version: str, description: str) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        for op in self.operations:
            responses: dict[str, Any] = {"200": {"description": "OK", "content": {
                "application/json": {"schema": op.response}}}}
            for status in (*op.errors, *((401,) if op.auth else ()), 404):
                schema = op.extra.get(status, {"$ref": "#/components/schemas/Error"})
                responses[str(status)] = {"description": _STATUS_TEXT[status],
                                          "content": {"application/json": {"schema": schema}}}
            operation: dict[str, Any] = {
                "operationId": op.handler.__name__, "summary": op.summary, "responses": responses,
                "parameters": [{"name": p.name, "in": p.where, "required": p.required or p.where == "path",
                                "description": p.description, "schema": p.schema} for p in op.params],
            }
            if op.description:
                operation["description"] = op.description
            if op.body is not None:
                operation["requestBody"] = {"required": False, "content": {"application/json": {"schema": op.body}}}
            if not op.auth:
                operation["security"] = []
            paths.setdefault(self.prefix + op.path, {})[op.method.lower()] = operation
        return {
            "openapi": "3.1.0",
            "info": {"title": title, "version": version, "description": description},
            "paths": paths,
            "components": {
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                               "description": "ADMIN_TOKEN, as `Authorization: Bearer <token>`"}},
                "schemas": {"Error": ERROR_SCHEMA},
            },
            "security": [{"bearer": []}],
        }


def _parameters(op: Operation, request: web.Request) -> dict[str, Any]:
    declared = {p.name: p for p in op.params if p.where == "query"}
    for name in request.query:
        if name not in declared:
            raise ApiError(400, f"unknown query parameter {name!r}; this route takes: "
                                f"{', '.join(sorted(declared)) or 'none'}")
        if len(request.query.getall(name)) > 1:
            raise ApiError(400, f"{name}: given more than once")
    out: dict[str, Any] = {}
    for p in op.params:
        if p.where == "query":
            raw = request.query.get(p.name)
        elif p.where == "path":
            raw = request.match_info.get(p.name)
        else:
            raw = request.headers.get(p.name)
        if raw is None or raw == "":
            if p.required:
                raise ApiError(400, f"{p.name}: required")
            out[p.name] = p.schema.get("default")
            continue
        try:
            out[p.name] = p.parse(raw)
        except ValueError as e:
            raise ApiError(404 if p.where == "path" else 400, f"{p.name}: {e}") from None
    return out
