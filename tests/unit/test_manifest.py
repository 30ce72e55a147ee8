"""Bundle manifests: every file hashed on write, every file checked before loading."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from agent_sdk.errors import BundleError, EngineError
from agent_sdk.manifest import FORMAT_VERSION, MANIFEST, is_bundle, read_manifest, verify_bundle, write_manifest

pytestmark = pytest.mark.unit

_FILES = {
    "model.so": b"\x7fELF" + bytes(range(256)) * 8,
    "params.safetensors": b"\x10\x00\x00\x00\x00\x00\x00\x00{}" + b" " * 14 + bytes(1000),
    "tokenizer.json": b'{"model": {}}',
    "tokenizer_meta.json": b'{"add_bos": false}',
}


def _manifest(**overrides: Any) -> dict[str, Any]:
    base = {
        "name": "tiny", "model": {"vocab_size": 384}, "quantization": {"name": "q4"}, "target": {"name": "host"},
        "tvm_version": "0.27.0", "library": "model.so", "params": "params.safetensors",
    }
    base.update(overrides)
    return base


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    folder = tmp_path / "bundle"
    folder.mkdir()
    for name, data in _FILES.items():
        (folder / name).write_bytes(data)
    write_manifest(folder, _manifest())
    return folder


def _rewrite_manifest(folder: Path, **changes: Any) -> None:
    data = json.loads((folder / MANIFEST).read_text())
    data.update(changes)
    (folder / MANIFEST).write_text(json.dumps(data))


def test_write_manifest_hashes_every_file(bundle: Path) -> None:
    data = json.loads((bundle / MANIFEST).read_text())
    assert data["format_version"] == FORMAT_VERSION
    want = {name: {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content)} for name, content in _FILES.items()}
    # The weights' header (8-byte length + 16-byte JSON) is hashed on its own too.
    want["params.safetensors"]["header_sha256"] = hashlib.sha256(_FILES["params.safetensors"][:24]).hexdigest()
    assert data["files"] == want
    assert not list(bundle.glob("*.tmp"))
    assert is_bundle(bundle) and not is_bundle(bundle / "model.so") and not is_bundle(bundle.parent)


def test_verify_ok(bundle: Path) -> None:
    data = verify_bundle(bundle)
    assert data["name"] == "tiny" and data["library"] == "model.so"
    assert data == read_manifest(bundle)


@pytest.mark.parametrize("name", sorted(_FILES))
def test_a_flipped_byte_is_detected_and_named(bundle: Path, name: str) -> None:
    raw = bytearray((bundle / name).read_bytes())
    raw[len(raw) // 2] ^= 0x01
    (bundle / name).write_bytes(bytes(raw))
    with pytest.raises(BundleError, match=f"{name} does not match its sha256 in the manifest"):
        verify_bundle(bundle)


def test_a_truncated_file_is_detected(bundle: Path) -> None:
    full = (bundle / "params.safetensors").read_bytes()
    (bundle / "params.safetensors").write_bytes(full[:-1])
    with pytest.raises(BundleError, match=f"params.safetensors has {len(full) - 1} bytes, the manifest says {len(full)}"):
        verify_bundle(bundle)


def test_a_missing_file_is_detected(bundle: Path) -> None:
    (bundle / "tokenizer.json").unlink()
    with pytest.raises(BundleError, match="tokenizer.json is missing"):
        verify_bundle(bundle)


def test_a_same_size_replacement_is_detected(bundle: Path) -> None:
    size = len(_FILES["model.so"])
    (bundle / "model.so").write_bytes(b"\x90" * size)
    with pytest.raises(BundleError, match="model.so does not match its sha256"):
        verify_bundle(bundle)


@pytest.mark.parametrize("key", ["library", "params", "files", "tvm_version"])
def test_manifest_lacking_a_required_key(bundle: Path, key: str) -> None:
    data = json.loads((bundle / MANIFEST).read_text())
    del data[key]
    (bundle / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(BundleError, match=f"manifest lacks {key}"):
        verify_bundle(bundle)


@pytest.mark.parametrize("key", ["library", "params"])
def test_library_or_params_not_hashed(bundle: Path, key: str) -> None:
    data = json.loads((bundle / MANIFEST).read_text())
    del data["files"][data[key]]
    (bundle / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(BundleError, match=f"manifest does not list {data[key]}; refusing to load an unverified file"):
        verify_bundle(bundle)


def test_library_named_but_absent_when_written(tmp_path: Path) -> None:
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "params.safetensors").write_bytes(b"x")
    write_manifest(folder, _manifest())  # no model.so in the folder: nothing hashed for it
    with pytest.raises(BundleError, match="manifest does not list model.so"):
        verify_bundle(folder)


@pytest.mark.parametrize("version", [0, 2, "1", None, True])
def test_unknown_format_version(bundle: Path, version: Any) -> None:
    _rewrite_manifest(bundle, format_version=version)
    with pytest.raises(BundleError, match=f"bundle format {version} is not supported"):
        verify_bundle(bundle)


@pytest.mark.parametrize("bad_name", ["../outside.so", ".hidden", "sub/model.so", "nul\0byte", "", "back\\slash"])
def test_suspicious_file_names(bundle: Path, bad_name: str) -> None:
    data = json.loads((bundle / MANIFEST).read_text())
    data["files"][bad_name] = {"sha256": "0" * 64, "size": 1}
    (bundle / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(BundleError, match="suspicious file name"):
        verify_bundle(bundle)


def test_no_manifest_and_unreadable_manifest(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no manifest.json; not a compiled bundle"):
        verify_bundle(tmp_path)
    (tmp_path / MANIFEST).write_text("{truncated")
    with pytest.raises(BundleError, match="unreadable manifest"):
        verify_bundle(tmp_path)
    (tmp_path / MANIFEST).write_text("[1, 2]")
    with pytest.raises(BundleError, match="manifest lacks format_version"):
        verify_bundle(tmp_path)


def test_bundle_errors_are_engine_errors(bundle: Path) -> None:
    (bundle / "model.so").unlink()
    with pytest.raises(EngineError):
        verify_bundle(bundle)


def test_rewriting_the_manifest_after_a_change_verifies_again(bundle: Path) -> None:
    (bundle / "tokenizer_meta.json").write_bytes(b'{"add_bos": true}')
    with pytest.raises(BundleError):
        verify_bundle(bundle)
    write_manifest(bundle, _manifest())
    assert verify_bundle(bundle)["files"]["tokenizer_meta.json"]["size"] == len(b'{"add_bos": true}')


# ------------------------------------------------- files the runtime reads, listed


@pytest.mark.parametrize("name", ["tokenizer.json", "tokenizer_meta.json"])
def test_a_file_the_runtime_reads_must_be_listed(bundle: Path, name: str) -> None:
    """Dropping a tokenizer file from the manifest does not get it loaded unverified."""
    data = json.loads((bundle / MANIFEST).read_text())
    del data["files"][name]
    (bundle / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(BundleError, match=f"{name} is not listed in the manifest, and the runtime would read it unverified"):
        verify_bundle(bundle)


def test_an_unlisted_tokenizer_dropped_beside_a_bundle_is_refused(bundle: Path) -> None:
    # The runtime takes tokenizer.json over tokenizer.model: a planted one would win.
    (bundle / "tokenizer.json").unlink()
    write_manifest(bundle, _manifest())
    verify_bundle(bundle)
    (bundle / "tokenizer.json").write_bytes(_FILES["tokenizer.json"])
    with pytest.raises(BundleError, match="tokenizer.json is not listed in the manifest"):
        verify_bundle(bundle)
    (bundle / "tokenizer.json").unlink()
    (bundle / "tokenizer.model").write_bytes(b"\x0a\x00")
    with pytest.raises(BundleError, match="tokenizer.model is not listed in the manifest"):
        verify_bundle(bundle)


def test_files_the_runtime_never_reads_may_sit_unlisted(bundle: Path) -> None:
    (bundle / "README.txt").write_text("notes")
    assert verify_bundle(bundle)["name"] == "tiny"


def test_the_tokenizer_the_manifest_names_must_be_listed(bundle: Path) -> None:
    write_manifest(bundle, _manifest(tokenizer="tokenizer.model"))
    with pytest.raises(BundleError, match="manifest does not list tokenizer.model; refusing to load an unverified file"):
        verify_bundle(bundle)


_MALFORMED: dict[str, tuple[dict[str, Any], str]] = {
    "files a list": ({"files": []}, "files is not an object"),
    "file entry a list": ({"files": {"model.so": [1, 2]}}, "files.model.so is not an object"),
    "sha256 a number": ({"files": {"model.so": {"sha256": 7, "size": 1}}}, r"files.model.so.sha256 is 7, not a hex sha256"),
    "sha256 short": ({"files": {"model.so": {"sha256": "abc", "size": 1}}}, "not a hex sha256"),
    "size a string": ({"files": {"model.so": {"sha256": "0" * 64, "size": "1"}}}, r"files.model.so.size is '1', not a byte count"),
    "size negative": ({"files": {"model.so": {"sha256": "0" * 64, "size": -1}}}, "not a byte count"),
    "size a bool": ({"files": {"model.so": {"sha256": "0" * 64, "size": True}}}, "not a byte count"),
    "header hash": ({"files": {"p": {"sha256": "0" * 64, "size": 1, "header_sha256": None}}}, "header_sha256 is None"),
    "library a list": ({"library": ["model.so"]}, r"library is \['model.so'\], not a string"),
    "params an object": ({"params": {}}, "params is {}, not a string"),
    "tokenizer a number": ({"tokenizer": 3}, "tokenizer is 3, not a string"),
    "target a string": ({"target": "host"}, "target is not an object"),
    "model a list": ({"model": []}, "model is not an object"),
    "param_order a string": ({"param_order": "abc"}, "param_order is not a list of names"),
}


@pytest.mark.parametrize("case", sorted(_MALFORMED))
def test_malformed_manifest_values_are_named(bundle: Path, case: str) -> None:
    changes, message = _MALFORMED[case]
    _rewrite_manifest(bundle, **changes)
    with pytest.raises(BundleError, match="malformed manifest: .*" + message):
        verify_bundle(bundle)


def test_every_malformed_value_is_listed_at_once(bundle: Path) -> None:
    _rewrite_manifest(bundle, library=1, params=2, target=[])
    with pytest.raises(BundleError) as info:
        read_manifest(bundle)
    assert all(s in str(info.value) for s in ("library is 1", "params is 2", "target is not an object"))
