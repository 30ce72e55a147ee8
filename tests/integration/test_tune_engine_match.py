"""The training model is the deployed model: TorchLlama's logits vs the compiled float32 TVM engine.

Tolerance: max |Δlogit| <= 2e-4 at every prompt position (logits are O(1-3);
both are float32 with different kernels and summation orders; measured
~2e-6). The same check for a merged adapter: the engine compiled from
:func:`merged_weights` written as a Hugging Face folder gives the adapted
torch model's logits.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from agent_sdk.models.mobilellm.mobilellm_loader import load_checkpoint
from agent_sdk.runtime import Engine
from agent_sdk.tune.torch_model import TorchLlama, apply_lora, lora_modules, merged_weights

pytestmark = pytest.mark.integration

PROMPT = [1, 17, 42, 99, 5, 200, 7, 31, 64, 128, 3, 250, 11, 300, 2, 77]
ENGINE_TOL = 2e-4


def _torch_logits(model: TorchLlama, prompt: list[int]) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor([prompt], dtype=torch.long))[0].numpy()  # (s, v)


@pytest.mark.parametrize("which", ["llama_ckpt", "mobilellm_ckpt"])
def test_torch_model_matches_f32_engine(
    which: str, request: pytest.FixtureRequest, compile_bundle: Callable[..., Path]
) -> None:
    path: Path = request.getfixturevalue(which)
    engine = Engine(compile_bundle(path, "f32"))
    model = TorchLlama.from_checkpoint(load_checkpoint(path))
    prompt = [t % engine.vocab_size for t in PROMPT]
    got = _torch_logits(model, prompt)
    want = engine.logits(prompt)  # (s, v) at every position
    assert got.shape == want.shape
    err = float(np.abs(got - want).max())
    assert err <= ENGINE_TOL, f"{which}: torch vs engine max |Δlogit| {err}"


def test_merged_adapter_compiles_to_the_adapted_model(
    mobilellm_ckpt: Path, tmp_path: Path, compile_bundle: Callable[..., Path]
) -> None:
    """Layer sharing + tied head: adapters merged, written as a checkpoint, compiled, run."""
    model = TorchLlama.from_checkpoint(load_checkpoint(mobilellm_ckpt))
    apply_lora(model, rank=4, alpha=8, seed=0)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in lora_modules(model).values():
            m.lora_B.weight.copy_(0.05 * torch.randn(m.lora_B.weight.shape, generator=gen))
    folder = tmp_path / "merged"
    folder.mkdir()
    for name in ("config.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
                 "generation_config.json"):
        if (mobilellm_ckpt / name).exists():
            shutil.copy(mobilellm_ckpt / name, folder / name)
    config = json.loads((folder / "config.json").read_text())
    save_file({n: np.ascontiguousarray(a) for n, a in merged_weights(model).items()}, str(folder / "model.safetensors"))
    assert config["layer_sharing"]
    engine = Engine(compile_bundle(folder, "f32"))
    prompt = [t % engine.vocab_size for t in PROMPT]
    got = _torch_logits(model, prompt)
    err = float(np.abs(got - engine.logits(prompt)).max())
    assert err <= ENGINE_TOL, f"adapted torch vs merged engine max |Δlogit| {err}"
