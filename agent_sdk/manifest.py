"""The compiled-bundle format, shared by the compiler (writes) and runtime (reads).

A bundle is a folder::

    manifest.json          what is inside, and the sha256 of every other file
    model.so               the compiled library (loading it runs its code)
    params.safetensors     the weights, in the library's parameter order
    tokenizer.json | tokenizer.model
    tokenizer_meta.json    BOS/EOS ids, add_bos, chat template

Loading a library executes code, so :func:`verify_bundle` checks every file
against the manifest before the runtime touches any of them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from agent_sdk.errors import BundleError

__all__ = ["compiler_fingerprint", "cpu_fingerprint", "MANIFEST", "FORMAT_VERSION", "sha256_file", "write_manifest", "read_manifest", "verify_bundle", "is_bundle"]

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_REQUIRED_KEYS = ("format_version", "name", "model", "quantization", "target", "tvm_version", "files", "library", "params")


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fp:
        for chunk in iter(lambda: fp.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(folder: Path, manifest: dict[str, Any]) -> Path:
    """Hashes every file in ``folder`` into ``manifest['files']`` and writes it."""
    files = {}
    for f in sorted(folder.iterdir()):
        if f.is_file() and f.name != MANIFEST:
            files[f.name] = {"sha256": sha256_file(f), "size": f.stat().st_size}
    manifest = {**manifest, "format_version": FORMAT_VERSION, "files": files}
    path = folder / MANIFEST
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
    return path


def is_bundle(folder: Path) -> bool:
    """Whether ``folder`` looks like a compiled bundle (has a manifest)."""
    return (Path(folder) / MANIFEST).is_file()


def read_manifest(folder: Path) -> dict[str, Any]:
    """Reads and structurally checks a bundle's manifest.

    Raises:
        BundleError: Missing, unreadable or incomplete manifest.
    """
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise BundleError(f"{folder}: no {MANIFEST}; not a compiled bundle (compile one with 'agent-sdk compile')")
    try:
        data = json.loads(path.read_text())
    except (ValueError, OSError) as exc:
        raise BundleError(f"{path}: unreadable manifest: {exc}") from exc
    missing = [k for k in _REQUIRED_KEYS if k not in data] if isinstance(data, dict) else list(_REQUIRED_KEYS)
    if missing:
        raise BundleError(f"{path}: manifest lacks {', '.join(missing)}")
    if data["format_version"] != FORMAT_VERSION:
        raise BundleError(
            f"{path}: bundle format {data['format_version']} is not supported (this agent_sdk reads {FORMAT_VERSION}); recompile it"
        )
    return data


def verify_bundle(folder: Path, *, hash_params_later: bool = False) -> dict[str, Any]:
    """Checks every file of a bundle against its manifest's size and sha256.

    Args:
        folder: The bundle.
        hash_params_later: Check only the size of the weights file here; the
            caller checks its sha256 while reading it (one pass, not two). The
            library is always hashed here, before anything loads it.

    Returns:
        The manifest.

    Raises:
        BundleError: A listed file is missing, has another size or hash, or
            the library/params are not listed.
    """
    folder = Path(folder)
    data = read_manifest(folder)
    files = data["files"]
    for must in (data["library"], data["params"]):
        if must not in files:
            raise BundleError(f"{folder}: manifest does not list {must}; refusing to load an unverified file")
    deferred = data["params"] if hash_params_later else None
    for name, info in files.items():
        if "/" in name or name.startswith("."):
            raise BundleError(f"{folder}: manifest lists suspicious file name {name!r}")
        f = folder / name
        if not f.is_file():
            raise BundleError(f"{folder}: {name} is missing")
        size = f.stat().st_size
        if size != info.get("size"):
            raise BundleError(f"{folder}: {name} has {size} bytes, the manifest says {info.get('size')} (truncated or replaced)")
        if name != deferred and sha256_file(f) != info.get("sha256"):
            raise BundleError(f"{folder}: {name} does not match its sha256 in the manifest (corrupted or tampered with)")
    return data


def cpu_fingerprint() -> str:
    """A short hash of this CPU's model and feature flags (no TVM needed).

    A host bundle is compiled for the exact CPU (``-mcpu``); the fingerprint
    tells whether a cached one still fits this machine.
    """
    import platform

    text = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "flags", "Features", "CPU part", "CPU implementer")):
                text += "\n" + line.split(":", 1)[-1].strip()
                if line.startswith(("flags", "Features")):
                    break
    except OSError:
        text += platform.processor()
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_COMPILER_SOURCES = ("models", "quantization", "compiler")


def compiler_fingerprint() -> str:
    """A short hash of the SDK code that decides what a compiled library contains.

    The sources of ``agent_sdk.models``, ``agent_sdk.quantization`` and
    ``agent_sdk.compiler`` (model graphs, weight layouts, kernels, pipeline):
    a cached bundle built by other code is rebuilt rather than reused.
    """
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for sub in _COMPILER_SOURCES:
        for f in sorted((root / sub).rglob("*.py")):
            h.update(f.relative_to(root).as_posix().encode() + b"\0")
            h.update(f.read_bytes())
    return h.hexdigest()[:16]
