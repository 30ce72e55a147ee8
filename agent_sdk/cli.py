"""The ``agent-sdk`` command line.

Exit codes: 0 success, 2 usage error, 1 runtime error (one line on stderr;
the traceback only with ``--debug``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agent_sdk.errors import AgentSDKError, UserError
from agent_sdk.quantization.formats import FACTOR_DTYPES, KV_DTYPES, QUANT_NAMES

QUANT_CHOICES = (*QUANT_NAMES, "auto")
QUANT_HELP = (
    "quantization when compiling (default auto: each GGUF tensor in a layout that keeps the file's own values, "
    "per module for a mixed file such as a Q4_K_M; q4 for Q4_0/Q4_1 files and float checkpoints, as q4a16 "
    "(int16 activations) on x86 CPUs with AVX-512 VNNI)"
)

__all__ = ["build_parser", "ensure_bundle", "main"]

DEFAULT_PROMPT_MODEL = "smollm2-135m"


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise _UsageError(f"{self.prog}: error: {message}")


class _Progress:
    """A progress callback: a rich bar on a terminal, plain lines otherwise.

    Use as a context manager around the work. The bar opens at the first
    report (so a cached bundle shows none) and closes on exit.
    """

    def __init__(self, quiet: bool, title: str = "compiling") -> None:
        self.quiet = quiet
        self.title = title
        self._last = ""
        self._opened = False
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *_: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def _open_bar(self) -> None:
        self._opened = True
        if not sys.stderr.isatty():
            return
        try:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        except ImportError:
            return  # plain lines
        self._bar = Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(), console=Console(stderr=True), transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task(self.title, total=1.0)

    def __call__(self, msg: str, frac: float) -> None:
        if self.quiet:
            return
        if not self._opened:
            self._open_bar()
        if self._bar is not None:
            self._bar.update(self._task, completed=frac, description=f"{self.title}: {msg}")
        elif msg != self._last:
            self._last = msg
            print(f"[{int(frac * 100):3d}%] {msg}", file=sys.stderr, flush=True)


def ensure_bundle(
    model: str, *, quant: str, target: str = "host", quiet: bool = False, allow_download: bool = False
) -> Path:
    """Returns a bundle for ``model``, compiling it on first use (cached).

    :func:`agent_sdk.compiler.ensure_bundle` showing its progress as the
    command line does (a bar on a terminal, plain lines otherwise); scripts
    and examples import it from here.

    Args:
        model: Preset name, checkpoint path or bundle folder.
        quant: Quantization when compiling.
        target: Target when compiling.
        quiet: No progress output.
        allow_download: Let presets download weights from the hub.

    Returns:
        The bundle folder.
    """
    from agent_sdk.compiler.cache import ensure_bundle as find_or_compile

    with _Progress(quiet) as progress:
        return find_or_compile(
            model, quant=quant, target=target, quiet=quiet, allow_download=allow_download, progress=progress
        )


# ------------------------------------------------------------------ commands


def cmd_compile(args: argparse.Namespace) -> int:
    from agent_sdk.compiler import compile_model

    extra: dict[str, Any] = {}
    if args.low_rank_dtype and not args.adapter:
        raise UserError("--low-rank-dtype applies to an adapter: give --adapter DIR")
    with tempfile.TemporaryDirectory(prefix="agent-sdk-adapter-") as scratch:
        if args.adapter:
            extra = _adapter_compile_options(args, scratch=Path(scratch))
        with _Progress(args.json) as progress:
            result = compile_model(
                args.model, quant=args.quant, target=args.target, out=args.out, allow_download=args.download,
                progress=progress, kv_dtype=args.kv_dtype, **extra,
            )
    if args.json:
        print(json.dumps({k: result[k] for k in ("path", "name", "quantization", "target", "tvm_version", "parameters", "total_seconds")}))
    else:
        size = sum(f["size"] for f in result["files"].values()) / 2**20
        print(f"wrote {result['path']} ({size:.1f} MiB, {result['total_seconds']:.1f} s)")
    return 0


def _adapter_compile_options(args: argparse.Namespace, *, scratch: Path) -> dict[str, Any]:
    """``compile_model`` options for ``--adapter DIR``: the update beside the weights, the adapter in the bundle.

    On a GGUF base llama.cpp runs as the compiler does, the bundle also holds the adapter as llama.cpp's LoRA GGUF
    (``adapter.gguf``, written into ``scratch`` and copied by the compiler), as ``agent-sdk tune`` does.
    """
    from agent_sdk.manifest import sha256_file
    from agent_sdk.models.gguf_lora import GGUF_ADAPTER, gguf_adapter_refusal, gguf_lora_dtype, write_gguf_lora
    from agent_sdk.models.peft_adapter import ADAPTER_CONFIG, ADAPTER_WEIGHTS, adapter_layers, read_peft_adapter
    from agent_sdk.models.resolve import resolve_model

    folder = Path(args.adapter)
    config, updates = read_peft_adapter(folder)
    dtype = args.low_rank_dtype or "float16"
    ref = resolve_model(args.model, allow_download=args.download)
    files: dict[str, Path] = {f: folder / f for f in (ADAPTER_WEIGHTS, ADAPTER_CONFIG)}
    why_not = gguf_adapter_refusal(ref.path)
    if why_not is None:  # an adapter that does not fit the file fails here, before anything is compiled
        files[GGUF_ADAPTER] = write_gguf_lora(folder, ref.path, scratch / GGUF_ADAPTER,
                                              dtype=gguf_lora_dtype(dtype))
    else:  # on stderr: the --json line on stdout stays the only thing there
        print(f"note: the bundle holds no {GGUF_ADAPTER} for llama.cpp: {why_not}", file=sys.stderr)
    record = {"path": str(folder.resolve()), "sha256": sha256_file(folder / ADAPTER_WEIGHTS),
              "r": config["r"], "lora_alpha": config["lora_alpha"], "target_modules": config["target_modules"],
              "layers_to_transform": adapter_layers(config),
              "base_model_name_or_path": config.get("base_model_name_or_path"), "files": sorted(files)}
    # never the base model's own folder name: the run/serve bundle cache would take it for the base model
    name = f"{ref.name}-{folder.resolve().name}"
    return {"low_rank": updates, "low_rank_dtype": dtype, "name": name,
            "manifest_extra": {"adapter": record}, "extra_files": files}


def cmd_run(args: argparse.Namespace) -> int:
    from agent_sdk.runtime import Engine, SamplingParams

    if not args.prompt:
        raise UserError("no prompt given")
    prompt = " ".join(args.prompt)
    bundle = ensure_bundle(args.model, quant=args.quant, quiet=args.json, allow_download=args.download)
    engine = Engine(bundle, threads=args.threads, context_window=args.ctx)
    params = SamplingParams(
        temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
        repetition_penalty=args.repetition_penalty, seed=args.seed, max_tokens=args.max_tokens,
        stop=tuple(args.stop or ()),
    )
    if args.tools or args.mcp:
        return _run_agent(args, engine, params, prompt)
    messages = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": prompt})
    if args.raw:
        ids = engine.tokenizer.encode(prompt)
    else:
        ids = engine.tokenizer.encode(engine.tokenizer.apply_chat_template(messages, add_generation_prompt=True))
    if args.json:
        gen = engine.generate(ids, params)
        print(json.dumps({"text": gen.text, "calls": [], "stats": gen.stats.to_dict(), "finish_reason": gen.finish_reason}))
        return 0
    stream = engine.stream(ids, params)
    for ev in stream:
        sys.stdout.write(ev.text)
        sys.stdout.flush()
    sys.stdout.write("\n")
    st = stream.result.stats if stream.result else None
    if st and args.stats:
        print(
            f"[{st.prompt_tokens} prompt tokens ({st.cached_tokens} cached), {st.generated_tokens} generated; "
            f"prefill {st.prefill_tok_s:.1f} tok/s, decode {st.decode_tok_s:.1f} tok/s, "
            f"first token {st.ttft_ms:.0f} ms]",
            file=sys.stderr,
        )
    return 0


def _run_agent(args: argparse.Namespace, engine: Any, params: Any, prompt: str) -> int:
    from agent_sdk.agent import Agent
    from agent_sdk.tools import ToolRegistry, load_tools

    registry = ToolRegistry()
    for spec in args.tools or ():
        for t in load_tools(spec):
            registry.register(t)
    agent = Agent(
        engine, tools=registry, mcp=_mcp_servers(args), system=args.system, policy=_policy(args),
        constrain=not args.no_constrain, max_tokens=args.max_tokens, sampling=params, max_steps=args.max_steps,
        confirm=(lambda call: _confirm_tty(call)) if sys.stdin.isatty() and not args.json else None,
    )
    if args.all_tools:
        agent.tool_retrieval = None
    with agent:  # stops the --mcp servers
        return _print_agent_run(args, agent, prompt)


def _print_agent_run(args: argparse.Namespace, agent: Any, prompt: str) -> int:
    from agent_sdk.agent import FinalAnswer, TokenDelta, ToolCallEvent, ToolResultEvent

    result = None
    for ev in agent.stream(prompt):
        if isinstance(ev, FinalAnswer):
            result = ev.result
        elif args.json:
            continue
        elif isinstance(ev, TokenDelta):
            sys.stdout.write(ev.text)
            sys.stdout.flush()
        elif isinstance(ev, ToolCallEvent):
            print(f"[call] {ev.call.name}({json.dumps(ev.call.arguments)})", file=sys.stderr)
        elif isinstance(ev, ToolResultEvent):
            shown = ev.result.to_message() if ev.result.ok else f"error: {ev.result.error}"
            print(f"[result] {ev.call.name} -> {shown[:500]}", file=sys.stderr)
    assert result is not None
    if args.json:
        st = result.stats
        out_stats = {
            "prompt_tokens": st.prompt_tokens,
            "cached_tokens": st.cached_tokens,
            "generated_tokens": st.generated_tokens,
            "forced_tokens": st.forced_tokens,
            "model_seconds": round(st.model_seconds, 3),
            "steps": result.steps,
            "peak_rss_mb": round(_peak_rss(), 1),
        }
        print(json.dumps({"text": result.text, "calls": result.runs_json(), "stats": out_stats}))
    else:
        sys.stdout.write("\n")
    return 0


# ------------------------------------------------------------------ MCP


def _add_mcp_option(p: argparse.ArgumentParser, *, what: str = "the servers' tools join --tools") -> None:
    p.add_argument("--mcp", action="append", metavar='"COMMAND ARGS"|URL',
                   help=f"an MCP server: a command line (stdio) or an http(s):// URL (streamable HTTP); {what} "
                        "(repeatable; needs pip install 'agent-sdk[mcp]')")


def _mcp_servers(args: argparse.Namespace) -> list[str] | None:
    """The ``--mcp`` servers (None for none); the mcp package's own logs silenced, our errors say it all."""
    if not getattr(args, "mcp", None):
        return None
    if not args.debug:
        import logging

        logging.getLogger("mcp").setLevel(logging.CRITICAL)
    return list(args.mcp)


