"""A remote OpenAI-compatible chat server as the agent's model.

For when the device is not enough: the same ``Agent`` loop, tools and
events, with the model behind ``/v1/chat/completions`` (llama.cpp's server,
vLLM, Ollama, ``agent-sdk serve`` …). Tools go in the request's ``tools``
with ``tool_choice``; servers that constrain calls with a grammar (llama.cpp,
vLLM, ours) give the same guarantees as local decoding. Calls the server
returns are validated against the tools' schemas before anything runs;
a server that answers with calls in the text (no ``tool_calls`` field) is
parsed like a local free-running model.

Only the standard library is used (``urllib``).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from agent_sdk.agent.backends import StepRequest, StepResult, StepStream
from agent_sdk.agent.events import RunStats, TokenDelta, ToolCall
from agent_sdk.agent.parsing import parse_calls
from agent_sdk.errors import EngineError

__all__ = ["OpenAIBackend", "RemoteReply"]


@dataclass
class RemoteReply:
    """One assistant message from the server.

    Attributes:
        text: The content (may be empty when calling tools).
        calls: ``[(id, name, arguments)]`` from ``tool_calls``.
        usage: The server's token usage, if reported.
        raw_message: The message as received (to append to the history).
    """

    text: str
    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    raw_message: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


class OpenAIBackend:
    """Client for an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    Args:
        base_url: E.g. ``http://127.0.0.1:8000/v1``.
        model: Model name sent in requests.
        api_key: Bearer token, if the server wants one.
        timeout: Seconds per request.
        temperature: Sampling temperature sent to the server.
        max_tokens: Most tokens per reply.
    """

    def __init__(
        self,
        base_url: str,
        *,
        model: str = "default",
        api_key: str | None = None,
        timeout: float = 120.0,
        temperature: float = 0.0,
        max_tokens: int = 256,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.temperature = temperature
        self.max_tokens = max_tokens

    def chat(self, messages: list[dict[str, Any]], *, tools: list[dict[str, Any]] | None = None, tool_choice: str = "auto") -> RemoteReply:
        """Sends one chat request.

        Args:
            messages: OpenAI-format messages.
            tools: Tools in OpenAI format (``{"type": "function", "function": ...}``).
            tool_choice: ``auto``, ``required``, ``none`` or a tool name.

        Raises:
            EngineError: Network failure, an HTTP error or a malformed response.
        """
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if tools:
            body["tools"] = tools
            if tool_choice in ("auto", "required", "none"):
                body["tool_choice"] = tool_choice
            else:
                body["tool_choice"] = {"type": "function", "function": {"name": tool_choice}}
        req = urllib.request.Request(
            self.base_url + "/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {})},
            method="POST",
        )
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                data = json.loads(resp.read().decode())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise EngineError(f"model server answered HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise EngineError(f"cannot reach the model server at {self.base_url}: {exc}") from exc
        except ValueError as exc:
            raise EngineError(f"model server sent invalid JSON: {exc}") from exc
        try:
            msg = data["choices"][0]["message"]
        except (KeyError, IndexError, TypeError) as exc:
            raise EngineError(f"model server response has no choices[0].message: {str(data)[:200]}") from exc
        calls = []
        for tc in msg.get("tool_calls") or []:
            fn = tc.get("function") or {}
            args: Any = fn.get("arguments", {})
            if isinstance(args, str):
                try:
                    args = json.loads(args) if args.strip() else {}
                except ValueError:
                    pass  # left as text; the agent reports it as invalid arguments
            calls.append((str(tc.get("id") or ""), str(fn.get("name", "")), args))
        return RemoteReply(
            text=msg.get("content") or "",
            calls=calls,
            usage=data.get("usage") or {},
            raw_message=msg,
            seconds=time.perf_counter() - t0,
        )

    def step(self, request: StepRequest) -> StepStream:
        """One model step on the server (:meth:`agent_sdk.agent.backends.Backend.step`).

        The server renders the tools and decides about calls itself (the
        policy's ``tool_choice`` is sent); ``sampling`` and ``answer_prefix``
        are local-model settings and not sent.
        """
        messages, tools, system, choice = request.messages, request.tools, request.system, request.policy.tool_choice
        # OpenAI's tool messages carry no name (the agent keeps one for itself): strict servers refuse it.
        sent = [{k: v for k, v in m.items() if k != "name"} if m.get("role") == "tool" else m for m in messages]
        msgs = ([{"role": "system", "content": system}] if system else []) + sent
        offered = [{"type": "function", "function": dict(t)} for t in tools] or None
        reply = self.chat(msgs, tools=offered, tool_choice=choice)
        stats = RunStats(
            prompt_tokens=int(reply.usage.get("prompt_tokens", 0)),
            generated_tokens=int(reply.usage.get("completion_tokens", 0)), model_seconds=reply.seconds, steps=1,
        )
        calls = list(reply.calls)
        if not calls and reply.text and tools and choice != "none":
            parsed = parse_calls(reply.text, known_tools={t["name"] for t in tools})
            calls = [("", c.name, dict(c.arguments)) for c in parsed.calls]
        if not calls:
            text = reply.text.strip()
            if text:
                yield TokenDelta(text)
            return StepResult([], text, {"role": "assistant", "content": reply.text}, stats)
        msg = dict(reply.raw_message)
        msg.setdefault("role", "assistant")
        if not msg.get("tool_calls"):
            msg["tool_calls"] = [
                {"id": cid or f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
                for i, (cid, n, a) in enumerate(calls)
            ]
        out: list[ToolCall] = []
        rejected: dict[str, str] = {}
        for i, (cid, name, args) in enumerate(calls):
            call_id = cid or msg["tool_calls"][i]["id"]
            out.append(ToolCall(name, args if isinstance(args, dict) else {"_raw": args}, id=call_id))
            if not isinstance(args, dict):
                rejected[call_id] = "arguments are not a JSON object"
        return StepResult(out, "", msg, stats, rejected=rejected, attempted=True)
