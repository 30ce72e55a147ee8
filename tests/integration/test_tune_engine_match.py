"""The training model is the deployed model: TorchLlama's logits vs the compiled float32 TVM engine.

Every family the compiler supports, on tiny checkpoints in its exact Hugging
Face layout: Llama, MobileLLM (layer sharing), Qwen2 (q/k/v biases), Qwen3
(q/k norms, heads of 32 over a hidden size of 64) and Gemma 3 (five
sliding-window layers of 4 tokens and one global layer: the 16-token prompt
reaches well past the window). The checkpoint is read as ``agent-sdk tune``
reads it (:func:`~agent_sdk.compiler.read_checkpoint`).

Tolerance: max |Δlogit| <= 2e-4 at every prompt position (logits are O(1-3);
both are float32 with different kernels and summation orders; measured
1.9e-6 to 2.9e-6). The same check for a merged adapter: the engine compiled
from :func:`merged_weights` written as a Hugging Face folder gives the adapted
torch model's logits (MobileLLM; Gemma 3, whose compiled norms add the 1 to
the merged folder's ``w``; Qwen2, whose biases pass through unadapted), and
so does the engine compiled with the update kept beside the base weights
(``compile_model(low_rank=)``, what ``agent-sdk tune`` does by default;
measured 1.7e-6 to 3.2e-6).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from agent_sdk.compiler import compile_model, read_checkpoint
from agent_sdk.runtime import Engine
from agent_sdk.tune.adapter import low_rank_factors, round_adapter
from agent_sdk.tune.torch_model import TorchLlama, apply_lora, lora_modules, merged_weights
from tests.fixtures.checkpoints import write_qwen_checkpoint
from tests.fixtures.gemma3_checkpoints import write_gemma3_checkpoint

pytestmark = pytest.mark.integration

PROMPT = [1, 17, 42, 99, 5, 200, 7, 31, 64, 128, 3, 250, 11, 300, 2, 77]
ENGINE_TOL = 2e-4
QWEN3_HEAD_DIM = 32  # != hidden 64 / 4 heads: Qwen3's head width is its own
# Weight files are rewritten from the merged tensors; everything else (config, tokenizer) is copied.
_WEIGHT_SUFFIXES = (".safetensors", ".bin")


@pytest.fixture(scope="module")
def qwen2_ckpt(ckpt_dir: Path) -> Path:
    return write_qwen_checkpoint(ckpt_dir / "tune-match-qwen2", family="qwen2", seed=31)


@pytest.fixture(scope="module")
def qwen3_ckpt(ckpt_dir: Path) -> Path:
    return write_qwen_checkpoint(ckpt_dir / "tune-match-qwen3", family="qwen3", seed=32, head_dim=QWEN3_HEAD_DIM)


@pytest.fixture(scope="module")
def gemma3_ckpt(ckpt_dir: Path) -> Path:
    return write_gemma3_checkpoint(ckpt_dir / "tune-match-gemma3", seed=33)


def _torch_model(path: Path) -> TorchLlama:
    return TorchLlama.from_checkpoint(read_checkpoint(path)[1])


def _torch_logits(model: TorchLlama, prompt: list[int]) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor([prompt], dtype=torch.long))[0].numpy()  # (s, v)


@pytest.mark.parametrize("which", ["llama_ckpt", "mobilellm_ckpt", "qwen2_ckpt", "qwen3_ckpt", "gemma3_ckpt"])
def test_torch_model_matches_f32_engine(
    which: str, request: pytest.FixtureRequest, compile_bundle: Callable[..., Path]
) -> None:
    path: Path = request.getfixturevalue(which)
    engine = Engine(compile_bundle(path, "f32"))
    model = _torch_model(path)
    prompt = [t % engine.vocab_size for t in PROMPT]
    got = _torch_logits(model, prompt)
    want = engine.logits(prompt)  # (s, v) at every position
    assert got.shape == want.shape
    err = float(np.abs(got - want).max())
    assert err <= ENGINE_TOL, f"{which}: torch vs engine max |Δlogit| {err}"


def _adapted_model(path: Path) -> TorchLlama:
    """The model with rank-4 adapters on every projection, ``B`` drawn so they move the logits."""
    model = _torch_model(path)
    apply_lora(model, rank=4, alpha=8, seed=0)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in lora_modules(model).values():
            m.lora_B.weight.copy_(0.05 * torch.randn(m.lora_B.weight.shape, generator=gen))
    return model


def _check_adapted(which: str, path: Path, model: TorchLlama, engine: Engine) -> None:
    prompt = [t % engine.vocab_size for t in PROMPT]
    got = _torch_logits(model, prompt)
    assert np.abs(got - _torch_logits(_torch_model(path), prompt)).max() > 1e-2  # the adapters change the output
    err = float(np.abs(got - engine.logits(prompt)).max())
    assert err <= ENGINE_TOL, f"{which}: adapted torch vs engine max |Δlogit| {err}"


@pytest.mark.parametrize("which", ["mobilellm_ckpt", "qwen2_ckpt", "gemma3_ckpt"])
def test_merged_adapter_compiles_to_the_adapted_model(
    which: str, request: pytest.FixtureRequest, tmp_path: Path, compile_bundle: Callable[..., Path]
) -> None:
    """Adapters merged, written as a checkpoint of the same family, compiled, run."""
    path: Path = request.getfixturevalue(which)
    model = _adapted_model(path)
    folder = tmp_path / "merged"
    folder.mkdir()
    for file in path.iterdir():
        if file.is_file() and not file.name.endswith(_WEIGHT_SUFFIXES):
            shutil.copy(file, folder / file.name)
    save_file({n: np.ascontiguousarray(a) for n, a in merged_weights(model).items()}, str(folder / "model.safetensors"))
    _check_adapted(which, path, model, Engine(compile_bundle(folder, "f32")))


@pytest.mark.parametrize(("which", "dtype"), [
    ("qwen2_ckpt", "int8"), ("qwen3_ckpt", "int8"), ("gemma3_ckpt", "int8"), ("qwen2_ckpt", "float16"),
])
def test_update_beside_the_weights_compiles_to_the_adapted_model(
    which: str, dtype: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The tune default: the adapters kept beside the base weights (``compile_model(low_rank=)``), f32 weights,
    int8 factors with a scale per row (and float16 once): the training model rounded as ``tune`` rounds it computes
    what the bundle computes."""
    path: Path = request.getfixturevalue(which)
    model = _adapted_model(path)
    round_adapter(model, dtype)
    bundle = compile_model(path, quant="f32", out=tmp_path / "bundle", low_rank=low_rank_factors(model),
                           low_rank_dtype=dtype)
    _check_adapted(which, path, model, Engine(bundle.path))
