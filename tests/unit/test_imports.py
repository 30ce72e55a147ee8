"""Import hygiene, checked in fresh interpreters: the runtime never pulls in the compiler."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

_ROOT = Path(__file__).resolve().parents[2]


def _modules_after(statement: str) -> set[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=_ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def _loaded(modules: set[str], package: str) -> list[str]:
    return sorted(m for m in modules if m == package or m.startswith(package + "."))


def test_import_agent_sdk_is_light() -> None:
    modules = _modules_after("import agent_sdk")
    assert "agent_sdk" in modules
    for heavy in ("tvm", "rich", "agent_sdk.compiler", "agent_sdk.runtime"):
        assert not _loaded(modules, heavy), heavy


def test_import_runtime_does_not_pull_the_compiler_or_models() -> None:
    modules = _modules_after("import agent_sdk.runtime")
    assert "agent_sdk.runtime.engine" in modules
    for forbidden in ("agent_sdk.compiler", "agent_sdk.models", "tvm.relax.frontend", "tvm.relax.transform", "rich"):
        assert not _loaded(modules, forbidden), forbidden


def test_lazy_public_names_do_not_pull_the_compiler() -> None:
    modules = _modules_after("import agent_sdk\nagent_sdk.SamplingParams\nagent_sdk.Engine")
    assert "agent_sdk.runtime.sampler" in modules
    assert not _loaded(modules, "agent_sdk.compiler")
    assert not _loaded(modules, "tvm.relax.frontend")


def test_the_check_can_fail() -> None:
    # The helper really sees what an import loads.
    assert _loaded(_modules_after("import agent_sdk.compiler.targets"), "agent_sdk.compiler")
