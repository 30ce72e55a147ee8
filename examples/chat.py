"""A minimal streaming chat loop on the engine (no tools yet).

Run:  .venv/bin/python examples/chat.py [--model smollm2-135m] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys

from agent_sdk import Engine, SamplingParams
from agent_sdk.cli import ensure_bundle


def main() -> int:
    """Reads lines from stdin and streams the model's replies."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    engine = Engine(ensure_bundle(args.model, quant="auto"), threads=args.threads)
    messages: list[dict[str, str]] = []
    params = SamplingParams(max_tokens=256, temperature=0.7, top_p=0.9, seed=0)
    print("Type a message (Ctrl-D to quit).", file=sys.stderr)
    for line in sys.stdin:
        if not line.strip():
            continue
        messages.append({"role": "user", "content": line.strip()})
        prompt = engine.tokenizer.encode(engine.tokenizer.apply_chat_template(messages))
        stream = engine.stream(prompt, params)
        for event in stream:  # earlier turns stay in the KV cache: only the new message is prefilled
            print(event.text, end="", flush=True)
        print()
        assert stream.result is not None
        messages.append({"role": "assistant", "content": stream.result.text})
    return 0


if __name__ == "__main__":
    sys.exit(main())
