"""The PyTorch training model on Qwen2, Qwen3 and Gemma 3 against each family's float64 numpy reference.

Checkpoints: the tiny fixtures in each family's exact Hugging Face layout
(Qwen2 with q/k/v biases, tied and untied; Qwen3 with q/k norms and heads of
32 over a hidden size of 64; Gemma 3 with five sliding-window layers of 4
tokens and one global layer). References: ``tests/reference/numpy_llama.py``
(Llama/Qwen) and ``tests/reference/numpy_gemma3.py``, written from the
Hugging Face models' math without importing ``agent_sdk``.

Tolerances: float32 torch vs the float64 reference, max |Δlogit| <= 1e-4 at
every position (logits are O(1-3); measured 1.5e-6 to 2.5e-6). Two float32
torch computations of the same math in another order (prefix keys vs one
pass, merged weights vs W x + B A x): 1e-5 (measured 1.2e-6 to 3.2e-6).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from agent_sdk.errors import ConfigError
from agent_sdk.models.gemma3 import gemma3_loader
from agent_sdk.models.mobilellm.mobilellm_config import MobileLLMConfig
from agent_sdk.models.mobilellm.mobilellm_loader import Checkpoint
from agent_sdk.models.qwen2 import qwen2_loader
from agent_sdk.models.qwen2.qwen2_config import Qwen2Config
from agent_sdk.models.qwen3 import qwen3_loader
from agent_sdk.models.qwen3.qwen3_config import Qwen3Config
from agent_sdk.tune.adapter import load_adapter, save_adapter
from agent_sdk.tune.torch_model import (
    LORA_TARGETS,
    TorchLlama,
    apply_lora,
    lora_modules,
    lora_parameters,
    merged_weights,
)
from tests.fixtures.checkpoints import write_qwen_checkpoint
from tests.fixtures.gemma3_checkpoints import write_gemma3_checkpoint
from tests.reference import numpy_gemma3, numpy_llama

pytestmark = pytest.mark.unit

PROMPT = [1, 17, 42, 99, 5, 200, 7, 31, 64, 128, 3, 250, 11, 300, 2, 77]
REF_TOL = 1e-4  # float32 vs float64 reference
SAME_MATH_TOL = 1e-5  # float32 vs float32, other order of operations
QWEN3_HEAD_DIM = 32  # != hidden 64 / 4 heads: Qwen3's head width is its own
FAMILIES = ["qwen2", "qwen2_untied", "qwen3", "gemma3"]

_LOADERS: dict[str, Callable[[Path], Checkpoint]] = {
    "qwen2": qwen2_loader.load_checkpoint,
    "qwen2_untied": qwen2_loader.load_checkpoint,
    "qwen3": qwen3_loader.load_checkpoint,
    "gemma3": gemma3_loader.load_checkpoint,
}


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models gain nothing from threads; on a busy machine OpenMP's waits made a forward 100x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def family_ckpts(ckpt_dir: Path) -> dict[str, Path]:
    return {
        "qwen2": write_qwen_checkpoint(ckpt_dir / "tune-qwen2", family="qwen2", seed=21),
        "qwen2_untied": write_qwen_checkpoint(ckpt_dir / "tune-qwen2-untied", family="qwen2", seed=22,
                                              tie_word_embeddings=False),
        "qwen3": write_qwen_checkpoint(ckpt_dir / "tune-qwen3", family="qwen3", seed=23, head_dim=QWEN3_HEAD_DIM),
        "gemma3": write_gemma3_checkpoint(ckpt_dir / "tune-gemma3", seed=24),
    }


def _reference(which: str, path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray], Callable[..., np.ndarray]]:
    """``(config.json, float64 weights, forward(cfg, weights, ids))`` of the family's numpy reference."""
    ref = numpy_gemma3 if which == "gemma3" else numpy_llama
    cfg, weights = ref.load_hf_state(path)
    return cfg, weights, ref.hf_forward


def _checkpoint(which: str, ckpts: dict[str, Path]) -> Checkpoint:
    return _LOADERS[which](ckpts[which])


def _model(which: str, ckpts: dict[str, Path]) -> TorchLlama:
    return TorchLlama.from_checkpoint(_checkpoint(which, ckpts))


def _ids(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.long)


