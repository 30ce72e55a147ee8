"""A list the request joins with "and": one call per item.

Small models make one call where the request asks for the same action on
several things: "turn on the kitchen and living room lights" comes out as
``turn_on_lights(room="kitchen")``, "add milk and eggs to the list" as
``add_to_shopping_list(item="milk")``, "the factorial of 5, 10 and 15" as
``math.factorial(number=5)``. When exactly one argument of a call holds a
value the request writes as one item of such a list, the call is repeated
for each other item, every other argument unchanged.

An item is read in the argument's own terms: a value of its enum (the
request's "living room" for ``Literal["kitchen", "living room", ...]``), a
number written in digits, or for free text the few words after "and" or a
comma up to the next preposition or punctuation ("milk and eggs to the list":
"eggs"). Nothing changes when:

- the words around the items differ ("the kitchen light and the bathroom
  fan": a list of things, not of rooms);
- two arguments of the call each sit in a list (values paired
  "respectively" are beyond a copy of one call);
- an item starts with a verb or a word of a tool's name ("add milk and set a
  timer": a second request, not a second item), or is a value some call
  already holds ("between New York and Boston");
- the new call would not validate against the tool's JSON schema.

Free text is read forward only (the first item is the model's value): its
words before "and" cannot be told from the rest of the sentence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema

from agent_sdk.agent.words import name_words

__all__ = ["MAX_ITEMS", "conjoined_calls"]

MAX_ITEMS = 8
"""Most items one list adds (the request's length bounds it anyway; this bounds the calls a crafted request makes)."""

# Words that end a free-text item ("milk and eggs *to* the list", "eggs *please*").
_BOUNDARY = frozenset(re.findall(r"\S+", """to on onto from in into at for with of off by about as than
    and or but so then also too please thanks thank now today tomorrow tonight again instead respectively
    is are was were be will would can could should"""))

# Words an item never starts with: a second request ("and set a timer", "and what's ..."), a pronoun.
_NOT_AN_ITEM = frozenset(re.findall(r"\S+", """set turn switch add remove put make start stop play call get find
    tell open close check show give read cancel take delete buy wake remind send order book bring dim raise lower
    what whats how when where who why which is are can could would will do does did
    i im you we they he she it its that this there then me us them another other""")) | _BOUNDARY

# Words after an item that make it the subject of a clause ("the second one is '2x+5'", "eggs are gone").
_CLAUSE_VERBS = frozenset({"is", "are", "was", "were", "isnt", "arent"})

# Words before an item that are not part of it.
_DETERMINERS = frozenset({"the", "a", "an", "my", "our", "some", "more", "both"})

_MAX_FREE_WORDS = 4  # a shopping item, a city, a song: a few words
_MAX_TAIL_WORDS = 2  # "kitchen *light* and the bathroom *light*"
_MAX_REQUEST_CHARS = 2_000  # a spoken or typed command; longer text is not a list of items to act on

_TOKEN = re.compile(r"\d+(?:\.\d+)?(?:,\d{3}(?!\d))*(?:\.\d+)?|[A-Za-z](?:[A-Za-z'\-]*[A-Za-z])?|[,&;:.!?()\"=+*/<>]")


@dataclass(frozen=True)
class _Tok:
    text: str  # lower case, apostrophes dropped
    raw: str  # as written
    kind: str  # "word", "num" or "punct"
    start: int  # offset in the request
    end: int


def _tokens(request: str) -> list[_Tok]:
    out = []
    for m in _TOKEN.finditer(request):
        t = m.group(0)
        kind = "num" if t[0].isdigit() else "word" if t[0].isalpha() else "punct"
        out.append(_Tok(t.lower().replace("'", ""), t, kind, m.start(), m.end()))
    return out


def _number(text: str) -> float:
    return float(text.replace(",", ""))


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


class _Reader:
    """Reads items of one argument's kind at token positions of the request."""

    def __init__(self, request: str, toks: list[_Tok], kind: str, schema: dict[str, Any],
                 stop_words: frozenset[str]) -> None:
        self.request, self.toks, self.kind, self.schema, self.stop_words = request, toks, kind, schema, stop_words
        self.capitalized: bool | None = None  # free text: whether the model's value starts with a capital in the request
        self.enum: list[tuple[list[str], str]] = []
        if kind == "enum":
            self.enum = sorted(((_words_of(v), v) for v in schema["enum"] if _words_of(v)), key=lambda e: -len(e[0]))

    def core(self, i: int) -> tuple[Any, int] | None:
        """The item starting at token ``i`` and the position after it, or None."""
        toks = self.toks
        if i >= len(toks):
            return None
        if self.kind == "number":
            if toks[i].kind != "num":
                return None
            n = _number(toks[i].text)
            return (int(n) if "." not in toks[i].text else n), i + 1
        if self.kind == "enum":
            for words, value in self.enum:
                if [t.text for t in toks[i:i + len(words)]] == words:
                    return value, i + len(words)
            return None
        first = toks[i]
        if first.kind != "word" or first.text in _NOT_AN_ITEM or first.text in self.stop_words:
            return None
        if self.capitalized is not None and first.raw[0].isupper() != self.capitalized:
            return None  # "in New York and suggest a restaurant": a name, then not one
        j = i
        while j < len(toks) and toks[j].kind != "punct" and toks[j].text not in _BOUNDARY and j - i < _MAX_FREE_WORDS:
            if j > i and toks[j].text in _DETERMINERS:
                return None  # "and analyze the sentiment": a clause
            if j > i and self.capitalized and toks[j].kind == "word" and toks[j].raw[0].islower():
                break  # a name ends where lower case starts: "Berlin and Madrid stores"
            j += 1
            if toks[j - 1].raw.endswith("'s"):
                break  # "Berlin and Madrid's music stores": the possessor is the item
        if j < len(toks) and toks[j].kind != "punct" and toks[j].text not in _BOUNDARY and not self.capitalized:
            return None  # longer than an item: a clause
        if j < len(toks) and toks[j].text in _CLAUSE_VERBS:
            return None  # "and the second one is ...": the subject of a clause
        if first.text.endswith("ing") and (j - i > 1 or (j < len(toks) and toks[j].text == "of")):
            return None  # "assuming two children", "the signing of the treaty"
        text = " ".join(t.raw for t in toks[i:j])
        if self.request[first.start:toks[j - 1].end] != text:
            return None  # written with other characters between its words ("y=2x+3"): not a plain item
        return (text[:-2] if text.endswith("'s") and len(text) > 2 else text), j

    def separator(self, i: int) -> int | None:
        """The position after a list separator at ``i`` ("and", ",", ", and", "&"), or None.

        See :meth:`joins` for whether it is the closing "and" of a list.
        """
        toks = self.toks
        j = i
        if j < len(toks) and toks[j].text in {",", "&"}:
            j += 1
        if j < len(toks) and toks[j].text == "and":
            j += 1
        return j if j > i else None

    def joins(self, i: int, after: int) -> bool:
        """Whether the separator from ``i`` to ``after`` says "and" (a comma alone also sets off a name's
        parts: "Riga, Latvia")."""
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

    def forward(self, end: int) -> list[tuple[Any, bool]]:
        """Items after a value that ends at ``end``, each with whether "and" comes before it."""
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
            value, pos = got
            if self.kind != "text":
                tail, pos = self.tail(pos)
                if tail != tail_v:
                    if tail_v:
                        break  # "the kitchen light and the bathroom fan"
                    items.append((value, joined))  # "the kitchen and living room lights": the words close the list
                    break
            items.append((value, joined))
        return items

    def backward(self, start: int) -> list[tuple[Any, bool]]:
        """Items before a value that starts at ``start`` (enum values and numbers, with no words between),
        each with whether "and" comes after it."""
        if self.kind == "text":
            return []
        items: list[tuple[Any, bool]] = []
        pos = start
        while len(items) < MAX_ITEMS and pos > 0:
            while pos > 0 and self.toks[pos - 1].text in _DETERMINERS:
                pos -= 1
            if pos == 0:
                break
            sep = pos - 1
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
        return items


def _occurrences(toks: list[_Tok], value: Any, kind: str) -> list[tuple[int, int]]:
    """Token spans of the request that write ``value``."""
    if kind == "number":
        return [(i, i + 1) for i, t in enumerate(toks) if t.kind == "num" and math.isclose(_number(t.text), value)]
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
        x, y = a.strip().casefold(), b.strip().casefold()
        return bool(x and y) and (x in y or y in x)  # "Washington D" is part of "Washington D.C."
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(a, b)
    return False


def _valid(arguments: dict[str, Any], schema: dict[str, Any]) -> bool:
    try:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        return bool(cls(schema).is_valid(arguments))
    except Exception:  # noqa: BLE001 - a schema the validator cannot use: no new call
        return False


def _scalar_values(calls: Sequence[tuple[str, dict[str, Any]]]) -> list[Any]:
    return [v for _, args in calls for v in args.values() if isinstance(v, (str, int, float)) and not isinstance(v, bool)]


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
    if not calls or not request or len(request) > _MAX_REQUEST_CHARS:
        return list(calls), 0
    toks = _tokens(request)
    by_name = {t.get("name"): t for t in tools if isinstance(t, dict)}
    stop_words = frozenset(w for name in by_name if isinstance(name, str) for w in name_words(name))
    used = _scalar_values(calls)
    out: list[tuple[str, dict[str, Any]]] = []
    added = 0
    cased = request != request.lower() and request != request.upper()
    for name, args in calls:
        params = (by_name.get(name) or {}).get("parameters")
        props = params.get("properties") if isinstance(params, dict) else None
        # An item is never a word of a parameter's name ("a base of 10 units and height of 5").
        call_stop = stop_words | frozenset(w for k in (props or {}) if isinstance(k, str) for w in name_words(k))
        found: list[tuple[str, list[Any], list[Any]]] = []
        for key, value in args.items():
            schema = props.get(key) if isinstance(props, dict) else None
            kind = _kind(schema)
            if kind is None or isinstance(value, bool) or not isinstance(value, (str, int, float)):
                continue
            if kind == "number" and (isinstance(value, str) or not math.isfinite(value)):
                continue
            if kind != "number" and not isinstance(value, str):
                continue
            reader = _Reader(request, toks, kind, schema, call_stop)  # type: ignore[arg-type]
            for start, end in _occurrences(toks, value, kind):
                sentence_start = start == 0 or toks[start - 1].text in {".", "!", "?", ":", "\""}
                reader.capitalized = toks[start].raw[0].isupper() if cased and not sentence_start else None
                before, after = _closed(reader.backward(start), reader.forward(end))
                if before or after:
                    found.append((key, before, after))
        keys = {k for k, _, _ in found}
        if len(found) != 1 or len(keys) != 1:  # no list, or several: leave the call as it is
            out.append((name, args))
            continue
        key, before, after = found[0]
        new_before: list[tuple[str, dict[str, Any]]] = []
        new_after: list[tuple[str, dict[str, Any]]] = []
        for group, dest in ((before, new_before), (after, new_after)):
            for item in group:
                if any(_same(item, u) for u in used):
                    continue
                new = {**args, key: item}
                if not isinstance(params, dict) or not _valid(new, params):
                    continue
                dest.append((name, new))
                used.append(item)
        out.extend(new_before)
        out.append((name, args))
        out.extend(new_after)
        added += len(new_before) + len(new_after)
    return (out, added) if added else (list(calls), 0)
