"""The tiny Qwen2 / Qwen3 models built for a Raspberry Pi 5 compute what the host computes (qemu-user).

``tools/arm64_check.py --model <tiny checkpoint> --targets pi5 --quant q4``
compiles the checkpoint for the host and for pi5, runs the pi5 library with an
aarch64 CPython under ``qemu-aarch64-static -cpu cortex-a76`` and compares
logits at every prompt position (``max |Δ| <= 1e-3 * max(1, max |host logit|)``)
and 8 greedy tokens with the host's. Exercises what Qwen adds to the shared
decoder on ARM: the fused q/k/v bias (Qwen2), the split / per-head RMSNorm /
concat of q and k and a head width independent of the hidden size (Qwen3).

Needs ``qemu-user-static``, the aarch64 cross compiler and ``python
tools/arm64_env.py setup``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.fixtures.checkpoints import write_qwen_checkpoint
from tests.integration.test_arm64_qemu import CHECK, TIMEOUT_S, _require_qemu, _run

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.mark.parametrize(("family", "head_dim"), [("qwen2", None), ("qwen3", 32)])
def test_pi5_build_of_tiny_qwen_matches_host(family: str, head_dim: int | None, tmp_path: Path) -> None:
    _require_qemu()
    ckpt = write_qwen_checkpoint(tmp_path / family, family=family, seed=21, head_dim=head_dim)
    cmd = [sys.executable, str(CHECK), "--model", str(ckpt), "--targets", "pi5", "--quant", "q4",
           "--workdir", str(tmp_path / "work")]
    proc = _run(cmd, TIMEOUT_S)
    output = f"{proc.stdout}\n{proc.stderr}"
    assert proc.returncode == 0, f"arm64_check exited {proc.returncode}:\n{output}"
    assert proc.stdout.count("-> PASS") == 1 and "FAIL" not in proc.stdout, output