@pytest.mark.parametrize("which", FAMILIES)
def test_logits_match_numpy_reference(which: str, family_ckpts: dict[str, Path]) -> None:
    cfg, weights, forward = _reference(which, family_ckpts[which])
    model = _model(which, family_ckpts)
    with torch.no_grad():
        got = model(_ids([PROMPT])).numpy()[0]  # (s, v)
    ref = forward(cfg, weights, PROMPT)  # (s, v)
    assert got.shape == ref.shape
    err = np.abs(got - ref).max()
    assert err <= REF_TOL, f"{which}: max |Δlogit| {err}"


def _zero_biases(cfg: dict[str, Any], w: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    return cfg, {k: np.zeros_like(v) if k.endswith("_proj.bias") else v for k, v in w.items()}


def _unit_qk_norms(cfg: dict[str, Any], w: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    return cfg, {k: np.ones_like(v) if k.endswith(("q_norm.weight", "k_norm.weight")) else v for k, v in w.items()}


def _no_window(cfg: dict[str, Any], w: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    return {**cfg, "sliding_window": 10**6}, w


def _one_rope_base(cfg: dict[str, Any], w: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    return {**cfg, "rope_local_base_freq": cfg["rope_theta"]}, w


@pytest.mark.parametrize(
    ("which", "without"),
    [("qwen2", _zero_biases), ("qwen3", _unit_qk_norms), ("gemma3", _no_window), ("gemma3", _one_rope_base)],
)
def test_each_family_option_changes_the_output(
    which: str, without: Callable[..., tuple[dict[str, Any], dict[str, np.ndarray]]], family_ckpts: dict[str, Path]
) -> None:
    """Guards the reference match: the reference without the option is far from the model."""
    cfg, weights, forward = _reference(which, family_ckpts[which])
    model = _model(which, family_ckpts)
    with torch.no_grad():
        got = model(_ids([PROMPT])).numpy()[0]
    assert np.abs(got - forward(*without(cfg, weights), PROMPT)).max() > 1e-2


@pytest.mark.parametrize("which", FAMILIES)
def test_base_weights_are_frozen_and_canonically_named(which: str, family_ckpts: dict[str, Path]) -> None:
    ckpt = _checkpoint(which, family_ckpts)
    model = TorchLlama.from_checkpoint(ckpt)
    assert not any(p.requires_grad for p in model.parameters())
    assert set(model.state_dict()) == set(ckpt.tensors)


@pytest.mark.parametrize(("which", "prefix_len"), [("qwen2", 5), ("qwen3", 5), ("gemma3", 2), ("gemma3", 9)])
def test_shared_prefix_equals_full_forward(which: str, prefix_len: int, family_ckpts: dict[str, Path]) -> None:
    """A prefix run once (batch 1) and read by right-padded suffix rows gives the full-sequence logits.

    Gemma 3's window is 4: a 2-token prefix is inside every suffix query's
    window, a 9-token one reaches past it (its first keys are out of sight).
    """
    model = _model(which, family_ckpts)
    prefix, suffixes = PROMPT[:prefix_len], [PROMPT[prefix_len:], PROMPT[prefix_len:prefix_len + 4], [9, 8, 7]]
    width = max(len(s) for s in suffixes)
    with torch.no_grad():
        past = model.prefix_kv(prefix)
        assert len(past) == model.num_layer_runs
        assert past[0][0].shape[:3] == (1, model.cfg.num_key_value_heads, prefix_len)
        batched, kv = model(_ids([s + [0] * (width - len(s)) for s in suffixes]), past=past, return_kv=True)
        assert kv[0][0].shape[:3] == (3, model.cfg.num_key_value_heads, prefix_len + width)
        for row, suffix in enumerate(suffixes):
            full = model(_ids([prefix + suffix]))[0, prefix_len:]  # (s, v)
            err = (batched[row, : len(suffix)] - full).abs().max().item()
            assert err <= SAME_MATH_TOL, f"row {row}: {err}"
        # tokens decoded one at a time on the first row's own keys continue the positions (and the window)
        past_row = tuple((k[:1], v[:1]) for k, v in kv)
        steps = [11, 12, 13, 14, 15]
        for i, tok in enumerate(steps):
            logits, past_row = model(_ids([[tok]]), past=past_row, return_kv=True)
            full = model(_ids([prefix + suffixes[0] + steps[: i + 1]]))[0, -1]
            assert (logits[0, -1] - full).abs().max().item() <= SAME_MATH_TOL, f"decode step {i}"


def _randomize_b(model: TorchLlama, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in lora_modules(model).values():
            m.lora_B.weight.copy_(0.05 * torch.randn(m.lora_B.weight.shape, generator=gen))


@pytest.mark.parametrize("which", FAMILIES)
def test_merged_weights_equal_the_adapted_model(which: str, family_ckpts: dict[str, Path]) -> None:
    ckpt = _checkpoint(which, family_ckpts)
    model = TorchLlama.from_checkpoint(ckpt)
    with torch.no_grad():
        base = model(_ids([PROMPT]))
        assert torch.equal(model(_ids([PROMPT])), base)
    added = apply_lora(model, rank=4, alpha=8, seed=1)
    assert len(added) == model.cfg.num_hidden_layers * len(LORA_TARGETS)
    assert sum(p.requires_grad for p in model.parameters()) == 2 * len(added)
    with torch.no_grad():
        assert torch.equal(model(_ids([PROMPT])), base)  # B = 0: the base model
    _randomize_b(model, seed=2)
    merged = merged_weights(model)
    assert set(merged) == set(ckpt.tensors)
    assert all(a.dtype == np.float32 for a in merged.values())
    for name in merged:
        if not name.endswith("_proj.weight"):  # biases and norms are not adapted: the model's own tensors
            assert not merged[name].flags.writeable and np.array_equal(merged[name], ckpt.tensors[name].as_float())
    with torch.no_grad():
        adapted = model(_ids([PROMPT]))
        again = TorchLlama(model.cfg, merged)(_ids([PROMPT]))
    assert (adapted - base).abs().max().item() > 1e-2  # the adapters change the output
    err = (adapted - again).abs().max().item()
    assert err <= SAME_MATH_TOL, f"merged vs adapted: {err}"


@pytest.mark.parametrize("which", ["qwen2", "qwen3", "gemma3"])
def test_adamw_steps_over_a_shared_prefix_lower_the_loss(which: str, family_ckpts: dict[str, Path]) -> None:
    """Gradients flow through the shared-prefix path (past Gemma's window: a 6-token prefix, window 4)."""
    torch.manual_seed(0)
    model = _model(which, family_ckpts)
    apply_lora(model, rank=8, alpha=16, seed=0)
    prefix = model.prefix_kv(PROMPT[:6])
    ids = _ids([PROMPT[6:14], PROMPT[:8]])  # (2, 8)
    opt = torch.optim.AdamW(lora_parameters(model), lr=1e-2)
    losses = []
    for _ in range(8):
        logits = model(ids[:, :-1], past=prefix)  # (2, 7, v)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    assert not any(p.grad is not None for n, p in model.named_parameters() if "lora_" not in n)


@pytest.mark.parametrize("which", ["qwen2", "gemma3"])
def test_adapter_files_round_trip(which: str, family_ckpts: dict[str, Path], tmp_path: Path) -> None:
    """PEFT names for the family's projections (Qwen2's biased ones, Gemma's beside its extra norms)."""
    ckpt = _checkpoint(which, family_ckpts)
    model = TorchLlama.from_checkpoint(ckpt)
    apply_lora(model, rank=4, alpha=8, seed=3)
    _randomize_b(model, seed=4)
    save_adapter(model, tmp_path, base_model="tiny")
    fresh = TorchLlama.from_checkpoint(ckpt)
    load_adapter(fresh, tmp_path)
    assert "model.layers.0.self_attn.q_proj.lora_A.weight" in fresh.state_dict()
    with torch.no_grad():
        assert torch.equal(model(_ids([PROMPT])), fresh(_ids([PROMPT])))


def test_unimplemented_options_fail_loudly(family_ckpts: dict[str, Path]) -> None:
    """Each family accepts only the options its compiled model has; a config of another family's class is refused."""
    weights = {n: t.as_float() for n, t in _checkpoint("qwen2", family_ckpts).tensors.items()}
    cfg = _checkpoint("qwen2", family_ckpts).config
    assert isinstance(cfg, Qwen2Config)
    with pytest.raises(ConfigError, match="qk_norm=True"):
        TorchLlama(Qwen2Config.from_dict({**cfg.to_dict(), "qk_norm": True}), weights)
    with pytest.raises(ConfigError, match="layer_sharing=True"):
        TorchLlama(Qwen2Config.from_dict({**cfg.to_dict(), "layer_sharing": True}), weights)
    with pytest.raises(ConfigError, match="needs a Qwen2Config"):
        TorchLlama(MobileLLMConfig.from_dict(cfg.to_dict()), weights)
    q3 = _checkpoint("qwen3", family_ckpts).config
    assert isinstance(q3, Qwen3Config)
    with pytest.raises(ConfigError, match="attention_bias=True"):
        TorchLlama(Qwen3Config.from_dict({**q3.to_dict(), "attention_bias": True}), weights)
