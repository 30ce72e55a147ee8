"""JSON schemas from clients (tool parameters, ``response_format``), checked before they are compiled.

A schema reaches three recursive readers: ``jsonschema``'s meta-schema
check, the prompt's tool descriptions and the grammar engine. Each is
guarded here: the schema must nest at most :data:`MAX_SCHEMA_DEPTH` levels,
must not be recursive (a ``$ref`` loop makes the grammar engine fail while
decoding, after the request was accepted), and must be a valid schema. What
the grammar engine says when it still cannot compile one is cut down to its
first statement: its messages carry the whole grammar and matcher state.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from agent_sdk.server.errors import APIError
from agent_sdk.server.json_input import json_path, too_deep

__all__ = ["MAX_SCHEMA_DEPTH", "check_schema", "grammar_problem", "meta_check", "ref_loop"]

# Objects and arrays nested in one schema. 32 levels hold about 15 levels of
# nested objects (each is a schema and its "properties"), more than any tool
# needs (OpenAI's strict mode allows 10); jsonschema's check alone spends
# about 7 Python frames per level, so a few hundred levels overflow the stack.
MAX_SCHEMA_DEPTH = 32

# Keywords whose values are data, not schemas: a "$ref" key inside them is not a reference.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})


def check_schema(schema: Any, where: str, *, param: str) -> None:
    """Refuses a schema nested too deep or recursive.

    Args:
        schema: The schema (objects are checked; booleans pass).
        where: How the error names it (``tools[0].function.parameters``).
        param: The request field to report.

    Raises:
        APIError: 400 naming the problem and where it is.
    """
    if not isinstance(schema, dict):
        return
    path = too_deep(schema, MAX_SCHEMA_DEPTH)
    if path is not None:
        raise APIError(400, f"{where} nests deeper than {MAX_SCHEMA_DEPTH} levels (at {json_path(path, root=where)}); "
                            "deeper schemas are not supported", code="schema_too_deep", param=param)
    loop = ref_loop(schema)
    if loop is not None:
        site, ref, labels = loop
        raise APIError(400, f"{where} is recursive: the $ref {ref!r} at {json_path(site, root=where)} loops back "
                            f"({' → '.join(labels)}); recursive schemas are not supported",
                       code="recursive_schema", param=param)


def meta_check(schema: Any, where: str, *, param: str) -> None:
    """Validates a schema against its meta-schema (draft 2020-12 unless ``$schema`` says otherwise).

    Raises:
        APIError: 400 saying where the schema is invalid.
    """
    import jsonschema

    if isinstance(schema, bool):
        return
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        at = json_path(list(exc.absolute_path), root=where)
        raise APIError(400, f"invalid JSON schema at {at}: {exc.message}", param=param) from None


def ref_loop(schema: dict[str, Any]) -> tuple[list[str | int], str, list[str]] | None:
    """A loop of local ``$ref`` s in ``schema``, as (site of the ref closing it, that ref, the loop's labels), or None.

    A reference to ``#/$defs/a`` depends on every reference inside ``$defs/a``;
    the schema is recursive when following them comes back. References that
    do not resolve inside the schema (other documents, anchors) are left to
    the grammar engine, which refuses what it cannot resolve.
    """
    sites = list(_ref_sites(schema))
    targets: dict[tuple[str | int, ...], str] = {}
    for _, ref in sites:
        target = _resolve(schema, ref)
        if target is not None:
            targets.setdefault(target, ref)
    # edges[t]: (target reached, ref site, ref) for each reference inside the subtree of target t.
    edges: dict[tuple[str | int, ...], list[tuple[tuple[str | int, ...], list[str | int], str]]] = {t: [] for t in targets}
    for site, ref in sites:
        target = _resolve(schema, ref)
        if target is None:
            continue
        for n in range(len(site) + 1):  # every target enclosing the site (at most MAX_SCHEMA_DEPTH prefixes)
            prefix = tuple(site[:n])
            if prefix in edges:
                edges[prefix].append((target, site, ref))
    state: dict[tuple[str | int, ...], int] = {}  # 1: on the current path, 2: done
    for start, first in edges.items():
        if state.get(start):
            continue
        path = [start]
        state[start] = 1
        todo = [iter(first)]
        while todo:
            step = next(todo[-1], None)
            if step is None:
                state[path.pop()] = 2
                todo.pop()
                continue
            target, site, ref = step
            if state.get(target) == 1:
                loop = path[path.index(target):] + [target]
                return site, ref, [targets[t] for t in loop]
            if not state.get(target):
                state[target] = 1
                path.append(target)
                todo.append(iter(edges[target]))
    return None


def _ref_sites(schema: Any) -> Iterator[tuple[list[str | int], str]]:
    """Every ``$ref`` string in ``schema`` with the path of the object holding it (iterative)."""
    stack: list[tuple[Any, list[str | int]]] = [(schema, [])]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield path, node["$ref"]
            stack.extend((v, [*path, k]) for k, v in node.items() if k not in _DATA_KEYWORDS)
        elif isinstance(node, list):
            stack.extend((v, [*path, i]) for i, v in enumerate(node))


def _resolve(schema: Any, ref: str) -> tuple[str | int, ...] | None:
    """The path a local JSON-pointer ``$ref`` (``#``, ``#/$defs/a``) points to in ``schema``, or None."""
    if ref == "#":
        return ()
    if not ref.startswith("#/"):
        return None
    node: Any = schema
    path: list[str | int] = []
    for token in ref[2:].split("/"):
        key = unquote(token).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and key in node:
            node = node[key]
            path.append(key)
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
            path.append(int(key))
        else:
            return None
    return tuple(path)


_LISTING = re.compile(r"\n\s*\d+ \|")  # the grammar engine's numbered grammar listing
_PREFIXES = re.compile(
    r"^(?:JSON schema not supported by the grammar engine: |grammar does not compile: |at \d+\(\d+\): "
    r"|failed to compile JSON schema: )+"
)


def grammar_problem(exc: BaseException, *, most: int = 300) -> str:
    """What the grammar engine found wrong, without its grammar listing, matcher state or line noise."""
    text = str(exc)
    for marker in ("<state>", "<grammar>"):
        text = text.split(marker, 1)[0]
    match = _LISTING.search(text)
    if match:
        text = text[: match.start()]
    text = " ".join(_PREFIXES.sub("", text.strip()).split())
    return (text[: most - 1] + "…" if len(text) > most else text) or "the grammar engine cannot compile it"
