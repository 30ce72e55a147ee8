"""``--quant auto``: the storage that keeps a checkpoint's own values.

A GGUF file already is quantized, and each of its types repacks into one or
more of our layouts without requantizing (:data:`agent_sdk.quantization.formats.GGUF_EXACT`):
Q4_0/Q4_1 into ``q4`` (and ``q5``), Q5_0/Q5_1 into ``q5`` (Q4_0 and Q5_0 into
``q8`` too), Q8_0 into ``q8``, Q4_K/Q5_K/Q6_K into ``q4k``/``q5k``/``q8k``.
One layout for the whole model requantizes the rest: llama.cpp's Q4_K_M of a
model whose rows are not whole 256-value super-blocks (SmolLM2's 576, Gemma 3
270M's 640) mixes Q5_0, Q8_0, Q4_K and Q6_K tensors, and ``q4`` would
requantize its Q5_0 tensors (10% relative RMS error on Gemma 3 270M's,
docs/models.md "GGUF formats"), ``q8`` its Q4_K ones.

So ``auto`` keeps each module in the layout that holds its tensors' values
(:func:`module_layouts`): a file whose tensors all fit one preset compiles to
that preset (SmolLM2's Q4_1 file to ``q4``), a mixed one to per-module
layouts under the name ``auto`` (:func:`resolve_quant`). The K-quants go to
layouts of their own that keep their two scale levels (``q4k``, ``q5k``,
``q8k`` for Q6_K), which no preset uses. A float checkpoint (Hugging Face folder, F16/F32 GGUF) gets
``q4``, the default.

Where that is ``q4`` and the target is an x86 CPU with AVX-512 VNNI, ``auto``
compiles ``q4a16``: the same stored weights, each matmul's input rounded to
int16 per group of 32 and its products summed by ``vpdpwssd``
(:func:`fast_int16_target`). Measured on SmolLM2-135M (docs/cpu_kernels.md,
2026-12-04): logits within 0.007 of ``q4``'s (KL 0.00000, the same argmax at
every position of a fixed text, the quick start's answer unchanged) where
``q4a8``'s int8 rounding moves them by 1.7 and changes the quick start's
answer; prefill 1.3-1.4x and decode ~1.2x of ``q4``. Elsewhere (AVX2 without
VNNI, ARM) the int16 path has no faster instruction than the float one and
``auto`` keeps ``q4``. Tuned bundles and compiled adapters keep ``q4`` too
(``int16=False``): the training model computes float activations and the
deployed one must compute the same.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from agent_sdk.errors import UserError
from agent_sdk.quantization.formats import (
    GGML_Q4_0,
    GGML_Q4_1,
    GGML_Q4_K,
    GGML_Q5_0,
    GGML_Q5_1,
    GGML_Q5_K,
    GGML_Q6_K,
    GGUF_EXACT,
    QuantConfig,
)

if TYPE_CHECKING:
    from agent_sdk.models.gguf_source import TensorSource

__all__ = [
    "AUTO",
    "DEFAULT_FLOAT_QUANT",
    "LAYOUTS",
    "PRESET_LAYOUTS",
    "choose_quant",
    "exact_layout",
    "fast_int16_target",
    "module_layouts",
    "resolve_quant",
]

AUTO = "auto"
DEFAULT_FLOAT_QUANT = "q4"
LAYOUTS = ("q4k", "q4", "q5k", "q5", "q8", "q8k")
"""The quantized layouts ``auto`` chooses between, smallest first (a tie goes to the smaller)."""
PRESET_LAYOUTS = ("q4", "q5", "q8")
"""Layouts that are also whole-model presets (the K layouts are not: they hold GGUF's K-quants as stored)."""
_PRESET_OF = {"q4k": "q4", "q5k": "q5", "q8k": "q8"}
_LAYOUT_BITS = {"q4k": 4, "q4": 4, "q5k": 5, "q5": 5, "q8": 8, "q8k": 8}
_TYPE_BITS = {GGML_Q4_0: 4, GGML_Q4_1: 4, GGML_Q4_K: 4, GGML_Q5_0: 5, GGML_Q5_1: 5, GGML_Q5_K: 5, GGML_Q6_K: 6}
"""Value bits of the GGUF types; any other (Q8_0, floats) needs 8."""


_NEARLY_EXACT = {GGML_Q4_K: ("q4", "q5"), GGML_Q5_K: ("q5",)}
"""Layouts holding a type's values with its scales and minimums rounded to float16 (``formats.gguf_to_format``)."""
_NEARLY = 0.99
"""What a value held that way counts for: more than a requantized one (0), less than an exact one (1)."""


def exact_layout(ggml_type: int) -> str | None:
    """The smallest layout holding a GGUF type's values as the file has them; None for floats."""
    return next((f for f in LAYOUTS if f in GGUF_EXACT.get(ggml_type, ())), None)


def _best(counts: Mapping[str, float], layouts: Sequence[str] = LAYOUTS) -> str:
    return max(layouts, key=lambda f: (counts.get(f, 0), -layouts.index(f)))


def module_layouts(tensors: Mapping[str, TensorSource], sources: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Each module's layout: of those with at least as many value bits as every part, the one holding most of
    its tensors' values as stored (ties: the smaller).

    A fused module (q/k/v, gate/up) has one layout for its parts: llama.cpp's
    Q4_K_M gives some layers' ``attn_v`` Q6_K beside Q4_K ``attn_q``/``attn_k``;
    q4 would hold two of the three exactly but requantize the 6-bit values to 4
    bits, so the module goes to ``q8k`` (Q6_K exact, the Q4_K parts requantized
    at 8 bits). A value that a layout holds with float16-rounded scales (Q4_K
    in q4) counts 0.99: Q4_K beside Q4_1 goes to q4, which keeps both nearly
    exact, not to q4k, which would requantize the Q4_1 part. Modules of float
    tensors only are left out (the preset decides).

    Args:
        tensors: The checkpoint's tensors by canonical name.
        sources: Module prefix → its tensors' names (``agent_sdk.models.gguf_source.module_sources``).
    """
    out: dict[str, str] = {}
    for module, names in sources.items():
        counts: dict[str, float] = {}
        need = 0
        for name in names:
            src = tensors[name]
            if src.raw is None or src.ggml_type is None:
                need = 8
                continue
            n = math.prod(src.shape)
            need = max(need, _TYPE_BITS.get(src.ggml_type, 8))
            for fmt in GGUF_EXACT.get(src.ggml_type, ()):
                if fmt in LAYOUTS:
                    counts[fmt] = counts.get(fmt, 0) + n
            for fmt in _NEARLY_EXACT.get(src.ggml_type, ()):
                counts[fmt] = counts.get(fmt, 0) + _NEARLY * n
        if counts:
            out[module] = _best(counts, [f for f in LAYOUTS if _LAYOUT_BITS[f] >= need])
    return out


_HEAD_TENSORS = ("token_embd.weight", "output.weight")
"""GGUF names of the embedding and the output head (every llama.cpp architecture): the preset's ``embed``."""


def _layout_counts(checkpoint: Path) -> tuple[dict[str, int], set[str]]:
    """A GGUF file's projection values by the smallest layout holding them, and the layouts its head tensors need."""
    path = Path(checkpoint)
    if path.suffix.lower() != ".gguf" or not path.is_file():
        return {}, set()
    from agent_sdk.models.gguf_reader import parse_gguf

    _, tensors = parse_gguf(path)
    values: dict[str, int] = {}
    heads: set[str] = set()
    for name, ggml_type, shape, _data in tensors:
        layout = exact_layout(ggml_type)
        if layout is None:
            continue
        if name in _HEAD_TENSORS:
            heads.add(layout)
            continue
        values[layout] = values.get(layout, 0) + math.prod(shape)
    return values, heads


def choose_quant(checkpoint: Path) -> str:
    """The preset whose projection layout holds most of a checkpoint's projection values; ``q4`` for floats.

    Each quantized tensor counts for the smallest layout that holds its values
    (:func:`exact_layout`); the embedding and output head are left out (every
    quantized preset keeps them in ``q8``). Also the base of a mixed file's
    per-module layouts (:func:`resolve_quant`).

    Raises:
        ModelFormatError: An unreadable GGUF file.
    """
    values, _ = _layout_counts(checkpoint)
    return _best(_as_presets(values), PRESET_LAYOUTS) if values else DEFAULT_FLOAT_QUANT


def _as_presets(values: Mapping[str, int]) -> dict[str, int]:
    """Layout counts with each K layout (no preset) counted for the preset of its bits."""
    out = {f: values.get(f, 0) for f in PRESET_LAYOUTS}
    for k, preset in _PRESET_OF.items():
        out[preset] += values.get(k, 0)
    return out


def fast_int16_target(target: str) -> bool:
    """Whether ``target``'s CPU sums int16 pairs with AVX-512 VNNI's ``vpdpwssd`` (the ``q4a16`` kernels' fast path).

    Only ``host`` can be such a CPU (the presets are ARM): read from
    ``/proc/cpuinfo`` (no TVM import: this runs before every ``agent-sdk run``
    looks for its cached bundle), which must list both ``avx512_vnni`` and
    ``avx512bw``. The environment variable ``AGENT_SDK_NO_INT16=1`` says no
    (float activations everywhere).
    """
    if target != "host" or os.environ.get("AGENT_SDK_NO_INT16", "") not in ("", "0"):
        return False
    return {"avx512_vnni", "avx512bw"} <= _cpu_flags()


def _cpu_flags() -> set[str]:
    """This machine's x86 CPU flags from ``/proc/cpuinfo`` (empty elsewhere)."""
    try:
        info = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return set()
    words: set[str] = set()
    for line in info.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            words.update(value.split())
    return words


def resolve_quant(quant: str, checkpoint: Path | None, *, target: str = "host", int16: bool = True) -> str:
    """``quant`` itself, or for ``auto`` the name a checkpoint compiles under.

    That is :func:`choose_quant`'s preset when the preset holds every quantized tensor of the file as stored
    (projections in its ``linear`` layout, embedding and head in its ``embed``: SmolLM2's Q4_1 file is ``q4``),
    ``auto`` when it does not (compiled with per-module layouts, :func:`module_layouts`), and ``q4`` without a
    checkpoint or for a float one; ``q4`` becomes ``q4a16`` on a CPU with ``vpdpwssd`` (:func:`fast_int16_target`).

    Args:
        quant: A quantization name or ``auto``.
        checkpoint: The checkpoint ``auto`` reads.
        target: The target compiled for.
        int16: Allow ``q4a16`` (False: float activations, as a training model computes).
    """
    if quant != AUTO:
        return quant
    if checkpoint is None:
        chosen = DEFAULT_FLOAT_QUANT
    elif not isinstance(checkpoint, Path):
        raise UserError(f"not a checkpoint path: {checkpoint!r}")
    else:
        values, heads = _layout_counts(checkpoint)
        base = _best(_as_presets(values), PRESET_LAYOUTS) if values else DEFAULT_FLOAT_QUANT
        preset = QuantConfig.from_name(base)
        if set(values) - {preset.linear} or heads - {preset.embed}:
            return AUTO
        chosen = base
    if chosen == "q4" and int16 and fast_int16_target(target):
        return "q4a16"
    return chosen
