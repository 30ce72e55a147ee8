"""BFCL questions asked among many tools: each question's own functions hidden in a pool of others.

For ``agent-sdk eval bfcl --tool-pool N`` and ``tools/bench_toolrag.py``:
every question keeps its own functions and gets ``N`` minus that many others,
drawn (seeded) from the distinct functions of the data folder's
categories (simple_python's 400 questions have 370 distinct names; with the
multiple, parallel, parallel_multiple and irrelevance categories there are
982), at seeded positions, so where the right tool sits in the listing is
random too.
A function with the same name as one of the question's own is never drawn.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent_sdk.errors import UserError
from agent_sdk.eval.bfcl_data import BFCLQuestion, load_bfcl

__all__ = ["POOL_SOURCES", "pool_functions", "with_tool_pool"]

# The categories whose functions fill the pools, in this order (first of a name wins):
# Python functions written like simple_python's (the live categories' are REST-style APIs).
POOL_SOURCES = ("simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance")


def pool_functions(data_dir: Path) -> list[dict[str, Any]]:
    """Every distinct function (by name) of the pool source categories present, in file order.

    Raises:
        UserError: The data folder has none of them.
    """
    seen: dict[str, dict[str, Any]] = {}
    present = [c for c in POOL_SOURCES if (Path(data_dir) / f"BFCL_v4_{c}.json").is_file()]
    for q in load_bfcl(data_dir, present) if present else ():
        for fn in q.tools:
            seen.setdefault(str(fn.get("name")), fn)
    if not seen:
        raise UserError(f"{data_dir}: no BFCL_v4_{POOL_SOURCES[0]}.json (or other source) to draw tool pools from")
    return list(seen.values())


def with_tool_pool(
    questions: Sequence[BFCLQuestion], functions: Sequence[dict[str, Any]], size: int, *, seed: int = 0
) -> list[BFCLQuestion]:
    """Each question with its functions hidden among others, ``size`` in all.

    Args:
        questions: The questions.
        functions: The functions to draw from (:func:`pool_functions`).
        size: Tools per question (at least its own; a question with more of
            its own keeps them all).
        seed: Seeds which functions are drawn and where the question's own go.

    Returns:
        Copies of the questions with pooled ``tools``.

    Raises:
        UserError: ``size`` is below 1 or larger than the functions available.
    """
    if size < 1:
        raise UserError(f"--tool-pool must be at least 1, got {size}")
    out = []
    for q in questions:
        own = {str(t.get("name")) for t in q.tools}
        others = [f for f in functions if str(f.get("name")) not in own]
        extra = size - len(q.tools)
        if extra > len(others):
            raise UserError(f"--tool-pool {size}: only {len(others) + len(q.tools)} distinct functions to draw from")
        rng = random.Random(f"{seed}:{q.id}")
        pool = rng.sample(others, max(extra, 0))
        for fn in q.tools:
            pool.insert(rng.randrange(len(pool) + 1), fn)
        out.append(replace(q, tools=pool))
    return out
