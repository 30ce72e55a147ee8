"""Values the request says in words, put into a call in the form the tool takes.

A small model copies what it hears: "countdown two hours" becomes
``set_timer(minutes=2)`` and "quarter past seven in the morning" becomes
``"7:30 am"`` as often as ``"7:15 am"``. When the request states one
duration, or one time of day, without doubt (:mod:`agent_sdk.agent.spoken`),
and exactly one place in the calls carries it, the stated value replaces the
written one:

- the duration parameters of one call (number parameters named for a unit:
  ``minutes``, ``timeout_seconds``, ``duration_hours``) get the stated
  duration, spread over the ones the model wrote from the largest unit
  down ("1 minute 30 seconds" is ``minutes=1, seconds=30``; "two hours" into
  ``minutes`` alone is ``120``); values that already add up to it are kept;
  the length parameters of one call (``centimeters``, ``distance_cm``,
  ``height_inches``) the same way with a stated length ("half a meter" into
  ``centimeters`` is ``50``), and its weight parameters (``grams``,
  ``weight_kg``) with a stated weight ("one kilo" into ``grams`` is ``1000``),
  its volume parameters (``millilitres``, ``water_ml``) with a stated volume
  ("a litre and a half" into ``millilitres`` is ``1500``);
- the one free-text string argument whose value is a clock time ("6 am",
  "18:30") gets the stated time, written the same way; one tool called
  several times for it, the calls differing only there, one of them
  holding a clock time and the others only words of the request that say
  times ("quarter" beside "6:30 am" for "quarter to six in the morning" is a
  piece of the time, not an alarm), is one call;
- a number parameter gets the value the request calls by the
  name its description gives it ("open the windows halfway" for "like 50
  for halfway", "mute" for "0 (muted)", "all the way up" for the top of a
  range whose ends say how much:
  :func:`~agent_sdk.agent.request_features.named_number`), when the request
  names one value and states no number in the parameter's range; a flag
  whose description tells both values ("True to turn it on, False to turn
  it off") gets the value whose distinguishing word the request says
  ("turn the air conditioning back on": ``on=True``); a string enum
  argument whose value the request does not say gets the one enum value
  it does say as whole words ("weather in Tel Aviv in Fahrenheit":
  ``unit="fahrenheit"``, :func:`~agent_sdk.agent.request_features.said_enum`;
  not a value another parameter of the tool also takes), and an optional
  string enum parameter the model left out gets the one value the request
  says ("what will the weather be tomorrow": ``day="tomorrow"``; not its
  default, not a value another parameter takes or the call already holds).

For these three, each call reads its own part of a compound request: a
lone call the clauses no other offered tool fits better ("switch off the
lights and turn on the fan" leaves the fan "turn on the fan"); several calls
of different tools the clause each one's tool fits best, when calls and
clauses pair off one to one (else they are left alone); one tool called for
several things ("Oslo and Rome in fahrenheit") the whole of its part, and
only a value all its calls wrote alike changes, alike in all. A negation
("don't mute it") sets nothing.

Nothing changes when the request states several durations or times, when
it relates a time of day to another ("before", "after", "from ... to"), or
when the new
arguments would not validate against the tool's schema (bounds,
``multipleOf``, lengths, whole numbers). Parameters that name a rate or a
clock field (``rate_per_hour``, ``start_hour``, ``minute``) are not
durations.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agent_sdk.agent.clauses import split_clauses
from agent_sdk.agent.relevance import tool_relevance
from agent_sdk.agent.request_features import named_number, said_enum, said_flag, says_value
from agent_sdk.agent.spoken import (
    NEAREST_SHARE,
    UNIT_GRAMS,
    UNIT_MILLILITRES,
    UNIT_MILLIMETERS,
    UNIT_SECONDS,
    Clock,
    parse_clock,
    spoken_clocks,
    spoken_durations,
    spoken_lengths,
    spoken_numbers,
    spoken_volumes,
    spoken_weights,
)
from agent_sdk.agent.words import split_camel_case
from agent_sdk.tools.validation import schema_accepts

__all__ = ["MAX_SAID_REQUEST_CHARS", "parameter_length_unit", "parameter_unit", "parameter_volume_unit",
           "parameter_weight_unit", "render_clock",
           "said_values"]

_BUT = re.compile(r",?\s+but\s+", re.IGNORECASE)  # "turn off the ac but keep the fan running": two parts
_MISSING = object()
_MIN_TEXT_CUT = 3  # shorter argument text ("a", "ok") is cut out of nothing: it would cut words apart

MAX_SAID_REQUEST_CHARS = 2000
"""Longer requests get no named numbers, flags or enum values (a command, not a document; it bounds the work)."""
# A value said for a parameter the model left out counts only when said as a setting: a day ("tomorrow"), next to
# the parameter's name ("cool mode", "repeat all", "the back camera") or after a preposition that sets it ("on
# grill", "in fahrenheit"); "a bit cool in here", "play all songs", "a photo of the back garden" set nothing.
_DAY_VALUES = frozenset({"today", "tomorrow", "tonight", "weekend", "weekends", "weekdays", "monday", "tuesday",
                         "wednesday", "thursday", "friday", "saturday", "sunday", "morning", "afternoon", "evening"})
_SETTING_PREPOSITIONS = ("on", "in", "to", "with", "using", "use", "at")

# Words of a parameter's name that give its unit: plurals only, since "hour" or "minute" alone names a field of a
# clock time (``set_alarm(hour, minute)``), and "min" / "sec" also prefix other words (``min_price``).
_UNIT_WORDS = {w: seconds for w, seconds in UNIT_SECONDS.items() if w.endswith("s")}

# Words of a parameter's name that give a length's unit: plurals and abbreviations ("distance_cm"), not "m" or "in".
_LENGTH_WORDS = {w: mm for w, mm in UNIT_MILLIMETERS.items() if w.endswith("s") or len(w) == 2} | {"feet": 304.8}

# Words of a parameter's name that give a weight's unit ("grams", "weight_kg"; not a lone "g").
_WEIGHT_WORDS = {w: g for w, g in UNIT_GRAMS.items() if (w.endswith("s") or len(w) == 2) and w != "g"}

# Words of a parameter's name that give a volume's unit ("millilitres", "volume_ml", "liters").
_VOLUME_WORDS = {w: ml for w, ml in UNIT_MILLILITRES.items() if w.endswith("s") or len(w) == 2}

# Words of a parameter's name that make it no duration: rates, speeds, and points in time.
_NOT_A_DURATION = frozenset({"per", "rate", "speed", "pace", "start", "end", "at", "of", "since", "until", "when"})

# Words that say a time of day beside its numbers ("quarter to six in the morning", "half past seven pm").
_CLOCK_WORDS = frozenset({"quarter", "half", "past", "to", "till", "til", "after", "o", "clock", "oclock", "am", "pm",
                          "a", "p", "m", "in", "the", "at", "morning", "afternoon", "evening", "night", "tonight",
                          "noon", "midnight"})

# Words of a request that relate a time or duration to another ("30 minutes before 7 am", "from 2 to 3 pm",
# "when it is 3 pm in Tokyo"): the stated value is then not the argument's.
_RELATIONAL = frozenset({"before", "after", "earlier", "later", "from", "between", "until", "till", "ago", "when",
                         "whenever", "since", "timezone", "zone", "utc", "gmt"})


def parameter_unit(name: str, schema: dict[str, Any]) -> int | None:
    """Seconds per unit of a number parameter that holds a duration (``minutes`` → 60), else None."""
    unit = _named_unit(name, schema, _UNIT_WORDS)
    return None if unit is None else int(unit)


def parameter_length_unit(name: str, schema: dict[str, Any]) -> float | None:
    """Millimeters per unit of a number parameter that holds a length (``centimeters``, ``depth_mm``), else None."""
    return _named_unit(name, schema, _LENGTH_WORDS)


def parameter_weight_unit(name: str, schema: dict[str, Any]) -> float | None:
    """Grams per unit of a number parameter that holds a weight (``grams``, ``weight_kg``), else None."""
    return _named_unit(name, schema, _WEIGHT_WORDS)


def parameter_volume_unit(name: str, schema: dict[str, Any]) -> float | None:
    """Millilitres per unit of a number parameter that holds a volume (``millilitres``, ``water_ml``), else None."""
    return _named_unit(name, schema, _VOLUME_WORDS)


def _named_unit(name: str, schema: dict[str, Any], unit_words: Mapping[str, float]) -> float | None:
    """The one unit of ``unit_words`` a number parameter's name holds (not a rate or a point), else None."""
    types = schema.get("type")
    types = {t for t in types if isinstance(t, str)} if isinstance(types, list) else {types} if isinstance(
        types, str) else set()
    if not types & {"integer", "number"} or "enum" in schema or "const" in schema:
        return None
    # every part of the name, "cm", "mm" and "at" too (name_words keeps three letters and more)
    parts = [w.lower() for w in re.split(r"[^A-Za-z0-9]+", split_camel_case(name)) if w]
    if set(parts) & _NOT_A_DURATION:
        return None
    units = {unit_words[w] for w in parts if w in unit_words}
    return units.pop() if len(units) == 1 else None


