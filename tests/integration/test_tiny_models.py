"""Compile tiny generated checkpoints and compare with the float64 numpy reference.

Tolerances: fp32 engine vs float64 reference, max |Δlogit| <= 2e-4 (logits
are O(1-10)); engines loading GGUF Q4_0/Q4_1/Q8_0 blocks losslessly are
compared with the reference run on the GGUF's own dequantized weights, so the
same 2e-4 applies plus fp32 accumulation noise (5e-4). Our own quantizer
(HF float -> q8/q4) is compared loosely (it changes the weights) and on the
argmax.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from agent_sdk.runtime import Engine, SamplingParams
from tests.reference.numpy_llama import gguf_forward, hf_forward, load_hf_state

pytestmark = pytest.mark.integration

PROMPT = [1, 17, 42, 99, 5, 200, 7, 31, 64, 128, 3, 250]


def _engine_logits_with_decode(engine: Engine, prompt: list[int], steps: int) -> tuple[np.ndarray, list[int]]:
    """Greedy-decodes ``steps`` tokens; returns the logits seen at each step and the tokens."""
    seen: list[np.ndarray] = []

    def capture(_ids: list[int], logits: np.ndarray) -> np.ndarray:
        seen.append(np.array(logits, dtype=np.float64))
        return logits

    engine.reset()
    gen = engine.generate(prompt, SamplingParams(max_tokens=steps, stop_token_ids=()), logits_processor=capture)
    return np.stack(seen), gen.token_ids


def _check_against(engine: Engine, ref_fn: Callable[[list[int]], np.ndarray], tol: float, steps: int = 6) -> None:
    vocab = engine.vocab_size
    prompt = [t % vocab for t in PROMPT]
    # 1. prefill: logits at every prompt position
    got = engine.logits(prompt)
    ref = ref_fn(prompt)
    assert got.shape == ref.shape
    err = np.abs(got - ref).max()
    assert err <= tol, f"prefill logits differ by {err} (tolerance {tol})"
    # 2. decode: logits at each generated step, against the reference over prompt + generated
    step_logits, toks = _engine_logits_with_decode(engine, prompt, steps)
    engine.eos_token_ids.clear()
    if len(toks) < steps:
        pytest.fail(f"stopped after {len(toks)} tokens")
    full = ref_fn(prompt + toks[:-1])
    ref_steps = full[len(prompt) - 1 :]
    err = np.abs(step_logits[: len(ref_steps)] - ref_steps).max()
    assert err <= tol, f"decode logits differ by {err} (tolerance {tol})"
    assert [int(np.argmax(r)) for r in ref_steps] == toks[: len(ref_steps)]


def _no_eos(engine: Engine) -> Engine:
    engine.eos_token_ids.clear()  # random weights: do not stop on a random EOS
    return engine


def test_mobilellm_layer_sharing_f32_matches_reference(mobilellm_ckpt: Path, compile_bundle: Callable[..., Path]) -> None:
    cfg, weights = load_hf_state(mobilellm_ckpt)
    assert cfg["model_type"] == "mobilellm" and cfg["layer_sharing"] and cfg["share_embedding"]
    engine = _no_eos(Engine(compile_bundle(mobilellm_ckpt, "f32")))
    assert engine.manifest["model"]["layer_sharing"] is True
    _check_against(engine, lambda ids: hf_forward(cfg, weights, ids), tol=2e-4)


def test_layer_sharing_changes_the_output(mobilellm_ckpt: Path, compile_bundle: Callable[..., Path]) -> None:
    """Guards against a model that silently runs each block once."""
    cfg, weights = load_hf_state(mobilellm_ckpt)
    once = hf_forward({**cfg, "layer_sharing": False}, weights, PROMPT[:6])
    engine = Engine(compile_bundle(mobilellm_ckpt, "f32"))
    got = engine.logits([t % engine.vocab_size for t in PROMPT[:6]])
    assert np.abs(got - once).max() > 1e-2


def test_llama_format_f32_matches_reference(llama_ckpt: Path, compile_bundle: Callable[..., Path]) -> None:
    cfg, weights = load_hf_state(llama_ckpt)
    engine = _no_eos(Engine(compile_bundle(llama_ckpt, "f32")))
    _check_against(engine, lambda ids: hf_forward(cfg, weights, ids), tol=2e-4)


def test_untied_llama_uses_lm_head(ckpt_dir: Path, compile_bundle: Callable[..., Path]) -> None:
    from tests.fixtures.checkpoints import write_llama_checkpoint

    path = write_llama_checkpoint(ckpt_dir / "llama-untied", tie_word_embeddings=False, seed=3)
    cfg, weights = load_hf_state(path)
    assert "lm_head.weight" in weights
    engine = _no_eos(Engine(compile_bundle(path, "f32")))
    _check_against(engine, lambda ids: hf_forward(cfg, weights, ids), tol=2e-4, steps=3)


@pytest.mark.parametrize("qtype", ["F32", "F16", "Q8_0", "Q5_0", "Q5_1", "Q4_0", "Q4_1"])
def test_gguf_import_matches_reference(qtype: str, gguf_file: Callable[[str], Path], compile_bundle: Callable[..., Path]) -> None:
    """GGUF blocks are imported losslessly: the reference dequantizes them with the gguf package."""
    path = gguf_file(qtype)
    quant = {"F32": "f32", "F16": "f16", "Q8_0": "q8", "Q5_0": "q5", "Q5_1": "q5", "Q4_0": "q4", "Q4_1": "q4"}[qtype]
    engine = _no_eos(Engine(compile_bundle(path, quant)))
    _check_against(engine, lambda ids: gguf_forward(path, ids), tol=5e-4)


def test_gguf_of_mixed_types_keeps_each_tensor_in_its_own_layout(
    gguf_file: Callable[[str], Path], compile_bundle: Callable[..., Path]
) -> None:
    """``--quant auto`` on a file mixing Q4_0/Q4_1/Q5_0/Q5_1/Q8_0: per-module q4/q5/q8, the file's values exactly.

    Any single layout requantizes some tensors (q4 the 5- and 8-bit ones, q8 the 4-bit ones with a minimum), so
    only per-module layouts meet the lossless 5e-4 against the reference on the file's own values; ``q8`` for the
    whole model is checked to miss it, so the test can tell the two apart.
    """
    path = gguf_file("MIXED")
    engine = _no_eos(Engine(compile_bundle(path, "auto")))
    quant = engine.manifest["quantization"]
    assert quant["name"] == "auto" and quant["linear"] == "q5" and quant["embed"] == "q8"
    assert quant["layouts"] == {"layers.0.mlp.down_proj": "q8", "layers.1.mlp.down_proj": "q4",
                                "layers.2.mlp.down_proj": "q8"}
    _check_against(engine, lambda ids: gguf_forward(path, ids), tol=5e-4)
    prompt = [t % engine.vocab_size for t in PROMPT]
    whole_q8 = Engine(compile_bundle(path, "q8")).logits(prompt)
    assert np.abs(whole_q8 - gguf_forward(path, prompt)).max() > 5e-4


def test_gguf_of_k_quants_runs_each_in_its_own_layout(ckpt_dir: Path, compile_bundle: Callable[..., Path]) -> None:
    """``--quant auto`` on a tiny file of Q4_K, Q5_K, Q6_K and Q5_0 blocks as files hold them (random bytes: negative
    scales, every 6-bit sub-scale): q4k, q5k, q8k (the tied Q6_K embedding too: its lookup and the output head) and
    q5, each exact, so logits equal the float64 reference on the file's values within the lossless 5e-4 relative to
    the largest logit."""
    from tests.fixtures.checkpoints import write_gguf

    path = write_gguf(ckpt_dir / "tiny-kquant.gguf", qtype="KQUANT", hidden_size=256, intermediate_size=512,
                      num_layers=2, num_heads=4, num_kv_heads=2)
    engine = _no_eos(Engine(compile_bundle(path, "auto")))
    quant = engine.manifest["quantization"]
    assert quant["name"] == "auto"
    assert {m: quant["layouts"].get(m, quant["linear"]) for m in ("embed_tokens", "layers.0.self_attn.qkv_proj",
            "layers.1.self_attn.qkv_proj", "layers.0.mlp.gate_up_proj", "layers.1.mlp.down_proj")} == {
        "embed_tokens": "q8k", "layers.0.self_attn.qkv_proj": "q4k", "layers.1.self_attn.qkv_proj": "q5k",
        "layers.0.mlp.gate_up_proj": "q5", "layers.1.mlp.down_proj": "q8k"}
    prompt = [t % engine.vocab_size for t in PROMPT]
    scale = float(np.abs(gguf_forward(path, prompt)).max())
    assert scale > 1.0  # the random blocks make a model with logits of a real one's size, not ~0
    _check_against(engine, lambda ids: gguf_forward(path, ids), tol=5e-4 * scale, steps=4)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


@pytest.mark.parametrize("quant,ggml_type", [("q8", "Q8_0"), ("q5", "Q5_1"), ("q4", "Q4_1")])
def test_own_quantizer_as_good_as_ggml(
    quant: str, ggml_type: str, llama_ckpt: Path, gguf_file: Callable[[str], Path], compile_bundle: Callable[..., Path]
) -> None:
    """HF float weights quantized by us stay as close to the float model as ggml's own quantizer.

    The same seed gives the same float weights to the HF checkpoint and the
    GGUF fixture; the GGUF reference quantizes them with the gguf package.
    Criterion: per-position cosine similarity of centred logits to the float
    reference, averaged, within 0.01 of ggml's (and > 0.999 for 8 bits).
    """
    cfg, weights = load_hf_state(llama_ckpt)
    engine = Engine(compile_bundle(llama_ckpt, quant))
    prompt = [t % engine.vocab_size for t in PROMPT]
    ref = hf_forward(cfg, weights, prompt)
    ours = _cosines(engine.logits(prompt), ref).mean()
    ggml = _cosines(gguf_forward(gguf_file(ggml_type), prompt), ref).mean()
    assert ours >= ggml - 0.01, f"{quant}: ours {ours:.4f} vs ggml {ggml_type} {ggml:.4f}"
    if quant == "q8":
        assert ours > 0.999


def test_int8_activation_mode_q4a8(gguf_file: Callable[[str], Path], compile_bundle: Callable[..., Path]) -> None:
    """``q4a8`` (q4 weights, activations rounded to int8 per group) vs the float reference.

    Rounding the activations moves logits, so this mode has its own criteria
    (the float modes above keep theirs): over prefill positions, mean
    cosine of centred logits > 0.999 and max |error| < 5% of max |logit|;
    the GGUF weights are the same as for the q4 test.
    """
    path = gguf_file("Q4_1")
    engine = _no_eos(Engine(compile_bundle(path, "q4a8")))
    assert engine.manifest["quantization"]["name"] == "q4a8"
    prompt = [t % engine.vocab_size for t in PROMPT]
    got = engine.logits(prompt)
    ref = gguf_forward(path, prompt)
    cos = _cosines(got, ref).mean()
    err = np.abs(got - ref).max() / np.abs(ref).max()
    assert cos > 0.999, f"mean cosine {cos:.5f}"
    assert err < 0.05, f"max |error| {err:.4f} of max |logit|"
    assert not np.allclose(got, ref, atol=5e-4), "int8 activations should differ from the float path"



def test_int16_activation_mode_q4a16(gguf_file: Callable[[str], Path], compile_bundle: Callable[..., Path]) -> None:
    """``q4a16`` (q4 weights, activations rounded to int16 per group): steps 256 times finer than ``q4a8``, so it is
    held to nearly the float modes' tolerance: max |Δlogit| <= 1e-3 in prefill and decode against the same
    reference as ``q4`` (measured 2.6e-4; max |logit| ~3.3, ``q4a8`` moves them by up to 5%), equal greedy tokens."""
    path = gguf_file("Q4_1")
    engine = _no_eos(Engine(compile_bundle(path, "q4a16")))
    assert engine.manifest["quantization"]["name"] == "q4a16"
    _check_against(engine, lambda ids: gguf_forward(path, ids), tol=1e-3)
    prompt = [t % engine.vocab_size for t in PROMPT]
    assert not np.array_equal(engine.logits(prompt), gguf_forward(path, prompt)), "int16 rounding should show"


def test_float16_kv_cache(gguf_file: Callable[[str], Path], compile_bundle: Callable[..., Path]) -> None:
    """``--kv-dtype f16`` (opt-in): keys and values stored in float16, attention computed in float32.

    TVM's cache keeps queries and the attention output in its dtype too, so
    q, k, v and the output are each rounded to float16 (relative 2^-11).
    That moves the tiny model's logits by ~1.5e-3 (max |logit| ~3.3), above
    the 5e-4 of the float-cache modes, so f16 is not the default and has its
    own criteria: max |Δlogit| <= 5e-3 in prefill and decode against the
    same reference as ``q4``, equal greedy tokens, and a second request that
    reuses the cached prefix (paged prefill + state merge) picks the same tokens.
    """
    path = gguf_file("Q4_1")
    engine = _no_eos(Engine(compile_bundle(path, "q4", kv_dtype="f16")))
    assert engine.manifest["quantization"]["kv_dtype"] == "f16"
    _check_against(engine, lambda ids: gguf_forward(path, ids), tol=5e-3)
    prompt = [t % engine.vocab_size for t in PROMPT]
    f32 = _no_eos(Engine(compile_bundle(path, "q4")))
    assert f32.manifest["quantization"]["kv_dtype"] == "f32"
    assert not np.array_equal(engine.logits(prompt), f32.logits(prompt)), "the cache should be float16"
    engine.reset()
    params = SamplingParams(max_tokens=6, stop_token_ids=())
    cold = engine.generate(prompt, params)
    warm = engine.generate(prompt[:-2] + [prompt[-1], prompt[-2]], params)
    assert warm.stats.cached_tokens >= len(prompt) - 3
    ref = gguf_forward(path, prompt[:-2] + [prompt[-1], prompt[-2]])
    assert warm.token_ids[0] == int(np.argmax(ref[-1])), (cold.token_ids, warm.token_ids)
