"""A minimal safetensors reader and writer on numpy (no extra dependency).

The runtime reads bundle weights with it on a device that may have nothing
but numpy and the TVM runtime; checkpoints in safetensors use it too.
BF16 tensors are widened to float32 on read.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from agent_sdk.errors import ModelFormatError

__all__ = ["read_safetensors", "write_safetensors"]


def _bf16_to_f32(raw: np.ndarray) -> np.ndarray:
    return (raw.astype(np.uint32) << 16).view(np.float32)


_ST_DTYPES = {
    "F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32,
    "I16": np.int16, "I8": np.int8, "U8": np.uint8, "U16": np.uint16, "U32": np.uint32, "U64": np.uint64,
    "BOOL": np.bool_,
}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Reads a ``.safetensors`` file (memory-mapped; BF16 converted to float32)."""
    size = path.stat().st_size
    with open(path, "rb") as fp:
        head = fp.read(8)
        if len(head) < 8:
            raise ModelFormatError(f"{path}: file too short for safetensors")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8:
            raise ModelFormatError(f"{path}: header length {n} exceeds the file size; the file is truncated or not safetensors")
        try:
            header = json.loads(fp.read(n))
        except ValueError as exc:
            raise ModelFormatError(f"{path}: unreadable safetensors header: {exc}") from exc
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n) if size > 8 + n else np.zeros(0, np.uint8)
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        if end > data.size:
            raise ModelFormatError(f"{path}: tensor {name} ends at byte {end} but the data has {data.size}; the file is truncated")
        shape = tuple(info["shape"])
        raw = np.asarray(data[begin:end])
        if info["dtype"] == "BF16":
            arr = _bf16_to_f32(raw.view("<u2"))
        elif info["dtype"] in _ST_DTYPES:
            arr = raw.view(np.dtype(_ST_DTYPES[info["dtype"]]).newbyteorder("<"))
        else:
            raise ModelFormatError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        if arr.size != int(np.prod(shape)):
            raise ModelFormatError(f"{path}: tensor {name} has {arr.size} values for shape {shape}")
        out[name] = arr.reshape(shape)
    return out


_DTYPE_NAMES = {np.dtype(v).name: k for k, v in _ST_DTYPES.items()}


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], order: list[str] | None = None) -> None:
    """Writes tensors to ``path`` (8-byte aligned, in ``order`` if given)."""
    names = order or list(tensors)
    header: dict[str, object] = {}
    offset = 0
    for name in names:
        arr = tensors[name]
        n = arr.nbytes
        header[name] = {"dtype": _DTYPE_NAMES[arr.dtype.name], "shape": list(arr.shape), "data_offsets": [offset, offset + n]}
        offset += n
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-(len(head) + 8) % 8)
    tmp = Path(str(path) + ".tmp")
    with open(tmp, "wb") as fp:
        fp.write(struct.pack("<Q", len(head)))
        fp.write(head)
        for name in names:
            fp.write(np.ascontiguousarray(tensors[name]).astype(tensors[name].dtype.newbyteorder("<"), copy=False).tobytes())
    tmp.replace(path)