_TWELVE = re.compile(r"(\s*)(\d{1,2})(?::(\d{2}))?( ?)([aApP])(\.?)([mM]?)(\.?)(\s*)")
_TWENTY_FOUR = re.compile(r"(\s*)(\d{1,2}):(\d{2})(\s*)")


def render_clock(clock: Clock, like: str) -> str | None:
    """``clock`` written the way ``like`` writes a time ("7:30 am", "7AM", "07:30"); None when ``like`` is none of those.

    A clock whose half of the day is unknown takes ``like``'s.
    """
    if len(like) > 32:
        return None
    m = _TWELVE.fullmatch(like)
    if m:
        lead, _, minute_text, gap, letter, dot1, em, dot2, tail = m.groups()
        pm = clock.hour >= 12 if clock.half_known else letter.lower() == "p"
        h12 = clock.hour % 12 or 12
        minutes = f":{clock.minute:02d}" if clock.minute or minute_text is not None else ""
        half = ("p" if pm else "a") if letter.islower() else ("P" if pm else "A")
        return f"{lead}{h12}{minutes}{gap}{half}{dot1}{em}{dot2}{tail}"
    m = _TWENTY_FOUR.fullmatch(like)
    if m:
        lead, hour_text, _, tail = m.groups()
        hour = clock.hour
        if not clock.half_known:  # take the written value's half of the day
            written = parse_clock(like)
            afternoon = written is not None and written.half_known and written.hour >= 12
            hour = hour % 12 + (12 if afternoon else 0)
        return f"{lead}{hour:0{len(hour_text)}d}:{clock.minute:02d}{tail}"
    return None


