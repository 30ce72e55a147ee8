"""Hand-phrased home commands on the voice example's tools: `auto` against a forced call.

examples/voice_assistant/data/home_commands.jsonl holds commands people say
to a home assistant (79 with the call they mean, 20 that no tool serves).
Each command's best constrained call is decoded once, as the voice
assistant decodes it (its system prompt, the home tools), with the model's
unmasked log-probabilities, so `required` and any `auto` rule score from
one pass (the same records as tools/eval_auto_features.py writes):

    python tools/eval_home_commands.py --out /tmp/home.jsonl          # decode and score with the default rule
    python tools/eval_home_commands.py --features /tmp/home.jsonl     # score saved records again
    python tools/eval_home_commands.py --retrieval --out /tmp/home-r.jsonl   # each offered the tools retrieval picks

Even positions within each category (commands, no-tool requests) are the tuning half, odd ones the held-out half.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

from voice_assistant.home_tools import Home, parse_clock_time

from agent_sdk.agent.auto import DEFAULT_AUTO_RULE, AutoRule

DATA = ROOT / "examples" / "voice_assistant" / "data" / "home_commands.jsonl"


def home_tools() -> list[dict[str, Any]]:
    """The voice example's tools as specs (a throwaway home: nothing is switched)."""
    home = Home(data_dir=Path(tempfile.mkdtemp()))
    try:
        return [t.to_openai()["function"] for t in home.tools()]
    finally:
        home.close()


def same_call(got: dict[str, Any], want: dict[str, Any]) -> bool:
    """Whether a call does what the command asks (strings compared loosely, times as clock times)."""
    if got["name"] != want["name"]:
        return False
    ga, wa = got["arguments"], want["arguments"]
    for key, value in wa.items():
        have = ga.get(key)
        if key == "time":
            try:
                h, m = parse_clock_time(str(have))
                wh, wm = parse_clock_time(str(value))
            except ValueError:
                return False
            hour_ok = h == wh if any(s in str(value).lower() for s in ("am", "pm")) else h % 12 == wh % 12
            if not (hour_ok and m == wm):
                return False
        elif isinstance(value, str):
            if not isinstance(have, str) or have.strip().lower().rstrip("s") != value.lower().rstrip("s"):
                return False
        elif have != value:
            return False
    extra = set(ga) - set(wa)
    return all(ga[k] in (0, None) for k in extra)  # e.g. seconds=0 said explicitly


def right(rec: dict[str, Any], calls: list[dict[str, Any]]) -> bool:
    """A command is right when its calls are the wanted ones; a no-tool request when there are none."""
    want = rec["want"]
    if not want:
        return not calls
    return len(calls) == len(want) and all(same_call(g, w) for g, w in zip(calls, want))


def decode(out: Path, threads: int | None, *, retrieval: bool = False) -> list[dict[str, Any]]:
    """Decodes every command's best call (as `auto` with no threshold) and writes the records.

    With ``retrieval``, each command is offered the tools the agent's default
    retrieval picks for it (as if there were more than its threshold of tools).
    """
    from voice_assistant.assistant import SYSTEM_PROMPT

    from agent_sdk.agent.backends import LocalBackend
    from agent_sdk.agent.policy import DEFAULT_POLICY
    from agent_sdk.agent.retrieval import ToolRetrieval
    from agent_sdk.agent.step import decode_calls
    from agent_sdk.compiler import ensure_bundle
    from agent_sdk.runtime import Engine

    engine = Engine(ensure_bundle("smollm2-135m", quant="auto"), threads=threads)
    backend = LocalBackend(engine)
    every_tool = home_tools()
    picker = ToolRetrieval(max_tools=0) if retrieval else None
    policy = DEFAULT_POLICY.replace(parallel=False, auto=AutoRule(threshold=float("-inf"), reads_forced=True))  # every logprob
    recs = []
    with open(out, "w") as fp:
        for line in open(DATA):
            cmd = json.loads(line)
            messages = [{"role": "user", "content": cmd["text"]}]
            t0 = time.perf_counter()
            tools = picker.select(cmd["text"], every_tool) if picker else every_tool
            step = decode_calls(
                engine, engine.tokenizer.encode(backend.prompt_text(messages, tools, SYSTEM_PROMPT)), tools,
                policy=policy, max_tokens=64, request=cmd["text"], grammar_engine=backend.grammar_engine,
            )
            rec = {
                "id": cmd["id"], "category": "home" if cmd["calls"] else "home_irrelevance", "request": cmd["text"],
                "want": cmd["calls"], "text": step.generation.text, "logprobs": step.generation.logprobs,
                "forced": step.forced_flags, "seconds": time.perf_counter() - t0,
                "offered": [t["name"] for t in tools],
            }
            fp.write(json.dumps(rec) + "\n")
            fp.flush()
            print(rec["id"], round(rec["seconds"], 2), rec["text"].replace("\n", " ")[:100], file=sys.stderr)
            recs.append(rec)
    return recs


def main() -> int:
    """Decodes (or reads) the records and prints forced and `auto` accuracy (all, tuning, held-out)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="decode and write the records here")
    ap.add_argument("--features", help="read records written before")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--retrieval", action="store_true", help="offer each command the tools retrieval picks")
    args = ap.parse_args()
    if bool(args.out) == bool(args.features):
        ap.error("give one of --out and --features")
    recs = (decode(Path(args.out), args.threads, retrieval=args.retrieval) if args.out
            else [json.loads(x) for x in Path(args.features).read_text().splitlines() if x.strip()])
    from search_auto_rule import home_rows, show, split  # scored as the rule search scores them

    table = home_rows(recs)
    split(table)
    show(table, DEFAULT_AUTO_RULE, "the default rule")
    return 0


if __name__ == "__main__":
    sys.exit(main())
