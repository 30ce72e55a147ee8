"""Readers for checkpoint files: PyTorch ``.bin``, safetensors, GGUF.

All readers return numpy arrays and never execute code from the file: the
PyTorch reader unpickles with an allow-list of the few globals that
``torch.save`` writes for plain tensors and refuses anything else.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from agent_sdk._safetensors import read_safetensors
from agent_sdk.errors import ModelFormatError

__all__ = [
    "GGUFFile",
    "GGUFTensor",
    "open_checkpoint",
    "raise_tensor_problems",
    "read_gguf",
    "read_hf_weights",
    "read_safetensors",
    "read_torch_bin",
    "tensor_shape_problems",
]


def _bf16_to_f32(raw: np.ndarray) -> np.ndarray:
    return (raw.astype(np.uint32) << 16).view(np.float32)


_TORCH_STORAGES = {
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16",
    "DoubleStorage": np.float64,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


@dataclass
class _StorageRef:
    dtype: Any
    key: str


def _rebuild_tensor_v2(
    storage: np.ndarray, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any
) -> np.ndarray:
    flat = storage.reshape(-1)
    if offset < 0 or any(n < 0 for n in size) or any(st < 0 for st in stride) or len(size) != len(stride):
        raise ModelFormatError(f"tensor with offset {offset}, size {tuple(size)}, stride {tuple(stride)} is malformed")
    if not size:
        if offset >= flat.size:
            raise ModelFormatError("scalar tensor reads past the end of its storage")
        return flat[offset : offset + 1].reshape(()).copy()
    needed = offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1
    if needed > flat.size:
        raise ModelFormatError(f"tensor of size {tuple(size)} reads past the end of its storage")
    item = flat.itemsize
    view = np.lib.stride_tricks.as_strided(
        flat[offset:], shape=tuple(size), strides=tuple(s * item for s in stride), writeable=False
    )
    return np.ascontiguousarray(view)


def _rebuild_parameter(data: np.ndarray, *_: Any) -> np.ndarray:
    return data


class _SafeTorchUnpickler(pickle.Unpickler):
    """Unpickles ``data.pkl`` of a ``torch.save`` zip, allowing only tensor globals."""

    def __init__(self, fp: Any, archive: zipfile.ZipFile, prefix: str, source: Path) -> None:
        super().__init__(fp)
        self._archive = archive
        self._prefix = prefix
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _TORCH_STORAGES:
            return _StorageRef(_TORCH_STORAGES[name], name)
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        raise ModelFormatError(
            f"{self._source}: refusing to unpickle {module}.{name}; only plain tensors are loaded "
            "(the file may contain code)"
        )

    def persistent_load(self, pid: Any) -> np.ndarray:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise ModelFormatError(f"{self._source}: unexpected persistent id {pid!r}")
        ref, key, numel = pid[1], str(pid[2]), pid[4]
        if not isinstance(ref, _StorageRef):
            raise ModelFormatError(f"{self._source}: unexpected storage type {ref!r}")
        if not isinstance(numel, int) or isinstance(numel, bool) or numel < 0:
            raise ModelFormatError(f"{self._source}: storage {key} has {numel!r} elements")
        name = f"{self._prefix}data/{key}"
        try:
            info = self._archive.getinfo(name)
        except KeyError as exc:
            raise ModelFormatError(f"{self._source}: storage {key} is missing from the archive") from exc
        itemsize = 2 if ref.dtype == "bfloat16" else np.dtype(ref.dtype).itemsize
        need = numel * itemsize
        if info.file_size < need:
            raise ModelFormatError(f"{self._source}: storage {key} is truncated ({info.file_size} bytes, need {need})")
        with self._archive.open(info) as fp:
            raw = fp.read(need)  # never more: a compressed member could expand without bound
        if len(raw) < need:
            raise ModelFormatError(f"{self._source}: storage {key} is truncated ({len(raw)} bytes, need {need})")
        if ref.dtype == "bfloat16":
            return _bf16_to_f32(np.frombuffer(raw, dtype="<u2"))
        return np.frombuffer(raw, dtype=np.dtype(ref.dtype).newbyteorder("<"))


def read_torch_bin(path: Path) -> dict[str, np.ndarray]:
    """Reads a ``torch.save`` zip checkpoint (``pytorch_model.bin``) safely.

    Args:
        path: The file.

    Returns:
        Tensor name → array.

    Raises:
        ModelFormatError: Not a zip checkpoint, a truncated file, or a pickle
            that references anything but tensor-building globals.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelFormatError(
            f"{path}: not a PyTorch zip checkpoint ({exc}); the legacy pre-1.6 format is not supported"
        ) from exc
    with archive:
        pkl = [n for n in archive.namelist() if n.endswith("data.pkl")]
        if not pkl:
            raise ModelFormatError(f"{path}: no data.pkl inside; not a torch.save checkpoint")
        prefix = pkl[0][: -len("data.pkl")]
        try:
            with archive.open(pkl[0]) as fp:
                obj = _SafeTorchUnpickler(fp, archive, prefix, path).load()
        except ModelFormatError:
            raise
        except Exception as exc:
            raise ModelFormatError(f"{path}: cannot read the checkpoint: {exc}") from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ModelFormatError(f"{path}: expected a dict of tensors, found {type(obj).__name__}")
    return {str(k): v for k, v in obj.items() if isinstance(v, np.ndarray)}


