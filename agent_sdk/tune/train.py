"""LoRA training on the CPU: seeded, time- or step-budgeted, resumable, stoppable with Ctrl-C.

Every example shares the system message (instructions and tools), which is
most of its tokens. Each step therefore runs the prefix once, without
gradients, under the current weights, and trains on the examples' suffixes
attending to its keys and values: the forward pass is exact, and the
gradient leaves out only the path through the prefix's keys and values.
Measured on SmolLM2-135M with the 11 home tools (a 350-token prefix, 16
suffixes of ~48 tokens), see docs/tuning.md.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from agent_sdk.errors import UserError
from agent_sdk.tune.render import RenderedExample
from agent_sdk.tune.torch_model import TorchLlama, lora_parameters

__all__ = ["ADDED_SETTINGS", "StepReport", "TrainResult", "TuneSettings", "greedy_replies", "train"]

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_EVERY_S = 120.0
"""Seconds between checkpoints (and one at every stop)."""
GRAD_CLIP = 1.0
BUCKET_BATCHES = 32
"""Batches whose examples are grouped by length together (see :func:`_batches`)."""
EPOCHS_PLANNED = 64
"""Epochs of batches laid out ahead (a run of any realistic length uses a few)."""


ADDED_SETTINGS: dict[str, Any] = {"dropout": 0.0, "prefix_grad": False, "top_layers": None, "decision_weight": 1.0}
"""Settings added after checkpoints were first written, with the value those checkpoints were trained with."""


@dataclass(frozen=True)
class TuneSettings:
    """How to train.

    Attributes:
        rank: LoRA rank.
        alpha: LoRA scale numerator (the update is ``alpha / rank * B @ A``).
        targets: Projections that get an adapter.
        learning_rate: Peak AdamW learning rate (after warm-up; cosine decay to a tenth).
        batch_size: Examples per step.
        steps: Steps to run (None: as many as ``minutes`` allows).
        minutes: Wall-clock budget when ``steps`` is None.
        warmup_steps: Linear warm-up.
        weight_decay: AdamW weight decay on the adapters.
        dropout: Dropout on each adapter's input while training (0: none; the shared prefix is always run
            without it). The masks come from the seed; a resumed run draws new ones.
        seed: Seeds the adapters' initialization and the example order.
        threads: PyTorch threads (None: every core).
        prefix_grad: Train through the shared prefix too: its keys and values keep their graph, so the
            adapters also learn how the tool listing is read (the prefix still runs once per step). Off: the
            prefix runs without gradient, and only the suffixes' own positions train the adapters.
        top_layers: Adapt only the last N blocks (None: every block). The blocks below run forward only, with no
            graph kept, so a step costs less; a bundle that keeps the update beside the weights (not ``merge``)
            computes it in N blocks instead of all.
        decision_weight: Weight of each example's first target token (whether the answer starts a call or a reply:
            what the ``auto`` decision reads) relative to its other target tokens (1: every target token alike).
    """

    rank: int = 16
    alpha: float = 32.0
    targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    learning_rate: float = 1e-3
    batch_size: int = 16
    steps: int | None = None
    minutes: float | None = 20.0
    warmup_steps: int = 10
    weight_decay: float = 0.0
    dropout: float = 0.0
    seed: int = 0
    threads: int | None = None
    prefix_grad: bool = False
    top_layers: int | None = None
    decision_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.rank < 1 or self.batch_size < 1:
            raise UserError("rank and batch size must be at least 1")
        if self.steps is None and (self.minutes is None or self.minutes <= 0):
            raise UserError("give a number of steps or a positive number of minutes")
        if self.steps is not None and self.steps < 1:
            raise UserError("steps must be at least 1")
        if not self.targets:
            raise UserError("LoRA needs at least one target projection")
        if not 0.0 <= self.dropout < 1.0:
            raise UserError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.top_layers is not None and (isinstance(self.top_layers, bool) or not isinstance(self.top_layers, int)
                                            or self.top_layers < 1):
            raise UserError(f"top_layers must be a positive number of blocks, got {self.top_layers!r}")
        if (isinstance(self.decision_weight, bool) or not isinstance(self.decision_weight, numbers.Real)
                or not math.isfinite(self.decision_weight) or self.decision_weight <= 0):
            raise UserError(f"decision_weight must be a positive number, got {self.decision_weight!r}")
        object.__setattr__(self, "decision_weight", float(self.decision_weight))  # JSON and the checkpoint take it

    def adapted_layers(self, n_blocks: int) -> list[int] | None:
        """The blocks to adapt.

        Args:
            n_blocks: The model's decoder blocks.

        Returns:
            The indices of the last ``top_layers`` blocks, ascending; None for every block.

        Raises:
            UserError: ``top_layers`` is more than the model has.
        """
        if self.top_layers is None:
            return None
        if self.top_layers > n_blocks:
            raise UserError(f"top_layers {self.top_layers} (--top-layers): the model has only {n_blocks} blocks")
        return list(range(n_blocks - self.top_layers, n_blocks))

    def record(self) -> dict[str, Any]:
        """The settings as JSON (for the manifest)."""
        out = asdict(self)
        out["targets"] = list(self.targets)
        return out


@dataclass(frozen=True)
class StepReport:
    """Progress after one step."""

    step: int
    total: int | None
    loss: float
    examples_per_s: float
    elapsed_s: float
    eta_s: float | None


@dataclass
class TrainResult:
    """How training ended.

    Attributes:
        steps: Steps run in all (resumed runs included).
        final_loss: Mean loss of the last steps.
        seconds: Wall-clock seconds of this run.
        total_seconds: Training seconds of every run that led to these weights (resumed runs included).
        examples_per_s: Examples trained per second.
        stopped: Stopped early by Ctrl-C (the checkpoint holds the weights reached).
        losses: Loss per step.
    """

    steps: int
    final_loss: float
    seconds: float
    examples_per_s: float
    stopped: bool
    losses: list[float] = field(default_factory=list)
    total_seconds: float = 0.0


def _batch(examples: Sequence[RenderedExample], pad: int, *, decision_weight: float = 1.0
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ids ``(b, s)``, next-token targets ``(b, s)`` and loss weights ``(b, s)``.

    Each example's first target token weighs ``decision_weight`` times its others (the loss is the weighted mean, so
    losses under different weights do not compare).
    """
    width = max(len(e.ids) for e in examples)
    ids = torch.full((len(examples), width), pad, dtype=torch.long)
    targets = torch.zeros((len(examples), width), dtype=torch.long)
    weights = torch.zeros((len(examples), width), dtype=torch.float32)
    for i, e in enumerate(examples):
        ids[i, : len(e.ids)] = torch.tensor(e.ids, dtype=torch.long)
        # logits at position j predict token j + 1; the first suffix token is predicted by the prefix
        # (never a target: every target follows the user's turn, so target_start >= 1 and the decision weight lands)
        for j in range(max(e.target_start, 1), e.target_end):
            targets[i, j - 1] = e.ids[j]
            weights[i, j - 1] = e.weight * (decision_weight if j == e.target_start else 1.0)
    return ids, targets, weights


