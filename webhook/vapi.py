"""Vapi's envelope: read the fields we trust, tolerate the drift real payloads show, format replies.

Real bodies differ from the spec: `function.arguments` arrives as an object or a JSON string, the same
calls come in up to three lists, `timestamp` is ISO text or epoch ms, `call.status` is stale in later
messages. Nothing here ever raises on a malformed body part; it reports it.
"""

from __future__ import annotations

import orjson
from dataclasses import dataclass
from typing import Any

#: a whole arguments object larger than this is refused as invalid_arguments before any parsing
MAX_ARGUMENTS_BYTES = 16_384


@dataclass(frozen=True)
class ToolCall:
    id: str | None
    name: str | None
    arguments: dict[str, Any]
    error: str | None  # why the arguments could not be read, if they could not


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def message_type(msg: dict[str, Any]) -> str:
    t = msg.get("type")
    return t if isinstance(t, str) else ""


def call_id(msg: dict[str, Any]) -> str | None:
    cid = _dict(msg.get("call")).get("id") or _dict(msg.get("chat")).get("id")
    return cid if isinstance(cid, str) and cid else None


def assistant_id(msg: dict[str, Any]) -> str | None:
    """`call.assistantId`, else `assistant.id`; None for transient assistants and squads."""
    aid = _dict(msg.get("call")).get("assistantId") or _dict(msg.get("assistant")).get("id")
    return aid if isinstance(aid, str) and aid else None


def phone_numbers(msg: dict[str, Any]) -> tuple[str, ...]:
    """What names the Vapi number the call came in on: `phoneNumber.number` (E.164), `call.phoneNumberId`,
    `phoneNumber.id` (the spec gives `phoneNumber` no id; captures show one). Each once, blanks left out."""
    number, call = _dict(msg.get("phoneNumber")), _dict(msg.get("call"))
    found: list[str] = []
    for value in (number.get("number"), call.get("phoneNumberId"), number.get("id")):
        if isinstance(value, str) and value.strip() and value.strip() not in found:
            found.append(value.strip())
    return tuple(found)


def caller_number(msg: dict[str, Any]) -> str | None:
    num = _dict(msg.get("customer")).get("number") or _dict(_dict(msg.get("call")).get("customer")).get("number")
    return num if isinstance(num, str) and num.strip() else None


def ended_reason(msg: dict[str, Any]) -> str | None:
    r = msg.get("endedReason") or _dict(msg.get("call")).get("endedReason")
    return r[:120] if isinstance(r, str) else None


def _arguments(raw: Any) -> tuple[dict[str, Any], str | None]:
    if raw is None or raw == "":
        return {}, None
    if isinstance(raw, dict):
        if len(orjson.dumps(raw, default=str)) > MAX_ARGUMENTS_BYTES:
            return {}, "too_large"
        return raw, None
    if isinstance(raw, str):
        if len(raw) > MAX_ARGUMENTS_BYTES:
            return {}, "too_large"
        try:
            parsed = orjson.loads(raw)
        except ValueError:  # orjson.JSONDecodeError
            return {}, "not_json"
        if not isinstance(parsed, dict):
            return {}, "not_object"
        return parsed, None
    return {}, "not_object"


def tool_calls(msg: dict[str, Any]) -> list[ToolCall]:
    """The calls of a tool-calls message, each once, in order: from `toolCallList`, else
    `toolWithToolCallList[].toolCall`, else `toolCalls`."""
    raw_list = msg.get("toolCallList")
    items: list[Any] = raw_list if isinstance(raw_list, list) else []
    if not items:
        wrapped = msg.get("toolWithToolCallList")
        items = [_dict(w).get("toolCall") for w in wrapped if isinstance(w, dict)] if isinstance(wrapped, list) else []
        items = [i for i in items if isinstance(i, dict)]
    if not items:
        bare = msg.get("toolCalls")
        items = bare if isinstance(bare, list) else []
    out = []
    for item in items:
        item = _dict(item)
        fn = _dict(item.get("function"))
        name = fn.get("name") or item.get("name")
        raw = fn.get("arguments", item.get("arguments", fn.get("parameters", item.get("parameters"))))
        args, err = _arguments(raw)
        tid = item.get("id")
        out.append(ToolCall(tid if isinstance(tid, str) and tid else None,
                            name if isinstance(name, str) else None, args, err))
    return out


def legacy_function_call(msg: dict[str, Any]) -> ToolCall:
    fc = _dict(msg.get("functionCall"))
    args, err = _arguments(fc.get("parameters", fc.get("arguments")))
    name = fc.get("name")
    return ToolCall(None, name if isinstance(name, str) else None, args, err)


def result_item(call: ToolCall, result: str) -> dict[str, Any]:
    return {"toolCallId": call.id, "name": call.name or "", "result": result}