def _parameters(tools: Sequence[dict[str, Any]], name: str) -> dict[str, Any] | None:
    for t in tools:
        if t.get("name") == name:
            params = t.get("parameters")
            return params if isinstance(params, dict) else None
    return None


def _without_texts(request: str, args: dict[str, Any], props: dict[str, Any], key: str) -> str:
    """``request`` with the free-text values of the call's other arguments cut out (case aside)."""
    for k, v in args.items():
        if k != key and isinstance(v, str) and len(v) >= _MIN_TEXT_CUT and not _takes(props.get(k), v):
            request = re.sub(re.escape(v), " ", request, flags=re.IGNORECASE)
    return request


def _said_as_setting(value: str, key: str, request: str) -> bool:
    """Whether ``request`` says ``value`` as the setting of parameter ``key`` (see :data:`_DAY_VALUES`)."""
    phrase = " ".join(re.findall(r"[a-z0-9]+", value.lower()))
    if phrase in _DAY_VALUES:
        return True
    names = "|".join(re.escape(w) for w in re.findall(r"[a-z]+", key.lower()) if len(w) > 2) or "@"
    low = " ".join(re.findall(r"[a-z0-9]+", request.lower()))
    v = re.escape(phrase)
    preps = "|".join(_SETTING_PREPOSITIONS)
    return bool(re.search(rf"\b(?:(?:{preps}) (?:the |my |a )?{v}|{v} (?:{names})|(?:{names}) (?:to )?{v})\b", low))


