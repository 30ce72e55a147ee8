"""Tiny random Qwen2 / Qwen3 checkpoints compiled by TVM against the float64 numpy reference.

The checkpoints are written in each family's exact Hugging Face layout
(``tests/fixtures/checkpoints.py: write_qwen_checkpoint``) and as GGUF files
the way llama.cpp's converter writes them (``write_qwen_gguf``: Q/K rows not
permuted, biases and q/k norms F32). The reference
(``tests/reference/numpy_llama.py``) implements the Qwen options from
transformers' semantics (q/k/v biases; per-head RMSNorm on q and k before
RoPE) and, for GGUF, runs on the file's own dequantized weights with
llama.cpp's NEOX RoPE.

Tolerances (logits are O(1-3) here): fp32 engine vs float64 reference,
max |Δlogit| <= 2e-4 at every prompt position and at each of 6 greedy decode
steps, argmax equal; GGUF Q8_0/Q4_0 blocks imported losslessly, against the
reference on the same blocks, <= 5e-4 (fp32 accumulation over dequantized
blocks). Our own q4 quantizer from float weights changes the weights, so it
is compared with ggml's Q4_1 of the same weights: mean cosine of centred
logits to the float reference within 0.01 of ggml's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from agent_sdk.runtime import Engine
from tests.fixtures.checkpoints import write_qwen_checkpoint, write_qwen_gguf
from tests.fixtures.llama_peer import open_llama
from tests.integration.test_tiny_models import PROMPT, _check_against, _cosines, _no_eos
from tests.reference.numpy_llama import gguf_forward, hf_forward, load_hf_state

pytestmark = pytest.mark.integration

F32_TOL = 2e-4
GGUF_TOL = 5e-4
# Qwen3's head width is its own hyper-parameter: 4 heads of 32 over a hidden size of 64.
QWEN3_HEAD_DIM = 32


@pytest.fixture(scope="session")
def qwen2_ckpt(ckpt_dir: Path) -> Path:
    return write_qwen_checkpoint(ckpt_dir / "qwen2", family="qwen2", seed=11)


@pytest.fixture(scope="session")
def qwen3_ckpt(ckpt_dir: Path) -> Path:
    return write_qwen_checkpoint(ckpt_dir / "qwen3", family="qwen3", seed=12, head_dim=QWEN3_HEAD_DIM)


def test_qwen2_f32_matches_reference(qwen2_ckpt: Path, compile_bundle: Callable[..., Path]) -> None:
    cfg, weights = load_hf_state(qwen2_ckpt)
    assert cfg["model_type"] == "qwen2" and "model.layers.0.self_attn.q_proj.bias" in weights
    engine = _no_eos(Engine(compile_bundle(qwen2_ckpt, "f32")))
    assert engine.manifest["architecture"] == "qwen2" and engine.manifest["model"]["attention_bias"] is True
    _check_against(engine, lambda ids: hf_forward(cfg, weights, ids), tol=F32_TOL)


def test_qwen2_biases_change_the_output(qwen2_ckpt: Path, compile_bundle: Callable[..., Path]) -> None:
    """Guards against a model that silently drops the q/k/v biases."""
    cfg, weights = load_hf_state(qwen2_ckpt)
    no_bias = {k: (np.zeros_like(v) if k.endswith("_proj.bias") else v) for k, v in weights.items()}
    engine = Engine(compile_bundle(qwen2_ckpt, "f32"))
    prompt = [t % engine.vocab_size for t in PROMPT[:6]]
    assert np.abs(engine.logits(prompt) - hf_forward(cfg, no_bias, prompt)).max() > 1e-2


def test_qwen2_untied_head(ckpt_dir: Path, compile_bundle: Callable[..., Path]) -> None:
    path = write_qwen_checkpoint(ckpt_dir / "qwen2-untied", family="qwen2", seed=13, tie_word_embeddings=False)
    cfg, weights = load_hf_state(path)
    assert "lm_head.weight" in weights
    engine = _no_eos(Engine(compile_bundle(path, "f32")))
    _check_against(engine, lambda ids: hf_forward(cfg, weights, ids), tol=F32_TOL, steps=3)


def test_qwen3_f32_matches_reference(qwen3_ckpt: Path, compile_bundle: Callable[..., Path]) -> None:
    cfg, weights = load_hf_state(qwen3_ckpt)
    assert cfg["head_dim"] * cfg["num_attention_heads"] != cfg["hidden_size"]
    engine = _no_eos(Engine(compile_bundle(qwen3_ckpt, "f32")))
    assert engine.manifest["architecture"] == "qwen3" and engine.manifest["model"]["qk_norm"] is True
    _check_against(engine, lambda ids: hf_forward(cfg, weights, ids), tol=F32_TOL)


def test_qwen3_qk_norms_change_the_output(qwen3_ckpt: Path, compile_bundle: Callable[..., Path]) -> None:
    """Guards against q/k norms skipped, or applied after RoPE, by comparing with unit norm weights."""
    cfg, weights = load_hf_state(qwen3_ckpt)
    unit = {k: (np.ones_like(v) if k.endswith(("q_norm.weight", "k_norm.weight")) else v) for k, v in weights.items()}
    engine = Engine(compile_bundle(qwen3_ckpt, "f32"))
    prompt = [t % engine.vocab_size for t in PROMPT[:6]]
    assert np.abs(engine.logits(prompt) - hf_forward(cfg, unit, prompt)).max() > 1e-2


def test_qwen3_own_q4_quantizer_as_good_as_ggml(
    qwen3_ckpt: Path, ckpt_dir: Path, compile_bundle: Callable[..., Path]
) -> None:
    """Our q4 of the float weights stays as close to the float model as ggml's Q4_1 of the same weights.

    Criterion (as for the Llama family): mean cosine of centred logits over the
    prompt positions, against the float reference, within 0.01 of ggml's.
    """
    cfg, weights = load_hf_state(qwen3_ckpt)
    q41 = write_qwen_gguf(ckpt_dir / "qwen3-same-Q4_1.gguf", family="qwen3", qtype="Q4_1", seed=12,
                          head_dim=QWEN3_HEAD_DIM)
    engine = Engine(compile_bundle(qwen3_ckpt, "q4"))
    prompt = [t % engine.vocab_size for t in PROMPT]
    ref = hf_forward(cfg, weights, prompt)
    ours = _cosines(engine.logits(prompt), ref).mean()
    ggml = _cosines(gguf_forward(q41, prompt), ref).mean()
    assert ours >= ggml - 0.01, f"ours {ours:.4f} vs ggml Q4_1 {ggml:.4f}"


@pytest.mark.parametrize(("family", "qtype", "quant"), [("qwen2", "Q8_0", "q8"), ("qwen3", "Q4_0", "q4")])
def test_gguf_matches_reference_on_its_blocks(
    family: str, qtype: str, quant: str, ckpt_dir: Path, compile_bundle: Callable[..., Path]
) -> None:
    head_dim = QWEN3_HEAD_DIM if family == "qwen3" else None
    path = write_qwen_gguf(ckpt_dir / f"{family}-{qtype}.gguf", family=family, qtype=qtype, seed=14, head_dim=head_dim)
    engine = _no_eos(Engine(compile_bundle(path, quant)))
    assert engine.manifest["architecture"] == family
    assert engine.manifest["source"]["weight_types"][qtype] > 0
    _check_against(engine, lambda ids: gguf_forward(path, ids), tol=GGUF_TOL, steps=4)


def test_gguf_f32_equals_the_hf_folder(ckpt_dir: Path, compile_bundle: Callable[..., Path]) -> None:
    """The same weights as a HF folder and as an F32 GGUF give the same logits (no Q/K permutation for Qwen)."""
    hf = write_qwen_checkpoint(ckpt_dir / "qwen2-pair", family="qwen2", seed=15)
    gg = write_qwen_gguf(ckpt_dir / "qwen2-pair.gguf", family="qwen2", qtype="F32", seed=15)
    cfg, weights = load_hf_state(hf)
    prompt = [t % int(cfg["vocab_size"]) for t in PROMPT]
    ref = hf_forward(cfg, weights, prompt)
    assert np.abs(gguf_forward(gg, prompt) - ref).max() < 1e-9  # the fixtures hold the same weights
    got = Engine(compile_bundle(gg, "f32")).logits(prompt)
    assert np.abs(got - ref).max() <= F32_TOL


def test_chat_template_and_stop_tokens_from_the_folder(qwen2_ckpt: Path, compile_bundle: Callable[..., Path]) -> None:
    engine = Engine(compile_bundle(qwen2_ckpt, "f32"))
    text = engine.tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}])
    assert text.startswith("<|im_start|>system\nYou are Qwen")
    assert text.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    im_end = engine.tokenizer.token_id("<|im_end|>")
    assert im_end is not None and im_end in engine.eos_token_ids


# llama.cpp keeps its KV cache in float16 by default: ~1e-3 on these O(1-3) logits.
LLAMA_CPP_TOL = 5e-3


@pytest.mark.parametrize("family", ["qwen2", "qwen3"])
def test_llama_cpp_reads_the_gguf_as_the_reference_does(family: str, ckpt_dir: Path) -> None:
    """llama.cpp itself on the tiny GGUF: checks the reference's Qwen GGUF semantics (rows as stored,
    NEOX RoPE, biases, q/k norms), which the GGUF tests above rely on."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (the reference) is not installed")
    head_dim = QWEN3_HEAD_DIM if family == "qwen3" else None
    path = write_qwen_gguf(ckpt_dir / f"{family}-llamacpp-F32.gguf", family=family, qtype="F32", seed=16,
                           head_dim=head_dim)
    llm = open_llama(path, n_ctx=64, n_threads=2, logits_all=True, verbose=False)
    prompt = [t % llm.n_vocab() for t in PROMPT]
    llm.reset()
    llm.eval(prompt)
    theirs = np.array(llm.scores[: len(prompt)], dtype=np.float64)
    gap = np.abs(theirs - gguf_forward(path, prompt)).max()
    assert gap <= LLAMA_CPP_TOL, f"llama.cpp's logits differ from the reference's by {gap}"
