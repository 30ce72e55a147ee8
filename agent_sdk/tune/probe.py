"""Fitting a tuned bundle's call probe (:mod:`agent_sdk.agent.auto_probe`) on fresh generated requests.

The probe is a logistic regression, balanced between the two kinds of
request (a tool serves it / none does) and ridge-regularized on
standardized features, on the model's final hidden state at the prompt's
last position. That state is read back from the logits the call step
already computes (``h = (E^T E)^-1 E^T logits`` with ``E`` the output head),
so fitting needs no extra forward pass and the bundle stores the probe as
weights over the logits. Its regularization is chosen by cross-validated
log-loss, and its out-of-fold values (each request scored by a probe that
did not see it) are what the ``auto`` threshold is calibrated on, so the
threshold is not placed on the probe's own training fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agent_sdk.errors import UserError

__all__ = ["PROBE_FOLDS", "PROBE_LAMBDAS", "PROBE_WEIGHT", "HeadInverse", "ProbeFit", "fit_probe"]

PROBE_WEIGHT = 0.25
"""How much of the probe's log-odds the ``auto`` score adds. Chosen 2026-12-06 offline on the dev sets of home-v8h and
cabin-v8 (probes fitted on 500 fresh generated requests, thresholds out of fold): 0.25 gained 4 of 70 home dev calls
with the same declines and left the cabin's calls alike with one decline more; 0.5 and 1.0 traded cabin declines
for calls. Built into ``tune`` it moved one call or decline either way on the same dev sets (so that comparison is
not independent of this choice; docs/tuning.md), and the probe is opt-in."""

PROBE_LAMBDAS: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0)
"""Ridge strengths tried (on standardized features, per example); the best cross-validated log-loss wins (0.1-0.3
on both bundles above)."""

PROBE_FOLDS = 5
"""Folds for the choice of ridge strength and for the out-of-fold values the threshold is calibrated on."""

_NEWTON_STEPS = 25

_ROWS = 16384
"""Head rows per block when the head is read in float64 (16,384 x 640 x 8 bytes = 80 MiB for Gemma 3)."""


class HeadInverse:
    """Reads the final hidden state back from the logits, ``h = (E^T E)^-1 E^T logits``, and maps a probe on ``h``
    to weights on the logits.

    Args:
        head: The output head ``E``, ``(vocab, hidden)`` (the tied embedding for most small models).

    Raises:
        UserError: ``head`` is not 2-D with more rows than columns, or not of full column rank.
    """

    def __init__(self, head: np.ndarray) -> None:
        e = np.asarray(head, dtype=np.float32)
        if e.ndim != 2 or e.shape[0] <= e.shape[1]:
            raise UserError(f"the output head must be (vocab, hidden) with vocab > hidden; got {e.shape}")
        self.head = e
        gram = np.zeros((e.shape[1], e.shape[1]))  # (h, h), summed over row blocks: no float64 copy of the head
        for start in range(0, e.shape[0], _ROWS):
            block = e[start:start + _ROWS].astype(np.float64)
            gram += block.T @ block
        if np.linalg.cond(gram) > 1e12:
            raise UserError("the output head is (nearly) rank deficient: the hidden state cannot be read from logits")
        self._gram = gram

    def features(self, logits: np.ndarray) -> np.ndarray:
        """``h``, ``(hidden,)`` float64, from the logits at one position ``(vocab,)``."""
        row = np.asarray(logits, dtype=np.float32).reshape(-1)
        return np.linalg.solve(self._gram, (self.head.T @ row).astype(np.float64))

    def logit_weights(self, w: np.ndarray) -> np.ndarray:
        """``c`` with ``c . logits == w . features(logits)``: ``(vocab,)`` float32."""
        v = np.linalg.solve(self._gram, np.asarray(w, dtype=np.float64))  # (h,)
        out = np.empty(self.head.shape[0], np.float32)
        for start in range(0, self.head.shape[0], _ROWS):
            out[start:start + _ROWS] = self.head[start:start + _ROWS].astype(np.float64) @ v
        return out


@dataclass(frozen=True)
class ProbeFit:
    """A fitted probe on raw (unstandardized) features.

    Attributes:
        w: ``(hidden,)`` weights.
        b: Intercept.
        ridge: The ridge strength chosen.
        out_of_fold: Per request, the value of a probe fitted without it.
        cv_loss: The chosen strength's cross-validated balanced log-loss.
    """

    w: np.ndarray
    b: float
    ridge: float
    out_of_fold: np.ndarray
    cv_loss: float


def _fit(x: np.ndarray, y: np.ndarray, ridge: float) -> tuple[np.ndarray, float]:
    """Balanced ridge logistic regression by Newton's method on standardized ``x``; returns ``(w, b)``."""
    n, d = x.shape
    pos = float(y.mean())
    sw = np.where(y > 0, 0.5 / pos, 0.5 / (1.0 - pos)) / n  # each class weighs half
    xb = np.hstack([x, np.ones((n, 1))])
    theta = np.zeros(d + 1)
    reg = np.full(d + 1, ridge)
    reg[-1] = 0.0  # no penalty on the intercept
    for _ in range(_NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ theta, -40, 40)))
        grad = xb.T @ (sw * (p - y)) + reg * theta
        hess = (xb * (sw * p * (1 - p))[:, None]).T @ xb + np.diag(reg) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return theta[:-1], float(theta[-1])


