"""LoRA training pieces on a tiny model: batches and loss spans, greedy replies, steps, checkpoints, resume."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from agent_sdk.errors import UserError
from agent_sdk.models.mobilellm.mobilellm_loader import load_checkpoint
from agent_sdk.tune.render import RenderedExample
from agent_sdk.tune.torch_model import TorchLlama, apply_lora, lora_parameters
from agent_sdk.tune.train import (
    CHECKPOINT,
    EPOCHS_PLANNED,
    TuneSettings,
    _batch,
    _batches,
    _loss,
    greedy_replies,
    train,
)

pytestmark = pytest.mark.unit

PREFIX = [1, 17, 42, 99, 5, 200, 7, 31]
EXAMPLES = [
    RenderedExample((3, 9, 11, 40, 41, 42), 3, 6),
    RenderedExample((3, 8, 50, 51), 2, 4, 2.0),
    RenderedExample((4, 12, 13, 14, 60), 3, 5),
]


def _model(path: Path, seed: int = 0) -> TorchLlama:
    net = TorchLlama.from_checkpoint(load_checkpoint(path))
    apply_lora(net, rank=4, alpha=8.0, seed=seed)
    return net


def test_steps_see_every_example_once_per_epoch_grouped_by_length() -> None:
    import random

    rng = random.Random(4)
    lengths = [rng.randint(40, 120) for _ in range(1000)]
    batches = _batches(lengths, 16, seed=7)
    assert batches == _batches(lengths, 16, seed=7) and batches != _batches(lengths, 16, seed=8)
    per_epoch = len(batches) // EPOCHS_PLANNED
    for e in (0, 1, EPOCHS_PLANNED - 1):
        seen = sorted(i for b in batches[e * per_epoch:(e + 1) * per_epoch] for i in b)
        assert seen == list(range(1000))
    assert max(len(b) for b in batches) == 16

    def padding(bs: list[list[int]]) -> float:
        return sum(max(lengths[i] for i in b) * len(b) for b in bs) / sum(lengths[i] for b in bs for i in b)

    shuffled = list(range(1000))
    rng.shuffle(shuffled)
    plain = [shuffled[k:k + 16] for k in range(0, 1000, 16)]
    assert padding(batches[:per_epoch]) < 1.1 < 1.3 < padding(plain)


def test_batches_put_loss_only_on_target_tokens() -> None:
    ids, targets, weights = _batch(EXAMPLES, pad=0)
    assert ids.shape == (3, 6)
    # row 0: targets are ids[3:6], predicted from positions 2..4
    assert targets[0].tolist() == [0, 0, 40, 41, 42, 0] and weights[0].tolist() == [0, 0, 1, 1, 1, 0]
    assert targets[1].tolist()[:3] == [0, 50, 51] and weights[1].tolist()[:3] == [0, 2.0, 2.0]
    assert weights[1, 3:].sum() == 0  # padding carries no loss


def test_the_decision_weight_scales_only_each_examples_first_target_token() -> None:
    _, targets, weights = _batch(EXAMPLES, pad=0, decision_weight=4.0)
    assert torch.equal(targets, _batch(EXAMPLES, pad=0)[1])
    assert weights[0].tolist() == [0, 0, 4, 1, 1, 0]  # the token that starts the answer (a call or a reply)
    assert weights[1].tolist()[:3] == [0, 8.0, 2.0]  # times the example's own weight
    assert weights[2].tolist() == [0, 0, 4, 1, 0, 0]


def test_greedy_replies_equal_one_token_at_a_time(llama_ckpt: Path) -> None:
    net = _model(llama_ckpt)
    prompts = [[3, 9, 11], [4, 12], [5, 6, 7, 8, 9], [10, 11, 12]]
    got = greedy_replies(net, PREFIX, prompts, max_tokens=4, banned=[0])
    for prompt, reply in zip(prompts, got):
        seq = list(PREFIX) + prompt
        want = []
        with torch.no_grad():
            for _ in range(4):
                logits = net(torch.tensor([seq]))[0, -1]
                logits[0] = -float("inf")
                tok = int(torch.argmax(logits))
                want.append(tok)
                seq.append(tok)
        assert reply == want


def test_training_lowers_the_loss_and_is_deterministic(llama_ckpt: Path, tmp_path: Path) -> None:
    settings = TuneSettings(rank=4, alpha=8.0, steps=8, minutes=None, batch_size=3, learning_rate=2e-2, seed=3)
    a = train(_model(llama_ckpt, 3), PREFIX, EXAMPLES, settings, workdir=tmp_path / "a", resume=False)
    b = train(_model(llama_ckpt, 3), PREFIX, EXAMPLES, settings, workdir=tmp_path / "b", resume=False)
    assert a.losses[-1] < 0.7 * a.losses[0], a.losses
    assert a.losses == b.losses  # same seed, same run


def test_a_stopped_run_resumes_where_it_stopped(llama_ckpt: Path, tmp_path: Path) -> None:
    full = TuneSettings(rank=4, alpha=8.0, steps=6, minutes=None, batch_size=3, learning_rate=2e-2, seed=1)
    whole = train(_model(llama_ckpt, 1), PREFIX, EXAMPLES, full, workdir=tmp_path / "whole", resume=False)
    half = TuneSettings(rank=4, alpha=8.0, steps=3, minutes=None, batch_size=3, learning_rate=2e-2, seed=1)
    first = train(_model(llama_ckpt, 1), PREFIX, EXAMPLES, half, workdir=tmp_path / "split", resume=False)
    resumed = train(_model(llama_ckpt, 1), PREFIX, EXAMPLES, full, workdir=tmp_path / "split")
    assert resumed.steps == 6
    # the training time of both runs is kept (the manifest's train_seconds): not just the second run's
    assert resumed.total_seconds == pytest.approx(first.seconds + resumed.seconds, rel=1e-6)
    assert first.total_seconds == first.seconds
    # the learning-rate schedule of a 3-step run differs after warm-up; the first three steps agree
    assert resumed.losses[:3] == whole.losses[:3]
    other = TuneSettings(rank=8, alpha=8.0, steps=6, minutes=None, batch_size=3, seed=1)
    apply_lora(net2 := TorchLlama.from_checkpoint(load_checkpoint(llama_ckpt)), rank=8, alpha=8.0)
    with pytest.raises(UserError, match="other settings"):
        train(net2, PREFIX, EXAMPLES, other, workdir=tmp_path / "split")


def test_a_checkpoint_resumes_only_on_the_data_it_was_trained_on(llama_ckpt: Path, tmp_path: Path) -> None:
    """The checkpoint keeps what it was trained on: a record beside it can be stale (a ``--restart`` stopped before
    its first step leaves the old checkpoint), the checkpoint cannot."""
    settings = TuneSettings(rank=4, alpha=8.0, steps=2, minutes=None, batch_size=3, learning_rate=2e-2, seed=1)
    mine = {"prefix_sha256": "p1", "data_sha256": "d1"}
    train(_model(llama_ckpt, 1), PREFIX, EXAMPLES, settings, workdir=tmp_path, resume=False, trained_on=mine)
    saved = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    assert saved["trained_on"] == mine
    more = dataclasses.replace(settings, steps=3)
    with pytest.raises(UserError, match="other data.*data_sha256.*--restart"):
        train(_model(llama_ckpt, 1), PREFIX, EXAMPLES, more, workdir=tmp_path, trained_on={**mine, "data_sha256": "d2"})
    assert torch.load(tmp_path / CHECKPOINT, weights_only=True)["step"] == 2  # refused before any step
    assert train(_model(llama_ckpt, 1), PREFIX, EXAMPLES, more, workdir=tmp_path, trained_on=mine).steps == 3
    # a checkpoint written before this record (none kept) resumes as it did
    old = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    del old["trained_on"]
    torch.save(old, tmp_path / CHECKPOINT)
    assert train(_model(llama_ckpt, 1), PREFIX, EXAMPLES, dataclasses.replace(settings, steps=4), workdir=tmp_path,
                 trained_on=mine).steps == 4


def test_ctrl_c_keeps_a_usable_checkpoint(llama_ckpt: Path, tmp_path: Path) -> None:
    net = _model(llama_ckpt)
    calls = []

    def interrupt(report: object) -> None:
        calls.append(report)
        if len(calls) == 2:
            raise KeyboardInterrupt

    settings = TuneSettings(rank=4, alpha=8.0, steps=10, minutes=None, batch_size=3, learning_rate=2e-2)
    result = train(net, PREFIX, EXAMPLES, settings, workdir=tmp_path, resume=False, progress=interrupt)
    assert result.stopped and result.steps == 2
    again = _model(llama_ckpt)
    more = train(again, PREFIX, EXAMPLES, TuneSettings(rank=4, alpha=8.0, steps=2, minutes=None, batch_size=3,
                                                        learning_rate=2e-2), workdir=tmp_path)
    assert more.steps == 2  # nothing left to do: the checkpoint already holds step 2
    for p, q in zip(lora_parameters(net), lora_parameters(again)):
        assert torch.equal(p, q)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(UserError):
        TuneSettings(steps=None, minutes=None)
    with pytest.raises(UserError):
        TuneSettings(rank=0)
    with pytest.raises(UserError):
        TuneSettings(targets=())
    with pytest.raises(UserError, match="dropout"):
        TuneSettings(dropout=1.0)
    for bad in (0.0, -1.0, float("nan"), float("inf"), True):
        with pytest.raises(UserError, match="decision_weight"):
            TuneSettings(decision_weight=bad)
    import json

    import numpy as np

    for fine in (np.float32(3), np.int64(3), 3):  # any real number, kept as a float (the manifest is JSON)
        assert json.dumps(TuneSettings(decision_weight=fine).record()["decision_weight"]) == "3.0"  # type: ignore[arg-type]


def test_sigterm_stops_training_like_ctrl_c(llama_ckpt: Path, tmp_path: Path) -> None:
    import os
    import signal

    net = _model(llama_ckpt)
    calls = []

    def terminate(report: object) -> None:
        calls.append(report)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    settings = TuneSettings(rank=4, alpha=8.0, steps=10, minutes=None, batch_size=3, learning_rate=2e-2)
    result = train(net, PREFIX, EXAMPLES, settings, workdir=tmp_path, resume=False, progress=terminate)
    assert result.stopped and result.steps < 10 and (tmp_path / "checkpoint.pt").exists()
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back


def test_dropout_trains_deterministically_and_leaves_the_prefix_alone(llama_ckpt: Path, tmp_path: Path) -> None:
    """Adapter dropout is drawn from the run's seed; the shared prefix is read as the deployed model reads it."""
    settings = TuneSettings(rank=4, alpha=8.0, steps=8, minutes=None, batch_size=3, learning_rate=2e-2, seed=3,
                            dropout=0.3)
    runs = []
    for name in ("a", "b"):
        net = TorchLlama.from_checkpoint(load_checkpoint(llama_ckpt))
        apply_lora(net, rank=4, alpha=8.0, dropout=0.3, seed=3)
        modes: list[bool] = []
        read_prefix = net.prefix_kv

        def spy(ids: object, _read: object = read_prefix, _modes: list[bool] = modes, _net: TorchLlama = net,
                **kw: object) -> object:
            _modes.append(_net.training)
            return _read(ids, **kw)  # type: ignore[operator]

        net.prefix_kv = spy  # type: ignore[method-assign]
        runs.append(train(net, PREFIX, EXAMPLES, settings, workdir=tmp_path / name, resume=False))
        assert modes and not any(modes)  # every step's prefix ran without dropout
    no_dropout = train(_model(llama_ckpt, 3), PREFIX, EXAMPLES, dataclasses.replace(settings, dropout=0.0),
                       workdir=tmp_path / "c", resume=False)
    assert runs[0].losses == runs[1].losses
    assert runs[0].losses[-1] < 0.7 * runs[0].losses[0], runs[0].losses
    assert runs[0].losses[1:] != no_dropout.losses[1:]  # the masks did change the updates


