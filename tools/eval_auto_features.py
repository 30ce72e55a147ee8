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

from agent_sdk.agent.agent import Agent  # noqa: E402
from agent_sdk.agent.bfcl import _declared_registry, load_bfcl  # noqa: E402
from agent_sdk.cli import ensure_bundle  # noqa: E402
from agent_sdk.constrain.tool_grammar import tool_call_grammar  # noqa: E402
from agent_sdk.runtime import Engine, SamplingParams  # noqa: E402


def main() -> int:
    """Writes one JSON line per question with its call and log-probabilities."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--category", action="append", default=None)
    ap.add_argument("--limit", type=int, default=60)
    ap.add_argument("--offset", type=int, default=0, help="skip the first N questions of each category")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    engine = Engine(ensure_bundle("smollm2-135m", quant="q4"))
    cats = args.category or ["simple_python", "irrelevance"]
    with open(args.out, "w") as fp:
        seen: dict[str, int] = {}
        for q in load_bfcl(Path(args.data), cats, limit=args.offset + args.limit):
            seen[q.category] = seen.get(q.category, 0) + 1
            if seen[q.category] <= args.offset:
                continue
            agent = Agent(engine, tools=_declared_registry(q.tools), tool_choice="required", max_steps=1)
            user = "\n".join(m.get("content", "") for m in q.messages if m.get("role") == "user")
            agent.messages.append({"role": "user", "content": user})
            ge = agent._grammar_engine()
            grammar = ge.lark_grammar(tool_call_grammar(agent.tool_specs, choice="required", parallel=False))
            c = ge.constraint(grammar)
            t0 = time.perf_counter()
            gen = engine.generate(agent._prompt_ids(), SamplingParams(max_tokens=200), constraint=c, logprobs=True)
            rec = {
                "id": q.id, "category": q.category, "text": gen.text, "logprobs": gen.logprobs,
                "forced": c.forced_flags[: len(gen.logprobs or [])], "seconds": time.perf_counter() - t0,
            }
            fp.write(json.dumps(rec) + "\n")
            fp.flush()
            print(q.id, round(rec["seconds"], 2), gen.text[:100].replace("\n", " "), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
