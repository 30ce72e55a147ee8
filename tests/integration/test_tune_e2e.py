"""agent-sdk tune end to end on a tiny checkpoint: examples → LoRA training → a compiled, verified bundle.

The compiled tuned bundle must compute what the training model computes with
its adapter applied: max |Δlogit| <= 2e-4 (fp32 TVM vs fp32 PyTorch, the same
tolerance as the engine against the numpy reference), at every position —
for an f32 bundle with the update kept beside the weights (the default), the
same with the update merged (``merge=True``), and a q4 bundle of a Q4_1 file
(its weights are the file's blocks, which the training model reads too).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from safetensors import safe_open

from agent_sdk import Agent
from agent_sdk.agent.policy import DEFAULT_POLICY
from agent_sdk.errors import TunedToolWarning
from agent_sdk.manifest import verify_bundle
from agent_sdk.models.low_rank import int8_rows
from agent_sdk.models.mobilellm.mobilellm_loader import load_checkpoint
from agent_sdk.runtime import Engine
from agent_sdk.tune.adapter import load_adapter
from agent_sdk.tune.pipeline import GGUF_ADAPTER, tune
from agent_sdk.tune.torch_model import TorchLlama
from agent_sdk.tune.train import TuneSettings
from tests.fixtures.checkpoints import _permute_qk

pytestmark = pytest.mark.integration

TOOLS = '''
from typing import Literal
from agent_sdk import tool

@tool
def turn_on_lights(room: Literal["kitchen", "bedroom"]) -> str:
    """Turn on the lights in a room.

    Args:
        room: The room.
    """
    return f"Turned on the {room} lights."

@tool
def set_timer(minutes: int) -> str:
    """Start a countdown timer.

    Args:
        minutes: Minutes from 1 to 60.
    """
    return f"Timer for {minutes} minutes."
'''

TOL = 2e-4
CALIBRATION = 40
"""Calibration requests for the tiny tunes: the threshold of an untrained tiny model means nothing, the plumbing
does (the default 400 cost the suite minutes)."""


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory, llama_ckpt: Path) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("tune")
    tools = root / "tiny_tools.py"
    tools.write_text(TOOLS)
    examples = root / "mine.jsonl"
    examples.write_text(json.dumps({"q": "lights on in the {room}", "calls": [
        {"name": "turn_on_lights", "arguments": {"room": "{room}"}}]}) + "\n")
    settings = TuneSettings(rank=4, alpha=8.0, steps=3, minutes=None, batch_size=4, learning_rate=5e-2, seed=1)
    result = tune(str(tools), model=str(llama_ckpt), quant="f32", out=root / "bundle", examples_file=examples,
                  settings=settings, count=40, tool_listing="names", calibration_count=CALIBRATION, auto_probe=True)
    return result.bundle, tools, result.manifest


def test_the_bundle_is_verified_and_records_the_tuning(tuned: tuple[Path, Path, dict], llama_ckpt: Path) -> None:
    bundle, tools, manifest = tuned
    assert verify_bundle(bundle)["name"] == manifest["name"]
    t = manifest["tuning"]
    assert t["tools"]["names"] == ["turn_on_lights", "set_timer"] and len(t["tools"]["schema_sha256"]) == 64
    from agent_sdk.agent.prompting import bundle_tuned_tools, render_tools
    from agent_sdk.tools import ToolRegistry
    from agent_sdk.tools.loading import load_tools

    # the tools as an agent offers them, and as a client's JSON reaches the server: each is the tool it learned
    tuned_tools = bundle_tuned_tools(manifest)
    assert tuned_tools is not None and all(len(d or "") == 64 for d in tuned_tools.values())
    as_agent = Agent(Engine(bundle), tools=list(load_tools(str(tools)))).tool_specs
    as_client = [t["function"] for t in ToolRegistry.from_openai(json.loads(json.dumps(
        load_tools(str(tools)).to_openai()))).to_openai()]
    for specs in (as_agent, as_client):
        assert render_tools(specs, listing="names", tuned_tools=tuned_tools) == "turn_on_lights\nset_timer"
    assert len(t["base_model"]["sha256"]) == 64 and len(t["data"]["sha256"]) == 64
    assert t["data"]["examples"] >= 40 and t["data"]["user_examples"] >= 1 and t["steps"] == 3
    assert t["settings"]["rank"] == 4 and np.isfinite(t["final_loss"])
    assert 0 < t["calibration"]["requests"] <= CALIBRATION and t["calibration"]["call_keep"] == 0.95
    # the per-tool thresholds are recorded (maybe none) and read back with the bundle's threshold
    own = t["calibration"]["auto_tool_thresholds"]
    assert own == manifest["policy"].get("auto_tool_thresholds", {})
    assert DEFAULT_POLICY.for_bundle(manifest, bundle=bundle).auto.tool_thresholds == tuple(sorted(own.items()))
    assert all(v <= manifest["policy"]["auto_threshold"] - 1.5 for v in own.values())
    older = t["calibration"]["auto_tool_thresholds_under_every_call"]  # the rule before 2026-12-08, for comparison
    assert set(own) <= set(older) and all(older[k] <= v for k, v in own.items())  # it only ever went lower
    assert manifest["prompt"] == {"tool_listing": "names"}
    assert manifest["low_rank"]["dtype"] == "int8"  # the default: the adapter rounded to it before compiling
    # the adapter is in the bundle, hashed like every file, in PEFT's layout
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        assert name in manifest["files"]
    assert t["adapter"] == ["adapter_model.safetensors", "adapter_config.json"]  # no GGUF base, no llama.cpp copy
    cfg = json.loads((bundle / "adapter_config.json").read_text())
    assert cfg["peft_type"] == "LORA" and cfg["r"] == 4


def test_the_call_probe_reads_the_models_state_from_the_prompts_logits(
    tuned: tuple[Path, Path, dict], llama_ckpt: Path
) -> None:
    """The probe the tune fitted, as the call step applies it (weights over the logits at the prompt's end), equals
    the same probe on the bundle's own hidden-states function (an independent pass: ``w = E^T c``, ``E`` the
    checkpoint's head), and the step's ``auto`` score carries its term."""
    import dataclasses
    import math

    from agent_sdk.agent.auto_probe import AUTO_PROBE_FILE
    from agent_sdk.agent.backends import LocalBackend, StepRequest, run_step
    from agent_sdk.errors import UserError
    from agent_sdk.runtime.sampler import SamplingParams
    from agent_sdk.tune.pipeline import tool_specs
    from agent_sdk.tune.probe import PROBE_LAMBDAS, PROBE_WEIGHT

    bundle, tools, manifest = tuned
    record = manifest["policy"]["auto_probe"]
    assert record["file"] == AUTO_PROBE_FILE and AUTO_PROBE_FILE in manifest["files"]
    assert record["weight"] == PROBE_WEIGHT
    calibration = manifest["tuning"]["calibration"]
    assert calibration["probe"]["ridge"] in PROBE_LAMBDAS and "auto_threshold" in calibration["probe"]["without"]
    engine = Engine(bundle)
    policy = DEFAULT_POLICY.for_bundle(engine.manifest, bundle=engine.path)
    probe = policy.auto.probe
    assert probe is not None and policy.auto.threshold == manifest["policy"]["auto_threshold"]
    tensors = load_checkpoint(llama_ckpt).tensors
    head = tensors.get("lm_head.weight", tensors["model.embed_tokens.weight"]).as_float().astype(np.float64)
    w = head.T @ probe.weights.astype(np.float64)  # (hidden,): the probe on the hidden state
    specs = tool_specs(str(tools))
    backend = LocalBackend(engine)
    for request in ("lights on in the kitchen", "what is the capital of france"):
        messages = [{"role": "user", "content": request}]
        ids = engine.tokenizer.encode(backend.prompt_text(messages, specs, None))
        want = float(w @ engine.hidden_states(ids)[-1].astype(np.float64)) + probe.bias
        seen: list[np.ndarray] = []
        engine.generate(ids, SamplingParams(max_tokens=2), logprobs=True,
                        prompt_logits=lambda logits, seen=seen: seen.append(logits.copy()))
        assert len(seen) == 1
        np.testing.assert_allclose(seen[0], engine.logits(ids)[-1], rtol=0, atol=1e-4)  # the prompt's own logits
        got = probe.value(seen[0])
        assert abs(got - want) <= 1e-3 * max(1.0, abs(want)), (request, got, want)
        # the call step (a constrained call whose opening text is prefilled with the prompt) adds the same term
        plain = policy.replace(auto=dataclasses.replace(policy.auto, probe=None)).with_threshold(-math.inf)
        probed = policy.with_threshold(-math.inf)
        scores = [run_step(backend.step(StepRequest(messages, specs, p, max_tokens=64, answer=False))).stats.auto_score
                  for p in (plain, probed)]
        # the three runs reach the prompt's last position by other cache paths (a fresh prefill, the cached
        # prefix, generate's prompt logits): float32 differences of ~1e-6 in the term are expected (1.6e-6 seen
        # on a term of 0.38); the term itself must be far above that, or the comparison would prove nothing
        assert abs(probe.term(got)) > 1e-3
        assert scores[1] - scores[0] == pytest.approx(probe.term(got), abs=1e-5)
        # the same prompt again: its logits now come from the prefix cache, and are the same
        again: list[float] = []
        engine.generate(ids, SamplingParams(max_tokens=2), logprobs=True,
                        prompt_logits=lambda logits, again=again: again.append(probe.value(logits)))
        assert again == pytest.approx([got], abs=1e-5)
    with pytest.raises(UserError, match="logprobs"):
        engine.generate(ids, SamplingParams(max_tokens=1), prompt_logits=lambda _l: None)

    def write(logits: np.ndarray) -> None:
        logits[0] = 1e9  # a hook cannot change what the decoder samples from

    with pytest.raises(ValueError, match="read-only"):
        engine.generate(ids, SamplingParams(max_tokens=1), logprobs=True, prompt_logits=write)


def test_a_tune_without_the_probe_records_none(tuned: tuple[Path, Path, dict], llama_ckpt: Path,
                                              tmp_path: Path) -> None:
    """Without the probe (the default): rerunning the finished tune (a copy) at its steps recompiles (a fresh
    folder) and recalibrates without training; nothing records or reads a probe."""
    import shutil

    from agent_sdk.agent.auto_probe import AUTO_PROBE_FILE

    bundle, tools, _ = tuned
    shutil.copytree(bundle, tmp_path / "bundle")
    shutil.copytree(bundle.parent / "bundle.tune", tmp_path / "bundle.tune")
    assert (tmp_path / "bundle" / AUTO_PROBE_FILE).exists()
    examples = bundle.parent / "mine.jsonl"
    settings = TuneSettings(rank=4, alpha=8.0, steps=3, minutes=None, batch_size=4, learning_rate=5e-2, seed=1)
    result = tune(str(tools), model=str(llama_ckpt), quant="f32", out=tmp_path / "bundle", examples_file=examples,
                  settings=settings, count=40, tool_listing="names", calibration_count=CALIBRATION)
    assert "auto_probe" not in result.manifest["policy"] and "probe" not in result.manifest["tuning"]["calibration"]
    assert not (result.bundle / AUTO_PROBE_FILE).exists() and AUTO_PROBE_FILE not in result.manifest["files"]
    assert verify_bundle(result.bundle)
    assert DEFAULT_POLICY.for_bundle(result.manifest, bundle=result.bundle).auto.probe is None


def test_a_checkpoint_resumes_only_on_the_prompt_it_trained_on(tuned: tuple[Path, Path, dict],
                                                              llama_ckpt: Path) -> None:
    """The run above trained on the names listing and the developer's line: resuming it with the full listing or
    without that line would continue the adapter on another prefix or other data, so it is refused (``auto`` takes
    the recorded listing instead)."""
    from agent_sdk.errors import UserError

    bundle, tools, _ = tuned
    record = json.loads((bundle.parent / "bundle.tune" / "prompt.json").read_text())
    assert record["tool_listing"] == "names" and len(record["prefix_sha256"]) == 64
    settings = TuneSettings(rank=4, alpha=8.0, steps=3, minutes=None, batch_size=4, learning_rate=5e-2, seed=1)
    with pytest.raises(UserError, match="another prompt.*--restart"):
        tune(str(tools), model=str(llama_ckpt), quant="f32", out=bundle, settings=settings, count=40,
             tool_listing="full")
    with pytest.raises(UserError, match="unknown tool listing"):
        tune(str(tools), model=str(llama_ckpt), out=bundle, settings=settings, tool_listing="tiny")
    # Other examples (here without the developer's line): the manifest would record data the weights never saw.
    assert len(record["data_sha256"]) == 64
    before = (bundle / "manifest.json").read_bytes()
    trained_on = (bundle.parent / "bundle.tune" / "examples.jsonl").read_bytes()
    with pytest.raises(UserError, match="other examples.*--restart"):
        tune(str(tools), model=str(llama_ckpt), quant="f32", out=bundle, settings=settings, count=40,
             tool_listing="names")
    assert (bundle / "manifest.json").read_bytes() == before
    assert (bundle.parent / "bundle.tune" / "examples.jsonl").read_bytes() == trained_on


def test_the_compiled_bundle_matches_the_training_model_with_its_adapter(
    tuned: tuple[Path, Path, dict], llama_ckpt: Path
) -> None:
    bundle, _, _ = tuned
    err, moved = _adapted_gap(bundle, llama_ckpt)
    assert err <= TOL, f"tuned bundle differs from the adapter-applied training model by {err}"
    assert moved > 10 * TOL, "training did not change the model: the comparison would prove nothing"


def _tiny_tune(root: Path, model: Path, *, top_layers: int | None = None, **kwargs: object) -> Path:
    tools = root / "tiny_tools.py"
    tools.write_text(TOOLS)
    settings = TuneSettings(rank=4, alpha=8.0, steps=3, minutes=None, batch_size=4, learning_rate=5e-2, seed=2,
                            top_layers=top_layers)
    return tune(str(tools), model=str(model), out=root / "bundle", settings=settings, count=40,
                tool_listing="compact", calibration_count=CALIBRATION, **kwargs).bundle  # type: ignore[arg-type]


def _adapted_gap(bundle: Path, model: Path) -> tuple[float, float]:
    """(bundle vs adapter-applied training model, base model vs adapter-applied) max |Δlogit|."""
    net = TorchLlama.from_checkpoint(load_checkpoint(model))
    load_adapter(net, bundle)  # adapters where the bundle's config says, with its rank and alpha
    engine = Engine(bundle)
    prompt = [t % engine.vocab_size for t in (1, 17, 42, 99, 5, 200, 7, 31, 64, 128, 3, 250)]
    with torch.no_grad():
        want = net(torch.tensor([prompt]))[0].numpy()
        base = TorchLlama.from_checkpoint(load_checkpoint(model))(torch.tensor([prompt]))[0].numpy()
    return float(np.abs(engine.logits(prompt) - want).max()), float(np.abs(base - want).max())


def test_a_q4_bundle_of_a_q4_1_file_keeps_the_whole_update(tmp_path: Path, gguf_file: Callable[[str], Path]) -> None:
    model = gguf_file("Q4_1")
    bundle = _tiny_tune(tmp_path, model)  # quant auto: q4 for a Q4_1 file, update beside the weights
    manifest = verify_bundle(bundle)
    assert manifest["quantization"]["linear"] == "q4" and manifest["tuning"]["merged"] is False
    assert manifest["low_rank"]["projections"] == 7 * load_checkpoint(model).config.num_hidden_layers
    err, moved = _adapted_gap(bundle, model)
    assert err <= TOL, f"q4 tuned bundle differs from the adapter-applied training model by {err}"
    assert moved > 10 * TOL, "training did not change the model: the comparison would prove nothing"
    # a GGUF base: the bundle also holds the adapter as llama.cpp's LoRA GGUF, hashed like every file
    assert manifest["tuning"]["adapter"] == ["adapter_model.safetensors", "adapter_config.json", GGUF_ADAPTER]
    assert GGUF_ADAPTER in manifest["files"]
    # int8 factors (the default): each row of every A and of every s B in the PEFT copy is int8 levels times a scale
    # (rounded before saving), and the GGUF's lora_b lora_a (its scale is 1) is the PEFT update s B A, Q/K rows in the
    # base file's order
    with safe_open(str(bundle / "adapter_model.safetensors"), framework="np") as fp:
        peft = {name: fp.get_tensor(name) for name in fp.keys()}  # noqa: SIM118
    assert manifest["low_rank"]["dtype"] == "int8"
    cfg = json.loads((bundle / "adapter_config.json").read_text())
    for name, t in peft.items():
        rows = t.astype(np.float32) * (cfg["lora_alpha"] / cfg["r"] if ".lora_B." in name else 1.0)
        q, row_scale = int8_rows(rows)
        np.testing.assert_allclose(q * row_scale[:, None], rows, rtol=2.0**-22, atol=0, err_msg=name)
    lora = {t.name: np.asarray(t.data, np.float64) for t in gguf.GGUFReader(bundle / GGUF_ADAPTER).tensors}
    assert len(lora) == len(peft)
    pre = "base_model.model.model.layers.0.self_attn.q_proj"
    cfg = json.loads((bundle / "adapter_config.json").read_text())
    scale = cfg["lora_alpha"] / cfg["r"]
    want = scale * peft[f"{pre}.lora_B.weight"].astype(np.float64) @ peft[f"{pre}.lora_A.weight"].astype(np.float64)
    got = lora["blk.0.attn_q.weight.lora_b"] @ lora["blk.0.attn_q.weight.lora_a"]
    heads = load_checkpoint(model).config.num_attention_heads
    np.testing.assert_allclose(got, _permute_qk(want, heads), rtol=0, atol=1e-12)


def test_a_tune_of_the_top_block_only_updates_that_block_in_every_copy(
    tmp_path: Path, gguf_file: Callable[[str], Path]
) -> None:
    model = gguf_file("Q4_1")
    n = load_checkpoint(model).config.num_hidden_layers
    bundle = _tiny_tune(tmp_path, model, top_layers=1)
    manifest = verify_bundle(bundle)
    assert manifest["tuning"]["settings"]["top_layers"] == 1
    assert manifest["low_rank"]["projections"] == 7 and manifest["low_rank"]["modules"] == 4  # one block
    err, moved = _adapted_gap(bundle, model)
    assert err <= TOL, f"top-block tuned bundle differs from the adapter-applied training model by {err}"
    assert moved > 10 * TOL, "training did not change the model: the comparison would prove nothing"
    cfg = json.loads((bundle / "adapter_config.json").read_text())
    assert cfg["layers_to_transform"] == [n - 1]
    with safe_open(str(bundle / "adapter_model.safetensors"), framework="np") as fp:
        assert {name.split(".")[4] for name in fp.keys()} == {str(n - 1)}  # noqa: SIM118
    lora = [t.name for t in gguf.GGUFReader(bundle / GGUF_ADAPTER).tensors]
    assert len(lora) == 14 and all(name.startswith(f"blk.{n - 1}.") for name in lora), lora


def test_a_base_llama_cpp_would_run_differently_gets_a_note_and_no_adapter_gguf(
    tmp_path: Path, gguf_file: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reasons themselves are tested with ``unsupported_base`` (tests/unit/test_gguf_lora.py); here, that the
    pipeline asks before training, says why, and still writes the tuned bundle."""
    from agent_sdk.models import gguf_lora

    monkeypatch.setattr(gguf_lora, "unsupported_base", lambda meta: "its blocks are shared (a test's reason)")
    lines: list[str] = []
    bundle = _tiny_tune(tmp_path, gguf_file("Q4_1"), say=lines.append)
    manifest = verify_bundle(bundle)
    assert manifest["tuning"]["adapter"] == ["adapter_model.safetensors", "adapter_config.json"]
    assert not (bundle / GGUF_ADAPTER).exists() and GGUF_ADAPTER not in manifest["files"]
    said = [i for i, line in enumerate(lines) if "a test's reason" in line]
    trained = [i for i, line in enumerate(lines) if line.startswith("training on")]
    assert said and trained and said[0] < trained[0], lines  # told before the training time is spent


def test_a_merged_update_matches_too(tmp_path: Path, llama_ckpt: Path) -> None:
    bundle = _tiny_tune(tmp_path, llama_ckpt, quant="f32", merge=True)
    manifest = verify_bundle(bundle)
    assert manifest["tuning"]["merged"] is True and "low_rank" not in manifest
    err, moved = _adapted_gap(bundle, llama_ckpt)
    assert err <= TOL and moved > 10 * TOL, (err, moved)


def test_the_agent_runs_the_tuned_bundle_with_its_own_prompt(tuned: tuple[Path, Path, dict]) -> None:
    from agent_sdk.tools.loading import load_tools

    bundle, tools, _ = tuned
    engine = Engine(bundle)
    agent = Agent(engine, tools=list(load_tools(str(tools))), policy=DEFAULT_POLICY.replace(tool_choice="required"),
                  max_steps=1)
    content = agent.system_message()["content"]
    assert "turn_on_lights\nset_timer\n" in content and "room" not in content  # names, from the manifest
    result = agent.run("turn on the kitchen lights")
    assert result.calls and result.calls[0][0].name in ("turn_on_lights", "set_timer")


def test_a_tool_the_bundle_was_not_tuned_on_is_listed_in_full(tuned: tuple[Path, Path, dict]) -> None:
    """The names listing is for the tools the bundle learned; a new one keeps its signature, description and notes."""
    from agent_sdk.tools import tool
    from agent_sdk.tools.loading import load_tools

    @tool
    def water_plants(zone: str) -> str:
        """Water the plants in a garden zone.

        Args:
            zone: Which bed, like "roses".
        """
        return zone

    bundle, tools, _ = tuned
    agent = Agent(Engine(bundle), tools=[*load_tools(str(tools)), water_plants], max_steps=1)
    content = agent.system_message()["content"]
    assert "turn_on_lights\nset_timer\nwater_plants(zone: string)\n" in content  # the tuned tools: names
    assert "Turn on the lights in a room." not in content
    assert "Water the plants in a garden zone." in content and 'Which bed, like "roses".' in content

    @tool
    def set_timer(minutes: int, seconds: int = 0) -> str:
        """Start a countdown timer.

        Args:
            minutes: Minutes from 1 to 60.
            seconds: Seconds to add.
        """
        return f"{minutes}:{seconds:02d}"

    # the same name with a parameter the bundle never learned: listed in full, the unchanged tool by name
    lights = [t for t in load_tools(str(tools)) if t.name == "turn_on_lights"]
    with pytest.warns(TunedToolWarning, match="'set_timer' has changed since this bundle was tuned") as caught:
        content = Agent(Engine(bundle), tools=[*lights, set_timer], max_steps=1).system_message()["content"]
    assert caught[0].filename == __file__  # through Agent: still the caller's line
    assert "turn_on_lights\nset_timer(minutes: int, seconds: int = 0)\n" in content
    assert "Turn on the lights in a room." not in content and "- seconds: Seconds to add." in content


def test_the_cli_tunes_and_reports_json(tmp_path: Path, llama_ckpt: Path) -> None:
    import subprocess
    import sys

    tools = tmp_path / "tiny_tools.py"
    tools.write_text(TOOLS)
    out = tmp_path / "cli-bundle"
    cmd = [sys.executable, "-m", "agent_sdk.cli", "tune", "--tools", str(tools), "--model", str(llama_ckpt),
           "--quant", "f32", "--steps", "2", "--rank", "2", "--batch-size", "2", "--count", "30", "--seed", "5",
           "--call-keep", "0.8", "--low-rank-dtype", "float32", "--auto-probe", "--calibration-count", "40",
           "--top-layers", "1", "--decision-weight", "3", "--out", str(out), "--json"]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["path"] == str(out) and summary["steps"] == 2 and summary["settings"]["rank"] == 2
    assert summary["settings"]["seed"] == 5 and verify_bundle(out)["low_rank"]["dtype"] == "float32"
    assert summary["settings"]["top_layers"] == 1 and verify_bundle(out)["low_rank"]["modules"] == 4
    assert summary["settings"]["decision_weight"] == 3.0
    assert verify_bundle(out)["tuning"]["settings"]["decision_weight"] == 3.0
    assert summary["calibration"]["call_keep"] == 0.8
    assert summary["calibration"]["probe"]["weight"] == 0.25 and "auto_probe" in verify_bundle(out)["policy"]
    assert summary["calibration"]["requests"] <= 40
    assert verify_bundle(out)["prompt"] == {"tool_listing": "names"}  # --tool-listing auto, even for two tools
    assert (tmp_path / "cli-bundle.tune" / "checkpoint.pt").exists()
    # a merged update has no factors to store: the two options together are refused before any work
    proc = subprocess.run([*cmd[:-3], "--merge", "--out", str(tmp_path / "merged")], check=False, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode != 0 and "--merge" in proc.stderr and not (tmp_path / "merged").exists()


def test_a_run_stopped_before_its_first_step_writes_no_bundle(tmp_path: Path, llama_ckpt: Path) -> None:
    """A run that trains nothing (stopped, or out of time, before one step) must not replace a bundle already at
    its destination with the untrained base model."""
    from agent_sdk.errors import UserError

    bundle = _tiny_tune(tmp_path, llama_ckpt, quant="f32")
    before = (bundle / "manifest.json").read_bytes()
    tools = tmp_path / "tiny_tools.py"
    settings = TuneSettings(rank=4, alpha=8.0, steps=None, minutes=1e-9, batch_size=4, seed=2)
    with pytest.raises(UserError, match="before the first training step"):  # other examples (count 41), restarted
        tune(str(tools), model=str(llama_ckpt), quant="f32", out=bundle, settings=settings, count=41,
             tool_listing="compact", resume=False)
    assert (bundle / "manifest.json").read_bytes() == before
    assert verify_bundle(bundle)["tuning"]["steps"] == 3
    saved = torch.load(bundle.parent / f"{bundle.name}.tune" / "checkpoint.pt", weights_only=True)
    assert saved["step"] == 3  # the earlier run's checkpoint is kept too
    # The record beside it now describes the stopped run; the checkpoint's own record decides a resume: the first
    # run's command resumes (nothing left to train: recompiled and recalibrated), the stopped run's is refused.
    done = TuneSettings(rank=4, alpha=8.0, steps=3, minutes=None, batch_size=4, learning_rate=5e-2, seed=2)
    with pytest.raises(UserError, match="other examples"):
        tune(str(tools), model=str(llama_ckpt), quant="f32", out=bundle, settings=done, count=41,
             tool_listing="compact", calibration_count=CALIBRATION)
    again = tune(str(tools), model=str(llama_ckpt), quant="f32", out=bundle, settings=done, count=40,
                 tool_listing="compact", calibration_count=CALIBRATION)
    assert again.manifest["tuning"]["steps"] == 3
    assert again.manifest["tuning"]["data"]["sha256"] == verify_bundle(bundle)["tuning"]["data"]["sha256"]
    assert json.loads(before)["tuning"]["data"]["sha256"] == again.manifest["tuning"]["data"]["sha256"]


@pytest.mark.parametrize("keep", ["0", "1.5", "-0.2", "nan", "most"])
def test_a_call_keep_that_is_not_a_share_is_refused(tmp_path: Path, llama_ckpt: Path, keep: str) -> None:
    import subprocess
    import sys

    from agent_sdk.errors import UserError

    tools = tmp_path / "tiny_tools.py"
    tools.write_text(TOOLS)
    cmd = [sys.executable, "-m", "agent_sdk.cli", "tune", "--tools", str(tools), "--model", str(llama_ckpt),
           "--steps", "1", "--call-keep", keep, "--out", str(tmp_path / "never")]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "--call-keep" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "never").exists() and not (tmp_path / "never.tune").exists()
    settings = TuneSettings(rank=2, alpha=4.0, steps=1, minutes=None, batch_size=2, seed=1)
    with pytest.raises(UserError, match="call_keep"):
        tune(str(tools), model=str(llama_ckpt), out=tmp_path / "never", settings=settings, count=20,
             call_keep=float(keep) if keep != "most" else float("nan"))
    with pytest.raises(UserError, match="calibration_count"):
        tune(str(tools), model=str(llama_ckpt), out=tmp_path / "never", settings=settings, count=20,
             calibration_count=0)
    assert not (tmp_path / "never").exists() and not (tmp_path / "never.tune").exists()


@pytest.mark.parametrize(("line", "problem"), [
    ("not json", "mine.jsonl:1"),
    ('{"q": "x", "calls": [{"name": "no_such_tool", "arguments": {}}]}', "no_such_tool"),
    ('{"q": "timer {minutes}", "calls": [{"name": "set_timer", "arguments": {"minutes": "{hours}"}}]}', "hours"),
    ('{"q": "timer", "calls": [{"name": "set_timer", "arguments": {"minutes": "soon"}}]}', "mine.jsonl:1"),
])
def test_bad_examples_are_refused_before_training(tmp_path: Path, llama_ckpt: Path, line: str, problem: str) -> None:
    import subprocess
    import sys

    tools = tmp_path / "tiny_tools.py"
    tools.write_text(TOOLS)
    mine = tmp_path / "mine.jsonl"
    mine.write_text(line + "\n")
    cmd = [sys.executable, "-m", "agent_sdk.cli", "tune", "--tools", str(tools), "--model", str(llama_ckpt),
           "--steps", "1", "--examples", str(mine), "--out", str(tmp_path / "never")]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert problem in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("family", ["gemma3", "qwen2"])
def test_other_families_tune_into_bundles_the_agent_runs(family: str, tmp_path: Path) -> None:
    """The whole command on tiny Gemma 3 / Qwen2 checkpoints: trained, compiled q4 with the update kept, run."""
    from agent_sdk.compiler import read_checkpoint
    from agent_sdk.tools.loading import load_tools
    from tests.fixtures.checkpoints import write_qwen_checkpoint
    from tests.fixtures.gemma3_checkpoints import write_gemma3_checkpoint

    model = (write_gemma3_checkpoint if family == "gemma3" else write_qwen_checkpoint)(tmp_path / family)
    bundle = _tiny_tune(tmp_path, model, quant="q4")
    manifest = verify_bundle(bundle)
    layers = read_checkpoint(model)[1].config.num_hidden_layers
    assert manifest["architecture"] == family and manifest["low_rank"]["projections"] == 7 * layers
    agent = Agent(Engine(bundle), tools=list(load_tools(str(tmp_path / "tiny_tools.py"))),
                  policy=DEFAULT_POLICY.replace(tool_choice="required"), max_steps=1)
    result = agent.run("turn on the kitchen lights")
    assert result.calls and result.calls[0][0].name in ("turn_on_lights", "set_timer")


def test_a_functiongemma_model_tunes_on_its_own_declarations_and_records_the_full_listing(tmp_path: Path) -> None:
    """A model whose format lists its tools itself (FunctionGemma's declarations, picked from its vocabulary) trains
    on that prompt whatever listing was asked for, and its bundle records ``full``: the agent prompts it the same."""
    from agent_sdk.agent.functiongemma_format import CONTROL_TOKENS, FUNCTIONGEMMA
    from agent_sdk.tools.loading import load_tools
    from tests.fixtures.gemma3_checkpoints import write_gemma3_checkpoint

    model = write_gemma3_checkpoint(tmp_path / "functiongemma", special_tokens=CONTROL_TOKENS)
    notes: list[str] = []
    tools = tmp_path / "tiny_tools.py"
    tools.write_text(TOOLS)
    settings = TuneSettings(rank=4, alpha=8.0, steps=2, minutes=None, batch_size=4, learning_rate=5e-2, seed=3)
    result = tune(str(tools), model=str(model), quant="f32", out=tmp_path / "bundle", settings=settings, count=40,
                  tool_listing="names", calibration_count=CALIBRATION, say=notes.append)
    manifest = verify_bundle(result.bundle)
    assert manifest["prompt"] == {"tool_listing": "full"}
    assert any("names tool listing: not used, the model's own format lists its tools" in n for n in notes)
    agent = Agent(Engine(result.bundle), tools=list(load_tools(str(tools))),
                  policy=DEFAULT_POLICY.replace(tool_choice="required"), max_steps=1)
    assert agent.backend.call_format is FUNCTIONGEMMA  # type: ignore[attr-defined]
    content = agent.system_message()["content"]
    assert "<start_function_declaration>declaration:turn_on_lights{" in content
    assert "<start_function_declaration>declaration:set_timer{" in content
