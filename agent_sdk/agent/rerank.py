"""Argument values chosen by the whole value's likelihood, not its first token.

Greedy decoding commits to a value's first token: "Man" then "chester" for a
request about Manhattan, "fettuccine" for "pasta carbonara", 500 for "$5000".
After a call is decoded, :func:`rerank_values` revisits each argument value
(top-level strings and numbers, and the strings of top-level arrays). The
value the model wrote competes with the request's own candidates: spans of a
few words (for strings; only those whose first token the model finds nearly
as likely are scored), the numbers the request states (for numbers: digits,
"2 million", "five"), or each allowed value of an enum. Candidates are scored
by the model's log-probability of the whole value *and* of the value ending
there. When another candidate wins, the call is decoded again from that
value on (later arguments may depend on it), under the same grammar, so it
stays valid.

Scoring reuses the engine's KV cache: the prompt and the call so far are
computed once, each candidate runs in a fork of them
(:meth:`agent_sdk.runtime.engine.Engine.continuation_logits`); all spans
starting at one word share one pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent_sdk.agent.call_format import HERMES, CallFormat
from agent_sdk.agent.json_cursor import ArgumentCursor
from agent_sdk.agent.request_features import written_numbers
from agent_sdk.agent.spoken import spoken_decimals, spoken_numbers
from agent_sdk.agent.token_index import TokenIndex

__all__ = [
    "DEFAULT_RERANK", "Slot", "ValueRerank", "argument_values", "log_softmax", "quoted", "request_numbers",
    "request_spans", "rerank_values", "string_values",
]


@dataclass(frozen=True)
class ValueRerank:
    """How argument strings are re-ranked.

    Attributes:
        starts: Most words of the request at which spans are scored (the
            ones whose first token the model finds likeliest); every span
            of up to ``max_words`` words from such a word is scored in one
            pass.
        max_words: Longest request span, in words.
        window: Words whose first token is this many nats less likely than
            the written value's first token start no candidates.
        prior: Nats added to a value written in the request (a span of it,
            the written value too when it is one).
        margin: Nats by which a candidate must beat the written value.
        max_enum: Enums with more values than this are left to the grammar.
    """

    starts: int = 6
    max_words: int = 6
    window: float = 5.0
    prior: float = 0.0
    margin: float = 0.0
    max_enum: int = 16


DEFAULT_RERANK = ValueRerank()

_WORD = re.compile(r"\S+")
_EDGE = "\"'`.,;:!?()[]{}<>"


def request_spans(request: str, max_words: int = 6) -> list[list[str]]:
    """Runs of up to ``max_words`` consecutive words of ``request``, outer punctuation removed.

    Grouped by the word they start at, shortest first: "Find 'Guardian
    Sword+' in Zelda." gives ``[["Find", "Find 'Guardian", ...],
    ["Guardian", "Guardian Sword+", ...], ...]``. A span appears once (in
    the first group that has it).
    """
    words = _WORD.findall(request)
    seen: set[str] = set()
    groups = []
    for i in range(len(words)):
        group = []
        for j in range(i + 1, min(len(words), i + max_words) + 1):
            span = " ".join(words[i:j]).strip(_EDGE + " ")
            if span and span not in seen:
                seen.add(span)
                group.append(span)
        if group:
            groups.append(group)
    return groups


@dataclass(frozen=True)
class Slot:
    """Where one argument value sits in call text.

    Attributes:
        start: Index of its first character (after the opening quote of a string).
        end: Index just past its last character (the closing quote of a string).
        tool: The tool being called.
        key: The top-level argument it belongs to.
        kind: ``"string"`` or ``"number"``.
        item: It is an item of the argument's array, not the argument itself.
    """

    start: int
    end: int
    tool: str
    key: str
    kind: str
    item: bool = False


def argument_values(text: str, fmt: CallFormat = HERMES) -> list[Slot]:
    """The complete string and number values of the calls' arguments in ``text``.

    Top-level arguments and the items of top-level arrays; values nested
    deeper (objects inside arguments) are not listed.
    """
    out = []
    base = fmt.arguments_start(text)
    while base >= 0:
        cur = ArgumentCursor(active=True)
        tool = fmt.current_tool(text[:base]) or ""
        start, item = -1, False
        for i, ch in enumerate(text[base:], base):
            was_string, was_number = cur.in_string, cur.in_number
            cur.feed(ch)
            if not cur.active:
                if was_number and start >= 0:
                    out.append(Slot(start, i, tool, cur.keys[-1] if cur.keys else "", "number", item))
                break
            if was_number and not cur.in_number and start >= 0:
                out.append(Slot(start, i, tool, cur.keys[-1] if cur.keys else "", "number", item))
                start = -1
            if was_string and not cur.in_string and start >= 0:
                out.append(Slot(start, i, tool, cur.keys[-1] if cur.keys else "", "string", item))
                start = -1
            top = cur.depth == 1 or (cur.depth == 2 and cur.stack[-1] == "a")
            if not was_string and cur.in_string and not cur.is_key and top:
                start, item = i + 1, cur.depth == 2
            elif not was_number and cur.in_number and top:
                start, item = i, cur.depth == 2
        base = fmt.arguments_start(text, base)
    return out


def string_values(text: str, fmt: CallFormat = HERMES) -> list[tuple[int, int, str, str]]:
    """The top-level string arguments of the calls in ``text``.

    Returns:
        ``(start, end, tool, key)`` per complete value: ``text[start:end]``
        is the value as written (JSON-escaped, without its quotes).
    """
    return [(v.start, v.end, v.tool, v.key) for v in argument_values(text, fmt) if v.kind == "string" and not v.item]


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Log-probabilities from logits along the last axis, in float64."""
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=-1, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))