def test_a_checkpoint_from_before_a_setting_existed_resumes(llama_ckpt: Path, tmp_path: Path) -> None:
    settings = TuneSettings(rank=4, alpha=8.0, steps=2, minutes=None, batch_size=3, learning_rate=2e-2, seed=1)
    train(_model(llama_ckpt, 1), PREFIX, EXAMPLES, settings, workdir=tmp_path, resume=False)
    old = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    del old["settings"]["dropout"]  # written before --dropout: its runs had none
    del old["settings"]["prefix_grad"]  # nor --prefix-grad: their prefix ran without gradient
    del old["settings"]["top_layers"]  # nor --top-layers: every block was adapted
    del old["settings"]["decision_weight"]  # nor --decision-weight: every target token weighed alike
    torch.save(old, tmp_path / CHECKPOINT)
    assert train(_model(llama_ckpt, 1), PREFIX, EXAMPLES, dataclasses.replace(settings, steps=3),
                 workdir=tmp_path).steps == 3
    with pytest.raises(UserError, match="other settings"):
        train(_model(llama_ckpt, 1), PREFIX, EXAMPLES, dataclasses.replace(settings, steps=4, dropout=0.1),
              workdir=tmp_path)
    with pytest.raises(UserError, match="other settings"):
        train(_model(llama_ckpt, 1), PREFIX, EXAMPLES, dataclasses.replace(settings, steps=4, prefix_grad=True),
              workdir=tmp_path)
    with pytest.raises(UserError, match="other settings"):
        train(_model(llama_ckpt, 1), PREFIX, EXAMPLES, dataclasses.replace(settings, steps=4, top_layers=1),
              workdir=tmp_path)
    with pytest.raises(UserError, match="other settings"):
        train(_model(llama_ckpt, 1), PREFIX, EXAMPLES, dataclasses.replace(settings, steps=4, decision_weight=3.0),
              workdir=tmp_path)
    damaged = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    del damaged["settings"]["rank"]  # not a setting added later: a checkpoint without it is not trusted
    torch.save(damaged, tmp_path / CHECKPOINT)
    with pytest.raises(UserError, match="other settings"):
        train(_model(llama_ckpt, 1), PREFIX, EXAMPLES, dataclasses.replace(settings, steps=4), workdir=tmp_path)


