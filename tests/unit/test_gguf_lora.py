"""A PEFT adapter written as llama.cpp's LoRA GGUF (:mod:`agent_sdk.models.gguf_lora`).

Read back with ``gguf.GGUFReader`` (gguf-py, llama.cpp's own Python reader), and the Q/K rows checked against the
test fixtures' own copy of llama.cpp's converter permutation (the one that wrote the base file), not the writer's.
llama.cpp applying the file is tested in tests/integration/test_gguf_lora_llama_cpp.py (when it is installed).
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest

from agent_sdk.errors import ModelFormatError, UserError
from agent_sdk.models.gguf_lora import (
    GGUF_PROJECTIONS,
    gguf_adapter_refusal,
    gguf_lora_dtype,
    gguf_lora_tensors,
    unsupported_base,
    write_gguf_lora,
)
from agent_sdk.models.gguf_reader import parse_gguf
from tests.fixtures.checkpoints import _permute_qk, write_gguf, write_qwen_gguf
from tests.fixtures.gemma3_checkpoints import write_gemma3_checkpoint, write_gemma3_gguf
from tests.fixtures.peft import ALPHA, RANK, write_peft_adapter

pytestmark = pytest.mark.unit

LAYERS, HIDDEN, FFN, HEADS, KV_HEADS = 2, 64, 160, 4, 2
OUT_IN = {"self_attn.q_proj": (HIDDEN, HIDDEN), "self_attn.k_proj": (HIDDEN // HEADS * KV_HEADS, HIDDEN),
          "self_attn.v_proj": (HIDDEN // HEADS * KV_HEADS, HIDDEN), "self_attn.o_proj": (HIDDEN, HIDDEN),
          "mlp.gate_proj": (FFN, HIDDEN), "mlp.up_proj": (FFN, HIDDEN), "mlp.down_proj": (HIDDEN, FFN)}


def _adapter(folder: Path, *, layers: int = LAYERS, shapes: dict[str, tuple[int, int]] = OUT_IN,
             **kwargs: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return write_peft_adapter(folder, layers=layers, shapes=shapes, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_gguf(tmp_path_factory.mktemp("base") / "tiny-Q4_1.gguf", qtype="Q4_1", num_layers=LAYERS,
                      hidden_size=HIDDEN, intermediate_size=FFN, num_heads=HEADS, num_kv_heads=KV_HEADS)


def test_the_file_is_a_llama_cpp_lora_adapter_for_the_base(base: Path, tmp_path: Path) -> None:
    factors = _adapter(tmp_path / "adapter")
    out = write_gguf_lora(tmp_path / "adapter", base, tmp_path / "adapter.gguf")
    reader = gguf.GGUFReader(out)
    fields = {name: reader.fields[name].contents() for name in reader.fields
              if not name.startswith("GGUF.")}
    assert fields == {"general.architecture": "llama", "general.type": "adapter", "adapter.type": "lora",
                      "adapter.lora.alpha": float(RANK)}  # the scale is folded into B: alpha / r = 1
    got = {t.name: t for t in reader.tensors}
    assert len(got) == 2 * len(factors)
    for module, (a, b) in factors.items():
        i, proj = module.split(".")[2], module.split(".", 3)[3]
        name = f"blk.{i}.{GGUF_PROJECTIONS[proj]}.weight"
        lora_a, lora_b = got[f"{name}.lora_a"], got[f"{name}.lora_b"]
        # llama.cpp's shape check: lora_a ne = (in, r), lora_b ne = (r, out)
        assert list(lora_a.shape) == [a.shape[1], RANK] and list(lora_b.shape) == [RANK, b.shape[0]]
        assert lora_a.tensor_type == gguf.GGMLQuantizationType.F16
        scaled_b = b.astype(np.float64) * (ALPHA / RANK)
        if proj in ("self_attn.q_proj", "self_attn.k_proj"):
            scaled_b = _permute_qk(scaled_b, HEADS if proj == "self_attn.q_proj" else KV_HEADS)
        np.testing.assert_array_equal(np.asarray(lora_a.data), a.astype(np.float16))
        np.testing.assert_array_equal(np.asarray(lora_b.data), scaled_b.astype(np.float32).astype(np.float16))


def test_float32_keeps_the_values_and_qwen_rows_stay_in_order(tmp_path: Path) -> None:
    qwen = write_qwen_gguf(tmp_path / "qwen.gguf", num_layers=LAYERS, hidden_size=HIDDEN, intermediate_size=FFN,
                           num_heads=HEADS, num_kv_heads=KV_HEADS)
    factors = _adapter(tmp_path / "adapter", seed=1)
    out = write_gguf_lora(tmp_path / "adapter", qwen, tmp_path / "adapter.gguf", dtype="float32")
    reader = gguf.GGUFReader(out)
    assert reader.fields["general.architecture"].contents() == "qwen2"
    got = {x.name: x for x in reader.tensors}
    for proj in ("q_proj", "k_proj"):
        t = got[f"blk.1.attn_{proj[0]}.weight.lora_b"]
        assert t.tensor_type == gguf.GGMLQuantizationType.F32
        want = (factors[f"model.layers.1.self_attn.{proj}"][1].astype(np.float64) * (ALPHA / RANK)).astype(np.float32)
        np.testing.assert_array_equal(np.asarray(t.data), want)  # Qwen GGUFs keep Hugging Face's row order


def test_gemma3_rows_stay_in_order(tmp_path: Path) -> None:
    gemma = write_gemma3_gguf(tmp_path / "gemma.gguf", write_gemma3_checkpoint(tmp_path / "hf"))
    _, table = parse_gguf(gemma)
    shapes = {name.split(".", 2)[2].removesuffix(".weight"): shape for name, _, shape, _ in table
              if name.startswith("blk.0.") and name.endswith(".weight") and len(shape) == 2}
    by_gguf = {v: k for k, v in GGUF_PROJECTIONS.items()}
    factors = write_peft_adapter(tmp_path / "adapter", layers=1, shapes={
        by_gguf[name]: (int(shape[0]), int(shape[1])) for name, shape in shapes.items() if name in by_gguf})
    write_gguf_lora(tmp_path / "adapter", gemma, tmp_path / "adapter.gguf", dtype="float32")
    reader = gguf.GGUFReader(tmp_path / "adapter.gguf")
    assert reader.fields["general.architecture"].contents() == "gemma3"
    got = {x.name: np.asarray(x.data) for x in reader.tensors}
    assert len(got) == 2 * 7
    for proj in ("q_proj", "k_proj"):
        want = (factors[f"model.layers.0.self_attn.{proj}"][1].astype(np.float64) * (ALPHA / RANK)).astype(np.float32)
        np.testing.assert_array_equal(got[f"blk.0.attn_{proj[0]}.weight.lora_b"], want)


def test_bases_llama_cpp_would_run_differently_are_named() -> None:
    assert unsupported_base({"general.architecture": "llama"}) is None
    assert unsupported_base({"general.architecture": "qwen3", "qwen3.layer_sharing": False}) is None
    assert unsupported_base({"general.architecture": "llama", "llama.layer_sharing": False}) is None
    assert "blocks are shared" in str(unsupported_base({"general.architecture": "llama", "llama.layer_sharing": True}))
    assert "'mobilellm'" in str(unsupported_base({"general.architecture": "mobilellm"}))  # llama.cpp has no such arch
    assert "itself an adapter" in str(unsupported_base({"general.architecture": "llama", "general.type": "adapter"}))
    assert "['llama']" in str(unsupported_base({"general.architecture": ["llama"]}))  # a hostile value, no TypeError
    assert "None" in str(unsupported_base({}))


def test_the_refusal_for_a_base_model_path(base: Path, tmp_path: Path) -> None:
    """What tune and compile --adapter both ask before writing adapter.gguf."""
    assert gguf_adapter_refusal(base) is None and gguf_adapter_refusal(str(base)) is None
    (tmp_path / "config.json").write_text("{}")
    assert gguf_adapter_refusal(tmp_path) == "the base model is not a GGUF file"  # a Hugging Face folder
    (tmp_path / "model.gguf").write_bytes(b"PK\x03\x04")
    assert gguf_adapter_refusal(tmp_path / "model.gguf") == "the base model is not a GGUF file"
    _adapter(tmp_path / "adapter")
    lora = write_gguf_lora(tmp_path / "adapter", base, tmp_path / "adapter.gguf")
    assert "itself an adapter" in str(gguf_adapter_refusal(lora))  # an adapter given as the base


def test_an_adapter_that_does_not_fit_the_base_is_refused_before_writing(base: Path, tmp_path: Path) -> None:
    wide = {p: (n_out * 2 if p == "mlp.up_proj" else n_out, n_in) for p, (n_out, n_in) in OUT_IN.items()}
    _adapter(tmp_path / "wide", shapes=wide)
    with pytest.raises(ModelFormatError, match=r"does not fit(.|\n)*mlp.up_proj: the adapter's update is \(320, 64\)"):
        write_gguf_lora(tmp_path / "wide", base, tmp_path / "wide.gguf")
    _adapter(tmp_path / "deep", layers=LAYERS + 1)
    with pytest.raises(ModelFormatError, match=r"has no tensor blk\.2\.attn_q\.weight"):
        write_gguf_lora(tmp_path / "deep", base, tmp_path / "deep.gguf")
    assert not (tmp_path / "wide.gguf").exists() and not (tmp_path / "deep.gguf").exists()


def test_values_the_storage_cannot_hold_and_unknown_settings_are_refused(base: Path, tmp_path: Path) -> None:
    _adapter(tmp_path / "big", scale_b=1e4)  # s B reaches ~1e5, past float16's 65504
    with pytest.raises(ModelFormatError, match="float16 cannot store"):
        write_gguf_lora(tmp_path / "big", base, tmp_path / "big.gguf")
    assert write_gguf_lora(tmp_path / "big", base, tmp_path / "big32.gguf", dtype="float32").is_file()
    with pytest.raises(UserError, match="dtype must be one of"):
        write_gguf_lora(tmp_path / "big", base, tmp_path / "x.gguf", dtype="bfloat16")
    with pytest.raises(ModelFormatError, match="itself an adapter"):
        write_gguf_lora(tmp_path / "big", tmp_path / "big32.gguf", tmp_path / "x.gguf")
    with pytest.raises(UserError, match="replace its own base"):
        write_gguf_lora(tmp_path / "big", base, base, dtype="float32")
    not_gguf = tmp_path / "not.gguf"
    not_gguf.write_bytes(b"GGUF" + b"\0" * 7)
    with pytest.raises(ModelFormatError):
        write_gguf_lora(tmp_path / "big", not_gguf, tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()


def test_tensors_come_in_layer_and_projection_order(base: Path, tmp_path: Path) -> None:
    _adapter(tmp_path / "adapter")
    arch, rank, tensors = gguf_lora_tensors(tmp_path / "adapter", base)
    assert (arch, rank) == ("llama", RANK)
    names = list(tensors)
    assert names[:4] == ["blk.0.attn_q.weight.lora_a", "blk.0.attn_q.weight.lora_b", "blk.0.attn_k.weight.lora_a",
                         "blk.0.attn_k.weight.lora_b"]
    assert names[-1] == f"blk.{LAYERS - 1}.ffn_down.weight.lora_b"


def test_a_failed_write_leaves_nothing_behind(base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _adapter(tmp_path / "adapter")
    write_gguf_lora(tmp_path / "adapter", base, tmp_path / "adapter.gguf")
    before = (tmp_path / "adapter.gguf").read_bytes()

    def disk_full(self: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gguf.GGUFWriter, "write_tensors_to_file", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_gguf_lora(tmp_path / "adapter", base, tmp_path / "adapter.gguf", dtype="float32")
    assert (tmp_path / "adapter.gguf").read_bytes() == before  # the earlier file is kept whole
    assert sorted(x.name for x in tmp_path.iterdir()) == ["adapter", "adapter.gguf"]  # no .part left


def test_adapter_gguf_storage_follows_the_bundles_factors() -> None:
    """float16 factors stay float16; int8 levels times their float32 scales, and float32, need float32."""
    assert gguf_lora_dtype("float16") == "float16"
    assert gguf_lora_dtype("int8") == gguf_lora_dtype("float32") == "float32"
    with pytest.raises(UserError, match="bfloat16"):
        gguf_lora_dtype("bfloat16")
