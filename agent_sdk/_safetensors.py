"""A minimal safetensors reader and writer on numpy (no extra dependency).

The runtime reads bundle weights with it on a device that may have nothing
but numpy and the TVM runtime; checkpoints in safetensors use it too.
BF16 tensors are widened to float32 on read.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np

from agent_sdk.errors import ModelFormatError

__all__ = ["read_safetensors", "read_safetensors_into", "write_safetensors", "header_sha256", "MAX_HEADER_BYTES"]

T = TypeVar("T")


def _bf16_to_f32(raw: np.ndarray) -> np.ndarray:
    return (raw.astype(np.uint32) << 16).view(np.float32)


_ST_DTYPES = {
    "F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32,
    "I16": np.int16, "I8": np.int8, "U8": np.uint8, "U16": np.uint16, "U32": np.uint32, "U64": np.uint64,
    "BOOL": np.bool_,
}


# The safetensors package refuses headers over 100 MB; a real one is a few hundred kB.
MAX_HEADER_BYTES = 100_000_000


@dataclass(frozen=True)
class _Entry:
    """One tensor of a header, checked: ``begin``/``end`` are offsets into the data."""

    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


def _itemsize(dtype: str) -> int:
    return 2 if dtype == "BF16" else np.dtype(_ST_DTYPES[dtype]).itemsize


def _read_header_bytes(fp: Any, path: Path, size: int) -> tuple[bytes, bytes]:
    """``(the 8-byte length, the header)`` of an open file of ``size`` bytes; nothing parsed."""
    head = fp.read(8)
    if len(head) < 8:
        raise ModelFormatError(f"{path}: file too short for safetensors")
    (n,) = struct.unpack("<Q", head)
    if n > size - 8:
        raise ModelFormatError(f"{path}: header length {n} exceeds the file size; the file is truncated or not safetensors")
    if n > MAX_HEADER_BYTES:
        raise ModelFormatError(f"{path}: header length {n} is over the {MAX_HEADER_BYTES}-byte limit; not a safetensors file")
    return head, _read_exact(fp, n, path, "header")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears twice")
        out[key] = value
    return out


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _parse_header(raw: bytes, path: Path, data_size: int) -> dict[str, _Entry]:
    """Checks a header completely before anything is allocated from it.

    Every entry must be an object with a known ``dtype``, a ``shape`` of
    non-negative integers and ``data_offsets`` ``[begin, end]`` inside the
    data whose length is exactly the shape's byte size; tensors may not
    overlap. Sizes are computed with Python integers (no overflow).
    """
    try:
        # The format is UTF-8 JSON; json.loads would also take UTF-16/32 bytes.
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise ModelFormatError(f"{path}: unreadable safetensors header: {exc}") from exc
    if not isinstance(header, dict):
        raise ModelFormatError(f"{path}: safetensors header is a JSON {type(header).__name__}, not an object")
    entries: dict[str, _Entry] = {}
    for name, info in header.items():
        if name == "__metadata__":
            if not isinstance(info, dict):
                raise ModelFormatError(f"{path}: __metadata__ is a {type(info).__name__}, not an object")
            continue
        where = f"{path}: tensor {name}"
        if not isinstance(info, dict):
            raise ModelFormatError(f"{where} is described by a {type(info).__name__}, not an object")
        missing = [k for k in ("dtype", "shape", "data_offsets") if k not in info]
        if missing:
            raise ModelFormatError(f"{where} lacks {', '.join(missing)}")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(dtype, str) or (dtype != "BF16" and dtype not in _ST_DTYPES):
            raise ModelFormatError(f"{where} has unsupported dtype {dtype}")
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            raise ModelFormatError(f"{where} has shape {shape!r}; expected a list of non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
            raise ModelFormatError(f"{where} has data_offsets {offsets!r}; expected [begin, end] integers")
        begin, end = offsets
        if not 0 <= begin <= end:
            raise ModelFormatError(f"{where} has data_offsets {offsets!r}; expected 0 <= begin <= end")
        if end > data_size:
            raise ModelFormatError(f"{where} ends at byte {end} but the data has {data_size}; the file is truncated")
        itemsize = _itemsize(dtype)
        if end - begin != math.prod(shape) * itemsize:
            raise ModelFormatError(f"{where} has {(end - begin) // itemsize} values for shape {tuple(shape)}")
        entries[name] = _Entry(dtype, tuple(shape), begin, end)
    reached, last = 0, ""
    for name, e in sorted(entries.items(), key=lambda kv: (kv[1].begin, kv[1].end)):
        if e.begin < reached:
            raise ModelFormatError(f"{path}: tensor {name} overlaps tensor {last}")
        if e.end >= reached:
            reached, last = e.end, name
    return entries


def _read_header(path: Path) -> tuple[dict[str, _Entry], int, int]:
    """``(tensor entries, offset of the data, size of the data)``, checked against the file size."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fp:
            head, raw = _read_header_bytes(fp, path, size)
    except OSError as exc:
        raise ModelFormatError(f"{path}: cannot read: {exc}") from exc
    offset = len(head) + len(raw)
    return _parse_header(raw, path, size - offset), offset, size - offset


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Reads a ``.safetensors`` file (memory-mapped; BF16 converted to float32).

    Raises:
        ModelFormatError: The header is not a safetensors header, or describes
            a tensor wrongly (dtype, shape, offsets), naming the file and tensor.
    """
    entries, offset, data_size = _read_header(path)
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=offset) if data_size else np.zeros(0, np.uint8)
    out: dict[str, np.ndarray] = {}
    for name, e in entries.items():
        raw = np.asarray(data[e.begin : e.end])
        if e.dtype == "BF16":
            arr = _bf16_to_f32(raw.view("<u2"))
        else:
            arr = raw.view(np.dtype(_ST_DTYPES[e.dtype]).newbyteorder("<"))
        out[name] = arr.reshape(e.shape)
    return out


def header_sha256(path: Path) -> str | None:
    """The hex sha256 of a safetensors file's first bytes up to the end of its header, if it has one.

    A bundle's manifest records it so that the runtime can check the header
    before it parses it, and still read the weights in one pass.
    """
    try:
        with open(path, "rb") as fp:
            head, raw = _read_header_bytes(fp, path, path.stat().st_size)
    except ModelFormatError:
        return None
    return hashlib.sha256(head + raw).hexdigest()


def read_safetensors_into(
    path: Path,
    names: list[str] | None,
    alloc: Callable[[tuple[int, ...], str], T],
    *,
    sha256: str | None = None,
    header_sha256: str | None = None,
) -> list[T]:
    """Reads tensors straight into buffers made by ``alloc(shape, dtype)``, returned in ``names`` order.

    Unlike :func:`read_safetensors` nothing is memory-mapped or copied: each
    tensor's bytes are read from the file into the buffer's own memory (which
    must export a writable DLPack view), so peak memory is the buffers alone.
    Bundles never hold BF16 (the compiler writes float32/float16/ints).

    With a hash, nothing the header says is used (no buffer is made from it)
    before the header is known to be the expected one: with
    ``header_sha256`` the header is checked first and the file is then read
    once, front to back, every byte (padding and tensors not asked for too)
    going through ``sha256``; with ``sha256`` alone the whole file is hashed
    before the header is parsed, then read.

    Args:
        path: The file.
        names: Tensors to read; None reads every tensor, in the header's order.
        alloc: Makes the buffer of a tensor from its shape and dtype name.
        sha256: The file's expected hex sha256.
        header_sha256: The expected hex sha256 of the file's first bytes up to
            the end of its header (:func:`header_sha256`).

    Raises:
        ModelFormatError: A name is missing, a dtype is BF16 or unsupported, the
            header is malformed, the file is truncated, or a hash differs.
    """
    size = path.stat().st_size
    with open(path, "rb", buffering=0) as fp:
        head, raw = _read_header_bytes(fp, path, size)
        offset = len(head) + len(raw)
        h = hashlib.sha256(head + raw) if sha256 is not None else None
        if header_sha256 is not None and hashlib.sha256(head + raw).hexdigest() != header_sha256:
            raise ModelFormatError(f"{path.name}: its header does not match the sha256 in the manifest (corrupted or tampered with)")
        if h is not None and header_sha256 is None:
            # Nothing vouches for the header yet: hash the whole file first.
            for chunk in iter(lambda: fp.read(1 << 20), b""):
                h.update(chunk)
            _check_digest(h, sha256, path)
            h = None
        entries = _parse_header(raw, path, size - offset)
        wanted = list(entries) if names is None else names
        missing = [n for n in wanted if n not in entries]
        if missing:
            raise ModelFormatError(f"{path}: no tensor {', '.join(missing[:5])}")
        for name in wanted:
            if entries[name].dtype == "BF16":
                raise ModelFormatError(f"{path}: tensor {name} is BF16; bundles store float32/float16")
        # Buffers are made in ``wanted`` order (the caller's layout), then filled in file order.
        bufs = {n: alloc(entries[n].shape, np.dtype(_ST_DTYPES[entries[n].dtype]).name) for n in wanted}
        fp.seek(offset)
        pos = offset
        for name, e in sorted(entries.items(), key=lambda kv: (kv[1].begin, kv[1].end)):
            begin, end = offset + e.begin, offset + e.end
            if name not in bufs:
                if h is not None:  # its bytes, and any padding before them, still count toward the file's hash
                    h.update(_read_exact(fp, end - pos, path, name))
                    pos = end
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
                h.update(view.data)
            pos = end
        if h is not None:
            fp.seek(pos)
            for chunk in iter(lambda: fp.read(1 << 20), b""):  # trailing bytes, if any
                h.update(chunk)
            _check_digest(h, sha256, path)
    return [bufs[n] for n in wanted]


def _check_digest(h: Any, sha256: str | None, path: Path) -> None:
    if h.hexdigest() != sha256:
        raise ModelFormatError(f"{path.name} does not match its sha256 in the manifest (corrupted or tampered with)")


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
