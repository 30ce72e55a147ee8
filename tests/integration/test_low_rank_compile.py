"""A low-rank update kept beside the stored weights computes what the merged weights compute.

The reference is an independent route through the same compiler: the update
merged into float32 weights (``W + B A``, formed in float64) and compiled as a
plain f32 model. Tolerances (max |Δlogit| at every prompt position; logits are
O(1-3)): 1e-4 for f32 + update vs merged f32 (only summation order differs;
measured 1.8e-6), 2e-4 for q4 + update on a Q4_1 file vs the file's values
merged in f32 (the q4 kernel reads the file's blocks exactly; measured 1.5e-6).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from agent_sdk.compiler import compile_model
from agent_sdk.errors import ModelFormatError
from agent_sdk.models.mobilellm.mobilellm_loader import load_checkpoint
from agent_sdk.runtime import Engine
from agent_sdk.runtime.sampler import SamplingParams

pytestmark = pytest.mark.integration

PROMPT = [1, 17, 42, 99, 5, 200, 7, 31, 64, 128, 3, 250, 11, 300, 2, 77]
# Some projections of fused modules are left out on purpose (k in qkv, up in gate/up): their rows get zero columns.
PROJECTIONS = ("self_attn.q_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.down_proj")
RANK = 3


def _updates(ckpt_path: Path, seed: int) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, np.ndarray]]:
    """Random updates big enough to move the logits, and the merged float32 weights they stand for."""
    ckpt = load_checkpoint(ckpt_path)
    rng = np.random.default_rng(seed)
    updates, merged = {}, {}
    for i in range(ckpt.config.num_hidden_layers):
        for proj in PROJECTIONS:
            name = f"model.layers.{i}.{proj}"
            w = ckpt.tensors[f"{name}.weight"].as_float()
            out_f, in_f = w.shape
            a = rng.normal(0, 0.3, (RANK, in_f)).astype(np.float32)
            b = rng.normal(0, 0.3, (out_f, RANK)).astype(np.float32)
            updates[name] = (a, b)
            merged[f"{name}.weight"] = (w.astype(np.float64) + b.astype(np.float64) @ a).astype(np.float32)
    return updates, merged


@pytest.mark.parametrize(("source", "quant", "tol"), [("llama", "f32", 1e-4), ("gguf", "q4", 2e-4)])
def test_update_beside_the_weights_equals_the_merged_weights(
    source: str, quant: str, tol: float, llama_ckpt: Path, gguf_file: Callable[[str], Path], tmp_path: Path
) -> None:
    path = llama_ckpt if source == "llama" else gguf_file("Q4_1")
    updates, merged = _updates(path, seed=3)
    kept = compile_model(path, quant=quant, out=tmp_path / "kept", low_rank=updates)
    assert kept["low_rank"] == {"projections": len(updates), "modules": 4 * load_checkpoint(path).config
                                .num_hidden_layers, "parameters": kept["low_rank"]["parameters"]}
    assert kept["quantization"]["linear"] == quant
    ref = compile_model(path, quant="f32", out=tmp_path / "merged", tensor_overrides=merged)
    base = compile_model(path, quant=quant, out=tmp_path / "base")
    e_kept, e_ref, e_base = Engine(kept.path), Engine(ref.path), Engine(base.path)
    prompt = [t % e_kept.vocab_size for t in PROMPT]
    got, want = e_kept.logits(prompt), e_ref.logits(prompt)
    err = float(np.abs(got - want).max())
    assert err <= tol, f"{quant} + low-rank vs merged f32: max |Δlogit| {err}"
    moved = float(np.abs(e_base.logits(prompt) - want).max())
    assert moved > 100 * tol, "the update barely moves the logits: the comparison would prove nothing"
    # decoding through the paged cache gives the same next tokens as the reference
    greedy = SamplingParams(max_tokens=6, stop_token_ids=())
    assert e_kept.generate(prompt, greedy).token_ids == e_ref.generate(prompt, greedy).token_ids


def test_updates_that_do_not_fit_are_refused(llama_ckpt: Path, tmp_path: Path) -> None:
    updates, _ = _updates(llama_ckpt, seed=0)
    name = "model.layers.0.self_attn.q_proj"
    a, b = updates[name]
    with pytest.raises(ModelFormatError, match="q_proj"):
        compile_model(llama_ckpt, quant="f32", out=tmp_path / "x", low_rank={name: (a, b[:-1])})
    with pytest.raises(ModelFormatError, match="no such projection"):
        compile_model(llama_ckpt, quant="f32", out=tmp_path / "y", low_rank={"model.layers.99.self_attn.q_proj": (a, b)})
    with pytest.raises(ModelFormatError, match="no such projection"):
        compile_model(llama_ckpt, quant="f32", out=tmp_path / "z", low_rank={"model.embed_tokens": (a, b)})
    assert not any(tmp_path.iterdir())