def cmd_mcp(args: argparse.Namespace) -> int:
    args.mcp_parser.print_help()
    return 2


def cmd_mcp_serve(args: argparse.Namespace) -> int:
    """``agent-sdk mcp serve``: the tools of files or modules as an MCP server, over stdio or streamable HTTP."""
    from agent_sdk.mcp.server import LOOPBACK_HOSTS, parse_host_port, serve_tools
    from agent_sdk.tools import ToolRegistry, load_tools

    registry = ToolRegistry()
    for spec in args.tools:
        for t in load_tools(spec):
            registry.register(t)
    if args.http is not None:
        host, _ = parse_host_port(args.http)
        if host not in LOOPBACK_HOSTS:
            print(f"warning: listening on {host}, reachable from the network, with no authentication: anyone who "
                  "can connect can run these tools", file=sys.stderr)
    guarded = [t.name for t in registry if t.requires_confirmation]

    def ready(where: str) -> None:
        note = ""
        if guarded:
            verb = "run (--allow-confirmation-tools)" if args.allow_confirmation_tools else "refused"
            note = f"; needing confirmation, {verb}: {', '.join(guarded)}"
        print(f"serving {len(registry)} tools over MCP at {where}{note} (Ctrl-C stops)", file=sys.stderr, flush=True)

    try:
        serve_tools(registry, http=args.http, name=args.name, allow_confirmation=args.allow_confirmation_tools,
                    on_ready=ready)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0


