"""``tools/bench_engine.py``'s bytes per decoded token and its llama.cpp peer files (``tools/_llama_peer.py``).

* Bytes one decode step reads, on tiny compiled bundles: every weight once
  (a tied embedding once, as the output head; an untied model's input
  embedding as one row), plus the KV cache at a given context, checked
  against the bundle's own file size and the model's dimensions.
* ``--peer-quant q4_0``: llama.cpp's own quantizer makes a Q4_0 file from a
  tiny F32 GGUF, cached and not made again. Skipped without llama-cpp-python
  (``./dev setup`` does not install it; the ``bench`` extra does).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from agent_sdk.models.gguf_reader import parse_gguf
from tests.fixtures.checkpoints import write_llama_checkpoint

pytestmark = pytest.mark.integration

_TOOLS = Path(__file__).resolve().parents[2] / "tools"
_GGML_Q4_0 = 2
_LLAMA_FTYPE_MOSTLY_Q4_0 = 2
# The tiny llama checkpoint (tests/fixtures/checkpoints.py defaults).
_LAYERS, _KV_HEADS, _HEAD_DIM, _VOCAB = 3, 2, 16, 384


def _load(name: str) -> ModuleType:
    """A script under tools/ as a module (registered: bench_engine's dataclasses look their module up)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _TOOLS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _load("bench_engine")


def _tensor_bytes(params: Path) -> dict[str, int]:
    """Tensor name -> bytes, from the file's data size and offsets (the header read independently)."""
    raw = params.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    header.pop("__metadata__", None)
    sizes = {k: v["data_offsets"][1] - v["data_offsets"][0] for k, v in header.items()}
    assert sum(sizes.values()) == len(raw) - 8 - n  # the tensors fill the data section
    return sizes


def test_bytes_per_token_of_a_tied_q4_bundle(
    bench: ModuleType, compile_bundle: Callable[..., Path], llama_ckpt: Path
) -> None:
    bundle = compile_bundle(llama_ckpt, "q4")
    params = bundle / "params.safetensors"
    sizes = _tensor_bytes(params)
    assert not any(k.startswith("lm_head.") for k in sizes)  # tied: the embedding is the head
    embed = sum(v for k, v in sizes.items() if k.startswith("embed_tokens."))
    kv_per_token = _LAYERS * 2 * _KV_HEADS * _HEAD_DIM * 4  # K and V, float32 cache

    got = bench.decode_bytes_per_token(bundle, 100)
    assert got["weights"] == params.stat().st_size - 8 - int.from_bytes(params.read_bytes()[:8], "little")
    assert got["head"] == embed > 0
    assert got["kv"] == 100 * kv_per_token
    assert got["kv_tokens"] == 100
    assert got["total"] == got["weights"] + got["kv"]
    assert bench.decode_bytes_per_token(bundle, 0)["kv"] == 0
    assert bench.projected_pi5_tok_s(got["total"]) == pytest.approx(bench.PI5_DECODE_GB_S * 1e9 / got["total"])


def test_bytes_per_token_of_an_untied_bundle_reads_one_embedding_row(
    bench: ModuleType, compile_bundle: Callable[..., Path], ckpt_dir: Path
) -> None:
    ckpt = write_llama_checkpoint(ckpt_dir / "llama-untied-bench", tie_word_embeddings=False)
    bundle = compile_bundle(ckpt, "f32")
    sizes = _tensor_bytes(bundle / "params.safetensors")
    head = sum(v for k, v in sizes.items() if k.startswith("lm_head."))
    embed = sum(v for k, v in sizes.items() if k.startswith("embed_tokens."))
    assert head > 0 and embed > 0

    got = bench.decode_bytes_per_token(bundle, 0)
    assert got["head"] == head
    assert got["weights"] == sum(sizes.values()) - embed + embed // _VOCAB  # float32 rows divide exactly


def test_kv_cache_bytes_follow_the_cache_layout(bench: ModuleType) -> None:
    model = {"num_hidden_layers": 30, "num_key_value_heads": 3, "head_dim": 64}
    assert bench.kv_cache_bytes(model, 1, 4) == 46_080  # SmolLM2-135M: 46 KB a token in float32
    assert bench.kv_cache_bytes(model, 128, 2) == 128 * 23_040
    assert bench.kv_cache_bytes({**model, "layer_sharing": True}, 10, 4) == 2 * bench.kv_cache_bytes(model, 10, 4)
    local = {**model, "num_hidden_layers": 2, "sliding_window": 8, "layer_types": ["sliding_attention", "full_attention"]}
    assert bench.kv_cache_bytes(local, 20, 4) == (8 + 20) * 2 * 3 * 64 * 4


def test_a_table_has_ours_and_every_peer_with_its_ratio(bench: ModuleType) -> None:
    args = argparse.Namespace(prompt_lens=[64], decode_tokens=8, ttft_len=64)

    def result(prefill: float, decode: float, tensor_bytes: int | None = None) -> dict[str, object]:
        info: dict[str, object] = {"weight_bytes": 1_000_000}
        if tensor_bytes is not None:
            info["tensor_bytes"] = tensor_bytes
        return {
            "prefill": {"64": {"tok_s": prefill}}, "decode_tok_s": decode, "decode_tokens": 8, "ttft_ms": 10.0,
            "load_s": 0.1, "peak_rss_mib": 100.0, "cpu_per_wall": 1.0, "other_cpus": 0.0, "info": info,
        }

    ours = result(200.0, 100.0)
    peers = [result(100.0, 50.0, 2_000_000), result(400.0, 200.0, 1_000_000)]
    model = {"num_hidden_layers": 1, "num_key_value_heads": 1, "head_dim": 8}
    bpt = {"weights": 1_000_000, "head": 0, "kv": 0, "kv_tokens": 0, "total": 1_000_000}
    rows = bench.build_rows(ours, peers, args, 10.0, bpt, model)
    head = bench.table_head(["Q4_1, same file", "Q4_0, requantized"])
    assert head[2:] == ["llama.cpp Q4_1, same file", "ours/Q4_1", "llama.cpp Q4_0, requantized", "ours/Q4_0"]
    assert all(len(r) == len(head) for r in rows)
    by_metric = {r[0]: r for r in rows}
    assert by_metric["prefill tok/s, 64-token prompt"][1:] == ["200.0", "100.0", "2x", "400.0", "0.5x"]
    assert by_metric["decode tok/s, 8 greedy tokens"][3] == "2x"
    pi5 = next(r for r in rows if r[0].startswith("projected Pi 5"))
    assert pi5[1] == bench._fmt(bench.PI5_DECODE_GB_S * 1e9 / 1_000_000)
    assert pi5[3] == "2x"  # the first llama.cpp file reads twice our bytes
    assert pi5[5] == "1x"


# ----------------------------------------------------------- llama.cpp peer files


@pytest.fixture(scope="module")
def peer() -> ModuleType:
    return _load("_llama_peer")


def test_a_gguf_file_given_is_what_ours_compiles(
    bench: ModuleType, gguf_file: Callable[[str], Path], tmp_path: Path
) -> None:
    # --gguf without --bundle: ours is compiled from that file, not from the default preset (SmolLM2)
    src = gguf_file("F32")
    bench.select_model(tmp_path / "elsewhere" / src.name)
    elsewhere = bench._MODEL["name"]
    bench.select_model(src)
    # a file of the same name elsewhere gets its own bundle folder, and neither is the preset's
    assert bench._MODEL["name"] != elsewhere and bench.MODEL not in (elsewhere, bench._MODEL["name"])
    try:
        bundle = bench.compile_bundle("f32", tmp_path / "ours")
    finally:
        bench.select_model(None)
    assert bench._MODEL == {"source": bench.MODEL, "name": bench.MODEL}
    model = json.loads((bundle / "manifest.json").read_text())["model"]
    assert model["vocab_size"] == _VOCAB and model["num_hidden_layers"] == _LAYERS


def test_same_peer_is_the_file_itself_and_unknown_kinds_raise(peer: ModuleType, tmp_path: Path) -> None:
    src = tmp_path / "model.gguf"
    assert peer.peer_gguf(src, "same", tmp_path / "peer") == src
    with pytest.raises(ValueError, match="unknown peer file kind"):
        peer.peer_gguf(src, "q3_k", tmp_path / "peer")


def test_q4_0_peer_file_is_made_by_llama_cpp_quantizer_and_cached(
    peer: ModuleType, gguf_file: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if importlib.util.find_spec("llama_cpp") is None:  # used in a child process only
        pytest.skip("llama-cpp-python (the quantizer) is not installed: pip install '.[bench]'")
    src = gguf_file("F32")
    cache = tmp_path / "peer"

    made = peer.peer_gguf(src, "q4_0", cache)
    assert made == cache / f"{src.stem}.q4_0.gguf" == peer.peer_path(src, "q4_0", cache)
    assert sorted(p.name for p in cache.iterdir()) == [made.name]  # no partial file left behind
    meta, tensors = parse_gguf(made)
    assert meta["general.file_type"] == _LLAMA_FTYPE_MOSTLY_Q4_0
    blocks = {name: ggml_type for name, ggml_type, shape, _ in tensors if name.startswith("blk.") and len(shape) == 2}
    assert blocks and all(t == _GGML_Q4_0 for t in blocks.values()), blocks

    def no_quantizer(*_args: object, **_kwargs: object) -> Path:
        raise AssertionError("the cached file should have been reused")

    monkeypatch.setattr(peer, "requantize_gguf", no_quantizer)
    assert peer.peer_gguf(src, "q4_0", cache) == made
