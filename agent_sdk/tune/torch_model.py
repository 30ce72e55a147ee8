"""The deployed model in PyTorch, for LoRA training on the CPU.

:class:`TorchLlama` computes what :mod:`agent_sdk.models.mobilellm.mobilellm_model`
compiles with TVM, in float32: RMSNorm, grouped-query attention with
rotate-half RoPE over the whole head (``RopeMode.NORMAL``) and the scale
``head_dim ** -0.5``, SwiGLU, pre-norm blocks, MobileLLM's layer sharing
(every block runs twice in a row) and the tied output head. Its logits for
the base weights match the compiled float32 engine (the integration tests
measure it), so an adapter trained here behaves the same once merged and
compiled.

Module paths follow Hugging Face's ``LlamaForCausalLM``, so a base weight's
``state_dict`` name is its canonical checkpoint name
(``model.layers.3.self_attn.q_proj.weight``) and a LoRA factor's name is
PEFT's without the ``base_model.model.`` prefix
(``model.layers.3.self_attn.q_proj.lora_A.weight``).

Shapes use ``b`` batch, ``s`` new tokens, ``p`` prefix tokens (keys already
computed), ``h`` hidden size, ``nq``/``nkv`` query/key-value heads, ``d``
head width, ``f`` SwiGLU width, ``v`` vocabulary, ``r`` LoRA rank.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Literal, cast, overload

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from agent_sdk.errors import ConfigError, ContextOverflowError, UserError
from agent_sdk.models.mobilellm.mobilellm_config import MobileLLMConfig
from agent_sdk.models.mobilellm.mobilellm_loader import Checkpoint, check_tensors

__all__ = [
    "KV",
    "LORA_TARGETS",
    "LoraLinear",
    "TorchLlama",
    "apply_lora",
    "lora_modules",
    "lora_parameters",
    "merged_weights",
]

KV = tuple[tuple[torch.Tensor, torch.Tensor], ...]
"""Keys and values after RoPE, one ``(k, v)`` pair per block run, each ``(b, nkv, p, d)``."""

LORA_TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""The projections an adapter may wrap (all seven by default)."""

# The model types whose math this file implements; anything else must not be trained as if it were.
_MODEL_TYPES = ("mobilellm", "llama")
# Every MobileLLMConfig field this model implements. A field added later (a RoPE scaling, a
# sliding window) fails loudly below unless it keeps its default, instead of being ignored.
_IMPLEMENTED_FIELDS = frozenset({
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
    "num_key_value_heads", "head_dim", "rms_norm_eps", "rope_theta", "context_window", "share_embedding",
    "layer_sharing", "bos_token_id", "eos_token_id", "model_type",
})
# kaiming_uniform_'s negative slope PEFT (and nn.Linear) use: A ~ U(-1/sqrt(in), 1/sqrt(in)).
_KAIMING_A = math.sqrt(5)


def _check_config(cfg: MobileLLMConfig) -> None:
    """Raises ConfigError for a configuration this model would compute differently."""
    problems = []
    if cfg.model_type not in _MODEL_TYPES:
        problems.append(f"model_type {cfg.model_type!r} is not supported (expected one of {_MODEL_TYPES})")
    for f in dataclasses.fields(cfg):
        if f.name in _IMPLEMENTED_FIELDS:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        if getattr(cfg, f.name) != default:
            problems.append(f"config option {f.name}={getattr(cfg, f.name)!r} is not implemented by the torch model")
    if problems:
        raise ConfigError("cannot build the training model: " + "; ".join(problems))


def _frozen(array: np.ndarray) -> nn.Parameter:
    """A float32 copy of ``array`` as a parameter without gradient."""
    tensor = torch.from_numpy(np.array(array, dtype=np.float32, order="C", copy=True))
    return nn.Parameter(tensor, requires_grad=False)


