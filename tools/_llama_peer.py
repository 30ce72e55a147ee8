"""llama.cpp as a benchmark peer: GGUF files made by llama.cpp's own quantizer.

``tools/bench_engine.py`` compares our engine with llama.cpp on the GGUF we
compile from, and also on the file llama.cpp would pick for speed (Q4_0, whose
weights it repacks for the CPU's SIMD at load time). Such a file is made from
the same weights by ``llama_model_quantize`` with ``allow_requantize`` (the
shipped SmolLM2 is itself Q4_1: llama.cpp dequantizes it, then quantizes with
its usual per-tensor choices). Tests that need a llama.cpp-quantized file use
the same helper.

The quantizer runs in a child process: llama.cpp prints every tensor to
stderr, and the parent need not import ``llama_cpp`` at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["PEER_FTYPES", "SAME_FILE", "bundle_lora", "open_llama", "peer_gguf", "peer_path", "requantize_gguf"]

SAME_FILE = "same"
"""The ``--peer-quant`` value for the GGUF file itself, not requantized."""

PEER_FTYPES: dict[str, str] = {
    "q4_0": "MOSTLY_Q4_0",
    "q8_0": "MOSTLY_Q8_0",
    "q4_k_m": "MOSTLY_Q4_K_M",
}
"""Peer file kinds (lower case, as on the command line) -> ``llama_cpp.LLAMA_FTYPE_*`` name without the prefix."""

_QUANTIZE = (
    "import ctypes, sys, llama_cpp\n"
    "p = llama_cpp.llama_model_quantize_default_params()\n"
    "p.ftype = getattr(llama_cpp, 'LLAMA_FTYPE_' + sys.argv[3]); p.allow_requantize = True\n"
    "sys.exit(llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), ctypes.byref(p)))\n"
)


def requantize_gguf(src: Path, out: Path, *, ftype: str = "MOSTLY_Q8_0") -> Path:
    """llama.cpp's own quantizer turns ``src`` into a GGUF of ``ftype`` (in a child process).

    ``allow_requantize`` is set: the source may itself be quantized, so
    llama.cpp dequantizes it first, then quantizes with its usual per-tensor
    choices (for ``MOSTLY_Q4_K_M``: Q4_K with Q6_K for some
    ``attn_v``/``ffn_down``, and Q5_0/Q8_0 where rows are not whole
    256-value super-blocks). The file is written under a temporary name and
    renamed, so ``out`` never exists half-written.

    Args:
        src: The GGUF to requantize.
        out: Where to write the result.
        ftype: A ``llama_cpp.LLAMA_FTYPE_*`` name without the prefix.

    Returns:
        ``out``.

    Raises:
        RuntimeError: llama-cpp-python is missing or the quantizer failed.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(f"{out.name}.{os.getpid()}.part")
    try:
        cmd = [sys.executable, "-c", _QUANTIZE, str(src), str(part), ftype]
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0 or not part.is_file():
            raise RuntimeError(f"llama_model_quantize failed ({r.returncode}): {r.stderr.strip()[-300:]}")
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    return out


def peer_path(src: Path, peer: str, cache_dir: Path) -> Path:
    """Where the ``peer`` file made from ``src`` is cached: ``<cache_dir>/<stem>.<peer>.gguf``.

    Args:
        src: The source GGUF.
        peer: A key of :data:`PEER_FTYPES`.
        cache_dir: The cache folder (``compiled/peer`` for the benchmark).
    """
    return cache_dir / f"{src.stem}.{peer}.gguf"


def peer_gguf(src: Path, peer: str, cache_dir: Path) -> Path:
    """The GGUF llama.cpp runs as ``peer``: ``src`` itself, or its requantization, made only if missing.

    Args:
        src: The GGUF our bundle is compiled from.
        peer: :data:`SAME_FILE` or a key of :data:`PEER_FTYPES`.
        cache_dir: Folder of the requantized files.

    Returns:
        The file's path.

    Raises:
        ValueError: ``peer`` is not a known kind.
        RuntimeError: llama-cpp-python is missing or the quantizer failed.
    """
    if peer == SAME_FILE:
        return src
    if peer not in PEER_FTYPES:
        raise ValueError(f"unknown peer file kind {peer!r}; expected {SAME_FILE} or one of {', '.join(PEER_FTYPES)}")
    out = peer_path(src, peer, cache_dir)
    if out.is_file():
        return out
    return requantize_gguf(src, out, ftype=PEER_FTYPES[peer])


def bundle_lora(bundle: Path, lora: Path | None = None) -> Path | None:
    """The LoRA adapter GGUF llama.cpp applies when it is compared with our ``bundle``.

    ``lora`` when given, else the adapter ``agent-sdk tune`` put in a tuned bundle (``adapter.gguf``), else None;
    a tuned bundle without either gets a warning on stderr, since llama.cpp then runs the base model.
    """
    if lora is not None:
        return lora
    if (bundle / "adapter.gguf").is_file():
        return bundle / "adapter.gguf"
    from agent_sdk.manifest import read_manifest

    if "tuning" in read_manifest(bundle):
        print(f"warning: {bundle} is a tuned bundle without adapter.gguf and no --lora was given: llama.cpp runs "
              "the base model, not the same tuned model", file=sys.stderr)
    return None


def _cpu_has_amx() -> bool:
    """Whether the CPU advertises Intel AMX tiles (Linux's /proc/cpuinfo flags)."""
    try:
        return " amx_tile" in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def open_llama(model_path: str | Path, *, lora: str | Path | None = None, **kwargs: Any) -> Any:
    """``llama_cpp.Llama(model_path, lora_path=lora, **kwargs)``, able to run on an AMX host.

    On a CPU with AMX, llama.cpp's extra weight buffers (the layouts it repacks weights into for a CPU's matrix
    units) are switched off for this model: llama-cpp-python 0.3.36's llama.cpp crashes (a segfault in
    ``ggml_backend_amx_mul_mat``) computing with a Q4_1 file it placed in AMX buffers, with or without an adapter,
    as on the AVX-512 + AMX host of docs/tuning.md (2026-12-05, fifth session). It then runs its AVX-512 kernels,
    as on any CPU without AMX. Elsewhere (a Pi's NEON, AVX2) nothing changes, so its Q4_0 repacking stays on. The
    high-level ``Llama`` takes no option for it, so the default model parameters it starts from are replaced while
    it loads.

    Args:
        model_path: The GGUF file.
        lora: A LoRA adapter GGUF to apply (``lora_path``), or None.
        **kwargs: The rest of ``Llama``'s arguments.

    Returns:
        The ``llama_cpp.Llama``.

    Raises:
        RuntimeError: On an AMX CPU, a llama-cpp-python whose model parameters have no ``use_extra_bufts``.
    """
    import llama_cpp
    import llama_cpp.llama_cpp as low

    if lora:
        kwargs["lora_path"] = str(lora)
    if not _cpu_has_amx():
        return llama_cpp.Llama(model_path=str(model_path), **kwargs)
    default = low.llama_model_default_params

    def without_extra_buffers() -> Any:
        params = default()
        if "use_extra_bufts" not in {name for name, *_ in type(params)._fields_}:  # ctypes would take it silently
            raise RuntimeError("this llama-cpp-python has no use_extra_bufts: cannot keep llama.cpp off its AMX "
                               "buffers, which crash on this CPU (see tools/_llama_peer.open_llama)")
        params.use_extra_bufts = False
        return params

    low.llama_model_default_params = without_extra_buffers
    try:
        return llama_cpp.Llama(model_path=str(model_path), **kwargs)
    finally:
        low.llama_model_default_params = default
