"""The tool of a call chosen by its whole name's likelihood, not its first token.

Greedy decoding commits to a tool name's first token: "close" then ``_trunk``
for "close the driver window" (log-probability -3.9 for the whole name), when
the model finds ``set_window`` far likelier as a whole (-1.1) but its first
token, "set", a little less likely than "close". :func:`rerank_tool_name`
revisits the first call's name: every other tool whose name could beat the
written one is scored as a whole (the name and the delimiter that ends it),
and when one wins the call is decoded again from that name on, under the
same grammar, so it stays valid. It is :mod:`agent_sdk.agent.rerank`'s rule
for argument values, applied to the name.

A name is scored by the model's unmasked log-probability of each of its
tokens, the ones the grammar forced included: after "close" the model
expects "_window", and ``_trunk`` (the only name the grammar allows there)
costs it 3.5 nats. Another name that leaves the written one at token ``d``
is at most as likely as the written name's first ``d`` tokens times the
model's probability of the other name's token there. One pass over the
written name (in a fork of the cached prompt) gives those bounds, and only
the tools whose bound beats the written name's whole likelihood are scored,
in one more pass. (The greedy pass's own log-probabilities cannot stand in
for the first pass: the character that closes the name is forced, and the
call step does not compute forced tokens' log-probabilities.)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agent_sdk.agent.call_format import CallFormat
from agent_sdk.agent.rerank import log_softmax

if TYPE_CHECKING:
    from agent_sdk.runtime.engine import Engine

__all__ = ["first_call_name", "name_text", "rerank_tool_name"]


def _name_prefix(fmt: CallFormat) -> str:
    """The call head's text before the tool name (``{"name": "`` for Hermes)."""
    return os.path.commonprefix([fmt.call_head("a"), fmt.call_head("b")])


def name_text(fmt: CallFormat, name: str) -> str:
    """A call's text from its start through the name and what ends it.

    The scored text ends one character after the name (two after a quoted
    one): the name's last token often merges with what follows it (``",``),
    so stopping at the name would score a split the model never writes, and
    without the closing character a name would score as well as every longer
    name it begins.

    Args:
        fmt: The call format.
        name: A tool name.

    Returns:
        ``{"name": "set_window",`` for Hermes, ``call:set_window{`` for FunctionGemma.
    """
    block = fmt.render_call(name, {})
    head = fmt.call_head(name)
    start = block.index(head)
    end = start + len(_name_prefix(fmt)) + len(name)
    if block[end:end + 1] == '"':
        end += 1
    return block[start:end + 1]


def first_call_name(text: str, names: Sequence[str], fmt: CallFormat) -> tuple[str, int] | None:
    """The first call's tool name in ``text``.

    Args:
        text: Call text.
        names: The tool names that may be called.
        fmt: The format ``text`` is written in.

    Returns:
        ``(name, offset)``: the name and where its call's :func:`name_text`
        starts in ``text``; None when no call of these names is there.
    """
    best: tuple[str, int] | None = None
    for name in names:
        at = text.find(name_text(fmt, name))
        if at >= 0 and (best is None or at < best[1]):
            best = (name, at)
    return best


def rerank_tool_name(
    engine: Engine,
    prompt_ids: list[int],
    text: str,
    tools: Sequence[dict[str, Any]],
    *,
    call_format: CallFormat,
    margin: float = 0.0,
) -> tuple[str, int] | None:
    """The tool the first call should name, when another beats the written one as a whole; else None.

    Args:
        engine: The runtime engine (its ``tokenizer`` and ``continuation_logits``).
        prompt_ids: The prompt the calls were decoded from.
        text: The decoded call text.
        tools: The tools offered (``{"name", ...}``).
        call_format: The format ``text`` is written in.
        margin: Nats by which another name must beat the written one (>= 0).

    Returns:
        ``(name, offset)``: the better tool's name and where the first call's
        :func:`name_text` starts in ``text``; None to keep the call.

    Raises:
        ValueError: A negative ``margin``.
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0; got {margin}")
    names = [str(t["name"]) for t in tools]
    found = first_call_name(text, names, call_format)
    if found is None or len(names) < 2:
        return None
    written, at = found
    tok = engine.tokenizer
    lead = text[:at]
    seqs = {n: tok.encode(lead + name_text(call_format, n)) for n in names}
    ours = seqs[written]
    common = len(ours)
    for n, s in seqs.items():
        if n != written:
            common = min(common, len(os.path.commonprefix([s, ours])))
    if common >= len(ours):
        return None  # another name's text starts with this one's as tokenized: not comparable token by token
    prefix = list(prompt_ids) + ours[:common]
    tail = ours[common:]
    last, rows = engine.continuation_logits(prefix, [tail])
    steps = [log_softmax(last), *log_softmax(rows[0][: len(tail) - 1])]
    lps = [float(steps[j][tail[j]]) for j in range(len(tail))]
    best_score = sum(lps) + margin
    rivals: list[str] = []
    for n, s in seqs.items():
        other = s[common:]
        d = len(os.path.commonprefix([other, tail]))
        if n == written or d >= len(other) or d >= len(tail):
            continue
        if sum(lps[:d]) + float(steps[d][other[d]]) > best_score:
            rivals.append(n)
    if not rivals:
        return None
    _, rival_rows = engine.continuation_logits(prefix, [seqs[n][common:] for n in rivals])
    first = steps[0]
    best = None
    for n, r in zip(rivals, rival_rows):
        other = seqs[n][common:]
        lp = log_softmax(r[: len(other) - 1])
        score = float(first[other[0]]) + sum(float(lp[j - 1][other[j]]) for j in range(1, len(other)))
        if score > best_score:
            best, best_score = n, score
    return None if best is None else (best, at)
