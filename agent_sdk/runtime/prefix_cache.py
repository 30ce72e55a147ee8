"""Which token sequences the paged KV cache holds, and which one a new request reuses.

A few finished sequences stay in the cache. A request takes the one sharing
the longest token prefix with it: a follow-up turn extends its conversation
in place, and a request that starts with the same system prompt (tool
descriptions included) forks it instead of recomputing it. Least recently
used sequences make room. Nothing here runs the model: the KV cache is
driven through :class:`KVCache`, the three calls this needs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = ["SCRATCH_SEQUENCES", "CachedSequence", "KVCache", "PrefixCache", "common_prefix"]

SCRATCH_SEQUENCES = 8
"""Temporary sequences the KV cache holds beside the kept ones: scored continuations of one prefix run in
forks of it, this many in one forward call (value re-ranking scores up to 7: the written value and 6 spans)."""


class KVCache(Protocol):
    """The sequence bookkeeping of a paged KV cache."""

    def add_sequence(self, seq_id: int) -> None:
        """Starts an empty sequence."""

    def remove_sequence(self, seq_id: int) -> None:
        """Frees a sequence's pages."""

    def fork_sequence(self, parent: int, child: int, length: int, *, total: int | None = None) -> None:
        """Starts ``child`` holding the first ``length`` tokens of ``parent`` (pages shared).

        ``total`` is the child's final length, given for a scratch fork of a cache that cannot fork in general
        (sliding windows: see ``TVMModel.fork_sequence``).
        """

    # A KV cache may also say ``can_fork = False`` (sliding-window models): then a request reuses a
    # sequence by extending it in place, cut back first to the shared prefix when the cache has
    # ``pop_tokens(seq_id, n)`` (drop the last n tokens), else only a follow-up turn reuses one; with
    # ``fork_window = N`` it still forks a scratch sequence that never holds more than N tokens
    # (``fork_sequence(..., total=)``).


@dataclass
class CachedSequence:
    """A sequence in the KV cache.

    Attributes:
        seq_id: Its id in the KV cache.
        tokens: The tokens the cache holds for it, in order.
        last_used: ``time.monotonic()`` when a request last used it.
        last_logits: ``(n, logits)``: the logits after the first ``n`` tokens,
            when it was prefilled to exactly ``n`` tokens. Tokens grow, or are
            cut back (:meth:`PrefixCache.cut`, which clears this), so it holds
            while ``len(tokens) == n``.
        pinned: Generations running on it now: it is not extended in place,
            cut back or evicted for another request (a fork of it is fine).
    """

    seq_id: int
    tokens: list[int]
    last_used: float
    last_logits: tuple[int, np.ndarray] | None = None
    pinned: int = 0


