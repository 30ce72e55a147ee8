"""What ``agent-sdk bench`` and ``agent-sdk info`` report, from the modules they call.

The measurements themselves run on a compiled model in
tests/integration/test_cli_commands.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agent_sdk.models.info import model_info
from agent_sdk.runtime.bench import BenchReport, BenchRow, cpu_name, mask_eos

pytestmark = pytest.mark.unit

_ROOT = Path(__file__).resolve().parents[2]


def test_mask_eos_masks_in_place() -> None:
    logits = np.zeros(5, dtype=np.float32)
    assert mask_eos(logits, {1, 3}) is logits
    assert logits.tolist() == [0.0, -np.inf, 0.0, -np.inf, 0.0]


def test_report_dict_is_the_bench_json() -> None:
    row = BenchRow(prompt_tokens=64, prefill_tok_s=123.456, ttft_ms=7.891, decode_tokens=8, decode_tok_s=45.678)
    report = BenchReport(threads=2, load_s=0.12345, peak_rss_mb=300.06, results=[row])
    data = report.to_dict()
    assert list(data) == ["threads", "load_s", "peak_rss_mb", "results"]  # after "bundle", as printed
    assert (data["load_s"], data["peak_rss_mb"]) == (0.123, 300.1)
    assert data["results"] == [
        {"prompt_tokens": 64, "prefill_tok_s": 123.5, "ttft_ms": 7.9, "decode_tokens": 8, "decode_tok_s": 45.7}
    ]
    json.dumps(data)


def test_cpu_name() -> None:
    assert isinstance(cpu_name(), str) and cpu_name()


def test_bench_module_stays_in_the_runtime() -> None:
    # A Pi that only runs models can benchmark them: no compiler, no model code.
    code = "import json, sys\nimport agent_sdk.runtime.bench\nprint(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=_ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    modules = json.loads(proc.stdout.strip().splitlines()[-1])
    for forbidden in ("agent_sdk.compiler", "agent_sdk.models", "tvm.relax"):
        assert not [m for m in modules if m == forbidden or m.startswith(forbidden + ".")], forbidden


def test_model_info_of_presets_needs_no_weights() -> None:
    info = model_info("smollm2-135m")
    assert (info["model"], info["source"], info["architecture"]) == ("smollm2-135m", "preset", "llama")
    assert info["parameters"] == 134_515_008  # SmolLM2-135M with its tied embedding
    assert info["config"]["hidden_size"] == 576
    assert model_info("mobilellm-125m")["architecture"] == "mobilellm"
    assert model_info("MobileLLM-125M-LS")["architecture"] == "mobilellm-layer-share"


def test_model_info_of_an_unknown_model_is_a_user_error() -> None:
    from agent_sdk.errors import UserError

    with pytest.raises(UserError, match="not a preset"):
        model_info("no-such-model")
