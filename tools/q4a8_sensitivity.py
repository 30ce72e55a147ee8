#!/usr/bin/env python3
"""How far 1-ulp-sized float differences move a q4a8 model's logits (numpy emulation).

Runs the float64 numpy reference of a GGUF ``llama`` model
(``tests/reference/numpy_llama.py``) with every linear layer's input rounded
to int8 per group of 32 as the ``q4a8`` kernels do
(``tests/reference/numpy_q4a8.py``), once as is and then with every
activation multiplied by ``1 + eps * N(0, 1)`` before rounding: the size of
the float differences two CPUs' kernels produce. The logit differences show
how much of a cross-CPU difference the rounding alone explains
(docs/cpu_kernels.md, "The same result on every CPU").

Usage::

    python tools/q4a8_sensitivity.py --model smollm2-135m --prompt "Turn on the kitchen lights" --eps 1e-7,1e-6
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.reference import numpy_llama as ref
from tests.reference import numpy_q4a8 as ref8

DEFAULT_EPS = "1e-7,1e-6"
DEFAULT_DRAWS = 2


def int8_rounder(eps: float, rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    """Returns ``x -> d * q``, the int8-rounded activations, after a relative perturbation of ``eps``.

    Args:
        eps: Relative size of the perturbation (0: none).
        rng: Source of the perturbation.
    """

    def rounded(x: np.ndarray) -> np.ndarray:
        x32 = np.asarray(x, dtype=np.float32)
        if eps:
            x32 = (x32 * (1 + eps * rng.standard_normal(x32.shape))).astype(np.float32)
        q, d, _ = ref8.quantize_activations(x32)
        n, k = x32.shape
        return (q.astype(np.float64).reshape(n, k // ref8.GROUP, ref8.GROUP) * d[..., None]).reshape(n, k)

    return rounded


@contextmanager
def int8_activations(rounded: Callable[[np.ndarray], np.ndarray]) -> Iterator[None]:
    """Makes the numpy reference round every linear layer's input with ``rounded``.

    The q, k, v and gate/up projections see the rounded normalized input; the
    output and down projections see their own rounded inputs. The head stays
    float (q4a8 keeps the 8-bit embedding's float kernel).
    """
    attention, swiglu = ref._attention, ref._swiglu

    def attention_int8(x: np.ndarray, wq: np.ndarray, wk: np.ndarray, wv: np.ndarray, wo: np.ndarray,
                       *args: object, **kwargs: object) -> np.ndarray:
        before_o = attention(rounded(x), wq, wk, wv, np.eye(wq.shape[0]), *args, **kwargs)  # type: ignore[arg-type]
        return rounded(before_o) @ wo.T

    def swiglu_int8(x: np.ndarray, gate: np.ndarray, up: np.ndarray, down: np.ndarray) -> np.ndarray:
        xq = rounded(x)
        return rounded(ref._silu(xq @ gate.T) * (xq @ up.T)) @ down.T

    ref._attention, ref._swiglu = attention_int8, swiglu_int8  # type: ignore[assignment]
    try:
        yield
    finally:
        ref._attention, ref._swiglu = attention, swiglu  # type: ignore[assignment]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point.

    Args:
        argv: Arguments without the program name.

    Returns:
        Exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m", help="GGUF file or a preset with a GGUF (default smollm2-135m)")
    parser.add_argument("--prompt", default="Turn on the kitchen lights")
    parser.add_argument("--eps", default=DEFAULT_EPS, help=f"comma-separated relative perturbations ({DEFAULT_EPS})")
    parser.add_argument("--draws", type=int, default=DEFAULT_DRAWS, help="perturbed runs per eps")
    args = parser.parse_args(argv)

    from agent_sdk.models.presets import find_weights, get_preset
    from agent_sdk.runtime import Tokenizer

    path = Path(args.model)
    if not path.exists():
        found = find_weights(get_preset(args.model))
        if found is None or found.suffix != ".gguf":
            print(f"no GGUF file for {args.model!r} on this machine", file=sys.stderr)
            return 2
        path = found
    bundle = REPO_ROOT / "compiled" / f"{args.model}-q4-host"
    ids = Tokenizer(bundle if bundle.exists() else path).encode(args.prompt)
    rng = np.random.default_rng(0)
    float_logits = ref.gguf_forward(path, ids)
    with int8_activations(int8_rounder(0.0, rng)):
        base = ref.gguf_forward(path, ids)
    print(f"{path.name}, prompt {ids}: max |logit| {np.abs(base).max():.3f}; "
          f"q4a8 vs float max |difference| {np.abs(base - float_logits).max():.4f}")
    for eps in (float(e) for e in args.eps.split(",")):
        for draw in range(args.draws):
            with int8_activations(int8_rounder(eps, rng)):
                moved = ref.gguf_forward(path, ids)
            diff = np.abs(moved - base)
            agree = int((moved.argmax(-1) == base.argmax(-1)).sum())
            print(f"eps {eps:g} draw {draw}: max |logit difference| {diff.max():.4f} "
                  f"(per position {np.round(diff.max(-1), 4).tolist()}), argmax equal {agree}/{len(ids)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
