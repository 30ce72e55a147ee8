"""Free-running greedy continuations: our bundle vs llama.cpp on the same GGUF file, and where they part.

Each prompt is continued 64 tokens (EOS ignored) by both engines; the report
gives how many tokens agree and, at the first difference, both engines' scores
of the two tokens, so a split can be told apart from a bug: when llama.cpp's
top two are within its own arithmetic error of each other (it rounds
activations to 8 bits) and ours are within ours, the split is a near-tie.

    python tools/greedy_vs_llama_cpp.py --gguf FILE --bundle DIR --chat      # an instruct model: chat template
    python tools/greedy_vs_llama_cpp.py --gguf gemma-3-270m-q4_k_m.gguf --bundle DIR   # a base model: plain text
    python tools/greedy_vs_llama_cpp.py --gguf FILE --bundle TUNED --chat    # a tuned bundle: llama.cpp applies its
                                                                             # adapter.gguf (or --lora FILE)

Needs llama-cpp-python (``./dev setup`` installs it). Used for docs/models.md, "GGUF formats".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _llama_peer import bundle_lora, open_llama  # found through the path above

PROMPTS = (
    "What is the capital of France?",
    "Write a short poem about the sea.",
    "List three uses of a paperclip, then explain which is the most surprising.",
    "Explain how a refrigerator keeps food cold.",
    "Turn on the kitchen lights and set a timer for ten minutes.",
    "Translate 'good morning, how are you?' into Spanish and German.",
    "What are the main differences between a cat and a dog as pets?",
    "Describe the water cycle in four steps.",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gguf", required=True, type=Path, help="the GGUF file llama.cpp runs")
    parser.add_argument("--bundle", required=True, type=Path, help="our bundle compiled from the same file")
    parser.add_argument("--chat", action="store_true", help="wrap each prompt in the model's chat template")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--lora", type=Path, default=None,
                        help="a LoRA adapter GGUF for llama.cpp (default: the bundle's adapter.gguf, if it has one)")
    args = parser.parse_args()
    args.lora = bundle_lora(args.bundle, args.lora)
    if args.lora is not None:
        print(f"llama.cpp applies the LoRA adapter {args.lora}")

    from agent_sdk.runtime import Engine, SamplingParams

    engine = Engine(args.bundle)
    engine.eos_token_ids.clear()
    tok = engine.tokenizer
    llm = open_llama(args.gguf, lora=args.lora, n_ctx=512, n_threads=2, logits_all=True, verbose=False)
    whole = 0
    for text in PROMPTS:
        if args.chat:
            ids = tok.encode(tok.apply_chat_template([{"role": "user", "content": text}]))
        else:
            ids = engine.encode_prompt(text)
        engine.reset()
        ours = engine.generate(ids, SamplingParams(max_tokens=args.tokens, stop_token_ids=())).token_ids
        llm.reset()
        llm.eval(ids)
        theirs: list[int] = []
        for _ in range(args.tokens):
            theirs.append(int(np.argmax(llm.scores[llm.n_tokens - 1])))
            llm.eval([theirs[-1]])
        k = 0
        while k < args.tokens and ours[k] == theirs[k]:
            k += 1
        note = ""
        if k < args.tokens:
            s = np.asarray(llm.scores[len(ids) + k - 1], dtype=np.float64)
            engine.reset()
            lg = engine.logits(ids + ours[:k])[-1]
            a, b = theirs[k], ours[k]
            note = (f"; at {k}: llama.cpp {a}:{s[a]:.2f} over {b}:{s[b]:.2f} (by {s[a] - s[b]:.3f}), "
                    f"ours {b}:{lg[b]:.2f} over {a}:{lg[a]:.2f} (by {lg[b] - lg[a]:.3f})")
        else:
            whole += 1
        print(f"{text[:44]!r:48} {k}/{args.tokens} equal{note}", flush=True)
    print(f"prompts with all {args.tokens} greedy tokens equal: {whole}/{len(PROMPTS)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
