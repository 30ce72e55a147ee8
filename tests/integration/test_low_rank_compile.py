"""A low-rank update kept beside the stored weights computes what the merged weights compute.

The reference is an independent route through the same compiler: the update
merged into float32 weights (``W + B A``, formed in float64) and compiled as a
plain f32 model. Tolerances (max |Δlogit| at every prompt position; logits are
O(1-3)): 1e-4 for f32 + update vs merged f32 (only summation order differs;
measured 1.8e-6), 2e-4 for q4 + update on a Q4_1 file vs the file's values
merged in f32 (the q4 kernel reads the file's blocks exactly; measured 1.5e-6).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from agent_sdk.compiler import compile_model
from agent_sdk.errors import ModelFormatError, UserError
from agent_sdk.manifest import verify_bundle
from agent_sdk.models.low_rank import int8_rows
from agent_sdk.models.mobilellm.mobilellm_loader import load_checkpoint
from agent_sdk.runtime import Engine
from agent_sdk.runtime.sampler import SamplingParams

pytestmark = pytest.mark.integration

PROMPT = [1, 17, 42, 99, 5, 200, 7, 31, 64, 128, 3, 250, 11, 300, 2, 77]
# Some projections of fused modules are left out on purpose (k in qkv, up in gate/up): their rows get zero columns.
PROJECTIONS = ("self_attn.q_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.down_proj")
RANK = 3


def _updates(ckpt_path: Path, seed: int, dtype: str = "float32",
             ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, np.ndarray]]:
    """Random updates big enough to move the logits, and the merged float32 weights they stand for (the factors
    rounded to ``dtype`` first, as a bundle storing them in it computes)."""
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
            a_kept, b_kept = (_stored(a, dtype), _stored(b, dtype))
            merged[f"{name}.weight"] = (w.astype(np.float64) + b_kept @ a_kept).astype(np.float32)
    return updates, merged


def _stored(m: np.ndarray, dtype: str) -> np.ndarray:
    """The values a bundle storing ``m`` in ``dtype`` computes with (int8: each row's levels times its scale)."""
    if dtype == "int8":
        q, scale = int8_rows(m)
        return q.astype(np.float64) * scale.astype(np.float64)[:, None]
    return m.astype(dtype).astype(np.float64)


@pytest.mark.parametrize(("source", "quant", "tol", "dtype"), [
    ("llama", "f32", 1e-4, "float32"), ("gguf", "q4", 2e-4, "float32"),
    ("gguf", "q4", 2e-4, "float16"),  # factors stored in float16: the reference merges the same rounded factors
    ("gguf", "q4", 2e-4, "int8"),  # int8 rows with their scales: the same
])
def test_update_beside_the_weights_equals_the_merged_weights(
    source: str, quant: str, tol: float, dtype: str, llama_ckpt: Path, gguf_file: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    path = llama_ckpt if source == "llama" else gguf_file("Q4_1")
    updates, merged = _updates(path, seed=3, dtype=dtype)
    kept = compile_model(path, quant=quant, out=tmp_path / "kept", low_rank=updates, low_rank_dtype=dtype)
    assert kept["low_rank"] == {"projections": len(updates), "modules": 4 * load_checkpoint(path).config
                                .num_hidden_layers, "parameters": kept["low_rank"]["parameters"], "dtype": dtype}
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
    with pytest.raises(ModelFormatError, match="float16 cannot store"):
        compile_model(llama_ckpt, quant="f32", out=tmp_path / "big", low_rank={name: (a * 1e5, b)},
                      low_rank_dtype="float16")
    with pytest.raises(ModelFormatError, match="not finite"):
        compile_model(llama_ckpt, quant="f32", out=tmp_path / "nan", low_rank={name: (a, b * np.nan)})
    with pytest.raises(UserError, match="low_rank_dtype"):
        compile_model(llama_ckpt, quant="f32", out=tmp_path / "bf", low_rank={name: (a, b)}, low_rank_dtype="bfloat16")
    for rounded in ("q4a8", "q4a16"):  # trained with float activations: rounding them would not compute the same
        with pytest.raises(UserError, match="float activations"):
            compile_model(llama_ckpt, quant=rounded, out=tmp_path / rounded, low_rank={name: (a, b)})
    assert not any(tmp_path.iterdir())


def test_auto_keeps_float_activations_for_an_update(
    llama_ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a CPU where ``auto`` would pick q4a16, a model with an update beside its weights still compiles q4."""
    from agent_sdk.compiler import quant_choice

    monkeypatch.setattr(quant_choice, "_cpu_flags", lambda: {"avx512_vnni", "avx512bw"})
    monkeypatch.delenv("AGENT_SDK_NO_INT16", raising=False)
    updates, _ = _updates(llama_ckpt, seed=0)
    name = "model.layers.0.self_attn.q_proj"
    manifest = compile_model(llama_ckpt, quant="auto", out=tmp_path / "kept", low_rank={name: updates[name]})
    assert manifest["quantization"]["name"] == "q4"


def _write_adapter(folder: Path, updates: dict[str, tuple[np.ndarray, np.ndarray]], alpha: float,
                   **config: object) -> Path:
    """A PEFT LoRA folder holding ``updates`` (B unscaled: PEFT scales by alpha / r at run time)."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for name, (a, b) in updates.items():
        tensors[f"base_model.model.{name}.lora_A.weight"] = a
        tensors[f"base_model.model.{name}.lora_B.weight"] = b
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    cfg = {"peft_type": "LORA", "r": RANK, "lora_alpha": alpha, "bias": "none",
           "target_modules": [p.split(".")[1] for p in PROJECTIONS], **config}
    (folder / "adapter_config.json").write_text(json.dumps(cfg))
    return folder


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent_sdk.cli", "compile", *args], check=False, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.parametrize("dtype", ["float32", "int8", None])  # None: the default, float16 factors
def test_compile_takes_a_peft_adapter_folder(llama_ckpt: Path, tmp_path: Path, dtype: str | None) -> None:
    updates, _ = _updates(llama_ckpt, seed=5)
    alpha = 6.0  # scale alpha / r = 2
    adapter = _write_adapter(tmp_path / "my-lora", updates, alpha)
    proc = _cli(str(llama_ckpt), "--quant", "f32", "--adapter", str(adapter), "--out", str(tmp_path / "b"), "--json",
                *(["--low-rank-dtype", dtype] if dtype else []))
    assert proc.returncode == 0, proc.stderr
    manifest = verify_bundle(tmp_path / "b")
    assert manifest["adapter"]["r"] == RANK and manifest["name"].endswith("-my-lora")
    assert manifest["adapter"]["layers_to_transform"] is None  # every block
    assert "adapter_model.safetensors" in manifest["files"] and manifest["low_rank"]["projections"] == len(updates)
    assert manifest["low_rank"]["dtype"] == (dtype or "float16")
    # a Hugging Face folder: llama.cpp runs GGUF files, so there is no adapter.gguf, and the command says why
    assert "adapter.gguf" not in manifest["files"] and "adapter.gguf" not in manifest["adapter"]["files"]
    assert "no adapter.gguf for llama.cpp: the base model is not a GGUF file" in proc.stderr
    assert json.loads(proc.stdout)["path"]  # the note is on stderr: stdout stays the one JSON line
    store = dtype or "float16"  # the reference merges the factors as the bundle stores them
    ckpt = load_checkpoint(llama_ckpt)
    merged = {f"{n}.weight": (ckpt.tensors[f"{n}.weight"].as_float().astype(np.float64)
                              + _stored(((alpha / RANK) * b.astype(np.float64)).astype(np.float32), store)
                              @ _stored(a, store)).astype(np.float32)
              for n, (a, b) in updates.items()}
    ref = compile_model(llama_ckpt, quant="f32", out=tmp_path / "merged", tensor_overrides=merged)
    e_kept, e_ref = Engine(tmp_path / "b"), Engine(ref.path)
    prompt = [t % e_kept.vocab_size for t in PROMPT]
    err = float(np.abs(e_kept.logits(prompt) - e_ref.logits(prompt)).max())
    assert err <= 1e-4, f"adapter compiled beside the weights vs merged: {err}"


@pytest.mark.parametrize("dtype", ["float32", "int8", None])
def test_compile_of_a_gguf_base_also_writes_the_adapter_for_llama_cpp(
    gguf_file: Callable[[str], Path], tmp_path: Path, dtype: str | None
) -> None:
    """On a GGUF base llama.cpp runs, the bundle holds ``adapter.gguf``: llama.cpp's names and Q/K row order, the
    scale folded into B, the factors as the bundle stores them (exactly; int8 bundles: the adapter's own values in
    float32; llama.cpp computing with the file is tests/integration/test_gguf_lora_llama_cpp.py)."""
    from agent_sdk.models.gguf_lora import gguf_lora_dtype, gguf_lora_tensors
    from agent_sdk.models.gguf_reader import parse_gguf

    base = gguf_file("Q4_1")
    updates, _ = _updates(base, seed=8)
    adapter = _write_adapter(tmp_path / "my-lora", updates, alpha=6.0)
    proc = _cli(str(base), "--quant", "q4", "--adapter", str(adapter), "--out", str(tmp_path / "b"),
                *(["--low-rank-dtype", dtype] if dtype else []))
    assert proc.returncode == 0, proc.stderr
    assert "adapter.gguf" not in proc.stderr  # no note: it was written
    manifest = verify_bundle(tmp_path / "b")  # hashed like every file of the bundle
    assert "adapter.gguf" in manifest["files"] and "adapter.gguf" in manifest["adapter"]["files"]
    store = gguf_lora_dtype(dtype or "float16")
    _, rank, want = gguf_lora_tensors(adapter, base)
    meta, table = parse_gguf(tmp_path / "b" / "adapter.gguf")
    assert meta["general.type"] == "adapter" and meta["adapter.lora.alpha"] == float(rank)
    got = {name: np.asarray(data) for name, _, _, data in table}
    assert sorted(got) == sorted(want) and len(got) == 2 * len(updates)
    for name, t in want.items():
        assert got[name].dtype == np.dtype(store)
        np.testing.assert_array_equal(got[name], t.astype(store), err_msg=name)
    # and the bundle's update is the same factors: its logits are the merged file's (the test above's reference)
    assert manifest["low_rank"]["dtype"] == (dtype or "float16")


def test_compile_refuses_an_adapter_that_does_not_fit_the_gguf_before_compiling(
    gguf_file: Callable[[str], Path], tmp_path: Path
) -> None:
    base = gguf_file("Q4_1")
    updates, _ = _updates(base, seed=9)
    updates = {n.replace("layers.0.", "layers.7."): f for n, f in updates.items()}  # the file has 3 layers
    adapter = _write_adapter(tmp_path / "wrong", updates, alpha=6.0)
    proc = _cli(str(base), "--quant", "q4", "--adapter", str(adapter), "--out", str(tmp_path / "never"))
    assert proc.returncode != 0 and "layers.7" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "never").exists()


@pytest.mark.parametrize(("change", "message"), [
    ({"config": {"use_dora": True}}, "use_dora"),
    ({"config": {"r": 0}}, "r is 0"),
    ({"config": {"target_modules": ["q_proj"]}}, "not among the config's target_modules"),
    ({"config": {"target_modules": ["lm_head"]}}, "lm_head"),
    ({"config": {"layers_to_transform": [1]}}, "block 0 is not among the config's layers_to_transform"),
    ({"config": {"layers_to_transform": [0], "layers_pattern": "h"}}, "layers_pattern is 'h'"),
    ({"drop": "B"}, "lora_B.weight is missing"),
    ({"rank": 2}, "does not have rank"),
    ({"shape": True}, "do not fit"),
    ({"garbage": True}, "adapter_model.safetensors"),
])
def test_bad_adapters_are_refused_by_name(llama_ckpt: Path, tmp_path: Path, change: dict, message: str) -> None:
    updates, _ = _updates(llama_ckpt, seed=6)
    if "drop" in change:
        updates = {n: (a, b) for n, (a, b) in updates.items()}
    if "rank" in change:
        updates = {n: (a[:2], b[:, :2]) for n, (a, b) in updates.items()}
    if "shape" in change:
        updates = {n: (a[:, :-1], b) for n, (a, b) in updates.items()}
    folder = _write_adapter(tmp_path / "bad", updates, 6.0, **change.get("config", {}))
    if "drop" in change:
        from safetensors.numpy import load_file, save_file

        kept = {k: v for k, v in load_file(str(folder / "adapter_model.safetensors")).items()
                if "layers.0.self_attn.q_proj.lora_B" not in k}
        save_file(kept, str(folder / "adapter_model.safetensors"))
    if "garbage" in change:
        (folder / "adapter_model.safetensors").write_bytes(b"\xff" * 40)
    proc = _cli(str(llama_ckpt), "--quant", "f32", "--adapter", str(folder), "--out", str(tmp_path / "never"))
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "never").exists()


def test_low_rank_dtype_needs_an_adapter(llama_ckpt: Path, tmp_path: Path) -> None:
    proc = _cli(str(llama_ckpt), "--quant", "f32", "--low-rank-dtype", "float16", "--out", str(tmp_path / "b"))
    assert proc.returncode != 0 and "--adapter" in proc.stderr
    assert not (tmp_path / "b").exists()
