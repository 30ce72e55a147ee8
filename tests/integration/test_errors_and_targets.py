"""Bad input gets a clear error: corrupted bundles, truncated weights, wrong
configs, unknown targets, overflowing contexts; ARM64 cross-compilation."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from agent_sdk.compiler import compile_model
from agent_sdk.errors import BundleError, ConfigError, ContextOverflowError, ModelFormatError, TargetError
from agent_sdk.runtime import Engine, SamplingParams

pytestmark = pytest.mark.integration

EM_AARCH64 = 183


def _copy_bundle(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_corrupted_library_is_refused_before_loading(
    llama_ckpt: Path, compile_bundle: Callable[..., Path], tmp_path: Path
) -> None:
    b = _copy_bundle(compile_bundle(llama_ckpt, "f32"), tmp_path / "b")
    lib = b / "model.so"
    data = bytearray(lib.read_bytes())
    data[len(data) // 2] ^= 0xFF
    lib.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"model\.so does not match its sha256"):
        Engine(b)


def test_truncated_bundle_weights_are_refused(llama_ckpt: Path, compile_bundle: Callable[..., Path], tmp_path: Path) -> None:
    b = _copy_bundle(compile_bundle(llama_ckpt, "f32"), tmp_path / "b")
    p = b / "params.safetensors"
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(BundleError, match="truncated"):
        Engine(b)


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_corrupted_weights_are_refused(
    llama_ckpt: Path, compile_bundle: Callable[..., Path], tmp_path: Path, where: str
) -> None:
    """The weights' sha256 is checked in the pass that reads them: one flipped data byte anywhere is caught."""
    b = _copy_bundle(compile_bundle(llama_ckpt, "f32"), tmp_path / "b")
    p = b / "params.safetensors"
    data = bytearray(p.read_bytes())
    first = 8 + int.from_bytes(data[:8], "little")  # the first byte after the header
    i = {"first": first, "middle": (first + len(data)) // 2, "last": len(data) - 1}[where]
    data[i] ^= 0x01
    p.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"params\.safetensors does not match its sha256"):
        Engine(b)


def test_library_swapped_for_another_is_refused(
    llama_ckpt: Path, mobilellm_ckpt: Path, compile_bundle: Callable[..., Path], tmp_path: Path
) -> None:
    b = _copy_bundle(compile_bundle(llama_ckpt, "f32"), tmp_path / "b")
    shutil.copy(compile_bundle(mobilellm_ckpt, "f32") / "model.so", b / "model.so")
    with pytest.raises(BundleError):
        Engine(b)