def _grads(model: TorchLlama) -> list[torch.Tensor]:
    return [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p) for p in lora_parameters(model)]


def test_prefix_grad_gives_the_gradient_of_each_example_run_whole(llama_ckpt: Path) -> None:
    """With ``prefix_grad`` the shared-prefix loss has exactly the gradient of every example run with its prefix;
    without it, the keys' and values' adapters miss the part that flows through the prefix."""
    model = _model(llama_ckpt, 5)
    with torch.no_grad():  # B starts at zero: give it values so that every path carries a gradient
        for name, p in model.named_parameters():
            if p.requires_grad and "lora_b" in name.lower():
                p.normal_(0.0, 0.05)
    prefix = torch.tensor(PREFIX)

    def whole() -> torch.Tensor:  # each example as one sequence, prefix included, no sharing
        total, weight = torch.zeros(()), 0.0
        for e in EXAMPLES:
            logits = model(torch.tensor([PREFIX + list(e.ids)]))[0]  # (p + s, v)
            for j in range(max(e.target_start, 1), e.target_end):
                ce = torch.nn.functional.cross_entropy(logits[len(PREFIX) + j - 1], torch.tensor(e.ids[j]))
                total, weight = total + e.weight * ce, weight + e.weight
        return total / weight

    grads = {}
    for name, fn in (("whole", whole), ("shared", lambda: _loss(model, prefix, EXAMPLES, 0, prefix_grad=True)),
                     ("suffix only", lambda: _loss(model, prefix, EXAMPLES, 0, prefix_grad=False))):
        model.zero_grad(set_to_none=True)
        loss = fn()
        loss.backward()  # type: ignore[no-untyped-call]
        grads[name] = (float(loss.detach()), _grads(model))
    ref_loss, ref = grads["whole"]
    loss, got = grads["shared"]
    assert abs(loss - ref_loss) < 1e-5
    scale = max(float(g.abs().max()) for g in ref)
    assert scale > 0
    err = max(float((a - b).abs().max()) for a, b in zip(got, ref, strict=True))
    assert err <= 1e-5 * max(1.0, scale), (err, scale)
    loss, partial = grads["suffix only"]
    assert abs(loss - ref_loss) < 1e-5  # the same forward pass
    gap = max(float((a - b).abs().max()) for a, b in zip(partial, ref, strict=True))
    assert gap > 1e3 * max(err, 1e-9), (gap, err)  # the path through the prefix matters, and only it differs


