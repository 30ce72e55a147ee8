"""The part of a compound request that the calls made so far leave out.

"lights off in the bedroom and set an alarm for 7 am" asks for two
different things; a small model makes the first call and ends. When every
value of the calls sits before an "and" (or "then", "also", the end of a
sentence), the words after it are a request of their own (or the words
before, when the model served the later part):
:func:`uncovered_clause` returns them, and the call step asks the model about
them alone (:func:`agent_sdk.agent.step.decode_calls` with ``ask``), in
``auto``, so a clause no tool serves ("and tell me a joke") adds nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from agent_sdk.agent.spoken import parse_clock, spoken_clocks
from agent_sdk.agent.words import content_words

__all__ = ["MAX_CLAUSE_REQUEST_CHARS", "uncovered_clause"]

MAX_CLAUSE_REQUEST_CHARS = 500
"""Longer requests are not split (a command, not a document; and it bounds the work)."""

# Where one request ends and the next begins: "and" with its companions, "then", "also", a sentence's end.
_SPLIT = re.compile(
    r",?\s+(?:and\s+then|and\s+also|and\s+please|and|then|also|plus|additionally)\s+|[.;!?]+\s+|,\s+then\s+",
    re.IGNORECASE,
)

# Words a clause needs more than: thanks and farewells are not requests.
_COURTESY = frozenset({"thanks", "thank", "please", "cheers", "bye", "goodbye", "night", "great", "cool", "awesome",
                       "perfect", "done", "that", "all"})

_MIN_CLAUSE_WORDS = 2

# Words that open the second request and belong to neither ("Also provide ...", "and then ...").
_LEAD = re.compile(r"^(?:\s*(?:and|then|also|additionally|plus|please)\b[\s,]*)+", re.IGNORECASE)


def _values(calls: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
    """The calls' scalar argument values as text (booleans and one-letter values say nothing about where)."""
    out: list[str] = []

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
        elif isinstance(x, str) and len(x.strip()) >= 2:
            out.append(x.strip().casefold())
        elif isinstance(x, (int, float)) and not isinstance(x, bool):
            out.append(str(int(x)) if isinstance(x, float) and x.is_integer() else str(x))

    for _, args in calls:
        walk(args)
    return out


def _holds(text: str, value: str) -> bool:
    """Whether ``text`` (case-folded) writes ``value`` as whole words, or says the same time of day ("7:00 am")."""
    if re.search(r"(?<![\w])" + re.escape(value) + r"(?![\w])", text) is not None:
        return True
    clock = parse_clock(value)
    return clock is not None and any(clock.same_as(c) for c in spoken_clocks(text))


def uncovered_clause(request: str, calls: Sequence[tuple[str, dict[str, Any]]]) -> str | None:
    """The words after the calls' values that ask for something else, or None.

    Args:
        request: The user's request.
        calls: The calls made for it, ``(name, arguments)``.

    Returns:
        The clause (stripped), when the request splits into a part holding
        every value of the calls that the request writes (at least one) and
        another part, after it or else before it, that does not hold them
        all, with at least two words, one that is not courtesy, and not
        starting with a number.
    """
    if not calls or not request or len(request) > MAX_CLAUSE_REQUEST_CHARS:
        return None
    low = request.casefold()
    values = [v for v in _values(calls) if _holds(low, v)]  # a value the model put in its own words has no place
    if not values:
        return None  # calls without values found in the request cannot be placed in it
    earlier = None
    for m in _SPLIT.finditer(request):
        left, right = low[: m.start()], low[m.end():]
        in_left, in_right = all(_holds(left, v) for v in values), all(_holds(right, v) for v in values)
        if in_left and in_right:
            return None  # the same values again: a restatement, not another request
        if in_left:
            return _request_in(request[m.end():])
        if in_right:  # the model served the later part: the words before are the other request
            earlier = _request_in(request[: m.start()])
    return earlier


def _request_in(text: str) -> str | None:
    """``text`` as a request of its own, or None for thanks and the rest of a value ("and 30 seconds")."""
    clause = _LEAD.sub("", text).strip(" ,.;!?")
    words = re.findall(r"[a-z0-9']+", clause.casefold())
    topical = [w for w in content_words(clause) if w not in _COURTESY]
    if len(words) < _MIN_CLAUSE_WORDS or not topical or words[0][0].isdigit():
        return None
    return clause
