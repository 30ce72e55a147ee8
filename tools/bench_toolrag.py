"""Tool retrieval on BFCL: each question's function hidden among N tools, with and without retrieval.

For each pool size N (each simple_python question keeps its own function
and gets N - 1 others drawn, seeded, from the data folder's functions,
:mod:`agent_sdk.eval.tool_pool`) this prints:

* recall@K of the right tool for each retriever (every question; no model
  call for BM25, one embedding per tool text and per request for ``hidden``);
* with ``--accuracy``: call accuracy by BFCL's own checker, mean prompt
  tokens, median and p90 latency per question (retrieval included) and the
  first question's latency, for the agent's retrieval and, where it fits the
  window (``--all-max``), for every tool in the prompt;
* with ``--irrelevance N``: the share of irrelevance questions declined
  (``auto``) among N tools.

Questions are split as in docs/bfcl_results.md: ids divisible by 4 are
*tuning* (retrieval was designed on them), the rest *held-out*; ``--split``
picks which are run for accuracy (recall is printed for both).

    python tools/bench_toolrag.py --data ../shared/eval/bfcl --pools 1,10,50,200,400 \\
        --retrievers bm25,hidden,hybrid --accuracy --split heldout --limit 100 --all-max 50 --irrelevance 50
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent_sdk.agent.backends import LocalBackend
from agent_sdk.agent.policy import DEFAULT_POLICY
from agent_sdk.agent.retrieval import BM25Retriever, ToolRetrieval
from agent_sdk.errors import ToolSchemaWarning
from agent_sdk.eval.bfcl_data import BFCLQuestion, function_to_tool, load_bfcl
from agent_sdk.eval.bfcl_run import answer_question
from agent_sdk.eval.bfcl_score import score_bfcl
from agent_sdk.eval.tool_pool import pool_functions, with_tool_pool

RECALL_AT = (1, 3, 5, 8)


def _number(q: BFCLQuestion) -> int:
    return int(q.id.rsplit("_", 1)[1])


def _split(questions: list[BFCLQuestion], split: str) -> list[BFCLQuestion]:
    if split == "tuning":
        return [q for q in questions if _number(q) % 4 == 0]
    if split == "heldout":
        return [q for q in questions if _number(q) % 4 != 0]
    return questions


def _retriever(name: str, engine: Any) -> Any:
    if name == "bm25":
        return BM25Retriever()
    from agent_sdk.agent.embedding_retrieval import HiddenStateRetriever, HybridRetriever

    if name == "hidden":
        return HiddenStateRetriever(engine)
    if name.startswith("hidden-"):  # hidden-<layer>-<pooling>, e.g. hidden-final-last
        _, layer, pooling = name.split("-")
        return HiddenStateRetriever(engine, layer=layer, pooling=pooling)
    if name.startswith("hybrid"):
        weight = float(name.split("-")[1]) if "-" in name else 0.5
        return HybridRetriever(engine, weight=weight)
    raise SystemExit(f"unknown retriever {name!r}")


def recall_table(questions: list[BFCLQuestion], functions: list[dict[str, Any]], pools: list[int],
                 retrievers: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    """recall@K per retriever and pool size, on the tuning and held-out questions."""
    rows = []
    for n in pools:
        pooled = with_tool_pool(questions, functions, n, seed=seed)
        for name, retriever in retrievers.items():
            ranking = ToolRetrieval(retriever=retriever, max_tools=0)
            hits = {s: {k: 0 for k in RECALL_AT} for s in ("tuning", "heldout")}
            counts = {"tuning": 0, "heldout": 0}
            t0 = time.perf_counter()
            for q, p in zip(questions, pooled):
                ranked = ranking.rank(p.request, [function_to_tool(f) for f in p.tools])
                pos = ranked.index(q.tools[0]["name"])
                s = "tuning" if _number(q) % 4 == 0 else "heldout"
                counts[s] += 1
                for k in RECALL_AT:
                    hits[s][k] += pos < k
            ms = (time.perf_counter() - t0) / len(questions) * 1000
            for s in ("tuning", "heldout"):
                rows.append({"pool": n, "retriever": name, "split": s, "questions": counts[s], "ms_per_question": ms,
                             **{f"recall@{k}": hits[s][k] / max(counts[s], 1) for k in RECALL_AT}})
            line = " ".join(f"@{k} {hits['tuning'][k] / max(counts['tuning'], 1):.1%}/"
                            f"{hits['heldout'][k] / max(counts['heldout'], 1):.1%}" for k in RECALL_AT)
            print(f"recall N={n:<4} {name:<8} (tuning/held-out) {line}  {ms:.1f} ms/question", flush=True)
    return rows


def _score(data: Path, results: Path, category: str) -> float | None:
    """The share right by BFCL's checker (:func:`~agent_sdk.eval.bfcl_score.score_bfcl`), or None without it."""
    lines = score_bfcl(data, results, [category])
    for line in lines:
        if line.startswith("ALL accuracy="):
            return float(line.split("=")[1].split()[0].rstrip("%")) / 100
    print("\n".join(lines), file=sys.stderr)  # how to score, or why the scorer failed
    return None


