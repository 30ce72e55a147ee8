"""Relax ``nn`` modules that compute with weights in any storage format.

Dequantization is written inside the same tensor expression as the matmul
(``out = x @ dequant(w).T``), so it happens in registers and never writes a
float copy of the weight. The layouts are described in
:mod:`agent_sdk.quantization.formats`.
"""

from __future__ import annotations

from tvm import te, tirx
from tvm.relax.frontend import nn
from tvm.relax.frontend.nn import op

from agent_sdk.quantization.formats import (
    FACTOR_DTYPES,
    GROUP,
    K_GROUP,
    SUB_GROUP,
    interleave_rows,
    stored_param_shapes,
)
from agent_sdk.quantization.int8_kernels import q4a8_matmul_kernel, q4a16_matmul_kernel, q8a16_matmul_kernel
from agent_sdk.quantization.kernels import q_matmul_kernel
from agent_sdk.quantization.low_rank_kernel import low_rank_add_kernel

__all__ = ["QEmbedding", "QLinear", "dequant_expr"]


def dequant_expr(
    fmt: str, params: dict[str, te.Tensor], row: tirx.PrimExpr, col: tirx.PrimExpr, rows: int = 1
) -> tirx.PrimExpr:
    """The float32 value of weight element ``(row, col)`` as a TIR expression.

    ``rows`` is the row interleave of q4/q8 storage (see ``formats.pack_rows``).
    """
    if fmt == "f32":
        return params["weight"][row, col]
    if fmt == "f16":
        return params["weight"][row, col].astype("float32")
    b, r = row // rows, row % rows
    if fmt == "q8":
        return params["qweight"][b, col, r].astype("float32") * params["scale"][b, col // GROUP, r].astype("float32")
    if fmt == "q8k":
        return params["qweight"][b, col, r].astype("float32") * (
            params["sub"][b, col // SUB_GROUP, r].astype("float32") * params["scale"][b, col // GROUP, r].astype("float32")
        )
    if fmt in ("q4", "q5", "q4k", "q5k"):
        word = params["qweight"][b, col // 8, r]
        q = (word >> ((col % 8) * 4).astype("uint32")) & tirx.const(0xF, "uint32")
        g = col // GROUP
        if fmt in ("q5", "q5k"):
            k = col % GROUP
            at = tirx.Select(k % 8 < 7, 4 * (k % 8) + 4 + k // 8, k // 8)  # formats.Q5_HIGH_BIT
            high = (params["qhigh"][b, g, r] >> at.astype("uint32")) & tirx.const(1, "uint32")
            q = q | (high << tirx.const(4, "uint32"))

        def f32(name: str, i: tirx.PrimExpr) -> tirx.PrimExpr:
            return params[name][b, i, r].astype("float32")

        if fmt in ("q4", "q5"):
            return q.astype("float32") * f32("scale", g) + f32("minv", g)
        sup = col // K_GROUP  # K layouts: the group's 6-bit integers times the super-block's float16 scales
        return q.astype("float32") * (f32("sub", g) * f32("scale", sup)) - f32("submin", g) * f32("minv", sup)
    raise ValueError(f"unknown weight format {fmt!r}")


def _make_params(module: nn.Module, fmt: str, out_features: int, in_features: int) -> list[str]:
    names = []
    for suffix, (shape, dtype) in stored_param_shapes(fmt, out_features, in_features).items():
        setattr(module, suffix, nn.Parameter(shape, dtype))
        names.append(suffix)
    return names


def _matmul(
    x: nn.Tensor, fmt: str, names: list[str], params: list[nn.Tensor], out_features: int, name: str,
    act: str = "f32",
) -> nn.Tensor:
    """``x (b, s, in) @ W.T -> (b, s, out)`` with W dequantized inside the kernel."""
    b, s, n_in = x.shape
    if fmt in ("q4", "q5", "q8", "q8k", "q4k", "q5k"):
        x2 = op.reshape(x, (b * s, n_in))  # (b s, in)
        rows = interleave_rows(out_features)
        if act == "int8" and fmt == "q4":
            kernel = q4a8_matmul_kernel(out_features, int(n_in), rows)
            name = "q4a8_matmul"
        elif act == "int16" and fmt == "q4":
            kernel = q4a16_matmul_kernel(out_features, int(n_in), rows)
            name = "q4a16_matmul"
        elif act == "int16" and fmt == "q8":
            kernel = q8a16_matmul_kernel(out_features, int(n_in), rows)
            name = "q8a16_lm_head" if name.endswith("lm_head") else "q8a16_matmul"
        else:
            kernel = q_matmul_kernel(fmt, out_features, int(n_in), rows)
        y = op.tensor_ir_op(kernel, name, [x2, *params], nn.Tensor.placeholder([b * s, out_features], "float32"))
        return op.reshape(y, (b, s, out_features))  # (b, s, out)

    def compute(x_te: te.Tensor, *param_te: te.Tensor) -> te.Tensor:
        pmap = dict(zip(names, param_te))
        rk = te.reduce_axis((0, x_te.shape[2]), name="rk")
        return te.compute(
            (x_te.shape[0], x_te.shape[1], out_features),
            lambda i, j, o: te.sum(x_te[i, j, rk] * dequant_expr(fmt, pmap, o, rk), axis=rk),
            name=name,
        )

    return op.tensor_expr_op(compute, name, [x, *params])


class QLinear(nn.Module):
    """A bias-free linear layer whose weight is stored in ``fmt``.

    Args:
        in_features: Input size.
        out_features: Output size.
        fmt: Storage format (``f32``, ``f16``, ``q8k``, ``q8``, ``q5``, ``q5k``, ``q4``, ``q4k``).
        act: ``f32``, or ``int8`` / ``int16`` for rounded activations with a q4 weight (``int16`` with q8 too;
            see ``int8_kernels``).
    """

    def __init__(self, in_features: int, out_features: int, fmt: str, act: str = "f32") -> None:
        self.in_features = in_features
        self.out_features = out_features
        self.fmt = fmt
        self.act = act
        self._names = _make_params(self, fmt, out_features, in_features)
        self.lora_at: nn.Parameter | None = None
        self.lora_bt: nn.Parameter | None = None
        self.lora_as: nn.Parameter | None = None
        self.lora_bs: nn.Parameter | None = None
        self._lora_parts: tuple[int, ...] = ()

    def add_low_rank(self, rank: int, parts: tuple[int, ...] | None = None, *, dtype: str = "float32") -> None:
        """Adds a low-rank update beside the stored weight (before exporting the model).

        Creates ``lora_at`` ``(in, P rank)`` and ``lora_bt`` ``(rank, out)``,
        the layout of :func:`~agent_sdk.quantization.low_rank_kernel.low_rank_add_kernel`
        (the adapter's scale folded into ``B``; see :mod:`agent_sdk.models.low_rank`).

        Args:
            rank: Rank of each part.
            parts: Output rows of each part of a fused projection (default: one part).
            dtype: How the factors are stored, ``float32``, ``float16`` or ``int8`` (the kernel computes in float32;
                int8 adds ``lora_as`` ``(P rank,)`` and ``lora_bs`` ``(out,)``, float32 scales per row of ``A``
                and of ``B``).
        """
        parts = tuple(parts) if parts else (self.out_features,)
        if rank < 1 or sum(parts) != self.out_features:
            raise ValueError(f"low-rank update of rank {rank} with parts {parts} does not fit {self.out_features} "
                             "outputs")
        if dtype not in FACTOR_DTYPES:
            raise ValueError(f"low-rank factors are stored as one of {FACTOR_DTYPES}; got {dtype!r}")
        self._lora_parts = parts
        self.lora_at = nn.Parameter((self.in_features, len(parts) * rank), dtype)
        self.lora_bt = nn.Parameter((rank, self.out_features), dtype)
        if dtype == "int8":
            self.lora_as = nn.Parameter((len(parts) * rank,), "float32")
            self.lora_bs = nn.Parameter((self.out_features,), "float32")

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        """Applies the layer to ``x`` of shape ``(b, s, in)``."""
        if self.fmt == "f32":
            # TVM's own matmul (with FuseTransposeMatmul) is the better kernel here.
            y = op.matmul(x, op.permute_dims(self.weight))  # type: ignore[attr-defined]
        else:
            params = [getattr(self, n) for n in self._names]
            y = _matmul(x, self.fmt, self._names, params, self.out_features, f"{self.fmt}_matmul", self.act)
        if self.lora_at is not None and self.lora_bt is not None:
            b, s, n_in = x.shape
            rank = int(self.lora_bt.shape[0])
            kernel = low_rank_add_kernel(int(n_in), self.out_features, rank, self._lora_parts,
                                         dtype=str(self.lora_at.dtype))
            y = op.tensor_ir_op(
                kernel, "low_rank_add",
                [op.reshape(x, (b * s, n_in)), op.reshape(y, (b * s, self.out_features)), self.lora_at, self.lora_bt,
                 *(p for p in (self.lora_as, self.lora_bs) if p is not None)],
                nn.Tensor.placeholder([b * s, self.out_features], "float32"),
            )  # (b s, out)
            y = op.reshape(y, (b, s, self.out_features))  # (b, s, out)
        return y


class QEmbedding(nn.Module):
    """A token embedding stored in ``fmt``, usable as the output head too.

    Args:
        num_embeddings: Vocabulary size.
        embedding_dim: Hidden size.
        fmt: Storage format.
        act: Activations entering the output head: ``f32``, or ``int16`` with a q8 weight (``q4a16``'s head).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, fmt: str, act: str = "f32") -> None:
        self.num = num_embeddings
        self.dim = embedding_dim
        self.fmt = fmt
        self.act = act
        self._names = _make_params(self, fmt, num_embeddings, embedding_dim)

    def forward(self, ids: nn.Tensor) -> nn.Tensor:
        """Looks up ``ids`` of shape ``(s,)``; returns ``(s, dim)`` float32."""
        names, fmt, dim = self._names, self.fmt, self.dim
        rows = interleave_rows(self.num)

        def compute(ids_te: te.Tensor, *param_te: te.Tensor) -> te.Tensor:
            pmap = dict(zip(names, param_te))
            return te.compute(
                (ids_te.shape[0], dim), lambda i, j: dequant_expr(fmt, pmap, ids_te[i], j, rows), name="embed_lookup"
            )

        return op.tensor_expr_op(compute, "embed_lookup", [ids, *[getattr(self, n) for n in names]])

    def lm_head(self, x: nn.Tensor) -> nn.Tensor:
        """Projects hidden states ``(b, s, dim)`` to logits ``(b, s, num)``."""
        if self.fmt == "f32":
            return op.matmul(x, op.permute_dims(self.weight))  # type: ignore[attr-defined]
        params = [getattr(self, n) for n in self._names]
        return _matmul(x, self.fmt, self._names, params, self.num, f"{self.fmt}_lm_head", self.act)
