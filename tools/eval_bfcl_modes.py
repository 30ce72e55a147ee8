"""Scores `required` and `auto` from one constrained pass (tools/eval_auto_features.py).

`auto` keeps a constrained call when `agent_sdk.agent.auto.AutoRule`
reaches the threshold; `required` always keeps it. One decoding pass per
question therefore gives both, exactly as the agent would decide.

    python tools/eval_auto_features.py --data ../shared/eval/bfcl --limit 400 --out /tmp/feat.jsonl
    python tools/eval_bfcl_modes.py --features /tmp/feat.jsonl --data ../shared/eval/bfcl
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent_sdk.agent.auto import DEFAULT_AUTO_RULE, call_relevance
from agent_sdk.agent.parsing import parse_calls
from agent_sdk.agent.request_features import copy_coverage
from agent_sdk.eval.bfcl_data import coerce_numbers, load_bfcl

AUTO_THRESHOLD = DEFAULT_AUTO_RULE.threshold
COVERAGE_WEIGHT = DEFAULT_AUTO_RULE.coverage_weight
RELEVANCE_WEIGHT = DEFAULT_AUTO_RULE.relevance_weight


def main() -> int:
    """Writes results_required.jsonl / results_auto.jsonl next to --features and scores them."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--threshold", type=float, default=AUTO_THRESHOLD)
    ap.add_argument("--coverage-weight", type=float, default=COVERAGE_WEIGHT,
                    help="weight of the share of values copied from the request (AutoRule)")
    ap.add_argument("--relevance-weight", type=float, default=RELEVANCE_WEIGHT,
                    help="weight of the called tools' word overlap with the request (AutoRule)")
    ap.add_argument("--scorer", default=str(Path(__file__).resolve().parents[2] / "shared" / "eval" / "bfcl_score.py"))
    args = ap.parse_args()
    recs = [json.loads(line) for line in open(args.features) if line.strip()]
    cats_in = sorted({r["category"] for r in recs})
    questions = list(load_bfcl(Path(args.data), cats_in))
    schemas = {q.id: {t["name"]: t["parameters"] for t in q.tools} for q in questions}
    tools = {q.id: q.tools for q in questions}
    requests = {q.id: "\n".join(m.get("content", "") for m in q.messages if m.get("role") == "user") for q in questions}
    rule = dataclasses.replace(DEFAULT_AUTO_RULE, threshold=args.threshold, coverage_weight=args.coverage_weight,
                               relevance_weight=args.relevance_weight)
    out = {}
    for mode in ("required", "auto"):
        path = Path(args.features).with_name(f"results_{mode}.jsonl")
        with open(path, "w") as fp:
            for r in recs:
                calls = [
                    {"name": c.name, "arguments": coerce_numbers(c.arguments, schemas[r["id"]].get(c.name, {}))}
                    for c in parse_calls(r["text"], formats=("hermes",)).calls
                ]
                if mode == "auto":
                    parsed_calls = parse_calls(r["text"], formats=("hermes",)).calls
                    coverage = copy_coverage([dict(c.arguments) for c in parsed_calls], requests[r["id"]])
                    relevance = call_relevance([c.name for c in parsed_calls], tools[r["id"]], requests[r["id"]])
                    score = rule.score(r["logprobs"] or [], r["forced"], coverage=coverage, relevance=relevance)
                    if not rule.keeps(score):
                        calls = []
                fp.write(json.dumps({"id": r["id"], "calls": calls}) + "\n")
        cats = sorted({r["category"] for r in recs})
        res = subprocess.run(
            [sys.executable, args.scorer, "--data", args.data, "--results", str(path), "--only-answered", "--category", *cats],
            capture_output=True, text=True, check=False,
        )
        out[mode] = res.stdout.strip()
        print(f"== {mode} (threshold {args.threshold}, coverage weight {args.coverage_weight}, relevance weight "
              f"{args.relevance_weight})" if mode == "auto" else f"== {mode}")
        print(res.stdout.strip() or res.stderr.strip()[-500:])
    secs = [r["seconds"] for r in recs]
    print(f"questions {len(recs)}, mean seconds per constrained call {sum(secs) / len(secs):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
