"""The deployed model in PyTorch, for LoRA training on the CPU.

:class:`TorchLlama` computes what the compiled TVM model of its family
computes, in float32, for every family the compiler supports: Llama and
MobileLLM (with its layer sharing: every block runs twice in a row), Qwen2
(q/k/v biases), Qwen3 (per-head q/k RMSNorm, a free head width) and Gemma 3
(scaled embedding, ``1 + w`` norms, sandwich norms, GeGLU, sliding-window
local layers with their own RoPE base). The blocks are in
:mod:`.torch_blocks`, each family's decoder block and config check in
:mod:`.torch_llama` and :mod:`.torch_gemma3`. Its logits for the base weights
match the compiled float32 engine (the integration tests measure it), so an
adapter trained here behaves the same once merged and compiled.

Module paths follow Hugging Face's ``*ForCausalLM``, so a base weight's
``state_dict`` name is its canonical checkpoint name
(``model.layers.3.self_attn.q_proj.weight``, Gemma's
``model.layers.3.pre_feedforward_layernorm.weight``) and a LoRA factor's name
is PEFT's without the ``base_model.model.`` prefix
(``model.layers.3.self_attn.q_proj.lora_A.weight``).

Shapes use ``b`` batch, ``s`` new tokens, ``p`` prefix tokens (keys already
computed), ``h`` hidden size, ``nkv`` key-value heads, ``d`` head width,
``v`` vocabulary, ``r`` LoRA rank.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Iterator, Mapping, Sequence
from typing import Literal, cast, overload

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from agent_sdk.errors import ConfigError, ContextOverflowError, UserError
from agent_sdk.models.mobilellm.mobilellm_loader import Checkpoint
from agent_sdk.tune.torch_blocks import Attention, FamilySpec, Linear, LoraLinear, ModelConfig, RMSNorm, rope_tables
from agent_sdk.tune.torch_gemma3 import GEMMA3
from agent_sdk.tune.torch_llama import LLAMA, QWEN2, QWEN3

__all__ = [
    "KV",
    "LORA_TARGETS",
    "LoraLinear",
    "TorchLlama",
    "apply_lora",
    "lora_layers",
    "lora_modules",
    "lora_parameters",
    "merged_weights",
]

KV = tuple[tuple[torch.Tensor, torch.Tensor], ...]
"""Keys and values after RoPE, one ``(k, v)`` pair per block run, each ``(b, nkv, p, d)``.

Sliding-window layers keep every key too: the window is applied when reading them.
"""

LORA_TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""The projections an adapter may wrap (all seven by default)."""

# model_type → the family whose math this package implements; anything else must not be trained as if it were.
_FAMILIES: dict[str, FamilySpec] = {
    "mobilellm": LLAMA,
    "llama": LLAMA,
    "qwen2": QWEN2,
    "qwen3": QWEN3,
    "gemma3_text": GEMMA3,
    "gemma3": GEMMA3,
}


def _check_config(cfg: ModelConfig) -> FamilySpec:
    """The family of ``cfg``; raises ConfigError for a configuration this model would compute differently."""
    family = _FAMILIES.get(cfg.model_type)
    if family is None:
        raise ConfigError(f"cannot build the training model: model_type {cfg.model_type!r} is not supported "
                          f"(expected one of {tuple(_FAMILIES)})")
    problems = []
    if type(cfg) is not family.config_cls:
        problems.append(f"model_type {cfg.model_type!r} needs a {family.config_cls.__name__}, "
                        f"got a {type(cfg).__name__}")
    for f in dataclasses.fields(cfg):
        if f.name in family.implemented_fields:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        if getattr(cfg, f.name) != default:
            problems.append(f"config option {f.name}={getattr(cfg, f.name)!r} is not implemented by the torch model")
    if problems:
        raise ConfigError("cannot build the training model: " + "; ".join(problems))
    return family


class Body(nn.Module):
    """Embedding, decoder blocks and the final norm (Hugging Face's ``model.``)."""

    def __init__(self, cfg: ModelConfig, w: Mapping[str, np.ndarray], family: FamilySpec) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding.from_pretrained(
            torch.from_numpy(np.array(w["model.embed_tokens.weight"], dtype=np.float32, copy=True)), freeze=True
        )
        self.layers = nn.ModuleList([family.build_layer(cfg, w, i) for i in range(cfg.num_hidden_layers)])
        self.norm = RMSNorm(w["model.norm.weight"], cfg.rms_norm_eps, offset=family.norm_offset)


