"""Score a model (base or tuned bundle) on a held-out set of hand-phrased requests.

    python tools/eval_heldout.py --model smollm2-135m --tools examples/voice_assistant/home_tools.py \\
        --heldout tests/data/home_heldout.jsonl
    python tools/eval_heldout.py --model compiled/home-tuned --tools examples/voice_assistant/home_tools.py \\
        --heldout tests/data/home_heldout.jsonl --misses

Each request is asked once as the agent asks it (the bundle's own prompt, the
call step in ``auto`` with the SDK's call policy unless told otherwise); the
tool requests are right when the calls are exactly right, the others when
declined (see agent_sdk/tune/heldout.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent_sdk.agent.policy import DEFAULT_POLICY
from agent_sdk.cli import ensure_bundle
from agent_sdk.runtime import Engine
from agent_sdk.tune.heldout import load_heldout, score_heldout
from agent_sdk.tune.pipeline import tool_specs


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="smollm2-135m", help="preset, checkpoint or bundle folder")
    p.add_argument("--quant", default="auto")
    p.add_argument("--tools", required=True)
    p.add_argument("--heldout", required=True)
    p.add_argument("--tool-choice", default="auto", choices=["auto", "required"])
    p.add_argument("--auto-threshold", type=float, default=None)
    p.add_argument("--parallel-bias", type=float, default=None,
                   help="nats another parallel call must beat ending by (default: the SDK's, 2.0)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-spoken-values", action="store_true",
                   help="keep the model's reading of values said in words (ablation)")
    p.add_argument("--no-conjoined", action="store_true",
                   help="no extra call per item of a list joined with 'and' (ablation)")
    p.add_argument("--no-follow-up", action="store_true",
                   help="do not ask again about a part of a compound request the calls leave out (ablation)")
    p.add_argument("--no-state-questions", action="store_true",
                   help="let a yes/no question about a state call a tool that changes it (ablation)")
    p.add_argument("--value-keep", type=float, default=None,
                   help="ValueBias.keep: nats against closing a call while an optional argument the request "
                        "mentions (by name or by a value it says) is missing, and for going on to it")
    p.add_argument("--no-tool-rerank", action="store_true",
                   help="keep the tool the greedy pass named (ablation of agent_sdk/agent/tool_rerank.py)")
    p.add_argument("--misses", action="store_true", help="print every wrong answer")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    engine = Engine(ensure_bundle(args.model, quant=args.quant), threads=args.threads)
    specs = tool_specs(args.tools)
    rows = load_heldout(args.heldout)
    policy = DEFAULT_POLICY.replace(tool_choice=args.tool_choice).with_threshold(args.auto_threshold)
    if args.parallel_bias is not None:
        policy = policy.replace(parallel_bias=args.parallel_bias)
    if args.no_spoken_values:
        policy = policy.replace(spoken_values=False)
    if args.no_conjoined:
        policy = policy.replace(conjoined=False)
    if args.no_follow_up:
        policy = policy.replace(follow_up=False)
    if args.no_state_questions:
        policy = policy.replace(state_questions=False)
    if args.no_tool_rerank:
        policy = policy.replace(rerank_tools=False)
    if args.value_keep is not None:
        if policy.value_bias is None:
            p.error("--value-keep needs the policy's value bias, which is off")
        policy = policy.replace(value_bias=dataclasses.replace(policy.value_bias, keep=args.value_keep))
    score = score_heldout(engine, specs, rows, policy=policy)
    if args.misses:
        for m in score.misses:
            print(json.dumps(m, ensure_ascii=False))
    rec = {"model": args.model, "heldout": Path(args.heldout).name, "tool_choice": args.tool_choice, **score.record()}
    if args.json:
        print(json.dumps(rec))
    else:
        print(f"{args.model} on {rec['heldout']} ({args.tool_choice}): tool requests {score.tool_right}/"
              f"{score.tool_total} ({score.tool_accuracy:.1%}), declined {score.none_right}/{score.none_total} "
              f"({score.decline_accuracy:.1%}), {score.seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
