"""The call probe: reading the hidden state back from logits, fitting, and loading it from a bundle safely."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from agent_sdk.agent.auto import AutoRule
from agent_sdk.agent.auto_probe import AUTO_PROBE_FILE, AutoProbe
from agent_sdk.agent.policy import DEFAULT_POLICY
from agent_sdk.errors import BundleError, UserError
from agent_sdk.tune.probe import HeadInverse, fit_probe

pytestmark = pytest.mark.unit

VOCAB, HIDDEN = 300, 24


def _head(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.5, (VOCAB, HIDDEN)).astype(np.float32)


def test_the_hidden_state_reads_back_from_the_logits_and_the_probe_moves_onto_them() -> None:
    head = _head()
    inv = HeadInverse(head)
    rng = np.random.default_rng(1)
    w, b = rng.normal(size=HIDDEN), 0.3
    c = inv.logit_weights(w)
    for _ in range(5):
        h = rng.normal(0, 2.0, HIDDEN).astype(np.float32)
        logits = head @ h  # what the output head computes from h
        np.testing.assert_allclose(inv.features(logits), h, rtol=0, atol=1e-4)
        probe = AutoProbe(weights=c, bias=b, weight=0.25)
        assert probe.value(logits) == pytest.approx(float(w @ h) + b, abs=1e-3)
        assert probe.term(probe.value(logits)) == pytest.approx(0.25 * probe.value(logits))


def test_a_rank_deficient_or_misshapen_head_is_refused() -> None:
    with pytest.raises(UserError, match="vocab, hidden"):
        HeadInverse(np.zeros((10, 20), np.float32))
    flat = _head()
    flat[:, 1] = flat[:, 0]  # two identical columns: h cannot be read back
    with pytest.raises(UserError, match="rank"):
        HeadInverse(flat)


def test_the_fit_separates_what_is_separable_and_its_values_out_of_fold_are_honest() -> None:
    rng = np.random.default_rng(2)
    n = 200
    labels = rng.random(n) < 0.7
    direction = rng.normal(size=HIDDEN)
    x = rng.normal(size=(n, HIDDEN)) * 3 + 5.0 + np.outer(np.where(labels, 1.0, -1.0), direction)
    fit = fit_probe(x, labels, seed=0)
    z = x @ fit.w + fit.b  # raw features: the standardization is folded in
    assert ((z > 0) == labels).mean() > 0.95
    assert ((fit.out_of_fold > 0) == labels).mean() > 0.9
    # pure noise: the probe cannot do better than chance out of fold, however well it fits in sample
    noise = rng.normal(size=(n, HIDDEN))
    chance = fit_probe(noise, labels, seed=0)
    assert chance.cv_loss > 0.6  # ln 2 = 0.69 is no information
    assert fit.cv_loss < 0.3
    # deterministic
    again = fit_probe(x, labels, seed=0)
    np.testing.assert_array_equal(again.w, fit.w)


def test_the_fit_refuses_too_little_or_one_sided_data() -> None:
    with pytest.raises(UserError, match="at least"):
        fit_probe(np.zeros((5, 3)), [True, False, True, False, True])
    with pytest.raises(UserError, match="both kinds"):
        fit_probe(np.random.default_rng(0).normal(size=(40, 3)), [True] * 40)


def test_the_rule_adds_the_probe_term_only_with_a_probe() -> None:
    lps, forced = [-0.5, -0.2, -0.1], [False, False, True]
    plain = AutoRule()
    probe = AutoProbe(weights=np.zeros(VOCAB, np.float32), bias=0.0, weight=0.25)
    with_probe = AutoRule(probe=probe)
    assert with_probe.score(lps, forced, probe=2.0) == pytest.approx(plain.score(lps, forced) + 0.5)
    assert plain.score(lps, forced, probe=2.0) == plain.score(lps, forced)
    assert with_probe == plain  # the probe is set with the bundle's threshold, not compared


def _bundle(tmp_path: Path, weights: np.ndarray | bytes, *, record: object = None, vocab: int = VOCAB,
            listed_hash: str | None = None) -> tuple[Path, dict]:
    data = weights if isinstance(weights, bytes) else _npy(weights)
    (tmp_path / AUTO_PROBE_FILE).write_bytes(data)
    manifest = {
        "model": {"vocab_size": vocab},
        "policy": {"auto_threshold": -3.5, "auto_probe": record if record is not None
                   else {"file": AUTO_PROBE_FILE, "bias": 0.1, "weight": 0.25}},
        "files": {AUTO_PROBE_FILE: {"sha256": listed_hash or hashlib.sha256(data).hexdigest(), "size": len(data)}},
    }
    return tmp_path, manifest


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def test_for_bundle_sets_the_threshold_and_the_probe_together(tmp_path: Path) -> None:
    c = np.random.default_rng(3).normal(size=VOCAB).astype(np.float32)
    bundle, manifest = _bundle(tmp_path, c)
    policy = DEFAULT_POLICY.for_bundle(manifest, bundle=bundle)
    assert policy.auto.threshold == -3.5 and policy.auto.probe is not None
    np.testing.assert_array_equal(policy.auto.probe.weights, c)
    assert policy.auto.probe.bias == pytest.approx(0.1) and policy.auto.probe.weight == 0.25
    logits = np.ones(VOCAB, np.float32)
    assert policy.auto.probe.value(logits) == pytest.approx(float(c.astype(np.float64).sum()) + 0.1, rel=1e-6)
    with pytest.raises(BundleError, match="logits"):
        policy.auto.probe.value(np.ones(VOCAB + 1, np.float32))
    with pytest.raises(BundleError, match="logits"):
        policy.auto.probe.value(np.ones((VOCAB // 2, 2), np.float32))  # same size, not one row of logits
    # a probe without the threshold it was calibrated with is a malformed bundle
    broken = json.loads(json.dumps(manifest))
    del broken["policy"]["auto_threshold"]
    with pytest.raises(BundleError, match="threshold"):
        DEFAULT_POLICY.for_bundle(broken, bundle=bundle)
    # a caller's own threshold keeps the caller's rule, without the probe
    mine = DEFAULT_POLICY.with_threshold(-1.0).for_bundle(manifest, bundle=bundle)
    assert mine.auto.threshold == -1.0 and mine.auto.probe is None
    # applied twice (the server, then the backend), nothing changes
    assert policy.for_bundle(manifest, bundle=bundle) is policy
    with pytest.raises(BundleError, match="give its folder"):
        DEFAULT_POLICY.for_bundle(manifest)


@pytest.mark.parametrize("case", ["tampered", "pickle", "shape", "dtype", "nan", "vocab", "garbage", "record",
                                  "bias", "weight", "huge_bias", "file", "file_list", "missing", "npz", "huge_header",
                                  "big_file", "policy", "files", "model", "big_endian", "hostile_header", "fifo",
                                  "null_probe"])
def test_a_bad_probe_is_a_bundle_error_never_a_crash_or_code(tmp_path: Path, case: str) -> None:
    c = np.zeros(VOCAB, np.float32)
    kwargs: dict = {}
    weights: np.ndarray | bytes = c
    if case == "tampered":
        kwargs["listed_hash"] = "0" * 64
    elif case == "pickle":
        buf = io.BytesIO()
        np.save(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)
        weights = buf.getvalue()
    elif case == "shape":
        weights = np.zeros((VOCAB, 2), np.float32)
    elif case == "dtype":
        weights = np.zeros(VOCAB, np.float64)
    elif case == "nan":
        weights = np.full(VOCAB, math.nan, np.float32)
    elif case == "vocab":
        kwargs["vocab"] = VOCAB + 7
    elif case == "garbage":
        weights = b"\x93NUMPY\x01\x00" + b"\xff" * 50
    elif case == "record":
        kwargs["record"] = ["not", "an", "object"]
    elif case == "bias":
        kwargs["record"] = {"file": AUTO_PROBE_FILE, "bias": "1", "weight": 0.25}
    elif case == "weight":
        kwargs["record"] = {"file": AUTO_PROBE_FILE, "bias": 0.0, "weight": math.inf}
    elif case == "huge_bias":
        kwargs["record"] = {"file": AUTO_PROBE_FILE, "bias": 10**400, "weight": 0.25}
    elif case == "file":
        kwargs["record"] = {"file": "../../etc/passwd", "bias": 0.0, "weight": 0.25}
    elif case == "file_list":
        kwargs["record"] = {"file": [AUTO_PROBE_FILE], "bias": 0.0, "weight": 0.25}
    elif case == "npz":
        buf = io.BytesIO()
        np.savez(buf, c=c)
        weights = buf.getvalue()
    elif case == "huge_header":  # a header that claims 40 GB for a file of a few hundred bytes
        data = bytearray(_npy(c))
        head = data[:128].decode("latin1").replace(f"({VOCAB},)", "(9999999999,)".ljust(len(f"({VOCAB},)")))
        weights = bytes(data[:10]) + head[10:].encode("latin1")[: 118] + bytes(data[128:])
    elif case == "big_file":
        weights = _npy(np.zeros(VOCAB * 3, np.float32))
        kwargs["vocab"] = VOCAB
    elif case == "big_endian":
        weights = np.zeros(VOCAB, ">f4")
    elif case == "hostile_header":  # literal_eval of this would recurse or fail with a TypeError: never parsed
        head = b"{" + b"-" * 3000 + b"1: {[1]: 2}}"
        weights = b"\x93NUMPY\x01\x00" + len(head).to_bytes(2, "little") + head + bytes(4 * VOCAB)
    bundle, manifest = _bundle(tmp_path, weights, **kwargs)
    if case == "missing":
        (bundle / AUTO_PROBE_FILE).unlink()
    if case == "fifo":  # a FIFO would block a plain read forever
        (bundle / AUTO_PROBE_FILE).unlink()
        os.mkfifo(bundle / AUTO_PROBE_FILE)
    if case == "null_probe":  # null is no probe: the threshold alone is set, without the folder
        manifest["policy"]["auto_probe"] = None
        assert DEFAULT_POLICY.for_bundle(manifest).auto.threshold == -3.5
        del manifest["policy"]["auto_threshold"]
        assert DEFAULT_POLICY.for_bundle(manifest) is DEFAULT_POLICY
        return
    if case in ("policy", "files", "model"):
        manifest[case] = ["not", "an", "object"]
    if case == "policy":  # no probe can be read from it: none is recorded, and for_bundle keeps the default rule
        assert AutoProbe.from_bundle(bundle, manifest) is None
        assert DEFAULT_POLICY.for_bundle(manifest, bundle=bundle) is DEFAULT_POLICY
        return
    with pytest.raises(BundleError):
        AutoProbe.from_bundle(bundle, json.loads(json.dumps(manifest)))
