"""Values the request says in words, put into a call in the form the tool takes.

A small model copies what it hears: "countdown two hours" becomes
``set_timer(minutes=2)`` and "quarter past seven in the morning" becomes
``"7:30 am"`` as often as ``"7:15 am"``. When the request states one
duration, or one time of day, without doubt (:mod:`agent_sdk.agent.spoken`),
and the call carries it in a parameter that takes it, the stated value
replaces the written one:

- a number parameter named for a unit (``minutes``, ``timeout_seconds``,
  ``hours``) gets the duration in that unit; a tool with several such
  parameters (``minutes`` and ``seconds``) gets each part in the largest unit
  that holds it ("1 minute 30 seconds" is ``minutes=1, seconds=30``);
- a free-text string parameter whose value is a clock time ("6 am",
  "18:30") gets the stated time, written the same way.

Nothing changes when the request states several durations or times, when the
converted value is not whole for an integer or falls outside the schema's
bounds, or when the parameter has an enum, a pattern or a format.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from agent_sdk.agent.spoken import Clock, parse_clock, spoken_clocks, spoken_durations
from agent_sdk.agent.words import name_words

__all__ = ["parameter_unit", "render_clock", "said_values"]

# Words of a parameter's name that give its unit ("min" and "sec" are left out: ``min_price``).
_UNIT_WORDS = {"hour": 3600, "hours": 3600, "hrs": 3600, "minute": 60, "minutes": 60, "mins": 60,
               "second": 1, "seconds": 1, "secs": 1}


def parameter_unit(name: str, schema: dict[str, Any]) -> int | None:
    """Seconds per unit of a number parameter named for a unit of time (``minutes`` → 60), else None."""
    types = schema.get("type")
    types = set(types) if isinstance(types, list) else {types}
    if not types & {"integer", "number"} or "enum" in schema:
        return None
    units = {_UNIT_WORDS[w] for w in name_words(name) + [name.lower()] if w in _UNIT_WORDS}
    return units.pop() if len(units) == 1 else None


_TWELVE = re.compile(r"^(\s*)(\d{1,2})(?::(\d{2}))?(\s*)([aApP])(\.?)([mM]?)(\.?)(\s*)$")
_TWENTY_FOUR = re.compile(r"^(\s*)(\d{1,2}):(\d{2})(\s*)$")


def render_clock(clock: Clock, like: str) -> str | None:
    """``clock`` written the way ``like`` writes a time ("7:30 am", "7AM", "07:30"); None when ``like`` is none of those.

    A clock whose half of the day is unknown takes ``like``'s.
    """
    m = _TWELVE.match(like)
    if m:
        lead, hour_text, minute_text, gap, letter, dot1, em, dot2, tail = m.groups()
        pm = letter.lower() == "p"
        if clock.half_known:
            pm = clock.hour >= 12
        h12 = clock.hour % 12 or 12
        minutes = f":{clock.minute:02d}" if clock.minute or minute_text is not None else ""
        half = ("p" if pm else "a") if letter.islower() else ("P" if pm else "A")
        return f"{lead}{h12}{minutes}{gap}{half}{dot1}{em}{dot2}{tail}"
    m = _TWENTY_FOUR.match(like)
    if m:
        lead, hour_text, _, tail = m.groups()
        hour = clock.hour
        if not clock.half_known:
            written = parse_clock(like)
            if written is not None and written.hour >= 12 and hour < 12:
                hour += 12
        return f"{lead}{hour:0{len(hour_text)}d}:{clock.minute:02d}{tail}"
    return None


def _properties(tools: Sequence[dict[str, Any]], name: str) -> dict[str, Any]:
    for t in tools:
        if t.get("name") == name:
            props = (t.get("parameters") or {}).get("properties")
            return props if isinstance(props, dict) else {}
    return {}


def _in_bounds(value: float, schema: dict[str, Any]) -> bool:
    lo, hi = schema.get("minimum"), schema.get("maximum")
    if isinstance(lo, (int, float)) and value < lo:
        return False
    if isinstance(hi, (int, float)) and value > hi:
        return False
    xlo, xhi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(xlo, (int, float)) and not isinstance(xlo, bool) and value <= xlo:
        return False
    return not (isinstance(xhi, (int, float)) and not isinstance(xhi, bool) and value >= xhi)


def _durations(args: dict[str, Any], props: dict[str, Any], parts: list[tuple[float, int]]) -> dict[str, Any]:
    """The duration ``parts`` spread over the call's unit parameters, or {} when they do not fit."""
    units = {}
    for key, schema in props.items():
        unit = parameter_unit(key, schema) if isinstance(schema, dict) else None
        if unit is not None:
            units[key] = unit
    if not units or not any(k in args for k in units):
        return {}
    totals: dict[str, float] = {}
    by_size = sorted(units, key=lambda k: -units[k])
    for amount, unit in parts:
        key = next((k for k in by_size if units[k] <= unit), by_size[-1])
        totals[key] = totals.get(key, 0.0) + amount * unit / units[key]
    out: dict[str, Any] = {}
    for key, total in totals.items():
        schema = props[key]
        types = schema.get("type")
        integer = "integer" in (types if isinstance(types, list) else [types])
        if (integer and total != int(total)) or not _in_bounds(total, schema):
            return {}
        out[key] = int(total) if total == int(total) else total
    return out


def said_values(
    calls: Sequence[tuple[str, dict[str, Any]]], tools: Sequence[dict[str, Any]], request: str,
) -> tuple[list[tuple[str, dict[str, Any]]], int]:
    """The calls with the durations and times of day the request states put in place (see the module docstring).

    Args:
        calls: ``(name, arguments)`` pairs, as parsed.
        tools: ``{"name", "parameters"}`` dicts.
        request: The user's request.

    Returns:
        The calls (new argument dicts where changed) and the number of values changed.
    """
    durations = spoken_durations(request)
    clocks: list[Clock] = []
    for c in spoken_clocks(request):
        if not any(c.same_as(o) and o.same_as(c) for o in clocks):
            clocks.append(c)
    out, changed = [], 0
    for name, args in calls:
        props = _properties(tools, name)
        new = dict(args)
        if len(durations) == 1:
            for key, value in _durations(args, props, durations[0]).items():
                if new.get(key) != value:
                    new[key], changed = value, changed + 1
        if len(clocks) == 1:
            for key, value in args.items():
                schema = props.get(key)
                if not isinstance(value, str) or not isinstance(schema, dict) or schema.get("type") != "string":
                    continue
                if any(k in schema for k in ("enum", "pattern", "format", "const")):
                    continue
                written = parse_clock(value)
                if written is None or written.same_as(clocks[0]):
                    continue
                text = render_clock(clocks[0], value)
                if text is not None and text != value:
                    new[key], changed = text, changed + 1
        out.append((name, new))
    return out, changed
