"""Tool schemas the grammar engine cannot use: repaired when the intent is plain, else left out.

One tool-call grammar covers every tool of a request, so a single schema that
llguidance refuses (``{"type": "integer", "enum": ["1", "2"]}`` is
unsatisfiable: no integer equals a string) used to break the request for all
tools. :func:`usable_tools` repairs each tool's schema
(:func:`agent_sdk.jsonschema_repair.repair_schema`: what has one reading),
checks that its arguments' grammar compiles on its own, and leaves out (or,
strictly, refuses) the tools that still fail, saying which and why. Results
are cached by schema: the same tools come with every request.

Tools imported through a registry (:meth:`agent_sdk.tools.Tool.from_openai`)
are repaired when imported, so their validators check the repaired schema
too; here the repair only matters for specs that did not come that way.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agent_sdk.constrain.grammar import GrammarEngine, GrammarError
from agent_sdk.constrain.tool_grammar import arguments_grammar
from agent_sdk.jsonschema_repair import repair_schema

__all__ = ["repair_schema", "usable_tools"]

# A line of the grammar listing llguidance appends to its errors: "  5 | args_0: %json {...".
_LISTING_RE = re.compile(r"\d+ \| ")
# Tool schemas kept per grammar engine; a request's tools are the same each time.
_CACHE_SIZE = 512


def usable_tools(
    grammar_engine: GrammarEngine, tools: Sequence[dict[str, Any]], *, strict: bool = False
) -> tuple[list[dict[str, Any]], list[str]]:
    """The tools whose call grammar compiles, repaired, and warnings for the rest.

    Each tool's ``parameters`` go through :func:`repair_schema`; then the
    grammar of its arguments alone (:func:`~agent_sdk.constrain.tool_grammar.arguments_grammar`,
    exactly the rule a call grammar holds for them, whatever the call format)
    must compile with ``grammar_engine``. Results are cached per grammar engine
    by a hash of the tool's name and schema.

    Args:
        grammar_engine: The engine that will compile the request's grammar.
        tools: Tools as ``{"name", "parameters", ...}`` dicts (the ``function``
            part of the OpenAI format); not changed.
        strict: Raise instead of leaving tools out.

    Returns:
        The usable tools in their order (a tool whose schema was repaired is a
        new dict with the repaired ``parameters``; the others are passed on as
        they are) and the warnings: one per repair, naming the tool, and one
        per tool left out, naming the tool and the reason.

    Raises:
        GrammarError: With ``strict``, when some tool is unusable; the message
            lists every such tool and its reason.
    """
    usable: list[dict[str, Any]] = []
    warnings: list[str] = []
    refused: list[str] = []
    for tool in tools:
        name = tool.get("name") if isinstance(tool, dict) else None
        label = f"tool {name!r}" if isinstance(name, str) else f"tool {tool!r}"[:80]
        checked = _check_tool(grammar_engine, tool)
        warnings += [f"{label}: {warning}" for warning in checked.warnings]
        if checked.error is not None:
            refused.append(f"{label}: {checked.error}")
            warnings.append(f"{label} left out: {checked.error}")
        elif checked.parameters is None:
            usable.append(tool)
        else:
            usable.append({**tool, "parameters": copy.deepcopy(checked.parameters)})
    if strict and refused:
        count = f"{len(refused)} tool{'s' if len(refused) != 1 else ''}"
        lines = "\n".join(f"- {line}" for line in refused)
        raise GrammarError(f"{count} cannot be constrained by the grammar engine:\n{lines}")
    return usable, warnings


# ---------------------------------------------------------------------------
# The compile check, cached


@dataclass(frozen=True)
class _Checked:
    """What is known about one tool.

    Attributes:
        parameters: The repaired schema, or None when it needed no repair.
        warnings: One per repair.
        error: Why the tool cannot be used, or None.
    """

    parameters: dict[str, Any] | None
    warnings: tuple[str, ...]
    error: str | None


_caches: weakref.WeakKeyDictionary[GrammarEngine, OrderedDict[str, _Checked]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _check_tool(grammar_engine: GrammarEngine, tool: Any) -> _Checked:
    if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or not tool["name"]:
        return _Checked(None, (), "a tool needs a 'name' string")
    parameters = tool.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        return _Checked(None, (), f"'parameters' must be a JSON schema object, got {type(parameters).__name__}")
    try:
        text = json.dumps([tool["name"], parameters], allow_nan=False)
    except (TypeError, ValueError) as exc:
        return _Checked(None, (), f"the schema is not JSON: {exc}")
    key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    with _lock:
        cache = _caches.setdefault(grammar_engine, OrderedDict())
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    checked = _compile_check(grammar_engine, tool["name"], parameters)
    with _lock:
        cache[key] = checked
        while len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)
    return checked


def _compile_check(grammar_engine: GrammarEngine, name: str, parameters: dict[str, Any] | None) -> _Checked:
    repaired, warnings = repair_schema(parameters)
    try:
        grammar_engine.lark_grammar(arguments_grammar(repaired))
    except GrammarError as exc:
        return _Checked(None, tuple(warnings), _reason(exc))
    except (ValueError, TypeError, RecursionError) as exc:  # a schema json.dumps or close_objects cannot take
        return _Checked(None, tuple(warnings), f"{type(exc).__name__}: {exc}")
    return _Checked(repaired if warnings else None, tuple(warnings), None)


def _reason(exc: GrammarError) -> str:
    """llguidance's message on one line, without the grammar's position, listing and carets."""
    lines = [line.strip() for line in str(exc).splitlines()]
    kept = [line for line in lines if line and not _LISTING_RE.match(line) and set(line) != {"^"}]
    text = " ".join(kept).removeprefix("grammar does not compile: ")
    text = re.sub(r"^at \d+\(\d+\): ", "", text) or "the grammar does not compile"
    return text if len(text) <= 300 else text[:297] + "..."
