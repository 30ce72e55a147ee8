#!/usr/bin/env python3
"""Benchmark one LoRA training step of SmolLM2-135M in PyTorch (CPU) and in JAX (XLA CPU).

``agent-sdk tune`` trains LoRA adapters on the CPU with PyTorch
(:mod:`agent_sdk.tune.torch_model`, :func:`agent_sdk.tune.train._loss`). This
script measures whether JAX on XLA's CPU backend would train faster or in
less memory, by running the same step, written standalone in both frameworks
(neither imports ``agent_sdk``), on the same shapes and the same numbers:

* a stack of ``--layers`` Llama decoder blocks with SmolLM2-135M's shapes
  (hidden 576, 9 query / 3 key-value heads of width 64, SwiGLU width 1536,
  RMSNorm eps 1e-5, rotate-half RoPE with theta 1e5, causal attention), a
  49152-word output head tied to the embedding; random frozen float32 weights
  drawn with numpy from ``--seed``, so both frameworks hold identical values;
* LoRA of rank ``--rank`` (alpha ``2 * rank``, as our default 16/32) on q, k,
  v, o, gate, up and down of every block. ``A`` is kaiming-uniform as in
  PEFT, but ``B`` is drawn small instead of zero so the loss check below goes
  through the adapters and ``A`` gets a gradient (the cost is the same);
* one step as the trainer takes it: the shared ``--prefix`` tokens run
  without gradient under the current adapters (their keys/values), then
  ``--batch`` suffixes of ``--suffix`` tokens attend to them with gradient;
  the output head runs only at the last 20 positions of each suffix
  (next-token cross-entropy, mean); gradients clipped to norm 1; AdamW
  (lr 1e-3, no weight decay) on the adapters only.

Each framework runs in its own child process with its own interpreter
(``--torch-python``, ``--jax-python``; a framework its interpreter cannot
import is skipped with a message), so peak RSS (``VmHWM``; ``ru_maxrss`` would
carry over the forking parent's peak) and the thread settings belong to that
framework only. Threads: ``torch.set_num_threads(--threads)`` and
``OMP_NUM_THREADS``; for XLA ``--xla_cpu_multi_thread_eigen`` and
``intra_op_parallelism_threads`` in ``XLA_FLAGS``; with fewer threads than
CPUs the child is also pinned to that many CPUs (XLA:CPU sizes its pool from
the CPUs it may use).

Reported per framework: the median wall time of ``--steps`` steps after
``--warmup`` untimed ones, tokens/s (trained suffix tokens, ``batch *
suffix``, per second; the prefix is not counted), examples/s, peak RSS and RSS
once the weights are loaded, CPU seconds per wall second of the timed steps,
how many CPUs other processes kept busy meanwhile, and for JAX the ``jit``
compile time (excluded from the step times). Then the JAX/PyTorch ratios,
and the loss on the initial weights (and after one AdamW step) from both,
which must agree within 1e-3 relative (exit status 1 otherwise).

Usage::

    .venv/bin/python tools/bench_train_frameworks.py                  # full size: 30 layers, B=16, S=48, P=469
    .venv/bin/python tools/bench_train_frameworks.py --layers 2 --prefix 32 --batch 2   # quick
    .venv/bin/python tools/bench_train_frameworks.py --threads 1 --steps 3 --json out.json

JAX goes in its own venv::

    python3 -m venv /tmp/jaxvenv && /tmp/jaxvenv/bin/pip install jax jaxlib numpy optax
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

RESULT_MARK = "@@bench_train_frameworks_result@@ "
FRAMEWORKS = ("torch", "jax")
NAMES = {"torch": "PyTorch", "jax": "JAX"}
IMPORTS = {"torch": "import numpy, torch", "jax": "import numpy, jax, optax"}

# SmolLM2-135M (HuggingFaceTB/SmolLM2-135M config.json).
HIDDEN = 576
N_Q = 9
N_KV = 3
HEAD_DIM = 64
FFN = 1536
VOCAB = 49152
RMS_EPS = 1e-5
ROPE_THETA = 100000.0
# What the trainer uses (agent_sdk.tune.train): AdamW lr, no weight decay, clip at norm 1.
LR = 1e-3
GRAD_CLIP = 1.0
WEIGHT_STD = 0.02  # Hugging Face's initializer_range for Llama
LORA_B_STD = 0.01
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
LOSS_RTOL = 1e-3
MIB = 1024.0 * 1024.0


@dataclass(frozen=True)
class Spec:
    """The shapes and settings both children run.

    Attributes:
        layers: Decoder blocks.
        batch: Suffixes per step (``b``).
        suffix: Tokens per suffix (``s``).
        prefix: Shared prefix tokens run without gradient (``p``).
        targets: Positions per suffix with loss (the last ones).
        rank: LoRA rank (``r``); alpha is ``2 * r``.
        threads: Threads each framework may use.
        steps: Timed steps.
        warmup: Untimed steps before them.
        seed: Seed of weights, adapters and tokens.
    """

    layers: int
    batch: int
    suffix: int
    prefix: int
    targets: int
    rank: int
    threads: int
    steps: int
    warmup: int
    seed: int

    @property
    def scaling(self) -> float:
        return 2.0  # alpha / rank with alpha = 2 * rank


# ---------------------------------------------------------------- shared inputs (numpy, identical in both children)


def _shapes() -> dict[str, tuple[int, int]]:
    """Each LoRA target's frozen weight shape ``(out, in)``."""
    return {
        "q_proj": (N_Q * HEAD_DIM, HIDDEN), "k_proj": (N_KV * HEAD_DIM, HIDDEN), "v_proj": (N_KV * HEAD_DIM, HIDDEN),
        "o_proj": (HIDDEN, N_Q * HEAD_DIM), "gate_proj": (FFN, HIDDEN), "up_proj": (FFN, HIDDEN),
        "down_proj": (HIDDEN, FFN),
    }


