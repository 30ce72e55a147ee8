"""Time the quantized matmul kernels alone, at a model's shapes, with their error against float64.

Each kernel (``agent_sdk.quantization.kernels.q_matmul_kernel``) is compiled
for this CPU and run on random weights stored in its layout; the weights are
cycled through enough copies (~120 MB) that every call reads them from memory,
as a decode step does. Prints the median time per call, the weight bytes read
per second, and the largest error against ``x @ dequantize(W).T`` in float64:

    python tools/bench_kernels.py                      # SmolLM2-135M's shapes, 1 thread
    python tools/bench_kernels.py --tokens 1,24,512 --threads 2
    python tools/bench_kernels.py --shapes q4:3072x576,q8:49152x576

Used for docs/cpu_kernels.md's kernel-alone numbers (before/after a kernel
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

#: SmolLM2-135M's matmuls: fused q/k/v, o, fused gate/up, down, and the q8 output head.
SMOLLM2_SHAPES = "q4:960x576,q4:576x576,q4:3072x576,q4:576x1536,q8:49152x576"
#: Bytes of weight copies cycled through, so that calls read from memory (this CPU's L3 is 32 MiB).
WORKING_SET = 120e6


def _shapes(text: str) -> list[tuple[str, int, int]]:
    out = []
    for item in text.split(","):
        fmt, dims = item.split(":")
        n_out, n_in = dims.lower().split("x")
        out.append((fmt, int(n_out), int(n_in)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default=SMOLLM2_SHAPES,
                        help="fmt:NxK,... with fmt a stored format (q4, q8, ...) or an integer-activation kernel "
                             "(q4a8, q4a16, q8a16) (default: SmolLM2-135M's)")
    parser.add_argument("--tokens", default="1,24,64", help="token counts per call, comma-separated")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=1.0, help="timing budget per shape and token count")
    args = parser.parse_args()
    os.environ["TVM_NUM_THREADS"] = str(args.threads)

    import tvm

    from agent_sdk.compiler.targets import host_llvm_target
    from agent_sdk.quantization import formats as qf
    from agent_sdk.quantization.int8_kernels import q4a8_matmul_kernel, q4a16_matmul_kernel, q8a16_matmul_kernel
    from agent_sdk.quantization.kernels import q_matmul_kernel

    # fmt -> (stored format, kernel): the integer-activation kernels read the float kernels' stored weights
    int_kernels = {"q4a8": ("q4", q4a8_matmul_kernel), "q4a16": ("q4", q4a16_matmul_kernel),
                   "q8a16": ("q8", q8a16_matmul_kernel)}

    target = tvm.target.Target(host_llvm_target())
    print(f"threads {args.threads}; target {host_llvm_target().get('mcpu', '?')}")
    print(f"{'kernel':<18} {'tokens':>6} {'median us':>10} {'GB/s':>6} {'max |err|':>10}")
    for fmt, n_out, n_in in _shapes(args.shapes):
        store, make = int_kernels.get(fmt, (fmt, None))
        with target:
            rows = qf.interleave_rows(n_out)
            func = make(n_out, n_in, rows) if make is not None else q_matmul_kernel(fmt, n_out, n_in, rows)
            func = func.with_attr("global_symbol", "kernel")
        kernel = tvm.compile(tvm.IRModule({"kernel": func}), target=target)["kernel"]
        rng = np.random.default_rng(0)
        stored = qf.pack_rows(qf.quantize(rng.standard_normal((n_out, n_in)).astype(np.float32), store), store)
        nbytes = sum(a.nbytes for a in stored.values())
        copies = [[tvm.runtime.tensor(a.copy()) for a in stored.values()]
                  for _ in range(max(1, min(256, int(WORKING_SET // nbytes))))]
        w_ref = qf.dequantize(qf.unpack_rows(stored, store), store).astype(np.float64)
        for n_tok in (int(t) for t in args.tokens.split(",")):
            x = rng.standard_normal((n_tok, n_in)).astype(np.float32)
            xt = tvm.runtime.tensor(x)
            y = tvm.runtime.tensor(np.zeros((n_tok, n_out), np.float32))
            kernel(xt, *copies[0], y)
            err = float(np.abs(y.numpy() - x.astype(np.float64) @ w_ref.T).max())
            times: list[float] = []
            start = time.perf_counter()
            while time.perf_counter() - start < args.seconds or len(times) < 5:
                t0 = time.perf_counter()
                kernel(xt, *copies[len(times) % len(copies)], y)
                times.append(time.perf_counter() - t0)
            med = statistics.median(times)
            print(f"{fmt} {n_out}x{n_in:<10} {n_tok:>6} {med * 1e6:>10.1f} {nbytes / med / 1e9:>6.1f} {err:>10.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
