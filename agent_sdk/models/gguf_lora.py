"""A PEFT LoRA adapter written as llama.cpp's LoRA GGUF, for the GGUF it was trained on.

llama.cpp (and what is built on it: llama-cpp-python, Ollama) applies a LoRA
adapter at run time from a GGUF of its own kind: ``general.type = "adapter"``,
``adapter.type = "lora"``, ``adapter.lora.alpha``, and per adapted weight two
tensors named after it, ``blk.{i}.attn_q.weight.lora_a`` (numpy ``(r, in)``)
and ``...lora_b`` (``(out, r)``); the update is ``(alpha / r) B A``. Its own
converter needs the Hugging Face model's config (or the hub); this writer
needs only the base GGUF, which it reads for the architecture, the head
counts and the weights' shapes, so an adapter that does not fit the file is
refused before anything is written.

Layout differences handled here:

* llama.cpp's converter stores a Llama-architecture model's Q and K rows
  permuted for its RoPE (the loaders here undo it: ``mobilellm_loader``), so
  the rows of ``B`` for ``q_proj`` and ``k_proj`` are permuted the same way;
  Qwen2, Qwen3 and Gemma 3 files keep Hugging Face's order.
* The scale is folded into ``B`` (``alpha`` is written equal to ``r``), so
  the file holds exactly the update the compiled bundle adds when both are
  rounded to the same storage (``agent-sdk tune`` with float16 factors, its
  default, rounds ``A`` and ``s B`` to float16 before it saves,
  :func:`agent_sdk.tune.adapter.round_adapter`, and writes this file in float16).

A base llama.cpp would run differently from the compiler is refused
(:func:`unsupported_base`): a ``mobilellm`` file, which llama.cpp does not
know, and blocks shared by ``layer_sharing``, which it ignores.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from agent_sdk.errors import ModelFormatError, UserError
from agent_sdk.models.gguf_reader import is_gguf_file, parse_gguf
from agent_sdk.models.peft_adapter import read_peft_adapter
from agent_sdk.quantization.formats import FACTOR_DTYPES

__all__ = [
    "GGUF_ADAPTER", "GGUF_LORA_DTYPES", "GGUF_PROJECTIONS", "LLAMA_CPP_ARCHITECTURES", "PERMUTED_ARCHITECTURES",
    "gguf_adapter_refusal", "gguf_lora_dtype", "gguf_lora_tensors", "unsupported_base", "write_gguf_lora",
]

GGUF_ADAPTER = "adapter.gguf"
"""The file name of llama.cpp's copy of the adapter in a bundle (``agent-sdk tune``, ``compile --adapter``)."""

GGUF_PROJECTIONS: dict[str, str] = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
"""Hugging Face projection (under ``model.layers.N.``) → llama.cpp's tensor name (under ``blk.N.``)."""

PERMUTED_ARCHITECTURES = frozenset({"llama"})
"""GGUF architectures whose Q/K rows llama.cpp's converter permutes (its ``LlamaModel.permute``)."""

LLAMA_CPP_ARCHITECTURES = frozenset({"llama", "qwen2", "qwen3", "gemma3"})
"""GGUF architectures both the compiler and llama.cpp run, whose layout here is llama.cpp's. (The compiler also reads
``mobilellm`` GGUFs, which llama.cpp does not know.)"""

GGUF_LORA_DTYPES: tuple[str, ...] = ("float16", "float32")
"""How the factors may be stored (llama.cpp reads both)."""


def gguf_lora_dtype(low_rank_dtype: str) -> str:
    """How ``adapter.gguf`` stores the factors of a bundle whose update is kept in ``low_rank_dtype``.

    float16 stays float16; int8 and float32 are written in float32. An adapter ``agent-sdk tune`` rounded to int8
    levels is then held exactly (its values are levels times a float32 scale); one given to ``compile --adapter``
    keeps its own values there, while the bundle rounds them to int8 levels.

    Raises:
        UserError: A storage the bundles do not have.
    """
    if low_rank_dtype not in FACTOR_DTYPES:
        raise UserError(f"no adapter.gguf storage for low-rank factors in {low_rank_dtype!r}")
    return "float16" if low_rank_dtype == "float16" else "float32"