def test_prefix_grad_trains_deterministically_and_is_a_setting_of_the_checkpoint(llama_ckpt: Path,
                                                                                   tmp_path: Path) -> None:
    settings = TuneSettings(rank=4, alpha=8.0, steps=6, minutes=None, batch_size=3, learning_rate=2e-2, seed=3,
                            prefix_grad=True)
    a = train(_model(llama_ckpt, 3), PREFIX, EXAMPLES, settings, workdir=tmp_path / "a", resume=False)
    b = train(_model(llama_ckpt, 3), PREFIX, EXAMPLES, settings, workdir=tmp_path / "b", resume=False)
    assert a.losses == b.losses
    assert a.losses[-1] < 0.7 * a.losses[0], a.losses
    off = train(_model(llama_ckpt, 3), PREFIX, EXAMPLES, dataclasses.replace(settings, prefix_grad=False),
                workdir=tmp_path / "c", resume=False)
    assert off.losses[0] == pytest.approx(a.losses[0], abs=1e-6)  # same start, other updates
    assert off.losses[1:] != a.losses[1:]
    with pytest.raises(UserError, match="other settings"):  # a resume may not switch it
        train(_model(llama_ckpt, 3), PREFIX, EXAMPLES, dataclasses.replace(settings, steps=8, prefix_grad=False),
              workdir=tmp_path / "a")
