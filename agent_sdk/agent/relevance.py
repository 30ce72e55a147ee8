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

from collections.abc import Iterable
from typing import Any

from agent_sdk.agent.words import content_words, same_word

__all__ = ["tool_relevance", "word_overlap"]

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
