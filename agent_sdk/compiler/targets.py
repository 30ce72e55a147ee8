"""Compilation targets: the host and Raspberry Pi presets.

TVM 0.27 takes targets as dicts. Pi 4 is a Cortex-A72 (ARMv8.0-A, NEON);
Pi 5 a Cortex-A76 (ARMv8.2-A: NEON, dot product, fp16 arithmetic).
"""

from __future__ import annotations

import platform
import shutil
from dataclasses import dataclass, field
from typing import Any

from agent_sdk.errors import TargetError

__all__ = ["TargetSpec", "TARGETS", "resolve_target", "host_llvm_target"]

# fp32 reductions vectorize only when LLVM may reassociate them; it also
# brings the results closer to a float64 reference (see shared notes).
_FAST_MATH = {"fast-math-reassoc": True, "fast-math-contract": True}


@dataclass(frozen=True)
class TargetSpec:
    """A named compilation target.

    Attributes:
        name: Preset name used on the command line.
        description: One line for ``--help`` and ``info``.
        target: The TVM target dict.
        cross_compiler: Compiler driver for linking the library, None for the host's.
        arch: Machine the library runs on (``x86_64``, ``aarch64``).
    """

    name: str
    description: str
    target: dict[str, Any] = field(default_factory=dict)
    cross_compiler: str | None = None
    arch: str = ""


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 1


def host_llvm_target() -> dict[str, Any]:
    """The LLVM target for this machine, with its CPU's features."""
    import tvm

    host = dict(tvm.target.Target.from_device("cpu").export())
    base: dict[str, Any] = {"kind": "llvm", "mcpu": host.get("mcpu", "generic")}
    if platform.system() == "Linux":
        base["mtriple"] = f"{platform.machine()}-linux-gnu"
    base.update(_FAST_MATH)
    base["num-cores"] = _cpu_count()
    return base


def _arm(mcpu: str, mattr: list[str], cores: int) -> dict[str, Any]:
    return {
        "kind": "llvm",
        "mtriple": "aarch64-linux-gnu",
        "mcpu": mcpu,
        "mattr": mattr,
        "num-cores": cores,
        **_FAST_MATH,
    }


TARGETS: dict[str, TargetSpec] = {
    "host": TargetSpec("host", "this machine's CPU (LLVM, native features)", arch=platform.machine()),
    "pi4": TargetSpec(
        "pi4", "Raspberry Pi 4: Cortex-A72, NEON", _arm("cortex-a72", ["+neon"], 4), "aarch64-linux-gnu-g++", "aarch64"
    ),
    "pi5": TargetSpec(
        "pi5",
        "Raspberry Pi 5: Cortex-A76, NEON + dotprod + fp16",
        _arm("cortex-a76", ["+neon", "+dotprod", "+fullfp16"], 4),
        "aarch64-linux-gnu-g++",
        "aarch64",
    ),
    "aarch64": TargetSpec(
        "aarch64", "generic ARMv8-A 64-bit (NEON)", _arm("generic", ["+neon"], 4), "aarch64-linux-gnu-g++", "aarch64"
    ),
    "vulkan": TargetSpec("vulkan", "Vulkan GPU (needs a TVM built with USE_VULKAN=ON)", arch=platform.machine()),
}


def vulkan_available() -> bool:
    """Whether the installed TVM can generate Vulkan code."""
    import tvm

    return str(tvm.support.libinfo().get("USE_VULKAN", "OFF")).upper() in ("ON", "1", "TRUE")


def resolve_target(name: str) -> tuple[TargetSpec, dict[str, Any]]:
    """Returns the preset and the concrete TVM target dict for a name.

    Args:
        name: A key of :data:`TARGETS`.

    Raises:
        TargetError: Unknown target, a Vulkan target without Vulkan support, or
            a cross target without its cross compiler installed.
    """
    if name not in TARGETS:
        raise TargetError(f"unknown target {name!r}; choose one of: {', '.join(TARGETS)}")
    spec = TARGETS[name]
    if name == "host":
        return spec, host_llvm_target()
    if name == "vulkan":
        if not vulkan_available():
            import tvm

            raise TargetError(
                f"target 'vulkan' needs a TVM built with Vulkan; the installed apache-tvm {tvm.__version__} "
                "has USE_VULKAN=OFF. Build TVM from source with USE_VULKAN=ON (plus the Vulkan SDK / "
                "libvulkan-dev and glslang) and install it in place of the PyPI wheel, or use a CPU target "
                "(host, pi4, pi5)."
            )
        return spec, {"kind": "vulkan", "host": host_llvm_target()}
    if spec.cross_compiler and shutil.which(spec.cross_compiler) is None:
        raise TargetError(
            f"target {name!r} cross-compiles with {spec.cross_compiler}, which is not installed; "
            "install it with: apt-get install -y g++-aarch64-linux-gnu"
        )
    return spec, dict(spec.target)
