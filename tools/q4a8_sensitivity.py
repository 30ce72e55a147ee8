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

``--ablate`` asks instead which rounding moves the model: the int8 rounding
applied to one or more of the q/k/v, o, gate/up and down projections' inputs
only, and to all of them with activation groups of 32, 16 and 8; for each,
the KL divergence from the float model over ``tools/quant_drift.py``'s text
and the three most likely first tokens of an answer to ``--question`` (the
quick start's), whose first token is a near tie in this model.

Usage::

    python tools/q4a8_sensitivity.py --model smollm2-135m --prompt "Turn on the kitchen lights" --eps 1e-7,1e-6
    python tools/q4a8_sensitivity.py --ablate
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
for _folder in (REPO_ROOT, REPO_ROOT / "tools"):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from tests.reference import numpy_llama as ref
from tests.reference import numpy_q4a8 as ref8

DEFAULT_EPS = "1e-7,1e-6"
DEFAULT_DRAWS = 2
PROJECTIONS = ("qkv", "o", "gate_up", "down")


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


def group_rounder(group: int) -> Callable[[np.ndarray], np.ndarray]:
    """``x -> d * round(x / d)`` with ``d = max|x| / 127`` per ``group`` consecutive values (no perturbation)."""

    def rounded(x: np.ndarray) -> np.ndarray:
        x32 = np.asarray(x, dtype=np.float32)
        n, k = x32.shape
        g = x32.reshape(n, k // group, group)
        amax = np.abs(g).max(axis=-1, keepdims=True)
        d = np.where(amax > 0, amax / np.float32(ref8.INT8_MAX), np.float32(1)).astype(np.float32)
        return (np.rint(g / d) * d).reshape(n, k).astype(np.float64)

    return rounded


@contextmanager
def int8_activations(rounded: Callable[[np.ndarray], np.ndarray],
                     projections: Sequence[str] = PROJECTIONS) -> Iterator[None]:
    """Makes the numpy reference round the inputs of ``projections`` with ``rounded``.

    The q, k, v (``qkv``) and gate/up projections see the rounded normalized
    input; the output (``o``) and ``down`` projections see their own rounded
    inputs. The head stays float (q4a8 keeps the 8-bit embedding's float kernel).
    """
    attention, swiglu = ref._attention, ref._swiglu

    def at(name: str) -> Callable[[np.ndarray], np.ndarray]:
        return rounded if name in projections else (lambda x: x)

    def attention_int8(x: np.ndarray, wq: np.ndarray, wk: np.ndarray, wv: np.ndarray, wo: np.ndarray,
                       *args: object, **kwargs: object) -> np.ndarray:
        before_o = attention(at("qkv")(x), wq, wk, wv, np.eye(wq.shape[0]), *args, **kwargs)  # type: ignore[arg-type]
        return at("o")(before_o) @ wo.T

    def swiglu_int8(x: np.ndarray, gate: np.ndarray, up: np.ndarray, down: np.ndarray) -> np.ndarray:
        xq = at("gate_up")(x)
        return at("down")(ref._silu(xq @ gate.T) * (xq @ up.T)) @ down.T

    ref._attention, ref._swiglu = attention_int8, swiglu_int8  # type: ignore[assignment]
    try:
        yield
    finally:
        ref._attention, ref._swiglu = attention, swiglu  # type: ignore[assignment]


def ablate(path: Path, tokenizer: Any, question: str) -> int:
    """Prints KL from the float model and the first answer tokens, per rounded projection set and group size.

    Args:
        path: The GGUF file.
        tokenizer: Its tokenizer (with the chat template).
        question: The user turn whose answer's first token is shown.

    Returns:
        Exit code.
    """
    from itertools import combinations

    from quant_drift import TEXT, log_softmax, mean_kl

    text = tokenizer.encode(TEXT)
    chat = tokenizer.encode(tokenizer.apply_chat_template([{"role": "user", "content": question}]))

    def first_tokens(logits: np.ndarray) -> str:
        top = np.argsort(-logits[-1])[:3]
        return ", ".join(f"{tokenizer.decode([int(i)])!r} {logits[-1][i]:.2f}" for i in top)

    float_lp = log_softmax(ref.gguf_forward(path, text))
    print(f"float: first tokens {first_tokens(ref.gguf_forward(path, chat))}")
    # The projection sets use the kernels' own rounding (numpy_q4a8); the group sizes one plain rule for all three.
    spec = int8_rounder(0.0, np.random.default_rng(0))
    runs: list[tuple[str, Callable[[np.ndarray], np.ndarray], Sequence[str]]] = [
        ("+".join(p), spec, p) for k in range(1, len(PROJECTIONS) + 1) for p in combinations(PROJECTIONS, k)
    ]
    runs += [(f"all, groups of {g} (max/127 each)", group_rounder(g), PROJECTIONS) for g in (32, 16, 8)]
    for label, rounded, projections in runs:
        with int8_activations(rounded, projections):
            lp = log_softmax(ref.gguf_forward(path, text))
            chat_logits = ref.gguf_forward(path, chat)
        kl = mean_kl(float_lp, lp)
        print(f"{label:<40} KL {kl:.5f}  first tokens {first_tokens(chat_logits)}", flush=True)
    return 0


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
    parser.add_argument("--ablate", action="store_true", help="which projections' rounding moves the model (above)")
    parser.add_argument("--question", default="What is the capital of France?", help="--ablate's chat question")
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
    tokenizer = Tokenizer(bundle if bundle.exists() else path)
    if args.ablate:
        return ablate(path, tokenizer, args.question)
    ids = tokenizer.encode(args.prompt)
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
