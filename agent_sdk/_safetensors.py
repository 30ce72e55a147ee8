"""A minimal safetensors reader and writer on numpy (no extra dependency).

The runtime reads bundle weights with it on a device that may have nothing
but numpy and the TVM runtime; checkpoints in safetensors use it too.
BF16 tensors are widened to float32 on read.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np

from agent_sdk.errors import ModelFormatError

__all__ = ["read_safetensors", "read_safetensors_into", "write_safetensors"]

T = TypeVar("T")


def _bf16_to_f32(raw: np.ndarray) -> np.ndarray:
    return (raw.astype(np.uint32) << 16).view(np.float32)


_ST_DTYPES = {
    "F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32,
    "I16": np.int16, "I8": np.int8, "U8": np.uint8, "U16": np.uint16, "U32": np.uint32, "U64": np.uint64,
    "BOOL": np.bool_,
}


def _read_header(path: Path) -> tuple[dict[str, dict], int, int]:
    """``(tensor entries, offset of the data, size of the data)``, checked against the file size."""
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
    data_size = size - 8 - n
    entries = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        if end > data_size:
            raise ModelFormatError(f"{path}: tensor {name} ends at byte {end} but the data has {data_size}; the file is truncated")
        if info["dtype"] != "BF16" and info["dtype"] not in _ST_DTYPES:
            raise ModelFormatError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        itemsize = 2 if info["dtype"] == "BF16" else np.dtype(_ST_DTYPES[info["dtype"]]).itemsize
        if end - begin != int(np.prod(info["shape"])) * itemsize:
            raise ModelFormatError(f"{path}: tensor {name} has {(end - begin) // itemsize} values for shape {tuple(info['shape'])}")
        entries[name] = info
    return entries, 8 + n, data_size


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Reads a ``.safetensors`` file (memory-mapped; BF16 converted to float32)."""
    entries, offset, data_size = _read_header(path)
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=offset) if data_size else np.zeros(0, np.uint8)
    out: dict[str, np.ndarray] = {}
    for name, info in entries.items():
        begin, end = info["data_offsets"]
        raw = np.asarray(data[begin:end])
        if info["dtype"] == "BF16":
            arr = _bf16_to_f32(raw.view("<u2"))
        else:
            arr = raw.view(np.dtype(_ST_DTYPES[info["dtype"]]).newbyteorder("<"))
        out[name] = arr.reshape(tuple(info["shape"]))
    return out


def read_safetensors_into(
    path: Path, names: list[str], alloc: Callable[[tuple[int, ...], str], T], *, sha256: str | None = None
) -> list[T]:
    """Reads tensors straight into buffers made by ``alloc(shape, dtype)``, returned in ``names`` order.

    Unlike :func:`read_safetensors` nothing is memory-mapped or copied: each
    tensor's bytes are read from the file into the buffer's own memory (which
    must export a writable DLPack view), so peak memory is the buffers alone.
    The file is read once, front to back; with ``sha256`` every byte (header,
    padding, tensors not asked for) also goes through the hash, so a bundle's
    weights are verified in the same pass that loads them.
    Bundles never hold BF16 (the compiler writes float32/float16/ints).

    Args:
        path: The file.
        names: Tensors to read.
        alloc: Makes the buffer of a tensor from its shape and dtype name.
        sha256: The file's expected hex sha256; checked after the last byte.

    Raises:
        ModelFormatError: A name is missing, a dtype is BF16 or unsupported, the file is
            truncated, or its sha256 is not ``sha256``.
    """
    entries, offset, _ = _read_header(path)
    missing = [n for n in names if n not in entries]
    if missing:
        raise ModelFormatError(f"{path}: no tensor {', '.join(missing[:5])}")
    for name in names:
        if entries[name]["dtype"] == "BF16":
            raise ModelFormatError(f"{path}: tensor {name} is BF16; bundles store float32/float16")
    # Buffers are made in ``names`` order (the caller's layout), then filled in file order.
    bufs = {n: alloc(tuple(entries[n]["shape"]), np.dtype(_ST_DTYPES[entries[n]["dtype"]]).name) for n in names}
    h = hashlib.sha256() if sha256 is not None else None
    with open(path, "rb", buffering=0) as fp:
        pos = 0
        if h is not None:
            h.update(_read_exact(fp, offset, path, "header"))
            pos = offset
        for name, info in sorted(entries.items(), key=lambda kv: kv[1]["data_offsets"][0]):
            begin, end = (offset + o for o in info["data_offsets"])
            if name not in bufs:
                if h is not None:  # its bytes still count toward the file's hash
                    h.update(_read_exact(fp, end - pos, path, name) if pos <= begin else b"")
                    pos = max(pos, end)
                continue
            if h is not None and pos < begin:
                h.update(_read_exact(fp, begin - pos, path, "padding"))
            fp.seek(begin)
            view = np.from_dlpack(cast(Any, bufs[name])).reshape(-1).view(np.uint8)
            got = 0
            while got < end - begin:
                n = fp.readinto(view.data[got:])
                if not n:
                    raise ModelFormatError(f"{path}: tensor {name} is truncated")
                got += n
            if h is not None:
                if begin < pos:  # overlapping tensors: never written by us, refuse rather than mis-hash
                    raise ModelFormatError(f"{path}: tensor {name} overlaps another")
                h.update(view.data)
                pos = end
        if h is not None:
            h.update(fp.read())  # trailing bytes, if any
            if h.hexdigest() != sha256:
                raise ModelFormatError(f"{path.name} does not match its sha256 in the manifest (corrupted or tampered with)")
    return [bufs[n] for n in names]


def _read_exact(fp: Any, n: int, path: Path, what: str) -> bytes:
    data = fp.read(n)
    if len(data) != n:
        raise ModelFormatError(f"{path}: {what} is truncated")
    return data


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