def _takes(schema: Any, value: str) -> bool:
    """Whether a parameter's enum holds ``value``."""
    enum = schema.get("enum") if isinstance(schema, dict) else None
    return isinstance(enum, list) and value in enum


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _unit_params(args: dict[str, Any], props: dict[str, Any],
                 unit_of: Callable[[str, dict[str, Any]], float | None]) -> dict[str, float]:
    """The call's parameters of one measure the model wrote, by base units per unit; {} when two share a unit."""
    out: dict[str, float] = {}
    for key, value in args.items():
        schema = props.get(key)
        unit = unit_of(key, schema) if isinstance(schema, dict) else None
        if unit is not None and _is_number(value):
            if unit in out.values():
                return {}
            out[key] = unit
    return out


def _spread(amount: float, units: dict[str, float], props: dict[str, Any], *,
            nearest: bool = False) -> dict[str, int | float] | None:
    """``amount`` (in base units) over the parameters ``units``, largest unit first (the smallest takes the rest);
    None if it won't fit. With ``nearest``, a whole-number last parameter takes the nearest whole ("two feet" is
    61 centimeters) when that is within :data:`~agent_sdk.agent.spoken.NEAREST_SHARE` of the amount."""
    out: dict[str, int | float] = {}
    order = sorted(units, key=lambda k: -units[k])
    left = amount
    for n, key in enumerate(order):
        types = props[key].get("type")
        whole = not (types == "number" or isinstance(types, list) and "number" in types)  # a fraction fits a number
        # rounded to nine places: 1.5 m is 150 cm, not 150.00000000000003 (inches and feet are not whole mm)
        share = round(left / units[key], 9) if n == len(order) - 1 else math.floor(round(left / units[key], 9))
        if whole and share != int(share) and nearest and n == len(order) - 1 and round(share) > 0 \
                and abs(round(share) - share) * units[key] <= NEAREST_SHARE * amount:
            share = round(share)
        if whole and share != int(share):
            return None
        out[key] = int(share) if share == int(share) else share
        left -= share * units[key]
    return out


def _call_clauses(calls: Sequence[tuple[str, Any]], tools: Sequence[dict[str, Any]], request: str) -> list[str | None]:
    """The part of the request each call serves: for a lone call the clauses no other offered tool fits better
    (:func:`_own_part`); with several, the clause (:func:`~agent_sdk.agent.clauses.split_clauses`, and "but") whose
    words fit its tool best, when the calls and clauses pair off one to one (else None for every call: a name said
    in one clause must not set another call's value).
    """
    parts = [q for p in split_clauses(request) for q in _BUT.split(p) if q.strip()]
    by_name = {t.get("name"): t for t in tools if isinstance(t, dict)}
    if len({name for name, _ in calls}) == 1:  # a lone call, or one tool for several things ("Oslo and Rome in
        part = _own_part(calls[0][0], parts, by_name) or request  # fahrenheit" says it for all: said_values keeps
        return [part] * len(calls)  # only changes made alike)
    owners = []
    for name, _ in calls:
        tool = by_name.get(name)
        scores = [tool_relevance(tool, p) for p in parts] if tool is not None and len(parts) == len(calls) else []
        best = max(scores, default=0.0)
        if best <= 0 or scores.count(best) > 1:
            return [None] * len(calls)
        owners.append(scores.index(best))
    if sorted(owners) != list(range(len(parts))):
        return [None] * len(calls)
    return [parts[k] for k in owners]


def _own_part(name: str, parts: Sequence[str], by_name: dict[Any, dict[str, Any]]) -> str | None:
    """A lone call's part of a compound request: the clauses no other offered tool fits better than its own tool
    ("switch off the lights and turn on the fan" leaves the fan call "turn on the fan"); None to read it all."""
    tool = by_name.get(name)
    if tool is None or len(parts) < 2:
        return None
    others = [t for n, t in by_name.items() if n != name]
    kept = [p for p in parts
            if not any(tool_relevance(t, p) > tool_relevance(tool, p) for t in others)]
    return " and ".join(kept) if kept else None