def _param_schema(tools: Sequence[dict[str, Any]], slot: Slot) -> dict[str, Any] | None:
    for t in tools:
        if t.get("name") == slot.tool:
            props = (t.get("parameters") or {}).get("properties") or {}
            schema = props.get(slot.key)
            if isinstance(schema, dict) and slot.item:
                schema = schema.get("items")
            return schema if isinstance(schema, dict) else None
    return None


def _types(schema: dict[str, Any]) -> set[str]:
    t = schema.get("type")
    return set(t) if isinstance(t, list) else {t} if isinstance(t, str) else set()


def request_numbers(request: str) -> list[str]:
    """Numbers the request states, as JSON writes them: digits (separators dropped,
    scale words applied: "8.5 million" is ``8500000``), number words ("seventy five" is ``75``) and decimals said
    with "point" ("ninety four point five" is ``94.5``)."""
    found = list(dict.fromkeys(written_numbers(request)))
    for n in spoken_numbers(request):
        if str(n) not in found:
            found.append(str(n))
    for d in spoken_decimals(request):
        if str(d) not in found:
            found.append(str(d))
    return found


def _candidates(schema: dict[str, Any], request: str, opts: ValueRerank, kind: str) -> tuple[list[list[str]], bool]:
    """Groups of values to compare for a parameter, and whether each is its own group (all scored)."""
    enum = schema.get("enum")
    if kind == "number":
        types = _types(schema)
        if enum is not None or not types & {"integer", "number"}:
            return [], True
        values = request_numbers(request)
        if "number" not in types:
            values = [v for v in values if re.fullmatch(r"-?\d+", v)]
        return [[v] for v in values], True
    if isinstance(enum, list):
        values = [v for v in enum if isinstance(v, str)]
        return ([[v] for v in values], True) if 1 < len(values) <= opts.max_enum else ([], True)
    types = _types(schema)
    if types and "string" not in types:
        return [], False
    if schema.get("format") or schema.get("pattern"):
        return [], False  # dates, e-mails ...: the request's words are rarely the format
    groups = request_spans(request, opts.max_words)
    spans = {v for grp in groups for v in grp}
    return groups + [[q] for q in quoted(request) if q not in spans], False


_QUOTED = re.compile(r"""(?:^|(?<=[\s(\[:,]))(['"\u2018\u201c])(.+?)(?:['"\u2019\u201d])(?=$|[\s.,;:!?)\]])""")


def quoted(request: str) -> list[str]:
    """Text the request puts in quotes ('…', "…", ‘…’, “…”), however long: often a literal value.

    A quote must open after a space or punctuation and close before one, so
    apostrophes ("It's") do not count.
    """
    return list(dict.fromkeys(m.group(2).strip() for m in _QUOTED.finditer(request) if m.group(2).strip()))


def _said(value: str, low_request: str) -> bool:
    return bool(value) and re.search(rf"(?<![\w]){re.escape(value.lower())}(?![\w])", low_request) is not None


def _alone_in_request(written: str, others: Sequence[str], low_request: str) -> bool:
    """Whether the request says ``written`` as a whole word or phrase and none of ``others``."""
    return _said(written, low_request) and not any(_said(o, low_request) for o in others)


def _ending_scores(first: np.ndarray, ids: list[int], rows: np.ndarray, end_ids: np.ndarray) -> list[float]:
    """log P(the value is ``ids[:k]`` and ends there), for each k.

    Args:
        first: Log-probabilities of the value's first token.
        ids: The value's tokens.
        rows: Logits after each of them (``continuation_logits``).
        end_ids: Tokens that end the value (a closing quote; what follows a number).
    """
    lp = log_softmax(rows)
    out, total = [], float(first[ids[0]])
    for k in range(1, len(ids) + 1):
        if k > 1:
            total += float(lp[k - 2, ids[k - 1]])
        out.append(total + float(np.logaddexp.reduce(lp[k - 1, end_ids])))
    return out


