"""Where a request's time goes: named phases, timed only while someone records.

Code marks its work with ``with phase("decode"):``; nothing is timed (one
context-variable read) unless a :func:`recording` is active in the same
thread or task. Phases nest: a phase's time is *exclusive* (what ran inside a
nested phase is counted there), and a nested phase is named by its path, so
the model's prefill inside the re-ranking step shows as ``rerank/prefill``,
apart from the user turn's ``prefill``. The exclusive times of all phases add
up to the time covered by phases; the rest of a request's wall time is the
Python around them (``tools/bench_call_latency.py`` reports it as overhead).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import TracebackType

__all__ = ["PhaseRecorder", "phase", "recording"]

_ACTIVE: ContextVar[PhaseRecorder | None] = ContextVar("agent_sdk_phase_recorder", default=None)


@dataclass
class PhaseRecorder:
    """Exclusive seconds and entry counts per phase path.

    Attributes:
        seconds: Phase path (``"rerank/prefill"``) → exclusive seconds.
        counts: Phase path → times entered.
    """

    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    _stack: list[list[object]] = field(default_factory=list, repr=False)

    def total(self) -> float:
        """Seconds covered by phases (each second counted once)."""
        return sum(self.seconds.values())

    def by_top(self) -> dict[str, float]:
        """Seconds per top-level phase, nested phases included (``rerank`` = ``rerank`` + ``rerank/*``)."""
        out: dict[str, float] = {}
        for path, s in self.seconds.items():
            top = path.split("/", 1)[0]
            out[top] = out.get(top, 0.0) + s
        return out

    def _enter(self, name: str) -> None:
        path = f"{self._stack[-1][0]}/{name}" if self._stack else name
        self._stack.append([path, time.perf_counter(), 0.0])

    def _exit(self) -> None:
        path, t0, inner = self._stack.pop()
        elapsed = time.perf_counter() - float(t0)  # type: ignore[arg-type]
        key = str(path)
        self.seconds[key] = self.seconds.get(key, 0.0) + elapsed - float(inner)  # type: ignore[arg-type]
        self.counts[key] = self.counts.get(key, 0) + 1
        if self._stack:
            self._stack[-1][2] = float(self._stack[-1][2]) + elapsed  # type: ignore[arg-type]


class phase:  # lower case: used like a function, ``with phase("decode"):``
    """Times the enclosed block as ``name`` when a :func:`recording` is active.

    Args:
        name: The phase's name (no ``/``: nesting makes the path).
    """

    __slots__ = ("_rec", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._rec: PhaseRecorder | None = None

    def __enter__(self) -> None:
        rec = _ACTIVE.get()
        self._rec = rec
        if rec is not None:
            rec._enter(self.name)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._rec is not None:
            self._rec._exit()
            self._rec = None


@contextlib.contextmanager
def recording() -> Iterator[PhaseRecorder]:
    """Records the phases run inside the block (this thread or task only)."""
    rec = PhaseRecorder()
    token = _ACTIVE.set(rec)
    try:
        yield rec
    finally:
        _ACTIVE.reset(token)
