"""Time from a spoken-style command to an executed tool call, and where that time goes.

An agent with the voice example's tools (its system prompt and settings) runs
a fixed list of short home commands, after a warm-up pass over the same list
(so every prefix the commands use is cached, as in a running assistant), and
times each from ``agent.stream(command)`` to the executed call (the
``ToolResultEvent``). The time is split by the phases the SDK marks
(:mod:`agent_sdk.runtime.phases`):

    retrieval         picking the offered tools (above the agent's max_tools)
    prompt            rendering and tokenizing the conversation
    grammar_setup     tool schemas checked, the call grammar compiled (cached) and a matcher made
    prefill           the user turn's prefill (the cached system prefix is reused)
    decode            constrained decode steps (one token each)
    jump_forward      prefills of grammar-forced spans
    mask / grammar / accept   the grammar mask, forced-token lookups, matcher advances (and detokenizing)
    logits_processor  value bias and stop bias
    sample            picking the token
    rerank, parse, dedupe, auto_decision, state_question, said, conjoined, skip_answered   the call's post-steps (their model forks
                      included)
    follow_up         finding the part of a compound request the calls leave out (asking it runs the phases above)
    tool              executing the call
    overhead          the rest: Python between the phases

Tool counts: 1 (each command's own tool only), 11 (the voice example), and
30 (those 11 and 19 BFCL functions, declared with a no-op body); above the
agent's ``max_tools`` retrieval offers a few per command. ``required`` and
``auto`` are both run; in ``auto`` a command the agent declines is timed to its
text answer and counted apart.

    python tools/bench_call_latency.py                       # 1, 11 and 30 tools, required and auto
    python tools/bench_call_latency.py --tools 11 --choice required --json /tmp/lat.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

from voice_assistant.assistant import SYSTEM_PROMPT
from voice_assistant.home_tools import Home

from agent_sdk.agent import Agent
from agent_sdk.agent.events import FinalAnswer, ToolResultEvent
from agent_sdk.agent.policy import DEFAULT_POLICY
from agent_sdk.runtime.phases import recording
from agent_sdk.tools import Tool

DATA = ROOT / "examples" / "voice_assistant" / "data" / "home_commands.jsonl"
BFCL_DIR = ROOT.parent / "shared" / "eval" / "bfcl"
COMMANDS = 24  # the first commands of the file that mean a call: short, one call each
EXTRA_TOOLS_SEED = 0
PHASE_ORDER = (
    "retrieval", "prompt", "grammar_setup", "prefill", "decode", "jump_forward", "mask", "grammar", "accept",
    "logits_processor", "sample", "rerank", "parse", "dedupe", "auto_decision", "state_question", "said", "conjoined",
    "skip_answered", "follow_up", "tool", "overhead",
)


def commands(n: int) -> list[dict[str, Any]]:
    """The first ``n`` commands of the home set that want exactly one call."""
    out = []
    for line in DATA.read_text().splitlines():
        rec = json.loads(line)
        if len(rec["calls"]) == 1:
            out.append(rec)
        if len(out) == n:
            break
    return out


def extra_tools(count: int) -> list[Tool[..., Any]]:
    """``count`` BFCL functions (seeded) as declared tools whose body does nothing."""
    if count <= 0:
        return []
    from agent_sdk.eval.tool_pool import pool_functions

    pool = pool_functions(BFCL_DIR)
    picked = random.Random(EXTRA_TOOLS_SEED).sample(pool, count)

    def nothing(**_: Any) -> str:
        return "done"

    return [Tool.from_openai(spec, implementation=nothing) for spec in picked]


def make_agent(engine: Any, tools: list[Tool[..., Any]], choice: str) -> Agent:
    """An agent set up as the voice example sets up its own (one step: the call, no answer after it)."""
    agent = Agent(
        engine, tools=tools, system=SYSTEM_PROMPT, policy=DEFAULT_POLICY.replace(tool_choice=choice),
        max_steps=1, max_tokens=64, answer_prefix=None,
    )
    agent.warm()
    return agent


def time_command(agent: Agent, text: str) -> dict[str, Any]:
    """Runs one command on a fresh conversation; returns its wall time, phases and what happened."""
    agent.reset()
    called: str | None = None
    with recording() as rec:
        t0 = time.perf_counter()
        for ev in agent.stream(text):
            if isinstance(ev, ToolResultEvent):
                called = ev.call.name
                break
            if isinstance(ev, FinalAnswer):
                break
        wall = time.perf_counter() - t0
    phases = rec.by_top()
    phases["overhead"] = max(wall - rec.total(), 0.0)
    stats = agent.last_stats
    return {
        "wall_ms": wall * 1000, "called": called, "phases_ms": {k: v * 1000 for k, v in phases.items()},
        "offered": len(agent.last_tools or []),
        "prompt_tokens": getattr(stats, "prompt_tokens", None), "cached_tokens": getattr(stats, "cached_tokens", None),
    }


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and p90 wall time, and the mean of each phase, over runs."""
    walls = [r["wall_ms"] for r in runs]
    means: dict[str, float] = defaultdict(float)
    for r in runs:
        for k, v in r["phases_ms"].items():
            means[k] += v / len(runs)
    return {
        "n": len(runs), "median_ms": statistics.median(walls), "p90_ms": pct(walls, 0.9),
        "mean_ms": statistics.fmean(walls), "phases_mean_ms": dict(means),
        "offered_mean": statistics.fmean(r["offered"] for r in runs),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m", help="preset name or bundle folder")
    ap.add_argument("--quant", default="auto", help="default auto: what agent-sdk run compiles")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--tools", default="1,11,30", help="tool counts: 1, 11 (the voice example's) and/or 30")
    ap.add_argument("--choice", default="required,auto", help="tool_choice values to run")
    ap.add_argument("--commands", type=int, default=COMMANDS)
    ap.add_argument("--repeat", type=int, default=2, help="timed passes over the commands (after one warm-up pass)")
    ap.add_argument("--json", type=Path, default=None, help="write every run and the summaries here")
    args = ap.parse_args()

    from agent_sdk.compiler import ensure_bundle
    from agent_sdk.runtime import Engine

    bundle = Path(args.model) if Path(args.model).is_dir() else ensure_bundle(args.model, quant=args.quant)
    engine = Engine(bundle, threads=args.threads)
    cmds = commands(args.commands)
    home = Home(data_dir=Path(tempfile.mkdtemp()), mixer=False)
    home_tools = list(home.tools())
    by_name = {t.name: t for t in home_tools}
    report: dict[str, Any] = {"model": str(bundle), "threads": args.threads, "commands": len(cmds), "runs": {}}
    try:
        for count in (int(c) for c in args.tools.split(",")):
            for choice in args.choice.split(","):
                if count == 1:  # each command with its own tool only: one agent per tool
                    agents = {n: make_agent(engine, [t], choice) for n, t in by_name.items()}
                    pick = lambda cmd: agents[cmd["calls"][0]["name"]]
                elif count >= len(home_tools):
                    agent = make_agent(engine, home_tools + extra_tools(count - len(home_tools)), choice)
                    pick = lambda cmd: agent
                else:
                    raise SystemExit(f"--tools {count}: use 1, or at least {len(home_tools)}")
                for cmd in cmds:  # warm-up: every prefix these commands use gets cached
                    time_command(pick(cmd), cmd["text"])
                runs = []
                for _ in range(args.repeat):
                    for cmd in cmds:
                        r = time_command(pick(cmd), cmd["text"])
                        r.update(command=cmd["text"], want=cmd["calls"][0]["name"])
                        runs.append(r)
                called = [r for r in runs if r["called"]]
                declined = [r for r in runs if not r["called"]]
                key = f"{count} tools, {choice}"
                report["runs"][key] = {
                    "called": summarize(called) if called else None,
                    "declined": summarize(declined) if declined else None,
                    "right_tool": sum(r["called"] == r["want"] for r in runs) / len(runs),
                    "records": runs,
                }
                print_summary(key, report["runs"][key])
    finally:
        home.close()
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


def print_summary(key: str, res: dict[str, Any]) -> None:
    """One block per configuration: wall times, then the mean split by phase."""
    print(f"\n== {key}: right tool {res['right_tool']:.0%}")
    for kind in ("called", "declined"):
        s = res[kind]
        if s is None:
            continue
        print(f"  {kind:8s} n={s['n']:3d}  median {s['median_ms']:7.1f} ms  p90 {s['p90_ms']:7.1f} ms  "
              f"mean {s['mean_ms']:7.1f} ms  tools offered {s['offered_mean']:.1f}")
        ph = s["phases_mean_ms"]
        parts = [f"{k} {ph[k]:.1f}" for k in PHASE_ORDER if ph.get(k, 0) >= 0.05]
        parts += [f"{k} {v:.1f}" for k, v in ph.items() if k not in PHASE_ORDER and v >= 0.05]
        print("    mean ms: " + ", ".join(parts))


if __name__ == "__main__":
    raise SystemExit(main())
