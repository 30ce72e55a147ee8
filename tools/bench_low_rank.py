"""What a low-rank update kept beside the weights costs: the kernel per shape, and a tuned bundle against its base.

    python tools/bench_low_rank.py --kernel                                   # SmolLM2-135M's four projections
    python tools/bench_low_rank.py --base compiled/smollm2-135m-q4-host --tuned compiled/home-tuned --threads 1

``--kernel`` times (on ``--threads`` threads) :func:`~agent_sdk.quantization.low_rank_kernel.low_rank_add_kernel` alone on the projections of
SmolLM2-135M (hidden 576, 3 KV heads of 64, MLP 1536, rank 16), per token, for a tile of one token (decode, and the
kernel before token tiles) and for :data:`~agent_sdk.quantization.low_rank_kernel.TOKEN_TILE`, with float32,
float16 and int8 factors. The bundle comparison runs ``agent-sdk bench --json`` on the base and the tuned bundle in turn
(``--rounds`` times, each run its own process so peak RSS is each bundle's own) and prints prefill and decode
tokens/s, the tuned/base ratios and peak RSS. Both must have the same weights' format (a tuned SmolLM2 bundle is
q4 with float activations: compare it with ``--quant q4``'s base, not the int16-activation ``q4a16``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# SmolLM2-135M's projections as the compiler fuses them: (inputs, output rows of each part), rank 16.
SHAPES = {"qkv": (576, (576, 192, 192)), "o": (576, (576,)), "gate_up": (576, (1536, 1536)), "down": (1536, (576,))}
RANK = 16


def bench_kernel(tokens: int) -> None:
    """Prints microseconds per token for each shape, tile and factor storage."""
    import numpy as np
    import tvm

    from agent_sdk.compiler.targets import resolve_target
    from agent_sdk.quantization.low_rank_kernel import FACTOR_DTYPES, TOKEN_TILE, low_rank_add_kernel

    target = tvm.target.Target(resolve_target("host")[1])
    rng = np.random.default_rng(0)
    print(f"{'projection':>10} {'tile':>4} {'factors':>8} {'us/token':>9}  ({tokens} tokens per call, "
          f"{os.environ.get('TVM_NUM_THREADS', 'all')} thread(s))")
    for label, (n_in, parts) in SHAPES.items():
        n_out = sum(parts)
        for tile in range(1, TOKEN_TILE + 1):
            for dtype in FACTOR_DTYPES:
                func = low_rank_add_kernel(n_in, n_out, RANK, parts, dtype=dtype, tile=tile)
                lib = tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), target=target)
                if dtype == "int8":  # levels and a float32 scale per row of each factor
                    factors = [rng.integers(-127, 128, size=(n_in, len(parts) * RANK)).astype(np.int8),
                               rng.integers(-127, 128, size=(RANK, n_out)).astype(np.int8),
                               np.full(len(parts) * RANK, 1e-2, np.float32), np.full(n_out, 1e-2, np.float32)]
                else:
                    factors = [rng.normal(size=(n_in, len(parts) * RANK)).astype(dtype),
                               rng.normal(size=(RANK, n_out)).astype(dtype)]
                args = [tvm.runtime.tensor(a) for a in (
                    rng.normal(size=(tokens, n_in)).astype("float32"), rng.normal(size=(tokens, n_out)).astype("float32"),
                    *factors)]
                y = tvm.runtime.empty((tokens, n_out), "float32")
                fn, calls, best = lib["main"], 20, float("inf")
                for _ in range(5):
                    t0 = time.perf_counter()
                    for _ in range(calls):
                        fn(*args, y)
                    best = min(best, (time.perf_counter() - t0) / calls)
                print(f"{label:>10} {tile:>4} {dtype:>8} {best / tokens * 1e6:>9.2f}")


def bench_bundles(base: str, tuned: str, *, threads: int, lengths: str, rounds: int) -> None:
    """Runs ``agent-sdk bench`` on both bundles in turn and prints the medians and ratios."""
    runs: dict[str, list[dict]] = {base: [], tuned: []}
    for _ in range(rounds):
        for model in (base, tuned):
            out = subprocess.run(
                [sys.executable, "-c", "import sys; from agent_sdk.cli import main; sys.exit(main())", "bench",
                 "--model", model, "--threads", str(threads), "--prompt-lens", lengths, "--json"],
                check=True, capture_output=True, text=True, cwd=ROOT,
            ).stdout
            runs[model].append(json.loads(out.strip().splitlines()[-1]))
    print(f"{threads} thread(s), {rounds} round(s) alternating, medians")
    print(f"{'prompt':>6} {'':>6} {'prefill tok/s':>14} {'decode tok/s':>13}")
    for i, length in enumerate(int(x) for x in lengths.split(",")):
        row = {}
        for model, label in ((base, "base"), (tuned, "tuned")):
            prefill = statistics.median(r["results"][i]["prefill_tok_s"] for r in runs[model])
            decode = statistics.median(r["results"][i]["decode_tok_s"] for r in runs[model])
            row[label] = (prefill, decode)
            print(f"{length:>6} {label:>6} {prefill:>14.1f} {decode:>13.1f}")
        print(f"{length:>6} {'ratio':>6} {row['tuned'][0] / row['base'][0]:>14.2f} "
              f"{row['tuned'][1] / row['base'][1]:>13.2f}")
    for model, label in ((base, "base"), (tuned, "tuned")):
        print(f"peak RSS {label}: {max(r['peak_rss_mb'] for r in runs[model]):.1f} MiB ({model})")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kernel", action="store_true", help="time the kernel alone on SmolLM2-135M's shapes")
    p.add_argument("--tokens", type=int, default=256, help="tokens per kernel call (--kernel)")
    p.add_argument("--base", help="the base bundle")
    p.add_argument("--tuned", help="the tuned bundle (an update kept beside the same weights)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--prompt-lens", default="64,256")
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    if not args.kernel and not (args.base and args.tuned):
        p.error("give --kernel, or --base and --tuned")
    if args.kernel:
        os.environ["TVM_NUM_THREADS"] = str(args.threads)  # read when TVM's thread pool starts (not yet)
        bench_kernel(args.tokens)
    if args.base and args.tuned:
        bench_bundles(args.base, args.tuned, threads=args.threads, lengths=args.prompt_lens, rounds=args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
