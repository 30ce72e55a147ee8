"""Training progress on the terminal: a rich bar (step, loss, examples/s, ETA), plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any

from agent_sdk.tune.train import StepReport

__all__ = ["TrainProgress"]

PLAIN_EVERY_S = 10.0
"""Seconds between plain progress lines (a log, not a terminal)."""


class TrainProgress:
    """A step callback for :func:`~agent_sdk.tune.train.train`; use as a context manager.

    Args:
        quiet: Print nothing.
    """

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self._bar: Any = None
        self._task: Any = None
        self._last_line = 0.0

    def __enter__(self) -> TrainProgress:
        if not self.quiet and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("training"), BarColumn(), MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}  {task.fields[rate]:.1f} ex/s"), TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._bar.start()
            self._task = self._bar.add_task("training", total=None, loss=float("nan"), rate=0.0)
        return self

    def __exit__(self, *_: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __call__(self, report: StepReport) -> None:
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=report.step, total=report.total, loss=report.loss,
                             rate=report.examples_per_s)
            return
        now = time.monotonic()
        if now - self._last_line >= PLAIN_EVERY_S or report.step == report.total:
            self._last_line = now
            eta = f", ETA {report.eta_s:.0f} s" if report.eta_s is not None else ""
            total = f"/{report.total}" if report.total else ""
            print(f"step {report.step}{total}: loss {report.loss:.4f}, {report.examples_per_s:.1f} examples/s{eta}",
                  file=sys.stderr, flush=True)

    def note(self, line: str) -> None:
        """A stage line (above the bar on a terminal)."""
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.console.print(line)
        else:
            print(line, file=sys.stderr, flush=True)
