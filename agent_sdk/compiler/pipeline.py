"""Export a model to Relax, run the named passes, build a library."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tvm
from tvm import relax
from tvm.relax.frontend import nn

from agent_sdk.errors import CompileError

__all__ = ["export_module", "build_library", "relax_passes"]


def relax_passes() -> list[tvm.transform.Pass]:
    """The Relax passes, in order, that lower an exported model to a VM module.

    The default pipeline neither fuses nor keeps transposes out of matmuls;
    this one fuses element-wise ops into their producers and folds each
    weight transpose into its matmul.
    """
    t = relax.transform
    return [
        t.FuseTransposeMatmul(),
        t.LegalizeOps(),
        t.AnnotateTIROpPattern(),
        t.FoldConstant(),
        t.FuseOps(),
        t.FuseTIR(),
        t.DeadCodeElimination(),
        t.RewriteDataflowReshape(),
        t.ToNonDataflow(),
        t.RemovePurityChecking(),
        t.CallTIRRewrite(),
        t.StaticPlanBlockMemory(),
        t.LowerAllocTensor(),
        t.KillAfterLastUse(),
        t.LowerRuntimeBuiltin(),
        t.ComputePrimValue(),
        t.VMShapeLower(),
        t.AttachGlobalSymbol(),
    ]


def export_module(
    model: nn.Module, spec: dict[str, Any], target: dict[str, Any]
) -> tuple[tvm.IRModule, list[tuple[str, nn.Parameter]]]:
    """Exports ``model`` to a Relax IRModule for ``target``.

    The target must be known at export: the KV cache picks its attention
    kernels by target kind.

    Returns:
        The module and the model's named parameters, in the order the packed
        parameter list must be given at run time.
    """
    with tvm.target.Target(target):
        mod, named_params, *_ = model.export_tvm(spec=nn.spec.ModuleSpec.from_raw(spec, model), allow_extern=True)
    return mod, named_params


def build_library(
    mod: tvm.IRModule,
    target: dict[str, Any],
    out_path: Path,
    *,
    cross_compiler: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> float:
    """Lowers, compiles and links ``mod`` into a shared library.

    Args:
        mod: The exported module.
        target: TVM target dict.
        out_path: Where to write the ``.so``.
        cross_compiler: C++ driver used to link for another machine.
        progress: Called with a short message at each stage.

    Returns:
        Seconds spent.

    Raises:
        CompileError: On any failure inside TVM, with its message.
    """
    start = time.perf_counter()
    say = progress or (lambda _msg: None)
    try:
        tgt = tvm.target.Target(target)
        say("lowering")
        with tgt:
            seq = tvm.transform.Sequential(relax_passes())

            @tvm.transform.module_pass(opt_level=0)
            def pipeline(m: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
                return seq(m)

            say("generating code")
            ex = tvm.compile(mod, tgt, relax_pipeline=pipeline)
        say("linking")
        if cross_compiler:
            from tvm.support import cc

            ex.export_library(str(out_path), fcompile=cc.cross_compiler(cross_compiler))
        else:
            ex.export_library(str(out_path))
    except CompileError:
        raise
    except Exception as exc:  # TVM raises many types; report them as one
        first = str(exc).strip().splitlines()
        msg = first[-1] if first else type(exc).__name__
        raise CompileError(f"TVM failed to build the model for {target.get('kind')}: {msg}") from exc
    return time.perf_counter() - start
