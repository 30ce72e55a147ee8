"""``agent-sdk compile`` without ``--quant`` picks the layout that keeps a GGUF file's values."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_cli_compile_defaults_to_auto(gguf_file: Callable[[str], Path], tmp_path: Path) -> None:
    """The real compile, from the command line, of a tiny Q8_0 GGUF without --quant: a q8 bundle."""
    out = subprocess.run(
        [sys.executable, "-m", "agent_sdk.cli", "compile", str(gguf_file("Q8_0")), "--out", str(tmp_path / "b"),
         "--json"], check=False, capture_output=True, text=True, timeout=900,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1])["quantization"]["name"] == "q8"
