"""Logits biases for argument values: keep what the request mentions, copy from it.

A 135M model filling a call drops optional arguments the request asks for
("... assuming equal variance" without ``equal_variance``) and sets the
flags it mentions to ``false``. With ``ValueBias.keep``, :class:`CopyBias`
makes closing the arguments cost ``keep`` nats while an optional parameter
whose name the request mentions is missing, favours that key next, and
favours ``true`` for a boolean parameter the request mentions.

It can also copy: most argument strings are spans of the request, so it can
add a bonus to tokens that extend the current partial value as a span of
the request (or start one at a word), to ending the string where the span
reaches a word's end, and to digits that continue a number written in the
request ("$2,000,000" as ``2000000``). Measured on BFCL, copying did not
change accuracy (the wrong values are mostly wrong from their first token:
"Einstein" for "theory of relativity"), so those bonuses default to 0.

The biases run before the grammar's mask, so they only reorder tokens the
grammar allows: a call stays valid by construction. The ``auto`` decision
reads the model's own, unbiased log-probabilities; :func:`copy_coverage`
(the share of a call's values written in the request) is one of its inputs.
"""
from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

import numpy as np

from agent_sdk.agent.relevance import same_word

__all__ = [
    "DEFAULT_VALUE_BIAS", "ArgumentCursor", "CopyBias", "TokenIndex", "ValueBias", "chain_processors", "copy_coverage",
    "current_tool", "mentioned", "scan_arguments", "written_numbers",
]

_ARGS_KEY = '"arguments": '

LogitsProcessor = Callable[[list[int], np.ndarray], np.ndarray]


@dataclass
class ArgumentCursor:
    """Where decoding is inside a call's ``arguments`` JSON.

    Attributes:
        active: Inside the arguments object (it is open and not yet closed).
        depth: Open objects and arrays, the arguments object included.
        in_string: Inside a string.
        is_key: The string (or the next one) is an object key.
        value: The characters of the current string value or number so far.
        in_number: Inside a number.
        stack: Open containers, ``"o"`` or ``"a"``.
        keys: The keys written so far in the arguments object itself.
        items: For each open array (innermost last), the text of its items
            so far; the last entry is the item being written.
    """

    active: bool = False
    depth: int = 0
    in_string: bool = False
    is_key: bool = False
    value: str = ""
    in_number: bool = False
    stack: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    _escape: bool = False
    items: list[list[str]] = field(default_factory=list)

    def feed(self, text: str) -> None:
        """Advances over ``text`` (JSON as the call grammar writes it)."""
        for ch in text:
            if not self.active:
                return
            if self.items:
                for outer in self.items[:-1]:
                    outer[-1] += ch
                own = not self.in_string and self.stack and self.stack[-1] == "a" and ch in ",]"
                if not own:
                    self.items[-1][-1] += ch
                elif ch == ",":
                    self.items[-1].append("")
            if self.in_string:
                if self._escape:
                    self._escape = False
                    self.value += ch
                elif ch == "\\":
                    self._escape = True
                elif ch == '"':
                    self.in_string = False
                    if self.is_key and len(self.stack) == 1:
                        self.keys.append(self.value)
                else:
                    self.value += ch
                continue
            if self.in_number:
                if ch.isdigit() or ch in ".eE+-":
                    self.value += ch
                    continue
                self.in_number = False
            if ch == '"':
                self.in_string = True
                self.value = ""
            elif ch in "{[":
                self.stack.append("o" if ch == "{" else "a")
                self.is_key = ch == "{"
                if ch == "[":
                    self.items.append([""])
            elif ch in "}]":
                if self.stack and self.stack.pop() == "a" and self.items:
                    self.items.pop()
                if not self.stack:
                    self.active = False
            elif ch == ":":
                self.is_key = False
            elif ch == ",":
                self.is_key = bool(self.stack) and self.stack[-1] == "o"
            elif ch.isdigit() or ch == "-":
                self.in_number = True
                self.value = ch
        self.depth = len(self.stack)

    def copy(self) -> ArgumentCursor:
        """An independent copy (to look ahead over a token's text)."""
        return ArgumentCursor(
            self.active, self.depth, self.in_string, self.is_key, self.value, self.in_number, list(self.stack),
            list(self.keys), self._escape, [list(x) for x in self.items],
        )

    def item_repeats(self, *, closing: bool = False) -> bool:
        """Whether the innermost array's item just written repeats an earlier item of it.

        Args:
            closing: The item is a string still open: judge it as if its
                closing quote came next.
        """
        if not self.items or self.in_number or not self.stack or self.stack[-1] != "a":
            return False
        if self.in_string != closing:
            return False
        *before, last = (x.strip() for x in self.items[-1])
        if closing:
            last += '"'
        return bool(last) and last in before