def _is_clock_slot(schema: Any) -> bool:
    """A plain free-text string parameter (where a clock time may be written)."""
    return (isinstance(schema, dict) and schema.get("type") == "string"
            and not any(k in schema for k in ("enum", "pattern", "format", "const")))


def _the_one_clock_call(out: Sequence[tuple[str, dict[str, Any]]], props: Sequence[dict[str, Any]],
                        request: str) -> int | None:
    """For one time of day said, one tool called several times that differ in one free-text argument, one of them a
    clock time and every other a piece of how the time is said ("quarter" beside "6:30 am" for "quarter to six in
    the morning": words of the request made only of clock words): the index of the clock call; None otherwise
    ("sunrise", "bring the cake" or "7 am weekdays" beside a clock time are things asked for)."""
    if len(out) < 2 or len({name for name, _ in out}) != 1:
        return None
    keys = {k for _, args in out for k in args}
    differ = [k for k in keys if len({repr(args.get(k, _MISSING)) for _, args in out}) > 1]
    if len(differ) != 1 or not all(_is_clock_slot(p.get(differ[0])) for p in props):
        return None
    values = [v for _, args in out if isinstance(v := args.get(differ[0]), str)]
    if len(values) != len(out):
        return None
    clock = [i for i, v in enumerate(values) if parse_clock(v) is not None]
    said = set(re.findall(r"[a-z]+|\d+", request.lower()))
    pieces = all(
        (words := re.findall(r"[a-z]+|\d+", v.lower())) and all(w in said and _is_clock_word(w) for w in words)
        for i, v in enumerate(values) if i not in clock
    )
    return clock[0] if len(clock) == 1 and pieces else None


def _is_clock_word(word: str) -> bool:
    """A word that can be part of saying a time of day: a number (digits or words) or :data:`_CLOCK_WORDS`."""
    return word.isdigit() or word in _CLOCK_WORDS or bool(spoken_numbers(word))


def _keep_what_differs(out: list[tuple[str, dict[str, Any]]], before: list[dict[str, Any]]) -> int:
    """For one tool called several times, undoes the changes to an argument the calls wrote differently or that
    did not change alike (``status`` "pending" and "active" are two things asked for, not one value misheard);
    the number of values put back."""
    undone = 0
    for key in {k for args in before for k in args}:
        old = [args.get(key, _MISSING) for args in before]
        new = [args.get(key, _MISSING) for _, args in out]
        if old != new and (any(o != old[0] for o in old) or any(n != new[0] for n in new)):
            for i, (name, args) in enumerate(out):
                if new[i] != old[i]:
                    out[i] = (name, {**args, key: old[i]})
                    undone += 1
    return undone


def _put_named_values(out: list[tuple[str, dict[str, Any]]], i: int, props: dict[str, Any],
                      schema: dict[str, Any] | None, request: str) -> int:
    """Numbers the request calls by name (:func:`~agent_sdk.agent.request_features.named_number`), flags it says by
    their clause's word (:func:`~agent_sdk.agent.request_features.said_flag`) and enum values it says
    (:func:`~agent_sdk.agent.request_features.said_enum`) put into call ``i``; the number of values changed.

    An enum value that another parameter of the tool also takes is left alone: "convert 100 dollars to EUR"
    says ``to_currency``'s value, not ``from_currency``'s. Words the call's free-text arguments already hold are
    not read ("text mom that I'm running low on gas" says no ``priority``).
    """
    name, args = out[i]
    changed = 0
    for key, value in list(args.items()):
        if not isinstance(props.get(key), dict):
            continue
        source = _without_texts(request, args, props, key)
        said: Any = None
        if isinstance(value, bool):
            said = said_flag(props[key], source)
        elif isinstance(value, str):
            said = None if says_value(value, source) else said_enum(props[key], source)
            if said is not None and any(_takes(s, said) for k, s in props.items() if k != key):
                said = None
        elif _is_number(value):
            named = named_number(props[key], source)
            said = None if named is None else int(named) if named.is_integer() else named
        if said is None or said == value:
            continue
        new = {**args, key: said}
        if schema is not None and schema_accepts(schema, new):
            args = new
            changed += 1
    for key, prop in props.items():  # an optional choice the model left out, said in the request ("tomorrow")
        if key in args or not isinstance(prop, dict) or not isinstance(prop.get("enum"), list):
            continue
        source = _without_texts(request, args, props, key)
        said = said_enum(prop, source)
        if said is None or not _said_as_setting(said, key, source) or said == prop.get("default") \
                or said in args.values() \
                or any(_takes(s, said) for k, s in props.items() if k != key):
            continue
        new = {**args, key: said}
        if schema is not None and schema_accepts(schema, new):
            args = new
            changed += 1
    out[i] = (name, args)
    return changed


