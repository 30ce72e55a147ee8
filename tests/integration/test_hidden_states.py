"""Hidden states from a compiled bundle (``Engine.hidden_states``, ``Engine.embed_text``).

Tolerances: fp32 engine vs the float64 numpy reference. The final norm's
output has entries of order 1 (RMS 1 times the norm weight; max |h| ~3-4
here), so max |Δ| <= 1e-4 absolute at every position, half the logits'
2e-4; the middle state is the un-normalized residual stream, compared
relative to its largest entry: max |Δ| <= 1e-4 * max |ref|. Measured on
these tiny models: ~1e-6 for both (as for their logits).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from agent_sdk.errors import BundleError, ContextOverflowError, UserError
from agent_sdk.runtime import Engine, SamplingParams
from tests.reference.numpy_llama import hf_hidden_states, load_hf_state

pytestmark = pytest.mark.integration

PROMPT = [1, 17, 42, 99, 5, 200, 7, 31, 64, 128, 3, 250]
FINAL_TOL = 1e-4
MIDDLE_REL_TOL = 1e-4
CHUNK = 5  # prefill chunk smaller than PROMPT: states computed over several calls must agree


@pytest.mark.parametrize("ckpt", ["mobilellm_ckpt", "llama_ckpt"])
def test_hidden_states_match_reference(
    ckpt: str, request: pytest.FixtureRequest, compile_bundle: Callable[..., Path]
) -> None:
    path: Path = request.getfixturevalue(ckpt)
    cfg, weights = load_hf_state(path)
    bundle = compile_bundle(path, "f32")
    engine = Engine(bundle)
    info = engine.manifest["hidden_states"]
    assert info["function"] == "prefill_hidden"
    assert info["middle_layer"] == cfg["num_hidden_layers"] // 2
    ids = [t % engine.vocab_size for t in PROMPT]
    ref_final, ref_middle = hf_hidden_states(cfg, weights, ids, middle_layer=info["middle_layer"])

    final = engine.hidden_states(ids)
    assert final.dtype == np.float32 and final.shape == (len(ids), cfg["hidden_size"])
    err = np.abs(final - ref_final).max(axis=-1)  # per position
    assert err.max() <= FINAL_TOL, f"final hidden states differ by {err} (tolerance {FINAL_TOL})"

    middle = engine.hidden_states(ids, layer="middle")
    rel = np.abs(middle - ref_middle).max() / np.abs(ref_middle).max()
    assert rel <= MIDDLE_REL_TOL, f"middle hidden states differ by {rel:.2e} of max |state|"
    assert np.abs(middle - ref_final).max() > 1e-2, "the middle state should not be the final one"

    chunked = Engine(bundle, prefill_chunk=CHUNK)
    np.testing.assert_allclose(chunked.hidden_states(ids), final, atol=FINAL_TOL)


def test_hidden_states_leave_the_cache_alone(llama_ckpt: Path, compile_bundle: Callable[..., Path]) -> None:
    """Cached conversations keep their sequences, and what they compute next is unchanged."""
    engine = Engine(compile_bundle(llama_ckpt, "f32"), context_window=64, kv_tokens=256, max_cached_sequences=2)
    engine.eos_token_ids.clear()
    ids = [t % engine.vocab_size for t in PROMPT]
    other = list(range(3, 23))
    params = SamplingParams(max_tokens=4, stop_token_ids=())
    first = engine.generate(ids, params)
    engine.warm(other)  # the cache is now full: two kept sequences
    before = {sid: list(s.tokens) for sid, s in engine._cache.sequences.items()}
    logits_before = engine.logits(ids)

    engine.hidden_states(ids + [9, 10])
    engine.embed_text("turn on the kitchen lights")

    assert {sid: list(s.tokens) for sid, s in engine._cache.sequences.items()} == before
    np.testing.assert_array_equal(engine.logits(ids), logits_before)
    follow = ids + first.token_ids[:-1] + [40]
    again = engine.generate(follow, SamplingParams(max_tokens=2, stop_token_ids=()))
    assert again.stats.cached_tokens == len(follow) - 1  # the conversation was extended in place
    assert engine.generate(other + [5], params).stats.cached_tokens == len(other)


def test_embed_text_is_a_deterministic_unit_vector(llama_ckpt: Path, compile_bundle: Callable[..., Path]) -> None:
    engine = Engine(compile_bundle(llama_ckpt, "f32"))
    text = "what is the weather in Paris"
    states = engine.hidden_states(engine.tokenizer.encode(text))  # (n, h)
    pooled_by = {"mean": states.mean(axis=0), "mean_after_first": states[1:].mean(axis=0), "last": states[-1]}
    for pooling, pooled in pooled_by.items():
        vec = engine.embed_text(text, pooling=pooling)
        assert vec.dtype == np.float32 and vec.shape == (engine.config["hidden_size"],)
        assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-6
        np.testing.assert_array_equal(engine.embed_text(text, pooling=pooling), vec)
        np.testing.assert_allclose(vec, pooled / np.linalg.norm(pooled), atol=1e-6)
    assert not np.allclose(engine.embed_text(text), engine.embed_text(text, layer="middle"))
    assert not np.allclose(engine.embed_text(text), engine.embed_text("set a timer for ten minutes"))
    one = engine.hidden_states(engine.tokenizer.encode("a"))
    assert one.shape[0] == 1  # a one-token text: nothing after the first token, so its own state
    np.testing.assert_allclose(engine.embed_text("a", pooling="mean_after_first"), one[0] / np.linalg.norm(one[0]), atol=1e-6)


def test_bad_requests_and_old_bundles_are_refused(
    llama_ckpt: Path, compile_bundle: Callable[..., Path], tmp_path: Path
) -> None:
    bundle = compile_bundle(llama_ckpt, "f32")
    engine = Engine(bundle, context_window=16)
    with pytest.raises(UserError, match="no tokens"):
        engine.hidden_states([])
    with pytest.raises(UserError, match="outside the vocabulary"):
        engine.hidden_states([1, engine.vocab_size])
    with pytest.raises(UserError, match="layer must be"):
        engine.hidden_states([1, 2], layer="first")
    with pytest.raises(UserError, match="pooling must be"):
        engine.embed_text("hi", pooling="max")
    with pytest.raises(ContextOverflowError):
        engine.hidden_states([1] * 17)
    assert not engine._cache.sequences

    # A bundle compiled before hidden states existed has no manifest entry for them.
    old = tmp_path / "old-bundle"
    shutil.copytree(bundle, old)
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["hidden_states"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    stale = Engine(old)
    with pytest.raises(BundleError, match="recompile"):
        stale.embed_text("hi")
    assert stale.logits([1, 2, 3]).shape == (3, stale.vocab_size)  # everything else still works
