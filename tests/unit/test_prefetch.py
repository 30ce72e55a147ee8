"""Weight prefetch in the decode kernels: issued on x86 (where it was measured), not on ARM, and harmless past
the end of the weights (the kernels' results are checked against references in their own tests)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import tvm

from agent_sdk.quantization.int8_kernels import q4a16_matmul_kernel, q8a16_matmul_kernel
from agent_sdk.quantization.kernels import q_matmul_kernel
from agent_sdk.quantization.prefetch import ahead_plan, prefetch_enabled

pytestmark = pytest.mark.unit

X86 = {"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": "cascadelake"}
PI5 = {"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "cortex-a76", "mattr": ["+neon", "+dotprod"]}

KERNELS: dict[str, Callable[[], tvm.tirx.PrimFunc]] = {
    "q4 float": lambda: q_matmul_kernel("q4", 32, 64, 16),
    "q8 float head": lambda: q_matmul_kernel("q8", 32, 64, 16),
    "q4a16": lambda: q4a16_matmul_kernel(32, 64, 16),
    "q8a16 head": lambda: q8a16_matmul_kernel(32, 64, 16),
}


def _asm(make: Callable[[], tvm.tirx.PrimFunc], spec: dict[str, object]) -> str:
    target = tvm.target.Target(spec)
    with target:
        func = make().with_attr("global_symbol", "kernel")
    return tvm.compile(tvm.IRModule({"kernel": func}), target=target).mod.inspect_source("asm")


@pytest.mark.parametrize("name", list(KERNELS))
def test_x86_kernels_prefetch_and_arm_kernels_do_not(name: str) -> None:
    assert "prefetcht0" in _asm(KERNELS[name], X86)
    assert "prfm" not in _asm(KERNELS[name], PI5)


def test_prefetch_follows_the_target() -> None:
    assert prefetch_enabled(tvm.target.Target(X86))
    assert not prefetch_enabled(tvm.target.Target(PI5))


def test_ahead_plan_covers_a_group_line_by_line() -> None:
    q4 = ahead_plan(4, 64, 3072)  # 16 rows x 4 bytes per word, 4 words per group
    assert (q4.first, q4.step, q4.count) == (48, 1, 4)
    head = ahead_plan(32, 16, 4096)  # 16 int8 rows per column, 32 columns per group: 8 lines of 4 columns
    assert (head.first, head.step, head.count) == (256, 4, 8)
    narrow = ahead_plan(4, 32, 3072)  # 8 rows: a word is half a line
    assert (narrow.first, narrow.step, narrow.count) == (96, 2, 2)