def _escape(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


def rerank_values(
    engine: Any,
    prompt_ids: list[int],
    text: str,
    tools: Sequence[dict[str, Any]],
    *,
    request: str,
    redecode: Callable[[str, np.ndarray], str | None],
    options: ValueRerank | None = None,
    call_format: CallFormat = HERMES,
) -> tuple[str, int]:
    """Re-ranks the string and number arguments (and array items) of the calls in ``text``.

    Args:
        engine: The runtime engine (its ``tokenizer`` and ``continuation_logits``).
        prompt_ids: The prompt the calls were decoded from.
        text: The decoded call text.
        tools: ``{"name", "parameters"}`` dicts.
        request: The user's request (its spans and numbers are candidates).
        redecode: ``redecode(prefix, first)`` decodes the rest of the calls
            after a prefix of call text that ends inside a value, the next
            token being one of the ids ``first`` (which end the value), and
            returns the whole call text, or None when it cannot.
        options: Settings (default :class:`ValueRerank`).
        call_format: The format ``text`` is written in.

    Returns:
        The call text, maybe with other values (and what followed them
        decoded again), and the number of values changed.
    """
    opts = options or ValueRerank()
    tok = engine.tokenizer
    index = TokenIndex.for_tokenizer(tok)
    ends = {
        "string": np.asarray(index.quote_ids, dtype=np.int64),
        "number": np.asarray(index.number_end_ids, dtype=np.int64),
    }
    low_request = request.lower()
    changed = 0
    todo = argument_values(text, call_format)
    while todo:
        slot = todo.pop(0)
        schema = _param_schema(tools, slot)
        if schema is None or (slot.kind == "number" and slot.item):
            continue  # numbers in a list (coordinates, samples) are not re-ranked: they rarely come one by one
        groups, each = _candidates(schema, request, opts, slot.kind)
        written = text[slot.start:slot.end]
        if slot.kind == "string":
            groups = [[_escape(c) for c in grp] for grp in groups]
        groups = [g for g in ([c for c in grp if c != written] for grp in groups) if g]
        written_ids = tok.encode(written) if written else []
        if not groups or not written_ids:
            continue
        if each and slot.kind == "string" and _alone_in_request(written, [c for grp in groups for c in grp], low_request):
            continue  # the request names this enum value and no other: nothing to compare it with
        if slot.kind == "string" and not each and written.strip().lower() in low_request and len(written.split()) > opts.max_words:
            continue  # a longer copy of the request than any span: keep it whole
        prefix = prompt_ids + tok.encode(text[:slot.start])
        last, _ = engine.continuation_logits(prefix, [])
        first = log_softmax(last)
        # One pass per group: its longest value; the shorter ones are its prefixes.
        runs = [(grp, tok.encode(grp[-1])) for grp in groups]
        runs = [(grp, ids) for grp, ids in runs if ids]
        if not each:
            floor = first[written_ids[0]] - opts.window
            runs = sorted((r for r in runs if first[r[1][0]] >= floor), key=lambda r: -first[r[1][0]])[: opts.starts]
        if not runs:
            continue
        _, rows = engine.continuation_logits(prefix, [written_ids] + [ids for _, ids in runs])
        end_ids = ends[slot.kind]
        prior = opts.prior if slot.kind == "string" and not each else 0.0
        bonus = {True: prior, False: 0.0}
        best_value = written
        best = _ending_scores(first, written_ids, rows[0], end_ids)[-1] + bonus[written.lower() in low_request] + opts.margin
        for (grp, ids), r in zip(runs, rows[1:]):
            scores = _ending_scores(first, ids, r, end_ids)
            for value in grp:
                v_ids = ids if value == grp[-1] else tok.encode(value)
                if not v_ids or ids[: len(v_ids)] != v_ids:
                    continue  # tokenized differently inside the longer span: not scored
                score = scores[len(v_ids) - 1] + bonus[value.lower() in low_request]
                if score > best:
                    best_value, best = value, score
        if best_value == written:
            continue
        new_text = redecode(text[:slot.start] + best_value, end_ids)
        if new_text is None:
            continue
        text = new_text
        changed += 1
        # What followed the new value was decoded again: its values, scanned anew.
        todo = [v for v in argument_values(text, call_format) if v.start > slot.start + len(best_value)]
    return text, changed
