"""Scores `required` and `auto` from one constrained pass (tools/eval_auto_features.py).

`auto` keeps a constrained call when `agent_sdk.agent.step.call_score`
reaches the threshold; `required` always keeps it. One decoding pass per
question therefore gives both, exactly as the agent would decide.

    python tools/eval_auto_features.py --data ../shared/eval/bfcl --limit 400 --out /tmp/feat.jsonl
    python tools/eval_bfcl_modes.py --features /tmp/feat.jsonl --data ../shared/eval/bfcl
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent_sdk.agent.auto import DEFAULT_AUTO_RULE, call_relevance, call_score  # noqa: E402
from agent_sdk.agent.parsing import parse_calls  # noqa: E402
from agent_sdk.agent.request_features import copy_coverage  # noqa: E402
from agent_sdk.eval.bfcl_data import coerce_numbers, load_bfcl  # noqa: E402

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
                    help="weight of the share of values copied from the request (call_score)")
    ap.add_argument("--relevance-weight", type=float, default=RELEVANCE_WEIGHT,
                    help="weight of the called tools' word overlap with the request (call_score)")
    ap.add_argument("--search", action="store_true",
                    help="grid-search the coverage weight, relevance weight and threshold (tuning questions only!)")
    ap.add_argument("--scorer", default=str(Path(__file__).resolve().parents[2] / "shared" / "eval" / "bfcl_score.py"))
    args = ap.parse_args()
    recs = [json.loads(line) for line in open(args.features) if line.strip()]
    cats_in = sorted({r["category"] for r in recs})
    questions = list(load_bfcl(Path(args.data), cats_in))
    schemas = {q.id: {t["name"]: t["parameters"] for t in q.tools} for q in questions}
    tools = {q.id: q.tools for q in questions}
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
                    parsed_calls = parse_calls(r["text"], formats=("hermes",)).calls
                    coverage = copy_coverage([dict(c.arguments) for c in parsed_calls], requests[r["id"]])
                    relevance = call_relevance([c.name for c in parsed_calls], tools[r["id"]], requests[r["id"]])
                    score = call_score(r["logprobs"], r["forced"], coverage=coverage, coverage_weight=args.coverage_weight,
                                       relevance=relevance, relevance_weight=args.relevance_weight)
                    if score < args.threshold:
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
    if args.search:
        search(args, recs, questions, schemas, tools, requests)
    secs = [r["seconds"] for r in recs]
    print(f"questions {len(recs)}, mean seconds per constrained call {sum(secs) / len(secs):.2f}")
    return 0


def search(args: argparse.Namespace, recs: list[dict], questions: list, schemas: dict, tools: dict, requests: dict) -> None:
    """Prints the best `auto` settings: mean over categories of (irrelevance: declined; others: kept and right)."""
    spec = importlib.util.spec_from_file_location("bfcl_score", args.scorer)
    assert spec and spec.loader
    scorer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scorer)
    ast_checker, python = scorer._checker()
    raw = {}
    for q in {r["category"] for r in recs}:
        raw.update({x["id"]: x for x in scorer._jsonl(str(Path(args.data) / f"BFCL_v4_{q}.json"))})
        pa = Path(args.data) / "possible_answer" / f"BFCL_v4_{q}.json"
        if pa.exists():
            for a in scorer._jsonl(str(pa)):
                raw[a["id"]]["ground_truth"] = a["ground_truth"]
    rows = []
    for r in recs:
        parsed = parse_calls(r["text"], formats=("hermes",)).calls
        calls = [{c.name: coerce_numbers(c.arguments, schemas[r["id"]].get(c.name, {}))} for c in parsed]
        irrelevant = "irrelevance" in r["category"]
        right = False
        if not irrelevant and calls:
            q = raw[r["id"]]
            right = ast_checker(q["function"], calls, q["ground_truth"], python, r["category"], "local")["valid"]
        rows.append((
            r["category"], irrelevant, right, call_score(r["logprobs"], r["forced"]),
            copy_coverage([dict(c.arguments) for c in parsed], requests[r["id"]]) - 1.0,
            call_relevance([c.name for c in parsed], tools[r["id"]], requests[r["id"]]) - 1.0,
        ))
    cats = sorted({row[0] for row in rows})
    best = []
    for cw in (0.0, 0.25, 0.5, 0.75, 1.0, 1.5):
        for rw in (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0):
            scores = [(row, row[3] + cw * row[4] + rw * row[5]) for row in rows]
            for k in range(-80, 1):
                thr = k / 20
                per_cat = []
                for cat in cats:
                    got = [(s >= thr) != row[1] and (row[1] or row[2]) for row, s in scores if row[0] == cat]
                    per_cat.append(sum(got) / len(got))
                best.append((sum(per_cat) / len(per_cat), cw, rw, thr, per_cat))
    best.sort(key=lambda b: -b[0])
    print("best auto settings (mean accuracy over " + ", ".join(cats) + "):")
    for b in best[:12]:
        print(f"  {b[0]:.3f}  coverage {b[1]:<4} relevance {b[2]:<4} threshold {b[3]:<5}  " + " ".join(f"{x:.3f}" for x in b[4]))


if __name__ == "__main__":
    sys.exit(main())
