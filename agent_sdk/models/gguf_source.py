"""One checkpoint tensor, shared by every model family's loader.

A :class:`TensorSource` holds either a float array (Hugging Face weights, GGUF
F32/F16, norms) or a GGUF tensor's raw blocks. Loaders keep GGUF blocks raw so
that :meth:`TensorSource.as_format` can repack them into our storage layouts
without requantizing when the file's type maps onto the format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from agent_sdk.quantization import formats as qf

__all__ = ["TensorSource", "layer_sources", "module_params", "module_sources"]


def layer_sources(layer: int) -> dict[str, list[str]]:
    """The quantized modules of decoder layer ``layer`` → the checkpoint tensors each holds, fused in order.

    Shared by every family's parameter builder and by ``--quant auto``'s per-module choice
    (:mod:`agent_sdk.compiler.quant_choice`), so both name the same modules.
    """
    p = f"model.layers.{layer}."
    return {
        "self_attn.qkv_proj": [p + f"self_attn.{x}_proj.weight" for x in "qkv"],
        "self_attn.o_proj": [p + "self_attn.o_proj.weight"],
        "mlp.gate_up_proj": [p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"],
        "mlp.down_proj": [p + "mlp.down_proj.weight"],
    }


def module_params(
    tensors: Mapping[str, TensorSource], module: str, names: Sequence[str], fmt: str
) -> dict[str, np.ndarray]:
    """One module's parameters: its tensors ``names`` in ``fmt``, fused along the output rows, row-interleaved for
    the kernels (:func:`agent_sdk.quantization.formats.pack_rows`), keyed ``f"{module}.{suffix}"``."""
    parts = [tensors[n].as_format(fmt) for n in names]
    arrays = {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]} if len(parts) > 1 else parts[0]
    return {f"{module}.{suffix}": np.ascontiguousarray(a) for suffix, a in qf.pack_rows(arrays, fmt).items()}


def module_sources(num_layers: int, *, lm_head: bool) -> dict[str, list[str]]:
    """Every quantized module's parameter prefix → its checkpoint tensors (see :func:`layer_sources`)."""
    out = {"embed_tokens": ["model.embed_tokens.weight"]}
    for i in range(num_layers):
        out.update({f"layers.{i}.{m}": names for m, names in layer_sources(i).items()})
    if lm_head:
        out["lm_head"] = ["lm_head.weight"]
    return out


@dataclass
class TensorSource:
    """One canonical tensor: a float array, or raw GGUF blocks.

    Attributes:
        shape: Logical shape, ``(out, in)`` for a matrix (GGUF's dimensions reversed).
        array: The float values, when the tensor is not kept as GGUF blocks.
        ggml_type: GGML type id of ``raw``.
        raw: The GGUF blocks as stored in the file, ``(rows, bytes_per_row)`` uint8
            for a matrix.
    """

    shape: tuple[int, ...]
    array: np.ndarray | None = None
    ggml_type: int | None = None
    raw: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.array is None and (self.raw is None or self.ggml_type is None):
            raise ValueError("TensorSource needs either array, or raw and ggml_type")

    def as_float(self) -> np.ndarray:
        """Returns the tensor's values as float32, in :attr:`shape`.

        Raises:
            ModelFormatError: If the raw blocks are of an unsupported type or size.
        """
        if self.array is not None:
            return np.asarray(self.array, dtype=np.float32)
        assert self.raw is not None and self.ggml_type is not None  # __post_init__
        rows, cols = self.shape if len(self.shape) == 2 else (1, self.shape[0])
        return qf.dequantize_gguf(self.raw, self.ggml_type, rows, cols).reshape(self.shape)

    def as_format(self, fmt: str) -> dict[str, np.ndarray]:
        """Returns the tensor in one of our storage formats.

        GGUF blocks whose values ``fmt`` holds are repacked as they are (see
        :func:`agent_sdk.quantization.formats.gguf_to_format`); anything else is
        dequantized to float32 and quantized to ``fmt``.

        Args:
            fmt: A storage format of :data:`agent_sdk.quantization.formats.FORMATS`.

        Returns:
            The layout's arrays keyed by suffix (``weight`` or ``qweight``, ``scale``, ``minv``).
        """
        if self.raw is not None and self.ggml_type in qf.GGML_REPACKABLE and len(self.shape) == 2:
            return qf.gguf_to_format(self.raw, self.ggml_type, *self.shape, fmt)
        return qf.quantize(self.as_float(), fmt)
