#!/usr/bin/env python3
"""Check that ARM64 (Raspberry Pi) builds run and agree with the host build.

For every quantization in ``--quant`` the model is compiled for the host and
for each of ``--targets`` (``pi4``, ``pi5``, ``aarch64``). The host bundle is
run in this process; each ARM bundle is run by an aarch64 CPython under
``qemu-aarch64-static`` (through ``tools/arm64_env.py run``, with the CPU model
of the board: Cortex-A72 for ``pi4``, Cortex-A76 for ``pi5``). Both sides
compute the logits of the same prompt at every position and 8 greedy tokens
(EOS disabled, so exactly that many) with the logits of each of those decode
steps, and the results are compared:

* PASS when ``max |logit difference| <= 1e-3 * max(1, max |host logit|)``
  at every prompt position and every decode step, the greedy tokens are
  identical, the guest reports ``aarch64`` and the
  library is an AArch64 ELF (``e_machine`` 183).
* Modes with int8 activations (``q4a8``) get a bound of their own. Their
  integer part is bit-identical on every CPU (``tests/unit/test_int8_kernels.py``
  and the qemu test check that), but an activation is rounded in steps of
  ``max|x| / 127`` per group, so the 1-ulp float differences that the other
  modes show (reductions vectorized with another width) move a value by a
  whole step now and then; on SmolLM2-135M that moves logits by up to ~2.5%
  of their range (docs/cpu_kernels.md). PASS when ``max |logit difference|
  <= 0.05 * max(1, max |host logit|)`` (the bound the mode's accuracy test
  puts on its distance from the float model), the mean cosine of centred
  logits is >= 0.999, and the greedy tokens are identical up to a step where
  the guest's token is within that bound of the host's best one in the host's
  own logits (a near tie; the report names the step); the tokens after it
  follow another text and are not compared.

By default the model is a tiny random MobileLLM checkpoint (layer sharing,
shared embedding, ``pytorch_model.bin``) written by the test fixtures;
``--model`` takes any checkpoint, GGUF file or preset (e.g. ``smollm2-135m``);
given several times, every model is compiled and compared, and each target's
bundles run in one guest process (qemu and the imports start once).
``--json FILE`` writes the verdicts for scripts and tests.

``--disasm`` also disassembles the ``pi5`` library with
``aarch64-linux-gnu-objdump`` and counts NEON instructions per function.

Bundles whose tokenizer is a SentencePiece ``tokenizer.model`` (MobileLLM)
need the ``sentencepiece`` module in the guest. When the arm64 environment of
``tools/arm64_env.py`` has none, its aarch64 wheel (the host's version) is
downloaded once into ``~/.cache/agent_sdk/arm64_check`` and added to the
guest's ``PYTHONPATH``; this is announced on the output.

Usage::

    python tools/arm64_env.py setup            # once
    python tools/arm64_check.py                # tiny model, q4, pi4 + pi5
    python tools/arm64_check.py --targets pi5 --quant f32,q4 --disasm
    python tools/arm64_check.py --model smollm2-135m --targets pi5

Exit codes: 0 all PASS, 1 a comparison FAILED, 2 the check could not run
(missing qemu, cross compiler or arm64 environment, a compile or guest error).
Emulated timings say nothing about the speed of a real board.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np

TOOLS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TOOLS_DIR.parent
for _path in (str(REPO_ROOT), str(TOOLS_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import arm64_env  # tools/arm64_env.py (standard library only)

#: qemu CPU model that stands in for each ARM target.
TARGET_CPUS: dict[str, str] = {"pi4": "cortex-a72", "pi5": "cortex-a76", "aarch64": "cortex-a72"}
EM_AARCH64 = 183
ELF_MACHINES = {3: "x86", 40: "ARM", 62: "x86-64", 183: "AArch64", 243: "RISC-V"}
RTOL = 1e-3
#: Bound for modes with int8 activations, relative to max |host logit| (see the module doc).
INT8_ACT_RTOL = 0.05
#: Mean cosine of centred logits, guest vs host, for modes with int8 activations.
INT8_ACT_MIN_COSINE = 0.999
DEFAULT_PROMPT = "Once upon a time, there was a little cat named Tom. He lived in a house near the sea."
EXTRA_CACHE = Path("~/.cache/agent_sdk/arm64_check")
OBJDUMP = "aarch64-linux-gnu-objdump"

#: Run by the aarch64 interpreter: ``guest.py JOBS_JSON``, a list of ``{bundle, ids, max_tokens, out}``; one
#: process runs every bundle of a target, so qemu and the imports start once.
GUEST_SCRIPT = '''\
"""arm64_check guest: logits at every prompt position, greedy tokens and the logits of each decode step."""
import json
import platform
import sys
import time

t_start = time.perf_counter()
import numpy as np

from agent_sdk.runtime import Engine, SamplingParams

t_import = time.perf_counter() - t_start
with open(sys.argv[1]) as f:
    jobs = json.load(f)
for job in jobs:
    ids = [int(i) for i in job["ids"]]
    t0 = time.perf_counter()
    eng = Engine(job["bundle"])
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    logits = np.asarray(eng.logits(ids), dtype=np.float32)
    t_logits = time.perf_counter() - t0
    eng.eos_token_ids.clear()
    seen = []

    def capture(_out, row):
        seen.append(np.array(row, dtype=np.float32))
        return row

    t0 = time.perf_counter()
    gen = eng.generate(ids, SamplingParams(max_tokens=int(job["max_tokens"]), stop_token_ids=()),
                       logits_processor=capture)
    t_generate = time.perf_counter() - t0
    info = {
        "machine": platform.machine(),
        "python": sys.version.split()[0],
        "threads": eng.threads,
        "import_s": t_import,
        "load_s": t_load,
        "logits_s": t_logits,
        "generate_s": t_generate,
    }
    np.savez(job["out"], logits=logits, tokens=np.asarray(gen.token_ids, dtype=np.int64),
             decode_logits=np.stack(seen) if seen else np.zeros((0, logits.shape[-1]), np.float32),
             info=json.dumps(info))
    print(f"guest: {job['bundle']}: machine={info['machine']} python={info['python']} threads={info['threads']} "
          f"import={t_import:.2f}s load={t_load:.2f}s logits={t_logits:.2f}s generate={t_generate:.2f}s")
    del eng
'''


class CheckError(Exception):
    """The check could not run (reported as a message, exit code 2)."""


@dataclass
class RunResult:
    """Logits and greedy tokens of one bundle.

    Attributes:
        logits: ``(n, vocab)`` float32 logits at every prompt position.
        tokens: Greedy token ids.
        info: Machine name and timings (seconds) of the run.
        step_logits: ``(len(tokens), vocab)`` logits that chose each greedy
            token, from one pass over the prompt and the tokens (host runs of
            int8-activation modes only, to judge near ties).
        decode_logits: ``(len(tokens), vocab)`` logits the decode loop
            sampled each greedy token from (the first from the prefill, the
            others from single-token decode steps over the KV cache).
    """

    logits: np.ndarray
    tokens: list[int]
    info: dict[str, Any] = field(default_factory=dict)
    step_logits: np.ndarray | None = None
    decode_logits: np.ndarray | None = None


@dataclass
class Verdict:
    """The comparison of an ARM run against the host run.

    Attributes:
        model: Label of the model.
        quant: Quantization name.
        target: ARM target name.
        cpu: qemu CPU model used.
        machine: ``platform.machine()`` reported by the guest.
        elf: ELF machine description of the library.
        max_diff: Max absolute logit difference at the prompt positions.
        max_logit: Max absolute host logit (prompt positions and decode steps).
        tolerance: Allowed max difference.
        argmax_agree: Positions whose argmax matches the host's.
        positions: Prompt positions compared.
        tokens_equal: Whether the greedy tokens match.
        wall_s: Wall time of the guest process (qemu start to exit).
        passed: The overall verdict.
        int8_act: Whether the int8-activation criterion applied.
        cosine: Mean cosine of centred logits, guest vs host.
        diverged_at: First greedy step whose tokens differ, or None.
        tie_gap: At that step, host logit of the host's token minus that of the guest's.
        decode_diff: Max absolute difference of the decode steps' logits (for
            int8-activation modes only the steps before ``diverged_at``).
        decode_steps: Decode steps whose logits were compared.
    """

    model: str
    quant: str
    target: str
    cpu: str
    machine: str
    elf: str
    max_diff: float
    max_logit: float
    tolerance: float
    argmax_agree: int
    positions: int
    tokens_equal: bool
    wall_s: float
    passed: bool
    int8_act: bool = False
    cosine: float = 1.0
    diverged_at: int | None = None
    tie_gap: float | None = None
    decode_diff: float = 0.0
    decode_steps: int = 0


def out(message: str = "") -> None:
    """Prints one line of the report, flushed so it interleaves with children.

    Args:
        message: The text.
    """
    print(message, flush=True)


def parse_list(value: str) -> list[str]:
    """Splits a comma-separated option value.

    Args:
        value: For example ``"pi4,pi5"``.

    Returns:
        The non-empty items, stripped, in order, without duplicates.
    """
    items: list[str] = []
    for item in value.split(","):
        item = item.strip()
        if item and item not in items:
            items.append(item)
    return items


# ------------------------------------------------------------------------- ELF


def elf_machine(path: Path) -> tuple[int, str]:
    """Reads the ELF header of a shared library.

    Args:
        path: The file.

    Returns:
        ``(e_machine, description)``, e.g. ``(183, "ELF64 LSB AArch64")``; the
        number is -1 when the file is not ELF.
    """
    header = path.read_bytes()[:20]
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return -1, "not an ELF file"
    bits = {1: "ELF32", 2: "ELF64"}.get(header[4], "ELF?")
    order: Literal["little", "big"] = "little" if header[5] == 1 else "big"
    machine = int.from_bytes(header[18:20], order)
    name = ELF_MACHINES.get(machine, "unknown")
    return machine, f"{bits} {'LSB' if order == 'little' else 'MSB'} {name} (e_machine {machine})"


def file_description(path: Path) -> str | None:
    """Returns the output of ``file -b`` for a path, when ``file`` exists.

    Args:
        path: The file.

    Returns:
        The description, or None without the ``file`` program.
    """
    if shutil.which("file") is None:
        return None
    proc = subprocess.run(["file", "-b", str(path)], capture_output=True, text=True, check=False)
    return proc.stdout.strip() or None


# ---------------------------------------------------------------- model, compile


def prepare_model(spec: str | None, work: Path) -> tuple[str | Path, str]:
    """Returns the model to compile and a label for it.

    Args:
        spec: ``--model`` value, or None for the tiny generated checkpoint.
        work: Work folder for the generated checkpoint.

    Returns:
        ``(model, label)`` for :func:`agent_sdk.compiler.compile_model`.
    """
    if spec:
        path = Path(spec).expanduser()
        return (path.resolve() if path.exists() else spec), spec
    from tests.fixtures.checkpoints import write_mobilellm_checkpoint

    ckpt = write_mobilellm_checkpoint(
        work / "tiny-mobilellm", layer_sharing=True, share_embedding=True, weights="bin"
    )
    return ckpt, "tiny MobileLLM (random, layer_sharing, share_embedding, pytorch_model.bin)"


def compile_bundle(
    model: str | Path, quant: str, target: str, dest: Path, allow_download: bool, kv_dtype: str | None = None
) -> tuple[Path, float]:
    """Compiles one bundle.

    Args:
        model: Checkpoint path or preset.
        quant: Quantization name.
        target: Target preset name.
        dest: Bundle folder.
        allow_download: Let a preset download its weights.
        kv_dtype: KV-cache storage (``f32``/``f16``); default: the quantization's.

    Returns:
        The bundle folder and the seconds taken.
    """
    from agent_sdk.compiler import compile_model

    started = time.perf_counter()
    result = compile_model(
        model, quant=quant, target=target, out=dest, name=f"check-{quant}-{target}", allow_download=allow_download,
        kv_dtype=kv_dtype,
    )
    return result.path, time.perf_counter() - started


def describe_library(bundle: Path) -> tuple[int, str]:
    """Prints and returns the ELF machine of a bundle's library.

    Args:
        bundle: Bundle folder.

    Returns:
        ``(e_machine, description)``.
    """
    lib = bundle / json.loads((bundle / "manifest.json").read_text())["library"]
    machine, desc = elf_machine(lib)
    size_kib = lib.stat().st_size / 1024
    out(f"      {lib.name}: {desc}, {size_kib:.0f} KiB")
    described = file_description(lib)
    if described:
        out(f"      file: {described}")
    return machine, desc


# ------------------------------------------------------------------------- runs


def int8_activations(quant: str) -> bool:
    """Whether a quantization rounds the linear layers' inputs to int8 (``q4a8``).

    Args:
        quant: Quantization name.
    """
    from agent_sdk.quantization.formats import QuantConfig

    return quant != "auto" and QuantConfig.from_name(quant).act == "int8"


def run_host(bundle: Path, ids: list[int], max_tokens: int, *, step_logits: bool = False) -> RunResult:
    """Runs a host bundle in this process.

    Args:
        bundle: Host bundle folder.
        ids: Prompt token ids.
        max_tokens: Greedy tokens to generate.
        step_logits: Also keep the logits that chose each greedy token.

    Returns:
        Logits, tokens and timings.
    """
    from agent_sdk.runtime import Engine, SamplingParams

    t0 = time.perf_counter()
    eng = Engine(bundle)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    logits = np.asarray(eng.logits(ids), dtype=np.float32)
    logits_s = time.perf_counter() - t0
    eng.eos_token_ids.clear()
    seen: list[np.ndarray] = []

    def capture(_out: list[int], row: np.ndarray) -> np.ndarray:
        seen.append(np.array(row, dtype=np.float32))
        return row

    t0 = time.perf_counter()
    gen = eng.generate(ids, SamplingParams(max_tokens=max_tokens, stop_token_ids=()), logits_processor=capture)
    generate_s = time.perf_counter() - t0
    info = {"machine": platform.machine(), "load_s": load_s, "logits_s": logits_s, "generate_s": generate_s}
    tokens = list(gen.token_ids)
    steps = None
    if step_logits and tokens:
        steps = np.asarray(eng.logits(ids + tokens[:-1]), dtype=np.float32)[len(ids) - 1:]
    decode = np.stack(seen) if seen else np.zeros((0, logits.shape[-1]), np.float32)
    return RunResult(logits, tokens, info, steps, decode)


def _mean_centred_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float64) - a.mean(axis=-1, keepdims=True)
    b = b.astype(np.float64) - b.mean(axis=-1, keepdims=True)
    num = (a * b).sum(-1)
    den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return float((num / np.maximum(den, 1e-30)).mean())


def guest_extra_paths(layout: arm64_env.Layout, bundles: Sequence[Path]) -> list[Path]:
    """Provides guest modules that the bundles need beyond the arm64 wheels.

    Only ``sentencepiece`` (for ``tokenizer.model`` bundles) can be missing.

    Args:
        layout: The arm64 environment's cache paths.
        bundles: The ARM bundles to be run.

    Returns:
        Folders to add to the guest's ``PYTHONPATH``.

    Raises:
        CheckError: If the wheel cannot be downloaded.
    """
    needs_sp = any((b / "tokenizer.model").exists() and not (b / "tokenizer.json").exists() for b in bundles)
    if not needs_sp or (layout.site / "sentencepiece").is_dir():
        return []
    try:
        version: str | None = metadata.version("sentencepiece")
    except metadata.PackageNotFoundError:
        version = None
    requirement = f"sentencepiece=={version}" if version else "sentencepiece"
    dest = EXTRA_CACHE.expanduser() / f"site-{requirement.replace('==', '-')}"
    if (dest / "sentencepiece").is_dir():
        out(f"note: the arm64 environment has no sentencepiece (tokenizer.model bundles need it); "
            f"using the aarch64 {requirement} cached in {dest}")
        return [dest]
    out(f"note: the arm64 environment has no sentencepiece (tokenizer.model bundles need it); "
        f"downloading the aarch64 {requirement} wheel into {dest}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    platforms = [arg for tag in arm64_env.WHEEL_PLATFORMS for arg in ("--platform", tag)]
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as fresh:
        cmd = [
            *arm64_env.pip_command(), "download", "-q", "--no-deps", "--only-binary=:all:",
            "--python-version", arm64_env.GUEST_PY_VERSION, "--implementation", "cp",
            *platforms, "--dest", fresh, requirement,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wheels = sorted(Path(fresh).glob("*aarch64*.whl"))
        if proc.returncode != 0 or not wheels:
            raise CheckError(f"could not download an aarch64 {requirement} wheel:\n{proc.stderr.strip()}")
        staging.mkdir()
        for wheel in wheels:
            arm64_env.unpack_wheel(wheel, staging)
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    return [dest]


def run_guest(
    jobs: Sequence[tuple[Path, list[int]]],
    max_tokens: int,
    cpu: str,
    work: Path,
    cache: Path,
    extra_paths: Sequence[Path],
    timeout: float,
) -> tuple[list[RunResult], float]:
    """Runs ARM bundles in one aarch64 process under qemu (``tools/arm64_env.py run``).

    Args:
        jobs: ``(bundle folder, prompt token ids)`` per bundle, run in order.
        max_tokens: Greedy tokens to generate.
        cpu: qemu CPU model.
        work: Shared folder for the guest script and its results.
        cache: arm64 environment cache folder.
        extra_paths: More guest ``PYTHONPATH`` folders (after the repo root).
        timeout: Seconds before the guest is stopped.

    Returns:
        The guest's results, one per job, and the wall time of the whole guest process.

    Raises:
        CheckError: If the guest fails or times out.
    """
    script = work / "arm64_check_guest.py"
    script.write_text(GUEST_SCRIPT)
    result_files = [work / f"guest-{bundle.name}.npz" for bundle, _ in jobs]
    for result_file in result_files:
        result_file.unlink(missing_ok=True)
    jobs_file = work / f"guest-jobs-{cpu}.json"
    jobs_file.write_text(json.dumps([
        {"bundle": str(bundle), "ids": ids, "max_tokens": max_tokens, "out": str(result_file)}
        for (bundle, ids), result_file in zip(jobs, result_files)
    ]))
    cmd = [
        sys.executable, str(TOOLS_DIR / "arm64_env.py"), "run", "--cpu", cpu, "--cache", str(cache),
        "--pythonpath", str(REPO_ROOT), *(str(p) for p in extra_paths),
        "--", str(script), str(jobs_file),
    ]
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise CheckError(f"the guest did not finish within {timeout:.0f}s: {' '.join(cmd)}") from exc
    wall = time.perf_counter() - started
    for line in proc.stdout.splitlines():
        out(f"      {line}")
    missing = [f.name for f in result_files if not f.exists()]
    if proc.returncode != 0 or missing:
        raise CheckError(
            f"the guest failed (exit {proc.returncode}; no {', '.join(missing) or 'missing results'}):\n"
            f"{proc.stderr.strip()}"
        )
    results = []
    for result_file in result_files:
        with np.load(result_file) as data:
            info = json.loads(str(data["info"]))
            results.append(RunResult(
                np.asarray(data["logits"]), [int(t) for t in data["tokens"]], info,
                decode_logits=np.asarray(data["decode_logits"]),
            ))
    return results, wall


def compare(
    host: RunResult,
    arm: RunResult,
    *,
    quant: str,
    target: str,
    cpu: str,
    elf: tuple[int, str],
    wall: float,
    model: str = "",
) -> Verdict:
    """Compares an ARM run with the host run.

    The logits at every prompt position and those of every decode step (up to
    the first differing token for int8-activation modes; with float
    activations the tokens must be equal) are held to one tolerance.

    Args:
        host: The host results.
        arm: The guest results.
        quant: Quantization name.
        target: ARM target name.
        cpu: qemu CPU model used.
        elf: ``(e_machine, description)`` of the ARM library.
        wall: Guest process wall time.
        model: Label of the model.

    Returns:
        The verdict.
    """
    machine = str(arm.info.get("machine"))
    cosine = 0.0
    if arm.logits.shape != host.logits.shape:
        max_diff = float("inf")
        agree = 0
    else:
        max_diff = float(np.abs(arm.logits.astype(np.float64) - host.logits.astype(np.float64)).max())
        agree = int((arm.logits.argmax(axis=-1) == host.logits.argmax(axis=-1)).sum())
        cosine = _mean_centred_cosine(arm.logits, host.logits)
    max_logit = float(np.abs(host.logits).max())
    if host.decode_logits is not None and host.decode_logits.size:
        max_logit = max(max_logit, float(np.abs(host.decode_logits).max()))
    int8_act = int8_activations(quant)
    tolerance = (INT8_ACT_RTOL if int8_act else RTOL) * max(1.0, max_logit)
    tokens_equal = arm.tokens == host.tokens
    diverged_at = next((i for i, (a, h) in enumerate(zip(arm.tokens, host.tokens)) if a != h), None)
    if diverged_at is None and len(arm.tokens) != len(host.tokens):
        diverged_at = min(len(arm.tokens), len(host.tokens))
    tie_gap = None
    tokens_ok = tokens_equal
    if int8_act:
        if diverged_at is not None and host.step_logits is not None and diverged_at < min(
            len(arm.tokens), len(host.tokens), len(host.step_logits)
        ):
            row = host.step_logits[diverged_at]
            tie_gap = float(row[host.tokens[diverged_at]] - row[arm.tokens[diverged_at]])
            tokens_ok = tie_gap <= tolerance
        tokens_ok = tokens_ok and cosine >= INT8_ACT_MIN_COSINE
    decode_diff, decode_steps = 0.0, 0
    hd, ad = host.decode_logits, arm.decode_logits
    if hd is not None and ad is not None:
        # Rows after a differing token follow another text; rows up to and including it share their input.
        decode_steps = min(len(hd), len(ad), len(host.tokens) if diverged_at is None else diverged_at + 1)
        if hd.shape[1:] != ad.shape[1:]:
            decode_diff = float("inf")
        elif decode_steps:
            decode_diff = float(np.abs(ad[:decode_steps].astype(np.float64) - hd[:decode_steps]).max())
        if len(hd) != len(host.tokens) or len(ad) != len(arm.tokens):
            decode_diff = float("inf")  # a step without its logits: nothing to compare it with
    passed = (
        max_diff <= tolerance and decode_diff <= tolerance and tokens_ok
        and machine == "aarch64" and elf[0] == EM_AARCH64
    )
    return Verdict(
        model, quant, target, cpu, machine, elf[1], max_diff, max_logit, tolerance, agree,
        host.logits.shape[0], tokens_equal, wall, passed, int8_act, cosine, diverged_at, tie_gap,
        decode_diff, decode_steps,
    )


# ----------------------------------------------------------------------- disasm

_FUNC_RE = re.compile(r"^(?P<addr>[0-9a-f]+) <(?P<name>[^>]+)>:$")
_INSN_RE = re.compile(r"^\s*(?P<addr>[0-9a-f]+):\t(?P<mnemonic>\S+)(?:\t(?P<operands>.*))?$")
_VREG_RE = re.compile(r"\b(?:v\d{1,2}\.(?P<arr>\d*[bhsd])|q\d{1,2}\b)")
_SCALAR_FP_RE = re.compile(r"^\s*[hsd]\d{1,2}\b")
_ADRP_RE = re.compile(r"^(?P<rd>x\d+), (?P<page>[0-9a-f]+)\b")
_ADD_IMM_RE = re.compile(r"^(?P<rd>x\d+), (?P<rn>x\d+), #(?P<imm>0x[0-9a-f]+|\d+)$")
_CATEGORIES = (
    "fmla/fmls",
    "fmul",
    "fadd/fsub",
    "sdot/udot",
    "ld1-4",
    "st1-4",
    "ldr/ldp q",
    "str/stp q",
    "other vector",
    "fp16 vector",
    "scalar fp",
)


@dataclass
class FunctionStats:
    """Instruction counts of one function.

    Attributes:
        name: Symbol name, or ``parallel body @0x... of CALLER`` for code that
            has no symbol (TVM's parallel-for lambdas are emitted without one).
        kernel: The symbol this code belongs to: itself, or for an unnamed
            parallel body the function that takes its address.
        total: Instructions.
        vector: Instructions with a NEON vector/``q`` register operand.
        scalar_fp: Floating-point instructions on scalar ``h``/``s``/``d`` registers.
        categories: Counts per category of :data:`_CATEGORIES`.
    """

    name: str
    kernel: str
    total: int = 0
    vector: int = 0
    scalar_fp: int = 0
    categories: Counter[str] = field(default_factory=Counter)

    def add(self, other: FunctionStats) -> None:
        """Adds another function's counts to this one.

        Args:
            other: The counts to add.
        """
        self.total += other.total
        self.vector += other.vector
        self.scalar_fp += other.scalar_fp
        self.categories.update(other.categories)


@dataclass(frozen=True)
class Instruction:
    """One disassembled instruction.

    Attributes:
        addr: Its address.
        mnemonic: For example ``fmla``.
        operands: Operand text as printed by objdump.
    """

    addr: int
    mnemonic: str
    operands: str


def classify(mnemonic: str, operands: str) -> tuple[str | None, bool]:
    """Classifies one AArch64 instruction.

    Args:
        mnemonic: For example ``fmla``.
        operands: Operand text (symbol names and comments are ignored).

    Returns:
        ``(category, is_fp16)``: the category of :data:`_CATEGORIES` (None for
        integer/scalar non-FP instructions) and whether it is a half-precision
        vector FP instruction.
    """
    ops = re.sub(r"<[^>]*>|//.*$", "", operands)
    vregs = list(_VREG_RE.finditer(ops))
    base = mnemonic.split(".")[0]
    if vregs:
        fp16 = base.startswith("f") and any(m.group("arr") in ("4h", "8h", "h") for m in vregs)
        if base in ("fmla", "fmls"):
            return "fmla/fmls", fp16
        if base == "fmul":
            return "fmul", fp16
        if base in ("fadd", "fsub", "faddp"):
            return "fadd/fsub", fp16
        if base in ("sdot", "udot", "usdot"):
            return "sdot/udot", False
        if re.fullmatch(r"ld[1-4]r?", base):
            return "ld1-4", False
        if re.fullmatch(r"st[1-4]", base):
            return "st1-4", False
        if base in ("ldr", "ldp", "ldur", "ldnp"):
            return "ldr/ldp q", False
        if base in ("str", "stp", "stur", "stnp"):
            return "str/stp q", False
        return "other vector", fp16
    if base.startswith("f") and _SCALAR_FP_RE.match(ops):
        return "scalar fp", False
    return None, False


def symbol_sizes(lib: Path) -> dict[int, int]:
    """Sizes of the function symbols of a library, by address.

    Args:
        lib: The shared library.

    Returns:
        Address to size in bytes (empty without ``aarch64-linux-gnu-nm``).
    """
    nm = shutil.which("aarch64-linux-gnu-nm")
    if nm is None:
        return {}
    proc = subprocess.run([nm, "-S", "--defined-only", str(lib)], capture_output=True, text=True, check=False)
    sizes: dict[int, int] = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2].lower() in ("t", "w"):
            addr, size = int(parts[0], 16), int(parts[1], 16)
            sizes[addr] = max(size, sizes.get(addr, 0))
    return sizes


def code_references(insns: Sequence[Instruction]) -> set[int]:
    """Addresses that a function computes with ``adr`` or ``adrp`` + ``add``.

    TVM passes a parallel-for body to ``TVMBackendParallelLaunch`` this way.

    Args:
        insns: The function's instructions in order.

    Returns:
        The computed addresses.
    """
    pages: dict[str, int] = {}
    found: set[int] = set()
    for insn in insns:
        ops = re.sub(r"\s*<[^>]*>", "", insn.operands).strip()
        if insn.mnemonic in ("adrp", "adr"):
            m = _ADRP_RE.match(ops)
            if m:
                if insn.mnemonic == "adr":
                    found.add(int(m.group("page"), 16))
                else:
                    pages[m.group("rd")] = int(m.group("page"), 16)
            continue
        if insn.mnemonic == "add":
            m = _ADD_IMM_RE.match(ops)
            if m and m.group("rn") in pages:
                found.add(pages[m.group("rn")] + int(m.group("imm"), 0))
            if m:
                pages.pop(m.group("rd"), None)
            continue
        rd = ops.split(",")[0].strip()
        pages.pop(rd, None)
    return found


def disassemble(lib: Path) -> list[FunctionStats]:
    """Disassembles a library and counts instructions per function.

    Code past the end of a symbol (per its ``nm -S`` size) has no name of its
    own: TVM emits parallel-for bodies that way. It is split at the addresses
    other functions compute (the bodies' entry points) and each piece is
    named after the function that launches it.

    Args:
        lib: The AArch64 shared library.

    Returns:
        Per-function counts, in address order.

    Raises:
        CheckError: Without ``aarch64-linux-gnu-objdump`` or if it fails.
    """
    objdump = shutil.which(OBJDUMP)
    if objdump is None:
        raise CheckError(f"{OBJDUMP} was not found; install binutils-aarch64-linux-gnu")
    proc = subprocess.run([objdump, "-d", "--no-show-raw-insn", str(lib)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise CheckError(f"{OBJDUMP} failed on {lib}:\n{proc.stderr.strip()}")
    sizes = symbol_sizes(lib)
    # Split the listing into (symbol, start, instructions) blocks.
    blocks: list[tuple[str, int, list[Instruction]]] = []
    for line in proc.stdout.splitlines():
        head = _FUNC_RE.match(line)
        if head:
            blocks.append((head.group("name"), int(head.group("addr"), 16), []))
            continue
        match = _INSN_RE.match(line)
        if match and blocks:
            blocks[-1][2].append(
                Instruction(int(match.group("addr"), 16), match.group("mnemonic"), match.group("operands") or "")
            )
    # Separate each symbol's own code from unnamed code that follows it.
    named: list[tuple[str, list[Instruction]]] = []
    unnamed: list[list[Instruction]] = []
    for name, start, insns in blocks:
        size = sizes.get(start, 0)
        if size <= 0:
            named.append((name, insns))
            continue
        named.append((name, [i for i in insns if i.addr < start + size]))
        rest = [i for i in insns if i.addr >= start + size]
        if rest:
            unnamed.append(rest)
    referrers: dict[int, list[str]] = {}
    for name, insns in named:
        for addr in code_references(insns):
            referrers.setdefault(addr, []).append(name)
    pieces: list[tuple[str, str, list[Instruction]]] = [(name, name, insns) for name, insns in named]
    for region in unnamed:
        current: list[Instruction] = []
        for insn in region:
            if current and insn.addr in referrers:
                pieces.append(_unnamed_piece(current, referrers))
                current = []
            current.append(insn)
        if current:
            pieces.append(_unnamed_piece(current, referrers))
    functions: list[FunctionStats] = []
    for name, kernel, insns in sorted(pieces, key=lambda p: p[2][0].addr if p[2] else 0):
        stats = FunctionStats(name, kernel)
        for insn in insns:
            if insn.mnemonic == "nop":
                continue
            stats.total += 1
            category, fp16 = classify(insn.mnemonic, insn.operands)
            if category is None:
                continue
            stats.categories[category] += 1
            if fp16:
                stats.categories["fp16 vector"] += 1
            if category == "scalar fp":
                stats.scalar_fp += 1
            else:
                stats.vector += 1
        functions.append(stats)
    return functions


def _unnamed_piece(insns: list[Instruction], referrers: dict[int, list[str]]) -> tuple[str, str, list[Instruction]]:
    """Names a piece of unnamed code after the functions taking its address.

    Args:
        insns: The piece's instructions.
        referrers: Entry address to the functions that compute it.

    Returns:
        ``(name, kernel, instructions)``.
    """
    callers = referrers.get(insns[0].addr, [])
    kernel = ",".join(sorted(set(callers))) if callers else "?"
    return f"parallel body @{insns[0].addr:#x} of {kernel}", kernel, insns


def report_disasm(lib: Path, label: str, top: int = 10) -> None:
    """Prints the NEON instruction counts of a library.

    Args:
        lib: The AArch64 shared library.
        label: Heading, e.g. ``q4/pi5``.
        top: Functions listed in each ranking.
    """
    started = time.perf_counter()
    functions = [fn for fn in disassemble(lib) if fn.total]
    totals: Counter[str] = Counter()
    for fn in functions:
        totals.update(fn.categories)
    n_insn = sum(fn.total for fn in functions)
    n_vec = sum(fn.vector for fn in functions)
    n_bodies = sum(fn.name.startswith("parallel body") for fn in functions)
    out(f"  [{label}] {OBJDUMP} -d {lib} ({time.perf_counter() - started:.1f}s)")
    out(f"      {len(functions)} functions ({n_bodies} unnamed parallel bodies), {n_insn} instructions, "
        f"{n_vec} vector ({100 * n_vec / max(n_insn, 1):.1f}%)")
    out("      " + ", ".join(f"{cat}: {totals[cat]}" for cat in _CATEGORIES))
    out("      (fp16 vector, column f16: FP instructions with a half-precision vector operand, fcvtl included;")
    out("       sc.fp: FP instructions on scalar h/s/d registers; ldr q: ldr/ldp/ldur of 128-bit q registers)")
    width = max([40, *(len(fn.name) for fn in functions)])
    width = min(width, 72)
    header = (f"      {'function':<{width}} {'insns':>6} {'vector':>6} {'fmla':>5} {'fmul':>5} {'sdot':>5} "
              f"{'ld1':>5} {'ldr q':>5} {'f16':>5} {'sc.fp':>5}")

    def row(fn: FunctionStats) -> str:
        c = fn.categories
        return (
            f"      {fn.name[:width]:<{width}} {fn.total:>6} {fn.vector:>6} {c['fmla/fmls']:>5} {c['fmul']:>5} "
            f"{c['sdot/udot']:>5} {c['ld1-4']:>5} {c['ldr/ldp q']:>5} {c['fp16 vector']:>5} {fn.scalar_fp:>5}"
        )

    out(f"      top {top} functions by vector instructions:")
    out(header)
    for fn in sorted(functions, key=lambda f: (-f.vector, f.name))[:top]:
        out(row(fn))
    scalar_heavy = sorted((f for f in functions if f.scalar_fp), key=lambda f: (-f.scalar_fp, f.name))[:top]
    if scalar_heavy:
        out(f"      top {len(scalar_heavy)} functions by scalar FP instructions (math left unvectorized):")
        out(header)
        for fn in scalar_heavy:
            out(row(fn))
    kernels: dict[str, FunctionStats] = {}
    for fn in functions:
        kernels.setdefault(fn.kernel, FunctionStats(fn.kernel, fn.kernel)).add(fn)
    matmuls = sorted((k for k in kernels.values() if "matmul" in k.name or "lm_head" in k.name), key=lambda k: k.name)
    if matmuls:
        out("      matmul kernels (wrapper + parallel bodies):")
        out(header)
        for kernel in matmuls:
            out(row(kernel))
    if functions:
        best = max(functions, key=lambda f: (f.vector, -f.total))
        out(f"      most vector instructions (function): {best.name} ({best.vector} of {best.total}, "
            f"{best.categories['fmla/fmls']} fmla/fmls)")
        best_kernel = max(kernels.values(), key=lambda f: (f.vector, -f.total))
        out(f"      most vector instructions (kernel incl. parallel bodies): {best_kernel.name} "
            f"({best_kernel.vector} of {best_kernel.total})")


# ------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    """Builds the command-line parser.

    Returns:
        The parser.
    """
    parser = argparse.ArgumentParser(
        prog="arm64_check.py",
        description="Compile for host and ARM64, run the ARM64 build under qemu, compare logits and tokens.",
    )
    parser.add_argument(
        "--model", action="append",
        help="checkpoint folder, GGUF file or preset; repeat it for several models, run in one guest process per "
             "target (default: a tiny generated MobileLLM)",
    )
    parser.add_argument("--targets", default="pi4,pi5", help="comma-separated ARM targets (default: pi4,pi5)")
    parser.add_argument("--quant", default="q4", help="comma-separated quantizations, e.g. f32,q4,auto (default: q4)")
    parser.add_argument("--kv-dtype", choices=("f32", "f16"), default=None, help="KV-cache storage (default: the quantization's)")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="prompt text (tokenized on the host)")
    parser.add_argument("--max-tokens", type=int, default=8, help="greedy tokens to compare (default: 8)")
    parser.add_argument("--disasm", action="store_true", help=f"count NEON instructions in the pi5 library ({OBJDUMP})")
    parser.add_argument("--workdir", type=Path, help="keep checkpoints, bundles and results here (default: a temp dir)")
    parser.add_argument(
        "--cache",
        type=lambda value: Path(value).expanduser().resolve(),
        default=arm64_env.DEFAULT_CACHE.expanduser(),
        help=f"arm64 environment cache of tools/arm64_env.py (default: {arm64_env.DEFAULT_CACHE})",
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per guest run (default: 3600)")
    parser.add_argument("--allow-download", action="store_true", help="let a preset --model download its weights")
    parser.add_argument("--json", type=Path, help="also write the verdicts to this JSON file")
    return parser


def preflight(args: argparse.Namespace, targets: list[str], quants: list[str]) -> arm64_env.Layout:
    """Checks the options and the host tools before any slow work.

    Args:
        args: Parsed command line.
        targets: ARM targets.
        quants: Quantizations.

    Returns:
        The arm64 environment's cache paths.

    Raises:
        CheckError: A bad option or a missing tool or environment.
    """
    from agent_sdk.compiler.targets import resolve_target
    from agent_sdk.quantization.formats import QuantConfig

    if not targets or not quants:
        raise CheckError("--targets and --quant need at least one value each")
    unknown = [t for t in targets if t not in TARGET_CPUS]
    if unknown:
        raise CheckError(f"unsupported ARM target(s) {', '.join(unknown)}; choose from {', '.join(TARGET_CPUS)}")
    if args.max_tokens < 1:
        raise CheckError("--max-tokens must be >= 1")
    for quant in quants:
        if quant != "auto":  # auto: per-module layouts of a GGUF file (agent_sdk.compiler.quant_choice)
            QuantConfig.from_name(quant, args.kv_dtype)
    for target in {*targets, *(["pi5"] if args.disasm else [])}:
        resolve_target(target)  # raises when the cross compiler is missing
    arm64_env.require_qemu()
    layout = arm64_env.Layout(args.cache)
    setup_cmd = f"python {TOOLS_DIR / 'arm64_env.py'} setup"
    if layout.cache != arm64_env.DEFAULT_CACHE.expanduser():
        setup_cmd += f" --cache {layout.cache}"
    wheels = arm64_env.load_manifest(layout).get("wheels")
    if not (layout.python.is_file() and layout.site.is_dir() and isinstance(wheels, dict)):
        raise CheckError(f"no arm64 environment in {layout.cache}; create it first with:\n    {setup_cmd}")
    if wheels.get("requirements") != arm64_env.wheel_requirements():
        out(f"warning: the arm64 wheels ({', '.join(wheels.get('requirements', []))}) differ from this "
            f"Python's; to match them run: {setup_cmd}")
    if args.disasm and shutil.which(OBJDUMP) is None:
        raise CheckError(f"--disasm needs {OBJDUMP} (package binutils-aarch64-linux-gnu)")
    return layout


def print_summary(verdicts: list[Verdict]) -> None:
    """Prints the result table.

    Args:
        verdicts: One per (model, quantization, target).
    """
    out()
    out("summary:")
    several = len({v.model for v in verdicts}) > 1
    width = max([5, *(len(v.model) for v in verdicts)]) if several else 0
    head = f"{'model':<{width}} " if several else ""
    out(f"  {head}{'quant':<6} {'target':<7} {'cpu':<11} {'machine':<8} {'max|diff|':>10} {'decode':>10} "
        f"{'max|logit|':>10} {'tolerance':>10} {'argmax':>7} {'tokens':>7} {'guest s':>8}  result")
    for v in verdicts:
        head = f"{v.model:<{width}} " if several else ""
        out(f"  {head}{v.quant:<6} {v.target:<7} {v.cpu:<11} {v.machine:<8} {v.max_diff:>10.3e} "
            f"{v.decode_diff:>10.3e} {v.max_logit:>10.3f} {v.tolerance:>10.3e} "
            f"{f'{v.argmax_agree}/{v.positions}':>7} {'equal' if v.tokens_equal else 'DIFFER':>7} "
            f"{v.wall_s:>8.1f}  {'PASS' if v.passed else 'FAIL'}")
    out("  (max|diff|: logits at every prompt position; decode: logits of each greedy decode step)")


def check(args: argparse.Namespace, work: Path) -> int:
    """Runs the whole check.

    Args:
        args: Parsed command line.
        work: Work folder.

    Returns:
        Exit code: 0 when every comparison passes, else 1.
    """
    started = time.perf_counter()
    targets, quants = parse_list(args.targets), parse_list(args.quant)
    layout = preflight(args, targets, quants)

    import tvm

    qemu = arm64_env.require_qemu()
    qemu_version = subprocess.run([qemu, "--version"], capture_output=True, text=True, check=False).stdout
    models = [prepare_model(spec, work) for spec in (args.model or [None])]
    for _, label in models:
        out(f"arm64_check: model {label}")
    out(f"  quant {','.join(quants)}; targets {','.join(targets)} "
        f"(qemu cpu: {', '.join(f'{t}={TARGET_CPUS[t]}' for t in targets)})")
    out(f"  host {platform.machine()} {platform.system()}, python {platform.python_version()}, "
        f"apache-tvm {tvm.__version__}, {qemu_version.splitlines()[0] if qemu_version else qemu}")
    out(f"  work folder {work}")

    verdicts: list[Verdict] = []
    disasm_libs: list[tuple[str, Path]] = []
    prompts: dict[int, list[int]] = {}
    build_targets = [*targets, *(["pi5"] if args.disasm and "pi5" not in targets else [])]
    for quant in quants:
        hosts: list[RunResult] = []
        arm_bundles: list[dict[str, Path]] = []
        for m, (model, label) in enumerate(models):
            tag = f"{quant}" if len(models) == 1 else f"m{m}-{quant}"
            name = quant if len(models) == 1 else f"{label}/{quant}"
            out()
            out(f"[{name}] compiling")
            host_bundle, seconds = compile_bundle(
                model, quant, "host", work / f"{tag}-host", args.allow_download, args.kv_dtype
            )
            out(f"  host: {seconds:.1f}s -> {host_bundle}")
            describe_library(host_bundle)
            bundles: dict[str, Path] = {}
            for target in build_targets:
                bundle, seconds = compile_bundle(
                    model, quant, target, work / f"{tag}-{target}", args.allow_download, args.kv_dtype
                )
                out(f"  {target}: {seconds:.1f}s -> {bundle}")
                describe_library(bundle)
                bundles[target] = bundle
            arm_bundles.append(bundles)
            if args.disasm:
                disasm_libs.append((f"{name}/pi5", bundles["pi5"] / "model.so"))

            if m not in prompts:
                from agent_sdk.runtime import Tokenizer

                prompts[m] = Tokenizer(host_bundle).encode(args.prompt)
                if not prompts[m]:
                    raise CheckError(f"the prompt encodes to no tokens for {label}")
                out()
                out(f"prompt: {len(prompts[m])} tokens {prompts[m]}")
            out()
            out(f"[{name}] host run ({platform.machine()})")
            host = run_host(host_bundle, prompts[m], args.max_tokens, step_logits=int8_activations(quant))
            hosts.append(host)
            out(f"      load={host.info['load_s']:.2f}s logits={host.info['logits_s']:.3f}s "
                f"generate={host.info['generate_s']:.3f}s")
            out(f"      logits {host.logits.shape}, greedy tokens {host.tokens}")

        extra = guest_extra_paths(layout, [b[t] for b in arm_bundles for t in targets])
        for target in targets:
            cpu = TARGET_CPUS[target]
            out()
            out(f"[{quant}/{target}] guest run: qemu-aarch64-static -cpu {cpu} ({len(models)} bundle(s))")
            jobs = [(bundles[target], prompts[m]) for m, bundles in enumerate(arm_bundles)]
            arms, wall = run_guest(jobs, args.max_tokens, cpu, work, layout.cache, extra, args.timeout)
            out(f"      wall {wall:.1f}s (qemu start, imports, then per bundle: load, logits, generate)")
            for m, ((_, label), host, arm) in enumerate(zip(models, hosts, arms)):
                bundle = arm_bundles[m][target]
                elf = elf_machine(bundle / "model.so")
                verdict = compare(host, arm, quant=quant, target=target, cpu=cpu, elf=elf, wall=wall, model=label)
                verdicts.append(verdict)
                if len(models) > 1:
                    out(f"    {label}:")
                out(f"      greedy tokens {arm.tokens} "
                    f"({'equal to' if verdict.tokens_equal else 'DIFFERENT from'} host)")
                out(f"      max|logit diff| {verdict.max_diff:.3e} at {verdict.positions} prompt positions, "
                    f"{verdict.decode_diff:.3e} at {verdict.decode_steps} decode steps, vs tolerance "
                    f"{verdict.tolerance:.3e} (max|logit| {verdict.max_logit:.3f}); argmax agrees at "
                    f"{verdict.argmax_agree}/{verdict.positions}; mean centred cosine {verdict.cosine:.6f}")
                if verdict.int8_act:
                    out(f"      int8 activations: tolerance {INT8_ACT_RTOL:g} x max|logit|, "
                        f"mean cosine >= {INT8_ACT_MIN_COSINE}")
                if verdict.diverged_at is not None:
                    gap = "n/a" if verdict.tie_gap is None else f"{verdict.tie_gap:.3e}"
                    out(f"      greedy tokens first differ at step {verdict.diverged_at}: host logit gap between "
                        f"the two tokens {gap}")
                out(f"      guest machine {verdict.machine}, cpu {cpu}, library {verdict.elf} -> "
                    f"{'PASS' if verdict.passed else 'FAIL'}")

    if disasm_libs:
        out()
        out("disassembly (NEON counts: instructions with v<n>.<arrangement> or q<n> operands):")
        for label_, lib in disasm_libs:
            report_disasm(lib, label_)

    print_summary(verdicts)
    if args.json:
        args.json.write_text(json.dumps([asdict(v) for v in verdicts], indent=2))
    passed = all(v.passed for v in verdicts)
    out()
    out(f"{'PASS' if passed else 'FAIL'}: {sum(v.passed for v in verdicts)}/{len(verdicts)} ARM64 runs match the host "
        f"(total {time.perf_counter() - started:.1f}s)")
    return 0 if passed else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point.

    Args:
        argv: Arguments without the program name; default ``sys.argv[1:]``.

    Returns:
        Exit code: 0 PASS, 1 FAIL, 2 the check could not run.
    """
    args = build_parser().parse_args(argv)
    # ``--quant auto`` must mean one mode on both sides: the ARM presets keep float activations, so the host
    # build does too (on x86 with AVX-512 VNNI ``auto`` would otherwise pick q4a16 for the host only).
    os.environ["AGENT_SDK_NO_INT16"] = "1"
    from agent_sdk.errors import AgentSDKError

    try:
        if args.workdir:
            args.workdir.mkdir(parents=True, exist_ok=True)
            return check(args, args.workdir.resolve())
        with tempfile.TemporaryDirectory(prefix="arm64_check.") as tmp:
            return check(args, Path(tmp))
    except (CheckError, arm64_env.ToolError, AgentSDKError) as exc:
        print(f"arm64_check: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("arm64_check: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