def layer_weights(spec: Spec, i: int) -> dict[str, np.ndarray]:
    """Block ``i``'s frozen weights (``(out, in)`` projections, ``(h,)`` norms), from their own seed."""
    rng = np.random.default_rng([spec.seed, 1, i])
    out = {name: rng.standard_normal(shape, dtype=np.float32) * np.float32(WEIGHT_STD)
           for name, shape in _shapes().items()}
    for norm in ("input_layernorm", "post_attention_layernorm"):
        out[norm] = 1.0 + rng.standard_normal(HIDDEN, dtype=np.float32) * np.float32(0.1)
    return out


def lora_weights(spec: Spec, i: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Block ``i``'s adapters: target → ``A (r, in)`` (kaiming-uniform as PEFT) and ``B (out, r)``."""
    rng = np.random.default_rng([spec.seed, 2, i])
    out = {}
    for name, (n_out, n_in) in _shapes().items():
        bound = 1.0 / np.sqrt(n_in)
        a = rng.uniform(-bound, bound, (spec.rank, n_in)).astype(np.float32)
        b = rng.standard_normal((n_out, spec.rank), dtype=np.float32) * np.float32(LORA_B_STD)
        out[name] = (a, b)
    return out


def shared_weights(spec: Spec) -> dict[str, np.ndarray]:
    """The tied embedding ``(v, h)`` and the final norm ``(h,)``."""
    rng = np.random.default_rng([spec.seed, 3])
    return {
        "embed": rng.standard_normal((VOCAB, HIDDEN), dtype=np.float32) * np.float32(WEIGHT_STD),
        "norm": 1.0 + rng.standard_normal(HIDDEN, dtype=np.float32) * np.float32(0.1),
    }


def tokens(spec: Spec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prefix ids ``(p,)``, suffix ids ``(b, s)`` and their next-token targets ``(b, targets)``, int32."""
    rng = np.random.default_rng([spec.seed, 4])
    prefix = rng.integers(0, VOCAB, spec.prefix, dtype=np.int32)
    ids = rng.integers(0, VOCAB, (spec.batch, spec.suffix), dtype=np.int32)
    return prefix, ids, ids[:, spec.suffix - spec.targets:]


def loss_rows(spec: Spec) -> slice:
    """Suffix positions whose logits predict the targets: the ``targets`` positions before the last token."""
    return slice(spec.suffix - spec.targets - 1, spec.suffix - 1)


def rope_tables(start: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin ``(length, d)`` float32 for positions ``start …``; angles in float64 as the trainer forms them."""
    inv_freq = 1.0 / ROPE_THETA ** (np.arange(0, HEAD_DIM, 2, dtype=np.float64) / HEAD_DIM)  # (d/2,)
    angles = np.arange(start, start + length, dtype=np.float64)[:, None] * inv_freq[None, :]  # (s, d/2)
    angles = np.concatenate([angles, angles], axis=-1)  # (s, d)
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


# ---------------------------------------------------------------- process measurements


def _proc_status_mib(key: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def peak_rss_mib() -> float:
    """This process's peak resident memory (``VmHWM``; ``ru_maxrss`` where there is no /proc)."""
    hwm = _proc_status_mib("VmHWM")
    if hwm is not None:
        return hwm
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if platform.system() == "Linux" else kb / MIB


def _busy_cpu_s() -> float | None:
    """CPU seconds all processes have used since boot (``/proc/stat``), or None."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    ticks = [int(x) for x in fields[1:]]
    busy = sum(ticks[:8]) - ticks[3] - ticks[4]  # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


class StepTimer:
    """Wall and CPU time of the timed steps."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu = 0.0

    def run(self, step: Any, n: int) -> list[float]:
        """Calls ``step()`` (which returns the loss as a float, so the work is done) ``n`` times."""
        losses = []
        for _ in range(n):
            c0, t0 = time.process_time(), time.perf_counter()
            losses.append(step())
            self.wall.append(time.perf_counter() - t0)
            self.cpu += time.process_time() - c0
        return losses


def _result(spec: Spec, fw: str, version: str, losses: list[float], timer: StepTimer, rss_loaded: float,
            setup_s: float, **extra: Any) -> dict[str, Any]:
    median = statistics.median(timer.wall)
    return {
        "framework": fw, "version": version, "loss_initial": losses[0], "loss_after_1_step": losses[1],
        "losses": losses, "step_s": timer.wall, "median_step_s": median, "min_step_s": min(timer.wall),
        "tokens_per_s": spec.batch * spec.suffix / median, "examples_per_s": spec.batch / median,
        "cpu_per_wall": timer.cpu / sum(timer.wall), "peak_rss_mib": peak_rss_mib(), "loaded_rss_mib": rss_loaded,
        "setup_s": setup_s, "os_threads": len(os.listdir("/proc/self/task")) if Path("/proc/self/task").exists()
        else None, **extra,
    }


# ---------------------------------------------------------------- PyTorch


def run_torch(spec: Spec) -> dict[str, Any]:
    """The step in PyTorch, as agent_sdk.tune.torch_model and train._loss compute it."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(spec.threads)
    t_setup = time.perf_counter()
    frozen = [{k: torch.from_numpy(v) for k, v in layer_weights(spec, i).items()} for i in range(spec.layers)]
    shared = {k: torch.from_numpy(v) for k, v in shared_weights(spec).items()}
    lora = [{k: (torch.from_numpy(a).requires_grad_(), torch.from_numpy(b).requires_grad_())
             for k, (a, b) in lora_weights(spec, i).items()} for i in range(spec.layers)]
    params = [t for layer in lora for ab in layer.values() for t in ab]
    opt = torch.optim.AdamW(params, lr=LR, weight_decay=0.0)
    prefix_np, ids_np, targets_np = tokens(spec)
    prefix = torch.from_numpy(prefix_np).long()[None]  # (1, p)
    ids, targets = torch.from_numpy(ids_np).long(), torch.from_numpy(targets_np).long()
    cos_p, sin_p = rope_tables(0, spec.prefix)  # (p, d)
    cos_s, sin_s = rope_tables(spec.prefix, spec.suffix)  # (s, d)
    rope_prefix = torch.from_numpy(cos_p), torch.from_numpy(sin_p)
    rope_suffix = torch.from_numpy(cos_s), torch.from_numpy(sin_s)
    # query i of the suffix sits at position p + i: it sees the whole prefix and the suffix up to itself
    mask = torch.ones(spec.suffix, spec.prefix + spec.suffix, dtype=torch.bool).tril(diagonal=spec.prefix)

    def rms(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + RMS_EPS) * w

    def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        half = HEAD_DIM // 2
        return x * cos + torch.cat([-x[..., half:], x[..., :half]], dim=-1) * sin  # (b, n, s, d)

    def proj(x: torch.Tensor, i: int, name: str) -> torch.Tensor:
        a, b = lora[i][name]
        return F.linear(x, frozen[i][name]) + F.linear(F.linear(x, a), b) * spec.scaling

    def block(x: torch.Tensor, i: int, rope: tuple[torch.Tensor, torch.Tensor],
              past: tuple[torch.Tensor, torch.Tensor] | None) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        b, s, _ = x.shape
        h = rms(x, frozen[i]["input_layernorm"])
        q = proj(h, i, "q_proj").view(b, s, N_Q, HEAD_DIM).transpose(1, 2)  # (b, nq, s, d)
        k = proj(h, i, "k_proj").view(b, s, N_KV, HEAD_DIM).transpose(1, 2)  # (b, nkv, s, d)
        v = proj(h, i, "v_proj").view(b, s, N_KV, HEAD_DIM).transpose(1, 2)  # (b, nkv, s, d)
        q, k = rotate(q, *rope), rotate(k, *rope)
        group = N_Q // N_KV
        if past is None:
            kq, vq = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)  # (b, nq, s, d)
            out = F.scaled_dot_product_attention(q, kq, vq, is_causal=True, scale=HEAD_DIM**-0.5)  # (b, nq, s, d)
        else:
            pk, pv = past  # (1, nkv, p, d), shared by every row
            k = torch.cat([pk.expand(b, -1, -1, -1), k], dim=2)  # (b, nkv, p + s, d)
            v = torch.cat([pv.expand(b, -1, -1, -1), v], dim=2)  # (b, nkv, p + s, d)
            kq, vq = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)  # (b, nq, p + s, d)
            out = F.scaled_dot_product_attention(q, kq, vq, attn_mask=mask, scale=HEAD_DIM**-0.5)  # (b, nq, s, d)
        out = out.transpose(1, 2).reshape(b, s, N_Q * HEAD_DIM)  # (b, s, nq d)
        x = x + proj(out, i, "o_proj")
        h = rms(x, frozen[i]["post_attention_layernorm"])
        mlp = proj(F.silu(proj(h, i, "gate_proj")) * proj(h, i, "up_proj"), i, "down_proj")  # (b, s, h)
        return x + mlp, (k, v)

    def body(x_ids: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor],
             past: list[tuple[torch.Tensor, torch.Tensor]] | None) -> tuple[torch.Tensor, list[Any]]:
        x = F.embedding(x_ids, shared["embed"])  # (b, s, h)
        kvs = []
        for i in range(spec.layers):
            x, kv = block(x, i, rope, None if past is None else past[i])
            kvs.append(kv)
        return rms(x, shared["norm"]), kvs  # (b, s, h)

    def step() -> float:
        with torch.no_grad():
            past = body(prefix, rope_prefix, None)[1]  # (1, nkv, p, d) per block
        hidden = body(ids, rope_suffix, past)[0][:, loss_rows(spec)]  # (b, targets, h)
        logits = F.linear(hidden.reshape(-1, HIDDEN), shared["embed"])  # (b targets, v)
        loss = F.cross_entropy(logits, targets.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(params, GRAD_CLIP)
        opt.step()
        return float(loss.detach())

    rss_loaded, setup_s = peak_rss_mib(), time.perf_counter() - t_setup
    timer = StepTimer()
    losses = StepTimer().run(step, spec.warmup)
    losses += timer.run(step, spec.steps)
    return _result(spec, "torch", torch.__version__, losses, timer, rss_loaded, setup_s,
                   torch_threads=torch.get_num_threads())


# ---------------------------------------------------------------- JAX


def run_jax(spec: Spec) -> dict[str, Any]:
    """The same step in JAX: blocks under ``lax.scan`` over stacked weights, the whole step one ``jax.jit``."""
    import jax
    import jax.numpy as jnp
    import optax

    t_setup = time.perf_counter()
    names = (*TARGETS, "input_layernorm", "post_attention_layernorm")
    stacked: dict[str, Any] = {}
    lora_a: dict[str, Any] = {}
    lora_b: dict[str, Any] = {}
    first = layer_weights(spec, 0)
    host = {n: np.empty((spec.layers, *first[n].shape), np.float32) for n in names}  # (L, out, in) / (L, h)
    for i in range(spec.layers):
        for n, w in (first if i == 0 else layer_weights(spec, i)).items():
            host[n][i] = w
    for n in names:  # to the device one tensor at a time, so the host copy of only one is alive twice
        stacked[n] = jnp.asarray(host.pop(n))
    ab = [lora_weights(spec, i) for i in range(spec.layers)]
    for n in TARGETS:
        lora_a[n] = jnp.asarray(np.stack([layer[n][0] for layer in ab]))  # (L, r, in)
        lora_b[n] = jnp.asarray(np.stack([layer[n][1] for layer in ab]))  # (L, out, r)
    del ab
    shared = {k: jnp.asarray(v) for k, v in shared_weights(spec).items()}
    frozen = {"layers": stacked, **shared}
    lora = {"a": lora_a, "b": lora_b}
    prefix_np, ids_np, targets_np = tokens(spec)
    prefix, ids, targets = jnp.asarray(prefix_np)[None], jnp.asarray(ids_np), jnp.asarray(targets_np)
    rope_prefix = tuple(jnp.asarray(t) for t in rope_tables(0, spec.prefix))
    rope_suffix = tuple(jnp.asarray(t) for t in rope_tables(spec.prefix, spec.suffix))
    mask = jnp.tril(jnp.ones((spec.suffix, spec.prefix + spec.suffix), bool), k=spec.prefix)  # (s, p + s)
    tx = optax.chain(optax.clip_by_global_norm(GRAD_CLIP),
                     optax.adamw(LR, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0))
    opt_state = tx.init(lora)

    def rms(x: Any, w: Any) -> Any:
        return x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + RMS_EPS) * w

    def rotate(x: Any, cos: Any, sin: Any) -> Any:
        half = HEAD_DIM // 2
        rotated = jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)  # (b, s, n, d)
        return x * cos[:, None, :] + rotated * sin[:, None, :]

    def block(x: Any, w: Any, a: Any, b: Any, rope: Any, past: Any) -> tuple[Any, Any]:
        def proj(y: Any, name: str) -> Any:
            return y @ w[name].T + ((y @ a[name].T) @ b[name].T) * spec.scaling

        bsz, s, _ = x.shape
        h = rms(x, w["input_layernorm"])
        q = proj(h, "q_proj").reshape(bsz, s, N_Q, HEAD_DIM)  # (b, s, nq, d)
        k = proj(h, "k_proj").reshape(bsz, s, N_KV, HEAD_DIM)  # (b, s, nkv, d)
        v = proj(h, "v_proj").reshape(bsz, s, N_KV, HEAD_DIM)  # (b, s, nkv, d)
        q, k = rotate(q, *rope), rotate(k, *rope)
        if past is None:
            out = jax.nn.dot_product_attention(q, k, v, is_causal=True, scale=HEAD_DIM**-0.5)  # (b, s, nq, d)
        else:
            pk, pv = past  # (1, p, nkv, d), shared by every row
            p = pk.shape[1]
            k = jnp.concatenate([jnp.broadcast_to(pk, (bsz, p, N_KV, HEAD_DIM)), k], axis=1)  # (b, p + s, nkv, d)
            v = jnp.concatenate([jnp.broadcast_to(pv, (bsz, p, N_KV, HEAD_DIM)), v], axis=1)  # (b, p + s, nkv, d)
            out = jax.nn.dot_product_attention(q, k, v, mask=mask[None, None], scale=HEAD_DIM**-0.5)  # (b, s, nq, d)
        x = x + proj(out.reshape(bsz, s, N_Q * HEAD_DIM), "o_proj")
        h = rms(x, w["post_attention_layernorm"])
        return x + proj(jax.nn.silu(proj(h, "gate_proj")) * proj(h, "up_proj"), "down_proj"), (k, v)

    def body(frozen: Any, lora: Any, x_ids: Any, rope: Any, past: Any) -> tuple[Any, Any]:
        x = frozen["embed"][x_ids]  # (b, s, h)

        def one(x: Any, layer: Any) -> tuple[Any, Any]:
            w, a, b, kv = layer
            return block(x, w, a, b, rope, kv)

        x, kvs = jax.lax.scan(one, x, (frozen["layers"], lora["a"], lora["b"], past))
        return rms(x, frozen["norm"]), kvs  # (b, s, h); per block (L, b, p + s, nkv, d)

    def loss_fn(lora: Any, frozen: Any, past: Any) -> Any:
        hidden = body(frozen, lora, ids, rope_suffix, past)[0][:, loss_rows(spec)]  # (b, targets, h)
        logits = hidden.reshape(-1, HIDDEN) @ frozen["embed"].T  # (b targets, v)
        return optax.softmax_cross_entropy_with_integer_labels(logits, targets.reshape(-1)).mean()

    def train_step(lora: Any, opt_state: Any, frozen: Any) -> tuple[Any, Any, Any]:
        past = body(frozen, jax.lax.stop_gradient(lora), prefix, rope_prefix, None)[1]  # (L, 1, p, nkv, d) each
        loss, grads = jax.value_and_grad(loss_fn)(lora, frozen, jax.lax.stop_gradient(past))
        updates, opt_state = tx.update(grads, opt_state, lora)
        return optax.apply_updates(lora, updates), opt_state, loss

    jitted = jax.jit(train_step, donate_argnums=(0, 1))
    rss_loaded, setup_s = peak_rss_mib(), time.perf_counter() - t_setup
    t0 = time.perf_counter()
    compiled = jitted.lower(lora, opt_state, frozen).compile()
    compile_s = time.perf_counter() - t0
    state = [lora, opt_state]

    def step() -> float:
        state[0], state[1], loss = compiled(state[0], state[1], frozen)
        return float(loss)

    timer = StepTimer()
    losses = StepTimer().run(step, spec.warmup)
    losses += timer.run(step, spec.steps)
    return _result(spec, "jax", jax.__version__, losses, timer, rss_loaded, setup_s, compile_s=compile_s,
                   xla_flags=os.environ.get("XLA_FLAGS", ""), device=str(jax.devices()[0]))


# ---------------------------------------------------------------- parent


def child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    flags = f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} intra_op_parallelism_threads={threads}"
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + flags).strip()
    env["JAX_PLATFORMS"] = "cpu"
    return env


def can_import(python: str, fw: str) -> str | None:
    """None if ``python`` can import the framework, else why not."""
    if not Path(python).exists():
        return f"{python} does not exist"
    proc = subprocess.run([python, "-c", IMPORTS[fw]], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return f"{python} cannot `{IMPORTS[fw]}` ({last})"
    return None


def run_child(python: str, fw: str, spec: Spec) -> dict[str, Any]:
    """One framework's measurement in a fresh ``python``; also how busy the other processes kept the CPUs."""
    cmd = [python, str(Path(__file__).resolve()), "--child", fw, json.dumps(asdict(spec))]
    busy0, kids0, t0 = _busy_cpu_s(), _children_cpu_s(), time.perf_counter()
    proc = subprocess.run(cmd, check=False, stdout=subprocess.PIPE, stderr=None, text=True,
                          env=child_env(spec.threads))
    wall, busy1 = time.perf_counter() - t0, _busy_cpu_s()
    other = None
    if busy0 is not None and busy1 is not None and wall > 0:
        other = max(0.0, (busy1 - busy0 - (_children_cpu_s() - kids0)) / wall)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return {**json.loads(line[len(RESULT_MARK):]), "other_cpus": other, "python": python}
    return {"framework": fw, "error": f"child exited with {proc.returncode} and no result", "python": python}


def child_main(fw: str, spec_json: str) -> int:
    spec = Spec(**json.loads(spec_json))
    avail = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if 0 < spec.threads < len(avail):  # before the framework starts its thread pools
        os.sched_setaffinity(0, avail[: spec.threads])
    res = run_torch(spec) if fw == "torch" else run_jax(spec)
    print(RESULT_MARK + json.dumps(res), flush=True)
    return 0


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def report(spec: Spec, results: dict[str, dict[str, Any]]) -> bool:
    """Prints the table, ratios and the loss check; True if the losses agree (or there is nothing to compare)."""
    print(f"LoRA step: {spec.layers} layers, batch {spec.batch} x suffix {spec.suffix} over a prefix of "
          f"{spec.prefix}, loss at the last {spec.targets} positions, rank {spec.rank}, {spec.threads} thread(s), "
          f"median of {spec.steps} steps after {spec.warmup} warm-up")
    head = (f"{'framework':<16}{'ms/step':>10}{'min ms':>10}{'tokens/s':>10}{'ex/s':>8}{'peak RSS':>10}"
            f"{'loaded':>9}{'compile s':>10}{'cpu/wall':>9}{'other cpus':>11}")
    print(head)
    print("-" * len(head))
    for fw, r in results.items():
        name = f"{NAMES[fw]} {r.get('version', '')}"
        if "error" in r:
            print(f"{name:<16}  {r['error']}")
            continue
        print(f"{name:<16}{r['median_step_s'] * 1e3:>10.0f}{r['min_step_s'] * 1e3:>10.0f}{r['tokens_per_s']:>10.1f}"
              f"{r['examples_per_s']:>8.2f}{r['peak_rss_mib']:>7.0f} MiB{r['loaded_rss_mib']:>6.0f} MiB"
              f"{_fmt(r.get('compile_s'), '.1f'):>10}{r['cpu_per_wall']:>9.2f}{_fmt(r.get('other_cpus'), '.2f'):>11}")
    busy = [r["other_cpus"] for r in results.values() if r.get("other_cpus") is not None]
    if busy and max(busy) > 0.25:
        print(f"note: other processes kept up to {max(busy):.2f} of {os.cpu_count()} CPUs busy during the runs; "
              "the times are slowed by them (with more than one thread, an OpenMP pool waiting on a descheduled "
              "thread suffers most)")
    t, j = results.get("torch", {}), results.get("jax", {})
    if "median_step_s" not in t or "median_step_s" not in j:
        return True
    print(f"JAX / PyTorch: step time x{j['median_step_s'] / t['median_step_s']:.2f}, "
          f"tokens/s x{j['tokens_per_s'] / t['tokens_per_s']:.2f}, peak RSS x{j['peak_rss_mib'] / t['peak_rss_mib']:.2f}")
    ok = True
    for key, what in (("loss_initial", "initial loss"), ("loss_after_1_step", "loss after 1 AdamW step")):
        rel = abs(j[key] - t[key]) / max(abs(t[key]), 1e-12)
        ok = ok and rel <= LOSS_RTOL
        print(f"{what}: PyTorch {t[key]:.6f}  JAX {j[key]:.6f}  relative difference {rel:.1e} "
              f"({'ok' if rel <= LOSS_RTOL else 'MISMATCH'}, tolerance {LOSS_RTOL:.0e})")
    return ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--layers", type=int, default=30, help="decoder blocks (SmolLM2-135M: 30)")
    p.add_argument("--batch", type=int, default=16, help="suffixes per step")
    p.add_argument("--suffix", type=int, default=48, help="tokens per suffix (with gradient)")
    p.add_argument("--prefix", type=int, default=469, help="shared prefix tokens (without gradient)")
    p.add_argument("--targets", type=int, default=20, help="positions with loss at the end of each suffix")
    p.add_argument("--rank", type=int, default=16, help="LoRA rank (alpha = 2 * rank)")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                   else os.cpu_count() or 1, help="threads per framework (default: every usable CPU)")
    p.add_argument("--steps", type=int, default=5, help="timed steps (the median is reported)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--torch-python", default=sys.executable, help="interpreter with torch (default: this one)")
    p.add_argument("--jax-python", default="/tmp/jaxvenv/bin/python", help="interpreter with jax and optax")
    p.add_argument("--only", choices=FRAMEWORKS, help="run one framework")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    problems = [f"--{k} must be at least 1" for k in ("layers", "batch", "prefix", "rank", "threads", "steps")
                if getattr(args, k) < 1]
    if args.warmup < 1:
        problems.append("--warmup must be at least 1 (the check compares the loss after one update)")
    if not 1 <= args.targets < args.suffix:
        problems.append("--targets must be at least 1 and below --suffix")
    if problems:
        p.error("; ".join(problems))
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child_main(argv[1], argv[2])
    args = parse_args(argv)
    spec = Spec(layers=args.layers, batch=args.batch, suffix=args.suffix, prefix=args.prefix, targets=args.targets,
                rank=args.rank, threads=args.threads, steps=args.steps, warmup=args.warmup, seed=args.seed)
    pythons = {"torch": args.torch_python, "jax": args.jax_python}
    results: dict[str, dict[str, Any]] = {}
    for fw in FRAMEWORKS:
        if args.only and fw != args.only:
            continue
        why = can_import(pythons[fw], fw)
        if why:
            print(f"skipping {NAMES[fw]}: {why}", file=sys.stderr)
            continue
        print(f"running {NAMES[fw]} ({pythons[fw]}) …", file=sys.stderr, flush=True)
        results[fw] = run_child(pythons[fw], fw, spec)
    sys.stderr.flush()
    ok = report(spec, results)
    if args.json:
        args.json.write_text(json.dumps({"spec": asdict(spec), "results": results}, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
