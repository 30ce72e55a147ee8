"""Subpackages import downward only: every `agent_sdk` import statement is checked against the layers.

Read from the source (every import, also inside functions and under
TYPE_CHECKING), so a new upward import fails here before it tangles the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[2] / "agent_sdk"

# Lower numbers lie below. Peers (same number) may not import each other:
# constrain and tools, runtime and compiler, and the front ends.
LAYERS = {
    "errors": -2, "_safetensors": -1, "jsonschema_repair": -1, "manifest": 0,
    "quantization": 1,
    "models": 2,
    "compiler": 3, "runtime": 3,
    "constrain": 4, "tools": 4,
    "mcp": 5,
    "agent": 6,
    "eval": 7, "server": 7, "tui": 7, "tune": 7,
    "cli": 8,
}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "agent_sdk":
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, n.name) for n in node.names if n.name.split(".")[0] == "agent_sdk"]
    return out


def violations(root: Path = PACKAGE) -> list[str]:
    """Every import that points up or sideways, as ``file:line source -> target``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel == Path("__init__.py"):
            continue  # the public API names everything, lazily
        source = rel.parts[0].removesuffix(".py")
        for line, module in _imports(path):
            target = _part(module)
            if target == source or not target:
                continue
            if source not in LAYERS or target not in LAYERS:
                found.append(f"{rel}:{line} {source} -> {target} (a package missing from LAYERS)")
            elif LAYERS[target] >= LAYERS[source]:
                found.append(f"{rel}:{line} {source} -> {target}")
    return found


def test_imports_point_downward() -> None:
    assert violations() == []


def test_the_check_finds_an_upward_import(tmp_path: Path) -> None:
    (tmp_path / "runtime").mkdir()
    (tmp_path / "runtime" / "x.py").write_text("def f():\n    from agent_sdk.agent.agent import Agent\n")
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "y.py").write_text("import agent_sdk.constrain.grammar\n")
    assert violations(tmp_path) == ["runtime/x.py:2 runtime -> agent", "tools/y.py:1 tools -> constrain"]