_MODULE = re.compile(r"^model\.layers\.(\d+)\.(.+)$")


def _permute_rows(rows: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's Q/K row order from Hugging Face's (rotate-half → interleaved RoPE pairs), for whole rows."""
    n = rows.shape[0]
    if n_head < 1 or n % (2 * n_head):
        raise ModelFormatError(f"{n} rows cannot be split into {n_head} heads of RoPE pairs")
    return np.ascontiguousarray(rows.reshape(n_head, 2, n // n_head // 2, -1).swapaxes(1, 2).reshape(rows.shape))


def _meta_int(meta: dict[str, Any], key: str, path: Path) -> int:
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ModelFormatError(f"{path}: metadata {key} is {value!r}; expected a positive integer")
    return value


def unsupported_base(meta: dict[str, Any]) -> str | None:
    """Why llama.cpp could not apply an adapter to the GGUF with this metadata as it was trained, or None.

    Args:
        meta: The base GGUF's metadata (:func:`~agent_sdk.models.gguf_reader.parse_gguf`).

    Returns:
        The reason, or None when an adapter written here runs in llama.cpp as in the compiled bundle.
    """
    arch = meta.get("general.architecture")
    if meta.get("general.type") == "adapter":
        return "the file is itself an adapter, not a base model"
    if not isinstance(arch, str) or arch not in LLAMA_CPP_ARCHITECTURES:
        return (f"architecture {arch!r}: llama.cpp runs {', '.join(sorted(LLAMA_CPP_ARCHITECTURES))} files "
                "with the layout written here")
    if meta.get(f"{arch}.layer_sharing"):
        return "its blocks are shared (each run twice), which llama.cpp ignores: it would run another model"
    return None


def gguf_adapter_refusal(base: Path | str) -> str | None:
    """Why no ``adapter.gguf`` can be written for the base model at ``base``, or None when one can.

    Args:
        base: The base model's file or folder (``agent-sdk tune --model``, ``agent-sdk compile``).

    Returns:
        ``"the base model is not a GGUF file"`` for anything but a GGUF file (llama.cpp runs only those), the
        reason :func:`unsupported_base` gives for a GGUF file llama.cpp would run differently, else None.

    Raises:
        ModelFormatError: A GGUF file whose metadata cannot be read.
    """
    if not is_gguf_file(base):
        return "the base model is not a GGUF file"
    return unsupported_base(parse_gguf(Path(base))[0])


def gguf_lora_tensors(
    adapter: Path | str, base_gguf: Path | str
) -> tuple[str, int, dict[str, np.ndarray]]:
    """The adapter's tensors as llama.cpp names and orders them for ``base_gguf``.

    Args:
        adapter: A PEFT LoRA folder (``adapter_config.json`` + ``adapter_model.safetensors``).
        base_gguf: The GGUF file the adapter was trained on.

    Returns:
        ``(architecture, rank, tensors)``: GGUF tensor name → float32 array
        (``...lora_a`` ``(r, in)``, ``...lora_b`` ``(out, r)`` with the scale
        folded in), in layer and projection order.

    Raises:
        ModelFormatError: An unreadable adapter or GGUF, a base llama.cpp
            would not run as it was trained (:func:`unsupported_base`), or a
            projection the GGUF does not have with that shape (all listed at once).
    """
    base_gguf = Path(base_gguf)
    config, updates = read_peft_adapter(adapter)
    meta, table = parse_gguf(base_gguf)
    why = unsupported_base(meta)
    if why:
        raise ModelFormatError(f"{base_gguf}: no llama.cpp adapter can be written for this file: {why}")
    arch = meta["general.architecture"]  # a str: unsupported_base checked it
    shapes = {name: shape for name, _, shape, _ in table}
    heads = {"attn_q": _meta_int(meta, f"{arch}.attention.head_count", base_gguf)}
    heads["attn_k"] = _meta_int(meta, f"{arch}.attention.head_count_kv", base_gguf) \
        if f"{arch}.attention.head_count_kv" in meta else heads["attn_q"]

    def order(module: str) -> tuple[int, int]:
        m = _MODULE.match(module)
        return (int(m.group(1)), list(GGUF_PROJECTIONS).index(m.group(2))) if m and m.group(2) in GGUF_PROJECTIONS \
            else (-1, -1)

    problems: list[str] = []
    out: dict[str, np.ndarray] = {}
    for module in sorted(updates, key=order):
        a, b = updates[module]
        m = _MODULE.match(module)
        if not m or m.group(2) not in GGUF_PROJECTIONS:
            problems.append(f"{module}: not a projection llama.cpp names")
            continue
        gguf_proj = GGUF_PROJECTIONS[m.group(2)]
        weight = f"blk.{m.group(1)}.{gguf_proj}.weight"
        want = (b.shape[0], a.shape[1])
        if weight not in shapes:
            problems.append(f"{module}: {base_gguf.name} has no tensor {weight}")
            continue
        if tuple(shapes[weight]) != want:
            problems.append(f"{module}: the adapter's update is {want}, {weight} is {tuple(shapes[weight])}")
            continue
        if arch in PERMUTED_ARCHITECTURES and gguf_proj in heads:
            b = _permute_rows(b, heads[gguf_proj])
        out[f"{weight}.lora_a"] = a
        out[f"{weight}.lora_b"] = b
    if problems:
        shown = problems[:12] + ([f"... and {len(problems) - 12} more"] if len(problems) > 12 else [])
        raise ModelFormatError(f"{adapter}: the adapter does not fit {base_gguf}:\n  " + "\n  ".join(shown))
    return arch, int(config["r"]), out


def write_gguf_lora(adapter: Path | str, base_gguf: Path | str, out: Path | str, *, dtype: str = "float16") -> Path:
    """Writes a PEFT LoRA folder as a llama.cpp LoRA GGUF for ``base_gguf``.

    ``llama-cli -m BASE.gguf --lora OUT.gguf``, or ``llama_cpp.Llama(model_path=BASE, lora_path=OUT)``.

    Args:
        adapter: A PEFT LoRA folder.
        base_gguf: The GGUF file the adapter was trained on.
        out: The file to write (replaced if present).
        dtype: ``float16`` (half the bytes; exact for an adapter ``agent-sdk tune`` rounded to float16) or ``float32``.

    Returns:
        ``out``.

    Raises:
        UserError: An unknown ``dtype``, or ``out`` is the base file.
        ModelFormatError: See :func:`gguf_lora_tensors`; also factors float16 cannot hold. Nothing is left at
            ``out`` (or beside it) by a failed write.
    """
    import gguf  # a dependency of the package (the test fixtures and the loaders' references use it too)

    if dtype not in GGUF_LORA_DTYPES:
        raise UserError(f"dtype must be one of {', '.join(GGUF_LORA_DTYPES)}; got {dtype!r}")
    out = Path(out)
    if out.exists() and out.resolve() == Path(base_gguf).resolve():
        raise UserError(f"{out}: the adapter would replace its own base model; write it elsewhere")
    arch, rank, tensors = gguf_lora_tensors(adapter, base_gguf)
    limit = float(np.finfo(dtype).max)
    for name, t in tensors.items():
        if not np.isfinite(t).all():
            raise ModelFormatError(f"{adapter}: {name} holds values that are not finite")
        if float(np.abs(t).max(initial=0.0)) > limit:
            raise ModelFormatError(f"{adapter}: {name} holds {float(np.abs(t).max()):g}, which {dtype} cannot store")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    try:
        writer = gguf.GGUFWriter(str(tmp), arch)
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(rank))  # the scale is in B already: alpha / r = 1
        for name, t in tensors.items():
            writer.add_tensor(name, np.ascontiguousarray(t, dtype=dtype))
        try:
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_tensors_to_file()
        finally:
            writer.close()
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out
