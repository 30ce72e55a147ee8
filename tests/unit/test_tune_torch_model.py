"""The PyTorch training model against the float64 numpy reference, LoRA and PEFT adapter files.

Tolerances: float32 torch vs the float64 reference, max |Δlogit| <= 1e-4
(logits are O(1-3); measured ~2e-6). Two float32 torch computations that are
the same math in another order (prefix keys vs one pass, merged weights vs
W x + B A x): 1e-5 (measured ~1e-6).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from agent_sdk.errors import ConfigError, ModelFormatError, UserError
from agent_sdk.models.low_rank import int8_rows
from agent_sdk.models.mobilellm.mobilellm_config import MobileLLMConfig
from agent_sdk.models.mobilellm.mobilellm_loader import load_checkpoint
from agent_sdk.tune.adapter import load_adapter, low_rank_factors, round_adapter, save_adapter
from agent_sdk.tune.torch_model import (
    LORA_TARGETS,
    TorchLlama,
    apply_lora,
    lora_modules,
    lora_parameters,
    merged_weights,
)
from tests.reference.numpy_llama import hf_forward, load_hf_state

pytestmark = pytest.mark.unit

PROMPT = [1, 17, 42, 99, 5, 200, 7, 31, 64, 128, 3, 250]
REF_TOL = 1e-4  # float32 vs float64 reference
SAME_MATH_TOL = 1e-5  # float32 vs float32, other order of operations


def _model(path: Path) -> TorchLlama:
    return TorchLlama.from_checkpoint(load_checkpoint(path))


def _ids(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.long)


@pytest.fixture(scope="module")
def untied_ckpt(ckpt_dir: Path) -> Path:
    from tests.fixtures.checkpoints import write_llama_checkpoint

    return write_llama_checkpoint(ckpt_dir / "llama-untied-tune", tie_word_embeddings=False, seed=3)


@pytest.mark.parametrize("which", ["llama_ckpt", "mobilellm_ckpt", "untied_ckpt"])
def test_logits_match_numpy_reference(which: str, request: pytest.FixtureRequest) -> None:
    path: Path = request.getfixturevalue(which)
    cfg, weights = load_hf_state(path)
    model = _model(path)
    with torch.no_grad():
        got = model(_ids([PROMPT])).numpy()[0]  # (s, v)
    ref = hf_forward(cfg, weights, PROMPT)
    assert got.shape == ref.shape
    err = np.abs(got - ref).max()
    assert err <= REF_TOL, f"{which}: max |Δlogit| {err}"


def test_layer_sharing_runs_every_block_twice(mobilellm_ckpt: Path) -> None:
    cfg, weights = load_hf_state(mobilellm_ckpt)
    once = hf_forward({**cfg, "layer_sharing": False}, weights, PROMPT)
    model = _model(mobilellm_ckpt)
    assert model.num_layer_runs == 2 * cfg["num_hidden_layers"]
    with torch.no_grad():
        got = model(_ids([PROMPT])).numpy()[0]
    assert np.abs(got - once).max() > 1e-2


@pytest.mark.parametrize("which", ["llama_ckpt", "mobilellm_ckpt"])
def test_shared_prefix_equals_full_forward(which: str, request: pytest.FixtureRequest) -> None:
    """A prefix run once (batch 1) and broadcast to right-padded suffix rows gives the full-sequence logits."""
    model = _model(request.getfixturevalue(which))
    prefix, suffixes = PROMPT[:5], [PROMPT[5:], PROMPT[5:9], [9, 8, 7]]
    pad = 0
    width = max(len(s) for s in suffixes)
    with torch.no_grad():
        past = model.prefix_kv(prefix)
        assert len(past) == model.num_layer_runs and past[0][0].shape[:3] == (1, model.cfg.num_key_value_heads, 5)
        batched, kv = model(_ids([s + [pad] * (width - len(s)) for s in suffixes]), past=past, return_kv=True)
        assert kv[0][0].shape[:3] == (3, model.cfg.num_key_value_heads, 5 + width)
        for row, suffix in enumerate(suffixes):
            full = model(_ids([prefix + suffix]))[0, len(prefix):]  # (s, v)
            err = (batched[row, : len(suffix)] - full).abs().max().item()
            assert err <= SAME_MATH_TOL, f"row {row}: {err}"
        # one more token decoded on the batch's own keys continues the positions
        nxt = model(_ids([[11]]), past=tuple((k[:1], v[:1]) for k, v in kv))
        full = model(_ids([prefix + suffixes[0] + [11]]))[0, -1]
        assert (nxt[0, -1] - full).abs().max().item() <= SAME_MATH_TOL


def test_hidden_states_feed_the_head(llama_ckpt: Path) -> None:
    model = _model(llama_ckpt)
    with torch.no_grad():
        hidden = model.hidden_states(_ids([PROMPT]))
        assert hidden.shape == (1, len(PROMPT), model.cfg.hidden_size)
        assert torch.equal(model.logits_from_hidden(hidden), model(_ids([PROMPT])))


def test_base_weights_are_frozen_and_canonically_named(llama_ckpt: Path) -> None:
    ckpt = load_checkpoint(llama_ckpt)
    model = TorchLlama.from_checkpoint(ckpt)
    assert not any(p.requires_grad for p in model.parameters())
    assert set(model.state_dict()) == set(ckpt.tensors)


def test_wrong_weights_and_options_raise(llama_ckpt: Path) -> None:
    ckpt = load_checkpoint(llama_ckpt)
    weights = {n: t.as_float() for n, t in ckpt.tensors.items()}
    bad = dict(weights)
    del bad["model.norm.weight"]
    bad["model.layers.0.mlp.up_proj.weight"] = np.zeros((3, 3), np.float32)
    bad["model.layers.9.extra.weight"] = np.zeros(3, np.float32)
    with pytest.raises(ModelFormatError) as exc:
        TorchLlama(ckpt.config, bad)
    for name in ("model.norm.weight", "up_proj", "model.layers.9.extra.weight"):
        assert name in str(exc.value)
    cfg = ckpt.config.to_dict()
    with pytest.raises(ConfigError, match="model_type"):
        TorchLlama(MobileLLMConfig.from_dict({**cfg, "model_type": "gpt2"}), weights)
    model = TorchLlama(ckpt.config, weights)
    with pytest.raises(UserError, match="past"):
        model(_ids([[1, 2]]), past=model.prefix_kv([1])[:1])


# ---------------------------------------------------------------- LoRA


def test_lora_with_zero_b_is_the_base_model(mobilellm_ckpt: Path) -> None:
    model = _model(mobilellm_ckpt)
    with torch.no_grad():
        base = model(_ids([PROMPT]))
    added = apply_lora(model, rank=4, alpha=8, seed=0)
    # layer sharing: one adapter per stored block and projection, used by both runs
    assert len(added) == model.cfg.num_hidden_layers * len(LORA_TARGETS)
    assert all(p.requires_grad for p in lora_parameters(model))
    assert sum(p.requires_grad for p in model.parameters()) == 2 * len(added)
    with torch.no_grad():
        assert torch.equal(model(_ids([PROMPT])), base)


def _randomize_b(model: TorchLlama, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in lora_modules(model).values():
            m.lora_B.weight.copy_(0.05 * torch.randn(m.lora_B.weight.shape, generator=gen))


@pytest.mark.parametrize("which", ["llama_ckpt", "mobilellm_ckpt", "untied_ckpt"])
def test_merged_weights_equal_the_adapted_model(which: str, request: pytest.FixtureRequest) -> None:
    path = request.getfixturevalue(which)
    model = _model(path)
    with torch.no_grad():
        base = model(_ids([PROMPT]))
    apply_lora(model, rank=4, alpha=8, targets=("q_proj", "v_proj", "down_proj"), seed=1)
    _randomize_b(model, seed=2)
    merged = merged_weights(model)
    assert set(merged) == set(load_checkpoint(path).tensors)
    assert all(a.dtype == np.float32 for a in merged.values())
    name = "model.layers.1.self_attn.q_proj.weight"
    lora = lora_modules(model)["model.layers.1.self_attn.q_proj"]
    expect = model.state_dict()[name].double() + 2.0 * lora.lora_B.weight.double() @ lora.lora_A.weight.double()
    np.testing.assert_allclose(merged[name], expect.detach().numpy(), rtol=0, atol=1e-6)
    assert not merged["model.layers.1.self_attn.k_proj.weight"].flags.writeable  # untouched: a view
    with torch.no_grad():
        adapted = model(_ids([PROMPT]))
        again = TorchLlama(model.cfg, merged)(_ids([PROMPT]))
    assert (adapted - base).abs().max().item() > 1e-2  # the adapters change the output
    err = (adapted - again).abs().max().item()
    assert err <= SAME_MATH_TOL, f"merged vs adapted: {err}"


def test_lora_init_is_deterministic_and_kaiming_uniform(llama_ckpt: Path) -> None:
    ckpt = load_checkpoint(llama_ckpt)

    def a_factors(seed: int) -> list[torch.Tensor]:
        model = TorchLlama.from_checkpoint(ckpt)
        apply_lora(model, rank=8, seed=seed)
        return [m.lora_A.weight.detach().clone() for m in lora_modules(model).values()]

    first, again, other = a_factors(7), a_factors(7), a_factors(8)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0], other[0])
    h = ckpt.config.hidden_size
    assert first[0].shape == (8, h) and first[0].abs().max() <= 1 / h**0.5  # U(-1/sqrt(in), 1/sqrt(in))
    assert first[0].std() > 0.5 / (3 * h) ** 0.5


def test_apply_lora_rejects_bad_options(llama_ckpt: Path) -> None:
    model = _model(llama_ckpt)
    with pytest.raises(UserError) as exc:
        apply_lora(model, rank=0, dropout=1.5, targets=("q_proj", "qkv_proj"))
    for word in ("qkv_proj", "rank", "dropout"):
        assert word in str(exc.value)
    apply_lora(model, rank=2)
    with pytest.raises(UserError, match="already"):
        apply_lora(model, rank=2)


@pytest.mark.parametrize("which", ["llama_ckpt", "mobilellm_ckpt"])
def test_adamw_steps_on_adapters_lower_the_loss(which: str, request: pytest.FixtureRequest) -> None:
    torch.manual_seed(0)
    model = _model(request.getfixturevalue(which))
    apply_lora(model, rank=8, alpha=16, seed=0)
    prefix = model.prefix_kv(PROMPT[:4])
    ids = _ids([PROMPT[4:], PROMPT[:8]])  # (2, 8)
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


# ---------------------------------------------------------------- PEFT adapter files


def test_adapter_files_use_peft_names_and_config(mobilellm_ckpt: Path, tmp_path: Path) -> None:
    model = _model(mobilellm_ckpt)
    apply_lora(model, rank=4, alpha=8, targets=("q_proj", "o_proj", "up_proj"), seed=0)
    save_adapter(model, tmp_path, base_model="facebook/MobileLLM-125M", extra={"tools": ["get_weather"]})
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert {k: config[k] for k in ("peft_type", "task_type", "r", "lora_alpha", "lora_dropout", "bias",
                                   "fan_in_fan_out", "inference_mode", "base_model_name_or_path")} == {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 4, "lora_alpha": 8, "lora_dropout": 0.0,
        "bias": "none", "fan_in_fan_out": False, "inference_mode": True,
        "base_model_name_or_path": "facebook/MobileLLM-125M",
    }
    assert config["target_modules"] == ["q_proj", "o_proj", "up_proj"]
    with safe_open(str(tmp_path / "adapter_model.safetensors"), framework="pt") as fp:
        shapes = {name: tuple(fp.get_slice(name).get_shape()) for name in fp.keys()}  # noqa: SIM118
    h, f = model.cfg.hidden_size, model.cfg.intermediate_size
    assert shapes["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"] == (4, h)
    assert shapes["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"] == (h, 4)
    assert shapes["base_model.model.model.layers.2.mlp.up_proj.lora_B.weight"] == (f, 4)
    assert len(shapes) == 2 * 3 * model.cfg.num_hidden_layers


def test_adapter_round_trip(mobilellm_ckpt: Path, tmp_path: Path) -> None:
    ckpt = load_checkpoint(mobilellm_ckpt)
    model = TorchLlama.from_checkpoint(ckpt)
    apply_lora(model, rank=4, alpha=8, seed=3)
    _randomize_b(model, seed=4)
    save_adapter(model, tmp_path, base_model="tiny", extra={"steps": 3})
    fresh = TorchLlama.from_checkpoint(ckpt)
    assert load_adapter(fresh, tmp_path) == {"steps": 3}
    for (name, a), (name_b, b) in zip(model.state_dict().items(), fresh.state_dict().items(), strict=True):
        assert name == name_b and torch.equal(a, b), name
    with torch.no_grad():
        assert torch.equal(model(_ids([PROMPT])), fresh(_ids([PROMPT])))


def test_a_rounded_adapter_is_saved_in_float16_where_exact_and_loads_back_unchanged(
    llama_ckpt: Path, tmp_path: Path
) -> None:
    ckpt = load_checkpoint(llama_ckpt)
    model = TorchLlama.from_checkpoint(ckpt)
    apply_lora(model, rank=4, alpha=6.0, seed=3)  # scaling 1.5: s B / s is rarely a float16 value
    _randomize_b(model, seed=4)
    round_adapter(model, "float16")
    save_adapter(model, tmp_path, base_model="tiny")
    with safe_open(str(tmp_path / "adapter_model.safetensors"), framework="pt") as fp:
        dtypes = {name: fp.get_tensor(name).dtype for name in fp.keys()}  # noqa: SIM118
    assert {d for n, d in dtypes.items() if ".lora_A." in n} == {torch.float16}
    assert {d for n, d in dtypes.items() if ".lora_B." in n} == {torch.float32}
    fresh = TorchLlama.from_checkpoint(ckpt)
    load_adapter(fresh, tmp_path)
    for (name, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    # factors not rounded stay float32
    apply_lora(other := TorchLlama.from_checkpoint(ckpt), rank=4, alpha=8.0, seed=5)
    _randomize_b(other, seed=6)
    save_adapter(other, tmp_path / "raw", base_model="tiny")
    with safe_open(str(tmp_path / "raw" / "adapter_model.safetensors"), framework="pt") as fp:
        assert {fp.get_tensor(n).dtype for n in fp.keys()} == {torch.float32}  # noqa: SIM118


def test_adapter_mismatches_are_reported(mobilellm_ckpt: Path, llama_ckpt: Path, tmp_path: Path) -> None:
    model = _model(mobilellm_ckpt)
    apply_lora(model, rank=4, alpha=8, seed=0)
    save_adapter(model, tmp_path / "a", base_model="tiny")
    other = _model(mobilellm_ckpt)
    apply_lora(other, rank=2, alpha=8)
    with pytest.raises(UserError, match="r=4"):
        load_adapter(other, tmp_path / "a")
    # a missing tensor and a wrong shape are both listed
    with safe_open(str(tmp_path / "a" / "adapter_model.safetensors"), framework="pt") as fp:
        tensors = {n: fp.get_tensor(n) for n in fp.keys()}  # noqa: SIM118
    del tensors["base_model.model.model.layers.1.mlp.down_proj.lora_A.weight"]
    tensors["base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight"] = torch.zeros(3, 4)
    save_file(tensors, str(tmp_path / "a" / "adapter_model.safetensors"))
    with pytest.raises(ModelFormatError) as exc:
        load_adapter(_model(mobilellm_ckpt), tmp_path / "a")
    assert "missing tensor base_model.model.model.layers.1.mlp.down_proj.lora_A.weight" in str(exc.value)
    assert "k_proj.lora_B.weight has shape (3, 4)" in str(exc.value)
    config = json.loads((tmp_path / "a" / "adapter_config.json").read_text())
    (tmp_path / "a" / "adapter_config.json").write_text(json.dumps({**config, "use_dora": True, "r": "4"}))
    with pytest.raises(ModelFormatError) as exc:
        load_adapter(_model(mobilellm_ckpt), tmp_path / "a")
    assert "use_dora" in str(exc.value) and "r is '4'" in str(exc.value)


@pytest.mark.parametrize("alpha", [8.0, 6.0])  # scaling 2 (a power of two) and 1.5
def test_round_adapter_makes_the_factors_what_a_float16_bundle_stores(llama_ckpt: Path, alpha: float) -> None:
    model = _model(llama_ckpt)
    apply_lora(model, rank=4, alpha=alpha, seed=0)
    with torch.no_grad():
        for m in lora_modules(model).values():
            m.lora_B.weight.copy_(0.01 * torch.randn(m.lora_B.weight.shape, generator=torch.Generator().manual_seed(3)))
    before = low_rank_factors(model)
    round_adapter(model, "float32")
    assert all(np.array_equal(before[n][0], a) and np.array_equal(before[n][1], b)
               for n, (a, b) in low_rank_factors(model).items())
    round_adapter(model, "float16")
    for name, (a, b) in low_rank_factors(model).items():  # the compiler's factors: A and scaling * B
        assert np.array_equal(a.astype(np.float16).astype(np.float32), a), name
        # scaling * B is a float16 value up to float32's own rounding of the product (one ulp)
        assert np.allclose(b.astype(np.float16).astype(np.float32), b, rtol=2.0**-23, atol=0), name
        was_a, was_b = before[name]
        assert np.abs(a - was_a).max() <= np.abs(was_a).max() * 2.0**-11  # half an ulp at most: nearest
        assert np.abs(b - was_b).max() <= np.abs(was_b).max() * 2.0**-11 * 1.01


@pytest.mark.parametrize("alpha", [8.0, 6.0])
def test_round_adapter_makes_the_factors_what_an_int8_bundle_stores(llama_ckpt: Path, alpha: float) -> None:
    model = _model(llama_ckpt)
    apply_lora(model, rank=4, alpha=alpha, seed=0)
    modules = list(lora_modules(model).values())
    with torch.no_grad():
        for m in modules:
            m.lora_B.weight.copy_(0.01 * torch.randn(m.lora_B.weight.shape, generator=torch.Generator().manual_seed(3)))
        modules[0].lora_B.weight[2].zero_()  # a row of zeros stays zeros (scale 1)
    before = low_rank_factors(model)
    round_adapter(model, "int8")
    after = low_rank_factors(model)
    for name, (a, b) in after.items():  # the compiler's factors: A and scaling * B, each row levels * its scale
        was_a, was_b = before[name]
        for got, was in ((a, was_a), (b, was_b)):
            q, scale = int8_rows(got)
            assert np.allclose(q.astype(np.float32) * scale[:, None], got, rtol=2.0**-22, atol=0), name
            assert np.array_equal(q, int8_rows(was)[0]), name  # rounding again keeps every level
            step = np.abs(was).max(axis=1, keepdims=True) / 127
            assert (np.abs(got - was) <= step * 0.5 * 1.01 + 1e-12).all(), name  # nearest level
            assert not np.array_equal(got, was), name  # it did round
    zero_row = after[next(iter(after))][1][2]
    assert not zero_row.any()
    # the whole update is still the trained one, to int8's resolution
    merged_before = {n: b @ a for n, (a, b) in before.items()}
    for n, (a, b) in after.items():
        rel = np.abs(b @ a - merged_before[n]).max() / np.abs(merged_before[n]).max()
        assert rel < 0.02, (n, rel)


def test_round_adapter_refuses_what_float16_cannot_hold(llama_ckpt: Path) -> None:
    model = _model(llama_ckpt)
    apply_lora(model, rank=4, alpha=8.0, seed=0)
    modules = list(lora_modules(model).values())
    first, last = modules[0], modules[-1]
    with torch.no_grad():
        last.lora_A.weight[0, 0] = 1e6
        first.lora_A.weight[0, 0] = 0.1  # a value float16 rounds
    kept = [m.lora_A.weight.clone() for m in lora_modules(model).values()]
    with pytest.raises(UserError, match="too large for float16"):
        round_adapter(model, "float16")
    assert all(torch.equal(k, m.lora_A.weight) for k, m in zip(kept, lora_modules(model).values()))  # untouched
    with torch.no_grad():
        last.lora_A.weight[0, 0] = float("nan")
    with pytest.raises(UserError, match="not finite"):
        round_adapter(model, "float16")
    with pytest.raises(UserError, match="float16, int8 or float32"):
        round_adapter(model, "bfloat16")