def _loss(model: TorchLlama, prefix: torch.Tensor, batch: Sequence[RenderedExample], pad: int, *,
          prefix_grad: bool = False, decision_weight: float = 1.0) -> torch.Tensor:
    was_training = model.training
    model.eval()  # the prefix as the deployed model reads it: no adapter dropout
    # (1, nkv, p, d) per block run, under the current weights; with its graph when the prefix trains too
    past = model.prefix_kv(prefix, grad=prefix_grad)
    model.train(was_training)
    ids, targets, weights = _batch(batch, pad, decision_weight=decision_weight)
    hidden = model.hidden_states(ids, past=past)  # (b, s, h)
    keep = weights > 0  # the output head (a fifth of a token's work at 49k words) only where there is loss
    logits = model.logits_from_hidden(hidden[keep])  # (n, v)
    ce = torch.nn.functional.cross_entropy(logits, targets[keep], reduction="none")
    w = weights[keep]
    return (ce * w).sum() / w.sum().clamp_min(1e-9)


def _lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    frac = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac))


def train(
    model: TorchLlama,
    prefix_ids: Sequence[int],
    examples: Sequence[RenderedExample],
    settings: TuneSettings,
    *,
    workdir: Path,
    pad_id: int = 0,
    progress: Callable[[StepReport], None] | None = None,
    resume: bool = True,
    trained_on: dict[str, str] | None = None,
) -> TrainResult:
    """Trains the model's LoRA adapters on ``examples``.

    Args:
        model: A model with adapters applied (:func:`~agent_sdk.tune.torch_model.apply_lora`).
        prefix_ids: The shared prefix every example continues.
        examples: The rendered examples.
        settings: How to train.
        workdir: Where the checkpoint is kept (``checkpoint.pt``).
        pad_id: Token used to pad batches (never a target).
        progress: Called after every step.
        resume: Continue from ``workdir``'s checkpoint when it exists.
        trained_on: What the examples and their prompt are (e.g. their
            hashes), kept in the checkpoint: a resume with other values is
            refused, so the weights never mix two data sets unnoticed.

    Returns:
        How it ended. Ctrl-C ends it early with ``stopped`` set, after saving the checkpoint.
    """
    if not examples:
        raise UserError("no training examples")
    torch.manual_seed(settings.seed)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    params = lora_parameters(model)
    opt = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    workdir.mkdir(parents=True, exist_ok=True)
    ckpt_path = workdir / CHECKPOINT
    trained_on = dict(trained_on or {})
    step, losses, earlier_s = 0, list[float](), 0.0
    if resume and ckpt_path.exists():
        step, losses, earlier_s = _load_checkpoint(ckpt_path, model, opt, settings, trained_on)
    prefix = torch.tensor(list(prefix_ids), dtype=torch.long)
    batches = _batches([len(e.ids) for e in examples], settings.batch_size, settings.seed)
    total = settings.steps
    budget = None if settings.steps is not None else float(settings.minutes or 0) * 60
    t0 = last_save = time.perf_counter()
    done_here = 0
    stopped = False
    model.train()
    previous = _stop_on_sigterm()
    try:
        while total is None or step < total:
            if budget is not None and time.perf_counter() - t0 >= budget:
                break
            batch = [examples[i] for i in batches[step % len(batches)]]
            # time-budgeted: the schedule's length is estimated from the first steps
            sched_total = total if total is not None else _estimate_steps(step, done_here, t0, budget)
            for g in opt.param_groups:
                g["lr"] = settings.learning_rate * _lr_factor(step, sched_total, settings.warmup_steps)
            loss = _loss(model, prefix, batch, pad_id, prefix_grad=settings.prefix_grad,
                         decision_weight=settings.decision_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(params, GRAD_CLIP)
            opt.step()
            step += 1
            done_here += 1
            losses.append(float(loss.detach()))
            elapsed = time.perf_counter() - t0
            if progress:
                per_step = elapsed / done_here
                left = (total - step) * per_step if total is not None else max(0.0, (budget or 0) - elapsed)
                progress(StepReport(step, total if total is not None else sched_total, losses[-1],
                                    done_here * settings.batch_size / elapsed, elapsed, left))
            if time.perf_counter() - last_save > CHECKPOINT_EVERY_S:
                _save_checkpoint(ckpt_path, model, opt, step, losses, settings,
                                 earlier_s + time.perf_counter() - t0, trained_on)
                last_save = time.perf_counter()
    except KeyboardInterrupt:
        stopped = True
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    model.eval()
    seconds = time.perf_counter() - t0
    if step > 0:  # an untrained checkpoint would replace an earlier run's and pin its settings for nothing
        _save_checkpoint(ckpt_path, model, opt, step, losses, settings, earlier_s + seconds, trained_on)
    tail = losses[-10:] or [float("nan")]
    return TrainResult(step, sum(tail) / len(tail), seconds, done_here * settings.batch_size / max(seconds, 1e-9),
                       stopped, losses, earlier_s + seconds)


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _stop_on_sigterm() -> Any:
    """SIGTERM (``kill``, a service stopping) ends training like Ctrl-C: checkpoint kept, bundle written.

    Returns the previous handler to restore (None off the main thread, where handlers cannot be set).
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    return previous


def _estimate_steps(step: int, done_here: int, t0: float, budget: float | None) -> int:
    if done_here < 3 or budget is None:
        return max(step + 100, 100)
    per_step = (time.perf_counter() - t0) / done_here
    return step - done_here + max(done_here + 1, int(budget / per_step))


def _batches(lengths: Sequence[int], batch_size: int, seed: int) -> list[list[int]]:
    """Batches of example indices for every step, reproducible for a seed, with little padding.

    Each epoch is shuffled; then every window of :data:`BUCKET_BATCHES`
    batches' worth of examples is sorted by length and cut into batches, and
    the batches are shuffled again. A batch pads to its longest example, and
    generated examples range from ~45 to ~120 tokens: random batches of 16
    on the home tools computed 1.59 tokens per real token, length-grouped
    ones 1.02 (the 2,397 generated tool requests), so a step costs about a
    third less and the examples seen are the same.
    """
    rng = random.Random(seed)
    out: list[list[int]] = []
    n = len(lengths)
    for _ in range(EPOCHS_PLANNED):
        idx = list(range(n))
        rng.shuffle(idx)
        epoch: list[list[int]] = []
        window = batch_size * BUCKET_BATCHES
        for lo in range(0, n, window):
            chunk = sorted(idx[lo:lo + window], key=lambda i: lengths[i])
            epoch += [chunk[k:k + batch_size] for k in range(0, len(chunk), batch_size)]
        rng.shuffle(epoch)
        out += epoch
    return out


def _save_checkpoint(path: Path, model: TorchLlama, opt: torch.optim.Optimizer, step: int, losses: list[float],
                     settings: TuneSettings, seconds: float, trained_on: dict[str, str]) -> None:
    state = {
        "step": step,
        "seconds": seconds,
        "losses": losses,
        "settings": settings.record(),
        "trained_on": dict(trained_on),
        "lora": {k: v.detach().clone() for k, v in model.state_dict().items() if "lora_" in k},
        "optimizer": opt.state_dict(),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _load_checkpoint(path: Path, model: TorchLlama, opt: torch.optim.Optimizer,
                     settings: TuneSettings, trained_on: dict[str, str]) -> tuple[int, list[float], float]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say which
        raise UserError(f"{path}: cannot resume from this checkpoint ({type(exc).__name__}: {exc}); "
                        "delete it to start over") from exc
    keep = {k: v for k, v in settings.record().items() if k not in ("steps", "minutes", "threads")}
    raw = {**ADDED_SETTINGS, **dict(state.get("settings", {}))}  # older checkpoints ran without the added ones
    saved = {k: v for k, v in raw.items() if k in keep}
    if saved != keep:
        raise UserError(f"{path} was trained with other settings ({json.dumps(saved)}); "
                        "delete it or use the same settings to resume")
    earlier = dict(state.get("trained_on") or {})
    other = sorted(k for k in earlier.keys() & trained_on.keys() if earlier[k] != trained_on[k])
    if other:
        raise UserError(f"{path} was trained on other data ({', '.join(other)} differ); rerun with --restart to "
                        "start over")
    missing = model.load_state_dict(state["lora"], strict=False)
    if missing.unexpected_keys:
        raise UserError(f"{path}: adapters that this model does not have: {missing.unexpected_keys[:3]}")
    lacking = [k for k in missing.missing_keys if ".lora_" in k]
    if lacking:
        raise UserError(f"{path}: lacks adapters this model has (another set of blocks or projections?): "
                        f"{lacking[:3]}")
    opt.load_state_dict(state["optimizer"])
    return int(state["step"]), list(state["losses"]), float(state.get("seconds", 0.0))


REPLY_BATCH = 32
"""Prompts continued together by :func:`greedy_replies`."""


@torch.no_grad()
def greedy_replies(
    model: TorchLlama, prefix_ids: Sequence[int], prompts: Sequence[Sequence[int]], *, max_tokens: int,
    banned: Sequence[int] = (), stop: Sequence[int] = (),
) -> list[list[int]]:
    """The model's own greedy continuation of each prompt (prefix excluded), avoiding ``banned`` tokens.

    Negatives are trained to begin the reply the base model would write when
    it does not call: the tuned model learns to decline without unlearning how
    it answers. Prompts of the same length run as one batch over the shared
    prefix's keys and values, then one token at a time from their own (no
    padding, so no mask is needed).
    """
    model.eval()
    prefix_past = model.prefix_kv(prefix_ids)
    out: dict[int, list[int]] = {}
    by_len: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_len.setdefault(len(p), []).append(i)
    for idx in by_len.values():
        for lo in range(0, len(idx), REPLY_BATCH):
            rows = idx[lo:lo + REPLY_BATCH]
            ids = torch.tensor([list(prompts[i]) for i in rows], dtype=torch.long)  # (b, s)
            logits, past = model(ids, past=prefix_past, return_kv=True)
            last = logits[:, -1]  # (b, v)
            replies: list[list[int]] = [[] for _ in rows]
            done = [False] * len(rows)
            for _ in range(max_tokens):
                if banned:
                    last[:, list(banned)] = -math.inf
                toks = last.argmax(dim=-1)  # (b,)
                for k, tok in enumerate(toks.tolist()):
                    if not done[k]:
                        replies[k].append(tok)
                        done[k] = tok in stop
                if all(done):
                    break
                logits, past = model(toks[:, None], past=past, return_kv=True)
                last = logits[:, -1]
            for i, r in zip(rows, replies):
                out[i] = r
    return [out[i] for i in range(len(prompts))]
