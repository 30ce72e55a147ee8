"""BFCL v4 questions: reading the raw files and converting BFCL's function docs.

Reads BFCL's raw files (``BFCL_v4_<category>.json``, one question a line)
and converts each question's function docs from BFCL's dialect (``dict``,
``float``, ``tuple``, ``any`` …) to JSON Schema tool specs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_sdk.errors import UserError

__all__ = ["CATEGORIES", "BFCLQuestion", "bfcl_to_json_schema", "coerce_numbers", "function_to_tool", "load_bfcl"]

CATEGORIES = (
    "simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance",
    "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple", "live_irrelevance", "live_relevance",
)

_TYPE_MAP = {
    "dict": "object", "object": "object", "float": "number", "number": "number", "double": "number",
    "integer": "integer", "int": "integer", "long": "integer", "string": "string", "str": "string",
    "boolean": "boolean", "bool": "boolean", "array": "array", "list": "array", "tuple": "array",
}


def bfcl_to_json_schema(param: dict[str, Any]) -> dict[str, Any]:
    """Converts one BFCL parameter doc (``dict``, ``float``, ``tuple``, ``any`` …) to JSON Schema."""
    out: dict[str, Any] = {}
    t = param.get("type")
    if t == "any" or t is None:
        pass  # any JSON value
    elif t in _TYPE_MAP:
        out["type"] = _TYPE_MAP[t]
    else:
        out["type"] = "string"
    if "description" in param and isinstance(param["description"], str):
        out["description"] = param["description"]
    if "enum" in param:
        out["enum"] = list(param["enum"])
    if "default" in param:
        out["default"] = param["default"]
    if out.get("type") == "array":
        items = param.get("items")
        if isinstance(items, dict):
            out["items"] = bfcl_to_json_schema(items)
        if "enum" in out and not any(isinstance(v, list) for v in out["enum"]):
            # BFCL's enum on an array lists the allowed item values.
            item = out.setdefault("items", {})
            item["enum"] = out.pop("enum")
            if isinstance(item.get("type"), str) and any(not _fits(v, item["type"]) for v in item["enum"]):
                del item["type"]
    if out.get("type") == "object":
        props = param.get("properties")
        if isinstance(props, dict) and props:
            out["properties"] = {k: bfcl_to_json_schema(v) for k, v in props.items()}
            req = [r for r in param.get("required", []) if r in props]
            if req:
                out["required"] = req
            out["additionalProperties"] = False
    if "enum" in out and "type" in out:
        # A few BFCL docs declare enums whose values are not of the declared type.
        kinds = {type(v) for v in out["enum"]}
        if out["type"] == "string" and kinds - {str}:
            del out["type"]
    return out


def _fits(value: Any, json_type: str) -> bool:
    kinds: dict[str, type | tuple[type, ...]] = {
        "string": str, "integer": int, "number": (int, float), "boolean": bool, "array": list, "object": dict,
    }
    return isinstance(value, kinds.get(json_type, object))


def function_to_tool(fn: dict[str, Any]) -> dict[str, Any]:
    """A BFCL function doc as ``{"name", "description", "parameters"}``."""
    params = fn.get("parameters") or {"type": "dict", "properties": {}}
    schema = bfcl_to_json_schema({**params, "type": "dict"})
    schema.setdefault("properties", {})
    schema["additionalProperties"] = False
    schema.pop("description", None)
    return {"name": fn["name"], "description": fn.get("description", ""), "parameters": schema}


@dataclass
class BFCLQuestion:
    """One BFCL entry: id, chat turns, functions (as tool specs)."""

    id: str
    category: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)

    @property
    def request(self) -> str:
        """The user's turns of the first round, as one request."""
        return "\n".join(str(m.get("content", "")) for m in self.messages if m.get("role") == "user")

    @property
    def system(self) -> str | None:
        """The question's own system messages, if any."""
        sys_msgs = [str(m.get("content", "")) for m in self.messages if m.get("role") == "system"]
        return "\n".join(sys_msgs) if sys_msgs else None


def load_bfcl(data_dir: Path, categories: list[str] | None = None, *, limit: int | None = None) -> Iterator[BFCLQuestion]:
    """Yields questions from ``BFCL_v4_<category>.json`` files.

    Raises:
        UserError: The folder or a category file is missing.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise UserError(f"{data_dir}: no such folder (expected BFCL_v4_<category>.json files)")
    cats = categories or [c for c in CATEGORIES if (data_dir / f"BFCL_v4_{c}.json").exists()]
    for cat in cats:
        path = data_dir / f"BFCL_v4_{cat}.json"
        if not path.exists():
            raise UserError(f"{path}: category file not found")
        with open(path) as fp:
            for i, line in enumerate(fp):
                if limit is not None and i >= limit:
                    break
                if not line.strip():
                    continue
                q = json.loads(line)
                turns = q.get("question") or [[]]
                msgs = [m for m in turns[0] if isinstance(m, dict)]
                tools = [function_to_tool(f) for f in q.get("function", [])]
                yield BFCLQuestion(q["id"], cat, msgs, tools)


def coerce_numbers(value: Any, schema: dict[str, Any]) -> Any:
    """Writes integers as floats where the schema says ``number`` (BFCL's ``float``).

    JSON does not distinguish ``1`` from ``1.0``, but BFCL's checker compares
    Python types inside lists and dicts; a tool declared with ``float``
    parameters receives floats, as a typed Python tool would after pydantic.
    """
    if not isinstance(schema, dict):
        return value
    t = schema.get("type")
    if t == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [coerce_numbers(v, schema["items"]) for v in value]
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        return {k: coerce_numbers(v, props.get(k, extra if isinstance(extra, dict) else {})) for k, v in value.items()}
    return value
