"""A parser for the Google docstring style, enough for tool descriptions.

Only two things reach a tool's schema: the description (the text before the
first section) and the ``Args:`` section, one entry per parameter::

    Args:
        city: The city, e.g. "Paris".
        unit (str): Temperature unit; a description may continue on
            further lines, indented deeper than the name.

Every other section (``Returns:``, ``Raises:``, ``Example:`` …) ends the
description and is otherwise ignored. Problems (an unparsable ``Args:`` line,
a parameter documented twice, an empty description) are collected, not raised,
so the ``@tool`` decorator can report them together with everything else.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

__all__ = ["ParsedDocstring", "parse_google_docstring"]

_ARG_SECTIONS = frozenset({"args", "arguments", "parameters", "params"})
_OTHER_SECTIONS = frozenset(
    {
        "attributes",
        "example",
        "examples",
        "except",
        "exceptions",
        "keyword args",
        "keyword arguments",
        "methods",
        "note",
        "notes",
        "other parameters",
        "raises",
        "references",
        "return",
        "returns",
        "see also",
        "todo",
        "warning",
        "warnings",
        "yield",
        "yields",
    }
)
_HEADER = re.compile(r"^(?P<name>[A-Za-z][A-Za-z ]*?)\s*:\s*$")
# ``name: text``, ``name (type): text``, ``*args: text``; the type ends at the first ``):``.
_ENTRY = re.compile(r"^\*{0,2}(?P<name>[A-Za-z_]\w*)\s*(?:\((?P<type>.*?)\))?\s*:\s*(?P<text>.*)$")
_LIST_ITEM = re.compile(r"^(?:[-*+]|\d+[.)])\s")


@dataclass(frozen=True)
class ParsedDocstring:
    """What a tool needs from a docstring.

    Attributes:
        description: The text before the first section; wrapped lines joined,
            paragraphs separated by a blank line, list items kept on their own lines.
        params: Parameter name to description, in documentation order.
        problems: Mistakes found while parsing, one sentence each.
    """

    description: str
    params: dict[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


def parse_google_docstring(doc: str | None) -> ParsedDocstring:
    """Parses a Google-style docstring.

    Args:
        doc: The raw docstring (``fn.__doc__``) or None.

    Returns:
        The description, the ``Args:`` entries and any problems found.
    """
    if not doc or not doc.strip():
        return ParsedDocstring("")
    lines = inspect.cleandoc(doc).splitlines()
    intro: list[str] = []
    sections: list[tuple[str, list[str]]] = []
    for line in lines:
        header = _HEADER.match(line)
        if header and header["name"].lower() in _ARG_SECTIONS | _OTHER_SECTIONS:
            sections.append((header["name"].lower(), []))
        elif sections:
            sections[-1][1].append(line)
        else:
            intro.append(line)

    params: dict[str, str] = {}
    problems: list[str] = []
    for name, body in sections:
        if name in _ARG_SECTIONS:
            _parse_args(body, params, problems)
    return ParsedDocstring(_join_paragraphs(intro), params, tuple(problems))


def _parse_args(body: list[str], params: dict[str, str], problems: list[str]) -> None:
    indents = [len(line) - len(line.lstrip()) for line in body if line.strip()]
    if not indents:
        return
    base = min(indents)
    current: str | None = None
    parts: dict[str, list[str]] = {}
    for line in body:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        text = line.strip()
        if indent > base and current is not None:
            parts[current].append(text)
            continue
        entry = _ENTRY.match(text)
        if entry is None:
            problems.append(f"cannot parse the Args line {text!r} (expected 'name: description')")
            current = None
            continue
        current = entry["name"]
        if current in parts:
            problems.append(f"parameter {current!r} is documented twice in Args")
            current = None
            continue
        parts[current] = [entry["text"] or ""]
    for name, chunks in parts.items():
        text = " ".join(c for c in chunks if c)
        if not text:
            problems.append(f"parameter {name!r} has an empty description in Args")
        params[name] = text


def _join_paragraphs(lines: list[str]) -> str:
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        text = line.strip()
        if not text:
            if paragraphs[-1]:
                paragraphs.append([])
        elif _LIST_ITEM.match(text) or not paragraphs[-1]:
            paragraphs[-1].append(text)
        else:
            paragraphs[-1][-1] += " " + text
    return "\n\n".join("\n".join(p) for p in paragraphs if p)
