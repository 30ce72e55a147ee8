"""How tools are described to a small model, and the chat messages of a turn.

Tool descriptions are rendered as compact signatures with the schema's
facts a model needs to fill arguments (types, enums, defaults, required)
followed by the descriptions; that costs a fraction of the tokens of raw
JSON schemas and is prefilled once, then reused from the KV cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, TypeAlias

from agent_sdk.agent.call_format import HERMES, CallFormat
from agent_sdk.errors import UserError
from agent_sdk.jsonschema_repair import repair_schema

__all__ = ["DEFAULT_SYSTEM", "TOOL_LISTINGS", "TunedTools", "bundle_tool_listing", "bundle_tuned_tools",
           "changed_tools", "render_tools", "render_type", "system_message", "system_prompt", "tool_digest"]

DEFAULT_SYSTEM = "You are a helpful assistant."

TOOL_LISTINGS = ("full", "compact", "names")
"""How the system message lists tools: ``full`` (signature, description and
argument notes), ``compact`` (signatures only: a bundle tuned on its tools
knows what they do, and its prompt is shorter to prefill) or ``names`` (the
tools' names only, as Octopus v2 lists its functions: a tuned bundle learned
their arguments, and the call grammar still writes them by the schema)."""

TunedTools: TypeAlias = AbstractSet[str] | Mapping[str, str | None]
"""The tools a tuned bundle learned: their names, or names mapped to each
tool's :func:`tool_digest` at tuning time (None where the bundle did not
record one), so a tool changed since the tune is told apart from it."""


def tool_digest(tool: Mapping[str, Any]) -> str:
    """A tool's fingerprint: the sha256 of what a model reads about it, its full listing.

    The listing (:func:`render_tools`, ``full``) of the tool with its schema
    repaired as the call step repairs it
    (:func:`agent_sdk.jsonschema_repair.repair_schema`): name, argument types,
    enums, defaults and which are required, the description and each
    argument's note. What no listing shows does not count (``strict``,
    ``title``, ``additionalProperties``, whitespace around descriptions), so
    the same tool given as a ``@tool``, a raw OpenAI dict, a hand-written
    client spec or an MCP listing hashes alike; a new enum value, argument or
    reworded description does not.

    Args:
        tool: ``{"name", "description", "parameters"}``.

    Returns:
        64 hex digits.
    """
    spec = dict(tool)
    spec["parameters"] = repair_schema(tool.get("parameters") or {})[0]
    return hashlib.sha256(_tool_block(spec, "full").encode()).hexdigest()


def _is_tuned(tool: Mapping[str, Any], tuned_tools: TunedTools) -> bool:
    """Whether a bundle tuned on ``tuned_tools`` learned ``tool`` as it is now."""
    name = tool.get("name")
    if not isinstance(name, str) or name not in tuned_tools:
        return False
    if isinstance(tuned_tools, Mapping):
        digest = tuned_tools[name]
        return digest is None or digest == tool_digest(tool)
    return True


def changed_tools(tools: Sequence[Mapping[str, Any]], tuned_tools: TunedTools | None) -> list[str]:
    """The tools a bundle was tuned on by name that have changed since (their :func:`tool_digest` differs).

    Args:
        tools: Tool specs as offered now.
        tuned_tools: What :func:`bundle_tuned_tools` read (None, a set of names or a record without digests: none
            can be told changed).

    Returns:
        Their names, in the order given.
    """
    if not isinstance(tuned_tools, Mapping):
        return []
    return [t["name"] for t in tools
            if isinstance(t.get("name"), str) and t["name"] in tuned_tools and not _is_tuned(t, tuned_tools)]


def render_type(schema: dict[str, Any]) -> str:
    """A short, readable type for a JSON schema (``"c" | "f"``, ``list[string]``)."""
    if "enum" in schema:
        return " | ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"], ensure_ascii=False)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(render_type(s) for s in schema[key])
    t = schema.get("type")
    if isinstance(t, list):
        return " | ".join(render_type({**schema, "type": x}) for x in t)
    if t == "array":
        items = schema.get("items")
        return f"list[{render_type(items)}]" if isinstance(items, dict) else "list"
    if t == "object":
        props = schema.get("properties")
        if props:
            req = set(schema.get("required", []))
            inner = ", ".join(f"{k}{'' if k in req else '?'}: {render_type(v)}" for k, v in props.items())
            return "{" + inner + "}"
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            return f"dict[string, {render_type(extra)}]"
        return "object"
    return {"integer": "int", "number": "float", "boolean": "bool", "string": "string", "null": "null"}.get(str(t), "any")


def _signature(tool: dict[str, Any]) -> str:
    params = tool.get("parameters") or {}
    props: dict[str, Any] = params.get("properties") or {}
    required = set(params.get("required", []))
    parts = []
    for name, schema in props.items():
        piece = f"{name}: {render_type(schema)}"
        if name not in required:
            piece += f" = {json.dumps(schema['default'], ensure_ascii=False)}" if "default" in schema else " (optional)"
        parts.append(piece)
    return f"{tool['name']}({', '.join(parts)})"


def render_tools(
    tools: Sequence[dict[str, Any]], *, listing: str = "full", tuned_tools: TunedTools | None = None,
) -> str:
    """The tools as the system message lists them, one block per tool.

    ``full``: signature, description, then per-argument notes; ``compact``:
    signatures only; ``names``: the name only.

    Args:
        tools: Tool specs, in the order listed.
        listing: One of :data:`TOOL_LISTINGS`.
        tuned_tools: The tools a tuned bundle learned (None: every tool is
            listed by ``listing``). A tool not among them, or whose digest
            differs from the one recorded (changed since the tune), is listed
            in full whatever ``listing`` says: the model knows nothing else
            about it as it is now.

    Raises:
        UserError: An unknown listing.
    """
    if listing not in TOOL_LISTINGS:
        raise UserError(f"unknown tool listing {listing!r}; expected one of {', '.join(TOOL_LISTINGS)}")
    if listing == "full" or tuned_tools is None:
        return "\n".join(_tool_block(tool, listing) for tool in tools)
    return "\n".join(_tool_block(tool, listing if _is_tuned(tool, tuned_tools) else "full") for tool in tools)


def _tool_block(tool: dict[str, Any], listing: str) -> str:
    """One tool's lines in ``listing``."""
    if listing == "names":
        return str(tool["name"])
    if listing == "compact":
        return _signature(tool)
    lines = [_signature(tool)]
    if tool.get("description"):
        lines.append(f"  {tool['description'].strip()}")
    props = (tool.get("parameters") or {}).get("properties") or {}
    for name, schema in props.items():
        desc = schema.get("description") if isinstance(schema, dict) else None
        if desc:
            lines.append(f"  - {name}: {desc.strip()}")
    return "\n".join(lines)


