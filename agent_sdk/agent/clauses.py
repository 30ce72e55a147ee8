"""The part of a compound request that the calls made so far leave out.

"lights off in the bedroom and set an alarm for 7 am" asks for two
different things; a small model makes one of the calls and ends. When every
value of the calls sits before an "and" (or "then", "also", "as well as")
and the words after it do not repeat them all, the words after it are a
request of their own (or the words before, when the model served the later
part): :func:`uncovered_part` returns them, and the call step asks the model
about them alone (:func:`agent_sdk.agent.step.decode_calls` with ``ask``), in
``auto``, keeping a call only when the clause writes one of its values (or
the call takes none), so a clause no tool serves ("and tell me a joke") or a
reworded condition adds nothing.

Not a request of its own: courtesy ("and thank you"), the rest of a value
("10 minutes and 30 seconds"), a clause leaning on a pronoun ("and make them
bright"), and, across a sentence break, the sentence before the one the call
served ("I have a circle. What is its area with radius 5?": context, not a
request).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agent_sdk.agent.request_features import argument_values
from agent_sdk.agent.spoken import Clock, parse_clock, spoken_clocks
from agent_sdk.agent.words import content_words

__all__ = ["MAX_CLAUSE_REQUEST_CHARS", "Uncovered", "split_clauses", "uncovered_clause", "uncovered_part",
           "written_in"]

MAX_CLAUSE_REQUEST_CHARS = 500
"""Longer requests are not split (a command, not a document; and it bounds the work)."""

_MAX_VALUES = 64  # values of the calls looked for (more only come from crafted calls)
_MAX_NUMBER = 10**18  # larger numbers are not written in a request of 500 characters

# Where one request ends and the next begins: "and" with its companions, "then", "also", a sentence's end.
_SPLIT = re.compile(
    r",?\s+(?:and\s+then|and\s+also|and\s+please|as\s+well\s+as|after\s+that|and|then|also|plus|additionally)\s+"
    r"|(?P<stop>[.;!?]+\s+|\n+)|,\s+then\s+",
    re.IGNORECASE,
)

# Words a clause needs more than: thanks, greetings and farewells are not requests.
_COURTESY = frozenset(re.findall(r"\S+", """thanks thank you please cheers bye goodbye night great cool awesome
    perfect done that all very much lot appreciate appreciated sorry trouble day have good morning evening hey hello
    again mate know let really"""))

# A clause that leans on these means something only with the rest of the request ("and make them bright").
_PRONOUNS = frozenset({"it", "its", "them", "they", "their", "this", "that", "these", "those", "there", "here",
                       "one", "ones", "same"})

# Words that open the second request and belong to neither ("Also provide ...", "and then ...").
_LEAD = re.compile(r"^(?:\s*(?:and|then|also|additionally|plus|please)\b[\s,]*)+", re.IGNORECASE)

_MIN_CLAUSE_WORDS = 2


@dataclass(frozen=True)
class Uncovered:
    """A part of the request the calls leave out.

    Attributes:
        text: The clause, as the user wrote it (opening "and"/"then" and end punctuation dropped).
        earlier: It comes before the part the calls serve (its calls go first).
    """

    text: str
    earlier: bool


def split_clauses(request: str) -> list[str]:
    """The parts of ``request`` between its "and"s, "then"s and sentence ends, as written (stripped).

    "lock the doors and close all the windows, thanks" gives ``["lock the doors", "close all the windows"]``:
    parts of courtesy alone ("thanks", "and thank you") are left out. Requests longer than
    :data:`MAX_CLAUSE_REQUEST_CHARS` are one part.
    """
    if len(request) > MAX_CLAUSE_REQUEST_CHARS:
        return [request.strip()] if request.strip() else []
    parts = _SPLIT.split(request)
    texts = [p for p in parts if isinstance(p, str) and p.strip() and not _SPLIT.fullmatch(p)]
    texts = [_LEAD.sub("", t).strip(" ,.;!?") for t in texts]
    return [t for t in texts if set(re.findall(r"[a-z']+", t.lower())) - _COURTESY]


def _values(calls: Sequence[tuple[str, Any]]) -> list[str]:
    """The calls' scalar argument values as text (booleans and one-letter values say nothing about where)."""
    out: list[str] = []
    for x in (v for _, args in calls for v in argument_values(args)):
        if len(out) >= _MAX_VALUES:
            break
        if isinstance(x, str) and len(x.strip()) >= 2:
            out.append(x.strip().casefold())
        elif isinstance(x, int) and abs(x) < _MAX_NUMBER:
            out.append(str(x))
        elif isinstance(x, float) and abs(x) < _MAX_NUMBER:  # NaN fails the comparison
            out.append(str(int(x)) if x.is_integer() else str(x))
    return list(dict.fromkeys(out))


