"""What a request says that a call's values can be checked against.

The numbers it writes (as JSON would write them), where its words start,
whether it mentions a parameter, and how much of a call's values it
contains (:func:`copy_coverage`, an input of the ``auto`` decision).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from agent_sdk.agent.spoken import (
    duration_seconds,
    parse_clock,
    spoken_clocks,
    spoken_decimals,
    spoken_durations,
    spoken_numbers,
)
from agent_sdk.agent.words import GENERIC_PARAMETER_WORDS, name_words, same_word

__all__ = ["MIN_PLURAL_LEN", "argument_values", "copy_coverage", "mentioned", "word_starts", "written_numbers"]

# A parameter word longer than this that ends in "s" also matches its singular
# ("traits" → "trait"); shorter ones ("bus", "gas", "yes") keep their "s".
MIN_PLURAL_LEN = 4


def word_starts(source: str) -> list[int]:
    """Where each word (or punctuation mark) of ``source`` starts: where a copied value may start."""
    return [m.start() for m in re.finditer(r"[^\W_]+|[^\w\s]", source)]


_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_NUMBER = re.compile(r"(-?\d[\d,]*(?:\.\d+)?)(?:\s*(thousand|million|billion|trillion)\b)?", re.IGNORECASE)


def written_numbers(source: str) -> list[str]:
    """Numbers written in the request as JSON writes them.

    Thousands separators are dropped ("$2,000,000" is ``2000000``) and scale
    words applied ("8.5 million" is ``8500000``, not ``8.5``).
    """
    out = []
    for m in _NUMBER.finditer(source):
        n = m.group(1).replace(",", "").rstrip(".")
        if not n or n == "-":
            continue
        if m.group(2):
            scaled = Decimal(n) * _SCALES[m.group(2).lower()]
            n = str(int(scaled)) if scaled == scaled.to_integral_value() else format(scaled.normalize(), "f")
        out.append(n)
    return out


def mentioned(name: str, source: str, *, tool: str = "") -> bool:
    """Whether a word of parameter ``name`` appears (as a word's start) in ``source``.

    ``trait_count`` is mentioned by "three personality traits",
    ``equal_variance`` by "assuming equal variance"; generic words
    (``include``, ``type`` …) and words of the tool's own name (the request
    names the tool's topic anyway) do not count.
    """
    words = set(re.findall(r"[a-z0-9]+", source.lower()))
    topic = set(name_words(tool))
    for w in name_words(name):
        if w in GENERIC_PARAMETER_WORDS or w in topic:
            continue
        base = w[:-1] if len(w) > MIN_PLURAL_LEN and w.endswith("s") else w  # "traits" for trait_count
        if any(x.startswith(base) or same_word(w, x) for x in words):
            return True
    return False


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _leaves(v)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _leaves(v)]
    return [value]


def argument_values(arguments: Any) -> list[Any]:
    """The leaf values of an argument object that a request could write (booleans and nulls left out:
    "turn on" writes no ``true``)."""
    return [x for x in _leaves(arguments) if not isinstance(x, bool) and x is not None]


def copy_coverage(arguments: Sequence[dict[str, Any]], source: str) -> float:
    """The share of a call's argument values that are stated in ``source``.

    A call that fits the request mostly takes its values from it; a call
    forced onto a request the tools do not fit has to invent them. Leaf
    values are compared as text, case-insensitively (numbers also against
    the request without thousands separators); booleans are not counted.
    What people say counts as well as what they write
    (:mod:`~agent_sdk.agent.spoken`): a number said in words ("seventy
    five" for ``75``, "ninety four point five" for ``94.5``), a duration in
    minutes ("two hours" for ``120``), and a time of day in any form ("six
    thirty am" or "half past six in the morning" for ``"6:30 am"``).

    Args:
        arguments: The calls' argument objects.
        source: The user's request.

    Returns:
        The share in [0, 1]; 1.0 when there are no values to check, 0.0 when
        there are no calls.
    """
    if not arguments:
        return 0.0
    low = source.lower()
    bare = low.replace(",", "")
    leaves = [x for args in arguments for x in argument_values(args)]
    if not leaves:
        return 1.0
    said_numbers: set[int] | None = None
    said_decimals: list[float] | None = None
    said_clocks = None
    hits = 0
    for x in leaves:
        if isinstance(x, float) and x.is_integer():
            x = int(x)
        text = str(x).lower()
        if text and (text in low or text in bare):
            hits += 1
        elif isinstance(x, int):
            if said_numbers is None:
                said_numbers = set(spoken_numbers(source))
                for parts in spoken_durations(source):
                    seconds = duration_seconds(parts)
                    said_numbers |= {int(seconds // u) for u in (1, 60) if seconds % u == 0}
            hits += x in said_numbers
        elif isinstance(x, float) and math.isfinite(x):
            if said_decimals is None:
                said_decimals = spoken_decimals(source)
            hits += any(abs(x - d) < 1e-9 for d in said_decimals)
        elif isinstance(x, str) and (clock := parse_clock(x)) is not None:
            if said_clocks is None:
                said_clocks = spoken_clocks(source)
            hits += any(clock.same_as(c) for c in said_clocks)
    return hits / len(leaves)