def test_manifest_without_library_entry_is_refused(llama_ckpt: Path, compile_bundle: Callable[..., Path], tmp_path: Path) -> None:
    b = _copy_bundle(compile_bundle(llama_ckpt, "f32"), tmp_path / "b")
    man = json.loads((b / "manifest.json").read_text())
    del man["files"]["model.so"]
    (b / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(BundleError, match="does not list model.so"):
        Engine(b)


def test_a_tokenizer_dropped_from_the_manifest_is_refused(
    llama_ckpt: Path, compile_bundle: Callable[..., Path], tmp_path: Path
) -> None:
    """The runtime reads tokenizer.json by name: unlisted, it would be loaded unverified."""
    b = _copy_bundle(compile_bundle(llama_ckpt, "f32"), tmp_path / "b")
    man = json.loads((b / "manifest.json").read_text())
    del man["files"]["tokenizer.json"]
    (b / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(BundleError, match="manifest does not list tokenizer.json; refusing to load an unverified file"):
        Engine(b)
    del man["tokenizer"]  # not named either: still found by name, so still refused
    (b / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(BundleError, match="tokenizer.json is not listed in the manifest, and the runtime would read it unverified"):
        Engine(b)


def _swap_in_params_header(params: Path, old: bytes, new: bytes) -> None:
    raw = params.read_bytes()
    n = 8 + int.from_bytes(raw[:8], "little")
    assert len(old) == len(new) and old in raw[:n]
    params.write_bytes(raw[:n].replace(old, new, 1) + raw[n:])


def test_a_tampered_weights_header_is_refused_before_it_is_parsed(
    llama_ckpt: Path, compile_bundle: Callable[..., Path], tmp_path: Path
) -> None:
    b = _copy_bundle(compile_bundle(llama_ckpt, "f32"), tmp_path / "b")
    man = json.loads((b / "manifest.json").read_text())
    assert man["files"]["params.safetensors"]["header_sha256"]
    _swap_in_params_header(b / "params.safetensors", b'"F32"', b'"I32"')  # a valid header, not the hashed one
    with pytest.raises(BundleError, match=r"params\.safetensors: its header does not match the sha256 in the manifest"):
        Engine(b)
    # A bundle from before header hashes: the whole file is hashed before its header is parsed.
    del man["files"]["params.safetensors"]["header_sha256"]
    (b / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(BundleError, match=r"params\.safetensors does not match its sha256"):
        Engine(b)


def test_weights_load_without_param_order_and_header_hash(
    llama_ckpt: Path, compile_bundle: Callable[..., Path], tmp_path: Path
) -> None:
    """Older manifests: the order is the verified header's, the header checked with the whole file."""
    src = compile_bundle(llama_ckpt, "f32")
    b = _copy_bundle(src, tmp_path / "b")
    man = json.loads((b / "manifest.json").read_text())
    del man["param_order"]
    del man["files"]["params.safetensors"]["header_sha256"]
    (b / "manifest.json").write_text(json.dumps(man))
    ids = list(range(3, 20))
    np.testing.assert_array_equal(Engine(b).logits(ids), Engine(src).logits(ids))


def test_config_json_that_is_not_an_object(llama_ckpt: Path, tmp_path: Path) -> None:
    ck = tmp_path / "ck"
    shutil.copytree(llama_ckpt, ck)
    (ck / "config.json").write_text("[1, 2]")
    with pytest.raises(ModelFormatError, match=r"config\.json: expected a JSON object, found a JSON list"):
        compile_model(ck, quant="f32", out=tmp_path / "out")
    r = subprocess.run(
        [sys.executable, "-m", "agent_sdk.cli", "compile", str(ck), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert r.returncode == 1 and "expected a JSON object" in r.stderr and "Traceback" not in r.stderr


def test_truncated_checkpoint_weights(llama_ckpt: Path, tmp_path: Path) -> None:
    ck = tmp_path / "ck"
    shutil.copytree(llama_ckpt, ck)
    w = ck / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with pytest.raises(ModelFormatError, match="truncated"):
        compile_model(ck, quant="f32", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_truncated_gguf(gguf_file: Callable[[str], Path], tmp_path: Path) -> None:
    src = gguf_file("Q4_1")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(src.read_bytes()[: src.stat().st_size - 500])
    with pytest.raises(ModelFormatError):
        compile_model(bad, quant="q4", out=tmp_path / "out")


def test_wrong_config(llama_ckpt: Path, tmp_path: Path) -> None:
    ck = tmp_path / "ck"
    shutil.copytree(llama_ckpt, ck)
    cfg = json.loads((ck / "config.json").read_text())
    cfg["intermediate_size"] = cfg["intermediate_size"] * 2
    (ck / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFormatError, match=r"mlp\.gate_proj\.weight has shape .* expected"):
        compile_model(ck, quant="f32", out=tmp_path / "out")
    cfg["model_type"] = "gpt2"
    (ck / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="model_type 'gpt2' is not supported"):
        compile_model(ck, quant="f32", out=tmp_path / "out2")


def test_unknown_and_unavailable_targets(llama_ckpt: Path, tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="unknown target 'pi9'"):
        compile_model(llama_ckpt, target="pi9", out=tmp_path / "x")
    import tvm

    if str(tvm.support.libinfo().get("USE_VULKAN")).upper() != "ON":
        with pytest.raises(TargetError, match="USE_VULKAN=OFF"):
            compile_model(llama_ckpt, target="vulkan", out=tmp_path / "y")


def test_cli_errors_are_one_line_with_exit_codes(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "agent_sdk.cli", *args], capture_output=True, text=True, timeout=300, check=False)

    r = run("compile", "smollm2-135m", "--target", "pi9", "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "unknown target 'pi9'" in r.stderr and "Traceback" not in r.stderr
    r = run("compile", "smollm2-135m", "--target", "vulkan", "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "Vulkan" in r.stderr and "Traceback" not in r.stderr
    r = run("run", "--model", str(tmp_path / "nope"), "hi")
    assert r.returncode == 2 and "not a preset" in r.stderr
    r = run("run", "--max-tokens", "many", "hi")
    assert r.returncode == 2
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "manifest.json").write_text("{not json")
    r = run("run", "--model", str(bad), "hi")
    assert r.returncode == 1 and "unreadable manifest" in r.stderr and "Traceback" not in r.stderr


def test_context_overflow_error_and_policies(llama_ckpt: Path, compile_bundle: Callable[..., Path]) -> None:
    bundle = compile_bundle(llama_ckpt, "f32")
    eng = Engine(bundle, context_window=32)
    eng.eos_token_ids.clear()
    with pytest.raises(ContextOverflowError, match="context window is 32"):
        eng.generate(list(range(3, 40)), SamplingParams(max_tokens=4))
    # The prompt plus the requested tokens must fit: 17 + 16 > 32, 17 + 15 fits exactly.
    with pytest.raises(ContextOverflowError, match="prompt has 17 tokens and 16 more"):
        eng.generate(list(range(3, 20)), SamplingParams(max_tokens=16))
    g = eng.generate(list(range(3, 20)), SamplingParams(max_tokens=15, stop_token_ids=()))
    assert len(g.token_ids) == 15 and g.finish_reason == "length"
    trunc = Engine(bundle, context_window=32, overflow="truncate", keep_tokens=4)
    g = trunc.generate(list(range(3, 60)), SamplingParams(max_tokens=4, stop_token_ids=()))
    assert g.stats.prompt_tokens == 28


@pytest.mark.parametrize("target,mcpu", [("pi4", "cortex-a72"), ("pi5", "cortex-a76")])
def test_cross_compiles_for_raspberry_pi(
    target: str, mcpu: str, mobilellm_ckpt: Path, compile_bundle: Callable[..., Path]
) -> None:
    if shutil.which("aarch64-linux-gnu-g++") is None:
        pytest.fail("aarch64-linux-gnu-g++ missing: ./dev setup installs g++-aarch64-linux-gnu")
    b = compile_bundle(mobilellm_ckpt, "q4", target)
    lib = (b / "model.so").read_bytes()
    assert lib[:4] == b"\x7fELF" and lib[4] == 2  # 64-bit ELF
    assert int.from_bytes(lib[18:20], "little") == EM_AARCH64
    man = json.loads((b / "manifest.json").read_text())
    assert man["target"]["name"] == target and man["target"]["tvm"]["mcpu"] == mcpu
    assert man["target"]["arch"] == "aarch64"
    with pytest.raises(BundleError, match="compiled for aarch64"):
        Engine(b)
