"""How far a quantization moves a model's predictions: perplexity and logit drift on a fixed text.

Every bundle reads the same token ids (the first bundle's tokenizer); each
one's logits at every position are compared with the first bundle's (the
reference), and each one's perplexity on the text is printed:

    python tools/quant_drift.py --bundles compiled/smollm2-135m-q4-host,compiled/smollm2-135m-q4a8-host

    bundle                                  ppl    max|dlogit|  mean|dlogit|  argmax agree   KL(ref||b)
    compiled/smollm2-135m-q4-host           ...    (reference)

The default text (:data:`TEXT`) mixes prose, a chat turn and a tool call in
SmolLM2's format; ``--text FILE`` reads another. Used for issue 15's choice
between ``q4`` and ``q4a8`` (docs/cpu_kernels.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent_sdk.runtime import Engine

TEXT = """The village sits where the river bends twice before reaching the sea. In spring the fields flood, and the
farmers move their sheep to the hills above the church, where the grass comes early. Most houses are built of grey
stone, with slate roofs that shine after rain. The school has forty pupils and two teachers; the nearest hospital is
an hour away by bus, which runs three times a day, except on Sundays.
<|im_start|>system
You are a helpful assistant. You can use these functions:
turn_on_lights(room: "kitchen" | "bedroom" | "living room")
  Turns the lights on in a room.
set_timer(minutes: int, label: string (optional))
  Starts a countdown timer.<|im_end|>
<|im_start|>user
Set a timer for twelve minutes for the pasta, and turn on the kitchen lights please.<|im_end|>
<|im_start|>assistant
<tool_call>
{"name": "set_timer", "arguments": {"minutes": 12, "label": "pasta"}}
</tool_call>
<tool_call>
{"name": "turn_on_lights", "arguments": {"room": "kitchen"}}
</tool_call><|im_end|>
In 1969 the first crewed landing on the Moon took place; 2 + 2 = 4, and 17 * 3 = 51. def add(a, b): return a + b
"""


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Log-probabilities over the last axis, in float64."""
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def mean_kl(ref_lp: np.ndarray, lp: np.ndarray) -> float:
    """``KL(ref || x)`` per position, averaged, from log-probabilities ``(positions, vocab)``."""
    return float((np.exp(ref_lp) * (ref_lp - lp)).sum(-1).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundles", required=True, help="comma-separated bundle folders; the first is the reference")
    parser.add_argument("--text", type=Path, help="a text file (default: the built-in text)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    bundles = [Path(b) for b in args.bundles.split(",") if b]
    text = args.text.read_text(encoding="utf-8") if args.text else TEXT
    ids: list[int] | None = None
    ref_lp: np.ndarray | None = None
    ref_logits: np.ndarray | None = None
    print(f"{'bundle':<44} {'tokens':>6} {'ppl':>8} {'max|dlogit|':>12} {'mean|dlogit|':>13} {'argmax agree':>13}"
          f" {'KL(ref||b)':>11}")
    for path in bundles:
        engine = Engine(path, threads=args.threads, context_window=4096)
        if ids is None:
            ids = engine.tokenizer.encode(text)
        logits = np.asarray(engine.logits(list(ids)), dtype=np.float64)  # (n, vocab)
        lp = log_softmax(logits)
        nll = -lp[np.arange(len(ids) - 1), ids[1:]]
        ppl = float(np.exp(nll.mean()))
        if ref_lp is None or ref_logits is None:
            ref_lp, ref_logits = lp, logits
            print(f"{path!s:<44} {len(ids):>6} {ppl:>8.3f} {'(reference)':>12}")
            continue
        d = np.abs(logits - ref_logits)
        agree = float((logits.argmax(-1) == ref_logits.argmax(-1)).mean())
        kl = mean_kl(ref_lp, lp)
        print(f"{path!s:<44} {len(ids):>6} {ppl:>8.3f} {d.max():>12.3f} {d.mean():>13.4f} {agree:>12.1%}"
              f" {kl:>11.5f}")
        del engine
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
