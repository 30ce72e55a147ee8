"""Collects the features the agent's `auto` decision uses, on BFCL dev questions.

For each question the best constrained call is decoded (as `required`), with
the model's unmasked log-probability of every call token; the output lets us
choose the decision rule and threshold on the development split only
(simple_python and irrelevance, both in ../shared/eval).

    python tools/eval_auto_features.py --data ../shared/eval/bfcl --limit 60 --out /tmp/auto_features.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent_sdk.agent.auto import AutoRule
from agent_sdk.agent.backends import LocalBackend
from agent_sdk.agent.copy_bias import ValueBias
from agent_sdk.agent.policy import DEFAULT_POLICY
from agent_sdk.agent.rerank import ValueRerank
from agent_sdk.agent.step import decode_calls
from agent_sdk.cli import ensure_bundle
from agent_sdk.eval.bfcl_data import load_bfcl
from agent_sdk.runtime import Engine
from agent_sdk.tools import ToolRegistry


def main() -> int:
    """Writes one JSON line per question with its call and log-probabilities."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--category", action="append", default=None)
    ap.add_argument("--limit", type=int, default=60)
    ap.add_argument("--offset", type=int, default=0, help="skip the first N questions of each category")
    ap.add_argument("--every", type=int, default=1, help="keep every N-th question (ids 0, N, 2N, ...): a tuning subset")
    ap.add_argument("--bias", default=None, metavar="K=V,...",
                    help="ValueBias fields (extend, start, end, number, keep), e.g. extend=3,start=1; 'none' disables")
    ap.add_argument("--rerank", default=None, metavar="K=V,...",
                    help="re-rank string values: ValueRerank fields (starts, max_words, window, prior, margin), "
                         "e.g. prior=1; 'none' disables; default: the agent's")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    engine = Engine(ensure_bundle("smollm2-135m", quant="auto"))
    biases: dict[str, ValueBias | ValueRerank | None] = {}
    if args.bias == "none":
        biases["value_bias"] = None
    elif args.bias:
        fields = {k: float(v) for k, v in (kv.split("=") for kv in args.bias.split(","))}
        biases["value_bias"] = ValueBias(**fields)
    if args.rerank == "none":
        biases["rerank"] = None
    elif args.rerank:
        fields = {k: float(v) for k, v in (kv.split("=") for kv in args.rerank.split(","))}
        biases["rerank"] = ValueRerank(**{k: int(v) if k in ("starts", "max_words", "max_enum") else v for k, v in fields.items()})
    # The agent's own call step, as `auto` with no threshold: the call and its log-probabilities.
    # reads_forced: record every token's log-probability (forced ones too) for rule searches over the file.
    policy = DEFAULT_POLICY.replace(parallel=False, auto=AutoRule(threshold=float("-inf"), reads_forced=True), **biases)
    backend = LocalBackend(engine)
    cats = args.category or ["simple_python", "irrelevance"]
    with open(args.out, "w") as fp:
        seen: dict[str, int] = {}
        for q in load_bfcl(Path(args.data), cats, limit=args.offset + args.limit):
            seen[q.category] = seen.get(q.category, 0) + 1
            if seen[q.category] <= args.offset or (seen[q.category] - 1) % args.every:
                continue
            registry = ToolRegistry.from_openai([{"type": "function", "function": t} for t in q.tools])
            tools = [t["function"] for t in registry.to_openai()]
            messages = [{"role": "user", "content": q.request}]
            if not tools:  # nothing to call: the agent answers in text, as `auto` declining
                rec = {"id": q.id, "category": q.category, "text": "", "logprobs": None, "forced": [], "seconds": 0.0}
                fp.write(json.dumps(rec) + "\n")
                continue
            t0 = time.perf_counter()
            step = decode_calls(
                engine, engine.tokenizer.encode(backend.prompt_text(messages, tools, None)), tools, policy=policy,
                max_tokens=256, request=q.request, grammar_engine=backend.grammar_engine,
            )
            gen = step.generation
            rec = {
                "id": q.id, "category": q.category, "text": gen.text, "logprobs": gen.logprobs,
                "forced": step.forced_flags, "seconds": time.perf_counter() - t0,
            }
            fp.write(json.dumps(rec) + "\n")
            fp.flush()
            print(q.id, round(rec["seconds"], 2), gen.text[:100].replace("\n", " "), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