def system_prompt(
    tools: Sequence[dict[str, Any]], system: str | None = None, *, call_format: CallFormat = HERMES,
    tool_listing: str = "full", tuned_tools: TunedTools | None = None,
) -> str:
    """The system message: the user's instructions, the tools, how to call them (``call_format``'s instructions).

    Measured alternatives (SmolLM2-135M): the call instructions before the
    tools (next to the request) scored about the same on BFCL simple_python
    (48.8% → 49.5% of 400 with a forced call) but worse with nine home
    tools (two of eleven voice commands called wrongly) and in answers
    after a tool result (9 of 14 quoting the result vs 12 of 14); a worked
    example (49% vs 55% on the tuning questions) and the tools as JSON
    schemas (52%) scored lower.

    Args:
        tools: Tool specs, in the order listed.
        system: The user's instructions (None: :data:`DEFAULT_SYSTEM`).
        call_format: How the model writes calls (its instructions end the message).
        tool_listing: How the tools are listed (:func:`render_tools`).
        tuned_tools: The tools a tuned bundle learned (:func:`render_tools`).
    """
    if tools:
        own = call_format.system_prompt(tools, system)
        if own is not None:  # a family with a declaration syntax of its own (FunctionGemma)
            return own
    head = (system or DEFAULT_SYSTEM).strip()
    if not tools:
        return head
    listing = render_tools(tools, listing=tool_listing, tuned_tools=tuned_tools)
    return f"{head}\n\nYou can use these functions:\n{listing}\n\n{call_format.instructions}"


def system_message(
    tools: Sequence[dict[str, Any]], system: str | None = None, *, call_format: CallFormat = HERMES,
    tool_listing: str = "full", tuned_tools: TunedTools | None = None,
) -> dict[str, str]:
    """The static first message (instructions + tools): prefilled once, reused from the KV cache.

    Args: as :func:`system_prompt`.
    """
    return {"role": "system", "content": system_prompt(tools, system, call_format=call_format,
                                                       tool_listing=tool_listing, tuned_tools=tuned_tools)}


def bundle_tool_listing(manifest: dict[str, Any] | None) -> str:
    """The tool listing a bundle was tuned with (its manifest's ``prompt.tool_listing``; ``full`` otherwise).

    Raises:
        UserError: The manifest names a listing this version does not know.
    """
    prompt = manifest.get("prompt") if isinstance(manifest, dict) else None
    if prompt is not None and not isinstance(prompt, dict):
        raise UserError(f"the bundle's manifest has a malformed prompt record ({type(prompt).__name__}, not an object)")
    listing = (prompt or {}).get("tool_listing", "full")
    if not isinstance(listing, str) or listing not in TOOL_LISTINGS:
        raise UserError(f"the bundle expects tool listing {listing!r}, which this version does not know "
                        f"({', '.join(TOOL_LISTINGS)})")
    return str(listing)


def bundle_tuned_tools(manifest: dict[str, Any] | None) -> dict[str, str | None] | None:
    """The tools a bundle was tuned on, for :func:`render_tools`.

    Only a bundle with a shortened listing needs them: other tools are
    listed in full. A tool counts as tuned when its name is recorded and,
    where the bundle records each tool's :func:`tool_digest`
    (``tuning.tools.digests``; bundles tuned before it recorded none), its
    spec is unchanged since the tune.

    Args:
        manifest: The bundle's manifest (None: no bundle).

    Returns:
        Tool name → recorded digest (None where none is recorded); None
        when the bundle records no tuning (every tool by the listing, which
        is then ``full``); an empty mapping when the record is there but
        malformed (every tool in full, the safe side).
    """
    tuning = manifest.get("tuning") if isinstance(manifest, dict) else None
    if tuning is None:
        return None
    tools = tuning.get("tools") if isinstance(tuning, dict) else None
    names = tools.get("names") if isinstance(tools, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return {}
    digests = tools.get("digests") if isinstance(tools, dict) else None
    if digests is None:
        return dict.fromkeys(names)
    if not isinstance(digests, dict) or not all(isinstance(digests.get(n), str) for n in names):
        return {}
    return {n: digests[n] for n in names}
