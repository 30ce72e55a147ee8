"""The runtime never imports PyTorch (``tvm_ffi`` would whenever it is installed: ~240 MiB per process)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

SCRIPT = """
import sys
from agent_sdk.runtime.tvm_model import load_tvm_runtime
ffi = load_tvm_runtime()
assert ffi.__name__ == "tvm_ffi"
assert "torch" not in sys.modules, "the runtime imported torch"
import torch  # still importable afterwards (agent-sdk tune calibrates with an Engine in its process)
assert float(torch.ones(3).sum()) == 3.0
print("ok")
"""


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed: nothing to keep out")
def test_loading_the_runtime_keeps_torch_out_but_importable() -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT], check=False, capture_output=True, text=True, timeout=300,
                          env={"AGENT_SDK_RUNTIME_ONLY": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
