"""A conversation in OpenAI message form, as a local model reads it.

The agent keeps its history as OpenAI chat messages (assistant messages with
``tool_calls``, ``tool`` messages with ``tool_call_id``), the same form a
client sends ``agent-sdk serve``. :func:`render_messages` writes them as the
plain role/content messages a chat template renders, calls and results in
the model's :class:`~agent_sdk.agent.call_format.CallFormat`, so the model
sees one conversation whichever way it arrived.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from agent_sdk.agent.call_format import HERMES, CallFormat

__all__ = ["SYSTEM_ROLES", "answered_calls", "assistant_message", "call_arguments", "last_request", "render_messages",
           "with_request"]

SYSTEM_ROLES = ("system", "developer")


def call_arguments(call: dict[str, Any]) -> tuple[str, Any]:
    """``(name, arguments)`` of an OpenAI ``tool_calls`` entry (arguments parsed when JSON text)."""
    fn = call.get("function") or {}
    args = fn.get("arguments", {})
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError:
            pass  # left as text: rendered as written
    return str(fn.get("name", "")), args


def assistant_message(text: str, calls: Sequence[tuple[str, str, dict[str, Any]]] = ()) -> dict[str, Any]:
    """An assistant message in OpenAI form.

    Args:
        text: Its text (may be empty when it calls tools).
        calls: ``(id, name, arguments)`` per call.
    """
    msg: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        msg["tool_calls"] = [
            {"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False)}}
            for cid, name, args in calls
        ]
    return msg


def render_messages(messages: Sequence[dict[str, Any]], call_format: CallFormat = HERMES) -> list[dict[str, str]]:
    """OpenAI messages as plain role/content messages, calls and results in ``call_format``.

    Args:
        messages: Messages whose ``content`` is text (or None); assistant
            messages may carry ``tool_calls``.
        call_format: How the model writes calls and reads results.
    """
    out: list[dict[str, str]] = []
    names_by_id: dict[str, str] = {}
    unanswered: list[str] = []  # names of the latest assistant message's calls not yet matched to a result
    for m in messages:
        role = m["role"]
        text = m.get("content") or ""
        if role in SYSTEM_ROLES:
            out.append({"role": "system", "content": text})
        elif role == "assistant":
            entries = m.get("tool_calls") or []
            calls = [call_arguments(c) for c in entries]
            unanswered = [name for name, _ in calls]
            names_by_id = {entry["id"]: name for entry, (name, _) in zip(entries, calls)
                           if isinstance(entry, dict) and isinstance(entry.get("id"), str)}
            parts = (text.strip(), call_format.render_calls(calls) if calls else "")
            out.append({"role": "assistant", "content": "\n".join(p for p in parts if p)})
        elif role == "tool":
            name = _result_tool_name(m, names_by_id, unanswered)
            out.append({"role": "tool", "content": call_format.render_result(text, name=name)})
        else:
            out.append({"role": role, "content": text})
    return out


def _result_tool_name(message: dict[str, Any], names_by_id: dict[str, str], unanswered: list[str]) -> str | None:
    """The tool a ``tool`` message answers, among the latest assistant message's calls.

    Its ``tool_call_id``'s call, else its own ``name``, else the next call not yet answered.
    """
    call_id = message.get("tool_call_id")
    name = names_by_id.get(call_id) if isinstance(call_id, str) else None
    if not name and isinstance(message.get("name"), str) and message["name"]:
        name = message["name"]
    if not name and unanswered:
        name = unanswered[0]
    if name in unanswered:
        unanswered.remove(name)
    return name


def answered_calls(messages: Sequence[dict[str, Any]]) -> list[tuple[str, Any]]:
    """Calls made for the latest user message that a ``tool`` message already answered.

    Only the current turn counts: asking again later ("turn the lights on"
    after turning them off) is a new request. A call with an id is answered by
    a later tool message with that ``tool_call_id``; calls without ids by any
    tool message that follows.
    """
    out: list[tuple[str, Any]] = []
    start = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1) + 1
    for i, m in enumerate(messages[start:], start):
        if m.get("role") != "assistant" or not m.get("tool_calls"):
            continue
        later = [x for x in messages[i + 1:] if x.get("role") == "tool"]
        ids = {x.get("tool_call_id") for x in later}
        for c in m["tool_calls"]:
            if (c.get("id") and c.get("id") in ids) or (later and not c.get("id")):
                out.append(call_arguments(c))
    return out


def with_request(messages: Sequence[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """``messages`` with the latest user message's text replaced by ``text`` (a copy; unchanged without one)."""
    out = list(messages)
    for i in range(len(out) - 1, -1, -1):
        if out[i].get("role") == "user":
            out[i] = {**out[i], "content": text}
            break
    return out


def last_request(messages: Sequence[dict[str, Any]]) -> str:
    """The latest user message's text: argument values are copied from it."""
    for m in reversed(messages):
        if m.get("role") == "user":
            return str(m.get("content") or "")
    return ""
