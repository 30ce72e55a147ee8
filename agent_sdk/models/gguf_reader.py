"""A GGUF reader of our own: header, metadata and tensor table parsed straight from a memory map.

``gguf.GGUFReader`` builds a numpy view for every element of every metadata
array, so a 262,144-token vocabulary (Gemma 3's tokens, scores and types)
took ~20 s of CPU before a single weight was read. This reader walks the
same layout (GGUF v2/v3: little-endian, 64-bit counts) once: string arrays
with ``struct`` offsets, numeric arrays as one ``numpy.frombuffer`` each, and
returns what ``GGUFReader`` returns (``field.contents()`` values: ``str``,
``int``, ``float``, ``bool``, lists of them; tensor data as memory-mapped
views, typed for F32/F16 and the integer types, ``uint8`` rows of blocks for
quantized types). Tests hold it equal to ``gguf.GGUFReader`` on real and
generated files.

Every length and offset is checked against the file's size before it is
used, so a truncated or hostile file is a :class:`ModelFormatError` naming
what is wrong, never a huge allocation or a crash.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np

from agent_sdk.errors import ModelFormatError

__all__ = ["GGML_BLOCKS", "is_gguf_file", "parse_gguf"]

_MAGIC = b"GGUF"
_VERSIONS = (2, 3)
_DEFAULT_ALIGNMENT = 32
_MAX_DIMS = 4  # GGML_MAX_DIMS
_MAX_ARRAY_DEPTH = 4  # arrays of arrays: deeper than this is no real file

# GGUF metadata value types -> struct format (scalars); 8 = string, 9 = array.
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_NUMPY = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "?", 10: "<u8", 11: "<i8", 12: "<f8"}
_STRING, _ARRAY = 8, 9

# GGML tensor types -> (values per block, bytes per block). The numbers are the
# file format's (ggml.h / gguf-py's GGML_QUANT_SIZES), which tests compare with.
GGML_BLOCKS: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 40),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82),
    23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
    34: (256, 54), 35: (256, 66), 39: (32, 17), 40: (64, 36), 41: (128, 18),
}
# Types whose data is a plain numpy array (the rest: uint8 rows of blocks).
_TENSOR_DTYPES = {0: "<f4", 1: "<f2", 24: "<i1", 25: "<i2", 26: "<i4", 27: "<i8", 28: "<f8"}


class _Cursor:
    """Reads little-endian values from a buffer, checking every read against its end."""

    def __init__(self, buf: np.ndarray, path: Path) -> None:
        self.buf = buf
        self.mv = memoryview(buf)  # type: ignore[arg-type]
        self.pos = 0
        self.end = int(buf.size)
        self.path = path

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.end:
            raise ModelFormatError(
                f"{self.path}: not a readable GGUF file (truncated or corrupt: {what} needs {n} bytes at offset "
                f"{self.pos}, the file has {self.end})"
            )

    def scalar(self, fmt: str, what: str) -> Any:
        size = struct.calcsize(fmt)
        self.need(size, what)
        value = struct.unpack_from(fmt, self.mv, self.pos)[0]
        self.pos += size
        return value

    def raw_string(self, what: str) -> bytes:
        n = self.scalar("<Q", what)
        self.need(n, what)
        out = bytes(self.mv[self.pos : self.pos + n])
        self.pos += n
        return out


def _value(cur: _Cursor, vtype: int, key: str, depth: int = 0) -> tuple[Any, bool]:
    """One metadata value; ``(value, ok)`` with ``ok`` False for a string that is not UTF-8 (the field is skipped)."""
    if vtype in _SCALARS:
        v = cur.scalar(_SCALARS[vtype], key)
        return (bool(v) if vtype == 7 else v), True
    if vtype == _STRING:
        raw = cur.raw_string(key)
        try:
            return raw.decode("utf-8"), True
        except UnicodeDecodeError:
            return None, False
    if vtype == _ARRAY:
        if depth >= _MAX_ARRAY_DEPTH:
            raise ModelFormatError(f"{cur.path}: GGUF metadata {key} nests arrays deeper than {_MAX_ARRAY_DEPTH}")
        etype = cur.scalar("<I", key)
        count = cur.scalar("<Q", key)
        if etype in _NUMPY:
            dtype = np.dtype(_NUMPY[etype])
            cur.need(count * dtype.itemsize, key)
            arr = np.frombuffer(cur.buf, dtype=dtype, count=count, offset=cur.pos)
            cur.pos += count * dtype.itemsize
            return arr.tolist(), True
        if etype == _STRING:
            cur.need(count * 8, key)  # each string has at least its 8-byte length
            out: list[str] = []
            ok = True
            unpack, mv = struct.unpack_from, cur.mv
            pos, end = cur.pos, cur.end
            for _ in range(count):
                if pos + 8 > end:
                    cur.pos = pos
                    cur.need(8, key)
                n = unpack("<Q", mv, pos)[0]
                pos += 8
                if pos + n > end:
                    cur.pos = pos
                    cur.need(n, key)
                try:
                    out.append(str(mv[pos : pos + n], "utf-8"))
                except UnicodeDecodeError:
                    ok = False
                pos += n
            cur.pos = pos
            return (out if ok else None), ok
        if etype == _ARRAY:
            cur.need(count * 12, key)  # each inner array has at least its type and count
            items = []
            ok = True
            for _ in range(count):
                v, good = _value(cur, _ARRAY, key, depth + 1)
                items.append(v)
                ok = ok and good
            return items, ok
        raise ModelFormatError(f"{cur.path}: GGUF metadata {key} is an array of unknown value type {etype}")
    raise ModelFormatError(f"{cur.path}: GGUF metadata {key} has unknown value type {vtype}")


def is_gguf_file(path: Path | str) -> bool:
    """Whether ``path`` is a file that starts with GGUF's magic number (nothing else is read or checked)."""
    try:
        with open(path, "rb") as fp:
            return fp.read(4) == _MAGIC
    except OSError:  # a folder, a missing file, no permission: not a GGUF file to read
        return False