def said_values(
    calls: Sequence[tuple[str, dict[str, Any]]], tools: Sequence[dict[str, Any]], request: str,
) -> tuple[list[tuple[str, dict[str, Any]]], int]:
    """The calls with the values the request says in words put in place (see the module docstring).

    Args:
        calls: ``(name, arguments)`` pairs, as parsed.
        tools: ``{"name", "parameters"}`` dicts.
        request: The user's request.

    Returns:
        The calls (a new argument dict where changed) and the number of values changed (a call dropped as a
        piece of a time counts as one).
    """
    out = [(name, dict(args)) for name, args in calls]
    words = set(re.findall(r"[a-z]+", request.lower()))
    schemas = [_parameters(tools, name) for name, _ in calls]
    props: list[dict[str, Any]] = []
    for schema in schemas:
        p = (schema or {}).get("properties")
        props.append(p if isinstance(p, dict) else {})
    changed = 0

    for measures, unit_of in ((spoken_durations(request), parameter_unit),
                              (spoken_lengths(request), parameter_length_unit),
                              (spoken_weights(request), parameter_weight_unit),
                              (spoken_volumes(request), parameter_volume_unit)):
        with_units = [(i, units) for i, (_, args) in enumerate(out) if (units := _unit_params(args, props[i], unit_of))]
        if len(measures) == 1 and len(with_units) == 1:
            i, units = with_units[0]
            args = out[i][1]
            total = sum(amount * unit for amount, unit in measures[0])  # seconds, millimeters, grams or millilitres
            if not math.isclose(sum(args[k] * u for k, u in units.items()), total, rel_tol=1e-9):
                spread = _spread(total, units, props[i], nearest=unit_of is not parameter_unit)
                if spread is not None:
                    new = {**args, **spread}
                    if schemas[i] is not None and schema_accepts(schemas[i], new):  # type: ignore[arg-type]
                        changed += sum(new[k] != args[k] for k in spread)
                        out[i] = (out[i][0], new)

    clocks: list[Clock] = []
    for c in spoken_clocks(request):
        if not any(c.same_as(o) for o in clocks):
            clocks.append(c)
    one_clock = len(clocks) == 1 and not words & _RELATIONAL
    if one_clock and (kept := _the_one_clock_call(out, props, request)) is not None:
        changed += len(out) - 1
        out, schemas, props = [out[kept]], [schemas[kept]], [props[kept]]
    slots = [
        (i, key) for i, (_, args) in enumerate(out) for key, value in args.items()
        if isinstance(value, str) and _is_clock_slot(props[i].get(key)) and parse_clock(value) is not None
    ]
    if one_clock and len(slots) == 1:
        i, key = slots[0]
        value = out[i][1][key]
        written = parse_clock(value)
        text = render_clock(clocks[0], value)
        if written is not None and not written.same_as(clocks[0]) and text is not None and text != value:
            new = {**out[i][1], key: text}
            if schemas[i] is not None and schema_accepts(schemas[i], new):  # type: ignore[arg-type]
                out[i] = (out[i][0], new)
                changed += 1

    before = [dict(args) for _, args in out]
    for i, clause in enumerate(_call_clauses(out, tools, request) if len(request) <= MAX_SAID_REQUEST_CHARS else ()):
        if clause is not None:
            changed += _put_named_values(out, i, props[i], schemas[i], clause)
    if len(out) > 1 and len({name for name, _ in out}) == 1:
        changed -= _keep_what_differs(out, before)
    return (out, changed) if changed else ([(n, a) for n, a in calls], 0)
