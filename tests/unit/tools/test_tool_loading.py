"""load_tools from a .py file and from a module path; `import agent_sdk.tools` stays light."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent_sdk.errors import ToolDefinitionError, UserError
from agent_sdk.tools import load_tools

pytestmark = pytest.mark.unit

_ROOT = Path(__file__).resolve().parents[3]

TOOLS_SOURCE = textwrap.dedent(
    '''
    from __future__ import annotations

    import enum
    from typing import Literal

    from pydantic import BaseModel

    from agent_sdk.tools import tool


    class Room(enum.Enum):
        KITCHEN = "kitchen"
        BEDROOM = "bedroom"


    class Scene(BaseModel):
        brightness: int
        colour: str = "warm"


    @tool
    def lights(room: Room, on: bool = True) -> str:
        """Switches the lights of a room.

        Args:
            room: Which room.
            on: On or off.
        """
        return f"{room.value} {'on' if on else 'off'}"


    @tool(timeout=5)
    def set_scene(scene: Scene, fade: Literal["slow", "fast"] = "slow") -> dict:
        """Sets a lighting scene.

        Args:
            scene: The scene.
            fade: How fast to fade.
        """
        return scene.model_dump()


    alias = lights  # the same tool under another name counts once


    def helper(x: int) -> int:  # not a tool: ignored
        return x
    '''
)


def test_load_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "home_tools.py"
    path.write_text(TOOLS_SOURCE)
    registry = load_tools(str(path))
    assert registry.names == ["lights", "set_scene"]
    assert registry.execute_sync("lights", {"room": "kitchen", "on": False}).content == "kitchen off"
    result = registry.execute_sync("set_scene", {"scene": {"brightness": 40}})
    assert result.ok and result.to_message() == '{"brightness": 40, "colour": "warm"}'
    assert registry.get("set_scene").timeout == 5
    # Loading twice gives fresh tools; nothing is renamed or merged.
    assert load_tools(str(path)).names == ["lights", "set_scene"]


def test_load_from_a_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "agent_sdk_test_pkg_tools"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "home.py").write_text(TOOLS_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        registry = load_tools("agent_sdk_test_pkg_tools.home")
        assert registry.names == ["lights", "set_scene"]
        assert registry.execute_sync("lights", {"room": "bedroom"}).content == "bedroom on"
    finally:
        for name in [m for m in sys.modules if m.startswith("agent_sdk_test_pkg_tools")]:
            del sys.modules[name]


def test_no_tools_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty_tools.py"
    path.write_text("def plain(x: int) -> int:\n    return x\n")
    with pytest.raises(ToolDefinitionError, match=r"defines no tools: decorate its functions with @tool"):
        load_tools(str(path))


def test_import_problems_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ToolDefinitionError, match=r"no such Python file"):
        load_tools(str(tmp_path / "missing.py"))
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n")
    with pytest.raises(ToolDefinitionError, match=r"cannot import .*broken\.py': SyntaxError"):
        load_tools(str(broken))
    with pytest.raises(ToolDefinitionError, match=r"cannot import 'agent_sdk_no_such_module': ModuleNotFoundError"):
        load_tools("agent_sdk_no_such_module")
    with pytest.raises(ToolDefinitionError, match=r"neither a module path"):
        load_tools("not a module")
    assert not [m for m in sys.modules if m.startswith("_agent_sdk_tools_broken")]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("import sys\nsys.exit(3)\n", "sys.exit(3)"),
        ("import sys\nsys.exit('usage: tools.py')\n", "sys.exit('usage: tools.py')"),
        ("raise SystemExit\n", "sys.exit()"),
        ("class Stop(BaseException):\n    pass\n\nraise Stop('halt')\n", "Stop: halt"),
        ("raise GeneratorExit\n", "GeneratorExit"),
    ],
)
def test_a_file_that_exits_at_import_is_a_clear_error(tmp_path: Path, body: str, needle: str) -> None:
    path = tmp_path / "exiting_tools.py"
    path.write_text("from agent_sdk.tools import tool\n" + body)
    with pytest.raises(UserError) as info:
        load_tools(str(path))
    assert isinstance(info.value, ToolDefinitionError)
    message = str(info.value)
    assert str(path) in message and needle in message, message
    assert not [m for m in sys.modules if m.startswith("_agent_sdk_tools_exiting_tools")]


def test_a_module_that_exits_at_import_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "agent_sdk_test_exiting_tools.py").write_text("import sys\nsys.exit(3)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        ToolDefinitionError, match=r"cannot import 'agent_sdk_test_exiting_tools': it exits .*sys\.exit\(3\)"
    ):
        load_tools("agent_sdk_test_exiting_tools")
    assert "agent_sdk_test_exiting_tools" not in sys.modules


def test_ctrl_c_during_an_import_is_not_swallowed(tmp_path: Path) -> None:
    path = tmp_path / "interrupted_tools.py"
    path.write_text("raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        load_tools(str(path))
    assert not [m for m in sys.modules if m.startswith("_agent_sdk_tools_interrupted_tools")]


def test_a_bad_tool_in_the_file_reports_its_own_problems(tmp_path: Path) -> None:
    path = tmp_path / "bad_tools.py"
    path.write_text("from agent_sdk.tools import tool\n\n@tool\ndef f(x):\n    return x\n")
    with pytest.raises(ToolDefinitionError) as info:
        load_tools(str(path))
    assert info.value.problems == (
        "no description: write a docstring whose first paragraph says what the tool does, or pass description=...",
        "parameter 'x' has no type hint",
        "parameter 'x' is not documented in the docstring's Args section",
    )


def test_import_does_not_pull_in_tvm_or_jsonschema() -> None:
    code = "import json, sys\nimport agent_sdk.tools\nprint(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=_ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    modules = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert "agent_sdk.tools.registry" in modules
    for heavy in (
        "tvm",
        "agent_sdk.runtime",
        "agent_sdk.compiler",
        "agent_sdk.constrain",
        "agent_sdk.agent",
        "jsonschema",
        "rich",
    ):
        assert not [m for m in modules if m == heavy or m.startswith(heavy + ".")], heavy