class _Segment:
    """A part of the request (case-folded), with its spoken times read once."""

    def __init__(self, text: str) -> None:
        self.text = text.casefold()
        self._clocks: list[Clock] | None = None

    def holds(self, value: str) -> bool:
        """Whether it writes ``value`` as whole words, or says the same time of day ("7:00 am" for "7 am")."""
        if re.search(r"(?<![\w])" + re.escape(value) + r"(?![\w])", self.text) is not None:
            return True
        clock = parse_clock(value)
        if clock is None:
            return False
        if self._clocks is None:
            self._clocks = spoken_clocks(self.text)
        return any(clock.same_as(c) for c in self._clocks)


def written_in(text: str, value: Any) -> bool:
    """Whether ``text`` writes ``value`` (or a time of day equal to it); for keeping a follow-up call's values."""
    values = _values([("", {"v": value})])
    return bool(values) and _Segment(text).holds(values[0])


def uncovered_part(request: str, calls: Sequence[tuple[str, Any]]) -> Uncovered | None:
    """The part of ``request`` that ``calls`` leave out, or None (see the module docstring).

    Args:
        request: The user's request.
        calls: The calls made for it so far, ``(name, arguments)`` (include
            calls already made and answered in this turn).

    Returns:
        The first clause after the part holding every value of the calls that
        the request writes (at least one), else the last clause before it;
        None when there is none that reads as a request of its own.
    """
    if not calls or not isinstance(request, str) or not request or len(request) > MAX_CLAUSE_REQUEST_CHARS:
        return None
    whole = _Segment(request)
    values = [v for v in _values(calls) if whole.holds(v)]  # a value the model put in its own words has no place
    if not values:
        return None  # calls without values found in the request cannot be placed in it
    earlier = None
    for m in _SPLIT.finditer(request):
        left, right = _Segment(request[: m.start()]), _Segment(request[m.end():])
        in_left, in_right = all(left.holds(v) for v in values), all(right.holds(v) for v in values)
        if in_left:
            if in_right and set(content_words(right.text)) <= set(content_words(left.text)):
                return None  # the same words again: a restatement
            clause = _request_in(request[m.end():])
            if clause is not None:
                return Uncovered(clause, earlier=False)
        elif in_right and m.group("stop") is None:  # the model served the later part of one sentence
            clause = _request_in(request[: m.start()])
            earlier = Uncovered(clause, earlier=True) if clause is not None else earlier
    return earlier


def uncovered_clause(request: str, calls: Sequence[tuple[str, Any]]) -> str | None:
    """The text of :func:`uncovered_part`, or None."""
    part = uncovered_part(request, calls)
    return part.text if part is not None else None


def _request_in(text: str) -> str | None:
    """``text`` as a request of its own, or None (courtesy, the rest of a value, a clause leaning on a pronoun)."""
    clause = _LEAD.sub("", text).strip(" ,.;!?\n")
    words = re.findall(r"[a-z0-9']+", clause.casefold())
    topical = [w for w in content_words(clause) if w not in _COURTESY]
    if len(words) < _MIN_CLAUSE_WORDS or not topical or words[0][0].isdigit():
        return None
    if any(w.split("'")[0] in _PRONOUNS for w in words):
        return None
    return clause
