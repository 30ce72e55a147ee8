"""Compilation targets: presets, unknown names and targets the installed TVM cannot build."""

from __future__ import annotations

import shutil

import pytest

from agent_sdk.compiler import targets as targets_mod
from agent_sdk.compiler.targets import TARGETS, resolve_target, vulkan_available
from agent_sdk.errors import CompileError, TargetError, UserError

pytestmark = pytest.mark.unit


def test_unknown_target_lists_the_choices() -> None:
    with pytest.raises(TargetError) as info:
        resolve_target("pi3")
    msg = str(info.value)
    assert "unknown target 'pi3'" in msg
    for name in ("host", "pi4", "pi5", "aarch64", "vulkan"):
        assert name in msg
    assert isinstance(info.value, UserError) and isinstance(info.value, CompileError)


def test_vulkan_without_vulkan_support_says_what_to_install() -> None:
    if vulkan_available():
        pytest.skip("this TVM was built with USE_VULKAN=ON")
    with pytest.raises(TargetError) as info:
        resolve_target("vulkan")
    msg = str(info.value)
    assert "USE_VULKAN=OFF" in msg and "USE_VULKAN=ON" in msg
    assert "libvulkan-dev" in msg and "glslang" in msg


def test_this_tvm_has_no_vulkan() -> None:
    import tvm

    assert str(tvm.support.libinfo().get("USE_VULKAN", "OFF")).upper() == "OFF"
    assert vulkan_available() is False


@pytest.fixture
def cross_compiler_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = shutil.which
    monkeypatch.setattr(
        targets_mod.shutil, "which", lambda cmd, *a, **k: "/usr/bin/" + cmd if cmd == "aarch64-linux-gnu-g++" else real_which(cmd, *a, **k)
    )


def test_pi4_is_cortex_a72_without_dotprod(cross_compiler_installed: None) -> None:
    spec, target = resolve_target("pi4")
    assert (target["kind"], target["mtriple"], target["mcpu"]) == ("llvm", "aarch64-linux-gnu", "cortex-a72")
    assert "+neon" in target["mattr"]
    assert not any("dotprod" in a or "fp16" in a for a in target["mattr"])  # ARMv8.0-A has neither
    assert target["num-cores"] == 4
    assert (spec.arch, spec.cross_compiler) == ("aarch64", "aarch64-linux-gnu-g++")


def test_pi5_is_cortex_a76_with_dotprod(cross_compiler_installed: None) -> None:
    _, target = resolve_target("pi5")
    assert (target["kind"], target["mtriple"], target["mcpu"]) == ("llvm", "aarch64-linux-gnu", "cortex-a76")
    assert {"+neon", "+dotprod", "+fullfp16"} <= set(target["mattr"])


def test_resolved_dict_is_a_copy(cross_compiler_installed: None) -> None:
    _, target = resolve_target("pi5")
    target["mcpu"] = "changed"
    assert TARGETS["pi5"].target["mcpu"] == "cortex-a76"


def test_missing_cross_compiler_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(targets_mod.shutil, "which", lambda cmd, *a, **k: None)
    with pytest.raises(TargetError, match="apt-get install -y g\\+\\+-aarch64-linux-gnu"):
        resolve_target("pi4")


def test_host_is_llvm_for_this_machine() -> None:
    import platform

    spec, target = resolve_target("host")
    assert target["kind"] == "llvm"
    assert target["mcpu"]
    assert target["num-cores"] >= 1
    if platform.system() == "Linux":
        assert target["mtriple"] == f"{platform.machine()}-linux-gnu"
    assert spec.cross_compiler is None


def test_arm_targets_are_valid_tvm_targets(cross_compiler_installed: None) -> None:
    import tvm

    for name in ("pi4", "pi5", "aarch64"):
        _, target = resolve_target(name)
        built = tvm.target.Target(target)
        assert built.kind.name == "llvm"
        assert str(built.attrs["mcpu"]) == target["mcpu"]