def parse_gguf(path: Path) -> tuple[dict[str, Any], list[tuple[str, int, tuple[int, ...], np.ndarray]]]:
    """Parses a GGUF file.

    Args:
        path: The file.

    Returns:
        ``(metadata, tensors)``: metadata key → value (keys whose strings are
        not UTF-8 left out), and per tensor ``(name, ggml_type, numpy-order
        shape, data)`` in file order, data memory-mapped.

    Raises:
        ModelFormatError: Not GGUF, an unsupported version, truncated, or
            inconsistent (unknown types, tensors outside the file, ...).
    """
    path = Path(path)
    try:
        buf = np.memmap(path, dtype=np.uint8, mode="r")
    except (OSError, ValueError) as exc:
        raise ModelFormatError(f"{path}: not a readable GGUF file ({exc})") from exc
    cur = _Cursor(buf, path)
    cur.need(4, "the magic number")
    if bytes(cur.mv[0:4]) != _MAGIC:
        raise ModelFormatError(f"{path}: not a readable GGUF file (no GGUF magic number)")
    cur.pos = 4
    version = cur.scalar("<I", "the version")
    if version not in _VERSIONS:
        raise ModelFormatError(f"{path}: GGUF version {version} is not supported (supported: 2, 3)")
    n_tensors = cur.scalar("<Q", "the tensor count")
    n_kv = cur.scalar("<Q", "the metadata count")
    cur.need(n_kv * 13, "the metadata")  # key length, a 1-byte key at least, value type
    meta: dict[str, Any] = {}
    for _ in range(n_kv):
        key_raw = cur.raw_string("a metadata key")
        key = key_raw.decode("utf-8", errors="replace")
        vtype = cur.scalar("<I", key)
        value, ok = _value(cur, vtype, key)
        if ok:
            meta[key] = value
    cur.need(n_tensors * 24, "the tensor table")  # name length, dims count, type, offset at least
    infos = []
    for _ in range(n_tensors):
        name = cur.raw_string("a tensor name").decode("utf-8", errors="replace")
        n_dims = cur.scalar("<I", name)
        if not 1 <= n_dims <= _MAX_DIMS:
            raise ModelFormatError(f"{path}: GGUF tensor {name} has {n_dims} dimensions (1 to {_MAX_DIMS} allowed)")
        dims = [cur.scalar("<Q", name) for _ in range(n_dims)]
        ggml_type = cur.scalar("<I", name)
        offset = cur.scalar("<Q", name)
        infos.append((name, dims, ggml_type, offset))
    alignment = meta.get("general.alignment", _DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or isinstance(alignment, bool) or alignment <= 0 or alignment & (alignment - 1):
        raise ModelFormatError(f"{path}: GGUF general.alignment {alignment!r} is not a power of two")
    data_start = -(-cur.pos // alignment) * alignment
    tensors = []
    for name, dims, ggml_type, offset in infos:
        if ggml_type not in GGML_BLOCKS:
            raise ModelFormatError(f"{path}: GGUF tensor {name} has unknown GGML type {ggml_type}")
        block, block_bytes = GGML_BLOCKS[ggml_type]
        if any(d <= 0 for d in dims) or dims[0] % block:
            raise ModelFormatError(
                f"{path}: GGUF tensor {name} has shape {dims}, not whole blocks of {block} (type {ggml_type})"
            )
        n = int(np.prod(dims, dtype=np.float64))
        nbytes = n // block * block_bytes
        start = data_start + offset
        if offset > cur.end or start + nbytes > cur.end:
            raise ModelFormatError(
                f"{path}: not a readable GGUF file (tensor {name}'s {nbytes} bytes at {start} run past the end, "
                f"{cur.end})"
            )
        shape = tuple(int(d) for d in reversed(dims))  # numpy order
        if ggml_type in _TENSOR_DTYPES:
            data = buf[start : start + nbytes].view(np.dtype(_TENSOR_DTYPES[ggml_type])).reshape(shape)
        else:
            data = buf[start : start + nbytes].reshape(*shape[:-1], dims[0] // block * block_bytes)
        tensors.append((name, ggml_type, shape, data))
    return meta, tensors
