"""``--quant auto``: the storage that keeps a checkpoint's own values.

A GGUF file already is quantized, and each of its types repacks into one of
our layouts without requantizing (:data:`agent_sdk.quantization.formats.GGUF_REPACK`):
Q4_0/Q4_1/Q4_K into ``q4``, Q8_0/Q5_0 into ``q8``. Compiling such a file to the
other layout requantizes those weights: llama.cpp's Q4_K_M of a model whose
rows are not whole 256-value super-blocks (SmolLM2's 576, Gemma 3 270M's 640)
is mostly Q5_0 and Q8_0, and ``q4`` would requantize them (10% relative RMS
error on Gemma 3 270M's Q5_0 tensors, docs/models.md "GGUF formats"). ``auto``
picks the layout that holds most of the file's quantized weight values as the
file has them; a float checkpoint (Hugging Face folder, F16/F32 GGUF) gets
``q4``, the default.

Where the layout is ``q4`` and the target CPU has a byte dot-product
instruction (x86 AVX2 or AVX-512 VNNI, the Pi 5's ``sdot``), ``auto`` compiles
``q4a8``: the same stored weights, with each matmul's input rounded to int8 per
group of 32 as llama.cpp does for Q4_0/Q4_1 files (its Q8 activations). Measured
on SmolLM2-135M (docs/cpu_kernels.md, 2026-12-03, AVX2): prefill 1.6x and decode
1.45x of ``q4``; BFCL simple_python and irrelevance (first 100 each) 62.0% /
87.0% against 62.0% / 86.0%, 6 of 200 outputs different; perplexity on a fixed
text 15.54 against 15.60. On a CPU without such an instruction (Pi 4's
Cortex-A72) the integer path has no fast instruction, so ``auto`` keeps ``q4``.
Tuning keeps ``q4`` too (``int8=False``): the training model computes float
activations and the deployed one must compute the same.
"""

from __future__ import annotations

from pathlib import Path

from agent_sdk.errors import UserError
from agent_sdk.quantization.formats import GGUF_REPACK

__all__ = ["AUTO", "DEFAULT_FLOAT_QUANT", "choose_quant", "fast_int8_target", "resolve_quant"]

AUTO = "auto"
DEFAULT_FLOAT_QUANT = "q4"


def choose_quant(checkpoint: Path) -> str:
    """The layout (``q4`` or ``q8``) that keeps most of a checkpoint's quantized values; ``q4`` for floats.

    Raises:
        ModelFormatError: An unreadable GGUF file.
    """
    path = Path(checkpoint)
    if path.suffix.lower() != ".gguf" or not path.is_file():
        return DEFAULT_FLOAT_QUANT
    from agent_sdk.models.gguf_reader import parse_gguf

    _, tensors = parse_gguf(path)
    values: dict[str, int] = {}
    for _name, ggml_type, shape, _data in tensors:
        layout = GGUF_REPACK.get(ggml_type)
        if layout is None or layout[1] == "requantized":
            continue
        n = 1
        for d in shape:
            n *= d
        values[layout[0]] = values.get(layout[0], 0) + n
    if not values:
        return DEFAULT_FLOAT_QUANT
    return max(sorted(values), key=lambda k: values[k])


def fast_int8_target(target: str) -> bool:
    """Whether ``target``'s CPU has a byte dot-product instruction the ``q4a8`` kernels use.

    ``host``: x86 with AVX2 (or AVX-512 VNNI), or AArch64 with the dot-product
    extension, read from ``/proc/cpuinfo`` (no TVM import: this runs before
    every ``agent-sdk run`` looks for its cached bundle). Presets: ``pi5``
    (``+dotprod``) yes; ``pi4``, ``aarch64``, ``vulkan`` no.
    """
    from agent_sdk.compiler.targets import TARGETS

    spec = TARGETS.get(target)
    if spec is None or target == "vulkan":
        return False
    if target != "host":
        return "+dotprod" in (spec.target.get("mattr") or [])
    try:
        info = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    words: set[str] = set()
    for line in info.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            words.update(value.split())
    return bool(words & {"avx2", "avx512_vnni", "asimddp"})


def resolve_quant(quant: str, checkpoint: Path | None, *, target: str = "host", int8: bool = True) -> str:
    """``quant`` itself, or for ``auto`` :func:`choose_quant` of the checkpoint (``q4`` without one).

    Args:
        quant: A quantization name or ``auto``.
        checkpoint: The checkpoint ``auto`` reads.
        target: The target compiled for: ``auto`` turns ``q4`` into ``q4a8``
            where it has a byte dot product (:func:`fast_int8_target`).
        int8: Allow that (False: float activations, as a training model computes).
    """
    if quant != AUTO:
        return quant
    if checkpoint is None:
        chosen = DEFAULT_FLOAT_QUANT
    elif not isinstance(checkpoint, Path):
        raise UserError(f"not a checkpoint path: {checkpoint!r}")
    else:
        chosen = choose_quant(checkpoint)
    if chosen == "q4" and int8 and fast_int8_target(target):
        return "q4a8"
    return chosen