def accuracy_run(engine: Any, data: Path, questions: list[BFCLQuestion], functions: list[dict[str, Any]], n: int,
                 retrieval: ToolRetrieval | None, *, category: str, seed: int, tool_choice: str,
                 work: Path) -> dict[str, Any]:
    """One configuration: answers every question among ``n`` tools and scores the calls."""
    backend = LocalBackend(engine)
    policy = DEFAULT_POLICY.replace(tool_choice=tool_choice)
    pooled = with_tool_pool(questions, functions, n, seed=seed)
    results = work / f"{category}-{n}-{'all' if retrieval is None else retrieval.retriever.name}.jsonl"
    latencies, prompts, found, failed, called = [], [], 0, 0, 0
    with results.open("w") as fp, warnings.catch_warnings():
        warnings.simplefilter("ignore", ToolSchemaWarning)
        for q, p in zip(questions, pooled):
            t0 = time.perf_counter()
            ans = answer_question(backend, p, policy=policy, retrieval=retrieval)
            latencies.append(time.perf_counter() - t0)
            prompts.append(ans.prompt_tokens)
            found += {t["name"] for t in q.tools} <= set(ans.offered)
            failed += ans.error is not None
            called += bool(ans.calls)
            fp.write(json.dumps({"id": q.id, "calls": ans.calls}) + "\n")
    first, rest = latencies[0], sorted(latencies[1:]) or latencies
    row = {
        "category": category, "pool": n, "mode": "all tools" if retrieval is None else retrieval.retriever.name,
        "questions": len(questions), "accuracy": _score(data, results, category),
        "call_rate": called / len(questions), "right_tool_offered": found / len(questions),
        "failed": failed, "mean_prompt_tokens": statistics.mean(prompts),
        "first_s": first, "median_s": statistics.median(rest), "p90_s": rest[int(0.9 * (len(rest) - 1))],
    }
    acc = "-" if row["accuracy"] is None else f"{row['accuracy']:.1%}"
    print(f"{category} N={n:<4} {row['mode']:<9} accuracy {acc:>6}  calls {row['call_rate']:.1%}  offered "
          f"{row['right_tool_offered']:.1%}  failed {failed}  prompt {row['mean_prompt_tokens']:.0f} tok  "
          f"first {first:.2f} s  median {row['median_s']:.2f} s  p90 {row['p90_s']:.2f} s", flush=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "eval" / "bfcl")
    ap.add_argument("--pools", default="1,10,50,200,400")
    ap.add_argument("--retrievers", default="bm25,hidden", help="for recall: bm25, hidden, hidden-<layer>-<pooling>, "
                    "hybrid, hybrid-<weight>")
    ap.add_argument("--accuracy", action="store_true", help="also run the model and score the calls")
    ap.add_argument("--retrieval", default="bm25", help="the retriever of the accuracy runs")
    ap.add_argument("--top-k", type=int, default=None)
    ap.add_argument("--split", choices=["all", "tuning", "heldout"], default="heldout")
    ap.add_argument("--limit", type=int, default=None, help="questions of the split for accuracy (the first ones)")
    ap.add_argument("--all-max", type=int, default=50, help="largest pool also run with every tool in the prompt")
    ap.add_argument("--irrelevance", type=int, default=None, metavar="N", help="irrelevance questions among N tools")
    ap.add_argument("--tool-choice", default="auto", choices=["auto", "required"])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--quant", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--ctx", type=int, default=8192, help="context window (SmolLM2's is 8192)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="write every row here")
    args = ap.parse_args()

    pools = [int(x) for x in args.pools.split(",")]
    questions = list(load_bfcl(args.data, ["simple_python"]))
    functions = pool_functions(args.data)
    names = [x for x in args.retrievers.split(",") if x]
    engine = None
    if args.accuracy or any(n != "bm25" for n in names) or args.irrelevance:
        from agent_sdk.compiler import ensure_bundle
        from agent_sdk.runtime import Engine

        engine = Engine(ensure_bundle(args.model, quant=args.quant), threads=args.threads, context_window=args.ctx)
    rows: list[dict[str, Any]] = recall_table(questions, functions, pools,
                                              {n: _retriever(n, engine) for n in names}, args.seed)
    if args.accuracy or args.irrelevance:
        from agent_sdk.agent.retrieval import DEFAULT_TOP_K

        retrieval = ToolRetrieval(retriever=_retriever(args.retrieval, engine), top_k=args.top_k or DEFAULT_TOP_K)
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            if args.accuracy:
                chosen = _split(questions, args.split)[: args.limit]
                for n in pools:
                    rows.append(accuracy_run(engine, args.data, chosen, functions, n, retrieval,
                                             category="simple_python", seed=args.seed, tool_choice=args.tool_choice,
                                             work=work))
                    if 1 < n <= args.all_max:
                        rows.append(accuracy_run(engine, args.data, chosen, functions, n, None,
                                                 category="simple_python", seed=args.seed,
                                                 tool_choice=args.tool_choice, work=work))
            if args.irrelevance:
                irrelevant = list(load_bfcl(args.data, ["irrelevance"]))[: args.limit]
                for mode in (retrieval, None):
                    rows.append(accuracy_run(engine, args.data, irrelevant, functions, args.irrelevance, mode,
                                             category="irrelevance", seed=args.seed, tool_choice="auto", work=work))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
