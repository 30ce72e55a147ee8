"""Scores `required` and `auto` from one constrained pass (tools/eval_auto_features.py).

`auto` keeps a constrained call when `agent_sdk.agent.step.call_score`
reaches the threshold; `required` always keeps it. One decoding pass per
question therefore gives both, exactly as the agent would decide.

    python tools/eval_auto_features.py --data ../shared/eval/bfcl --limit 400 --out /tmp/feat.jsonl
    python tools/eval_bfcl_modes.py --features /tmp/feat.jsonl --data ../shared/eval/bfcl
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent_sdk.agent.bfcl import coerce_numbers, load_bfcl  # noqa: E402
from agent_sdk.agent.parsing import parse_calls  # noqa: E402
from agent_sdk.agent.copy_bias import copy_coverage  # noqa: E402
from agent_sdk.agent.step import AUTO_THRESHOLD, COVERAGE_WEIGHT, call_score  # noqa: E402
from agent_sdk.runtime.engine import Generation  # noqa: E402


def main() -> int:
    """Writes results_required.jsonl / results_auto.jsonl next to --features and scores them."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--threshold", type=float, default=AUTO_THRESHOLD)
    ap.add_argument("--coverage-weight", type=float, default=COVERAGE_WEIGHT,
                    help="weight of the share of values copied from the request (call_score)")
    ap.add_argument("--scorer", default=str(Path(__file__).resolve().parents[2] / "shared" / "eval" / "bfcl_score.py"))
    args = ap.parse_args()
    recs = [json.loads(line) for line in open(args.features) if line.strip()]
    cats_in = sorted({r["category"] for r in recs})
    questions = list(load_bfcl(Path(args.data), cats_in))
    schemas = {q.id: {t["name"]: t["parameters"] for t in q.tools} for q in questions}
    requests = {q.id: "\n".join(m.get("content", "") for m in q.messages if m.get("role") == "user") for q in questions}
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
                    gen = Generation(r["text"], [], "stop", logprobs=r["logprobs"])
                    parsed = [dict(c.arguments) for c in parse_calls(r["text"], formats=("hermes",)).calls]
                    coverage = copy_coverage(parsed, requests[r["id"]])
                    if call_score(gen, r["forced"], coverage=coverage, coverage_weight=args.coverage_weight) < args.threshold:
                        calls = []
                fp.write(json.dumps({"id": r["id"], "calls": calls}) + "\n")
        cats = sorted({r["category"] for r in recs})
        res = subprocess.run(
            [sys.executable, args.scorer, "--data", args.data, "--results", str(path), "--only-answered", "--category", *cats],
            capture_output=True, text=True, check=False,
        )
        out[mode] = res.stdout.strip()
        print(f"== {mode} (threshold {args.threshold}, coverage weight {args.coverage_weight})" if mode == "auto" else f"== {mode}")
        print(res.stdout.strip() or res.stderr.strip()[-500:])
    secs = [r["seconds"] for r in recs]
    print(f"questions {len(recs)}, mean seconds per constrained call {sum(secs) / len(secs):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
