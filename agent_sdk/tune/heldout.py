"""Scoring a model on hand-phrased requests it was never trained on.

A held-out file holds JSON lines ``{"id", "q", "calls": [{"name",
"arguments"}], "match": {...}}``; ``calls`` is empty when no tool serves the
request. A request with calls is right when the model's calls are exactly
those (in any order; an omitted optional argument equals its default);
``match`` loosens one argument's comparison: ``casefold`` (text compared
without case and outer spaces), ``words`` (the same words, punctuation
aside: a message text with or without its full stop) or ``clock`` (times of day compared as hour
and minute: "7:30 am" = "7:30 AM"). A request with no calls is right when
the model makes none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_sdk.agent.backends import LocalBackend, StepRequest, run_step
from agent_sdk.agent.policy import CallPolicy
from agent_sdk.errors import UserError
from agent_sdk.runtime.engine import Engine

__all__ = ["HeldoutRow", "HeldoutScore", "load_heldout", "same_calls", "score_heldout"]

MATCH_KINDS = ("exact", "casefold", "words", "clock")


@dataclass(frozen=True)
class HeldoutRow:
    """One held-out request."""

    id: str
    q: str
    calls: tuple[dict[str, Any], ...]
    match: dict[str, str] = field(default_factory=dict)


@dataclass
class HeldoutScore:
    """Accuracy on the tool requests and on the requests no tool serves.

    Attributes:
        tool_right: Tool requests answered with exactly the right calls.
        tool_total: Tool requests.
        none_right: No-tool requests correctly declined.
        none_total: No-tool requests.
        misses: ``{"id", "q", "want", "got"}`` per wrong answer.
        seconds: Wall-clock time of the run.
    """

    tool_right: int = 0
    tool_total: int = 0
    none_right: int = 0
    none_total: int = 0
    misses: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def tool_accuracy(self) -> float:
        """Share of tool requests called exactly right."""
        return self.tool_right / self.tool_total if self.tool_total else float("nan")

    @property
    def decline_accuracy(self) -> float:
        """Share of no-tool requests declined."""
        return self.none_right / self.none_total if self.none_total else float("nan")

    def record(self) -> dict[str, Any]:
        """The score as JSON (for the manifest and reports)."""
        return {
            "tool_accuracy": round(self.tool_accuracy, 4), "tool_right": self.tool_right, "tool_total": self.tool_total,
            "decline_accuracy": round(self.decline_accuracy, 4), "none_right": self.none_right,
            "none_total": self.none_total, "seconds": round(self.seconds, 1),
        }


def load_heldout(path: Path | str) -> list[HeldoutRow]:
    """Reads a held-out file.

    Raises:
        UserError: A line that is not such an object, naming the file and line.
    """
    rows = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            q, calls, match = obj["q"], obj.get("calls") or [], obj.get("match") or {}
            if not isinstance(q, str) or not isinstance(calls, list) or not isinstance(match, dict):
                raise TypeError("q must be text, calls a list, match an object")
            for c in calls:
                if not isinstance(c.get("name"), str) or not isinstance(c.get("arguments", {}), dict):
                    raise TypeError("each call needs a name and an arguments object")
            bad = [k for k, v in match.items() if v not in MATCH_KINDS]
            if bad:
                raise TypeError(f"unknown match kind for {bad[0]!r}; expected one of {', '.join(MATCH_KINDS)}")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UserError(f"{path}:{n}: not a held-out request ({exc})") from exc
        rows.append(HeldoutRow(str(obj.get("id", n)), q, tuple(calls), dict(match)))
    return rows


_CLOCK = re.compile(r"^\s*(\d{1,2})(?:[:.](\d{2}))?\s*([ap])?\.?\s*m?\.?\s*$", re.IGNORECASE)


def _clock(text: str) -> tuple[int, int] | None:
    m = _CLOCK.match(text.replace("o'clock", "").strip())
    if not m:
        return None
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    if m.group(3):
        hour = hour % 12 + (12 if m.group(3).lower() == "p" else 0)
    return (hour, minute) if hour < 24 and minute < 60 else None


def _same_value(got: Any, want: Any, kind: str) -> bool:
    if kind == "casefold" and isinstance(got, str) and isinstance(want, str):
        return got.strip().casefold() == want.strip().casefold()
    if kind == "words" and isinstance(got, str) and isinstance(want, str):
        return re.findall(r"\w+", got.casefold()) == re.findall(r"\w+", want.casefold())
    if kind == "clock" and isinstance(got, str) and isinstance(want, str):
        g, w = _clock(got), _clock(want)
        return g is not None and g == w
    if isinstance(got, (int, float)) and isinstance(want, (int, float)) and not isinstance(got, bool):
        return float(got) == float(want)
    return bool(got == want)


def same_calls(got: Sequence[dict[str, Any]], want: Sequence[dict[str, Any]], *,
               match: dict[str, str] | None = None, defaults: dict[str, dict[str, Any]] | None = None) -> bool:
    """Whether ``got`` makes exactly the calls ``want`` asks for, in any order.

    Args:
        got: The model's calls, ``{"name", "arguments"}``.
        want: The expected calls.
        match: Argument name → comparison kind.
        defaults: Tool name → its optional arguments' defaults (an omitted one equals it).
    """
    match, defaults = match or {}, defaults or {}

    def same(g: dict[str, Any], w: dict[str, Any]) -> bool:
        if g["name"] != w["name"]:
            return False
        fill = defaults.get(w["name"], {})
        ga = {**fill, **(g.get("arguments") or {})}
        wa = {**fill, **(w.get("arguments") or {})}
        if set(ga) != set(wa):
            return False
        return all(_same_value(ga[k], wa[k], match.get(k, "exact")) for k in wa)

    left = list(got)
    if len(left) != len(want):
        return False
    for w in want:
        hit = next((i for i, g in enumerate(left) if same(g, w)), None)
        if hit is None:
            return False
        left.pop(hit)
    return True


def _defaults(tools: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for t in tools:
        props = (t.get("parameters") or {}).get("properties") or {}
        out[t["name"]] = {k: v["default"] for k, v in props.items() if isinstance(v, dict) and "default" in v}
    return out


def score_heldout(
    engine: Engine,
    tools: Sequence[dict[str, Any]],
    rows: Sequence[HeldoutRow],
    *,
    policy: CallPolicy,
    system: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> HeldoutScore:
    """Asks each request once (the agent's prompt and call step, no tool run) and scores the calls.

    Args:
        engine: The model.
        tools: ``{"name", "description", "parameters"}`` dicts.
        rows: The held-out requests.
        policy: The call policy (``auto`` for the real decision).
        system: Instructions before the tools (None: the default).
        progress: Called with (done, total).
    """
    import time

    backend = LocalBackend(engine)
    defaults = _defaults(tools)
    score = HeldoutScore()
    t0 = time.perf_counter()
    for i, row in enumerate(rows):
        step = run_step(backend.step(StepRequest(
            [{"role": "user", "content": row.q}], tools, policy, max_tokens=128, system=system, answer=False,
        )))
        got = [{"name": c.name, "arguments": c.arguments} for c in step.calls]
        if row.calls:
            score.tool_total += 1
            ok = same_calls(got, row.calls, match=row.match, defaults=defaults)
            score.tool_right += ok
        else:
            score.none_total += 1
            ok = not got
            score.none_right += ok
        if not ok:
            score.misses.append({"id": row.id, "q": row.q, "want": list(row.calls), "got": got})
        if progress:
            progress(i + 1, len(rows))
    score.seconds = time.perf_counter() - t0
    return score
