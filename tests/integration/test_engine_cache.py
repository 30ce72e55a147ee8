"""KV-cache capacity: many distinct requests in a small page pool evict old prefixes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from agent_sdk.runtime import Engine, SamplingParams
from agent_sdk.runtime.prefix_cache import SCRATCH_SEQUENCES

pytestmark = pytest.mark.integration


def _trace_batches(eng: Engine) -> list[list[int]]:
    """Records the continuation lengths of every batched forward call ``eng`` makes from now on."""
    batches: list[list[int]] = []
    forward_many = eng._forward_many

    def counting_many(seq_ids: Sequence[int], ids: Sequence[Sequence[int]]) -> list[np.ndarray]:
        batches.append([len(t) for t in ids])
        return forward_many(seq_ids, ids)

    eng._forward_many = counting_many  # type: ignore[method-assign]
    return batches


def test_small_pool_evicts_least_recently_used(llama_ckpt: Path, compile_bundle: Callable[..., Path]) -> None:
    eng = Engine(compile_bundle(llama_ckpt, "f32"), context_window=64, kv_tokens=96, max_cached_sequences=4)
    eng.eos_token_ids.clear()
    rng = np.random.default_rng(0)
    outputs = {}
    for i in range(12):  # 12 x 48 tokens, far more than the 96-token pool
        prompt = [int(t) for t in rng.integers(3, eng.vocab_size, size=40)]
        g = eng.generate(prompt, SamplingParams(max_tokens=8))
        assert len(g.token_ids) == 8
        outputs[i] = (prompt, g.token_ids)
        assert sum(len(s.tokens) for s in eng._cache.sequences.values()) <= eng.kv_tokens
    # An evicted prompt recomputes to the same tokens; a recent one is reused.
    prompt, toks = outputs[0]
    again = eng.generate(prompt, SamplingParams(max_tokens=8))
    assert again.token_ids == toks and again.stats.cached_tokens == 0
    again = eng.generate(prompt, SamplingParams(max_tokens=8))
    assert again.token_ids == toks and again.stats.cached_tokens == len(prompt) - 1


def test_continuation_logits_match_a_full_forward(llama_ckpt: Path, compile_bundle: Callable[..., Path]) -> None:
    eng = Engine(compile_bundle(llama_ckpt, "f32"), context_window=64, kv_tokens=256, max_cached_sequences=2)
    rng = np.random.default_rng(1)
    prefix = [int(t) for t in rng.integers(3, eng.vocab_size, size=20)]
    conts = [[int(t) for t in rng.integers(3, eng.vocab_size, size=n)] for n in (1, 4, 7)] + [[]]
    for _ in range(2):  # the second time the prefix comes from the cache
        last, rows = eng.continuation_logits(prefix, conts)
        np.testing.assert_allclose(last, eng.logits(prefix)[-1], atol=2e-4)
        for cont, got in zip(conts, rows):
            assert got.shape == (len(cont), eng.vocab_size)
            if cont:
                np.testing.assert_allclose(got, eng.logits(prefix + cont)[len(prefix):], atol=2e-4)
    # The forks are gone; only the prefix stays cached, once.
    assert [s.tokens for s in eng._cache.sequences.values()] == [prefix]
    # Asked again about the same prefix, only the continuations run (the prefix's logits are kept), all in one
    # batched forward call.
    ran: list[int] = []
    forward = eng._forward

    def counting(seq_id: int, ids: list[int], **kw: bool) -> np.ndarray:
        ran.append(len(ids))
        return forward(seq_id, ids, **kw)

    eng._forward = counting  # type: ignore[method-assign]
    batches = _trace_batches(eng)
    last, rows = eng.continuation_logits(prefix, conts)
    assert ran == [] and batches == [[len(c) for c in conts if c]]
    np.testing.assert_allclose(last, eng.logits(prefix)[-1], atol=2e-4)
    assert [s.tokens for s in eng._cache.sequences.values()] == [prefix]


def test_many_continuations_run_in_batches_and_match_one_at_a_time(
    llama_ckpt: Path, compile_bundle: Callable[..., Path]
) -> None:
    """More continuations than scratch slots, and more tokens than a prefill chunk: batched as they fit."""
    bundle = compile_bundle(llama_ckpt, "f32")
    eng = Engine(bundle, context_window=128, kv_tokens=512, max_cached_sequences=2, prefill_chunk=16)
    rng = np.random.default_rng(2)
    prefix = [int(t) for t in rng.integers(3, eng.vocab_size, size=37)]  # ends inside a page: forks copy it
    lengths = [1, 3, 2, 20, 5, 1, 7, 4, 2, 6, 1]  # 11 > SCRATCH_SEQUENCES; 20 > the 16-token chunk
    conts = [[int(t) for t in rng.integers(3, eng.vocab_size, size=n)] for n in lengths]
    batches = _trace_batches(eng)
    _, rows = eng.continuation_logits(prefix, conts)
    assert batches == [lengths[:SCRATCH_SEQUENCES], lengths[SCRATCH_SEQUENCES:]]
    # One at a time, in a fresh engine without the batched path.
    ref = Engine(bundle, context_window=128, kv_tokens=512, max_cached_sequences=2, prefill_chunk=16)
    one = ref._decoder()
    one.forward_many = None
    _, expected = one.continuation_logits(prefix, conts)
    for cont, got, want in zip(conts, rows, expected):
        assert got.shape == want.shape == (len(cont), eng.vocab_size)
        np.testing.assert_allclose(got, want, atol=2e-4)
        np.testing.assert_allclose(got, eng.logits(prefix + cont)[len(prefix):], atol=2e-4)
    # The scratch forks are gone, and their pages with them: the kept prefix alone remains.
    assert [s.tokens for s in eng._cache.sequences.values()] == [prefix]


def test_forward_many_refuses_repeated_or_empty_sequences(llama_ckpt: Path, compile_bundle: Callable[..., Path]) -> None:
    from agent_sdk.errors import EngineError

    eng = Engine(compile_bundle(llama_ckpt, "f32"), context_window=64, kv_tokens=256, max_cached_sequences=2)
    with pytest.raises(EngineError, match="distinct sequences"):
        eng._model.forward_many([1, 1], [[5], [6]])
    with pytest.raises(EngineError, match="distinct sequences"):
        eng._model.forward_many([1, 2], [[5], []])


def test_warm_then_reuse_then_reset(llama_ckpt: Path, compile_bundle: Callable[..., Path]) -> None:
    eng = Engine(compile_bundle(llama_ckpt, "f32"), context_window=64, kv_tokens=256, max_cached_sequences=3)
    eng.eos_token_ids.clear()
    system = list(range(3, 23))
    assert eng.warm(system) == len(system)
    g = eng.generate(system + [30, 31], SamplingParams(max_tokens=4))
    assert g.stats.cached_tokens == len(system)  # forked from the warmed prefix
    follow = system + [30, 31] + g.token_ids[:-1] + [40]
    assert eng.generate(follow, SamplingParams(max_tokens=2)).stats.cached_tokens == len(follow) - 1
    eng.reset()
    assert not eng._cache.sequences
    assert eng.generate(system + [30, 31], SamplingParams(max_tokens=4)).token_ids == g.token_ids


class _FakeKV:
    """Records what the prefix cache asks of the KV cache, and checks it stays consistent."""

    def __init__(self) -> None:
        self.live: dict[int, int] = {}  # seq id -> forked-from length, for the record
        self.ops: list[tuple[str, ...]] = []

    def add_sequence(self, seq_id: int) -> None:
        assert seq_id not in self.live
        self.live[seq_id] = 0
        self.ops.append(("add", str(seq_id)))

    def remove_sequence(self, seq_id: int) -> None:
        del self.live[seq_id]
        self.ops.append(("remove", str(seq_id)))

    def fork_sequence(self, parent: int, child: int, length: int) -> None:
        assert parent in self.live and child not in self.live
        self.live[child] = length
        self.ops.append(("fork", str(parent), str(child), str(length)))


def test_prefix_cache_extends_forks_and_evicts_least_recently_used() -> None:
    from agent_sdk.runtime.prefix_cache import PrefixCache

    kv = _FakeKV()
    cache = PrefixCache(kv, max_sequences=2, capacity_tokens=100)
    a, reused = cache.acquire([1, 2, 3, 4])
    assert reused == 0 and kv.ops == [("add", str(a.seq_id))]
    a.tokens = [1, 2, 3, 4]
    same, reused = cache.acquire([1, 2, 3, 4, 5, 6])  # a follow-up: extended in place
    assert same is a and reused == 4
    b, reused = cache.acquire([1, 2, 9])  # shares two tokens: a fork
    assert reused == 2 and b.tokens == [1, 2] and kv.ops[-1] == ("fork", str(a.seq_id), str(b.seq_id), "2")
    b.tokens = [1, 2, 9]
    # A third unrelated prompt evicts the least recently used (a) to stay within two.
    c, reused = cache.acquire([7, 8])
    assert reused == 0 and set(cache.sequences) == {b.seq_id, c.seq_id} and a.seq_id not in kv.live
    with cache.scratch(need=4, parent=b) as tmp:
        assert kv.live[tmp] == len(b.tokens) and tmp not in cache.sequences
    assert tmp not in kv.live
    with cache.scratch_forks(b, [1, 2, 3]) as forks:
        assert len(set(forks)) == 3 and all(kv.live[f] == len(b.tokens) for f in forks)
        assert not set(forks) & set(cache.sequences)
    assert not set(forks) & set(kv.live)
    with pytest.raises(ValueError, match="scratch forks"), cache.scratch_forks(b, [1] * (SCRATCH_SEQUENCES + 1)):
        pass
    cache.reset()
    assert not cache.sequences and not kv.live


class _PoppingKV(_FakeKV):
    """A KV cache that cannot fork (sliding windows) but drops a sequence's last tokens."""

    can_fork = False
    fail_pop = False

    def pop_tokens(self, seq_id: int, n: int) -> None:
        if self.fail_pop:
            raise RuntimeError("popn failed")
        assert 0 < n <= self.live[seq_id]
        self.live[seq_id] -= n
        self.ops.append(("pop", str(seq_id), str(n)))


