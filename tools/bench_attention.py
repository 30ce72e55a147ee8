#!/usr/bin/env python3
"""Time the decode attention kernel alone, over a whole model's KV cache, as a decode step reads it.

Builds ``agent_sdk.models.cpu_attention.decode_paged_kernel`` for this CPU and
runs it once per layer over ``--layers`` separate caches of ``--context``
tokens each (float32 pages in TVM's layout), so that, as in a real decode
step, the keys and values come from memory rather than from the cache once
the model's KV cache outgrows L3. Prints the median time per token (all
layers) and the KV bytes read per second::

    python tools/bench_attention.py                          # SmolLM2-135M: 30 layers, 3 KV / 9 query heads of 64
    python tools/bench_attention.py --context 256,800,2000 --threads 2
    python tools/bench_attention.py --heads 1,4 --dim 256 --layers 18   # Gemma 3 270M
    python tools/bench_attention.py --queries 20 --context 350          # prefill: 20 new tokens after 350 cached

With ``--queries N`` it times the paged prefill kernel instead: ``N`` new query
rows (one sequence) against the cached tokens, as when a user turn or a forced
span is prefilled after a cached system prompt (the new tokens' attention to
each other, the ragged kernel, is not included).

Used for docs/cpu_kernels.md's attention numbers (before/after a kernel
change: run it on both commits, alternately, on an idle machine).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PAGE = 16
#: Pages in each cache beyond the sequence's: the kernel's scratch is sized by the cache, as in the engine.
SPARE_PAGES = 256


def main(argv: list[str] | None = None) -> int:
    """Entry point.

    Args:
        argv: Arguments without the program name.

    Returns:
        Exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--context", default="64,256,800", help="cached tokens, comma-separated (64,256,800)")
    parser.add_argument("--heads", default="3,9", help="KV heads,query heads (3,9: SmolLM2-135M)")
    parser.add_argument("--dim", type=int, default=64, help="head width (64)")
    parser.add_argument("--layers", type=int, default=30, help="layers, each with its own cache (30)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=30, help="timed tokens (30)")
    parser.add_argument("--queries", type=int, default=0, metavar="N",
                        help="time the paged prefill kernel with N new query rows instead of decode")
    args = parser.parse_args(argv)
    os.environ["TVM_NUM_THREADS"] = str(args.threads)

    import tvm

    from agent_sdk.compiler.targets import host_llvm_target
    from agent_sdk.models import cpu_attention

    h_kv, h_qo = (int(v) for v in args.heads.split(","))
    d = args.dim
    nq = args.queries
    if nq < 0:
        parser.error("--queries must not be negative")
    if nq:
        func = cpu_attention.prefill_paged_kernel(h_kv, h_qo, d, PAGE, "float32")
    else:
        func = cpu_attention.decode_paged_kernel(h_kv, h_qo, d, PAGE, "float32")
    func = func.with_attr("global_symbol", "attention")
    kernel = tvm.compile(tvm.IRModule({"attention": func}), target=tvm.target.Target(host_llvm_target()))["attention"]
    rng = np.random.default_rng(0)
    t = tvm.runtime.tensor
    print(f"threads {args.threads}; {args.layers} layers, {h_kv} KV / {h_qo} query heads of {d}; "
          + (f"prefill of {nq} new tokens" if nq else "decode"))
    print(f"{'context':>8} {'ms/call' if nq else 'ms/token':>9} {'GB/s':>6}")
    for n in (int(v) for v in args.context.split(",")):
        pages_used = -(-n // PAGE)
        layers = []
        for _ in range(args.layers):
            pages = np.zeros((pages_used + SPARE_PAGES, 2, h_kv, PAGE, d), np.float32)
            pages[:pages_used] = rng.standard_normal((pages_used, 2, h_kv, PAGE, d))
            indptr, values = t(np.array([0, pages_used], np.int32)), t(np.arange(pages_used, dtype=np.int32))
            last = t(np.array([n - (pages_used - 1) * PAGE], np.int32))
            rows = max(nq, 1)
            q, out = t(rng.standard_normal((rows, h_qo, d)).astype(np.float32)), t(np.zeros((rows, h_qo, d), np.float32))
            lse = t(np.zeros((rows, h_qo), np.float32))
            if nq:  # q, q_indptr, pages, page_indptr, page_values, last_page_len, k_rope_pos, q_rope_pos, o, lse
                layers.append([
                    q, t(np.array([0, nq], np.int32)), t(pages), indptr, values, last, t(np.zeros(1, np.int32)),
                    t(np.zeros(nq, np.int32)), out, lse, 0, 0, 1.0, 1e4, d**-0.5,
                ])
            else:
                layers.append([
                    q, t(pages), indptr, values, last, t(np.zeros(1, np.int32)), t(np.zeros(1, np.int32)), out, lse,
                    0, 1.0, 1e4, d**-0.5,
                ])
        for layer in layers:
            kernel(*layer)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            for layer in layers:
                kernel(*layer)
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        kv_bytes = args.layers * n * 2 * h_kv * d * 4
        print(f"{n:>8} {median * 1e3:>9.3f} {kv_bytes / median / 1e9:>6.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
