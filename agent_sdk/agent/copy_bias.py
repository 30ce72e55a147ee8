"""Logits biases for argument values: keep what the request mentions, copy from it.

A 135M model filling a call drops optional arguments the request asks for
("... assuming equal variance" without ``equal_variance``, "passenger
temperature 23.5" without ``zone``) and sets the flags it mentions to
``false``. With ``ValueBias.keep``, :class:`CopyBias` makes closing the
arguments cost ``keep`` nats while an optional parameter the request
mentions (by a word of its name, or by saying one of its values:
:func:`~agent_sdk.agent.request_features.value_said`) is missing and may
still come, gives going on to another key as much where the model would
end the value, favours that key next, and favours ``true`` for a boolean
parameter the request mentions.

It can also copy: most argument strings are spans of the request, so it can
add a bonus to tokens that extend the current partial value as a span of
the request (or start one at a word), to ending the string where the span
reaches a word's end, and to digits that continue a number written in the
request ("$2,000,000" as ``2000000``). Measured on BFCL, copying did not
change accuracy (the wrong values are mostly wrong from their first token:
"Einstein" for "theory of relativity"), so those bonuses default to 0.

The biases run before the grammar's mask, so they only reorder tokens the
grammar allows: a call stays valid by construction. The ``auto`` decision
reads the model's own, unbiased log-probabilities;
:func:`~agent_sdk.agent.request_features.copy_coverage`
(the share of a call's values written in the request) is one of its inputs.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent_sdk.agent.call_format import HERMES, CallFormat
from agent_sdk.agent.json_cursor import ArgumentCursor, scan_arguments
from agent_sdk.agent.request_features import (
    mentioned,
    plain_number_parameter,
    value_said,
    word_starts,
    written_numbers,
)
from agent_sdk.agent.token_index import TokenIndex
from agent_sdk.runtime.engine import LogitsProcessor

__all__ = ["DEFAULT_VALUE_BIAS", "LOOP_TAIL", "MAX_NUMBER_DIGITS", "CopyBias", "ValueBias", "chain_processors"]

# The loop guard: a string value whose last LOOP_TAIL characters already occur
# in it is going round (checked once it is twice that long); a number gets at
# most MAX_NUMBER_DIGITS digits unless the request writes a longer one. Seen
# on BFCL simple_python: runaway values that exhausted max_tokens.
LOOP_TAIL = 12
MAX_NUMBER_DIGITS = 12


@dataclass(frozen=True)
class ValueBias:
    """How strongly a call step favours argument values taken from the request.

    Attributes:
        extend: Nats added to a token that extends the current string value
            as a span of the request.
        start: Nats added to a token that starts a string value (or a new
            word after a space) with a word of the request.
        end: Nats added to ending a string where its span reaches the end of
            a word in the request.
        number: Nats added to a digit that continues a number of the request.
        keep: Nats against closing the arguments object while an optional
            argument the request mentions (a word of its name appears in the
            request, or a value of it other than its default) is still
            missing and may still come (keys are written in the schema's
            order), for a comma to another key where the model's own first
            choice ends the value (read before the grammar's mask: a first
            choice the grammar forbids gives no bonus, only the penalty), for
            that argument as the next key, and for ``true`` as the value of a
            boolean argument the request mentions.
        loop: Nats for ending a value that went into a loop: closing an
            array whose last item repeats an earlier one, ending a string
            whose last :data:`LOOP_TAIL` characters already occur in it, against another
            digit of a number longer than any in the request (and :data:`MAX_NUMBER_DIGITS`).
    """

    # Copying spans and numbers (3/1/3/3 nats) left BFCL simple_python at 54%
    # on the tuning questions, as without them, so they are off by default;
    # keep took it from 48% to 54% (docs/bfcl_results.md).
    extend: float = 0.0
    start: float = 0.0
    end: float = 0.0
    number: float = 0.0
    keep: float = 5.0
    loop: float = 8.0

    def enabled(self) -> bool:
        """Whether any bias is non-zero."""
        return any((self.extend, self.start, self.end, self.number, self.keep, self.loop))


DEFAULT_VALUE_BIAS = ValueBias()


class CopyBias:
    """Favours argument values copied from the request (a logits processor).

    Args:
        tokenizer: The engine's tokenizer.
        source: The text values should be copied from (the user's request).
        bias: The bonuses (nats).
        tools: The tools (``{"name", "parameters"}``), for ``bias.keep``:
            which optional parameters the request mentions.
        call_format: The format the call is written in.
    """

    def __init__(
        self, tokenizer: Any, source: str, bias: ValueBias, *, tools: Sequence[dict[str, Any]] = (),
        call_format: CallFormat = HERMES,
    ) -> None:
        self.format = call_format
        self.tokenizer = tokenizer
        self.index = TokenIndex.for_tokenizer(tokenizer)
        self.source = source
        self._lower = source.lower()
        # Where a value may start: each word of the request, also in lower
        # case and capitalised (the request's case is often not the value's).
        texts = [source[i:] for i in word_starts(source)]
        texts += [t[:1].lower() + t[1:] for t in texts] + [t[:1].upper() + t[1:] for t in texts]
        self._start_texts = list(dict.fromkeys(texts))
        self._numbers = written_numbers(source)
        self._max_digits = max([MAX_NUMBER_DIGITS] + [len(n.lstrip("-")) + 1 for n in self._numbers])
        self.bias = bias
        self.wanted: dict[str, set[str]] = {}  # tool -> optional parameters the request mentions
        self.flags: dict[str, set[str]] = {}  # tool -> boolean parameters the request mentions
        self.position: dict[str, dict[str, int]] = {}  # tool -> parameter -> its place in the grammar's key order
        for t in tools:
            params = t.get("parameters") or {}
            required = set(params.get("required") or ())
            props = params.get("properties")
            props = props if isinstance(props, dict) else {}
            said = {k for k in props if mentioned(k, source, tool=t["name"])}
            values = {k for k in props if k not in required and value_said(props[k], source)}
            plain = plain_number_parameter(props, sorted(required), source)  # "seat heating to one": level
            values |= {plain} if plain else set()
            self.wanted[t["name"]] = (said | values) - required
            self.position[t["name"]] = {k: i for i, k in enumerate(props)}
            self.flags[t["name"]] = {k for k in said if isinstance(props[k], dict) and props[k].get("type") == "boolean"}

    def __call__(self, out: list[int], logits: np.ndarray) -> np.ndarray:
        """Adds the bonuses for the next token after ``out`` (ids generated so far)."""
        text = self.tokenizer.decode(out)
        cur = scan_arguments(text, self.format)
        if not cur.active:
            return logits
        b = self.bias
        add: dict[int, float] = {}
        if cur.in_string and not cur.is_key:
            ext, starts, can_end = self.string_candidates(cur.value)
            for i in starts:
                add[i] = b.start
            for i in ext:
                add[i] = b.extend
            if can_end and b.end:
                for i in self.index.quote_ids:
                    add[i] = add.get(i, 0.0) + b.end
        elif cur.in_number and b.number:
            # Twice as strong while the digits so far are no number of the
            # request: "2" of "$2,000,000" is not a value to stop at.
            bonus = b.number if cur.value in self._numbers else 2 * b.number
            for i in self.number_candidates(cur.value):
                add[i] = bonus
        if b.loop:
            self._loop_guard(cur, add, text)
        tool = self.format.current_tool(text) or ""
        missing = self._missing(tool, cur.keys) if b.keep else set()
        if missing and cur.is_key and cur.depth == 1:
            # Choosing the next key: the mentioned one.
            for k in missing:
                if cur.in_string:
                    rest = k[len(cur.value):] if k.startswith(cur.value) and len(k) > len(cur.value) else ""
                else:
                    rest = ('"' if text.endswith(" ") else ' "') + k
                for i in self.index.prefixes(rest):
                    add[i] = b.keep
        elif missing and not cur.is_key:
            for i in self.index.close_ids:
                ahead = cur.copy()
                ahead.feed(self.index.text_of[i])
                if not ahead.active:
                    add[i] = add.get(i, 0.0) - b.keep
            # ...and where the model would end this value, going on to another key gains as much: a
            # tuned model sure the arguments end ('"}}' 12 nats over ',' after "turn off the passenger
            # seat heater") was 2.5 nats from '",' when it ended the string. Only there: mid-value
            # ("san| francisco", "23|.5") a comma would cut the value short.
            top = self.index.text_of.get(int(np.argmax(logits)), "")
            ending = top.startswith('"') if cur.in_string else top.lstrip(" ")[:1] in (",", "}")
            for i in (self.index.string_comma_ids if cur.in_string else self.index.comma_ids) if ending else ():
                ahead = cur.copy()
                ahead.feed(self.index.text_of[i])
                if ahead.active and ahead.depth == 1 and ahead.is_key and not ahead.in_string:
                    add[i] = add.get(i, 0.0) + b.keep
        if (b.keep and cur.depth == 1 and not cur.is_key and not cur.in_string and not cur.in_number
                and text.rstrip().endswith(":") and cur.keys and cur.keys[-1] in self.flags.get(tool, set())):
            # A flag the request mentions ("assuming equal variance") is meant to be on.
            for i in self.index.prefixes("true" if text.endswith(" ") else " true"):
                add[i] = b.keep
        if not add:
            return logits
        logits = np.array(logits, dtype=np.float32, copy=True)
        ids = np.fromiter(add.keys(), dtype=np.int64, count=len(add))
        logits[ids] += np.fromiter(add.values(), dtype=np.float32, count=len(add))
        return logits

    def _missing(self, tool: str, written: Sequence[str]) -> set[str]:
        """Wanted keys not written yet that may still come: the grammar writes keys in the schema's order."""
        place = self.position.get(tool, {})
        last = max((place[k] for k in written if k in place), default=-1)
        return {k for k in self.wanted.get(tool, set()) - set(written) if place.get(k, last + 1) > last}

    def _loop_guard(self, cur: ArgumentCursor, add: dict[int, float], text: str) -> None:
        """Adds ``bias.loop`` for ending a value that repeats itself (see :class:`ValueBias`)."""
        loop = self.bias.loop
        if cur.in_string and not cur.is_key:
            v = cur.value
            if len(v) >= 2 * LOOP_TAIL and v.find(v[-LOOP_TAIL:]) < len(v) - LOOP_TAIL:
                for i in self.index.quote_ids:
                    add[i] = add.get(i, 0.0) + loop
        elif cur.in_number:
            if len(cur.value.lstrip("-").replace(".", "")) >= self._max_digits:
                for i in self.index.digit_ids:
                    add[i] = add.get(i, 0.0) - loop
        elif cur.item_repeats():
            for i in self.index.array_close_ids:
                add[i] = add.get(i, 0.0) + loop
        elif not cur.is_key and text.rstrip().endswith(("[", ":", ",")):
            # A value starts: '",' here opens a string holding ", " -- the model
            # meant the quote to close something (it wanted a number or a quote
            # the grammar does not allow), not a value made of punctuation.
            for i in self.index.quote_punct_ids:
                add[i] = add.get(i, 0.0) - loop
        if cur.in_string and not cur.is_key and cur.item_repeats(closing=True):
            # '"]' ends the item and the array in one token, '",' goes on.
            for i in self.index.quote_array_close_ids:
                add[i] = add.get(i, 0.0) + loop
            for i in self.index.quote_comma_ids:
                add[i] = add.get(i, 0.0) - loop

    def string_candidates(self, value: str) -> tuple[list[int], list[int], bool]:
        """Tokens that go on with ``value`` from the source, and whether it may end here.

        Returns:
            ``(extend, start, can_end)``: tokens that extend the span of the
            source that ``value`` ends with; tokens that start a word of the
            source (at the start of the value or after a space); whether that
            span ends at the end of a word of the source.
        """
        starts: list[int] = []
        if not value or value[-1].isspace():
            starts = self._dedupe([t for word in self._start_texts for t in self.index.prefixes(word)])
        if not value.strip():
            return [], starts, False
        ids: list[int] = []
        can_end = False
        span = self._longest_span(value)
        if span and value.lower().count(span.lower()) > 1:
            span = ""  # the value is repeating itself: no help to go round again
        if span:
            low = span.lower()
            start = self._lower.find(low)
            while start >= 0:
                end = start + len(span)
                nxt = self.source[end:end + 1]
                if value[-1].isalnum() and not (nxt.isalnum() or nxt == "_"):
                    can_end = True
                if nxt:
                    ids.extend(self.index.prefixes(self.source[end:]))
                start = self._lower.find(low, start + 1)
        return self._dedupe(ids), starts, can_end

    def _longest_span(self, value: str) -> str:
        """The longest suffix of ``value``, starting at a word, found in the source."""
        low = value.lower()
        for k in range(len(value)):
            if k and (value[k - 1].isalnum() and value[k].isalnum()):
                continue  # a span starts at a word boundary of the value
            if low[k:] and low[k:] in self._lower:
                return value[k:]
        return ""

    def number_candidates(self, value: str) -> list[int]:
        """Digit tokens that continue ``value`` as a number written in the source."""
        ids: list[int] = []
        for n in self._numbers:
            if n.startswith(value) and len(n) > len(value):
                ids.extend(self.index.prefixes(n[len(value):]))
        return self._dedupe(ids)

    @staticmethod
    def _dedupe(ids: Sequence[int]) -> list[int]:
        return list(dict.fromkeys(ids))


def chain_processors(*processors: LogitsProcessor | None) -> LogitsProcessor | None:
    """One logits processor running ``processors`` in order (None entries skipped)."""
    procs = [p for p in processors if p is not None]
    if not procs:
        return None
    if len(procs) == 1:
        return procs[0]

    def run(out: list[int], logits: np.ndarray) -> np.ndarray:
        for p in procs:
            logits = p(out, logits)
        return logits

    return run