def test_a_cache_that_cannot_fork_cuts_a_sequence_back_to_the_shared_prefix() -> None:
    from agent_sdk.runtime.prefix_cache import PrefixCache

    kv = _PoppingKV()
    cache = PrefixCache(kv, max_sequences=2, capacity_tokens=100)
    assert cache.can_pop and not cache.can_fork
    system = list(range(1, 21))
    a, _ = cache.acquire([*system, 30, 31])
    a.tokens, kv.live[a.seq_id] = [*system, 30, 31, 40, 41], 24  # the first request and its answer
    a.last_logits = (24, np.zeros(3, np.float32))
    b, reused = cache.acquire([*system, 50, 51, 52])  # the next request after the same system prompt
    assert b is a and reused == 20 and a.tokens == system and a.last_logits is None
    assert kv.ops[-1] == ("pop", str(a.seq_id), "4") and kv.live[a.seq_id] == 20
    # A long conversation is not given up for a short shared start: the new request gets its own sequence.
    a.tokens, kv.live[a.seq_id] = [*system, *range(100, 130)], 50
    c, reused = cache.acquire([1, 2, 3, 99])
    assert c is not a and reused == 0 and a.seq_id in kv.live and kv.live[a.seq_id] == 50
    # A scratch extension is cut back whatever the block appended (told how many), the sequence kept as it was.
    c.tokens, kv.live[c.seq_id] = [1, 2, 3, 99], 4
    with cache.extended(c, tokens=3) as seq_id:
        assert seq_id == c.seq_id
        kv.live[seq_id] += 3
    assert kv.live[c.seq_id] == 4 and c.tokens == [1, 2, 3, 99] and c.seq_id in cache.sequences
    with pytest.raises(KeyError), cache.extended(c, tokens=3):
        raise KeyError("the forward failed")  # how much it appended is unknown: the sequence is dropped
    assert c.seq_id not in cache.sequences and c.seq_id not in kv.live
    a.tokens, kv.live[a.seq_id] = [*system, 30, 31, 40, 41], 24
    kv.fail_pop = True
    with pytest.raises(RuntimeError, match="popn"):
        cache.acquire([*system, 30, 31, 40, 42, 43])  # what a holds is unknown after a failed cut: dropped
    assert a.seq_id not in cache.sequences and a.seq_id not in kv.live
    with pytest.raises(ValueError, match="cannot cut"):
        cache.cut(cache.acquire([5, 6])[0], 3)
    # A sequence a generation is running on is neither cut, extended nor evicted for another request.
    cache.reset()
    kv.fail_pop = False
    busy, _ = cache.acquire([*system, 30])
    busy.tokens, kv.live[busy.seq_id], busy.pinned = [*system, 30, 31], 22, 1
    other, reused = cache.acquire([*system, 30, 31, 32])
    assert other is not busy and reused == 0 and kv.live[busy.seq_id] == 22
    third, _ = cache.acquire([77, 78])  # two kept at most: the unpinned one goes, not the older pinned one
    assert set(cache.sequences) == {busy.seq_id, third.seq_id}
    busy.pinned = 0
    again, reused = cache.acquire([*system, 30, 31, 32])
    assert again is busy and reused == 22