_NAME = re.compile(r'"name": "((?:[^"\\]|\\.)*)", "arguments": ')


def current_tool(text: str) -> str | None:
    """The name of the tool whose call is being written at the end of ``text``."""
    names = _NAME.findall(text)
    return names[-1] if names else None


def scan_arguments(text: str) -> ArgumentCursor:
    """The cursor at the end of ``text``, inside the last call's ``arguments``.

    Args:
        text: The call text generated so far (Hermes blocks).
    """
    cur = ArgumentCursor()
    k = text.rfind(_ARGS_KEY)
    if k < 0:
        return cur
    rest = text[k + len(_ARGS_KEY):]
    if not rest:
        return cur
    cur.active = True
    cur.feed(rest)
    return cur


class TokenIndex:
    """Token ids by their text, for looking up the tokens that spell a prefix.

    Args:
        tokenizer: Anything with ``decode(ids)`` and ``vocab_size``.
    """

    _cache: ClassVar[weakref.WeakKeyDictionary[Any, TokenIndex]] = weakref.WeakKeyDictionary()

    def __init__(self, tokenizer: Any) -> None:
        self.by_text: dict[str, list[int]] = {}
        self.quote_ids: list[int] = []
        self.close_ids: list[int] = []  # tokens holding "}" (may close the arguments)
        self.digit_ids: list[int] = []  # tokens starting with a digit
        self.array_close_ids: list[int] = []  # tokens starting with "]"
        self.quote_array_close_ids: list[int] = []  # '"]' ...: end a string and its array
        self.quote_comma_ids: list[int] = []  # '",' ...: end a string, another item follows
        self.number_end_ids: list[int] = []  # tokens that may end a JSON number: "," "}" "]" or white space first
        self.quote_punct_ids: list[int] = []  # '",', '"]', '"}', '":' ...: where a value starts, a string of punctuation
        for i in range(int(tokenizer.vocab_size)):
            s = tokenizer.decode([i])
            if not s or "\ufffd" in s:
                continue
            self.by_text.setdefault(s, []).append(i)
            if s.startswith('"'):
                self.quote_ids.append(i)
            if "}" in s:
                self.close_ids.append(i)
            if s[0].isdigit():
                self.digit_ids.append(i)
            if s.lstrip(" ").startswith("]"):
                self.array_close_ids.append(i)
            if s.startswith('"') and s[1:].lstrip(" ").startswith("]"):
                self.quote_array_close_ids.append(i)
            if s.startswith('"') and s[1:].lstrip(" ").startswith(","):
                self.quote_comma_ids.append(i)
            if s[0] in ",}] \n":
                self.number_end_ids.append(i)
            if s.startswith('"') and s[1:2] in (",", "]", "}", ":"):
                self.quote_punct_ids.append(i)
        self.text_of = {i: s for s, ids in self.by_text.items() for i in ids}
        self.max_len = max((len(s) for s in self.by_text), default=1)

    @classmethod
    def for_tokenizer(cls, tokenizer: Any) -> TokenIndex:
        """The index of ``tokenizer``, built once and cached."""
        idx = cls._cache.get(tokenizer)
        if idx is None:
            idx = cls(tokenizer)
            cls._cache[tokenizer] = idx
        return idx

    def prefixes(self, text: str) -> list[int]:
        """Ids of every token whose text is a non-empty prefix of ``text``."""
        out: list[int] = []
        for n in range(1, min(len(text), self.max_len) + 1):
            out.extend(self.by_text.get(text[:n], ()))
        return out


def _word_starts(source: str) -> list[int]:
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
            request) is still missing, for that argument as the next key, and
            for ``true`` as the value of a boolean argument the request mentions.
        loop: Nats for ending a value that went into a loop: closing an
            array whose last item repeats an earlier one, ending a string
            whose last 12 characters already occur in it, against another
            digit of a number longer than any in the request (and 12 digits).
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


