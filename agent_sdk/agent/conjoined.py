"""A list the request joins with "and": one call per item.

Small models make one call where the request asks for the same action on
several things: "turn on the kitchen and living room lights" comes out as
``turn_on_lights(room="kitchen")``, "add milk and eggs to the list" as
``add_to_shopping_list(item="milk")``, "the factorial of 5, 10 and 15" as
``math.factorial(number=5)``. When exactly one argument of a call holds a
value the request writes, once, as one item of such a list, the call is
repeated for each other item, every other argument unchanged.

An item is read in the argument's own terms: a value of its enum (the
request's "living room" for ``Literal["kitchen", "living room", ...]``), a
number written plainly in digits, or for free text the few words after "and"
or a comma up to the next preposition or punctuation ("milk and eggs to the
list": "eggs"). A list needs "and" (or "&") before its last item: a comma
alone also sets off the parts of a name ("Riga, Latvia"), and when a comma
part follows the last item ("New York City, NY, and Los Angeles, CA") only the
items "and" joins are kept. Nothing changes when:

- the words after the items differ, unless they are the tool's own words
  ("the kitchen and living room *lights*" but not "the kitchen light and the
  bathroom fan", "volume 30 and a 10 minute timer");
- the list is a range ("between 20 and 30 percent", "from 5 and ...");
- the word after the list undoes the tool's ("turn off the bedroom lights
  and kitchen lights on" for ``turn_off_lights``);
- two arguments of the call each sit in a list, or another value of the
  call's enums follows the list ("20 percent and 50 percent in the bedroom":
  values paired with other arguments are beyond a copy of one call);
- an item holds a verb, a pronoun, a negation or a filler ("add milk and set a
  timer", "and no eggs", "and uh that's all": a second request, not a second
  item), a word of a tool's or parameter's name, or symbols between its words
  or digits ("y=2x+3", "10^3", "-5", "10:20");
- the item equals a value some call already holds ("between New York and
  Boston"), or the model's value is written twice in the request;
- the new call would not validate against the tool's JSON schema.

Free text is read forward only (the first item is the model's value): its
words before "and" cannot be told from the rest of the sentence.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agent_sdk.agent.words import content_words, name_words, stem
from agent_sdk.tools.validation import schema_accepts

__all__ = ["MAX_ITEMS", "conjoined_calls"]

MAX_ITEMS = 8
"""Most items one list adds (the request's length bounds it anyway; this bounds the calls a crafted request makes)."""

# Words that end a free-text item ("milk and eggs *to* the list", "eggs *please*").
_BOUNDARY = frozenset(re.findall(r"\S+", """to on onto from in into at for with of off by about as than
    and or but so then also too please thanks thank now today tomorrow tonight again instead respectively
    is are was were be will would can could should"""))

# Words no item holds: a second request ("and set a timer", "and what's ..."), a pronoun, a negation, a filler.
_NOT_IN_AN_ITEM = frozenset(re.findall(r"\S+", """set turn switch add remove put make start stop play call get find
    tell open close check show give read cancel take delete buy wake remind send order book bring dim raise lower
    text email message remember let lemme know need want
    what whats how when where who why which is are can could would will do does did don didn doesn won isn aren
    i im you we they he she it its that this there then me us them another other
    no not without except never nothing none nor
    uh um oh ah er hmm sorry actually okay ok yeah yes done whatever""")) | _BOUNDARY

# Words before an item that are not part of it.
_DETERMINERS = frozenset({"the", "a", "an", "my", "our", "some", "more", "both"})

# Words after an item that make it the subject of a clause ("the second one is '2x+5'", "eggs are gone").
_CLAUSE_VERBS = frozenset({"is", "are", "was", "were", "isnt", "arent"})

# Punctuation that may end a free-text item.
_END_OF_ITEM = frozenset(",.!?;:)&")

# Words right before a list that make it a range, not a list ("between 20 and 30 percent").
_RANGE_WORDS = frozenset({"between", "from", "range", "ranging", "betwen"})

_MAX_FREE_WORDS = 4  # a shopping item, a city, a song: a few words
_MAX_TAIL_WORDS = 2  # "kitchen *light* and the bathroom *light*"
_MAX_REQUEST_CHARS = 2_000  # a spoken or typed command; longer text is not a list of items to act on
_MAX_DIGITS = 15  # a number item has at most this many digits (exact in a float; longer is not a plain value)

_TOKEN = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:,[0-9]{3}(?![0-9]))*(?:\.[0-9]+)?|[A-Za-z](?:[A-Za-z'\-]*[A-Za-z])?|[^\sA-Za-z0-9'\"]")
# A number is written plainly when no sign, operator, clock colon or exponent touches it.
_NOT_BEFORE_A_NUMBER = frozenset("-+^/*=:.x")
_NOT_AFTER_A_NUMBER = re.compile(r"[\^/*=:]|[eE][+-]?\d|\.\d")


@dataclass(frozen=True)
class _Tok:
    text: str  # lower case, apostrophes dropped
    raw: str  # as written
    kind: str  # "word", "num" or "punct"
    start: int  # offset in the request
    end: int

    @property
    def head(self) -> str:
        """The word before an apostrophe, lower case ("that's" → "that")."""
        return self.raw.lower().split("'")[0]


def _tokens(request: str) -> list[_Tok]:
    out = []
    for m in _TOKEN.finditer(request):
        t = m.group(0)
        kind = "num" if t[0] in "0123456789" else "word" if t[0].isascii() and t[0].isalpha() else "punct"
        out.append(_Tok(t.lower().replace("'", ""), t, kind, m.start(), m.end()))
    return out


def _kind(schema: Any) -> str | None:
    """``enum``, ``number`` or ``text`` for an argument a list can repeat; None for others."""
    if not isinstance(schema, dict) or "const" in schema:
        return None
    types = schema.get("type")
    types = set(types) if isinstance(types, list) else {types}
    if isinstance(schema.get("enum"), list):
        return "enum" if all(isinstance(v, str) for v in schema["enum"]) and types <= {"string", None} else None
    if types & {"integer", "number"} and not types & {"string", "array", "object"}:
        return "number"
    if types == {"string"} and not any(k in schema for k in ("pattern", "format")):
        return "text"
    return None


def _words_of(text: str) -> list[str]:
    return [t.text for t in _tokens(text)]


def _enum_words(schema: Any) -> dict[str, list[tuple[list[str], str]]]:
    """An enum's values by their first word, longest first."""
    out: dict[str, list[tuple[list[str], str]]] = {}
    if _kind(schema) != "enum":
        return out
    for v in schema["enum"]:
        words = _words_of(v)
        if words:
            out.setdefault(words[0], []).append((words, v))
    for entries in out.values():
        entries.sort(key=lambda e: -len(e[0]))
    return out


class _Reader:
    """Reads items of one argument's kind at token positions of the request."""

    def __init__(self, request: str, toks: list[_Tok], kind: str, schema: dict[str, Any],
                 stop_words: frozenset[str]) -> None:
        self.request, self.toks, self.kind, self.schema, self.stop_words = request, toks, kind, schema, stop_words
        self.capitalized: bool | None = None  # free text: whether the model's value starts with a capital in the request
        self.enum = _enum_words(schema)
        self._cores: dict[int, tuple[Any, int] | None] = {}

    def plain_number(self, i: int) -> float | None:
        """The number token ``i`` writes, when it stands alone (no sign, operator or exponent touching it)."""
        t = self.toks[i]
        if t.kind != "num" or sum(c in "0123456789" for c in t.text) > _MAX_DIGITS:
            return None
        if t.start > 0 and self.request[t.start - 1] in _NOT_BEFORE_A_NUMBER:
            return None
        if _NOT_AFTER_A_NUMBER.match(self.request, t.end):
            return None
        n = float(t.text.replace(",", ""))
        return n if math.isfinite(n) else None

    def core(self, i: int) -> tuple[Any, int] | None:
        """The item starting at token ``i`` and the position after it, or None."""
        if i not in self._cores:
            self._cores[i] = self._core(i)
        return self._cores[i]

    def _core(self, i: int) -> tuple[Any, int] | None:
        toks = self.toks
        if i >= len(toks):
            return None
        if self.kind == "number":
            n = self.plain_number(i)
            if n is None:
                return None
            if n.is_integer() and ("." not in toks[i].text or self.schema.get("type") == "integer"):
                return int(n), i + 1
            return n, i + 1
        if self.kind == "enum":
            for words, value in self.enum.get(toks[i].text, []):
                if [t.text for t in toks[i:i + len(words)]] == words:
                    return value, i + len(words)
            return None
        first = toks[i]
        if first.kind != "word" or first.raw[0].isupper() != bool(self.capitalized) and self.capitalized is not None:
            return None  # "in New York and suggest a restaurant": a name, then not one
        j = i
        while j < len(toks) and toks[j].kind != "punct" and toks[j].text not in _BOUNDARY and j - i < _MAX_FREE_WORDS:
            t = toks[j]
            if j > i and self.capitalized and t.kind == "word" and t.raw[0].islower():
                break  # a name ends where lower case starts: "Berlin and Madrid stores"
            if t.text in _NOT_IN_AN_ITEM or t.head in _NOT_IN_AN_ITEM or t.text in self.stop_words:
                return None
            if j > i and t.text in _DETERMINERS:
                return None  # "and analyze the sentiment": a clause
            j += 1
            if t.raw.endswith("'s"):
                break  # "Berlin and Madrid's music stores": the possessor is the item
        if j == i:
            return None
        if j < len(toks) and toks[j].kind != "punct" and toks[j].text not in _BOUNDARY and not self.capitalized:
            return None  # longer than an item: a clause
        if j < len(toks) and toks[j].kind == "punct" and toks[j].text not in _END_OF_ITEM:
            return None  # "y=2x+3", "C++": symbols go on where the words stop
        if j < len(toks) and toks[j].text in _CLAUSE_VERBS:
            return None  # "and the second one is ...": the subject of a clause
        last = toks[j - 1]
        if (j < len(toks) and toks[j].raw == "." and len(last.raw) <= 2 and last.raw[0].isupper()
                and toks[j].start == last.end):
            return None  # "Washington D.C.", "St. Paul": the name goes on past the period
        if first.text.endswith("ing") and (j - i > 1 or (j < len(toks) and toks[j].text == "of")):
            return None  # "assuming two children", "the signing of the treaty"
        text = " ".join(t.raw for t in toks[i:j])
        if self.request[first.start:last.end] != text:
            return None  # written with other characters between its words ("y=2x+3"): not a plain item
        return (text[:-2] if text.endswith("'s") and len(text) > 2 else text), j

    def separator(self, i: int) -> int | None:
        """The position after a list separator at ``i`` ("and", ",", ", and", "&"), or None."""
        toks = self.toks
        j = i
        if j < len(toks) and toks[j].text in {",", "&"}:
            j += 1
        if j < len(toks) and toks[j].text == "and":
            j += 1
        return j if j > i else None

    def joins(self, i: int, after: int) -> bool:
        """Whether the separator from ``i`` to ``after`` says "and"."""
        return any(t.text in {"and", "&"} for t in self.toks[i:after])

    def tail(self, i: int) -> tuple[list[str], int]:
        """The words after an item up to the next separator or boundary (at most ``_MAX_TAIL_WORDS``)."""
        toks, j = self.toks, i
        while (j < len(toks) and toks[j].kind == "word" and toks[j].text not in _BOUNDARY
               and j - i < _MAX_TAIL_WORDS):
            j += 1
        return [t.text for t in toks[i:j]], j

    def skip_determiners(self, i: int) -> int:
        while i < len(self.toks) and self.toks[i].text in _DETERMINERS:
            i += 1
        return i

    def forward(self, end: int, tool_words: frozenset[str]) -> tuple[list[tuple[Any, bool]], int]:
        """Items after a value that ends at ``end``, each with whether "and" comes before it; and where they end.

        Different words after the last item close the list only when they are the tool's own words
        ("the kitchen and living room *lights*").
        """
        if self.kind == "text":
            tail_v: list[str] = []
            pos = end
        else:
            tail_v, pos = self.tail(end)
        items: list[tuple[Any, bool]] = []
        while len(items) < MAX_ITEMS:
            after = self.separator(pos)
            if after is None:
                break
            joined = self.joins(pos, after)
            got = self.core(self.skip_determiners(after))
            if got is None:
                break
            value, item_end = got
            if self.kind != "text":
                tail, tail_end = self.tail(item_end)
                if tail != tail_v:
                    if not tail_v and all(stem(w) in tool_words for w in tail):
                        items.append((value, joined))  # "the kitchen and living room lights": the words close it
                        pos = tail_end
                    break  # "the kitchen light and the bathroom fan", "volume 30 and a 10 minute timer"
                item_end = tail_end
            pos = item_end
            items.append((value, joined))
        return items, pos

    def backward(self, start: int) -> tuple[list[tuple[Any, bool]], int]:
        """Items before a value that starts at ``start`` (enum values and numbers, with no words between),
        each with whether "and" comes after it; and where the first one starts."""
        if self.kind == "text":
            return [], start
        items: list[tuple[Any, bool]] = []
        pos = start
        while len(items) < MAX_ITEMS and pos > 0:
            p = pos
            while p > 0 and self.toks[p - 1].text in _DETERMINERS:
                p -= 1
            if p == 0:
                break
            sep = p - 1
            joined = self.toks[sep].text in {"and", "&"}
            if self.toks[sep].text == "and":
                sep -= 1 if sep > 0 and self.toks[sep - 1].text == "," else 0
            elif self.toks[sep].text not in {",", "&"}:
                break
            found = None
            for i in range(max(0, sep - 4), sep):  # an enum value of up to four words ends at sep
                got = self.core(i)
                if got is not None and got[1] == sep:
                    found = (got[0], i)
                    break
            if found is None:
                break
            items.insert(0, (found[0], joined))
            pos = found[1]
        return items, pos

    def is_range(self, start: int) -> bool:
        """Whether the words just before ``start`` make the list a range ("between 20 and 30")."""
        i = start
        while i > 0 and self.toks[i - 1].text in _DETERMINERS:
            i -= 1
        return i > 0 and self.toks[i - 1].text in _RANGE_WORDS


def _occurrences(reader: _Reader, value: Any, kind: str) -> list[tuple[int, int]]:
    """Token spans of the request that write ``value``."""
    toks = reader.toks
    if kind == "number":
        if isinstance(value, int) and abs(value) >= 10**_MAX_DIGITS:
            return []
        out = []
        for i, t in enumerate(toks):
            n = reader.plain_number(i) if t.kind == "num" else None
            if n is not None and math.isclose(n, value):
                out.append((i, i + 1))
        return out
    words = _words_of(str(value))
    if not words:
        return []
    n = len(words)
    return [(i, i + n) for i in range(len(toks) - n + 1) if [t.text for t in toks[i:i + n]] == words]


def _closed(before: list[tuple[Any, bool]], after: list[tuple[Any, bool]]) -> tuple[list[Any], list[Any]]:
    """The items of a list that "and" closes: those up to the last item after an "and" (none without one).

    When a comma item follows that last one ("New York City, NY, and Los Angeles, CA"), the commas set off
    the parts of each name: only the items "and" joins are kept.
    """
    last_and = max((k for k, (_, joined) in enumerate(after) if joined), default=-1)
    if last_and < 0 and not any(joined for _, joined in before):
        return [], []
    if last_and + 1 < len(after):
        return [v for v, joined in before if joined], [v for v, joined in after[:last_and + 1] if joined]
    return [v for v, _ in before], [v for v, _ in after[:last_and + 1]]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.strip().casefold() == b.strip().casefold()
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        try:
            return math.isclose(a, b)
        except OverflowError:
            return False
    return False


def _scalar_values(calls: Sequence[tuple[str, dict[str, Any]]]) -> list[Any]:
    return [v for _, args in calls if isinstance(args, dict) for v in args.values()
            if isinstance(v, (str, int, float)) and not isinstance(v, bool)]


def _like(item: Any, value: Any) -> Any:
    """A text item in the model's casing when the model changed the request's ("BOSTON" → "Boston")."""
    if not isinstance(item, str) or not isinstance(value, str):
        return item
    if value.islower():
        return item.lower()
    if value.istitle() and (item.isupper() or item.islower()):
        return item.title()
    return item


def _tool_words(tool: dict[str, Any]) -> frozenset[str]:
    """Stems of the words of a tool's name, description and parameter names."""
    words = list(name_words(str(tool.get("name", ""))))
    if isinstance(tool.get("description"), str):
        words += content_words(tool["description"])
    props = (tool.get("parameters") or {}).get("properties") if isinstance(tool.get("parameters"), dict) else None
    if isinstance(props, dict):
        words += [w for k in props if isinstance(k, str) for w in name_words(k)]
    return frozenset(stem(w) for w in words)


def _paired(reader: _Reader, end: int, args: dict[str, Any], props: dict[str, Any], key: str) -> bool:
    """Whether, in the clause after the list, the request names another value of one of the call's enums.

    "set the kitchen to 20 percent and 50 percent in the bedroom": the second value belongs to the bedroom.
    """
    toks = reader.toks
    for other, value in args.items():
        if other == key or not isinstance(value, str):
            continue
        entries = _enum_words(props.get(other))
        i = end
        while i < len(toks) and toks[i].text not in {"and", ",", ".", ";", "!", "?", "then"}:
            for words, v in entries.get(toks[i].text, []):
                if v != value and [t.text for t in toks[i:i + len(words)]] == words:
                    return True
            i += 1
    return False


_OPPOSITE = {"on": "off", "off": "on", "up": "down", "down": "up"}


def _contrary(reader: _Reader, end: int, name: str) -> bool:
    """Whether the word after the list undoes the tool's own ("turn off the bedroom lights and kitchen lights *on*")."""
    toks = reader.toks
    if end >= len(toks):
        return False
    opposite = _OPPOSITE.get(toks[end].text)
    return opposite is not None and opposite in re.split(r"[^a-z0-9]+", name.lower())


def conjoined_calls(
    calls: Sequence[tuple[str, dict[str, Any]]], tools: Sequence[dict[str, Any]], request: str,
) -> tuple[list[tuple[str, dict[str, Any]]], int]:
    """The calls with one call per item of a list the request joins (see the module docstring).

    Args:
        calls: ``(name, arguments)`` pairs, as parsed.
        tools: ``{"name", "parameters"}`` dicts.
        request: The user's request.

    Returns:
        The calls (each original call followed, or preceded, by its copies in
        the request's order) and the number of calls added.
    """
    if not calls or not isinstance(request, str) or not request or len(request) > _MAX_REQUEST_CHARS:
        return list(calls), 0
    toks = _tokens(request)
    by_name = {t["name"]: t for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)}
    stop_words = frozenset(w for name in by_name for w in name_words(name))
    used = _scalar_values(calls)
    cased = request != request.lower() and request != request.upper()
    out: list[tuple[str, dict[str, Any]]] = []
    added = 0
    for name, args in calls:
        tool = by_name.get(name) if isinstance(name, str) else None
        params = tool.get("parameters") if tool else None
        props = params.get("properties") if isinstance(params, dict) else None
        if not isinstance(args, dict) or not isinstance(props, dict):
            out.append((name, args))
            continue
        # An item is never a word of a parameter's name ("a base of 10 units and height of 5").
        call_stop = stop_words | frozenset(w for k in props if isinstance(k, str) for w in name_words(k))
        tool_words = _tool_words(tool)  # type: ignore[arg-type]
        found: list[tuple[str, list[Any], list[Any]]] = []
        ambiguous = False
        for key, value in args.items():
            schema = props.get(key)
            kind = _kind(schema)
            if kind is None or isinstance(value, bool):
                continue
            if kind == "number" and not (isinstance(value, (int, float)) and abs(value) < 10**_MAX_DIGITS):
                continue  # not a number, or past what an item can be (and NaN fails the comparison too)
            if kind != "number" and not isinstance(value, str):
                continue
            reader = _Reader(request, toks, kind, schema, call_stop)  # type: ignore[arg-type]
            spans = _occurrences(reader, value, kind)
            if len(spans) != 1:
                ambiguous = ambiguous or len(spans) > 1  # written twice: which one the model read is unknown
                continue
            start, end = spans[0]
            sentence_start = start == 0 or toks[start - 1].text in {".", "!", "?", ":"}
            reader.capitalized = toks[start].raw[0].isupper() if cased and not sentence_start else None
            back, first = reader.backward(start)
            fwd, last = reader.forward(end, tool_words)
            before, after = _closed(back, fwd)
            if ((before or after) and not reader.is_range(first) and not _paired(reader, last, args, props, key)
                    and not _contrary(reader, last, name)):
                found.append((key, before, after))
            elif before or after:
                ambiguous = True
        if len(found) != 1 or ambiguous:  # no list, several, or one of doubtful reading: the call as it is
            out.append((name, args))
            continue
        key, before, after = found[0]
        new_before: list[tuple[str, dict[str, Any]]] = []
        new_after: list[tuple[str, dict[str, Any]]] = []
        for group, dest in ((before, new_before), (after, new_after)):
            for item in group:
                item = _like(item, args[key])
                if any(_same(item, u) for u in used):
                    continue
                new = copy.deepcopy(args)
                new[key] = item
                if not schema_accepts(params, new):  # type: ignore[arg-type]
                    continue
                dest.append((name, new))
                used.append(item)
        out.extend(new_before)
        out.append((name, args))
        out.extend(new_after)
        added += len(new_before) + len(new_after)
    return (out, added) if added else (list(calls), 0)