def _add_mcp_command(sub: Any) -> None:
    m = _add_command(
        sub, "mcp", cmd_mcp, help="serve @tool functions over MCP (Model Context Protocol)",
        description="MCP: `agent-sdk mcp serve` exposes @tool functions to any MCP client. (To use MCP servers'\n"
        "tools, give run, chat or serve --mcp \"COMMAND ARGS\" or --mcp URL.) See docs/mcp.md.",
        examples=["agent-sdk mcp serve examples/voice_assistant/home_tools.py",
                  "agent-sdk mcp serve my_tools.py --http 127.0.0.1:8765"],
    )
    m.set_defaults(mcp_parser=m)
    actions = m.add_subparsers(dest="mcp_command", metavar="ACTION", parser_class=_Parser)
    ms = _add_command(
        actions, "serve", cmd_mcp_serve, help="serve @tool functions as an MCP server",
        description="Serve the @tool functions of files or modules as an MCP server: over stdin/stdout (for an\n"
        "MCP client that starts this command), or streamable HTTP at http://HOST:PORT/mcp with --http\n"
        "(loopback unless told otherwise; no authentication). Tools that require confirmation are listed\n"
        "with destructiveHint and refused unless --allow-confirmation-tools.",
        examples=["agent-sdk mcp serve examples/voice_assistant/home_tools.py",
                  "agent-sdk mcp serve my_tools.py --http 127.0.0.1:8765",
                  "agent-sdk mcp serve my_package.tools --http 0.0.0.0:8765 --allow-confirmation-tools"],
    )
    ms.add_argument("tools", nargs="+", metavar="TOOLS_FILE_OR_MODULE", help="@tool functions to serve")
    ms.add_argument("--http", metavar="HOST:PORT", default=None,
                    help="serve streamable HTTP (port 0 picks a free one) instead of stdio")
    ms.add_argument("--allow-confirmation-tools", action="store_true",
                    help="run tools marked requires_confirmation (default: refuse them; no one here can confirm)")
    ms.add_argument("--name", default="agent-sdk", help="the server's name, as clients see it")


def _peak_rss() -> float:
    from agent_sdk.runtime.engine import peak_rss_mb

    return peak_rss_mb()


