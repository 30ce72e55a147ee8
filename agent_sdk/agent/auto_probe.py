"""A tuned bundle's call probe: a linear read of the model's state before it answers, added to the ``auto`` score.

``auto`` judges a constrained call by the model's log-probabilities and the
request's words (:mod:`agent_sdk.agent.auto`). A tuned model's state at the
end of the prompt (the final norm's output ``h``, which the output head
reads) may also say whether the request is one its tools serve; a logistic
probe trained on it (:mod:`agent_sdk.tune.probe`, on fresh generated
requests: calls against requests no tool serves) is fitted by
``agent-sdk tune --auto-probe``. On the two tuned development sets it moved
a call or a decline either way against the score without it, so it is
opt-in (docs/tuning.md, 2026-12-06).

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
import hashlib
import io
import math
import os
import stat
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
        row = np.asarray(logits, dtype=np.float32)
        if row.shape != self.weights.shape:
            raise BundleError(f"the auto probe has {self.weights.shape[0]} weights, the logits {row.shape[0]} entries")
        return float(np.dot(row.astype(np.float64), self.weights.astype(np.float64))) + self.bias

    def term(self, value: float) -> float:
        """What the probe adds to the ``auto`` score."""
        return self.weight * value

    @classmethod
    def from_bundle(cls, bundle: Path | str, manifest: dict[str, Any]) -> AutoProbe | None:
        """The probe a bundle records (``policy.auto_probe``), or None when it records none.

        The file is checked against the manifest's hash and its header
        against the vocabulary before its values are read (it is data, never
        code: read without pickle), and kept in memory per path and hash.

        Raises:
            BundleError: The record or the file is malformed, missing, or does not match its hash.
        """
        policy = manifest.get("policy") if isinstance(manifest, dict) else None
        record = policy.get("auto_probe") if isinstance(policy, dict) else None
        if record is None:
            return None
        if not isinstance(record, dict):
            raise BundleError(f"{bundle}: policy.auto_probe is not an object")
        name = record.get("file", AUTO_PROBE_FILE)
        files = manifest.get("files")
        listed = files.get(name) if isinstance(name, str) and isinstance(files, dict) else None
        if name != AUTO_PROBE_FILE or not isinstance(listed, dict) or not isinstance(listed.get("sha256"), str):
            raise BundleError(f"{bundle}: the auto probe's file {name!r} is not one the manifest lists as "
                              f"{AUTO_PROBE_FILE}")
        bias, weight = _finite(record.get("bias")), _finite(record.get("weight"))
        if bias is None or weight is None:
            raise BundleError(f"{bundle}: policy.auto_probe needs finite numbers for bias and weight")
        model = manifest.get("model")
        vocab = model.get("vocab_size") if isinstance(model, dict) else None
        if not isinstance(vocab, int) or isinstance(vocab, bool) or not 0 < vocab <= _MAX_VOCAB:
            raise BundleError(f"{bundle}: the manifest gives no vocabulary size to check the auto probe against")
        weights = _read_weights(str(Path(bundle).resolve() / name), listed["sha256"], vocab)
        return cls(weights=weights, bias=bias, weight=weight)


_MAX_VOCAB = 1 << 22
"""No tokenizer has more entries (Gemma 3's 262,144 is the largest here); a larger value is a malformed manifest."""


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or None when it is not a finite number (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        out = float(value)
    except OverflowError:  # an int past float's range
        return None
    return out if math.isfinite(out) else None


@functools.lru_cache(maxsize=8)
def _read_weights(path: str, sha256: str, vocab: int) -> np.ndarray:
    """The probe file's ``(vocab,)`` float32 weights (cached per path, hash and vocabulary).

    Nothing in the file is parsed: it must be a regular file holding exactly
    the ``.npy`` header numpy writes for ``vocab`` little-endian float32
    values, followed by them, and match the manifest's hash.
    """
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (vocab,)})
    want = header.getvalue()
    limit = len(want) + 4 * vocab
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block the open
        with os.fdopen(fd, "rb") as fp:
            if not stat.S_ISREG(os.fstat(fp.fileno()).st_mode):
                raise BundleError(f"{path}: the auto probe is not a regular file")
            data = fp.read(limit + 1)  # never more than a right file holds, whatever the file is
    except OSError as exc:
        raise BundleError(f"{path}: the auto probe cannot be read ({exc})") from exc
    if len(data) != limit or not data.startswith(want):
        raise BundleError(f"{path}: the auto probe must be a .npy file of {vocab} little-endian float32 weights "
                          "as numpy writes it")
    if hashlib.sha256(data).hexdigest() != sha256:
        raise BundleError(f"{path}: the auto probe does not match the manifest's hash (changed since it was written)")
    arr = np.frombuffer(data, dtype="<f4", offset=len(want)).astype(np.float32)  # a copy, native order
    if not np.isfinite(arr).all():
        raise BundleError(f"{path}: the auto probe holds values that are not finite")
    arr.setflags(write=False)
    return arr
