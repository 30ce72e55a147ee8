"""Adapting only the last blocks (``--top-layers``): which blocks get adapters, the gradient stopping below them,
the PEFT files (``layers_to_transform``), and the settings' checks.

Tolerance: the same float32 math in the same order, so equality where the test says so.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from agent_sdk.errors import ModelFormatError, UserError
from agent_sdk.models.mobilellm.mobilellm_loader import load_checkpoint
from agent_sdk.models.peft_adapter import adapter_layers, read_adapter_config, read_peft_adapter
from agent_sdk.tune.adapter import load_adapter, peft_config, save_adapter
from agent_sdk.tune.torch_model import TorchLlama, apply_lora, lora_layers, lora_modules, lora_parameters
from agent_sdk.tune.train import TuneSettings, _loss, train
from tests.unit.test_tune_train import EXAMPLES, PREFIX  # the same tiny training data

pytestmark = pytest.mark.unit



def _model(path: Path) -> TorchLlama:
    return TorchLlama.from_checkpoint(load_checkpoint(path))


def _randomize_b(model: TorchLlama, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in lora_modules(model).values():
            m.lora_B.weight.copy_(torch.randn(m.lora_B.weight.shape, generator=g) * 0.05)


def test_only_the_chosen_blocks_get_adapters_initialised_as_in_a_whole_model(llama_ckpt: Path) -> None:
    whole, top = _model(llama_ckpt), _model(llama_ckpt)
    n = len(whole.model.layers)
    assert n >= 2, "the tiny model needs two blocks for this test"
    apply_lora(whole, rank=4, seed=5)
    added = apply_lora(top, rank=4, seed=5, layers=[n - 1])
    assert lora_layers(top) == [n - 1] and lora_layers(whole) == list(range(n))
    assert len(added) == 7 and all(name.startswith(f"model.layers.{n - 1}.") for name in lora_modules(top))
    for name, m in lora_modules(top).items():  # the same draws as the whole model's for the same block
        assert torch.equal(m.lora_A.weight, lora_modules(whole)[name].lora_A.weight), name


@pytest.mark.parametrize(("layers", "words"), [
    ([], "no layers"),
    ([0, 99], "[99] are not blocks"),
    ([1, 1], "twice"),
    ([True], "not blocks"),
    ([-1], "not blocks"),
    ([[1]], "[[1]] are not blocks"),
    (["1"], "not blocks"),
])
def test_bad_layer_choices_are_refused(llama_ckpt: Path, layers: list[object], words: str) -> None:
    model = _model(llama_ckpt)
    with pytest.raises(UserError, match="cannot apply LoRA") as exc:
        apply_lora(model, rank=2, layers=layers)
    assert words in str(exc.value)
    assert not lora_modules(model)


def test_any_iterable_of_indices_chooses_the_blocks(llama_ckpt: Path) -> None:
    n = len(_model(llama_ckpt).model.layers)
    for layers in (iter([n - 1]), (i for i in [n - 1]), np.array([n - 1]), [np.int64(n - 1)], range(n - 1, n)):
        model = _model(llama_ckpt)
        assert len(apply_lora(model, rank=2, layers=layers)) == 7  # type: ignore[arg-type]
        assert lora_layers(model) == [n - 1]


def test_no_gradient_reaches_the_blocks_below(llama_ckpt: Path) -> None:
    """The point of the option: blocks under the lowest adapted one keep no graph, so the backward pass stops there."""

    def graph_kept(layers: list[int] | None) -> list[bool]:
        model = _model(llama_ckpt)
        apply_lora(model, rank=4, seed=0, layers=layers)
        _randomize_b(model, 1)
        kept: dict[int, bool] = {}

        def record(i: int) -> Callable[[object, object, object], None]:
            def hook(_module: object, _inputs: object, output: object) -> None:
                out = output[0] if isinstance(output, tuple) else output
                kept[i] = kept.get(i, False) or bool(out.requires_grad)
            return hook

        for i, block in enumerate(model.model.layers):
            block.register_forward_hook(record(i))
        _loss(model, torch.tensor(PREFIX), EXAMPLES, 0).backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in lora_parameters(model))
        return [kept[i] for i in range(len(model.model.layers))]

    n = len(_model(llama_ckpt).model.layers)
    assert graph_kept(None) == [True] * n
    assert graph_kept([n - 1]) == [False] * (n - 1) + [True]


def test_training_the_top_block_lowers_the_loss_and_is_a_setting_of_the_checkpoint(
    llama_ckpt: Path, tmp_path: Path
) -> None:
    n = len(_model(llama_ckpt).model.layers)
    settings = TuneSettings(rank=4, alpha=8.0, steps=6, minutes=None, batch_size=2, learning_rate=5e-2, seed=1,
                            top_layers=1)

    def net() -> TorchLlama:
        model = _model(llama_ckpt)
        apply_lora(model, rank=4, alpha=8.0, seed=1, layers=settings.adapted_layers(n))
        return model

    a = train(net(), PREFIX, EXAMPLES, settings, workdir=tmp_path / "a", resume=False)
    b = train(net(), PREFIX, EXAMPLES, settings, workdir=tmp_path / "b", resume=False)
    assert a.losses == b.losses and a.losses[-1] < a.losses[0], a.losses
    assert settings.record()["top_layers"] == 1
    with pytest.raises(UserError, match="other settings"):  # a checkpoint of one block does not resume as all
        train(_model_all(llama_ckpt), PREFIX, EXAMPLES, TuneSettings(
            rank=4, alpha=8.0, steps=8, minutes=None, batch_size=2, learning_rate=5e-2, seed=1), workdir=tmp_path / "a")
    # nor into a model adapted elsewhere under the same settings: its other adapters would stay untrained
    more = dataclasses.replace(settings, steps=8)
    with pytest.raises(UserError, match="lacks adapters this model has"):
        train(_model_all(llama_ckpt), PREFIX, EXAMPLES, more, workdir=tmp_path / "a")


def _model_all(path: Path) -> TorchLlama:
    model = _model(path)
    apply_lora(model, rank=4, alpha=8.0, seed=1)
    return model


def test_top_layers_settings_are_checked() -> None:
    for bad in (0, -2, True, 1.5):
        with pytest.raises(UserError, match="top_layers"):
            TuneSettings(top_layers=bad)  # type: ignore[arg-type]
    assert TuneSettings().adapted_layers(30) is None
    assert TuneSettings(top_layers=3).adapted_layers(30) == [27, 28, 29]
    with pytest.raises(UserError, match=r"top_layers 31 \(--top-layers\): the model has only 30 blocks"):
        TuneSettings(top_layers=31).adapted_layers(30)


# ---------------------------------------------------------------- PEFT files


def test_the_peft_folder_names_its_blocks_and_loads_back(mobilellm_ckpt: Path, tmp_path: Path) -> None:
    ckpt = load_checkpoint(mobilellm_ckpt)
    model = TorchLlama.from_checkpoint(ckpt)
    n = len(model.model.layers)
    apply_lora(model, rank=4, alpha=8, seed=3, layers=[n - 1])
    _randomize_b(model, seed=4)
    save_adapter(model, tmp_path, base_model="tiny")
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert config["layers_to_transform"] == [n - 1] and config["layers_pattern"] == "layers"
    assert adapter_layers(read_adapter_config(tmp_path / "adapter_config.json")) == [n - 1]
    fresh = TorchLlama.from_checkpoint(ckpt)
    load_adapter(fresh, tmp_path)  # adapters made where the config says
    assert lora_layers(fresh) == [n - 1]
    ids = torch.tensor([PREFIX])
    with torch.no_grad():
        assert torch.equal(model(ids), fresh(ids))
        assert not torch.equal(model(ids), TorchLlama.from_checkpoint(ckpt)(ids))
    # a model adapted in every block is not this adapter
    with pytest.raises(UserError, match="blocks"):
        load_adapter(_model_all(mobilellm_ckpt), tmp_path)
    # a config naming a block the model lacks is refused before anything is loaded
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "adapter_config.json").write_text(json.dumps({**config, "layers_to_transform": [n - 1, 99]}))
    (bad / "adapter_model.safetensors").write_bytes((tmp_path / "adapter_model.safetensors").read_bytes())
    with pytest.raises(ModelFormatError, match="names blocks this model does not have"):
        load_adapter(TorchLlama.from_checkpoint(ckpt), bad)
    # the compiler's reader gives updates for that block only
    _, updates = read_peft_adapter(tmp_path)
    assert {name.split(".")[2] for name in updates} == {str(n - 1)} and len(updates) == 7
    # every block adapted: PEFT's own default, no list
    whole = TorchLlama.from_checkpoint(ckpt)
    apply_lora(whole, rank=4, alpha=8)
    assert peft_config(whole, base_model="tiny")["layers_to_transform"] is None


def _folder(root: Path, layers: object, pattern: object = None, tensor_block: int = 0) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    config = {"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj"],
              "layers_to_transform": layers, "layers_pattern": pattern}
    (root / "adapter_config.json").write_text(json.dumps(config))
    pre = f"base_model.model.model.layers.{tensor_block}.self_attn.q_proj"
    save_file({f"{pre}.lora_A.weight": np.zeros((2, 8), np.float32),
               f"{pre}.lora_B.weight": np.zeros((8, 2), np.float32)}, str(root / "adapter_model.safetensors"))
    return root


@pytest.mark.parametrize(("layers", "pattern", "message"), [
    (-1, None, "layers_to_transform is -1"),
    ("0", None, "layers_to_transform is '0'"),
    ([0, True], None, "layers_to_transform is [0, True]"),
    ([[0]], None, "layers_to_transform is [[0]]"),
    ([0], "h", "layers_pattern is 'h'"),
    (None, "layers", "layers_pattern is given without layers_to_transform"),
    ([], "layers", "layers_pattern is given without layers_to_transform"),
    ([1, 2], None, "block 0 is not among the config's layers_to_transform"),
])
def test_bad_block_lists_are_refused_by_name(tmp_path: Path, layers: object, pattern: object, message: str) -> None:
    with pytest.raises(ModelFormatError) as exc:
        read_peft_adapter(_folder(tmp_path / "a", layers, pattern))
    assert message in str(exc.value)


@pytest.mark.parametrize(("layers", "pattern", "blocks"), [
    (0, None, [0]), ([0], "layers", [0]), ([2, 0, 0], ["layers"], [0, 2]), ([], None, None), (None, "", None),
    (None, [], None),
])
def test_peft_s_other_spellings_of_a_block_list_are_read(tmp_path: Path, layers: object, pattern: object,
                                                         blocks: list[int] | None) -> None:
    config, updates = read_peft_adapter(_folder(tmp_path / "a", layers, pattern))
    assert list(updates) == ["model.layers.0.self_attn.q_proj"]
    assert adapter_layers(config) == blocks


def test_layer_replication_is_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "a", None)
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**config, "layer_replication": [[0, 1], [0, 1]]}))
    with pytest.raises(ModelFormatError, match="layer_replication is not supported"):
        read_peft_adapter(folder)
