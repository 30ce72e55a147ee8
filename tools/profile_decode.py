"""Where a decode step's (or a prefill's) time goes: per-kernel wall time inside the TVM VM.

Runs a prompt, then ``--steps`` greedy decode steps with the VM's instrument
hook on, and prints the time per kernel group per token (matmuls by shape,
the output head, attention, everything else), next to the uninstrumented
step time:

    python tools/profile_decode.py --bundle compiled/smollm2-135m-q4a8-host --threads 1
    python tools/profile_decode.py --bundle compiled/smollm2-135m-q4-host --threads 2 --prefill 512

The hook costs a few microseconds per call (two Python calls around each
kernel), so the instrumented total is larger than the plain step; the split
between kernels is what this is for (issue 15's decode profile,
docs/cpu_kernels.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent_sdk.runtime import Engine

PROMPT = ("The village sits where the river bends twice before reaching the sea. In spring the fields flood, and the "
          "farmers move their sheep to the hills above the church, where the grass comes early.")


def _group(name: str, args: tuple[Any, ...]) -> str:
    """A readable group for a VM call: kernel name plus the output width for matmuls."""
    if "matmul" in name or "lm_head" in name:
        try:
            shape = tuple(int(d) for d in args[-1].shape)
            return f"{name} -> {shape[-1]}"
        except Exception:  # noqa: BLE001 - a profiler label, not a result
            return name
    return name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", required=True, type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--prefill", type=int, default=0, metavar="N",
                        help="profile one N-token prefill instead of decode steps (best of --steps // 16 + 1 runs)")
    args = parser.parse_args()
    if args.steps < 1 or args.prefill < 0:
        parser.error("--steps must be at least 1 and --prefill not negative")

    engine = Engine(args.bundle, threads=args.threads, context_window=max(2048, args.prefill + 2 * args.steps + 128))
    model = engine._model
    ids = engine.tokenizer.encode(PROMPT)
    seq = 90
    model.add_sequence(seq)
    logits = model.forward(seq, ids)
    # plain steps first (no hook)
    t0 = time.perf_counter()
    plain: list[int] = []
    for _ in range(args.steps):
        tok = int(np.argmax(logits))
        plain.append(tok)
        logits = model.forward(seq, [tok])
    plain_ms = (time.perf_counter() - t0) * 1e3 / args.steps

    totals: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    started: list[float] = []

    def hook(func: Any, name: str, before: bool, ret: Any, *fargs: Any) -> int:
        if before:
            started.append(time.perf_counter())
        else:
            key = _group(str(name), fargs)
            totals[key] += time.perf_counter() - started.pop()
            calls[key] += 1
        return 0

    runs = args.steps
    if args.prefill:
        # one prefill of N tokens (the prompt repeated), in a fresh sequence each run
        prompt = (ids * (args.prefill // max(1, len(ids)) + 1))[: args.prefill]
        runs = args.steps // 16 + 1
        best = float("inf")
        for i in range(runs):
            model.add_sequence(seq + 1 + i)
            t0 = time.perf_counter()
            model.forward(seq + 1 + i, prompt)
            best = min(best, time.perf_counter() - t0)
            model.remove_sequence(seq + 1 + i)
        plain_ms = best * 1e3
    model._vm["set_instrument"](hook)
    t0 = time.perf_counter()
    for i in range(runs):
        if args.prefill:
            model.add_sequence(seq + 100 + i)
            model.forward(seq + 100 + i, prompt)
            model.remove_sequence(seq + 100 + i)
        else:
            tok = int(np.argmax(logits))
            logits = model.forward(seq, [tok])
    hooked_ms = (time.perf_counter() - t0) * 1e3 / runs
    model._vm["set_instrument"](None)

    quant = engine.manifest.get("quantization", {}).get("name")
    if args.prefill:
        print(f"bundle {args.bundle}  quant {quant}  threads {args.threads}  one {args.prefill}-token prefill")
        print(f"prefill, uninstrumented: {plain_ms:.1f} ms ({args.prefill * 1e3 / plain_ms:.0f} tok/s); "
              f"instrumented: {hooked_ms:.1f} ms")
    else:
        print(f"bundle {args.bundle}  quant {quant}  threads {args.threads}  "
              f"context ~{len(ids) + args.steps}..{len(ids) + 2 * args.steps} tokens")
        print(f"decode step, uninstrumented: {plain_ms:.2f} ms ({1e3 / plain_ms:.0f} tok/s); "
              f"instrumented: {hooked_ms:.2f} ms")
    kernel_total = sum(totals.values()) * 1e3 / runs
    print(f"{'kernel (per ' + ('prefill' if args.prefill else 'token') + ')':<48} {'calls':>6} {'ms':>8} {'share':>7}")
    for key, sec in sorted(totals.items(), key=lambda kv: -kv[1]):
        ms = sec * 1e3 / runs
        if ms < 0.01:
            continue
        print(f"{key:<48} {calls[key] // runs:>6} {ms:>8.3f} {ms / kernel_total:>7.1%}")
    print(f"{'sum of kernels':<48} {'':>6} {kernel_total:>8.3f}")
    model.remove_sequence(seq)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
