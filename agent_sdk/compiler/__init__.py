"""Compile a model into a bundle: library + weights + tokenizer + manifest.

``compile_model("smollm2-135m", quant="q4", target="host")`` reads the
checkpoint, exports the architecture to Relax, lowers and builds it for the
target, converts the weights to the requested storage format and writes a
verified bundle folder (by default ``compiled/<model>-<quant>-<target>/``).
``ensure_bundle`` (:mod:`agent_sdk.compiler.cache`) reuses such a folder while
it is fresh and compiles it otherwise.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from agent_sdk.compiler.cache import ensure_bundle, list_bundles, tvm_version
from agent_sdk.errors import CompileError, UserError
from agent_sdk.manifest import compiler_fingerprint, cpu_fingerprint, write_manifest

__all__ = [
    "CompileResult",
    "compile_model",
    "compiled_root",
    "default_bundle_dir",
    "ensure_bundle",
    "list_bundles",
    "read_checkpoint",
    "tvm_version",
]

LIBRARY = "model.so"
PARAMS = "params.safetensors"


def compiled_root() -> Path:
    """Where bundles go by default: ``$AGENT_SDK_COMPILED`` or ``./compiled``."""
    env = os.environ.get("AGENT_SDK_COMPILED")
    if env:
        return Path(env)
    return Path.cwd() / "compiled"


def default_bundle_dir(name: str, quant: str, target: str) -> Path:
    """``compiled/<name>-<quant>-<target>``."""
    return compiled_root() / f"{name}-{quant}-{target}"


class CompileResult(dict):  # type: ignore[type-arg]
    """The manifest of the written bundle, plus ``path``."""

    @property
    def path(self) -> Path:
        """The bundle folder."""
        return Path(self["path"])


def compile_model(
    model: str | os.PathLike[str],
    *,
    quant: str = "q4",
    target: str = "host",
    out: str | os.PathLike[str] | None = None,
    name: str | None = None,
    allow_download: bool = False,
    progress: Callable[[str, float], None] | None = None,
    kv_dtype: str | None = None,
    tensor_overrides: Mapping[str, np.ndarray] | None = None,
    low_rank: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    low_rank_dtype: str = "float32",
    manifest_extra: Mapping[str, Any] | None = None,
    extra_files: Mapping[str, Path] | None = None,
) -> CompileResult:
    """Compiles a model into a bundle.

    Args:
        model: Preset name, Hugging Face folder or GGUF file.
        quant: ``q4``, ``q4a16``, ``q4a8``, ``q5``, ``q8``, ``f16``, ``f32``, or ``auto`` (the layout that keeps a GGUF
            file's own values, :mod:`agent_sdk.compiler.quant_choice`; ``q4`` for float checkpoints).
        target: ``host``, ``pi4``, ``pi5``, ``aarch64`` or ``vulkan``.
        out: Bundle folder; default ``compiled/<model>-<quant>-<target>``.
        name: Model name recorded in the manifest and used for the folder.
        allow_download: Let a preset download its weights from the hub.
        progress: Called with (stage description, fraction done).
        kv_dtype: KV-cache storage, ``f32`` or ``f16``; default: the
            quantization preset's. A non-default choice adds ``-kv<dtype>``
            to the default folder name.
        tensor_overrides: Canonical (Hugging Face) tensor name → float
            array replacing that tensor of the checkpoint, same shape (a tuned
            model's merged weights); converted to ``quant`` like any float weight.
        low_rank: Checkpoint projection (``model.layers.0.self_attn.q_proj``) →
            ``(A (r, in), B (out, r))`` with the adapter's scale in ``B``: an
            update kept beside the stored weights in ``low_rank_dtype`` (an unmerged
            LoRA adapter, :mod:`agent_sdk.models.low_rank`), so q4 bundles keep it.
        low_rank_dtype: How ``low_rank``'s factors are stored: ``float32``, ``float16`` (half the bytes each
            token reads), or ``int8`` with a float32 scale per row of each factor (a quarter; each row rounded
            to 255 levels of its largest value); the arithmetic stays float32.
        manifest_extra: More top-level manifest entries (``tuning``,
            ``prompt``); they may not replace the compiler's own.
        extra_files: Bundle file name → file to copy in (a tuned model's
            adapter); hashed into the manifest like every other file.

    Returns:
        The manifest, with ``path`` set to the bundle folder.

    Raises:
        UserError: Unknown model, quantization or target (``TargetError``).
        ModelFormatError: A bad checkpoint.
        CompileError: TVM failed.
    """
    import tvm

    from agent_sdk.compiler.pipeline import build_library, export_module
    from agent_sdk.compiler.quant_choice import AUTO, choose_quant, module_layouts, resolve_quant
    from agent_sdk.compiler.targets import resolve_target
    from agent_sdk.models.registry import architecture_for
    from agent_sdk.models.resolve import resolve_model
    from agent_sdk.quantization.formats import FACTOR_DTYPES, GROUP, QuantConfig

    say = progress or (lambda _m, _f: None)
    if getattr(tvm.base, "_RUNTIME_ONLY", False):
        raise CompileError(
            "this process loaded TVM's runtime only (an Engine was created before compiling); "
            "compile in another process, or set AGENT_SDK_RUNTIME_ONLY=0 before creating the Engine"
        )
    if quant != AUTO:
        QuantConfig.from_name(quant, kv_dtype)  # fail fast, before reading weights
    if low_rank_dtype not in FACTOR_DTYPES:
        raise UserError(f"low_rank_dtype must be one of {', '.join(FACTOR_DTYPES)}; got {low_rank_dtype!r}")
    tspec, tdict = resolve_target(target)
    ref = resolve_model(model, allow_download=allow_download)
    if ref.kind == "bundle":
        raise UserError(f"{ref.path} is already a compiled bundle; pass the checkpoint or preset to compile")
    # A tuned model's weights (merged, or an update kept beside them: tune, --adapter) were trained with float
    # activations: the deployed model must compute the same.
    tuned = bool(low_rank or tensor_overrides)
    quant = resolve_quant(quant, ref.path, target=target, int16=not tuned)
    base = choose_quant(ref.path) if quant == AUTO else quant  # AUTO: a GGUF file of mixed types
    qcfg = QuantConfig.from_name(base, kv_dtype)
    if low_rank and qcfg.act != "f32":
        raise UserError(f"--quant {quant} rounds activations to {qcfg.act}; an adapter kept beside the weights was "
                        "trained with float activations and needs q4, q5, q8, f16 or f32")
    model_name = name or ref.name
    label = quant if qcfg.kv == QuantConfig.from_name(base).kv else f"{quant}-kv{qcfg.kv}"
    dest = Path(out) if out else default_bundle_dir(model_name, label, target)

    t0 = time.perf_counter()
    say("reading checkpoint", 0.02)

    arch = architecture_for(_model_type_of(ref.path))
    ckpt = arch.resolve("loader")(ref.path)
    cfg = ckpt.config
    for tname, array in (tensor_overrides or {}).items():
        ckpt.replace_tensor(tname, array)
    if quant == AUTO:
        from agent_sdk.models.gguf_source import module_sources

        sources = module_sources(cfg.num_hidden_layers, lm_head="lm_head.weight" in ckpt.tensors)
        chosen = module_layouts(ckpt.tensors, sources)
        qcfg = dataclasses.replace(
            qcfg, name=AUTO, layouts=tuple(sorted((m, f) for m, f in chosen.items() if f != qcfg.fmt_for(m)))
        )

    say("exporting model", 0.1)
    net = arch.resolve("model_factory")(cfg, qcfg)
    fused_low_rank: dict[str, Any] = {}
    if low_rank:
        from agent_sdk.models.low_rank import attach_low_rank, fuse_low_rank

        fused_low_rank = fuse_low_rank(low_rank, {n: tuple(v.shape) for n, v in ckpt.tensors.items()})
        attach_low_rank(net, fused_low_rank, dtype=low_rank_dtype)
    mod, named = export_module(net, arch.resolve("export_spec")(net), tdict)

    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    work.chmod(0o755)
    try:
        say("converting weights", 0.15)
        params = arch.resolve("param_builder")(
            ckpt, qcfg.linear, qcfg.embed, lambda i, n: say("converting weights", 0.15 + 0.2 * i / n),
            layouts=dict(qcfg.layouts),
        )
        if fused_low_rank:
            from agent_sdk.models.low_rank import low_rank_params

            params.update(low_rank_params(fused_low_rank, dtype=low_rank_dtype))
        order = _check_params(named, params)
        from agent_sdk._safetensors import write_safetensors

        write_safetensors(work / PARAMS, params, order)
        del params

        say("compiling library", 0.4)
        build_s = build_library(
            mod, tdict, work / LIBRARY, cross_compiler=tspec.cross_compiler,
            progress=lambda m: say(f"compiling library: {m}", 0.5),
        )
        say("writing bundle", 0.95)
        for fname, data in ckpt.tokenizer_files.items():
            (work / fname).write_bytes(data)
        (work / "tokenizer_meta.json").write_text(json.dumps(ckpt.tokenizer_meta, indent=2) + "\n")
        for fname, src in (extra_files or {}).items():
            if "/" in fname or fname.startswith(".") or (work / fname).exists():
                raise UserError(f"cannot add {fname!r} to the bundle: not a plain new file name")
            shutil.copyfile(src, work / fname)
        manifest: dict[str, Any] = {
            "name": model_name,
            "architecture": arch.name,
            "model": cfg.to_dict(),
            "parameters": cfg.parameter_count(),
            "quantization": {"name": qcfg.name, "linear": qcfg.linear, "embed": qcfg.embed, "group_size": GROUP,
                             "kv_dtype": qcfg.kv, **({"layouts": dict(qcfg.layouts)} if qcfg.layouts else {})},
            "target": {"name": tspec.name, "tvm": _jsonable(tdict), "arch": tspec.arch or platform.machine()},
            "tvm_version": tvm.__version__,
            "compiler": compiler_fingerprint(),
            "source": {"path": str(ref.path), "format": ckpt.source_format, "weight_types": ckpt.weight_types},
            "library": LIBRARY,
            "params": PARAMS,
            "param_order": order,
            "hidden_states": net.hidden_states_info(),  # what Engine.hidden_states reads
            "tokenizer": "tokenizer.json" if "tokenizer.json" in ckpt.tokenizer_files else "tokenizer.model",
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(build_s, 2),
            "host": {
                "machine": platform.machine(),
                "cpu": tdict.get("mcpu") if target == "host" else None,
                "fingerprint": cpu_fingerprint() if target == "host" else None,
            },
        }
        if fused_low_rank:  # the update kept beside the weights (Engine needs nothing more: they are parameters)
            manifest["low_rank"] = {"projections": len(low_rank or {}), "modules": len(fused_low_rank),
                                    # factor values, not counting int8's scales (one per row of A and of B)
                                    "parameters": int(sum(u.at.size + u.bt.size for u in fused_low_rank.values())),
                                    "dtype": low_rank_dtype}
        for key, value in (manifest_extra or {}).items():
            if key in manifest:
                raise UserError(f"manifest entry {key!r} is the compiler's own")
            manifest[key] = json.loads(json.dumps(value))  # plain JSON, or a TypeError now
        write_manifest(work, manifest)
        if dest.exists():
            shutil.rmtree(dest)
        work.replace(dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    say("done", 1.0)
    result = CompileResult(json.loads((dest / "manifest.json").read_text()))
    result["path"] = str(dest)
    result["total_seconds"] = round(time.perf_counter() - t0, 2)
    return result


def read_checkpoint(model: str | os.PathLike[str], *, allow_download: bool = False) -> tuple[Any, Any]:
    """Reads a preset, Hugging Face folder or GGUF file as the compiler does, without compiling.

    Returns:
        ``(ModelRef, Checkpoint)``: where it was found and its tensors, config and tokenizer.

    Raises:
        UserError: Unknown model, or a compiled bundle (it holds no checkpoint).
        ModelFormatError: A bad checkpoint.
    """
    from agent_sdk.models.registry import architecture_for
    from agent_sdk.models.resolve import resolve_model

    ref = resolve_model(model, allow_download=allow_download)
    if ref.kind == "bundle":
        raise UserError(f"{ref.path} is a compiled bundle; give the checkpoint or preset it was compiled from")
    return ref, architecture_for(_model_type_of(ref.path)).resolve("loader")(ref.path)


def _model_type_of(path: Path) -> str:
    if path.is_dir():
        try:
            return str(json.loads((path / "config.json").read_text()).get("model_type"))
        except (OSError, ValueError):
            return "mobilellm"  # the loader reports the real problem
    from agent_sdk.models.registry import gguf_model_type

    return gguf_model_type(path)  # GGUF: general.architecture names the family; its loader checks the rest


def _check_params(named: list[tuple[str, Any]], params: dict[str, Any]) -> list[str]:
    """Checks converted weights against the exported parameters; returns the order."""
    problems = []
    for pname, p in named:
        if pname not in params:
            problems.append(f"no weight for parameter {pname}")
            continue
        arr = params[pname]
        want_shape = tuple(int(x) for x in p.shape)
        if tuple(arr.shape) != want_shape or str(arr.dtype) != str(p.dtype):
            problems.append(f"{pname}: got {arr.dtype}{tuple(arr.shape)}, model expects {p.dtype}{want_shape}")
    extra = set(params) - {n for n, _ in named}
    problems += [f"weight {n} has no parameter" for n in sorted(extra)]
    if problems:
        raise CompileError("converted weights do not match the model: " + "; ".join(problems[:10]))
    return [n for n, _ in named]


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if isinstance(v, (str, int, float, bool, list)) else str(v)) for k, v in d.items()}