def _confirm_tty(call: Any) -> bool:
    answer = input(f"Run {call.name}({json.dumps(call.arguments)})? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def cmd_chat(args: argparse.Namespace) -> int:
    from agent_sdk.tui import run_chat

    return run_chat(
        model=args.model, tools=args.tools or [], load_bundle=ensure_bundle, quant=args.quant,
        threads=args.threads, system=args.system, max_tokens=args.max_tokens, mcp=_mcp_servers(args) or [],
    )


def cmd_eval(args: argparse.Namespace) -> int:
    from agent_sdk.eval import run_bfcl, score_bfcl
    from agent_sdk.runtime import Engine

    if args.suite != "bfcl":
        raise UserError(f"unknown evaluation {args.suite!r}; available: bfcl")
    bundle = ensure_bundle(args.model, quant=args.quant, quiet=False)
    engine = Engine(bundle, threads=args.threads)
    t0 = time.perf_counter()

    def progress(n: int, q: Any, calls: list[dict[str, Any]]) -> None:
        if not args.quiet:
            print(f"[{n}] {q.id}: {json.dumps(calls)[:160]}", file=sys.stderr, flush=True)

    summary = run_bfcl(
        engine, Path(args.data), categories=args.category or None, limit=args.limit,
        out=Path(args.out) if args.out else None, constrain=not args.no_constrain, policy=_policy(args),
        progress=progress, tool_pool=args.tool_pool, retrieval=_retrieval(args, engine), seed=args.seed,
    ).to_dict()
    summary["wall_seconds"] = round(time.perf_counter() - t0, 1)
    accuracy = score_bfcl(Path(args.data), Path(args.out), args.category) if args.out else None
    print(f"questions: {summary['questions']}")
    if accuracy is not None:
        for line in accuracy:
            print(line)
    print(f"valid-call rate: {summary['valid_call_rate']:.1%} of {summary['attempted_calls']} outputs that attempt a call parse as valid calls")
    print(f"call rate: {summary['call_rate']:.1%}")
    if summary["failed_questions"]:
        print(f"failed questions (tools without a grammar): {summary['failed_questions']}")
    print(f"mean latency: {summary['mean_latency_s']:.2f} s/question; {summary['tokens_per_s']:.1f} generated tokens/s")
    if args.tool_pool is not None:
        recall = summary["tool_recall"]
        print(f"tool pool: {args.tool_pool} tools, retrieval {args.retrieval}; right tools offered: "
              f"{'-' if recall is None else f'{recall:.1%}'}; mean prompt {summary['mean_prompt_tokens']:.0f} tokens")
    if args.json:
        print(json.dumps({**summary, "accuracy_lines": accuracy}))
    return 0


RETRIEVERS = ("bm25", "hidden", "none")


def _retrieval(args: argparse.Namespace, engine: Any) -> Any:
    """The tool retrieval ``--retrieval``, ``--top-k`` and ``--max-tools`` ask for (None: every tool offered)."""
    from agent_sdk.agent.retrieval import DEFAULT_MAX_TOOLS, DEFAULT_TOP_K, BM25Retriever, ToolRetrieval

    if args.retrieval is None:
        args.retrieval = "bm25" if args.tool_pool is not None else "none"
    if args.retrieval == "none":
        return None
    if args.retrieval == "hidden":
        from agent_sdk.agent.embedding_retrieval import HiddenStateRetriever

        retriever: Any = HiddenStateRetriever(engine)
    else:
        retriever = BM25Retriever()
    return ToolRetrieval(
        retriever=retriever,
        max_tools=DEFAULT_MAX_TOOLS if args.max_tools is None else args.max_tools,
        top_k=args.top_k or DEFAULT_TOP_K,
    )


def _policy(args: argparse.Namespace) -> Any:
    """The call policy the command line asks for (defaults: :data:`~agent_sdk.agent.policy.DEFAULT_POLICY`)."""
    from agent_sdk.agent.policy import DEFAULT_POLICY

    changes: dict[str, Any] = {}
    if getattr(args, "tool_choice", None):
        changes["tool_choice"] = args.tool_choice
    if getattr(args, "parallel_bias", None) is not None:
        changes["parallel_bias"] = args.parallel_bias
    if getattr(args, "no_value_bias", False):
        changes["value_bias"] = None
    if getattr(args, "no_rerank", False):
        changes["rerank"] = None
    if getattr(args, "no_tool_rerank", False):
        changes["rerank_tools"] = False
    if getattr(args, "no_spoken_values", False):
        changes["spoken_values"] = False
    if getattr(args, "no_conjoined", False):
        changes["conjoined"] = False
    if getattr(args, "no_follow_up", False):
        changes["follow_up"] = False
    if getattr(args, "no_state_questions", False):
        changes["state_questions"] = False
    if getattr(args, "strict_tools", False):
        changes["strict_tools"] = True
    return DEFAULT_POLICY.replace(**changes).with_threshold(getattr(args, "auto_threshold", None))


def _non_negative(text: str) -> float:
    """An option's number that must be >= 0 (a usage error at parse time, before any model loads)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _add_policy_options(p: argparse.ArgumentParser) -> None:
    """The call-policy options shared by run, serve and eval."""
    p.add_argument("--parallel-bias", type=_non_negative, default=None,
                   help="nats another parallel call must beat ending by (default: the policy's)")
    p.add_argument("--auto-threshold", type=float, default=None,
                   help="score a call needs in tool_choice auto (default: the policy's)")
    p.add_argument("--no-value-bias", action="store_true", help="no bias towards argument values from the request")
    p.add_argument("--no-rerank", action="store_true",
                   help="keep the greedy argument values (no re-ranking against the request's spans and numbers)")
    p.add_argument("--no-tool-rerank", action="store_true",
                   help="keep the tool the greedy pass named (default: the first call names the tool the model finds "
                        "likeliest as a whole name, not by its first token)")
    p.add_argument("--no-spoken-values", action="store_true",
                   help="keep the model's reading of values the request says in words (default: 'two hours' is "
                        "minutes=120, 'quarter past seven am' is '7:15 am', 'halfway' is a 'like 50 for halfway' "
                        "parameter's 50, 'in fahrenheit' is the enum value 'fahrenheit', 'back on' is on=true)")
    p.add_argument("--no-conjoined", action="store_true",
                   help="keep the model's calls when the request lists several items with 'and' (default: "
                        "'the kitchen and living room lights' makes one call per room)")
    p.add_argument("--no-follow-up", action="store_true",
                   help="do not ask again about a part of a compound request the calls leave out (default: "
                        "'lights off and set an alarm for 7 am' asks 'set an alarm for 7 am' alone when the "
                        "first call serves only the lights)")
    p.add_argument("--no-state-questions", action="store_true",
                   help="let a yes/no question about a state call a tool that changes it (default: in auto, 'are "
                        "the doors locked' does not call set_door_locks; a tool that reads may still answer)")
    p.add_argument("--strict-tools", action="store_true",
                   help="fail when a tool's schema cannot be turned into a call grammar (default: leave that tool "
                        "out with a warning saying why; the other tools stay callable)")


def cmd_tune(args: argparse.Namespace) -> int:
    from agent_sdk.tune.pipeline import CALIBRATION_COUNT, CALL_KEEP, tune
    from agent_sdk.tune.progress import TrainProgress
    from agent_sdk.tune.train import TuneSettings

    if args.merge and args.low_rank_dtype:
        raise UserError("--low-rank-dtype is how an update kept beside the weights is stored; --merge folds it into "
                        "them: give one of the two")
    settings = TuneSettings(
        rank=args.rank, alpha=args.alpha if args.alpha is not None else 2.0 * args.rank, learning_rate=args.lr,
        batch_size=args.batch_size, steps=args.steps, minutes=None if args.steps else args.minutes, seed=args.seed,
        threads=args.threads, dropout=args.dropout, prefix_grad=args.prefix_grad, top_layers=args.top_layers,
        decision_weight=args.decision_weight,
    )
    if args.targets:
        settings = dataclasses.replace(settings, targets=tuple(args.targets.split(",")))
    tools: Any = args.tools[0] if len(args.tools) == 1 else _tool_list(args.tools)
    with TrainProgress(quiet=args.json) as progress:
        result = tune(
            tools, model=args.model, quant=args.quant, merge=args.merge, low_rank_dtype=args.low_rank_dtype or "int8",
            target=args.target,
            out=Path(args.out) if args.out else None,
            examples_file=[Path(e) for e in args.examples] if args.examples else None, settings=settings,
            count=args.count,
            tool_listing=args.tool_listing, heldout=Path(args.heldout) if args.heldout else None,
            call_keep=CALL_KEEP if args.call_keep is None else args.call_keep, auto_probe=args.auto_probe,
            calibration_count=args.calibration_count or CALIBRATION_COUNT,
            resume=not args.restart,
            say=progress.note, on_step=progress,
        )
    tuning = result.manifest["tuning"]
    if args.json:
        print(json.dumps({"path": str(result.bundle), "stopped_early": result.stopped, **tuning}))
    else:
        size = sum(f["size"] for f in result.manifest["files"].values()) / 2**20
        print(f"wrote {result.bundle} ({size:.1f} MiB): {tuning['steps']} steps, final loss {tuning['final_loss']}")
        if result.heldout:
            h = result.heldout
            print(f"held-out: {h.tool_right}/{h.tool_total} tool requests right ({h.tool_accuracy:.1%}), "
                  f"{h.none_right}/{h.none_total} others declined ({h.decline_accuracy:.1%})")
        print(f"use it: agent-sdk run --model {result.bundle} --tools {' --tools '.join(args.tools)} \"...\"")
    return 130 if result.stopped else 0


def _tool_list(specs: list[str]) -> list[Any]:
    from agent_sdk.tools.loading import load_tools

    out: list[Any] = []
    for spec in specs:
        out += list(load_tools(spec))
    return out


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive(text: str) -> float:
    value = _non_negative(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _share(text: str) -> float:
    """An option's share, more than 0 and at most 1 (a usage error at parse time)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 1:  # NaN too
        raise argparse.ArgumentTypeError(f"must be a share more than 0 and at most 1, got {text}")
    return value


def cmd_serve(args: argparse.Namespace) -> int:
    from agent_sdk.runtime import Engine
    from agent_sdk.server import ServerConfig

    bundle = ensure_bundle(args.model, quant=args.quant, allow_download=args.download)
    engine = Engine(bundle, threads=args.threads, context_window=args.ctx)
    config = ServerConfig(model_id=str(engine.manifest.get("name") or args.model), max_tokens_limit=args.max_tokens_limit,
                          policy=_policy(args))
    servers = _mcp_servers(args)
    if servers:
        from agent_sdk.mcp import MCPToolset

        with MCPToolset(servers) as toolset:
            print(f"MCP tools, run here for requests that send no tools: {', '.join(t.name for t in toolset.tools)}",
                  file=sys.stderr)
            return _serve(args, engine, config, toolset)
    return _serve(args, engine, config, None)


def _serve(args: argparse.Namespace, engine: Any, config: Any, toolset: Any) -> int:
    from agent_sdk.server import make_server

    server = make_server(engine, host=args.host, port=args.port, config=config, mcp=toolset,
                         log=None if args.quiet else lambda line: print(line, file=sys.stderr, flush=True))
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {args.host}, reachable from the network, with no authentication", file=sys.stderr)
    print(f"serving {config.model_id} at {server.url} (OpenAI-compatible; Ctrl-C stops)", file=sys.stderr, flush=True)
    import signal
    import threading

    def stop(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    # SIGTERM (systemd, docker, kill) stops as Ctrl-C does; a shell starting the server in the background with `&`
    # leaves SIGINT ignored, and only SIGTERM reaches it then.
    previous = signal.signal(signal.SIGTERM, stop) if threading.current_thread() is threading.main_thread() else None
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.server_close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535 (0 picks a free one), got {port}")
    return port


def cmd_bench(args: argparse.Namespace) -> int:
    """Measures this engine (:func:`agent_sdk.runtime.bench.measure_engine`) and prints the results."""
    from agent_sdk.runtime import Engine
    from agent_sdk.runtime.bench import measure_engine

    bundle = ensure_bundle(args.model, quant=args.quant, quiet=args.json)
    engine = Engine(bundle, threads=args.threads)
    lengths = [int(x) for x in str(args.prompt_lens).split(",") if x.strip()]
    report = measure_engine(engine, prompt_lengths=lengths, decode_tokens=args.decode_tokens, repeats=args.repeats)
    out = {"bundle": str(bundle), **report.to_dict()}
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{bundle.name}: {report.threads} threads, load {report.load_s:.2f} s")
    print(f"{'prompt':>8} {'prefill tok/s':>14} {'TTFT ms':>9} {'decode tok/s':>13}")
    for r in out["results"]:
        print(f"{r['prompt_tokens']:>8} {r['prefill_tok_s']:>14} {r['ttft_ms']:>9} {r['decode_tok_s']:>13}")
    print(f"peak RSS {out['peak_rss_mb']} MiB  (compare with llama.cpp: python tools/bench_engine.py)")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    out: dict[str, Any] = {}
    try:
        import tvm

        info = tvm.support.libinfo()
        out["tvm"] = {
            "version": tvm.__version__,
            "llvm": info.get("USE_LLVM"),
            "llvm_version": info.get("LLVM_VERSION"),
            "vulkan": info.get("USE_VULKAN"),
            "cuda": info.get("USE_CUDA"),
        }
    except ImportError:
        out["tvm"] = None
    from agent_sdk.compiler import compiled_root, list_bundles
    from agent_sdk.compiler.targets import TARGETS
    from agent_sdk.models.info import model_info
    from agent_sdk.runtime.bench import cpu_name

    out["cpu"] = {"name": cpu_name(), "machine": platform.machine(), "cores": os.cpu_count()}
    out["targets"] = {name: t.description for name, t in TARGETS.items()}
    root = compiled_root()
    bundles = list_bundles(root)
    out["bundles"] = bundles
    if args.model:
        out.update(model_info(args.model))
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    tv = out["tvm"] or {}
    print(f"TVM {tv.get('version')}  LLVM {tv.get('llvm_version') or tv.get('llvm')}  Vulkan {tv.get('vulkan')}")
    print(f"CPU {out['cpu']['name']} ({out['cpu']['machine']}, {out['cpu']['cores']} cores)")
    print("targets: " + ", ".join(out["targets"]))
    print(f"bundles in {root}:" if bundles else f"no bundles in {root}")
    for b in bundles:
        print(f"  {b['path']}  ({b.get('quantization')}, {b.get('target')})")
    if args.model:
        print(f"model {out['model']}: {out['architecture']}, {out['parameters']:,} parameters")
        for k, v in out["config"].items():
            print(f"  {k}: {v}")
    return 0


# --------------------------------------------------------------------- parser


def _add_command(
    sub: Any, name: str, func: Any, *, help: str, examples: list[str], description: str | None = None
) -> argparse.ArgumentParser:
    """Adds subcommand ``name`` running ``func``, with ``examples`` listed (as written) after its options."""
    parser = sub.add_parser(
        name, help=help, description=description,
        epilog="examples:\n" + "\n".join(f"  {example}" for example in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=func)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for docs and tests)."""
    from agent_sdk.compiler.targets import TARGETS

    p = _Parser(prog="agent-sdk", description="On-device LLM agents for Raspberry Pi-class CPUs (TVM-compiled).")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    c = _add_command(
        sub, "compile", cmd_compile, help="compile a model into a bundle",
        description="Compile a model (preset, Hugging Face folder or GGUF file) into compiled/<model>-<quant>-<target>/.",
        examples=["agent-sdk compile smollm2-135m --quant q4 --target pi5",
                  "agent-sdk compile ./MobileLLM-125M --quant q8 --out /tmp/m125",
                  "agent-sdk compile smollm2-135m --adapter ./my-lora"],
    )
    c.add_argument("model", nargs="?", default=DEFAULT_PROMPT_MODEL, help="preset name, model folder or .gguf file")
    c.add_argument("--quant", choices=QUANT_CHOICES, default="auto", help=QUANT_HELP)
    c.add_argument(
        "--kv-dtype", choices=tuple(KV_DTYPES), default=None,
        help="KV-cache storage (default: the quantization's; see docs/cpu_kernels.md)",
    )
    c.add_argument("--target", default="host", help=f"one of: {', '.join(TARGETS)}")
    c.add_argument("--out", help="bundle folder (default compiled/<model>-<quant>-<target>)")
    c.add_argument("--adapter", metavar="DIR",
                   help="a PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors) for this "
                        "model: compiled as an update beside the weights (default folder "
                        "compiled/<model>-<adapter>-<quant>-<target>); on a Llama, Qwen or Gemma 3 GGUF the bundle "
                        "also holds it as llama.cpp's adapter.gguf (llama-cli -m MODEL.gguf --lora adapter.gguf)")
    c.add_argument("--low-rank-dtype", choices=FACTOR_DTYPES, default=None,
                   help="with --adapter: how its factors are stored (default float16: half the bytes each token "
                        "reads, each factor rounded to nearest; int8: a quarter, each row of a factor rounded to 255 "
                        "levels of its largest value; float32 keeps them exactly)")
    c.add_argument("--download", action="store_true", help="allow downloading preset weights from the Hugging Face hub")
    c.add_argument("--json", action="store_true", help="print a JSON summary")

    r = _add_command(
        sub, "run", cmd_run, help="answer one prompt",
        description="Answer a prompt with a model (compiled for this machine on first use).",
        examples=['agent-sdk run "What is the capital of France?"',
                  'agent-sdk run --json --max-tokens 64 "Name three planets."'],
    )
    r.add_argument("prompt", nargs="*", help="the prompt")
    r.add_argument("--model", default=DEFAULT_PROMPT_MODEL, help="preset, model path or bundle folder")
    r.add_argument("--quant", choices=QUANT_CHOICES, default="auto", help=QUANT_HELP)
    r.add_argument("--max-tokens", type=int, default=256)
    r.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    r.add_argument("--ctx", type=int, default=None, help="context window in tokens")
    r.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    r.add_argument("--top-k", type=int, default=0)
    r.add_argument("--top-p", type=float, default=1.0)
    r.add_argument("--repetition-penalty", type=float, default=1.0)
    r.add_argument("--seed", type=int, default=None)
    r.add_argument("--stop", action="append", help="stop string (repeatable)")
    r.add_argument("--system", help="system prompt")
    r.add_argument("--raw", action="store_true", help="no chat template: complete the prompt text as is")
    r.add_argument("--json", action="store_true", help='print {"text", "calls", "stats"} as one JSON object')
    r.add_argument("--stats", action="store_true", help="print speed statistics to stderr")
    r.add_argument("--download", action="store_true", help="allow downloading preset weights")
    r.add_argument("--tools", action="append", metavar="FILE_OR_MODULE", help="@tool functions to offer (repeatable)")
    r.add_argument("--tool-choice", default="auto", help="auto, required, none or a tool name")
    r.add_argument("--no-constrain", action="store_true", help="do not constrain tool calls with a grammar")
    r.add_argument("--max-steps", type=int, default=4, help="most model steps (calls + answer)")
    _add_mcp_option(r)
    r.add_argument("--all-tools", action="store_true",
                   help="list every tool in the prompt (default: above 8 tools, only those the request is about)")
    _add_policy_options(r)

    ch = _add_command(
        sub, "chat", cmd_chat, help="interactive chat with tools (rich TUI)",
        description="Chat with a model in the terminal: streamed answers, tool calls as panels,\n"
        "slash commands (/help). Ctrl-C stops an answer; Ctrl-D or /quit leaves.\n"
        "Plain text when stdout is not a terminal.",
        examples=["agent-sdk chat --tools examples/tools/weather.py",
                  'agent-sdk chat --model smollm2-135m --threads 2 --system "Be brief."'],
    )
    ch.add_argument("--model", default=DEFAULT_PROMPT_MODEL, help="preset, model path or bundle folder")
    ch.add_argument("--quant", choices=QUANT_CHOICES, default="auto", help=QUANT_HELP)
    ch.add_argument("--tools", action="append", metavar="FILE_OR_MODULE", help="@tool functions to offer (repeatable)")
    ch.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    ch.add_argument("--system", help="instructions placed before the tool descriptions")
    ch.add_argument("--max-tokens", type=int, default=256, help="most tokens per model step")
    _add_mcp_option(ch)

    e = _add_command(
        sub, "eval", cmd_eval, help="evaluate function calling (BFCL)",
        description="Run the agent on BFCL v4 raw files and write {id, calls} lines for BFCL's checker.",
        examples=["agent-sdk eval bfcl --data ../shared/eval/bfcl --category simple_python --limit 50 --out results.jsonl"],
    )
    e.add_argument("suite", choices=["bfcl"])
    e.add_argument("--data", required=True, help="folder with BFCL_v4_<category>.json")
    e.add_argument("--category", action="append", help="category (repeatable; default all present)")
    e.add_argument("--limit", type=int, default=None, help="questions per category")
    e.add_argument("--out", default=None, help="results .jsonl")
    e.add_argument("--no-constrain", action="store_true", help="free-running model, calls parsed from text")
    e.add_argument("--tool-choice", default="auto", choices=["auto", "required", "none"])
    e.add_argument("--tool-pool", type=_positive_int, default=None, metavar="N",
                   help="ask each question among N tools: its own and others drawn from the data (seeded)")
    e.add_argument("--retrieval", choices=RETRIEVERS, default=None,
                   help="how the tools offered per question are picked when there are more than --max-tools "
                        "(none: every tool in the prompt; default: bm25, as the agent, with --tool-pool; "
                        "none without, so runs compare with earlier ones)")
    e.add_argument("--top-k", type=_positive_int, default=None, help="tools offered when retrieving (default 5)")
    e.add_argument("--max-tools", type=int, default=None,
                   help="retrieve only above this many tools (default 8)")
    e.add_argument("--seed", type=int, default=0, help="seed of the tool pools")
    _add_policy_options(e)
    e.add_argument("--model", default=DEFAULT_PROMPT_MODEL)
    e.add_argument("--quant", choices=QUANT_CHOICES, default="auto", help=QUANT_HELP)
    e.add_argument("--threads", type=int, default=None)
    e.add_argument("--quiet", action="store_true")
    e.add_argument("--json", action="store_true", help="also print the summary as JSON")

    s = _add_command(
        sub, "serve", cmd_serve, help="OpenAI-compatible local server",
        description="Serve a model at /v1/chat/completions (tools, tool_choice, streaming, JSON-schema responses; "
        "calls constrained like the agent's), /v1/models and /health. Binds to this machine only by default.",
        examples=["agent-sdk serve", "agent-sdk serve --model smollm2-135m --port 8080 --threads 4",
                  ("curl http://127.0.0.1:8000/v1/chat/completions -H 'Content-Type: application/json' "
                   "-d '{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}'")],
    )
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=_port, default=8000, help="port (default 8000; 0 picks a free one)")
    _add_policy_options(s)
    s.add_argument("--model", default=DEFAULT_PROMPT_MODEL, help="preset, model path or bundle folder")
    s.add_argument("--quant", choices=QUANT_CHOICES, default="auto", help=QUANT_HELP)
    s.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    s.add_argument("--ctx", type=int, default=None, help="context window in tokens")
    s.add_argument("--max-tokens-limit", type=int, default=None, help="most tokens a request may ask for (default: the window)")
    s.add_argument("--download", action="store_true", help="allow downloading preset weights")
    s.add_argument("--quiet", action="store_true", help="no request log on stderr")
    _add_mcp_option(s, what="requests that send no tools are answered by the agent loop over the servers' tools, "
                            "run here (the calls made listed in tool_runs)")

    t = _add_command(
        sub, "tune", cmd_tune, help="specialize a model to your tools (LoRA on the CPU) into a tuned bundle",
        description="Generate training requests from the tools' schemas and docstrings, fine-tune LoRA adapters on\n"
        "the CPU (needs: pip install 'agent-sdk[tune]'), and compile the base model plus the update into a\n"
        "normal bundle (its manifest records the tuning; the adapter is kept in PEFT's format too, and for a\n"
        "Llama, Qwen or Gemma 3 GGUF base as llama.cpp's adapter.gguf: llama-cli -m BASE.gguf --lora adapter.gguf).\n"
        "Ctrl-C stops training and still writes a bundle from the weights reached; rerun to resume.",
        examples=["agent-sdk tune --tools examples/voice_assistant/home_tools.py --out compiled/home-tuned",
                  "agent-sdk tune --tools my_tools.py --examples mine.jsonl --minutes 10 --rank 8 --target pi5"],
    )
    t.add_argument("--tools", action="append", required=True, metavar="FILE_OR_MODULE",
                   help="@tool functions to tune for (repeatable; as run --tools)")
    t.add_argument("--examples", action="append", metavar="FILE.jsonl",
                   help='your own {"q", "calls": [{"name", "arguments"}]} lines ({slot} templates expanded; '
                        'repeatable)')
    t.add_argument("--model", default=DEFAULT_PROMPT_MODEL, help="base model: preset, model folder or .gguf file")
    t.add_argument("--quant", choices=QUANT_CHOICES, default="auto",
                   help="the tuned bundle's quantization (default auto: the layout that keeps the base file's "
                        "values, q4 for SmolLM2; the update stays beside the weights, see --low-rank-dtype)")
    t.add_argument("--merge", action="store_true",
                   help="fold the update into the weights instead (no extra compute per token; quantizing the sum "
                        "to q4 erases most of the update, q8 keeps most of it: docs/tuning.md)")
    t.add_argument("--low-rank-dtype", choices=FACTOR_DTYPES, default=None,
                   help="how the update kept beside the weights is stored (default int8: a quarter of float32's "
                        "bytes each token reads, each row of a factor as 255 levels of its largest value; float16: "
                        "half; the adapter is rounded to it before it is saved, so all three agree)")
    t.add_argument("--target", default="host", help=f"one of: {', '.join(TARGETS)}")
    budget = t.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=_positive, default=20.0, help="training time (default 20)")
    budget.add_argument("--steps", type=_positive_int, default=None, help="training steps (instead of --minutes)")
    t.add_argument("--rank", type=_positive_int, default=16, help="LoRA rank (default 16)")
    t.add_argument("--alpha", type=_positive, default=None, help="LoRA alpha (default 2 x rank)")
    t.add_argument("--targets", default=None,
                   help="comma-separated projections to adapt (default q,k,v,o,gate,up,down _proj)")
    t.add_argument("--lr", type=_positive, default=1e-3, help="peak learning rate (default 1e-3)")
    t.add_argument("--dropout", type=float, default=0.0,
                   help="dropout on the adapters' inputs while training, in [0, 1) (default 0)")
    t.add_argument("--prefix-grad", action="store_true",
                   help="train through the tool listing too (its keys and values keep their gradient; each step "
                        "costs more)")
    t.add_argument("--top-layers", type=_positive_int, default=None, metavar="N",
                   help="adapt only the last N blocks (default: every block); a step costs less, and so does each "
                        "token of the tuned bundle unless --merge")
    t.add_argument("--decision-weight", type=_positive, default=1.0, metavar="W",
                   help="loss weight of each example's first answer token (call or reply: what the auto decision "
                        "reads) against its other tokens (default 1)")
    t.add_argument("--batch-size", type=_positive_int, default=16)
    t.add_argument("--count", type=_positive_int, default=3000, help="generated requests (default 3000)")
    t.add_argument("--tool-listing", choices=("auto", "full", "compact", "names"), default="auto",
                   help="how the prompt lists the tools (names: the names only); recorded in the bundle (default "
                        "auto: names)")
    t.add_argument("--heldout", metavar="FILE.jsonl", help="score the tuned bundle on these requests (never trained on)")
    t.add_argument("--call-keep", type=_share, default=None,
                   help="share of right calls on fresh generated requests the bundle's auto threshold keeps; lower "
                        "declines more requests no tool serves and calls less (default: CALL_KEEP, 0.95)")
    t.add_argument("--calibration-count", type=_positive_int, default=None, metavar="N",
                   help="fresh generated requests the auto threshold is chosen on (default: CALIBRATION_COUNT, 800)")
    t.add_argument("--auto-probe", action="store_true",
                   help="also fit a call probe (the model's state at the end of the prompt, read from its logits) on "
                        "the calibration requests and add it to the bundle's auto score (measured on two tool sets: "
                        "within a call or a decline of the score without it; docs/tuning.md)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=_positive_int, default=None, help="training threads (default: all cores)")
    t.add_argument("--restart", action="store_true", help="ignore a checkpoint left by an earlier run")
    t.add_argument("--out", help="bundle folder (default compiled/<model>-tuned-<quant>-<target>)")
    t.add_argument("--json", action="store_true", help="print a JSON summary (the manifest's tuning record)")

    b = _add_command(
        sub, "bench", cmd_bench, help="measure prefill/decode speed and memory of a model on this machine",
        examples=["agent-sdk bench", "agent-sdk bench --threads 1 --prompt-lens 64,512 --json"],
    )
    b.add_argument("--model", default=DEFAULT_PROMPT_MODEL, help="preset, model path or bundle folder")
    b.add_argument("--quant", choices=QUANT_CHOICES, default="auto", help=QUANT_HELP)
    b.add_argument("--threads", type=int, default=None)
    b.add_argument("--prompt-lens", default="64,256", help="comma-separated prompt lengths in tokens")
    b.add_argument("--decode-tokens", type=int, default=64)
    b.add_argument("--repeats", type=int, default=2, help="best of N per prompt length")
    b.add_argument("--json", action="store_true")

    _add_mcp_command(sub)

    i = _add_command(
        sub, "info", cmd_info, help="TVM, CPU, bundles; a model's architecture and parameter count",
        examples=["agent-sdk info", "agent-sdk info --model mobilellm-125m --json"],
    )
    i.add_argument("--model", help="preset, model path or bundle folder")
    i.add_argument("--json", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``agent-sdk``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args))
    except _UsageError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except UserError as exc:
        if debug:
            raise
        print(f"agent-sdk: error: {exc}", file=sys.stderr)
        return 2
    except AgentSDKError as exc:
        if debug:
            raise
        msg = str(exc).splitlines()
        print(f"agent-sdk: error: {' / '.join(m.strip() for m in msg if m.strip())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("agent-sdk: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an SDK bug: one line unless --debug
        if debug:
            raise
        print(f"agent-sdk: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