class RMSNorm(nn.Module):
    """``x / sqrt(mean(x^2) + eps) * weight`` over the last axis."""

    def __init__(self, weight: np.ndarray, eps: float) -> None:
        super().__init__()
        self.weight = _frozen(weight)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Linear(nn.Module):
    """``x @ weight.T`` with a frozen ``(out, in)`` weight, no bias."""

    def __init__(self, weight: np.ndarray) -> None:
        super().__init__()
        self.weight = _frozen(weight)

    @property
    def in_features(self) -> int:
        return int(self.weight.shape[1])

    @property
    def out_features(self) -> int:
        return int(self.weight.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight)


class LoraLinear(nn.Module):
    """A frozen projection plus a low-rank update: ``x W^T + (alpha / r) * dropout(x) A^T B^T``.

    Attributes:
        weight: The frozen base weight ``(out, in)`` (the same tensor as the wrapped layer's).
        lora_A: ``(r, in)``, PEFT's ``lora_A``.
        lora_B: ``(out, r)``, PEFT's ``lora_B``; zeros at first, so the update starts at 0.
        rank: ``r``.
        alpha: ``lora_alpha``.
        scaling: ``alpha / r``.
    """

    def __init__(self, base: Linear, *, rank: int, alpha: float, dropout: float, generator: torch.Generator) -> None:
        super().__init__()
        self.weight = base.weight
        self.rank, self.alpha, self.scaling = rank, alpha, alpha / rank
        self.lora_A = nn.Linear(base.in_features, rank, bias=False)
        self.lora_B = nn.Linear(rank, base.out_features, bias=False)
        self.dropout: nn.Module = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        with torch.no_grad():
            nn.init.kaiming_uniform_(self.lora_A.weight, a=_KAIMING_A, generator=generator)
            nn.init.zeros_(self.lora_B.weight)

    def delta(self) -> torch.Tensor:
        """The update ``scaling * B @ A`` ``(out, in)``, computed in float64 for merging."""
        b, a = self.lora_B.weight.detach().double(), self.lora_A.weight.detach().double()
        return self.scaling * (b @ a)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight) + self.lora_B(self.lora_A(self.dropout(x))) * self.scaling


