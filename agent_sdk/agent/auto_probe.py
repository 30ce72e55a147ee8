"""A tuned bundle's call probe: a linear read of the model's state before it answers, added to the ``auto`` score.

``auto`` judges a constrained call by the model's log-probabilities and the
request's words (:mod:`agent_sdk.agent.auto`). A tuned model's state at the
end of the prompt (the final norm's output ``h``, which the output head
reads) also says whether the request is one its tools serve, and a logistic
probe trained on it (:mod:`agent_sdk.tune.probe`, on fresh generated
requests: calls against requests no tool serves) separated people's
requests better than the log-probabilities alone on both tuned development
sets (docs/tuning.md, 2026-12-06).

No extra forward pass reads ``h``: the logits at the prompt's last position
are ``E h`` (``E`` the output head, ``(vocab, hidden)``, of full column
rank), so the probe ``w . h + b`` is ``c . logits + b`` with
``c = E (E^T E)^-1 w``. A bundle stores ``c`` (float32, one weight per vocabulary
entry) as :data:`AUTO_PROBE_FILE`, hashed in its manifest like every file,
and records ``policy.auto_probe``: the bias, and how much of the probe's
log-odds the ``auto`` score adds (its threshold was calibrated with it).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent_sdk.errors import BundleError

__all__ = ["AUTO_PROBE_FILE", "AutoProbe"]

AUTO_PROBE_FILE = "auto_probe.npy"
"""The probe's weights over the vocabulary, in a tuned bundle."""


@dataclass(frozen=True, eq=False)
class AutoProbe:
    """The probe ``c . logits + bias`` (log-odds that a tool should be called) and its weight in the ``auto`` score.

    Attributes:
        weights: ``c``, ``(vocab,)`` float32.
        bias: The probe's intercept.
        weight: How much of the probe's value the ``auto`` score adds.
    """

    weights: np.ndarray
    bias: float
    weight: float

    def value(self, logits: np.ndarray) -> float:
        """The probe's log-odds for the prompt whose last logits these are.

        Raises:
            BundleError: The logits do not have one entry per weight (a probe from another model).
        """
        row = np.asarray(logits, dtype=np.float32).reshape(-1)
        if row.shape != self.weights.shape:
            raise BundleError(f"the auto probe has {self.weights.shape[0]} weights, the logits {row.shape[0]} entries")
        return float(np.dot(row.astype(np.float64), self.weights.astype(np.float64))) + self.bias

    def term(self, value: float) -> float:
        """What the probe adds to the ``auto`` score."""
        return self.weight * value

    @classmethod
    def from_bundle(cls, bundle: Path | str, manifest: dict[str, Any]) -> AutoProbe | None:
        """The probe a bundle records (``policy.auto_probe``), or None when it records none.

        The file is checked against the manifest's hash when it is read (it
        is data, never code: read without pickle) and kept in memory per
        path and hash.

        Raises:
            BundleError: The record or the file is malformed, missing, or does not match its hash.
        """
        record = (manifest.get("policy") or {}).get("auto_probe")
        if record is None:
            return None
        if not isinstance(record, dict):
            raise BundleError(f"{bundle}: policy.auto_probe is not an object")
        name = record.get("file", AUTO_PROBE_FILE)
        listed = (manifest.get("files") or {}).get(name)
        if name != AUTO_PROBE_FILE or not isinstance(listed, dict) or not isinstance(listed.get("sha256"), str):
            raise BundleError(f"{bundle}: the auto probe's file {name!r} is not one the manifest lists as "
                              f"{AUTO_PROBE_FILE}")
        bias, weight = record.get("bias"), record.get("weight")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) for v in (bias, weight)):
            raise BundleError(f"{bundle}: policy.auto_probe needs finite numbers for bias and weight")
        vocab = (manifest.get("model") or {}).get("vocab_size")
        weights = _read_weights(str(Path(bundle).resolve() / name), listed["sha256"])
        if isinstance(vocab, int) and weights.shape[0] != vocab:
            raise BundleError(f"{bundle}: the auto probe has {weights.shape[0]} weights for a {vocab}-token vocabulary")
        assert isinstance(bias, int | float) and isinstance(weight, int | float)  # checked above, for the types
        return cls(weights=weights, bias=float(bias), weight=float(weight))


@functools.lru_cache(maxsize=8)
def _read_weights(path: str, sha256: str) -> np.ndarray:
    """The probe file's ``(vocab,)`` float32 weights, after its hash is checked (cached per path and hash)."""
    import hashlib

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BundleError(f"{path}: the auto probe cannot be read ({exc})") from exc
    if hashlib.sha256(data).hexdigest() != sha256:
        raise BundleError(f"{path}: the auto probe does not match the manifest's hash (changed since it was written)")
    import io

    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise BundleError(f"{path}: the auto probe is not a numpy array file ({exc})") from exc
    if arr.dtype != np.float32 or arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all():
        raise BundleError(f"{path}: the auto probe must be a non-empty 1-D float32 array of finite values; "
                          f"got {arr.dtype} {arr.shape}")
    arr.setflags(write=False)
    return arr
