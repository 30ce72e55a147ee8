"""llama.cpp applies the adapter GGUF we write and computes what our bundle with the update beside its weights does.

The reference is llama.cpp itself (llama-cpp-python, the optional peer: skipped when it is not installed) on a tiny
F32 llama GGUF, with and without ``--lora``; ours is the same file compiled in f32 with the PEFT adapter's update
kept beside the weights in float16, as ``agent-sdk tune`` stores it. llama.cpp keeps its KV cache in float16 and
rounds the activations to float16 for its float16 LoRA products: measured max |Δlogit| 3.9e-3 with the adapter
(2.3e-3 with float32 factors in both; 1.3e-3 for the base file alone, whose tolerance elsewhere is 5e-3), while the
adapter moves the logits by ~4 (logits are O(3)). A permuted Q/K row, a missing scale or a transposed factor would
show as a gap of the order of that move.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent_sdk.compiler import compile_model
from agent_sdk.models.gguf_lora import write_gguf_lora
from agent_sdk.models.peft_adapter import read_peft_adapter
from agent_sdk.runtime import Engine
from tests.fixtures.checkpoints import write_gguf
from tests.fixtures.llama_peer import open_llama
from tests.fixtures.peft import write_peft_adapter

pytestmark = pytest.mark.integration

LLAMA_CPP_TOL = 1e-2
PROMPT = [1, 17, 42, 99, 5, 200, 7, 31, 64, 128, 3, 250, 11, 30]
HIDDEN, FFN, HEADS, KV_HEADS, LAYERS = 64, 160, 4, 2, 3
SHAPES = {"self_attn.q_proj": (HIDDEN, HIDDEN), "self_attn.k_proj": (HIDDEN // HEADS * KV_HEADS, HIDDEN),
          "self_attn.v_proj": (HIDDEN // HEADS * KV_HEADS, HIDDEN), "self_attn.o_proj": (HIDDEN, HIDDEN),
          "mlp.gate_proj": (FFN, HIDDEN), "mlp.up_proj": (FFN, HIDDEN), "mlp.down_proj": (HIDDEN, FFN)}


def _llama_cpp_logits(model: Path, prompt: list[int], lora: Path | None = None) -> np.ndarray:
    llm = open_llama(model, lora=lora, n_ctx=64, n_threads=2, logits_all=True, verbose=False)
    llm.reset()
    llm.eval(prompt)
    return np.array(llm.scores[: len(prompt)], dtype=np.float64)


def test_llama_cpp_with_our_adapter_gguf_matches_our_bundle(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (the reference) is not installed")
    base = write_gguf(tmp_path / "tiny-F32.gguf", qtype="F32", num_layers=LAYERS, hidden_size=HIDDEN,
                      intermediate_size=FFN, num_heads=HEADS, num_kv_heads=KV_HEADS, seed=5)
    # both sides round the factors to float16 (our bundle as it loads them, the GGUF as it is written)
    write_peft_adapter(tmp_path / "adapter", layers=LAYERS, shapes=SHAPES, seed=3, scale_b=0.1)
    lora = write_gguf_lora(tmp_path / "adapter", base, tmp_path / "adapter.gguf")
    _, updates = read_peft_adapter(tmp_path / "adapter")
    ours = Engine(compile_model(base, quant="f32", out=tmp_path / "tuned", low_rank=updates,
                                low_rank_dtype="float16").path)
    prompt = [t % ours.vocab_size for t in PROMPT]
    got = ours.logits(prompt)
    theirs = _llama_cpp_logits(base, prompt, lora)
    gap = float(np.abs(theirs - got).max())
    assert gap <= LLAMA_CPP_TOL, f"llama.cpp with the adapter GGUF differs from our tuned bundle by {gap}"
    moved = float(np.abs(_llama_cpp_logits(base, prompt) - theirs).max())
    assert moved > 100 * LLAMA_CPP_TOL, f"the adapter moves llama.cpp's logits by only {moved}: this proves nothing"
