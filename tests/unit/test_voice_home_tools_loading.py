"""The voice example's home tools file handed to ``load_tools`` (what ``agent-sdk run --tools`` does)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from voice_assistant.home_tools import Home

from agent_sdk.tools.loading import load_tools

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
HOME_TOOLS = ROOT / "examples" / "voice_assistant" / "home_tools.py"


def test_the_file_gives_the_same_tools_as_a_home(tmp_path: Path) -> None:
    registry = load_tools(str(HOME_TOOLS))
    home = Home(data_dir=tmp_path)
    try:
        expected = [t.to_openai() for t in home.tools()]
    finally:
        home.close()
    assert len(registry) == 11
    assert registry.to_openai() == expected


def test_importing_writes_nothing_and_the_first_call_builds_the_default_home(tmp_path: Path) -> None:
    # A fresh interpreter: the default home is process-wide state, and the
    # question is what a plain import does.
    script = f"""
import json, sys
from pathlib import Path
from agent_sdk.tools.loading import load_tools

registry = load_tools({str(HOME_TOOLS)!r})
listed = sorted(str(p) for p in Path({str(tmp_path)!r}).rglob("*"))
gpio = "gpiozero" in sys.modules
said = registry.execute_sync("add_to_shopping_list", {{"item": "oat milk"}}).content
print(json.dumps({{"listed": listed, "gpio": gpio, "said": said}}))
"""
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["listed"] == []  # nothing written under HOME, XDG_DATA_HOME or the working folder
    assert not report["gpio"]  # no pin factory, so no pin, before a tool runs
    assert report["said"] == "Added oat milk to the shopping list."
    saved = json.loads((tmp_path / "data" / "agent-sdk-voice" / "shopping_list.json").read_text())
    assert saved == {"items": ["oat milk"]}
