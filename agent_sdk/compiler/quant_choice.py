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
"""

from __future__ import annotations

from pathlib import Path

from agent_sdk.errors import UserError
from agent_sdk.quantization.formats import GGUF_REPACK

__all__ = ["AUTO", "DEFAULT_FLOAT_QUANT", "choose_quant", "resolve_quant"]

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


def resolve_quant(quant: str, checkpoint: Path | None) -> str:
    """``quant`` itself, or for ``auto`` :func:`choose_quant` of the checkpoint (``q4`` without one)."""
    if quant != AUTO:
        return quant
    if checkpoint is None:
        return DEFAULT_FLOAT_QUANT
    if not isinstance(checkpoint, Path):
        raise UserError(f"not a checkpoint path: {checkpoint!r}")
    return choose_quant(checkpoint)
