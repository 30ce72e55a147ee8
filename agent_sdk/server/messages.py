"""OpenAI chat messages → the role/content messages the model's chat template renders.

The messages are checked (roles, text content, the calls an assistant made,
the results that answer them), then rendered as the agent renders its own
history (:func:`agent_sdk.agent.conversation.render_messages`, in the Hermes
call format), with the tools described in the system prompt as the agent
describes them (:func:`agent_sdk.agent.prompting.system_prompt`): the model
sees the same conversation whichever way it arrived.
"""

from __future__ import annotations

from typing import Any

from agent_sdk.agent.call_format import HERMES, CallFormat
from agent_sdk.agent.conversation import SYSTEM_ROLES, render_messages
from agent_sdk.agent.prompting import TunedTools, system_prompt
from agent_sdk.server.errors import APIError
from agent_sdk.server.json_input import load_json

__all__ = ["ROLES", "chat_messages"]

ROLES = (*SYSTEM_ROLES, "user", "assistant", "tool")


def chat_messages(messages: Any, tools: list[dict[str, Any]], *, tool_listing: str = "full",
                  tuned_tools: TunedTools | None = None, call_format: CallFormat = HERMES) -> list[dict[str, str]]:
    """OpenAI messages as the plain role/content messages the chat template renders.

    Leading system (or developer) messages become the system prompt, with the
    tools described after them as the agent describes them; assistant calls
    and tool results are written as the agent writes them (Hermes format), so
    the model sees the same conversation either way.

    Args:
        messages: The request's ``messages``.
        tools: Function specs offered in the request.
        tool_listing: How the system prompt lists them (the bundle's own, see
            :func:`agent_sdk.agent.prompting.bundle_tool_listing`).
        tuned_tools: The tools a tuned bundle learned; others are listed in
            full (:func:`agent_sdk.agent.prompting.bundle_tuned_tools`).
        call_format: The model's call format (its native one, as the agent's).

    Raises:
        APIError: 400, naming the first malformed message: a wrong role or
            content, a malformed call, or a tool result that answers no call.
    """
    if messages is None:
        raise APIError(400, "'messages' is required", code="missing_required_parameter", param="messages")
    if not isinstance(messages, list) or not messages:
        raise APIError(400, "'messages' must be a non-empty list", param="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise APIError(400, f"messages[{i}] must be an object", param="messages")
        if m.get("role") not in ROLES:
            raise APIError(400, f"messages[{i}].role is {m.get('role')!r}; expected one of {', '.join(ROLES)}",
                           param=f"messages[{i}].role")
    lead = 0
    while lead < len(messages) and messages[lead]["role"] in SYSTEM_ROLES:
        lead += 1
    system = "\n\n".join(_text(m.get("content"), f"messages[{i}]") for i, m in enumerate(messages[:lead])).strip()
    out: list[dict[str, str]] = []
    if tools:
        out.append({"role": "system", "content": system_prompt(tools, system or None, tool_listing=tool_listing,
                                                                   tuned_tools=tuned_tools, call_format=call_format)})
    elif lead:
        out.append({"role": "system", "content": system})
    rest = []
    calling: tuple[int, list[str | None]] | None = None  # the assistant message tool results may answer, its call ids
    for i, m in enumerate(messages[lead:], start=lead):
        where = f"messages[{i}]"
        msg: dict[str, Any] = {"role": m["role"], "content": _text(m.get("content"), where)}
        if m["role"] == "assistant" and m.get("tool_calls"):
            calls = _assistant_calls(m["tool_calls"], where)
            msg["tool_calls"] = [{"id": cid, "function": {"name": n, "arguments": a}} for cid, n, a in calls]
            calling = (i, [cid for cid, _, _ in calls])
        elif m["role"] == "tool":
            _check_answers(m, where, calling)
            # which call it answers: the model's own syntax may name the tool in the result (FunctionGemma)
            for key in ("tool_call_id", "name"):
                if isinstance(m.get(key), str):
                    msg[key] = m[key]
        else:
            calling = None  # results must follow their call, only other results in between
        rest.append(msg)
    return out + render_messages(rest, call_format)


def _check_answers(m: dict[str, Any], where: str, calling: tuple[int, list[str | None]] | None) -> None:
    """A tool result must answer a call of the assistant message just before it (other results between)."""
    cid = m.get("tool_call_id")
    if cid is not None and not isinstance(cid, str):
        raise APIError(400, f"{where}.tool_call_id must be a string", param=f"{where}.tool_call_id")
    if calling is None:
        raise APIError(400, f"{where} is a tool result, but the message before it made no tool call: a 'tool' message "
                            "must follow the assistant message whose tool_calls it answers", param=f"{where}.role")
    j, ids = calling
    if cid and cid not in ids:
        known = ", ".join(repr(x) for x in ids if x) or "none"
        raise APIError(400, f"{where}.tool_call_id {cid!r} matches no call of messages[{j}] (its call ids: {known})",
                       param=f"{where}.tool_call_id")


def _text(content: Any, where: str) -> str:
    """A message's content as text (a string, or a list of text parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for i, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise APIError(400, f"{where}.content[{i}]: only text parts are supported", param=f"{where}.content")
            parts.append(part["text"])
        return "\n".join(parts)
    raise APIError(400, f"{where}.content must be a string or a list of text parts", param=f"{where}.content")


def _assistant_calls(calls: Any, where: str) -> list[tuple[str | None, str, Any]]:
    """``(id, name, arguments)`` of each call an assistant message made."""
    if not isinstance(calls, list):
        raise APIError(400, f"{where}.tool_calls must be a list", param=f"{where}.tool_calls")
    out = []
    for i, call in enumerate(calls):
        fn = call.get("function") if isinstance(call, dict) else None
        name = fn.get("name") if isinstance(fn, dict) else None
        args = fn.get("arguments", "{}") if isinstance(fn, dict) else None
        cid = call.get("id") if isinstance(call, dict) else None
        if not isinstance(name, str) or not isinstance(args, (str, dict)) or not isinstance(cid, (str, type(None))):
            raise APIError(400, f'{where}.tool_calls[{i}] must be {{"id": "...", "type": "function", "function": '
                                '{"name", "arguments"}}', param=f"{where}.tool_calls")
        if isinstance(args, str):  # read as strictly as the body: it is parsed again downstream
            args = load_json(args, what=f"{where}.tool_calls[{i}].function.arguments", code="invalid_value",
                             param=f"{where}.tool_calls") if args.strip() else {}
        out.append((cid, name, args))
    return out