class _LazyTensors(Mapping[str, np.ndarray]):
    """A checkpoint's tensors as float32 arrays, converted one at a time when asked for."""

    def __init__(self, ckpt: Checkpoint) -> None:
        self._ckpt = ckpt

    def __getitem__(self, name: str) -> np.ndarray:
        return self._ckpt.tensors[name].as_float()

    def __iter__(self) -> Iterator[str]:
        return iter(self._ckpt.tensors)

    def __len__(self) -> int:
        return len(self._ckpt.tensors)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Name → shape, without converting anything."""
        return {n: tuple(t.shape) for n, t in self._ckpt.tensors.items()}


class TorchLlama(nn.Module):
    """The deployed model in float32 PyTorch, base weights frozen (every family, despite the name).

    Args:
        cfg: Hyper-parameters: a ``MobileLLMConfig`` (``llama``, ``mobilellm``),
            ``Qwen2Config``, ``Qwen3Config`` or ``Gemma3Config``.
        weights: Canonical (Hugging Face) name → float array, e.g. from
            :func:`merged_weights` or a checkpoint; every tensor is copied.

    Raises:
        ConfigError: The configuration asks for something this model does not compute.
        ModelFormatError: A tensor is missing, mis-shaped or unexpected (all listed at once).
    """

    def __init__(self, cfg: ModelConfig, weights: Mapping[str, np.ndarray]) -> None:
        super().__init__()
        family = _check_config(cfg)
        shapes = weights.shapes() if isinstance(weights, _LazyTensors) else {n: a.shape for n, a in weights.items()}
        family.check_tensors(cfg, shapes, "weights given to TorchLlama")
        self.cfg = cfg
        self.embed_scale = family.embed_scale(cfg)
        self.model = Body(cfg, weights, family)
        self.lm_head = None if cfg.share_embedding else Linear(weights["lm_head.weight"])
        thetas = {cast(Attention, layer.get_submodule("self_attn")).spec.rope_theta for layer in self.model.layers}
        self._rope_thetas = tuple(sorted(thetas))  # Gemma 3: one base for local layers, one for global ones

    @classmethod
    def from_checkpoint(cls, ckpt: Checkpoint) -> TorchLlama:
        """Builds the model from a family loader's ``load_checkpoint`` result (``agent_sdk.models.<family>``).

        Quantized GGUF tensors are dequantized one at a time, so memory peaks
        at the float32 model plus one tensor.
        """
        return cls(ckpt.config, _LazyTensors(ckpt))

    @property
    def num_layer_runs(self) -> int:
        """Block executions per token: one KV entry each."""
        return self.cfg.num_layer_runs

    def _body(self, input_ids: torch.Tensor, past: KV | None, want_kv: bool = True) -> tuple[torch.Tensor, KV]:
        """Normed hidden states ``(b, s, h)`` and the keys/values of prefix plus these tokens (empty unless ``want_kv``)."""
        if input_ids.dim() != 2:
            raise UserError(f"input_ids must be (batch, seq), got shape {tuple(input_ids.shape)}")
        b, s = input_ids.shape
        p = _check_past(past, self.cfg, b)
        if p + s > self.cfg.context_window:
            raise ContextOverflowError(
                f"{p} prefix + {s} tokens exceed the model's context window of {self.cfg.context_window}"
            )
        positions = torch.arange(p, p + s, device=input_ids.device)  # (s,)
        rope = {theta: rope_tables(positions, self.cfg.head_dim, theta) for theta in self._rope_thetas}  # (s, d) each
        x = self.model.embed_tokens(input_ids)  # (b, s, h)
        if self.embed_scale != 1.0:
            x = x * self.embed_scale  # Gemma: sqrt(h)
        runs = 2 if self.cfg.layer_sharing else 1
        new_kv: list[tuple[torch.Tensor, torch.Tensor]] = []
        run = 0
        for layer in self.model.layers:
            for _ in range(runs):  # immediate block-wise weight sharing: same block, own keys
                x, kv = layer(x, rope, None if past is None else past[run], want_kv)
                run += 1
                if kv is not None:
                    new_kv.append(kv)
        return self.model.norm(x), tuple(new_kv)  # (b, s, h)

    def logits_from_hidden(self, hidden: torch.Tensor) -> torch.Tensor:
        """Output head: normed hidden ``(..., h)`` → logits ``(..., v)``."""
        if self.lm_head is None:
            return F.linear(hidden, self.model.embed_tokens.weight)
        return self.lm_head(hidden)

    @overload
    def forward(
        self, input_ids: torch.Tensor, *, past: KV | None = None, return_kv: Literal[False] = False
    ) -> torch.Tensor: ...

    @overload
    def forward(
        self, input_ids: torch.Tensor, *, past: KV | None = None, return_kv: Literal[True]
    ) -> tuple[torch.Tensor, KV]: ...

    def forward(
        self, input_ids: torch.Tensor, *, past: KV | None = None, return_kv: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, KV]:
        """Logits at every position.

        Rows of different lengths are padded at the end: causal attention
        keeps every real token from seeing the padding, so no mask is needed
        (the logits at padded positions are meaningless).

        Args:
            input_ids: Token ids ``(b, s)``, int64.
            past: Keys/values of a prefix already run (:meth:`prefix_kv`),
                batch 1 (shared by every row) or ``b``; positions continue after it.
            return_kv: Also return the keys/values of prefix plus these tokens
                (``(b, nkv, p + s, d)`` per block run).

        Returns:
            Logits ``(b, s, v)`` float32, and the keys/values if ``return_kv``.

        Raises:
            UserError: ``input_ids`` or ``past`` have the wrong shape.
            ContextOverflowError: Prefix plus tokens exceed ``context_window``.
        """
        hidden, kv = self._body(input_ids, past, return_kv)
        logits = self.logits_from_hidden(hidden)  # (b, s, v)
        return (logits, kv) if return_kv else logits

    def hidden_states(self, input_ids: torch.Tensor, *, past: KV | None = None) -> torch.Tensor:
        """The final normed hidden states ``(b, s, h)`` (what the output head reads), e.g. for embeddings."""
        return self._body(input_ids, past, want_kv=False)[0]

    def prefix_kv(self, prefix_ids: Sequence[int] | torch.Tensor, *, grad: bool = False) -> KV:
        """Keys/values ``(1, nkv, p, d)`` of a prefix shared by a batch.

        Args:
            prefix_ids: The prefix's token ids.
            grad: Keep the graph, so that a loss on the suffixes reading these keys and values also trains the
                adapters through the prefix (computed once, its gradient summed over the batch's rows).
        """
        ids = torch.as_tensor(prefix_ids, dtype=torch.long).reshape(1, -1)  # (1, p)
        if grad:
            return self._body(ids, None)[1]
        with torch.no_grad():
            return self._body(ids, None)[1]


def _check_past(past: KV | None, cfg: ModelConfig, batch: int) -> int:
    """The prefix length of ``past``, after checking it fits this model and batch."""
    if past is None:
        return 0
    if len(past) != cfg.num_layer_runs:
        raise UserError(f"past has {len(past)} layer entries; this model runs {cfg.num_layer_runs} blocks")
    k = past[0][0]
    if k.dim() != 4 or k.shape[0] not in (1, batch) or k.shape[1] != cfg.num_key_value_heads \
            or k.shape[3] != cfg.head_dim:
        raise UserError(
            f"past keys have shape {tuple(k.shape)}; expected (1 or {batch}, {cfg.num_key_value_heads}, p, "
            f"{cfg.head_dim})"
        )
    return int(k.shape[2])


# ---------------------------------------------------------------- LoRA


def apply_lora(
    model: TorchLlama,
    *,
    rank: int = 16,
    alpha: float = 32,
    dropout: float = 0.0,
    targets: Sequence[str] = LORA_TARGETS,
    seed: int = 0,
    layers: Sequence[int] | None = None,
) -> list[LoraLinear]:
    """Wraps the target projections of every block (or of ``layers``) with a LoRA update, in place.

    As in PEFT, ``A`` is drawn kaiming-uniform (``U(-1/sqrt(in), 1/sqrt(in))``)
    and ``B`` is zero, so the model is unchanged until trained; the draws come
    from a generator seeded with ``seed`` in block order, q, k, v, o, gate, up,
    down, so one seed gives one initialisation. With layer sharing a block's
    single adapter serves both of its runs, as its weights do.

    Args:
        model: The model; its base weights stay frozen.
        rank: ``r``.
        alpha: ``lora_alpha``; the update is scaled by ``alpha / r``.
        dropout: Dropout on the adapter's input while training.
        targets: Projection names, a subset of :data:`LORA_TARGETS`.
        seed: Seed of the initialisation.
        layers: Indices of the blocks to adapt (None: every block). Blocks below the lowest adapted one then
            need no backward pass (nothing under them is trained), so a step costs less; the draws for the
            adapted blocks are the same as when every block is adapted (blocks left out still draw theirs).

    Returns:
        The new adapter modules in block order.

    Raises:
        UserError: Unknown targets, a rank below 1, dropout outside [0, 1),
            ``layers`` empty, naming a block twice or something that is not one
            of the model's blocks, or a model that already has adapters.
    """
    problems = [f"unknown LoRA target {t!r} (expected some of {', '.join(LORA_TARGETS)})"
                for t in targets if t not in LORA_TARGETS]
    if not targets:
        problems.append("no LoRA targets given")
    if rank < 1:
        problems.append(f"rank must be at least 1, got {rank}")
    if not 0.0 <= dropout < 1.0:
        problems.append(f"dropout must be in [0, 1), got {dropout}")
    if lora_modules(model):
        problems.append("the model already has LoRA adapters")
    n_blocks = len(model.model.layers)
    adapt = set(range(n_blocks))
    if layers is not None:
        given = list(layers)  # once: ``layers`` may be an iterator
        chosen = [_block_index(i) for i in given]
        if not given:
            problems.append("no layers given to adapt")
        bad = [g for g, i in zip(given, chosen) if i is None or not 0 <= i < n_blocks]
        if bad:
            problems.append(f"layers {bad} are not blocks of this model (indices 0 to {n_blocks - 1})")
        elif len(set(chosen)) != len(chosen):
            problems.append(f"layers {given} name a block twice")
        adapt = {i for i in chosen if i is not None}
    if problems:
        raise UserError("cannot apply LoRA: " + "; ".join(problems))
    generator = torch.Generator().manual_seed(seed)
    wanted = set(targets)
    added = []
    for index, layer in enumerate(model.model.layers):
        for parent in (layer.get_submodule("self_attn"), layer.get_submodule("mlp")):
            for name, child in list(parent.named_children()):
                if name in wanted and isinstance(child, Linear):
                    # every block draws, so an adapted block's initialisation does not depend on which others are
                    lora = LoraLinear(child, rank=rank, alpha=alpha, dropout=dropout, generator=generator)
                    if index in adapt:
                        setattr(parent, name, lora)
                        added.append(lora)
    return added


def _block_index(value: object) -> int | None:
    """``value`` as a block index (an int, numpy's included; not a bool), or None."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def lora_layers(model: nn.Module) -> list[int]:
    """The indices of the blocks that hold adapters, ascending."""
    found = {int(name.split(".")[2]) for name in lora_modules(model)}
    return sorted(found)


def lora_modules(model: nn.Module) -> dict[str, LoraLinear]:
    """Module path (``model.layers.0.self_attn.q_proj``) → adapter, in block order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, LoraLinear)}


def lora_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The trainable parameters: every adapter's ``A`` then ``B``, in block order."""
    out: list[nn.Parameter] = []
    for m in lora_modules(model).values():
        out += [cast(nn.Parameter, m.lora_A.weight), cast(nn.Parameter, m.lora_B.weight)]
    return out


def merged_weights(model: TorchLlama) -> dict[str, np.ndarray]:
    """Every canonical tensor of the model with the adapters merged in: ``W + (alpha/r) B A``.

    The dict is complete (a checkpoint for :class:`TorchLlama` or the
    compiler). Adapted tensors are new float32 arrays (the sum is formed in
    float64, then rounded once); the others are read-only views of the
    model's own parameters, not copies.
    """
    adapters = {name + ".weight": m for name, m in lora_modules(model).items()}
    out: dict[str, np.ndarray] = {}
    for name, param in model.state_dict(keep_vars=True).items():
        if ".lora_A." in name or ".lora_B." in name:
            continue
        if name in adapters:
            merged = param.detach().double() + adapters[name].delta()
            out[name] = merged.float().numpy()
        else:
            view = param.detach().numpy()
            view.flags.writeable = False
            out[name] = view
    return out