def common_prefix(a: list[int], b: list[int]) -> int:
    """The number of leading tokens ``a`` and ``b`` share."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class PrefixCache:
    """The sequences kept in a KV cache for reuse.

    The KV cache holds :data:`SCRATCH_SEQUENCES` sequences more than
    ``max_sequences``: the :meth:`scratch` and :meth:`scratch_forks`
    sequences, so that a scratch computation never evicts a kept sequence
    to make a slot (only, like any request, when the page pool lacks room
    for its tokens).

    Args:
        kv: The KV cache, with room for ``max_sequences + SCRATCH_SEQUENCES`` sequences.
        max_sequences: Sequences kept at most (a request's own included).
        capacity_tokens: Tokens the page pool holds across all sequences.
        page_size: Tokens per page (a fork copies its parent's last, partly
            filled page: :meth:`scratch_forks` counts a page more per fork).
    """

    def __init__(self, kv: KVCache, *, max_sequences: int, capacity_tokens: int, page_size: int = 16) -> None:
        self._kv = kv
        self.max_sequences = max_sequences
        self.capacity_tokens = capacity_tokens
        self.page_size = page_size
        self.sequences: dict[int, CachedSequence] = {}
        self._next_id = 0

    def new_id(self) -> int:
        """An id no sequence has had."""
        self._next_id += 1
        return self._next_id

    def used_tokens(self) -> int:
        """Tokens held across the kept sequences (a forked prefix counts in each)."""
        return sum(len(s.tokens) for s in self.sequences.values())

    def acquire(
        self, prompt: list[int], reserve: int = 0, *, max_reuse: int | None = None,
    ) -> tuple[CachedSequence, int]:
        """A sequence holding the longest cached prefix of ``prompt``, with room for the rest.

        Args:
            prompt: The tokens the sequence is to hold.
            reserve: Tokens to keep free beyond the prompt (the ones to generate).
            max_reuse: Reuse at most this many tokens (a position whose logits
                are wanted must run); by default all but the last.

        Returns:
            The sequence (its tokens truncated to the reused prefix) and the
            number of prompt tokens already in it.
        """
        limit = len(prompt) - 1 if max_reuse is None else min(len(prompt) - 1, max_reuse)  # the last token runs
        best, best_len = None, 0
        for s in self.sequences.values():
            if s.pinned and not self.can_fork:  # in use, and only usable by extending or cutting it
                continue
            n = min(common_prefix(s.tokens, prompt), limit)
            # the longest shared prefix; at equal length, a free one held whole (extended as it is: no fork, no cut)
            if n > best_len or (n == best_len and best is not None and self._whole(s, n) and not self._whole(best, n)):
                best, best_len = s, n
        if best is not None and 0 < best_len < len(best.tokens) and self.can_pop and len(best.tokens) - best_len <= best_len:
            # Cannot fork (sliding windows): cut the sequence back to the shared prefix, then extend it in place below,
            # when what is dropped is no more than what is reused (a new request after the same system prompt;
            # not a long conversation given up for a short shared start, which another client may come back to).
            self.cut(best, best_len)
        if best is not None and best_len > 0 and (self.can_fork or best_len == len(best.tokens)):
            if best_len == len(best.tokens) and not best.pinned:
                best.last_used = time.monotonic()
                self.evict(keep=best, need=len(prompt) - best_len + reserve, new_sequences=0)
                return best, best_len  # extend in place: a follow-up turn
            self.evict(keep=best, need=len(prompt) + reserve)
            child = CachedSequence(self.new_id(), best.tokens[:best_len], time.monotonic())
            self._kv.fork_sequence(best.seq_id, child.seq_id, best_len)
            self.sequences[child.seq_id] = child
            return child, best_len
        self.evict(need=len(prompt) + reserve)
        seq = CachedSequence(self.new_id(), [], time.monotonic())
        self._kv.add_sequence(seq.seq_id)
        self.sequences[seq.seq_id] = seq
        return seq, 0

    @staticmethod
    def _whole(seq: CachedSequence, n: int) -> bool:
        """Whether a request reusing ``n`` tokens of ``seq`` would extend it in place (all of it, not in use)."""
        return n == len(seq.tokens) and not seq.pinned

    def holds(self, seq: CachedSequence) -> bool:
        """Whether ``seq`` is still kept (not dropped by an error, an eviction or :meth:`reset`)."""
        return self.sequences.get(seq.seq_id) is seq

    def can_fork_scratch(self, total: int) -> bool:
        """Whether a scratch fork holding ``total`` tokens is exact (always, but for sliding windows).

        A cache that cannot fork but can pop never forks: TVM splits the parent's
        pages into blocks at a fork, windows each block on its own, and the split
        outlives the fork, so the parent would go wrong once it grew past the
        window. :meth:`extended` serves instead.
        """
        window = getattr(self._kv, "fork_window", None)
        return self.can_fork or (not self.can_pop and isinstance(window, int) and total <= window)

    @property
    def can_fork(self) -> bool:
        """Whether the KV cache shares a prefix between sequences (see :class:`KVCache`)."""
        return bool(getattr(self._kv, "can_fork", True))

    @property
    def can_pop(self) -> bool:
        """Whether the KV cache drops a sequence's last tokens (``pop_tokens``; see :class:`KVCache`).

        Used only where forking is not: a kept sequence of a cache that cannot
        fork was never forked from another, so its last tokens are its own.
        """
        return not self.can_fork and callable(getattr(self._kv, "pop_tokens", None))

    def cut(self, seq: CachedSequence, length: int) -> None:
        """Cuts a kept sequence back to its first ``length`` tokens (see :attr:`can_pop`), marked used.

        Raises:
            ValueError: ``length`` is negative or longer than the sequence.
        """
        if not 0 <= length <= len(seq.tokens):
            raise ValueError(f"cannot cut a {len(seq.tokens)}-token sequence to {length} tokens")
        if length < len(seq.tokens):
            try:
                self._kv.pop_tokens(seq.seq_id, len(seq.tokens) - length)  # type: ignore[attr-defined]
                seq.tokens = seq.tokens[:length]
            except BaseException:
                self.drop(seq)  # its state is unknown now: never reuse it
                raise
            seq.last_logits = None
        seq.last_used = time.monotonic()

    @contextmanager
    def extended(self, seq: CachedSequence, *, tokens: int) -> Iterator[int]:
        """A kept sequence to append exactly ``tokens`` tokens to for a scratch computation, cut back on exit.

        What a scratch fork gives a cache that cannot fork (:attr:`can_pop`):
        the sequence ends as it began (its tokens and kept logits unchanged).
        An error in the block drops the sequence (how much it holds is then
        unknown).
        """
        self.evict(keep=seq, need=tokens, new_sequences=0)
        try:
            yield seq.seq_id
            self._kv.pop_tokens(seq.seq_id, tokens)  # type: ignore[attr-defined]
        except BaseException:
            self.drop(seq)
            raise

    def find_prefilled(self, ids: list[int]) -> CachedSequence | None:
        """A sequence holding exactly ``ids`` whose logits after them are kept, marked used."""
        for held in self.sequences.values():
            if held.pinned:  # a running generation appends to it
                continue
            if held.last_logits is not None and held.last_logits[0] == len(ids) == len(held.tokens) and held.tokens == ids:
                held.last_used = time.monotonic()
                return held
        return None

    @contextmanager
    def scratch(self, *, need: int, parent: CachedSequence | None = None) -> Iterator[int]:
        """A temporary sequence, removed on exit: empty, or a fork of all of ``parent``'s tokens.

        It is not kept for reuse and takes the KV cache's spare slot, but room
        for ``need`` more tokens is made first (a fork holds at most
        ``len(parent.tokens) + need``; see :meth:`can_fork_scratch`).
        """
        self.evict(keep=parent, need=need, new_sequences=0)
        seq_id = self.new_id()
        if parent is None:
            self._kv.add_sequence(seq_id)
        elif self.can_fork:
            self._kv.fork_sequence(parent.seq_id, seq_id, len(parent.tokens))
        else:
            self._kv.fork_sequence(parent.seq_id, seq_id, len(parent.tokens), total=len(parent.tokens) + need)
        try:
            yield seq_id
        finally:
            self._kv.remove_sequence(seq_id)

    def forks_need(self, needs: Sequence[int]) -> int:
        """Page-pool tokens that forks growing by ``needs`` may take (each may copy a partly filled page)."""
        return sum(n + self.page_size for n in needs)

    @contextmanager
    def scratch_forks(self, parent: CachedSequence, needs: Sequence[int]) -> Iterator[list[int]]:
        """Temporary forks of all of ``parent``'s tokens, one per entry of ``needs``, removed on exit.

        Each fork ``i`` may grow by ``needs[i]`` tokens; room for all of them
        is made first. Callers check :meth:`can_fork_scratch` for each.

        Raises:
            ValueError: More forks than :data:`SCRATCH_SEQUENCES` at once.
        """
        if len(needs) > SCRATCH_SEQUENCES:
            raise ValueError(f"{len(needs)} scratch forks at once; the KV cache has room for {SCRATCH_SEQUENCES}")
        self.evict(keep=parent, need=self.forks_need(needs), new_sequences=0)
        made: list[int] = []
        try:
            for need in needs:
                seq_id = self.new_id()
                if self.can_fork:
                    self._kv.fork_sequence(parent.seq_id, seq_id, len(parent.tokens))
                else:
                    self._kv.fork_sequence(parent.seq_id, seq_id, len(parent.tokens), total=len(parent.tokens) + need)
                made.append(seq_id)
            yield list(made)
        finally:
            for seq_id in made:
                self._kv.remove_sequence(seq_id)

    def evict(self, keep: CachedSequence | None = None, need: int = 0, *, new_sequences: int = 1) -> None:
        """Drops least recently used sequences until ``new_sequences`` more fit, with ``need`` free tokens.

        Token accounting counts a forked prefix in both sequences, so it errs
        on the safe side of the page pool.
        """
        while True:
            fits = len(self.sequences) + new_sequences <= self.max_sequences
            if fits and self.used_tokens() + need <= self.capacity_tokens:
                return
            victims = sorted((s for s in self.sequences.values() if s is not keep and not s.pinned),
                             key=lambda s: s.last_used)
            if not victims:
                return
            self.drop(victims[0])

    def drop(self, seq: CachedSequence) -> None:
        """Removes a kept sequence from the KV cache (nothing if it is no longer kept: dropped before)."""
        if not self.holds(seq):
            return
        del self.sequences[seq.seq_id]
        self._kv.remove_sequence(seq.seq_id)

    def reset(self) -> None:
        """Forgets every sequence."""
        for s in list(self.sequences.values()):
            self.drop(s)
