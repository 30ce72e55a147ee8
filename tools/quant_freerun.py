"""Free-running answers under several quantizations: how often the text changes, and whether the changed text is worse.

``tools/quant_drift.py`` compares logits on a fixed text; a user sees free
running text, where one flipped near-tie changes everything after it (the quick
start's "The capital of France..." becomes "L'Étoile, ..." with int8
activations). This runs a fixed list of varied chat prompts greedily through
each bundle and, with the first bundle as the reference, reports:

* ``same``: the answer is token for token the reference's;
* ``first diff``: for the others, the mean position of the first differing token;
* ``NLL under ref``: each answer's mean negative log-likelihood per token under
  the *reference* model (teacher-forced): how plausible the reference finds
  the other bundle's text (its own answers are its most likely, so compare
  the other bundles with each other, and with the reference's own);
* ``loops``: answers in which some 4-token sequence occurs 4 or more times;
* ``ended``: answers that stopped on their own (EOS) before ``--max-tokens``.

    python tools/quant_freerun.py --bundles compiled/smollm2-135m-q4-host,compiled/smollm2-135m-q4a8-host

Used for issue 15's choice of the default quantization (docs/cpu_kernels.md).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quant_drift import log_softmax

from agent_sdk.runtime import Engine, SamplingParams

#: Short requests of the kinds people type to a small assistant (facts, how-tos, writing, arithmetic, commands).
PROMPTS = [
    "What is the capital of France?",
    "What is the capital of Japan?",
    "How many legs does a spider have?",
    "Who wrote Romeo and Juliet?",
    "What is the boiling point of water in Celsius?",
    "Name three primary colors.",
    "What is 12 times 8?",
    "Is a tomato a fruit or a vegetable?",
    "Translate 'good morning' into Spanish.",
    "Give me a synonym for 'happy'.",
    "Write one sentence about the sea.",
    "Write a haiku about autumn.",
    "How do I boil an egg?",
    "What should I pack for a weekend hike?",
    "Explain what a computer virus is in one sentence.",
    "Why is the sky blue?",
    "What is photosynthesis?",
    "Tell me a fun fact about cats.",
    "Suggest a name for a pet goldfish.",
    "What day comes after Monday?",
    "How many minutes are in two hours?",
    "What is the largest planet in the solar system?",
    "Who painted the Mona Lisa?",
    "What language is spoken in Brazil?",
    "How can I sleep better?",
    "Give me a tip for learning a new language.",
    "What is the opposite of 'cold'?",
    "Summarize the story of Cinderella in two sentences.",
    "What is a noun?",
    "Recommend a book for a rainy day.",
    "How do plants drink water?",
    "What is the freezing point of water in Fahrenheit?",
    "Turn on the kitchen lights.",
    "Set a timer for ten minutes.",
    "What's the weather usually like in London?",
    "Hello! How are you today?",
    "Can you help me write a thank-you note to a friend?",
    "What are the three states of matter?",
    "Which is heavier, a kilogram of feathers or a kilogram of iron?",
    "What is the square root of 81?",
]

LOOP_NGRAM = 4
LOOP_REPEATS = 4


def looped(ids: list[int]) -> bool:
    """Some ``LOOP_NGRAM``-token sequence occurs ``LOOP_REPEATS`` or more times."""
    grams = Counter(tuple(ids[i : i + LOOP_NGRAM]) for i in range(len(ids) - LOOP_NGRAM + 1))
    return bool(grams) and max(grams.values()) >= LOOP_REPEATS


def mean_nll(engine: Engine, prompt_ids: list[int], answer: list[int]) -> float:
    """Mean negative log-likelihood per token of ``answer`` after ``prompt_ids`` under ``engine`` (teacher-forced)."""
    if not answer:
        return float("nan")
    last, rows = engine.continuation_logits(prompt_ids, [answer[:-1]] if len(answer) > 1 else [[]])
    logp = log_softmax(np.vstack([last[None, :], rows[0]]) if len(answer) > 1 else last[None, :])
    return float(-np.mean(logp[np.arange(len(answer)), answer]))


def main(argv: list[str] | None = None) -> int:
    """Entry point.

    Args:
        argv: Arguments without the program name.

    Returns:
        Exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundles", required=True, help="comma-separated bundle folders; the first is the reference")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--show", type=int, default=8, help="differing answers printed per bundle")
    args = parser.parse_args(argv)
    paths = [Path(p) for p in args.bundles.split(",") if p]
    if len(paths) < 2 or args.max_tokens < 1:
        parser.error("give at least two bundles and a positive --max-tokens")

    engines = [Engine(p, threads=args.threads) for p in paths]
    ref = engines[0]
    params = SamplingParams(temperature=0.0, max_tokens=args.max_tokens)
    prompts = [
        ref.tokenizer.encode(ref.tokenizer.apply_chat_template([{"role": "user", "content": p}],
                                                               add_generation_prompt=True))
        for p in PROMPTS
    ]
    answers: list[list[list[int]]] = []
    ended: list[int] = []
    for engine in engines:
        outs, stops = [], 0
        for ids in prompts:
            gen = engine.generate(ids, params)
            outs.append(list(gen.token_ids))
            stops += gen.finish_reason == "stop"
        answers.append(outs)
        ended.append(stops)

    print(f"{len(PROMPTS)} prompts, greedy, up to {args.max_tokens} tokens; reference {paths[0]}")
    print(f"{'bundle':<44} {'same':>6} {'first diff':>10} {'NLL under ref':>13} {'loops':>6} {'ended':>6}")
    for b, path in enumerate(paths):
        same = [a == r for a, r in zip(answers[b], answers[0])]
        firsts = [
            next((i for i, (x, y) in enumerate(zip(a, r)) if x != y), min(len(a), len(r)))
            for a, r, s in zip(answers[b], answers[0], same) if not s
        ]
        nll = float(np.nanmean([mean_nll(ref, ids, a) for ids, a in zip(prompts, answers[b])]))
        loops = sum(looped(a) for a in answers[b])
        first = f"{np.mean(firsts):.1f}" if firsts else "-"
        print(f"{path!s:<44} {sum(same):>3}/{len(same):<2} {first:>10} {nll:>13.3f} {loops:>6} {ended[b]:>6}")
    for b, path in enumerate(paths[1:], start=1):
        shown = 0
        for p, a, r in zip(PROMPTS, answers[b], answers[0]):
            if a != r and shown < args.show:
                shown += 1
                print(f"\n[{path.name}] {p}\n  ref: {ref.tokenizer.decode(r)[:150]!r}\n  got: "
                      f"{engines[b].tokenizer.decode(a)[:150]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