def test_forks_that_would_overfill_a_small_page_pool_run_in_more_calls(
    llama_ckpt: Path, compile_bundle: Callable[..., Path]
) -> None:
    """A page pool just over the window: all the batched forks would not fit beside the prefix (each may copy a
    page), so they run in as many calls as the pool needs, with the same logits."""
    bundle = compile_bundle(llama_ckpt, "f32")
    eng = Engine(bundle, context_window=64, kv_tokens=72, max_cached_sequences=1)
    rng = np.random.default_rng(3)
    prefix = [int(t) for t in rng.integers(3, eng.vocab_size, size=30)]
    conts = [[int(t) for t in rng.integers(3, eng.vocab_size, size=3)] for _ in range(4)]
    batches = _trace_batches(eng)
    _, rows = eng.continuation_logits(prefix, conts)
    assert batches == [[3, 3], [3, 3]]  # 30 + 2 x (3 + 16) <= 72 < 30 + 3 x (3 + 16): two forks per call
    for cont, got in zip(conts, rows):
        np.testing.assert_allclose(got, eng.logits(prefix + cont)[len(prefix):], atol=2e-4)


@pytest.mark.parametrize("family", ["llama", "gemma3"])
def test_logits_at_chosen_rows_match_a_full_forward(
    family: str, llama_ckpt: Path, ckpt_dir: Path, compile_bundle: Callable[..., Path]
) -> None:
    """``prefill_rows``: the logits at chosen positions of one pass (rows in any order, repeated, across prefill
    chunks) equal those of every position; ``prefill_with`` keeps the prompt's last position out of the cache's
    reuse so its logits run, and leaves the sequence cached as a whole. Gemma 3 has sliding-window layers."""
    from agent_sdk.errors import EngineError
    from tests.fixtures.gemma3_checkpoints import write_gemma3_checkpoint

    ckpt = llama_ckpt if family == "llama" else write_gemma3_checkpoint(ckpt_dir / "gemma3-rows")
    bundle = compile_bundle(ckpt, "q4")
    eng = Engine(bundle, context_window=128, kv_tokens=512, max_cached_sequences=2, prefill_chunk=16)
    rng = np.random.default_rng(3)
    ids = [int(t) for t in rng.integers(3, eng.vocab_size, size=40)]  # three chunks of 16
    every = eng.logits(ids)
    for rows in ([39, 0, 15, 16, 31, 15], [38, 3]):  # chunk edges, repeats, out of order; a chunk without rows
        with eng._cache.scratch(need=len(ids)) as seq_id:
            got = eng._forward(seq_id, ids, rows=rows)
        assert got.shape == (len(rows), eng.vocab_size)
        np.testing.assert_allclose(got, every[rows], atol=2e-4)
    for bad in ([40], [-1], []):
        with eng._cache.scratch(need=len(ids)) as seq_id, pytest.raises(EngineError, match="rows"):
            eng._forward(seq_id, ids, rows=bad)

    dec = eng._decoder()
    assert dec.forward_rows
    prompt, extra = ids[:25], ids[25:]
    for _ in range(2):  # the second time the whole of ids is cached: the prompt's last token still runs
        seq, reused, first, last = dec.prefill_with(prompt, extra)
        assert reused <= len(prompt) - 1 and seq.tokens == ids
        np.testing.assert_allclose(first, every[len(prompt) - 1], atol=2e-4)
        np.testing.assert_allclose(last, every[-1], atol=2e-4)
    # Reused either way: forked, or (sliding windows, which cannot fork) cut back to the prompt and extended.
    assert reused == len(prompt) - 1 and eng._cache.can_pop == (not eng._cache.can_fork)
    # The sequence goes on from there as if it had run token by token.
    np.testing.assert_allclose(eng._forward(seq.seq_id, [5]), eng.logits([*ids, 5])[-1], atol=2e-4)

    # A sequence holding exactly the prompt with its logits is extended in place: nothing reruns.
    eng.reset()
    held, _, _ = dec.prefill(prompt)
    seq, reused, first, last = dec.prefill_with(prompt, extra)
    assert seq is held and reused == len(prompt) and seq.tokens == ids
    np.testing.assert_allclose(first, every[len(prompt) - 1], atol=2e-4)
    np.testing.assert_allclose(last, every[-1], atol=2e-4)


