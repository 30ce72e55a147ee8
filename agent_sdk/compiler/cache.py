"""The bundle cache: find a model's compiled bundle in ``compiled/``, or compile it.

``ensure_bundle("smollm2-135m", quant="q4")`` returns
``compiled/smollm2-135m-q4-host`` when a bundle there was built from the same
checkpoint, by the same TVM and the same SDK compiler code, and (for ``host``)
for this CPU; otherwise it compiles one into that folder first. Nothing here
imports TVM until a bundle has to be compiled.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent_sdk.errors import AgentSDKError

__all__ = ["ensure_bundle", "list_bundles", "tvm_version"]


def ensure_bundle(
    model: str,
    *,
    quant: str,
    target: str = "host",
    quiet: bool = False,
    allow_download: bool = False,
    progress: Callable[[str, float], None] | None = None,
) -> Path:
    """Returns a bundle for ``model``, compiling it on first use (cached).

    A bundle folder is returned as it is. A preset, Hugging Face folder or
    GGUF file is looked up in ``compiled/<name>-<quant>-<target>`` and
    compiled there when that bundle is missing or stale.

    Args:
        model: Preset name, checkpoint path (folder or ``.gguf``) or bundle folder.
        quant: Quantization when compiling (``auto``: see :mod:`agent_sdk.compiler.quant_choice`).
        target: Target when compiling.
        quiet: No notice on stderr before compiling.
        allow_download: Let presets download weights from the hub.
        progress: Called with (stage description, fraction done) while
            compiling; default: no progress reports.

    Returns:
        The bundle folder.

    Raises:
        UserError: Unknown model, quantization or target.
        ModelFormatError: A bad checkpoint.
        CompileError: TVM failed.
    """
    from agent_sdk.manifest import compiler_fingerprint, cpu_fingerprint, read_manifest
    from agent_sdk.models.resolve import resolve_model

    ref = resolve_model(model, allow_download=allow_download)
    if ref.kind == "bundle":
        return ref.path
    from agent_sdk.compiler import compile_model, default_bundle_dir
    from agent_sdk.compiler.quant_choice import resolve_quant

    quant = resolve_quant(quant, ref.path, target=target)
    dest = default_bundle_dir(ref.name, quant, target)
    if (dest / "manifest.json").exists():
        try:
            man = read_manifest(dest)
            fresh = (
                man["source"]["path"] == str(ref.path)
                and tvm_version() == man["tvm_version"]
                and man.get("compiler") == compiler_fingerprint()  # built by this SDK's kernels and graphs
                and (target != "host" or man.get("host", {}).get("fingerprint") == cpu_fingerprint())
            )
            if fresh:
                return dest
        except AgentSDKError:
            pass  # recompile below
    if not quiet:
        print(f"compiling {ref.name} ({quant}, {target}) into {dest} (first use; cached afterwards)", file=sys.stderr)
    result = compile_model(ref.path, quant=quant, target=target, out=dest, name=ref.name, progress=progress)
    return result.path


def list_bundles(root: Path | None = None) -> list[dict[str, Any]]:
    """The bundles in a folder, read from their manifests (not verified).

    Args:
        root: Folder holding bundle folders; default :func:`~agent_sdk.compiler.compiled_root`.

    Returns:
        One dict per ``<root>/*/manifest.json``, sorted by path: ``path``,
        ``name``, ``quantization`` and ``target`` names, or ``path`` and
        ``error`` for a manifest that cannot be read. Empty when ``root``
        does not exist.
    """
    if root is None:
        from agent_sdk.compiler import compiled_root

        root = compiled_root()
    bundles: list[dict[str, Any]] = []
    if not root.exists():
        return bundles
    for man in sorted(root.glob("*/manifest.json")):
        try:
            m = json.loads(man.read_text())
            bundles.append({
                "path": str(man.parent), "name": m.get("name"),
                "quantization": m.get("quantization", {}).get("name"), "target": m.get("target", {}).get("name"),
            })
        except (OSError, ValueError):
            bundles.append({"path": str(man.parent), "error": "unreadable manifest"})
    return bundles


def tvm_version() -> str:
    """The installed apache-tvm version, read without importing TVM.

    Returns:
        The version string recorded in bundle manifests (``tvm_version``).
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("apache-tvm")
    except PackageNotFoundError:
        import tvm

        return str(tvm.__version__)
