"""One checkpoint tensor, shared by every model family's loader.

A :class:`TensorSource` holds either a float array (Hugging Face weights, GGUF
F32/F16, norms) or a GGUF tensor's raw blocks. Loaders keep GGUF blocks raw so
that :meth:`TensorSource.as_format` can repack them into our storage layouts
without requantizing when the file's type maps onto the format.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent_sdk.quantization import formats as qf

__all__ = ["TensorSource"]


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

        GGUF blocks whose type maps onto ``fmt`` are repacked as they are (see
        :func:`agent_sdk.quantization.formats.gguf_block_to_format`); anything
        else is dequantized to float32 and quantized to ``fmt``.

        Args:
            fmt: A storage format of :data:`agent_sdk.quantization.formats.FORMATS`.

        Returns:
            The layout's arrays keyed by suffix (``weight`` or ``qweight``, ``scale``, ``minv``).
        """
        if self.raw is not None and self.ggml_type in qf.GGML_REPACKABLE and len(self.shape) == 2:
            native, arrays = qf.gguf_block_to_format(self.raw, self.ggml_type, *self.shape)
            if native == fmt:
                return arrays  # the file's own blocks
        return qf.quantize(self.as_float(), fmt)
