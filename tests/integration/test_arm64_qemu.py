"""The pi5 build of the tiny MobileLLM runs under qemu-user and matches the host.

Runs ``tools/arm64_check.py`` (q4, pi5 only) in a subprocess: it compiles the
tiny checkpoint for the host and for pi5, runs the pi5 library with an aarch64
CPython under ``qemu-aarch64-static -cpu cortex-a76`` and compares logits and
greedy tokens with the host's. Needs ``qemu-user-static``, the aarch64 cross
compiler and ``python tools/arm64_env.py setup``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]

REPO_ROOT = Path(__file__).resolve().parents[2]
CHECK = REPO_ROOT / "tools" / "arm64_check.py"
TIMEOUT_S = 1800


def test_pi5_build_matches_host_under_qemu(tmp_path: Path) -> None:
    if shutil.which("qemu-aarch64-static") is None:
        pytest.fail(
            "qemu-aarch64-static is not installed, so the ARM64 build cannot be run: "
            "apt-get install -y qemu-user-static gcc-aarch64-linux-gnu g++-aarch64-linux-gnu, "
            "then python tools/arm64_env.py setup"
        )
    cmd = [sys.executable, str(CHECK), "--targets", "pi5", "--quant", "q4", "--workdir", str(tmp_path / "work")]
    try:
        proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
        pytest.fail(f"{' '.join(cmd)} did not finish within {TIMEOUT_S}s:\n{partial}")
    output = f"{proc.stdout}\n{proc.stderr}"
    assert proc.returncode == 0, f"arm64_check exited {proc.returncode}:\n{output}"
    assert "PASS" in proc.stdout, output
    assert "FAIL" not in proc.stdout, output
