"""How much a tool is about what the request is about, from their words.

A request a tool fits usually shares words with the tool: "turn on the
kitchen lights" and ``turn_on_lights``, "the area of a triangle" and
``calculate_triangle_area`` ("Computes the area of a triangle ..."). A call
forced onto a request no tool fits has to stretch a tool whose name and
description share nothing with it. :func:`tool_relevance` measures that
overlap; the ``auto`` decision (:func:`agent_sdk.agent.step.call_score`)
adds it to the model's own likelihood of the call, so it moves the decision
without deciding alone ("wake me at 7:30" still reaches ``set_alarm`` when
the model is sure of the call).

Words are compared loosely, by stem: "detailed" matches "details",
"standardize" matches "standardization", "avoid" matches "avoided".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["content_words", "same_word", "tool_relevance", "word_overlap"]

# Function words, and verbs and nouns that name no topic (every tool "gets"
# or "calculates" something); they say nothing about a tool's subject.
_STOP = frozenset(
    re.findall(r"\S+", """the and for with from into onto that this these those what which when where who whom whose how why
    are was were been being have has had does did can could should would will shall may might must
    any all each every some such other than then there their them they its it's not nor but per via
    get set find calculate compute given specific particular based using use used return returns
    retrieve provide fetch information info data value values number list type name names
    function tool default optional required parameter parameters""")
)


def content_words(text: str) -> list[str]:
    """The topical words of ``text`` (identifiers split at ``_``, ``.`` and camelCase), lower case.

    Words shorter than three letters and function words are dropped; order
    is kept, repeats are not.
    """
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    words = (w.lower() for w in re.findall(r"[A-Za-z]+", spaced))
    return list(dict.fromkeys(w for w in words if len(w) >= 3 and w not in _STOP))


def _stem(word: str) -> str:
    return word[: max(4, len(word) - 3)] if len(word) > 5 else word


def same_word(a: str, b: str) -> bool:
    """Whether two lower-case words share a stem ("details" / "detailed", "toll" / "tolls")."""
    sa, sb = _stem(a), _stem(b)
    if sa == sb:
        return True
    return len(sa) >= 4 and len(sb) >= 4 and (sa.startswith(sb) or sb.startswith(sa))


def word_overlap(words: Iterable[str], text: str) -> float:
    """The share of ``words`` that appear (by stem) among the content words of ``text``.

    Returns:
        A share in [0, 1]; 0.0 when ``words`` is empty.
    """
    wanted = list(words)
    if not wanted:
        return 0.0
    have = content_words(text)
    return sum(any(same_word(w, h) for h in have) for w in wanted) / len(wanted)


def tool_relevance(tool: dict[str, Any], request: str) -> float:
    """How much ``tool`` is about what ``request`` is about.

    The mean of two shares: the tool name's content words found in the
    request, and the description's. A tool without a description is judged
    by its name alone.

    Args:
        tool: ``{"name", "description", ...}``.
        request: The user's request.

    Returns:
        A score in [0, 1].
    """
    name = word_overlap(content_words(str(tool.get("name", ""))), request)
    desc_words = content_words(str(tool.get("description") or ""))
    if not desc_words:
        return name
    return (name + word_overlap(desc_words, request)) / 2
