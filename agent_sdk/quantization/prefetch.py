"""Software prefetch of a kernel's weight stream, on x86.

A decode step reads every weight once, in long sequential streams, with
little arithmetic per byte; the hardware prefetcher alone does not run far
enough ahead of a stream read that fast, so the kernels ask for the lines
they will need a few kilobytes ahead. Measured on x86 only: on ARM boards
(DRAM-bound decode, other prefetchers) the kernels issue none until
measured there.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass

from tvm import tirx
from tvm.script import tirx as T
from tvm.target import Target

__all__ = ["PREFETCH_BYTES", "PREFETCH_HEAD_BYTES", "Ahead", "ahead_plan", "prefetch", "prefetch_enabled"]

PREFETCH_BYTES = 3072
"""How far ahead in its weight stream (a row block's words, 64 bytes per 8 columns of 16 rows) a q4 kernel
prefetches. Measured 2026-12-04 on the AVX-512 host (2 cores of a Xeon whose 480 MiB L3 holds the whole model): a
decode-shaped q4a16 matmul (1 token, 3072 x 576) streamed ~10 GB/s at 1 thread without it and 15-17 GB/s with it
(``tools/bench_kernels.py --tokens 1``); SmolLM2-135M q4a16 decode ~85 -> ~110 tok/s at 1 thread and ~165 -> ~225
at 2 (``agent-sdk bench``). 2, 3 and 4 KB measured alike, 0.5 and 1 KB less."""

PREFETCH_HEAD_BYTES = 4096
"""How far ahead the q8 output head kernels prefetch. Measured as :data:`PREFETCH_BYTES`: the ``q8a16`` head (49,152 x 576, 1 token) 14.4 -> 24.9 GB/s (1 KB: 16.1, 2 KB: 17.1,
8 KB: 26.3); decode at 1 thread ~112 -> ~120 tok/s over the body's prefetch alone. (Prefetching whole row blocks
ahead in the earlier float head made it slower: too far.)"""


def prefetch_enabled(target: Target | None = None) -> bool:
    """Whether kernels for ``target`` (default: the current one) prefetch: x86-64 LLVM targets."""
    tgt = target if target is not None else Target.current(allow_none=True)
    if tgt is None or tgt.kind.name != "llvm":
        return False
    triple = str(tgt.attrs.get("mtriple", "")) or platform.machine()
    return triple.startswith(("x86_64", "AMD64"))


def prefetch(address: tirx.PrimExpr) -> tirx.PrimExpr:
    """A read prefetch of ``address`` into every cache level. Never faults: a look-ahead past a buffer's end
    (the last rows') is harmless."""
    return T.call_llvm_intrin("void", "llvm.prefetch.p0", address, T.int32(0), T.int32(3), T.int32(1))


#: Cache line bytes on the x86 CPUs measured.
_LINE = 64


@dataclass(frozen=True)
class Ahead:
    """Where a kernel prefetches, in its weight buffer's middle index (``qweight[rb, index, r]``): for group ``g``,
    ``count`` lines at ``g * span + first + i * step``. ``count`` 0: no prefetch."""

    span: int = 0
    first: int = 0
    step: int = 1
    count: int = 0


def ahead_plan(span: int, index_bytes: int, distance: int) -> Ahead:
    """The prefetches for a weight buffer whose middle index holds ``index_bytes`` bytes of a row block and
    advances ``span`` per group: the group's lines, ``distance`` bytes ahead."""
    return Ahead(span=span, first=distance // index_bytes, step=max(1, _LINE // index_bytes),
                 count=max(1, span * index_bytes // _LINE))
