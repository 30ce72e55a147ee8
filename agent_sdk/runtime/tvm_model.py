"""Load a verified bundle into TVM's runtime and run its forward pass.

Loading a library runs its code, so :func:`open_bundle` verifies every file
the runtime reads against the manifest before :class:`TVMModel` touches any;
the weights' hash is checked in the pass that reads them, and their header
only after its own hash is (:func:`agent_sdk._safetensors.read_safetensors_into`).
Only TVM's runtime library is loaded, never the compiler.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent_sdk._safetensors import read_safetensors_into
from agent_sdk.errors import BundleError, EngineError, ModelFormatError
from agent_sdk.manifest import read_manifest, verify_bundle

__all__ = ["TVMModel", "load_tvm_runtime", "open_bundle"]


def load_tvm_runtime() -> Any:
    """Makes TVM's runtime available; returns the ``tvm_ffi`` module that drives it.

    When nothing has imported TVM yet, only ``libtvm_runtime.so`` is loaded and
    the ``tvm`` Python package is never imported: the full library (compiler +
    LLVM) costs ~160 MiB of resident memory and the package's Python modules
    ~40 MiB more, none of which running a compiled model uses. Set
    ``AGENT_SDK_RUNTIME_ONLY=0`` to load the full TVM anyway (a process that
    creates an Engine first and compiles afterwards needs that).
    """
    import ctypes
    import importlib.util
    import sys

    tvm_ffi = _import_tvm_ffi()
    if "tvm" in sys.modules or os.environ.get("AGENT_SDK_RUNTIME_ONLY", "1") == "0":
        import tvm  # noqa: F401  # its libraries register the runtime's functions

        return tvm_ffi
    os.environ.setdefault("TVM_USE_RUNTIME_LIB", "1")  # a later `import tvm` takes the same runtime library
    spec = importlib.util.find_spec("tvm")
    if spec is None or not spec.submodule_search_locations:
        raise EngineError("apache-tvm is not installed: pip install apache-tvm")
    lib = Path(next(iter(spec.submodule_search_locations))) / "lib" / "libtvm_runtime.so"
    if not lib.is_file():
        raise EngineError(f"TVM's runtime library is missing: {lib}")
    ctypes.CDLL(str(lib), ctypes.RTLD_GLOBAL)
    return tvm_ffi


def _import_tvm_ffi() -> Any:
    """Imports ``tvm_ffi`` without letting it import PyTorch.

    ``tvm_ffi`` imports ``torch`` whenever it is installed (a symbol-clash
    workaround and DLPack hooks, all guarded for its absence). The runtime
    exchanges no tensors with torch, and importing it costs ~240 MiB of
    resident memory and a second of start-up (measured: an Engine's peak RSS
    457 MiB with torch installed, 215 MiB without), so a process that has not
    loaded torch itself (``agent-sdk tune`` has) imports ``tvm_ffi`` with
    torch hidden; torch can still be imported afterwards.
    """
    import sys

    if "tvm_ffi" in sys.modules or "torch" in sys.modules:
        import tvm_ffi

        return tvm_ffi
    sys.modules["torch"] = None  # type: ignore[assignment]  # `import torch` raises ImportError meanwhile
    try:
        import tvm_ffi
    finally:
        del sys.modules["torch"]
    return tvm_ffi


def open_bundle(path: Path, *, verify: bool = True) -> dict[str, Any]:
    """Reads a bundle's manifest and checks that this machine can load the bundle.

    Args:
        path: The bundle folder.
        verify: Check every file the runtime reads against the manifest
            (all but the weights' sha256, which :class:`TVMModel` checks as it
            reads them).

    Returns:
        The manifest.

    Raises:
        BundleError: A file is missing, unlisted, corrupted or tampered with;
            the model description is unusable; or the library was built for
            another machine.
    """
    manifest = verify_bundle(path, hash_params_later=True) if verify else read_manifest(path)
    target = manifest["target"]
    if target.get("name") == "vulkan":
        raise BundleError(f"{path}: Vulkan bundles need a TVM runtime with Vulkan; this one has none")
    arch = target.get("arch")
    if arch and arch != platform.machine():
        raise BundleError(
            f"{path}: bundle was compiled for {arch} ({target.get('name')}); "
            f"this machine is {platform.machine()}. Compile with --target host here."
        )
    for key in ("vocab_size", "context_window"):
        v = manifest["model"].get(key)
        if not (isinstance(v, int) and not isinstance(v, bool) and v > 0):
            raise BundleError(f"{path}: manifest model.{key} is {v!r}, not a positive integer")
    return manifest


class TVMModel:
    """A bundle's library and weights in TVM's runtime, with its paged KV cache.

    Implements :class:`agent_sdk.runtime.prefix_cache.KVCache`.

    Args:
        path: The bundle folder, already checked by :func:`open_bundle`.
        manifest: Its manifest.
        verify: Check the weights' sha256 (and their header's first) while reading them.
        max_sequences: Sequences the KV cache holds at once.
        kv_tokens: Tokens the KV cache's page pool holds across sequences.
        prefill_chunk: Most tokens computed in one forward call.
        page_size: KV-cache page size in tokens.

    Raises:
        BundleError: The library does not load, or the weights are corrupted,
            tampered with or do not fit the library.
    """

    def __init__(
        self, path: Path, manifest: dict[str, Any], *, verify: bool, max_sequences: int, kv_tokens: int,
        prefill_chunk: int, page_size: int,
    ) -> None:
        ffi = load_tvm_runtime()
        self.path = path
        self._shape = ffi.Shape
        alloc = ffi.get_global_func("runtime.TVMTensorAllocWithScope")
        dev = ffi.device("cpu", 0)
        # Sliding-window layers (Gemma 3) are exact only when one call appends at most a window of
        # tokens (agent_sdk.models.gemma3.gemma3_model.max_forward_tokens).
        window = manifest["model"].get("sliding_window")
        sliding = isinstance(window, int) and not isinstance(window, bool) and window > 0
        if sliding:
            prefill_chunk = min(prefill_chunk, window)
        self.prefill_chunk = prefill_chunk
        # TVM windows each block of a forked sequence on its own (a fork's shared prefix and its own
        # tokens each contribute up to a window of keys): sliding-window sequences are never forked.
        self.can_fork = not sliding
        # ... except a fork that never holds more than a window of tokens: no key is then out of any
        # block's window, so its attention is exact (scoring short alternatives after a short prompt).
        self.fork_window: int | None = window if sliding else None

        def empty(shape: Sequence[int], dtype: str) -> Any:
            return alloc(ffi.Shape(list(shape)), dtype, dev, None)

        self._empty = empty  # kept: forward makes an input tensor per call
        try:
            lib = ffi.load_module(str(path / manifest["library"]))
            vm = lib["vm_load_executable"]()
            vm["vm_initialization"](1, 0, 2)  # kDLCPU, device 0, pooled allocator
        except Exception as exc:
            raise BundleError(f"{path}: cannot load the library: {exc}") from exc
        listed = manifest["files"].get(manifest["params"], {}) if verify else {}
        try:
            # Straight from the file into TVM's memory: a memory map plus copies
            # would hold the weights twice at the peak.
            self._params = read_safetensors_into(
                path / manifest["params"], manifest.get("param_order"), empty,
                sha256=listed.get("sha256"), header_sha256=listed.get("header_sha256"),
            )
        except ModelFormatError as exc:
            raise BundleError(f"{path}: params file: {exc}") from exc
        self._f_embed = vm["embed"]
        self._f_prefill = vm["prefill"]
        self._f_prefill_all = vm["prefill_all"]
        self._f_decode = vm["decode"]
        # Logits at chosen positions of one pass; bundles compiled before it have none (has_rows says so).
        self._f_prefill_rows = vm["prefill_rows"] if vm.implements_function("prefill_rows") else None
        # Named by the manifest; bundles compiled before it existed have none (hidden_states says so).
        info = manifest.get("hidden_states")
        hidden = info.get("function") if isinstance(info, dict) else None
        self._f_hidden = vm[hidden] if isinstance(hidden, str) and vm.implements_function(hidden) else None
        g = ffi.get_global_func
        self._kv_add = g("vm.builtin.kv_state_add_sequence")
        self._kv_remove = g("vm.builtin.kv_state_remove_sequence")
        self._kv_fork = g("vm.builtin.kv_state_fork_sequence")
        self._kv_popn = g("vm.builtin.kv_state_popn")
        self._kv_begin = g("vm.builtin.kv_state_begin_forward")
        self._kv_end = g("vm.builtin.kv_state_end_forward")
        S = ffi.Shape
        self._kv = vm["create_paged_kv_cache"](S([max_sequences]), S([kv_tokens]), S([prefill_chunk]), S([page_size]), S([0]))
        self._vm = vm  # the functions above live in it

    def _tensor(self, array: np.ndarray) -> Any:
        """A TVM-owned (aligned) copy of a numpy array."""
        t = self._empty(array.shape, array.dtype.name)
        np.from_dlpack(t)[...] = array
        return t

    def _run(self, seq_id: int, ids: list[int], pick: Callable[[int, int], Any]) -> Iterator[Any]:
        """Appends ``ids`` to a sequence in chunks; yields each chunk's outputs.

        Args:
            seq_id: The sequence.
            ids: Tokens to append.
            pick: The library function to run for the chunk of ``n`` tokens from ``ids[start]``:
                ``pick(start, n)``.
        """
        for start in range(0, len(ids), self.prefill_chunk):
            chunk = ids[start : start + self.prefill_chunk]
            n = len(chunk)
            emb = self._f_embed(self._tensor(np.asarray(chunk, dtype=np.int32)), self._params)  # (1, n, h)
            self._kv_begin(self._kv, self._shape([seq_id]), self._shape([n]))
            try:
                out = pick(start, n)(emb, self._kv, self._params)
            finally:
                self._kv_end(self._kv)
            yield out

    def forward(self, seq_id: int, ids: list[int], *, all_logits: bool = False) -> np.ndarray:
        """Appends ``ids`` to a sequence; returns the logits after the last (or, with ``all_logits``, every) token."""
        def pick(_start: int, n: int) -> Any:
            if all_logits:
                return self._f_prefill_all
            return self._f_decode if n == 1 else self._f_prefill

        outs = [np.from_dlpack(out[0])[0].copy() for out in self._run(seq_id, ids, pick)]  # each (n or 1, v)
        if all_logits:
            return np.concatenate(outs, axis=0)
        return outs[-1][-1]

    @property
    def has_rows(self) -> bool:
        """Whether the library computes logits at chosen positions (:meth:`forward_rows`)."""
        return self._f_prefill_rows is not None

    def forward_rows(self, seq_id: int, ids: list[int], rows: Sequence[int]) -> np.ndarray:
        """Appends ``ids`` to a sequence; returns the logits after ``ids[r]`` for each ``r`` of ``rows``, ``(k, v)``.

        The output head runs over those positions only, so the prompt's last
        logits and a forced continuation's last ones come from one pass at
        the cost of one pass.

        Raises:
            EngineError: The bundle has no such function (compiled before it), or a row is out of range.
        """
        if self._f_prefill_rows is None:
            raise EngineError(f"{self.path}: this bundle has no prefill_rows function; recompile it with this SDK")
        if not ids or not rows or any(not 0 <= r < len(ids) for r in rows):
            raise EngineError(f"forward_rows: rows {list(rows)} outside the {len(ids)} tokens appended")
        f_rows = self._f_prefill_rows
        here: list[int] = []  # the current chunk's rows, as positions of ids

        def pick(start: int, n: int) -> Any:
            here[:] = sorted({r for r in rows if start <= r < start + n})
            if not here:
                return self._f_prefill
            idx = self._tensor(np.asarray([r - start for r in here], dtype=np.int32))
            return lambda emb, kv, params: f_rows(emb, kv, idx, params)

        got: dict[int, np.ndarray] = {}
        for out in self._run(seq_id, ids, pick):
            if here:
                logits = np.from_dlpack(out[0])[0]  # (len(here), v)
                got.update((r, logits[j].copy()) for j, r in enumerate(here))
        return np.stack([got[r] for r in rows])

    def forward_many(self, seq_ids: Sequence[int], ids: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Appends ``ids[i]`` to sequence ``seq_ids[i]`` for every ``i``, batched; returns each one's logits.

        Sequences go into one forward call together while their tokens fit a
        prefill chunk (the paged KV cache lays them out ragged: each attends
        to its own keys only), so a few short continuations of one prefix
        read the weights once instead of once each. A sequence longer than a
        chunk runs on its own.

        Args:
            seq_ids: Distinct sequences.
            ids: Tokens to append to each (non-empty).

        Returns:
            The logits after each of each sequence's tokens, ``(len(ids[i]), vocab)``.
        """
        if len(seq_ids) != len(ids) or len(set(seq_ids)) != len(seq_ids) or any(len(t) == 0 for t in ids):
            raise EngineError("forward_many needs distinct sequences, each with tokens to append")
        out: list[np.ndarray | None] = [None] * len(ids)
        group: list[int] = []

        def run(members: list[int]) -> None:
            flat = np.asarray([t for i in members for t in ids[i]], dtype=np.int32)
            emb = self._f_embed(self._tensor(flat), self._params)  # (1, sum n, h)
            self._kv_begin(self._kv, self._shape([seq_ids[i] for i in members]), self._shape([len(ids[i]) for i in members]))
            try:
                logits = self._f_prefill_all(emb, self._kv, self._params)
            finally:
                self._kv_end(self._kv)
            rows = np.from_dlpack(logits[0])[0]  # (sum n, v)
            start = 0
            for i in members:
                out[i] = rows[start : start + len(ids[i])].copy()
                start += len(ids[i])

        for i, toks in enumerate(ids):
            if len(toks) > self.prefill_chunk:
                out[i] = self.forward(seq_ids[i], [int(t) for t in toks], all_logits=True)
                continue
            if group and sum(len(ids[j]) for j in group) + len(toks) > self.prefill_chunk:
                run(group)
                group = []
            group.append(i)
        if group:
            run(group)
        return [o for o in out if o is not None]

    def require_hidden_states(self) -> Any:
        """The library's hidden-states function.

        Raises:
            BundleError: The bundle was compiled before the function existed.
        """
        if self._f_hidden is None:
            raise BundleError(
                f"{self.path}: this bundle has no hidden-states function (it was compiled before they existed); "
                "recompile it with this SDK (agent-sdk compile, or tune again for a tuned bundle)"
            )
        return self._f_hidden

    def hidden_states(self, seq_id: int, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Appends ``ids`` to a sequence; returns the hidden states at every one of them.

        Returns:
            ``(final, middle)``, float32, each ``(len(ids), h)``: the final
            norm's output and the residual stream after the manifest's
            ``hidden_states.middle_layer`` blocks.

        Raises:
            BundleError: The bundle was compiled before the function existed.
        """
        f = self.require_hidden_states()
        finals, middles = [], []
        for out in self._run(seq_id, ids, lambda _start, _n: f):
            finals.append(np.from_dlpack(out[0])[0].copy())  # (n, h)
            middles.append(np.from_dlpack(out[1])[0].copy())  # (n, h)
        return np.concatenate(finals, axis=0), np.concatenate(middles, axis=0)

    def add_sequence(self, seq_id: int) -> None:
        """Starts an empty sequence in the KV cache."""
        self._kv_add(self._kv, seq_id)

    def remove_sequence(self, seq_id: int) -> None:
        """Frees a sequence's pages."""
        self._kv_remove(self._kv, seq_id)

    def pop_tokens(self, seq_id: int, n: int) -> None:
        """Drops the last ``n`` tokens of a sequence that was never forked from another.

        This is how a sliding-window model, which cannot fork, reuses a cached
        prefix: the sequence holding it is cut back to the prefix and extended
        in place (exact: measured on Gemma 3 270M, logits identical to a fresh
        sequence's within and past the window).
        """
        self._kv_popn(self._kv, seq_id, n)

    def fork_sequence(self, parent: int, child: int, length: int, *, total: int | None = None) -> None:
        """Starts ``child`` holding the first ``length`` tokens of ``parent`` (pages shared).

        Args:
            parent: The sequence forked.
            child: The new sequence's id.
            length: Tokens of ``parent`` it starts with.
            total: Most tokens the child will ever hold; a sliding-window model
                forks only when this fits its window (:attr:`fork_window`).

        Raises:
            EngineError: The model has sliding-window layers (see :attr:`can_fork`)
                and the child may outgrow the window.
        """
        if not self.can_fork and (self.fork_window is None or total is None or total > self.fork_window):
            raise EngineError(
                f"{self.path}: sequences of a sliding-window model can be forked only within a window "
                f"({self.fork_window} tokens; asked for {total})"
            )
        self._kv_fork(self._kv, parent, child, length)