def _index_shards(index: Path) -> list[str]:
    """The shard file names an ``*.index.json`` maps tensors to, checked."""
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ModelFormatError(f"{index}: unreadable index: {exc}") from exc
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise ModelFormatError(f"{index}: expected an object with a weight_map of tensor name -> shard file")
    shards = sorted(set(weight_map.values()))
    for shard in shards:
        # Shards sit beside the index: a path could make us read any file on the machine.
        if not shard or shard != Path(shard).name or shard in (".", "..") or "\\" in shard:
            raise ModelFormatError(f"{index}: shard {shard!r} is not a file name in this folder")
    return shards


def read_hf_weights(folder: Path) -> dict[str, np.ndarray]:
    """Reads all weights of a Hugging Face folder (single or sharded files).

    Raises:
        ModelFormatError: No weights, an unreadable index or file, a shard
            outside the folder or missing, or a tensor in two shards.
    """
    for index_name, reader in (("model.safetensors.index.json", read_safetensors), ("pytorch_model.bin.index.json", read_torch_bin)):
        index = folder / index_name
        if index.exists():
            out: dict[str, np.ndarray] = {}
            where: dict[str, str] = {}
            for shard in _index_shards(index):
                if not (folder / shard).is_file():
                    raise ModelFormatError(f"{folder}: shard {shard} named in {index_name} is missing")
                for name, arr in reader(folder / shard).items():
                    if name in out:
                        raise ModelFormatError(f"{folder}: tensor {name} is in both {where[name]} and {shard}")
                    out[name], where[name] = arr, shard
            return out
    if (folder / "model.safetensors").exists():
        return read_safetensors(folder / "model.safetensors")
    if (folder / "pytorch_model.bin").exists():
        return read_torch_bin(folder / "pytorch_model.bin")
    singles = sorted(folder.glob("*.safetensors"))
    if len(singles) == 1:
        return read_safetensors(singles[0])
    raise ModelFormatError(f"{folder}: no weights found (expected model.safetensors or pytorch_model.bin)")


@dataclass
class GGUFTensor:
    """One tensor of a GGUF file.

    Attributes:
        name: Name in the file.
        ggml_type: GGML type id.
        shape: Numpy-order shape (rows, cols) or (n,).
        data: The raw bytes (or values for F32/F16), as stored.
    """

    name: str
    ggml_type: int
    shape: tuple[int, ...]
    data: np.ndarray


@dataclass
class GGUFFile:
    """Metadata and tensors of a GGUF file."""

    metadata: dict[str, Any]
    tensors: dict[str, GGUFTensor]


def read_gguf(path: Path) -> GGUFFile:
    """Reads a GGUF file (memory-mapped) with :func:`agent_sdk.models.gguf_reader.parse_gguf`.

    Raises:
        ModelFormatError: If the file is not GGUF, is truncated or is inconsistent.
    """
    from agent_sdk.models.gguf_reader import parse_gguf

    meta, table = parse_gguf(Path(path))
    tensors = {name: GGUFTensor(name, ggml_type, shape, data) for name, ggml_type, shape, data in table}
    return GGUFFile(meta, tensors)


_C = TypeVar("_C")
_SHOWN_PROBLEMS = 12  # problems listed in one error; the rest are counted


def open_checkpoint(path: Path | str, *, hf: Callable[[Path], _C], gguf: Callable[[Path], _C]) -> _C:
    """Reads a Hugging Face folder with ``hf`` or a GGUF file (by its magic number) with ``gguf``.

    Raises:
        ModelFormatError: Neither a folder nor a GGUF file, or no such path.
    """
    path = Path(path)
    if path.is_dir():
        return hf(path)
    if path.is_file():
        with open(path, "rb") as fp:
            magic = fp.read(4)
        if magic == b"GGUF":
            return gguf(path)
        raise ModelFormatError(f"{path}: not a GGUF file (magic {magic!r}) and not a model folder")
    raise ModelFormatError(f"{path}: no such file or folder")


def tensor_shape_problems(
    expected: Mapping[str, tuple[int, ...]], shapes: Mapping[str, tuple[int, ...]], *,
    ignored: Callable[[str], bool] = lambda _name: False,
) -> list[str]:
    """Each missing, mis-shaped or unexpected tensor, named (``ignored`` names may be extra)."""
    problems = []
    for name, shape in expected.items():
        if name not in shapes:
            problems.append(f"missing tensor {name} (expected shape {shape})")
        elif tuple(shapes[name]) != shape:
            problems.append(f"tensor {name} has shape {tuple(shapes[name])}, expected {shape}")
    extra = [n for n in shapes if n not in expected and not ignored(n)]
    return problems + [f"unexpected tensor {n} with shape {tuple(shapes[n])}" for n in extra]


def raise_tensor_problems(problems: list[str], source: Path | str) -> None:
    """Raises one :class:`ModelFormatError` listing ``problems`` (none: returns)."""
    if problems:
        extra = len(problems) - _SHOWN_PROBLEMS
        shown = problems[:_SHOWN_PROBLEMS] + ([f"... and {extra} more"] if extra > 0 else [])
        raise ModelFormatError(f"{source}: checkpoint does not match its config:\n  " + "\n  ".join(shown))
