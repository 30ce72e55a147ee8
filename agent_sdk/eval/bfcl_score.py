"""Scores a BFCL results file with BFCL's own checker, when it is reachable.

The checker (``../shared/eval/bfcl_score.py``, BFCL's AST checker run
offline) is not part of this package; it is found next to the data folder,
in ``../shared/eval`` or through ``AGENT_SDK_BFCL_SCORER``, and run in a
subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["find_scorer", "score_bfcl"]


def find_scorer(data: Path) -> Path | None:
    """The checker script, or None when none is reachable."""
    candidates = [Path(os.environ.get("AGENT_SDK_BFCL_SCORER", "")), data.parent / "bfcl_score.py",
                  Path.cwd().parent / "shared" / "eval" / "bfcl_score.py"]
    return next((c for c in candidates if c.is_file()), None)


def score_bfcl(data: Path, results: Path, categories: list[str] | None) -> list[str]:
    """The checker's report lines (accuracy per category), or one line saying how to score."""
    scorer = find_scorer(data)
    if scorer is None:
        return [f"(score with: python ../shared/eval/bfcl_score.py --data {data} --results {results})"]
    cmd = [sys.executable, str(scorer), "--data", str(data), "--results", str(results), "--only-answered"]
    if categories:
        cmd += ["--category", *categories]  # the scorer takes one --category with several values
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return [f"(scorer failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode})"]
    return [line for line in out.stdout.splitlines() if line.strip()]
