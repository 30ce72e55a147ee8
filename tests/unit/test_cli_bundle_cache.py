"""The bundle cache behind ``agent-sdk run/chat/serve/bench`` (agent_sdk.compiler.cache), without TVM.

Compiling is replaced by a recorder here; tests/integration/test_cli_commands.py
compiles for real and checks that a bundle built by other compiler code is rebuilt.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent_sdk import cli
from agent_sdk.compiler import CompileResult, cache
from agent_sdk.manifest import compiler_fingerprint, cpu_fingerprint, write_manifest

pytestmark = pytest.mark.unit


@pytest.fixture
def compiled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "compiled"
    monkeypatch.setenv("AGENT_SDK_COMPILED", str(root))
    return root


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    folder = tmp_path / "Tiny_Model"  # a Hugging Face folder as far as resolving goes
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    return folder


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Records compile_model calls; each reports two stages and writes nothing."""
    calls: list[dict[str, Any]] = []

    def fake_compile(model: Path, **kwargs: Any) -> CompileResult:
        calls.append({"model": model, **kwargs})
        if kwargs["progress"] is not None:
            kwargs["progress"]("reading checkpoint", 0.02)
            kwargs["progress"]("done", 1.0)
        return CompileResult(path=str(kwargs["out"]))

    monkeypatch.setattr("agent_sdk.compiler.compile_model", fake_compile)
    return calls


def _write_cached(dest: Path, checkpoint: Path, **changes: Any) -> None:
    dest.mkdir(parents=True)
    (dest / "model.so").write_bytes(b"library")
    manifest = {
        "name": "tiny-model", "model": {}, "quantization": {"name": "f32"}, "target": {"name": "host"},
        "tvm_version": cache.tvm_version(), "compiler": compiler_fingerprint(), "source": {"path": str(checkpoint)},
        "library": "model.so", "params": "params.safetensors", "host": {"fingerprint": cpu_fingerprint()},
    }
    write_manifest(dest, {**manifest, **changes})


def test_a_bundle_folder_is_used_as_it_is(tmp_path: Path, compiles: list[dict[str, Any]]) -> None:
    bundle = tmp_path / "my-bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text("{}")
    assert cache.ensure_bundle(str(bundle), quant="q4") == bundle.resolve()
    assert compiles == []


def test_a_fresh_cached_bundle_is_reused(
    compiled: Path, checkpoint: Path, compiles: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    dest = compiled / "tiny-model-f32-host"
    _write_cached(dest, checkpoint.resolve())
    assert cache.ensure_bundle(str(checkpoint), quant="f32") == dest
    assert cli.ensure_bundle(str(checkpoint), quant="f32") == dest
    assert compiles == []
    assert capsys.readouterr().err == ""  # no notice and no progress display when nothing is compiled


@pytest.mark.parametrize(
    "stale",
    [{"compiler": "0123456789abcdef"}, {"tvm_version": "0.0.1"}, {"source": {"path": "/elsewhere"}},
     {"host": {"fingerprint": "another-cpu"}}, None],
    ids=["compiler-code", "tvm", "source", "cpu", "unreadable"],
)
def test_a_stale_cached_bundle_is_compiled_again(
    compiled: Path, checkpoint: Path, compiles: list[dict[str, Any]], stale: dict[str, Any] | None
) -> None:
    dest = compiled / "tiny-model-f32-host"
    _write_cached(dest, checkpoint.resolve(), **(stale or {}))
    if stale is None:
        (dest / "manifest.json").write_text("{not json")
    assert cache.ensure_bundle(str(checkpoint), quant="f32", quiet=True) == dest
    assert len(compiles) == 1
    call = compiles[0]
    assert (call["model"], call["out"], call["name"]) == (checkpoint.resolve(), dest, "tiny-model")
    assert (call["quant"], call["target"], call["progress"]) == ("f32", "host", None)


def test_another_cpu_does_not_matter_for_a_cross_target(
    compiled: Path, checkpoint: Path, compiles: list[dict[str, Any]]
) -> None:
    dest = compiled / "tiny-model-q4-pi5"
    _write_cached(dest, checkpoint.resolve(), host={"fingerprint": None})
    assert cache.ensure_bundle(str(checkpoint), quant="q4", target="pi5") == dest
    assert compiles == []


def test_compiling_says_so_and_reports_progress(
    compiled: Path, checkpoint: Path, compiles: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[tuple[str, float]] = []
    cache.ensure_bundle(str(checkpoint), quant="q8", progress=lambda msg, frac: seen.append((msg, frac)))
    assert seen == [("reading checkpoint", 0.02), ("done", 1.0)]
    dest = compiled / "tiny-model-q8-host"
    assert capsys.readouterr().err == f"compiling tiny-model (q8, host) into {dest} (first use; cached afterwards)\n"


def test_the_cli_shows_progress_as_plain_lines_off_a_terminal(
    compiled: Path, checkpoint: Path, compiles: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    dest = cli.ensure_bundle(str(checkpoint), quant="q4")
    assert dest == compiled / "tiny-model-q4-host"
    assert capsys.readouterr().err.splitlines() == [
        f"compiling tiny-model (q4, host) into {dest} (first use; cached afterwards)",
        "[  2%] reading checkpoint",
        "[100%] done",
    ]
    cli.ensure_bundle(str(checkpoint), quant="q4", quiet=True)
    assert capsys.readouterr().err == ""


def test_list_bundles(tmp_path: Path) -> None:
    assert cache.list_bundles(tmp_path / "missing") == []
    (tmp_path / "b-q4-host").mkdir()
    (tmp_path / "b-q4-host" / "manifest.json").write_text(
        json.dumps({"name": "b", "quantization": {"name": "q4"}, "target": {"name": "host"}})
    )
    (tmp_path / "a-broken").mkdir()
    (tmp_path / "a-broken" / "manifest.json").write_text("{not json")
    (tmp_path / "not-a-bundle").mkdir()
    assert cache.list_bundles(tmp_path) == [
        {"path": str(tmp_path / "a-broken"), "error": "unreadable manifest"},
        {"path": str(tmp_path / "b-q4-host"), "name": "b", "quantization": "q4", "target": "host"},
    ]


def test_list_bundles_defaults_to_the_compiled_root(compiled: Path) -> None:
    (compiled / "m-f32-host").mkdir(parents=True)
    (compiled / "m-f32-host" / "manifest.json").write_text(json.dumps({"name": "m"}))
    assert cache.list_bundles() == [{"path": str(compiled / "m-f32-host"), "name": "m", "quantization": None, "target": None}]


def test_the_compiler_exports_it() -> None:
    import agent_sdk.compiler

    assert agent_sdk.compiler.ensure_bundle is cache.ensure_bundle
    assert "ensure_bundle" in agent_sdk.compiler.__all__