def _loss(z: np.ndarray, y: np.ndarray) -> float:
    """Balanced log-loss of log-odds ``z``."""
    pos = float(y.mean())
    sw = np.where(y > 0, 0.5 / pos, 0.5 / (1.0 - pos))
    return float(np.mean(sw * (np.logaddexp(0.0, -z) * y + np.logaddexp(0.0, z) * (1 - y))))


def fit_probe(features: np.ndarray, labels: Sequence[bool], *, ridges: Sequence[float] = PROBE_LAMBDAS,
              folds: int = PROBE_FOLDS, seed: int = 0) -> ProbeFit:
    """Fits the call probe: ``labels`` true where a tool serves the request.

    Args:
        features: ``(n, hidden)``, one row per request (:meth:`HeadInverse.features`).
        labels: Per request, whether a tool serves it.
        ridges: Ridge strengths to choose from by cross-validated log-loss.
        folds: Cross-validation folds.
        seed: Seeds the folds.

    Returns:
        The probe on raw features (standardization folded in), fitted on every request.

    Raises:
        UserError: Fewer than ``2 * folds`` requests, or only one kind of request.
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] < 2 * folds:
        raise UserError(f"the probe needs at least {2 * folds} requests with one feature row each; got {x.shape}")
    if y.min() == y.max():
        raise UserError("the probe needs requests of both kinds (served by a tool and not)")
    mu, sd = x.mean(0), x.std(0) + 1e-6
    xs = (x - mu) / sd
    order = np.random.default_rng(seed).permutation(len(y))
    parts = [order[k::folds] for k in range(folds)]

    def out_of_fold(ridge: float) -> np.ndarray:
        z = np.zeros(len(y))
        for test in parts:
            train = np.setdiff1d(order, test)
            if y[train].min() == y[train].max():  # a fold without one kind: score it with the prior only
                z[test] = 0.0
                continue
            w, b = _fit(xs[train], y[train], ridge)
            z[test] = xs[test] @ w + b
        return z

    tried = [(r, out_of_fold(r)) for r in ridges]
    losses = [_loss(z, y) for _, z in tried]
    best = int(np.argmin(losses))
    ridge, oof = tried[best]
    w, b = _fit(xs, y, ridge)
    return ProbeFit(w=w / sd, b=b - float((w * mu / sd).sum()), ridge=ridge, out_of_fold=oof, cv_loss=losses[best])
