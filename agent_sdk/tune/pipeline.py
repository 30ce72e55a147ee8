"""``agent-sdk tune`` end to end: tools → examples → LoRA training → a tuned, verified bundle.

The bundle is a normal one (same layout, manifest and hash checks as
``agent-sdk compile``): the base model's weights in the requested
quantization and the low-rank update beside them in int8 (``low_rank_dtype``)
(``compile_model(low_rank=...)``), so a q4 bundle keeps the file's own weights
and the whole update; ``merge=True`` folds the update into the weights
instead (the weights then carry it through quantization: q8 keeps most of
it, q4 little; docs/tuning.md). Its manifest also
records the tuning (``tuning``: base model hash, tool set, data hash and
size, settings, final loss, held-out scores) and the prompt it was trained
with (``prompt``: the tool listing, picked up by the agent, the server and
the voice example). The adapter itself is kept in the bundle
(``adapter_model.safetensors`` + ``adapter_config.json``, PEFT's names), and,
for a GGUF base llama.cpp runs as the compiler does, as ``adapter.gguf``
(llama.cpp's LoRA format, :mod:`agent_sdk.models.gguf_lora`; other bases get
a note instead).

Training state lives beside the output, in ``<out>.tune/`` (checkpoint,
generated examples): a stopped run resumes from there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agent_sdk.agent.auto import AutoRule
from agent_sdk.agent.auto_probe import AUTO_PROBE_FILE, AutoProbe
from agent_sdk.agent.call_format import CallFormat
from agent_sdk.agent.prompting import TOOL_LISTINGS, tool_digest
from agent_sdk.errors import EngineError, ModelFormatError, UserError
from agent_sdk.manifest import read_manifest, sha256_file, write_manifest
from agent_sdk.models.gguf_lora import GGUF_ADAPTER
from agent_sdk.tools.decorator import Tool
from agent_sdk.tools.loading import load_tools
from agent_sdk.tools.registry import ToolRegistry
from agent_sdk.tune.examples import generate_examples, load_user_examples
from agent_sdk.tune.heldout import HeldoutScore, load_heldout, score_heldout
from agent_sdk.tune.render import PromptRenderer, RenderedExample

if TYPE_CHECKING:
    from agent_sdk.tune.probe import HeadInverse

__all__ = ["CALL_KEEP", "DEFAULT_EXAMPLE_COUNT", "GGUF_ADAPTER", "SHORT_LISTING_ABOVE_TOKENS", "TuneResult",
           "calibration_points", "choose_threshold", "listing_is_ignored", "resolve_tool_listing", "tool_specs", "tune"]

SHORT_LISTING_ABOVE_TOKENS = 0
"""``--tool-listing auto`` lists the tools by name only when the full listing's prompt is longer than this: since
2026-12-06 (fifth session) always. Measured (docs/tuning.md), SmolLM2-135M on 2 cores: the 19 cabin tools (1,075-token
full prompt, 406 compact, 195 names) called 57 of 64 dev requests right in ``auto`` by name against compact's 53 at
the same 252 steps (compact had beaten full by 4-5 in two pairs at ``--minutes 20``); on the 11 home tools (469
tokens, 164 names) two pairs at about the same minutes (names at 320 steps against full at 213, seeds 0 and 1; the
seed-1 names run took 1.11x the time): names 64 and 64 of 70 right in ``auto`` against 64 and 62, 31 and 31 of 33
declined against 31 and 29, 68 and 68 forced against 66 and 65: never worse. Until then the bound was 768 tokens
(the home tools kept the full listing)."""

PROMPT_RECORD = "prompt.json"
"""In ``<out>.tune/``: the listing, a hash of the prompt prefix and a hash of the examples the checkpoint was trained
on; a resume with another prompt or other examples is refused."""

DEFAULT_EXAMPLE_COUNT = 3000
"""Generated requests per run (before the user's own examples)."""
CALIBRATION_COUNT = 800
"""Fresh generated requests the bundle's ``auto`` threshold is chosen on. 800 (~640 tool requests) puts the 95%
edge of :data:`CALL_KEEP` near the 32nd lowest right call (400: near the 16th; 160: the 7th), so the threshold, an
estimate of that edge, moves less from one draw of requests to the next. Measured 2026-12-05 on home-v7 with 480
requests of its calibration seed: the 95% rule gave -3.92 / -3.86 / -3.64 on the first 160 / 320 / 480 of them.
2026-12-06, 400 → 800 on the kept bundles (same seed, the first 400 shared): home-v8 -3.685 → -3.842, dev 61/70 →
64/70 calls right, declines 31/33 both; cabin-v8 -3.725 → -3.538, dev 54/64 → 53/64, 20/24 both. About two minutes
more per tune here (the home rerun that recompiled and recalibrated took ~7.5 min with 800, ~5.4 with 400)."""
CALIBRATION_SEED_OFFSET = 7919
"""Added to the training seed for the calibration requests."""
CALL_KEEP = 0.95
"""Share of the right calls on the calibration requests the ``auto`` threshold keeps at least
(:func:`choose_threshold`): the 95% of calls the tuning is meant to get right. Measured 2026-12-05 on the dev sets
(docs/tuning.md), thresholds chosen on the first 160 / 320 / 480 of 480 calibration requests: on the four SmolLM2
bundles 95% matched the former rule (the middle of the widest range best separating the classes by the sum of the
two shares) wherever that was stable, and did not follow it where a few hard generated negatives pulled it over right
calls (home-v7: -3.25, dev 75.7% of calls right, against -3.85, 92.9%); 90% lost calls on every SmolLM2 bundle, 97%
lost declines on the home bundles. Gemma 3 270M's scores overlap more (90% served it better)."""
TOOL_THRESHOLD_MIN_RIGHT = 15
"""Right single calls to a tool among the calibration requests before it gets a threshold of its own
(:func:`choose_tool_thresholds`): with 800 requests a tool of a 16-tool set has about 35; at 15 the 95% edge is its
lowest right call, as noisy as a per-tool estimate may be."""
TOOL_THRESHOLD_MARGIN = 1.5
"""Nats a tool's own threshold must lie under the rule's to replace it (:func:`choose_tool_thresholds`). Chosen
2026-12-07 on the development sets of three bundles, their calibration requests scored once and every margin
applied offline (docs/tuning.md): with none, every tool whose edge is lower at all got its own (7 of 16 robot tools,
8 of 11 home, 13 of 19 cabin), which gained calls (robot 41 -> 46 of 52) but lost declines (home 31 -> 30 of 33,
cabin 22 -> 20 of 24); from 1.5 on only the far-off tools keep their own (robot ``go_to`` at -5.91 against -3.83:
45 of 52, home and cabin unchanged); 1.0 still lost a cabin decline."""
CALL_MARGIN = 1.0
"""Nats below the lowest right call: the threshold when it declines as many unservable requests as the ``keep``
edge."""
NEGATIVE_REPLY_TOKENS = 6
"""Tokens of the base model's own reply a negative is trained to begin with."""


@dataclass
class TuneResult:
    """What a tune produced.

    Attributes:
        bundle: The tuned bundle folder.
        manifest: Its manifest.
        heldout: The held-out score, when a held-out file was given.
        stopped: Training was stopped early (Ctrl-C); the bundle holds the weights reached.
    """

    bundle: Path
    manifest: dict[str, Any]
    heldout: HeldoutScore | None
    stopped: bool


def resolve_tool_listing(listing: str, full_prompt_tokens: int) -> str:
    """The listing a tune uses: ``auto`` is ``names`` when the full listing's prompt is over
    :data:`SHORT_LISTING_ABOVE_TOKENS` tokens (any tool set now: more steps in the same minutes, and as many or more
    right), else ``full``; the others stay.

    Raises:
        UserError: An unknown listing.
    """
    if listing == "auto":
        return "names" if full_prompt_tokens > SHORT_LISTING_ABOVE_TOKENS else "full"
    if listing not in TOOL_LISTINGS:
        raise UserError(f"unknown tool listing {listing!r}; expected auto or one of {', '.join(TOOL_LISTINGS)}")
    return listing


def listing_is_ignored(call_format: CallFormat, specs: Sequence[dict[str, Any]], system: str | None) -> bool:
    """Whether ``call_format`` writes the whole system message its own way (FunctionGemma's declarations), so no
    tool listing applies: a bundle then records ``full``, the listing its prompt keeps whatever it is asked for."""
    return bool(specs) and call_format.system_prompt(specs, system) is not None


def tool_specs(tools: str | Sequence[Tool[..., Any] | dict[str, Any]]) -> list[dict[str, Any]]:
    """``{"name", "description", "parameters"}`` dicts from a tools file/module or a list of tools.

    Raises:
        ToolDefinitionError: A tool dict is malformed or its schema invalid, or two tools share a name (an agent
            refuses them too; a tune would teach the model one name for two tools).
        UserError: An item is not a tool.
    """
    if isinstance(tools, str):
        return [t["function"] for t in load_tools(tools).to_openai()]
    made: list[Tool[..., Any]] = []
    for t in tools:
        if isinstance(t, Tool):
            made.append(t)
        elif isinstance(t, dict):  # imported as an agent imports it (schema checked and repaired)
            made.append(Tool.from_openai(t))
        else:
            raise UserError(f"not a tool: {t!r}")
    # the agent's registry: it refuses two tools of one name as an agent does
    return [t["function"] for t in ToolRegistry(made).to_openai()]


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _base_hash(path: Path) -> str:
    if path.is_file():
        return sha256_file(path)
    parts = {f.name: sha256_file(f) for f in sorted(path.iterdir()) if f.is_file()}
    return _digest(parts)


def tune(
    tools: str | Sequence[Tool[..., Any] | dict[str, Any]],
    *,
    model: str = "smollm2-135m",
    quant: str = "auto",
    merge: bool = False,
    low_rank_dtype: str = "int8",
    target: str = "host",
    out: Path | None = None,
    examples_file: Path | Sequence[Path] | None = None,
    settings: Any = None,
    count: int = DEFAULT_EXAMPLE_COUNT,
    tool_listing: str = "auto",
    system: str | None = None,
    heldout: Path | None = None,
    call_keep: float = CALL_KEEP,
    calibration_count: int = CALIBRATION_COUNT,
    auto_probe: bool = False,
    resume: bool = True,
    say: Callable[[str], None] | None = None,
    on_step: Callable[[Any], None] | None = None,
) -> TuneResult:
    """Tunes ``model`` to ``tools`` and compiles the tuned bundle.

    Args:
        tools: A tools file or module (as ``agent-sdk run --tools``), or tools.
        model: The base model: preset, Hugging Face folder or GGUF file.
        quant: The bundle's quantization (``auto``: the layout that keeps the
            base file's values, q4 for SmolLM2's Q4_1).
        merge: Fold the update into the weights instead of keeping it beside
            them (no extra compute per token, but quantization rounds it).
        low_rank_dtype: How the kept update's factors are stored: ``int8`` (a quarter of float32's bytes a
            decoded token reads; each row of a factor rounded to 255 levels of its largest value, with a float32
            scale), ``float16`` (half) or ``float32``. The trained adapter is rounded to it before it is saved,
            so the training model, the adapter and the bundle agree.
        target: The bundle's target.
        out: The bundle folder (default ``compiled/<model>-tuned-<quant>-<target>``).
        examples_file: The developer's own examples (JSON lines; one file or several), weighted up.
        settings: A :class:`~agent_sdk.tune.train.TuneSettings` (default: its defaults).
        count: Generated requests.
        tool_listing: How the prompt lists the tools (``full``, ``compact``, ``names``, or
            ``auto``: :func:`resolve_tool_listing`), recorded in the bundle for the agent.
        system: Instructions before the tools (None: the agent's default).
        heldout: Score the tuned bundle on this held-out file (never trained on)
            in ``auto`` and record it in the manifest.
        call_keep: The share of right calls on fresh generated requests the
            bundle's ``auto`` threshold keeps (:func:`choose_threshold`);
            lower declines more and calls less.
        calibration_count: Fresh generated requests the threshold is chosen on.
        auto_probe: Also fit the call probe on them (:mod:`agent_sdk.agent.auto_probe`), recorded in the bundle
            and added to its ``auto`` score (off by default: no clear gain on the development sets, docs/tuning.md).
        resume: Continue from the checkpoint in ``<out>.tune/``.
        say: Called with a line describing each stage.
        on_step: Called with each training step's report.

    Raises:
        UserError: Bad tools, examples, settings or model.
        ModelFormatError: A bad checkpoint.
    """
    import torch

    from agent_sdk.compiler import compile_model, default_bundle_dir, read_checkpoint
    from agent_sdk.compiler.quant_choice import resolve_quant
    from agent_sdk.quantization.formats import FACTOR_DTYPES, QuantConfig
    from agent_sdk.runtime.tokenizer import Tokenizer
    from agent_sdk.tune.adapter import low_rank_factors, round_adapter, save_adapter
    from agent_sdk.tune.torch_model import TorchLlama, apply_lora, merged_weights
    from agent_sdk.tune.train import CHECKPOINT, TuneSettings, greedy_replies, train

    note = say or (lambda _m: None)
    settings = settings or TuneSettings()
    resolve_tool_listing(tool_listing, 0)  # an unknown listing fails before any work
    if not 0.0 < call_keep <= 1.0:
        raise UserError(f"call_keep must be a share in (0, 1]; got {call_keep}")
    if low_rank_dtype not in FACTOR_DTYPES:
        raise UserError(f"low_rank_dtype must be one of {', '.join(FACTOR_DTYPES)}; got {low_rank_dtype!r}")
    if isinstance(calibration_count, bool) or not isinstance(calibration_count, int) or calibration_count < 1:
        raise UserError(f"calibration_count must be a whole number of at least 1; got {calibration_count!r}")
    specs = tool_specs(tools)
    if not specs:
        raise UserError("no tools to tune for")
    ref, ckpt = read_checkpoint(model)
    layers = settings.adapted_layers(int(ckpt.config.num_hidden_layers))  # a wrong count fails before any work
    quant = resolve_quant(quant, ref.path, target=target, int16=False)  # the training model's float activations
    if quant != "auto" and QuantConfig.from_name(quant).act != "f32":
        raise UserError(f"--quant {quant} rounds activations to integers; the training model computes float "
                        "activations, so a tuned bundle needs q4, q5, q8, f16 or f32")
    # llama.cpp's copy of the adapter (adapter.gguf) needs a GGUF base llama.cpp runs as the compiler does: known now,
    # so an unsupported base skips the copy with a note instead of failing after training
    from agent_sdk.models.gguf_lora import gguf_adapter_refusal

    no_gguf_adapter = gguf_adapter_refusal(ref.path)
    if no_gguf_adapter and ckpt.source_format == "gguf":  # a Hugging Face folder gets no note: nothing was expected
        note(f"the bundle will hold no {GGUF_ADAPTER} for llama.cpp: {no_gguf_adapter}")
    dest = Path(out) if out else default_bundle_dir(f"{ref.name}-tuned", quant, target)
    work = dest.parent / f"{dest.name}.tune"
    work.mkdir(parents=True, exist_ok=True)

    tok_dir = work / "tokenizer"
    tok_dir.mkdir(exist_ok=True)
    for fname, data in ckpt.tokenizer_files.items():
        (tok_dir / fname).write_bytes(data)
    (tok_dir / "tokenizer_meta.json").write_text(json.dumps(ckpt.tokenizer_meta))
    tokenizer = Tokenizer(tok_dir)

    note(f"generating examples for {len(specs)} tools")
    user = load_user_examples(examples_file, specs, seed=settings.seed) if examples_file else []
    examples = generate_examples(specs, count=count, user_examples=user, seed=settings.seed)
    data_lines = [json.dumps({"q": e.query, "calls": list(e.calls), "source": e.source, "weight": e.weight},
                             ensure_ascii=False) for e in examples]
    data_text = "\n".join(data_lines) + "\n"

    # The model's own call format, as LocalBackend picks it for the compiled bundle (calibration, held-out, Agent).
    from agent_sdk.agent.format_choice import native_call_format

    call_format = native_call_format(tokenizer)

    def renderer_for(listing: str) -> PromptRenderer:
        return PromptRenderer(tokenizer, specs, system=system, tool_listing=listing, call_format=call_format,
                              stop_ids=list(getattr(ckpt.config, "eos_token_id", None) or ()))

    # A run resumes on the prompt and the examples it trained on: ``auto`` takes the checkpoint's listing, another
    # prompt or other examples are refused. The checkpoint's own record decides (prompt.json, written before training,
    # can describe a run stopped before its first step); prompt.json serves checkpoints saved before that record.
    prompt_file = work / PROMPT_RECORD
    saved = _checkpoint_record(work / CHECKPOINT) if resume else {}
    resuming = resume and (work / CHECKPOINT).exists() and prompt_file.exists()
    earlier = saved or (json.loads(prompt_file.read_text(encoding="utf-8")) if resuming else {})
    first = earlier.get("tool_listing", "full") if tool_listing == "auto" else tool_listing
    renderer = renderer_for(first)
    asked = tool_listing
    tool_listing = first if earlier else resolve_tool_listing(tool_listing, len(renderer.prefix_ids))
    if tool_listing != first:
        renderer = renderer_for(tool_listing)
    # A format that lists the tools itself: record full (a resume keeps its checkpoint's record, the same prompt).
    if not earlier and tool_listing != "full" and listing_is_ignored(call_format, specs, system):
        if asked != "auto":
            note(f"{tool_listing} tool listing: not used, the model's own format lists its tools (recorded as full)")
        tool_listing = "full"
    prefix_hash = hashlib.sha256(json.dumps(list(renderer.prefix_ids)).encode()).hexdigest()
    if earlier and earlier.get("prefix_sha256") != prefix_hash:
        raise UserError(f"the checkpoint in {work} was trained on another prompt (tool listing "
                        f"{earlier.get('tool_listing')!r}, or other tools or instructions); rerun with --restart "
                        f"to start over, or with the same settings to resume")
    # ... and on its examples: the manifest records their hash, which must be the trained weights'.
    data_hash = hashlib.sha256(data_text.encode()).hexdigest()
    if saved.get("data_sha256", data_hash) != data_hash:
        raise UserError(f"the checkpoint in {work} was trained on other examples (another --examples file, --count "
                        f"or --seed, or another version of the generator); rerun with --restart to start over")
    record = {"tool_listing": tool_listing, "prefix_sha256": prefix_hash, "data_sha256": data_hash}
    prompt_file.write_text(json.dumps(record) + "\n", encoding="utf-8")
    (work / "examples.jsonl").write_text(data_text, encoding="utf-8")
    why = ""
    if asked == "auto" and earlier:
        why = "; auto: the checkpoint's listing"
    elif asked == "auto" and tool_listing == "names":
        why = "; auto: a tuned bundle learns its tools, and the shorter prompt trains more steps in the same minutes"
    note(f"prompt prefix: {len(renderer.prefix_ids)} tokens ({tool_listing} tool listing{why})")

    torch.manual_seed(settings.seed)
    net = TorchLlama.from_checkpoint(ckpt)
    if settings.threads:
        torch.set_num_threads(settings.threads)

    rendered: list[RenderedExample] = []
    negatives = [e for e in examples if not e.calls]
    if negatives:
        note(f"the base model's own replies for {len(negatives)} requests no tool serves")
        prompts = [renderer.prompt_ids(e.query)[len(renderer.prefix_ids):] for e in negatives]
        banned = tokenizer.encode(renderer.call_format.open)[:1]
        replies = greedy_replies(net, renderer.prefix_ids, prompts, max_tokens=NEGATIVE_REPLY_TOKENS,
                                 banned=banned, stop=tokenizer.eos_token_ids)
        reply_of = {id(e): tokenizer.decode(r) for e, r in zip(negatives, replies)}
    for e in examples:
        if e.calls:
            rendered.append(renderer.render(e.query, e.calls, weight=e.weight))
        else:
            rendered.append(renderer.render(e.query, reply=reply_of[id(e)], weight=e.weight))

    apply_lora(net, rank=settings.rank, alpha=settings.alpha, dropout=settings.dropout, targets=settings.targets,
               seed=settings.seed, layers=layers)
    n_tokens = sum(len(r.ids) for r in rendered)
    where = "" if layers is None else f" of the last {len(layers)} of {len(net.model.layers)} blocks"
    note(f"training on {len(rendered)} examples ({n_tokens} tokens after the shared prefix), "
         f"LoRA rank {settings.rank} on {', '.join(settings.targets)}{where}")
    pad = tokenizer.eos_token_ids[0] if tokenizer.eos_token_ids else 0
    result = train(net, renderer.prefix_ids, rendered, settings, workdir=work, pad_id=pad, progress=on_step,
                   resume=resume, trained_on=record)
    if result.steps == 0:  # an untrained bundle would only be the base model, and would replace one at dest
        raise UserError(f"stopped before the first training step: nothing was trained and no bundle was written "
                        f"({dest} is left as it was); rerun to train")
    note(f"trained {result.steps} steps in {result.seconds:.0f} s ({result.examples_per_s:.1f} examples/s), "
         f"final loss {result.final_loss:.4f}" + (" — stopped early" if result.stopped else ""))

    if not merge:
        round_adapter(net, low_rank_dtype)  # the saved adapter and the calibration's bundle: the same update
    adapter_dir = work / "adapter"
    save_adapter(net, adapter_dir, base_model=str(ref.path))
    adapter_files = ["adapter_model.safetensors", "adapter_config.json"]
    if no_gguf_adapter is None:  # the same update for llama.cpp: BASE.gguf --lora adapter.gguf
        from agent_sdk.models.gguf_lora import gguf_lora_dtype, write_gguf_lora

        try:
            write_gguf_lora(adapter_dir, ref.path, adapter_dir / GGUF_ADAPTER,
                            dtype="float32" if merge else gguf_lora_dtype(low_rank_dtype))
            adapter_files.append(GGUF_ADAPTER)
        except (ModelFormatError, OSError) as exc:  # a copy for another engine: the trained bundle still matters
            note(f"no {GGUF_ADAPTER} for llama.cpp: {exc}")

    tuning = {
        "base_model": {"name": ref.name, "path": str(ref.path), "sha256": _base_hash(ref.path)},
        "tools": {"names": [t["name"] for t in specs], "schema_sha256": _digest(specs),
                  "digests": {t["name"]: tool_digest(t) for t in specs}},
        "data": {
            "sha256": data_hash, "examples": len(examples),
            "negatives": len(negatives), "user_examples": len(user), "tokens": n_tokens,
            "prefix_tokens": len(renderer.prefix_ids),
        },
        "settings": settings.record(),
        "steps": result.steps,
        "final_loss": round(result.final_loss, 5),
        "train_seconds": round(result.total_seconds, 1),
        "stopped_early": result.stopped,
        "adapter": adapter_files,
        "merged": merge,
    }
    how = "merged into the weights" if merge else "kept beside the weights"
    note(f"compiling the tuned bundle ({quant}, {target}, update {how}) into {dest}")
    compiled = compile_model(
        ref.path, quant=quant, target=target, out=dest, name=f"{ref.name}-tuned",
        tensor_overrides=merged_weights(net) if merge else None, low_rank=None if merge else low_rank_factors(net),
        low_rank_dtype=low_rank_dtype,
        manifest_extra={"tuning": tuning, "prompt": {"tool_listing": tool_listing}},
        extra_files={name: adapter_dir / name for name in adapter_files},
    )
    head = None
    if auto_probe:  # the output head the probe reads the hidden state back through
        weight = net.lm_head.weight if net.lm_head is not None else net.model.embed_tokens.weight
        head = weight.detach().float().cpu().numpy()
    _calibrate(Path(compiled.path), specs, examples, system, settings.seed, note, keep=call_keep,
               count=calibration_count, head=head)
    score = None
    if heldout is not None:
        score = _score(Path(compiled.path), specs, heldout, system, note)
    manifest = read_manifest(Path(compiled.path))
    return TuneResult(Path(compiled.path), manifest, score, result.stopped)


def _checkpoint_record(path: Path) -> dict[str, str]:
    """What a training checkpoint says it was trained on (``{}`` without one, or for a checkpoint too old or
    unreadable to say: training then reports an unreadable file itself)."""
    import torch

    if not path.exists():
        return {}
    try:
        # mmap: only the small record is read here; train() loads the adapter and optimizer state once, itself.
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 -- train() names the problem when it loads the file
        return {}
    return {str(k): str(v) for k, v in dict(state.get("trained_on") or {}).items()}


def _update_manifest(bundle: Path, change: Callable[[dict[str, Any]], None]) -> None:
    manifest = read_manifest(bundle)
    for key in ("files", "format_version"):
        manifest.pop(key, None)
    change(manifest)
    write_manifest(bundle, manifest)


def calibration_points(bundle: Path, specs: list[dict[str, Any]], trained: Sequence[Any], system: str | None,
                       seed: int, note: Callable[[str], None] = lambda _m: None, *,
                       count: int = CALIBRATION_COUNT) -> list[tuple[float, bool, bool]]:
    """The tuned bundle's ``auto`` call score on fresh generated requests (another seed, none trained on).

    Args:
        bundle: The tuned bundle.
        specs: The tools, as :func:`tool_specs` gives them.
        trained: The training examples (their requests are left out).
        system: Instructions before the tools (None: the default).
        seed: The training seed (the requests use it plus :data:`CALIBRATION_SEED_OFFSET`).
        note: Called with a line describing the stage.
        count: How many requests (fewer when the tools allow fewer distinct ones).

    Returns:
        One ``(score, is a tool request, call right)`` per request; the score
        is ``-inf`` when the model did not start a call at all. The score is
        the rule's without any call probe the bundle records.
    """
    return _calibration_run(bundle, specs, trained, system, seed, note, count=count)[0]


def choose_tool_thresholds(points: Sequence[tuple[float, bool, bool]], called: Sequence[Sequence[str]],
                           threshold: float, *, keep: float = CALL_KEEP, min_right: int = TOOL_THRESHOLD_MIN_RIGHT,
                           margin: float = TOOL_THRESHOLD_MARGIN, under_every_call: bool = False) -> dict[str, float]:
    """Lower ``auto`` thresholds for the tools whose right calls score lower than the others'.

    The models' scores differ by tool (robot-v3 on its calibration requests: the median right ``go_to`` call scores
    -3.85, ``turn`` -0.02), so one threshold that keeps ``keep`` of all right calls declines most calls to a few
    tools. Per tool, on the requests whose call was a single call to it when scored, :func:`choose_threshold` picks
    its threshold (the edge that keeps ``keep`` of its right calls, as for all calls); it replaces ``threshold`` where
    it is at least ``margin`` lower. Never higher: a tool whose generated requests are easy (its right calls all score
    near 0) is asked more loosely by people, and raising its threshold declined them on the development sets
    (docs/tuning.md, 2026-12-07, night). Until 2026-12-08 a tool's threshold went :data:`CALL_MARGIN` under its lowest
    right call when that declined as many of the unservable requests that drew it (``under_every_call``): on the
    garden's development set that rule gave three tools thresholds near -6.5 that called three requests no tool serves
    ("rake the leaves" as ``log_harvest``) and gained no call (docs/tuning.md, 2026-12-08).

    Args:
        points: ``(score, is a tool request, call right)`` per request, as :func:`calibration_points` gives.
        called: The tools each request's call named when ``auto`` scored it, aligned with ``points``.
        threshold: The threshold for every call (:func:`choose_threshold` on all of ``points``).
        keep: The share of a tool's right calls its threshold keeps.
        min_right: The right single calls a tool needs for a threshold of its own.
        margin: Nats a tool's threshold must lie under ``threshold`` to be kept.
        under_every_call: The rule before 2026-12-08 (:func:`choose_threshold`'s option), recorded for comparison.

    Returns:
        Tool name → its threshold, for the tools whose threshold is at least ``margin`` lower than ``threshold``.
    """
    by_tool: dict[str, list[tuple[float, bool, bool]]] = {}
    for point, names in zip(points, called, strict=True):
        if len(names) == 1:
            by_tool.setdefault(names[0], []).append(point)
    out = {}
    for name, own in sorted(by_tool.items()):
        if sum(1 for s, tool, ok in own if tool and ok and math.isfinite(s)) < min_right:
            continue
        t = choose_threshold(own, keep=keep, under_every_call=under_every_call)[0]
        if t <= threshold - margin:
            out[name] = t
    return out


def _calibration_run(
    bundle: Path, specs: list[dict[str, Any]], trained: Sequence[Any], system: str | None, seed: int,
    note: Callable[[str], None], *, count: int, head: HeadInverse | None = None,
) -> tuple[list[tuple[float, bool, bool]], np.ndarray | None, list[list[str]]]:
    """:func:`calibration_points`, with ``head`` (a :class:`~agent_sdk.tune.probe.HeadInverse`) each request's
    final hidden state at the prompt's end, read from the logits the call step computes: ``(n, hidden)``; and the
    tools each request's call named when ``auto`` scored it (the names its threshold is looked up by)."""
    from agent_sdk.agent.backends import LocalBackend, StepRequest, run_step
    from agent_sdk.agent.policy import DEFAULT_POLICY
    from agent_sdk.runtime.engine import Engine
    from agent_sdk.tune.heldout import same_calls

    seen = {e.query.casefold() for e in trained}
    fresh = [e for e in generate_examples(specs, count=count * 2, seed=seed + CALIBRATION_SEED_OFFSET)
             if e.query.casefold() not in seen][:count]
    note(f"calibrating the auto threshold on {len(fresh)} fresh generated requests")
    engine = Engine(bundle)
    backend = LocalBackend(engine)
    policy = DEFAULT_POLICY.replace(tool_choice="auto").with_threshold(-math.inf)  # keep every call: read its score
    recorder = None
    if head is not None:  # reads the prompt's logits in the call step; adds nothing to the score
        recorder = _FeatureRecorder(weights=np.zeros(1, np.float32), bias=0.0, weight=0.0, head=head)
        policy = policy.replace(auto=dataclasses.replace(policy.auto, probe=recorder))
    points: list[tuple[float, bool, bool]] = []
    called: list[list[str]] = []
    rows: list[np.ndarray] = []
    for e in fresh:
        before = len(recorder.rows) if recorder is not None else 0
        step = run_step(backend.step(StepRequest([{"role": "user", "content": e.query}], specs, policy,
                                                 max_tokens=128, system=system, answer=False)))
        score = step.stats.auto_score if step.stats.auto_score is not None else -math.inf
        got = [{"name": c.name, "arguments": c.arguments} for c in step.calls]
        points.append((score, bool(e.calls), bool(e.calls) and same_calls(got, e.calls)))
        called.append(list(step.stats.auto_tools))  # what the threshold is looked up by, before any renaming
        if recorder is not None:  # the first prompt of the step is the request's own (a follow-up comes after)
            if len(recorder.rows) == before:
                raise EngineError(f"the call step on {e.query!r} computed no prompt logits for the probe")
            rows.append(recorder.rows[before])
    del engine
    return points, (np.stack(rows) if recorder is not None else None), called


@dataclasses.dataclass(frozen=True, eq=False)
class _FeatureRecorder(AutoProbe):
    """A probe of weight 0 that keeps the hidden state read from each prompt's logits."""

    head: HeadInverse | None = None
    rows: list[np.ndarray] = dataclasses.field(default_factory=list)

    def value(self, logits: np.ndarray) -> float:
        """Keeps the hidden state these logits give; adds nothing to the score."""
        assert self.head is not None  # set by _calibration_run
        self.rows.append(self.head.features(logits))
        return 0.0


def choose_threshold(points: Sequence[tuple[float, bool, bool]], *, keep: float = CALL_KEEP,
                     under_every_call: bool = False) -> tuple[float, float, float]:
    """The ``auto`` threshold: the highest that still keeps ``keep`` of the right calls.

    A call is made when its score is at or above the threshold, so raising
    it declines more requests no tool serves and loses right calls. The rule
    fixes the right calls kept (:data:`CALL_KEEP`) and declines every
    unservable request scoring below that: a share of calls, not a sum of
    shares, so a handful of hard generated negatives (about a fifth of the
    requests) cannot pull the threshold over many right calls.

    With ``under_every_call``, when a threshold :data:`CALL_MARGIN` below
    every right call declines as many unservable requests, that one is taken
    and every right call kept (the per-tool thresholds' rule until
    2026-12-08, :func:`choose_tool_thresholds`). Not a default:
    generated negatives a tuned model declines outright say nothing about
    people's near misses, and the garden bundle, the one whose calibration
    came to it, fell from about -3.5 to -7.07 and declined 7 of 16 of its
    development set's unservable requests instead of 13 (docs/tuning.md,
    2026-12-07).

    Args:
        points: ``(score, is a tool request, call right)`` per request; the
            score is ``-inf`` when the model started no call.
        keep: The share of right calls that must score at or above the
            threshold.
        under_every_call: Keep every right call when that declines as many
            unservable requests as the ``keep`` edge.

    Returns:
        ``(threshold, right calls kept, unservable requests declined)``, the
        last two as shares of their kind on ``points`` (right calls kept as
        a share of all tool requests).

    Raises:
        ValueError: ``keep`` is not in (0, 1].
    """
    from agent_sdk.agent.policy import DEFAULT_POLICY

    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep must be a share in (0, 1]; got {keep}")
    def rates(t: float) -> tuple[float, float]:
        return _shares(points, [t] * len(points))

    right = sorted(s for s, tool, ok in points if tool and ok and math.isfinite(s))
    if not right:
        threshold = DEFAULT_POLICY.auto.threshold
        return (threshold, *rates(threshold))
    # The lowest right calls that may fall below: fewer than (1 - keep) of them.
    edge = right[min(math.floor((1.0 - keep) * len(right) + 1e-9), len(right) - 1)]
    threshold = _at_or_below(edge)
    # Where a threshold under every right call declines as many, nothing is won by dropping calls: keep them all.
    under = _at_or_below(right[0] - CALL_MARGIN)
    if under_every_call and rates(under)[1] >= rates(threshold)[1]:
        threshold = under
    return (threshold, *rates(threshold))


def _shares(points: Sequence[tuple[float, bool, bool]], bars: Sequence[float]) -> tuple[float, float]:
    """(right calls kept, unservable requests declined), each a share of its kind, with ``bars[i]`` the threshold
    ``points[i]`` must meet."""
    n_tool = sum(1 for _, tool, _ in points if tool) or 1
    n_none = sum(1 for _, tool, _ in points if not tool) or 1
    return (sum(1 for (s, tool, ok), t in zip(points, bars, strict=True) if tool and ok and s >= t) / n_tool,
            sum(1 for (s, tool, _), t in zip(points, bars, strict=True) if not tool and s < t) / n_none)


def _at_or_below(score: float) -> float:
    """``score`` rounded down to 3 decimals (a threshold that still keeps a call scoring ``score``)."""
    t = math.floor(score * 1000) / 1000
    return t if t <= score else math.floor(score * 1000 - 1) / 1000


def _calibrate(bundle: Path, specs: list[dict[str, Any]], trained: Sequence[Any], system: str | None, seed: int,
               note: Callable[[str], None], *, keep: float = CALL_KEEP, count: int = CALIBRATION_COUNT,
               head: np.ndarray | None = None) -> None:
    """Finds the ``auto`` threshold that serves the tuned model best on fresh generated requests.

    The SDK's default threshold is fitted to base models, which rarely start a
    call; a tuned model starts one readily, so its own threshold is chosen on
    requests generated with another seed (none of them trained on, never the
    held-out set) by :func:`choose_threshold`, keeping ``keep`` of the right
    calls on ``count`` of them. It is recorded as the bundle's
    ``policy.auto_threshold`` and used wherever the caller kept the default rule.

    With ``head`` (the model's output head, ``(vocab, hidden)``), a call probe
    is fitted on the same requests (:mod:`agent_sdk.tune.probe`), written to
    the bundle and recorded as ``policy.auto_probe``; the threshold is then
    chosen on the score with the probe's out-of-fold term added.
    """
    from agent_sdk.tune.probe import PROBE_WEIGHT, HeadInverse, fit_probe

    calibration_probe: dict[str, Any] = {}
    inverse = None
    if head is not None:
        try:
            inverse = HeadInverse(head)
        except UserError as exc:  # an option on top of the threshold: the bundle is calibrated without it
            note(f"no call probe: {exc}")
            calibration_probe = {"probe": {"skipped": str(exc)}}
    points, features, called = _calibration_run(bundle, specs, trained, system, seed, note, count=count,
                                                head=inverse)
    probe_record: dict[str, Any] | None = None
    used = points
    fit = None
    if inverse is not None and features is not None:
        try:
            fit = fit_probe(features, [tool for _, tool, _ in points], seed=seed)
        except UserError as exc:  # too few requests, or of one kind only
            note(f"no call probe: {exc}")
            calibration_probe = {"probe": {"skipped": str(exc)}}
    if inverse is not None and fit is not None:
        used = [(s + PROBE_WEIGHT * z if math.isfinite(s) else s, tool, right)
                for (s, tool, right), z in zip(points, fit.out_of_fold)]
        plain, plain_calls, plain_declines = choose_threshold(points, keep=keep)
        np.save(bundle / AUTO_PROBE_FILE, inverse.logit_weights(fit.w), allow_pickle=False)
        probe_record = {"file": AUTO_PROBE_FILE, "bias": round(fit.b, 6), "weight": PROBE_WEIGHT}
        calibration_probe = {"probe": {
            "ridge": fit.ridge, "cv_log_loss": round(fit.cv_loss, 4), "weight": PROBE_WEIGHT,
            "without": {"auto_threshold": plain, "tool_accuracy": round(plain_calls, 4),
                        "decline_accuracy": round(plain_declines, 4)},
        }}
        note(f"call probe: ridge {fit.ridge}, cross-validated log-loss {fit.cv_loss:.3f}; without it the threshold "
             f"would be {plain} ({plain_calls:.1%} called right, {plain_declines:.1%} declined)")
    threshold, calls_ok, declines = choose_threshold(used, keep=keep)
    note(f"auto threshold {threshold}: on the fresh requests {calls_ok:.1%} called right, {declines:.1%} declined")
    under_all = choose_threshold(used, keep=keep, under_every_call=True)[0]  # the rule before 2026-12-07, recorded
    per_tool = choose_tool_thresholds(used, called, threshold, keep=keep)
    per_tool_under = choose_tool_thresholds(used, called, threshold, keep=keep, under_every_call=True)  # recorded
    rule = AutoRule(threshold=threshold, tool_thresholds=tuple(sorted(per_tool.items())))  # the runtime's lookup
    tool_calls, tool_declines = _shares(used, [rule.threshold_for(names) for names in called])
    if per_tool:
        note("lower thresholds for the tools whose right calls score lower: "
             + ", ".join(f"{name} {t}" for name, t in per_tool.items())
             + f" ({tool_calls:.1%} called right, {tool_declines:.1%} declined)")

    def record(manifest: dict[str, Any]) -> None:
        manifest["policy"] = {"auto_threshold": threshold}
        if per_tool:
            manifest["policy"]["auto_tool_thresholds"] = per_tool
        if probe_record is not None:
            manifest["policy"]["auto_probe"] = probe_record
        manifest["tuning"]["calibration"] = {
            "requests": len(points), "seed": seed + CALIBRATION_SEED_OFFSET, "call_keep": keep,
            "auto_threshold": threshold, "auto_tool_thresholds": per_tool, "auto_threshold_under_every_call": under_all,
            "auto_tool_thresholds_under_every_call": per_tool_under,
            "tool_accuracy": round(calls_ok, 4), "decline_accuracy": round(declines, 4),
            "with_tool_thresholds": {"tool_accuracy": round(tool_calls, 4), "decline_accuracy": round(tool_declines, 4)},
            **calibration_probe,
        }

    _update_manifest(bundle, record)


def _score(bundle: Path, specs: list[dict[str, Any]], heldout: Path, system: str | None,
           note: Callable[[str], None]) -> HeldoutScore:
    from agent_sdk.agent.policy import DEFAULT_POLICY
    from agent_sdk.runtime.engine import Engine

    rows = load_heldout(heldout)
    note(f"scoring {len(rows)} held-out requests (auto)")
    engine = Engine(bundle)
    score = score_heldout(engine, specs, rows, policy=DEFAULT_POLICY.replace(tool_choice="auto"), system=system)
    del engine
    _update_manifest(bundle, lambda m: m["tuning"].__setitem__(
        "heldout", {"file": os.path.basename(heldout), **score.record()}))
    return score