def test_logprobs_are_one_per_returned_token_when_a_stop_id_ends_the_run(
    llama_ckpt: Path, compile_bundle: Callable[..., Path]
) -> None:
    """A stop id is sampled (and its log-probability computed) but not returned: the list must not keep it."""
    eng = Engine(compile_bundle(llama_ckpt, "f32"), context_window=64, kv_tokens=256, max_cached_sequences=2)
    eng.eos_token_ids.clear()
    prompt = [5, 17, 42, 99, 7]
    free = eng.generate(prompt, SamplingParams(max_tokens=6), logprobs=True)
    assert free.logprobs is not None and len(free.logprobs) == len(free.token_ids) == 6
    for cut, tok in enumerate(free.token_ids):
        if tok in free.token_ids[:cut]:
            continue  # the first occurrence stops the run
        gen = eng.generate(prompt, SamplingParams(max_tokens=6, stop_token_ids=[tok]), logprobs=True)
        assert gen.token_ids == free.token_ids[:cut] and gen.finish_reason == "stop"
        assert gen.logprobs is not None and len(gen.logprobs) == cut
        np.testing.assert_allclose(gen.logprobs, free.logprobs[:cut], atol=1e-4)


@pytest.mark.parametrize("family", ["llama", "gemma3"])
def test_paused_streams_with_one_prompt_do_not_share_a_sequence(
    family: str, llama_ckpt: Path, ckpt_dir: Path, compile_bundle: Callable[..., Path]
) -> None:
    """Two streams of the same prompt, each paused after its first token while the other runs: both match a
    fresh run (a review found the second appending to the first's sequence, which held exactly the prompt and its
    logits). A reset while a stream is paused ends that stream with a clear error, and no sequence stays pinned."""
    from agent_sdk.errors import EngineError
    from tests.fixtures.gemma3_checkpoints import write_gemma3_checkpoint

    ckpt = llama_ckpt if family == "llama" else write_gemma3_checkpoint(ckpt_dir / "gemma3-streams")
    eng = Engine(compile_bundle(ckpt, "f32"), context_window=128, kv_tokens=1024, max_cached_sequences=3)
    eng.eos_token_ids.clear()
    rng = np.random.default_rng(5)
    prompt = [int(t) for t in rng.integers(3, eng.vocab_size, size=30)]
    params = SamplingParams(max_tokens=5, stop_token_ids=())
    want = eng.generate(prompt, params).token_ids  # greedy: the same tokens every run
    eng.warm(prompt)  # a sequence holding exactly the prompt, with its logits kept
    a, b = iter(eng.stream(prompt, params)), iter(eng.stream(prompt, params))
    got_a, got_b = [next(a).token_id], [next(b).token_id]
    got_a += [ev.token_id for ev in a]
    got_b += [ev.token_id for ev in b]
    assert got_a == want and got_b == want
    assert all(s.pinned == 0 for s in eng._cache.sequences.values())

    paused = iter(eng.stream(prompt, params))
    next(paused)
    eng.reset()
    with pytest.raises(EngineError, match="reset while this generation ran"):
        list(paused)
    assert eng.generate(prompt, params).token_ids == want  # the engine goes on
    assert all(s.pinned == 0 for s in eng._cache.sequences.values())
