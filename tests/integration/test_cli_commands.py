"""Every subcommand documents itself with examples; bench measures a bundle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

COMMANDS = ["compile", "run", "chat", "eval", "serve", "bench", "info"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent_sdk.cli", *args], capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_examples(command: str) -> None:
    r = _cli(command, "--help")
    assert r.returncode == 0, r.stderr
    assert "examples:" in r.stdout and f"agent-sdk {command}" in r.stdout


def test_top_level_help_lists_every_command() -> None:
    r = _cli("--help")
    assert r.returncode == 0
    for command in COMMANDS:
        assert command in r.stdout


def test_unknown_command_is_a_usage_error() -> None:
    r = _cli("frobnicate")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_bench_json(llama_ckpt: Path, compile_bundle: Callable[..., Path]) -> None:
    bundle = compile_bundle(llama_ckpt, "f32")
    r = _cli("bench", "--model", str(bundle), "--prompt-lens", "16,32", "--decode-tokens", "8", "--repeats", "1", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [row["prompt_tokens"] for row in data["results"]] == [16, 32]
    for row in data["results"]:
        assert row["prefill_tok_s"] > 0 and row["decode_tok_s"] > 0 and row["decode_tokens"] == 8
    assert data["peak_rss_mb"] > 0
    r = _cli("bench", "--model", str(bundle), "--prompt-lens", "5000", "--json")
    assert r.returncode == 2 and "context window" in r.stderr


def test_cached_bundle_is_rebuilt_when_the_compiler_code_changed(
    llama_ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent_sdk.cli import ensure_bundle
    from agent_sdk.manifest import compiler_fingerprint

    monkeypatch.setenv("AGENT_SDK_COMPILED", str(tmp_path))
    first = ensure_bundle(str(llama_ckpt), quant="f32", quiet=True)
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["compiler"] == compiler_fingerprint()
    built = manifest["created"], (first / "model.so").stat().st_mtime_ns
    again = ensure_bundle(str(llama_ckpt), quant="f32", quiet=True)  # same code: reused
    assert again == first and (first / "model.so").stat().st_mtime_ns == built[1]
    manifest["compiler"] = "0123456789abcdef"  # as if built by an older SDK's kernels
    (first / "manifest.json").write_text(json.dumps(manifest))
    rebuilt = ensure_bundle(str(llama_ckpt), quant="f32", quiet=True)
    assert json.loads((rebuilt / "manifest.json").read_text())["compiler"] == compiler_fingerprint()
    assert (rebuilt / "model.so").stat().st_mtime_ns != built[1]


def test_bench_table(llama_ckpt: Path, compile_bundle: Callable[..., Path]) -> None:
    bundle = compile_bundle(llama_ckpt, "f32")
    r = _cli("bench", "--model", str(bundle), "--prompt-lens", "16,24", "--decode-tokens", "4", "--repeats", "1")
    assert r.returncode == 0, r.stderr
    head, columns, *rows, rss = r.stdout.splitlines()
    assert head.startswith(f"{bundle.name}: ") and " threads, load " in head and head.endswith(" s")
    assert columns == f"{'prompt':>8} {'prefill tok/s':>14} {'TTFT ms':>9} {'decode tok/s':>13}"
    assert [row.split()[0] for row in rows] == ["16", "24"] and all(len(row.split()) == 4 for row in rows)
    assert rss.startswith("peak RSS ") and rss.endswith(" MiB  (compare with llama.cpp: python tools/bench_engine.py)")


def test_info_lists_bundles_and_describes_a_model(
    llama_ckpt: Path, compile_bundle: Callable[..., Path], tmp_path: Path
) -> None:
    bundle = compile_bundle(llama_ckpt, "f32")
    env_root = tmp_path / "compiled"
    (env_root / "copy").mkdir(parents=True)
    (env_root / "copy" / "manifest.json").write_bytes((bundle / "manifest.json").read_bytes())
    r = subprocess.run(
        [sys.executable, "-m", "agent_sdk.cli", "info", "--model", str(bundle), "--json"], capture_output=True,
        text=True, timeout=600, check=False, env={**os.environ, "AGENT_SDK_COMPILED": str(env_root)},
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert list(data) == ["tvm", "cpu", "targets", "bundles", "model", "source", "architecture", "parameters", "config"]
    assert data["bundles"] == [{"path": str(env_root / "copy"), "name": "llama", "quantization": "f32", "target": "host"}]
    assert (data["source"], data["architecture"]) == ("bundle", "llama")
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert data["parameters"] == manifest["parameters"] and data["config"] == manifest["model"]
    r = _cli("info", "--model", str(llama_ckpt))  # the checkpoint: the same model
    assert r.returncode == 0, r.stderr
    assert f"model {llama_ckpt}: llama, {manifest['parameters']:,} parameters" in r.stdout
    r = _cli("info", "--model", "no-such-model")
    assert r.returncode == 2 and "not a preset" in r.stderr
