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
probability the model left to everything but its token there. One pass over
the written name (in a fork of the cached prompt) gives those bounds, and
only the tools whose bound beats the written name's whole likelihood are
scored, in one more pass. When the greedy pass's own log-probabilities
cover every token of the name (none forced, or a rule that reads forced
tokens), they give the bounds and a call that cannot lose needs no pass.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from agent_sdk.agent.call_format import CallFormat

__all__ = ["first_call_name", "name_text", "rerank_tool_name"]


def _log_softmax(x: np.ndarray) -> np.ndarray:
    m = float(np.max(x))
    return x - m - math.log(float(np.exp(x - m).sum()))


def _name_prefix(fmt: CallFormat) -> str:
    """The call head's text before the tool name (``{"name": "`` for Hermes)."""
    return os.path.commonprefix([fmt.call_head("a"), fmt.call_head("b")])


def name_text(fmt: CallFormat, name: str) -> str:
    """A call's text from its start through the name and what ends it (``{"name": "set_window",`` for Hermes).

    The scored text ends one character after the name (two after a quoted
    one): the name's last token often merges with what follows it (``",``),
    so stopping at the name would score a split the model never writes.
    """
    head = fmt.call_head(name)
    end = len(_name_prefix(fmt)) + len(name)
    if head[end:end + 1] == '"':
        end += 1
    return head[: end + 1]


def first_call_name(text: str, names: Sequence[str], fmt: CallFormat) -> tuple[str, int] | None:
    """The first call's tool name in ``text`` and where its call starts, or None when no call starts there."""
    best: tuple[str, int] | None = None
    for name in names:
        at = text.find(name_text(fmt, name))
        if at >= 0 and (best is None or at < best[1] or at == best[1] and len(name) > len(best[0])):
            best = (name, at)  # at one place the longer name: "call:set_window" also starts "call:set"
    return best


def _greedy_cannot_lose(
    lead_ids: Sequence[int], name_ids: Sequence[int], token_ids: Sequence[int], logprobs: Sequence[float],
    forced: Sequence[bool],
) -> bool:
    """Whether the greedy pass's own log-probabilities already rule out every other name (no pass needed).

    ``lead_ids + name_ids`` must be how the pass wrote the call's start
    (else False: the bound is not known).
    """
    n0, n1 = len(lead_ids), len(lead_ids) + len(name_ids)
    if list(token_ids[:n1]) != list(lead_ids) + list(name_ids) or len(logprobs) < n1 or len(forced) < n1:
        return False
    lps = [float(x) for x in logprobs[n0:n1]]
    if any(math.isnan(x) for x in lps):
        return False  # a forced token's log-probability was not computed (the name's likelihood is not known)
    total = sum(lps)
    before = 0.0
    for x, f in zip(lps, forced[n0:n1]):
        if not f:  # where the grammar forced the token no other name leaves this one
            rest = math.log1p(-math.exp(min(x, -1e-12)))  # what the model left to every other token
            if before + rest > total:
                return False
        before += x
    return True


def rerank_tool_name(
    engine: Any,
    prompt_ids: list[int],
    text: str,
    tools: Sequence[dict[str, Any]],
    *,
    call_format: CallFormat,
    token_ids: Sequence[int] | None = None,
    logprobs: Sequence[float] | None = None,
    forced: Sequence[bool] | None = None,
    margin: float = 0.0,
) -> str | None:
    """The tool the first call should name, when another beats the written one as a whole; else None.

    Args:
        engine: The runtime engine (its ``tokenizer`` and ``continuation_logits``).
        prompt_ids: The prompt the calls were decoded from.
        text: The decoded call text.
        tools: The tools offered (``{"name", ...}``).
        call_format: The format ``text`` is written in.
        token_ids: The greedy pass's tokens (with ``logprobs`` and ``forced``:
            most calls are then settled without a pass).
        logprobs: The unmasked log-probability of each of ``token_ids``.
        forced: Per token, whether the grammar forced it.
        margin: Nats by which another name must beat the written one.

    Returns:
        The better tool's name, or None to keep the call.
    """
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
        return None  # another name's text starts with this one's: not comparable token by token
    if token_ids is not None and logprobs is not None and forced is not None and _greedy_cannot_lose(
        ours[:common], ours[common:], token_ids, logprobs, forced,
    ):
        return None
    prefix = list(prompt_ids) + ours[:common]
    tail = ours[common:]
    last, rows = engine.continuation_logits(prefix, [tail])
    steps = [_log_softmax(last)] + [_log_softmax(rows[0][j]) for j in range(len(tail) - 1)]
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
        score = float(first[other[0]]) + sum(float(_log_softmax(r[j - 1])[other[j]]) for j in range(1, len(other)))
        if score > best_score:
            best, best_score = n, score
    return best