def _rope_tables(positions: torch.Tensor, d: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin ``(s, d)`` for rotate-half RoPE; angles in float64 so long positions keep float32 precision."""
    inv_freq = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d)  # (d/2,)
    angles = positions.double()[:, None] * inv_freq[None, :]  # (s, d/2)
    angles = torch.cat([angles, angles], dim=-1)  # (s, d)
    return angles.cos().float(), angles.sin().float()


def _rotate_half(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotates pairs ``(i, i + d/2)`` of ``x`` ``(b, n, s, d)`` by the position's angles."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)  # (b, n, s, d)
    return x * cos + rotated * sin


class Attention(nn.Module):
    """Causal grouped-query self-attention with separate q/k/v projections."""

    def __init__(self, cfg: MobileLLMConfig, w: Mapping[str, np.ndarray], prefix: str) -> None:
        super().__init__()
        self.nq, self.nkv, self.d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        self.q_proj = Linear(w[prefix + "q_proj.weight"])
        self.k_proj = Linear(w[prefix + "k_proj.weight"])
        self.v_proj = Linear(w[prefix + "v_proj.weight"])
        self.o_proj = Linear(w[prefix + "o_proj.weight"])

    def forward(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None,
        want_kv: bool = True,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        b, s, _ = x.shape
        q = self.q_proj(x).view(b, s, self.nq, self.d).transpose(1, 2)  # (b, nq, s, d)
        k = self.k_proj(x).view(b, s, self.nkv, self.d).transpose(1, 2)  # (b, nkv, s, d)
        v = self.v_proj(x).view(b, s, self.nkv, self.d).transpose(1, 2)  # (b, nkv, s, d)
        q, k = _rotate_half(q, cos, sin), _rotate_half(k, cos, sin)
        if past is not None and past[0].shape[0] == 1 and b > 1:
            # A prefix shared by every row: its keys are read in place, never copied per row
            # (a copy per row and layer was most of a training step's time and memory).
            out = self._shared_prefix_attention(q, k, v, past)  # (b, nq, s, d)
            kv = (torch.cat([past[0].expand(b, -1, -1, -1), k], dim=2),
                  torch.cat([past[1].expand(b, -1, -1, -1), v], dim=2)) if want_kv else None
        else:
            p = 0
            if past is not None:
                p = past[0].shape[2]
                k = torch.cat([past[0].expand(b, -1, -1, -1), k], dim=2)  # (b, nkv, p + s, d)
                v = torch.cat([past[1].expand(b, -1, -1, -1), v], dim=2)  # (b, nkv, p + s, d)
            # query i sits at position p + i: it sees the whole prefix and the new tokens up to itself
            mask = None if p == 0 else torch.ones(s, p + s, dtype=torch.bool, device=x.device).tril(diagonal=p)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=p == 0, scale=self.d**-0.5,
                                                 enable_gqa=True)  # (b, nq, s, d)
            kv = (k, v) if want_kv else None
        out = out.transpose(1, 2).reshape(b, s, self.nq * self.d)  # (b, s, nq d)
        return self.o_proj(out), kv

    def _shared_prefix_attention(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor]
    ) -> torch.Tensor:
        """Softmax over the shared prefix's keys ``(1, nkv, p, d)`` and the row's own causal keys, jointly."""
        b, _, s, d = q.shape
        g = self.nq // self.nkv
        pk, pv = past[0][0], past[1][0]  # (nkv, p, d)
        p = pk.shape[1]
        qg = q.reshape(b, self.nkv, g * s, d)  # (b, nkv, g s, d): query heads grouped under their KV head
        # prefix scores: every row's queries against one copy of the prefix keys
        qf = qg.transpose(0, 1).reshape(self.nkv, b * g * s, d)  # (nkv, b g s, d)
        sp = torch.bmm(qf, pk.transpose(1, 2)).view(self.nkv, b, g * s, p).transpose(0, 1)  # (b, nkv, g s, p)
        sn = qg @ k.transpose(-1, -2)  # (b, nkv, g s, s)
        causal = torch.ones(s, s, dtype=torch.bool, device=q.device).tril().repeat(g, 1)  # (g s, s)
        sn = sn.masked_fill(~causal, -math.inf)
        probs = torch.softmax(torch.cat([sp, sn], dim=-1) * d**-0.5, dim=-1)  # (b, nkv, g s, p + s)
        pp, pn = probs[..., :p], probs[..., p:]
        op = torch.bmm(pp.transpose(0, 1).reshape(self.nkv, b * g * s, p), pv)  # (nkv, b g s, d)
        out = op.view(self.nkv, b, g * s, d).transpose(0, 1) + pn @ v  # (b, nkv, g s, d)
        return out.reshape(b, self.nq, s, d)


class MLP(nn.Module):
    """SwiGLU: ``down(silu(gate(x)) * up(x))``."""

    def __init__(self, w: Mapping[str, np.ndarray], prefix: str) -> None:
        super().__init__()
        self.gate_proj = Linear(w[prefix + "gate_proj.weight"])
        self.up_proj = Linear(w[prefix + "up_proj.weight"])
        self.down_proj = Linear(w[prefix + "down_proj.weight"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))  # (b, s, f) -> (b, s, h)


class DecoderLayer(nn.Module):
    """Pre-norm block: ``x + attn(norm(x))`` then ``x + mlp(norm(x))``."""

    def __init__(self, cfg: MobileLLMConfig, w: Mapping[str, np.ndarray], index: int) -> None:
        super().__init__()
        p = f"model.layers.{index}."
        self.input_layernorm = RMSNorm(w[p + "input_layernorm.weight"], cfg.rms_norm_eps)
        self.self_attn = Attention(cfg, w, p + "self_attn.")
        self.post_attention_layernorm = RMSNorm(w[p + "post_attention_layernorm.weight"], cfg.rms_norm_eps)
        self.mlp = MLP(w, p + "mlp.")

    def forward(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None,
        want_kv: bool = True,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        attn, kv = self.self_attn(self.input_layernorm(x), cos, sin, past, want_kv)
        x = x + attn
        return x + self.mlp(self.post_attention_layernorm(x)), kv


class LlamaBody(nn.Module):
    """Embedding, decoder blocks and the final norm (Hugging Face's ``model.``)."""

    def __init__(self, cfg: MobileLLMConfig, w: Mapping[str, np.ndarray]) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding.from_pretrained(
            torch.from_numpy(np.array(w["model.embed_tokens.weight"], dtype=np.float32, copy=True)), freeze=True
        )
        self.layers = nn.ModuleList([DecoderLayer(cfg, w, i) for i in range(cfg.num_hidden_layers)])
        self.norm = RMSNorm(w["model.norm.weight"], cfg.rms_norm_eps)


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
    """The deployed Llama/MobileLLM model in float32 PyTorch, base weights frozen.

    Args:
        cfg: Hyper-parameters (``model_type`` ``llama`` or ``mobilellm``).
        weights: Canonical (Hugging Face) name → float array, e.g. from
            :func:`merged_weights` or a checkpoint; every tensor is copied.

    Raises:
        ConfigError: The configuration asks for something this model does not compute.
        ModelFormatError: A tensor is missing, mis-shaped or unexpected (all listed at once).
    """

    def __init__(self, cfg: MobileLLMConfig, weights: Mapping[str, np.ndarray]) -> None:
        super().__init__()
        _check_config(cfg)
        shapes = weights.shapes() if isinstance(weights, _LazyTensors) else {n: a.shape for n, a in weights.items()}
        check_tensors(cfg, shapes, "weights given to TorchLlama")
        self.cfg = cfg
        self.model = LlamaBody(cfg, weights)
        self.lm_head = None if cfg.share_embedding else Linear(weights["lm_head.weight"])

    @classmethod
    def from_checkpoint(cls, ckpt: Checkpoint) -> TorchLlama:
        """Builds the model from :func:`~agent_sdk.models.mobilellm.mobilellm_loader.load_checkpoint`'s result.

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
        cos, sin = _rope_tables(positions, self.cfg.head_dim, self.cfg.rope_theta)  # (s, d)
        x = self.model.embed_tokens(input_ids)  # (b, s, h)
        runs = 2 if self.cfg.layer_sharing else 1
        new_kv: list[tuple[torch.Tensor, torch.Tensor]] = []
        run = 0
        for layer in self.model.layers:
            for _ in range(runs):  # immediate block-wise weight sharing: same block, own keys
                x, kv = layer(x, cos, sin, None if past is None else past[run], want_kv)
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

    def prefix_kv(self, prefix_ids: Sequence[int] | torch.Tensor) -> KV:
        """Keys/values ``(1, nkv, p, d)`` of a prefix shared by a batch, computed without gradient."""
        ids = torch.as_tensor(prefix_ids, dtype=torch.long).reshape(1, -1)  # (1, p)
        with torch.no_grad():
            return self._body(ids, None)[1]


def _check_past(past: KV | None, cfg: MobileLLMConfig, batch: int) -> int:
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
) -> list[LoraLinear]:
    """Wraps the target projections of every block with a LoRA update, in place.

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

    Returns:
        The new adapter modules in block order.

    Raises:
        UserError: Unknown targets, a rank below 1, dropout outside [0, 1),
            or a model that already has adapters.
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
    if problems:
        raise UserError("cannot apply LoRA: " + "; ".join(problems))
    generator = torch.Generator().manual_seed(seed)
    wanted = set(targets)
    added = []
    for layer in model.model.layers:
        assert isinstance(layer, DecoderLayer)
        for parent in (layer.self_attn, layer.mlp):
            for name, child in list(parent.named_children()):
                if name in wanted and isinstance(child, Linear):
                    lora = LoraLinear(child, rank=rank, alpha=alpha, dropout=dropout, generator=generator)
                    setattr(parent, name, lora)
                    added.append(lora)
    return added


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
