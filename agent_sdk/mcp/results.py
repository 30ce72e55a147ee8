"""An MCP ``tools/call`` result as the text the model reads.

Read from the result's JSON form (``CallToolResult.model_dump(by_alias=True,
mode="json")``), so this module needs no ``mcp`` import:

* ``structuredContent``, when present, as compact JSON: it is the tool's
  answer, and its text blocks are by the spec a serialization of it for
  clients that cannot read it;
* otherwise the text blocks, joined by newlines;
* images, audio, links and binary resources described in a line each
  (``[image: image/png, 12,345 bytes]``): a text model cannot read them;
* anything longer than the limit cut, with a note saying so.

An ``isError`` result is the same text in a :class:`~agent_sdk.errors.ToolError`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from agent_sdk.errors import ToolError

__all__ = ["describe_block", "render_result", "truncate"]


def render_result(result: Mapping[str, Any], *, limit: int, tool: str) -> str:
    """The text the model reads for a ``tools/call`` result.

    Args:
        result: The result's JSON form.
        limit: Most characters returned (a longer text is cut, with a note).
        tool: The tool's name, for the message of a failure without text.

    Returns:
        The text.

    Raises:
        ToolError: The server marked the result ``isError``; the message is its text.
    """
    blocks = result.get("content") or []
    texts = [b.get("text", "") for b in blocks if isinstance(b, Mapping) and b.get("type") == "text"]
    others = [describe_block(b) for b in blocks if not (isinstance(b, Mapping) and b.get("type") == "text")]
    structured = result.get("structuredContent")
    if result.get("isError"):
        message = "\n".join([*texts, *others]).strip() or f"tool {tool!r} failed and its server gave no reason"
        raise ToolError(truncate(message, limit))
    if structured is not None:
        parts = [json.dumps(structured, ensure_ascii=False, separators=(", ", ": ")), *others]
    else:
        parts = [*texts, *others]
    return truncate("\n".join(parts), limit)


def describe_block(block: object) -> str:
    """One line for a content block a text model cannot read (or the text of an embedded text resource)."""
    if not isinstance(block, Mapping):
        return f"[unreadable content: {type(block).__name__}]"
    kind = block.get("type")
    if kind in ("image", "audio"):
        return f"[{kind}: {block.get('mimeType', 'unknown type')}, {_decoded_size(block.get('data')):,} bytes]"
    if kind == "resource_link":
        name = f" ({block['name']})" if block.get("name") else ""
        return f"[link: {block.get('uri', '?')}{name}]"
    if kind == "resource":
        resource = block.get("resource")
        if not isinstance(resource, Mapping):
            resource = {}
        if isinstance(resource.get("text"), str):
            return str(resource["text"])
        mime = resource.get("mimeType", "unknown type")
        return f"[resource {resource.get('uri', '?')}: {mime}, {_decoded_size(resource.get('blob')):,} bytes]"
    return f"[{kind or 'unknown'} content]"


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with a note to the model saying how much was left out."""
    if len(text) <= limit:
        return text
    note = f"\n[truncated: the result has {len(text):,} characters; only the first {{kept:,}} are shown]"
    kept = max(0, limit - len(note.format(kept=limit)))
    return text[:kept] + note.format(kept=kept)


def _decoded_size(data: object) -> int:
    if not isinstance(data, str):
        return 0
    try:
        return len(base64.b64decode(data, validate=False))
    except (binascii.Error, ValueError):
        return len(data)