# Words of parameter names too generic to say the request mentions the parameter.
_GENERIC = frozenset({"include", "type", "name", "value", "values", "the", "for", "use", "get", "set", "list", "data"})


def _name_words(name: str) -> list[str]:
    """The words of a parameter name (snake_case or camelCase), lower case."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if len(w) >= 3]


def mentioned(name: str, source: str, *, tool: str = "") -> bool:
    """Whether a word of parameter ``name`` appears (as a word's start) in ``source``.

    ``trait_count`` is mentioned by "three personality traits",
    ``equal_variance`` by "assuming equal variance"; generic words
    (``include``, ``type`` …) and words of the tool's own name (the request
    names the tool's topic anyway) do not count.
    """
    words = set(re.findall(r"[a-z0-9]+", source.lower()))
    topic = set(_name_words(tool))
    for w in _name_words(name):
        if w in _GENERIC or w in topic:
            continue
        stem = w[:-1] if len(w) > 4 and w.endswith("s") else w
        if any(x.startswith(stem) or same_word(w, x) for x in words):
            return True
    return False


DEFAULT_VALUE_BIAS = ValueBias()


class CopyBias:
    """Favours argument values copied from the request (a logits processor).

    Args:
        tokenizer: The engine's tokenizer.
        source: The text values should be copied from (the user's request).
        bias: The bonuses (nats).
        tools: The tools (``{"name", "parameters"}``), for ``bias.keep``:
            which optional parameters the request mentions.
    """

    def __init__(self, tokenizer: Any, source: str, bias: ValueBias, *, tools: Sequence[dict[str, Any]] = ()) -> None:
        self.tokenizer = tokenizer
        self.index = TokenIndex.for_tokenizer(tokenizer)
        self.source = source
        self._lower = source.lower()
        # Where a value may start: each word of the request, also in lower
        # case and capitalised (the request's case is often not the value's).
        texts = [source[i:] for i in _word_starts(source)]
        texts += [t[:1].lower() + t[1:] for t in texts] + [t[:1].upper() + t[1:] for t in texts]
        self._start_texts = list(dict.fromkeys(texts))
        self._numbers = written_numbers(source)
        self._max_digits = max([12] + [len(n.lstrip("-")) + 1 for n in self._numbers])
        self.bias = bias
        self.wanted: dict[str, set[str]] = {}  # tool -> optional parameters the request mentions
        self.flags: dict[str, set[str]] = {}  # tool -> boolean parameters the request mentions
        for t in tools:
            params = t.get("parameters") or {}
            required = set(params.get("required") or ())
            props = params.get("properties") or {}
            said = {k for k in props if mentioned(k, source, tool=t["name"])}
            self.wanted[t["name"]] = said - required
            self.flags[t["name"]] = {k for k in said if isinstance(props[k], dict) and props[k].get("type") == "boolean"}

    def __call__(self, out: list[int], logits: np.ndarray) -> np.ndarray:
        """Adds the bonuses for the next token after ``out`` (ids generated so far)."""
        text = self.tokenizer.decode(out)
        cur = scan_arguments(text)
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
        tool = current_tool(text) or ""
        missing = self.wanted.get(tool, set()) - set(cur.keys) if b.keep else set()
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

    def _loop_guard(self, cur: ArgumentCursor, add: dict[int, float], text: str) -> None:
        """Adds ``bias.loop`` for ending a value that repeats itself (see :class:`ValueBias`)."""
        loop = self.bias.loop
        if cur.in_string and not cur.is_key:
            v = cur.value
            if len(v) >= 24 and v.find(v[-12:]) < len(v) - 12:
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


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _leaves(v)]
    if isinstance(value, list):
        return [x for v in value for x in _leaves(v)]
    return [value]


def copy_coverage(arguments: Sequence[dict[str, Any]], source: str) -> float:
    """The share of a call's argument values that are written in ``source``.

    A call that fits the request mostly takes its values from it; a call
    forced onto a request the tools do not fit has to invent them. Leaf
    values are compared as text, case-insensitively (numbers also against
    the request without thousands separators); booleans are not counted.

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
    leaves = [x for args in arguments for x in _leaves(args) if not isinstance(x, bool) and x is not None]
    if not leaves:
        return 1.0
    hits = 0
    for x in leaves:
        if isinstance(x, float) and x.is_integer():
            x = int(x)
        text = str(x).lower()
        hits += bool(text) and (text in low or text in bare)
    return hits / len(leaves)


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
