"""The compiled-bundle format, shared by the compiler (writes) and runtime (reads).

A bundle is a folder::

    manifest.json          what is inside, and the sha256 of every other file
    model.so               the compiled library (loading it runs its code)
    params.safetensors     the weights, in the library's parameter order
    tokenizer.json | tokenizer.model
    tokenizer_meta.json    BOS/EOS ids, add_bos, chat template

Loading a library executes code, so :func:`verify_bundle` checks every file
against the manifest before the runtime touches any of them, and refuses a
bundle holding a file the runtime would read that the manifest does not list.
The manifest also records the sha256 of the weights' safetensors header, so
that the runtime checks the header before parsing it and still reads the
weights in a single pass.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from agent_sdk._safetensors import header_sha256
from agent_sdk.errors import BundleError

__all__ = [
    "compiler_fingerprint", "cpu_fingerprint", "MANIFEST", "FORMAT_VERSION", "TOKENIZER_FILES", "sha256_file",
    "write_manifest", "read_manifest", "verify_bundle", "is_bundle",
]

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
# Files the runtime looks for by name in a bundle folder (the tokenizer picks the first of the two it finds).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_meta.json")
_REQUIRED_KEYS = ("format_version", "name", "model", "quantization", "target", "tvm_version", "files", "library", "params")
_SHA256_HEX = frozenset("0123456789abcdef")


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fp:
        for chunk in iter(lambda: fp.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(folder: Path, manifest: dict[str, Any]) -> Path:
    """Hashes every file in ``folder`` into ``manifest['files']`` and writes it.

    The weights (``manifest['params']``) also get ``header_sha256``, the hash
    of their safetensors header (see :func:`agent_sdk._safetensors.header_sha256`).
    """
    files: dict[str, dict[str, Any]] = {}
    for f in sorted(folder.iterdir()):
        if f.is_file() and f.name != MANIFEST:
            files[f.name] = {"sha256": sha256_file(f), "size": f.stat().st_size}
            if f.name == manifest.get("params") and (head := header_sha256(f)) is not None:
                files[f.name]["header_sha256"] = head
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
        BundleError: Missing, unreadable or incomplete manifest, or a value of
            the wrong type (every such problem is listed).
    """
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise BundleError(f"{folder}: no {MANIFEST}; not a compiled bundle (compile one with 'agent-sdk compile')")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError, RecursionError) as exc:
        raise BundleError(f"{path}: unreadable manifest: {exc}") from exc
    missing = [k for k in _REQUIRED_KEYS if k not in data] if isinstance(data, dict) else list(_REQUIRED_KEYS)
    if missing:
        raise BundleError(f"{path}: manifest lacks {', '.join(missing)}")
    if data["format_version"] != FORMAT_VERSION or isinstance(data["format_version"], bool):
        raise BundleError(
            f"{path}: bundle format {data['format_version']} is not supported (this agent_sdk reads {FORMAT_VERSION}); recompile it"
        )
    problems = _type_problems(data)
    if problems:
        raise BundleError(f"{path}: malformed manifest: " + "; ".join(problems))
    return data


def _is_sha256(x: Any) -> bool:
    return isinstance(x, str) and len(x) == 64 and set(x) <= _SHA256_HEX


def _type_problems(data: dict[str, Any]) -> list[str]:
    """What in a manifest has a type the SDK cannot use (the runtime indexes into these)."""
    problems = []
    for key in ("name", "library", "params", "tvm_version"):
        if not isinstance(data[key], str):
            problems.append(f"{key} is {data[key]!r}, not a string")
    if "tokenizer" in data and not isinstance(data["tokenizer"], str):
        problems.append(f"tokenizer is {data['tokenizer']!r}, not a string")
    for key in ("model", "quantization", "target"):
        if not isinstance(data[key], dict):
            problems.append(f"{key} is not an object")
    order = data.get("param_order")
    if order is not None and not (isinstance(order, list) and all(isinstance(n, str) for n in order)):
        problems.append("param_order is not a list of names")
    files = data["files"]
    if not isinstance(files, dict):
        return problems + ["files is not an object"]
    for name, info in files.items():
        if not isinstance(info, dict):
            problems.append(f"files.{name} is not an object")
            continue
        if not _is_sha256(info.get("sha256")):
            problems.append(f"files.{name}.sha256 is {info.get('sha256')!r}, not a hex sha256")
        size = info.get("size")
        if not (isinstance(size, int) and not isinstance(size, bool) and size >= 0):
            problems.append(f"files.{name}.size is {size!r}, not a byte count")
        if "header_sha256" in info and not _is_sha256(info["header_sha256"]):
            problems.append(f"files.{name}.header_sha256 is {info['header_sha256']!r}, not a hex sha256")
    return problems


def verify_bundle(folder: Path, *, hash_params_later: bool = False) -> dict[str, Any]:
    """Checks every file of a bundle against its manifest's size and sha256.

    Every file the runtime reads must be listed: the library, the weights,
    the tokenizer the manifest names, and any of :data:`TOKENIZER_FILES`
    present in the folder (the runtime finds those by name, so one dropped
    beside a verified bundle would otherwise be read unverified).

    Args:
        folder: The bundle.
        hash_params_later: Check only the size of the weights file here; the
            caller checks its sha256 while reading it (one pass, not two). The
            library is always hashed here, before anything loads it.

    Returns:
        The manifest.

    Raises:
        BundleError: A listed file is missing, has another size or hash, a
            file the runtime reads is not listed, or the manifest is malformed.
    """
    folder = Path(folder)
    data = read_manifest(folder)
    files = data["files"]
    for name in files:
        if not name or "/" in name or "\\" in name or "\0" in name or name.startswith("."):
            raise BundleError(f"{folder}: manifest lists suspicious file name {name!r}")
    named = [data["library"], data["params"]] + ([data["tokenizer"]] if "tokenizer" in data else [])
    for must in named:
        if must not in files:
            raise BundleError(f"{folder}: manifest does not list {must}; refusing to load an unverified file")
    for found in TOKENIZER_FILES:
        if found not in files and (folder / found).exists():
            raise BundleError(
                f"{folder}: {found} is not listed in the manifest, and the runtime would read it unverified; "
                "refusing the bundle (remove the file or recompile)"
            )
    deferred = data["params"] if hash_params_later else None
    for name, info in files.items():
        f = folder / name
        if not f.is_file():
            raise BundleError(f"{folder}: {name} is missing")
        size = f.stat().st_size
        if size != info["size"]:
            raise BundleError(f"{folder}: {name} has {size} bytes, the manifest says {info['size']} (truncated or replaced)")
        if name != deferred and sha256_file(f) != info["sha256"]:
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
