"""What a request says that a call's values can be checked against.

The numbers it writes (as JSON would write them), where its words start,
whether it mentions a parameter, and how much of a call's values it
contains (:func:`copy_coverage`, an input of the ``auto`` decision).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from agent_sdk.agent.spoken import (
    NEAREST_SHARE,
    duration_seconds,
    parse_clock,
    spoken_clocks,
    spoken_decimals,
    spoken_durations,
    spoken_lengths,
    spoken_numbers,
    spoken_volumes,
    spoken_weights,
)
from agent_sdk.agent.words import GENERIC_PARAMETER_WORDS, SHORT_FORMS, name_words, same_word

__all__ = ["MAX_DESCRIPTION_SCAN", "MAX_SAID_ENUM", "MIN_PLURAL_LEN", "argument_values", "copy_coverage",
           "flag_clauses", "is_numeric", "mentioned", "named_number", "number_names", "plain_number_parameter",
           "said_enum", "said_flag", "says_choice", "says_name", "says_value", "value_said", "word_starts",
           "written_numbers"]

# Words that name a place by its position ("water the front"; the generator's are the same,
# ``agent_sdk.tune.phrasing.POSITION_WORDS``), and the words that may follow such a place in a request.
POSITION_WORDS = frozenset({"front", "back", "rear", "left", "right", "upper", "lower", "top", "bottom", "upstairs",
                            "downstairs", "north", "south", "east", "west", "side"})
_AFTER_A_PLACE = ("at", "for", "to", "with", "and", "then", "please", "now", "on", "in", "by", "until", "till", "too",
                  "again", "thanks", "thank", "cheers", "as", "so", "but", "every", "each", "daily", "tonight",
                  "tomorrow", "today", "once", "twice", "a", "an", "the", "some", "bit", "little")

# A parameter word longer than this that ends in "s" also matches its singular
# ("traits" → "trait"); shorter ones ("bus", "gas", "yes") keep their "s".
MIN_PLURAL_LEN = 4


def word_starts(source: str) -> list[int]:
    """Where each word (or punctuation mark) of ``source`` starts: where a copied value may start."""
    return [m.start() for m in re.finditer(r"[^\W_]+|[^\w\s]", source)]


_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_NUMBER = re.compile(r"(-?\d[\d,]*(?:\.\d+)?)(?:\s*(thousand|million|billion|trillion)\b)?", re.IGNORECASE)
_MINUS_BEFORE = re.compile(r"\b(?:minus|negative)\s+$", re.IGNORECASE)  # "minus 3": the 3 is negative


def written_numbers(source: str) -> list[str]:
    """Numbers written in the request as JSON writes them.

    Thousands separators are dropped ("$2,000,000" is ``2000000``) and scale
    words applied ("8.5 million" is ``8500000``, not ``8.5``); "minus 3" is
    ``-3``.
    """
    out = []
    for m in _NUMBER.finditer(source):
        n = m.group(1).replace(",", "").rstrip(".")
        if not n or n == "-":
            continue
        if not n.startswith("-") and _MINUS_BEFORE.search(source, 0, m.start()):
            n = "-" + n
        if m.group(2):
            scaled = Decimal(n) * _SCALES[m.group(2).lower()]
            n = str(int(scaled)) if scaled == scaled.to_integral_value() else format(scaled.normalize(), "f")
        out.append(n)
    return out


def mentioned(name: str, source: str, *, tool: str = "") -> bool:
    """Whether a word of parameter ``name`` appears (as a word's start) in ``source``.

    ``trait_count`` is mentioned by "three personality traits",
    ``equal_variance`` by "assuming equal variance"; generic words
    (``include``, ``type`` …) and words of the tool's own name (the request
    names the tool's topic anyway) do not count.
    """
    words = set(re.findall(r"[a-z0-9]+", source.lower()))
    topic = set(name_words(tool))
    for w in name_words(name):
        if w in GENERIC_PARAMETER_WORDS or w in topic:
            continue
        base = w[:-1] if len(w) > MIN_PLURAL_LEN and w.endswith("s") else w  # "traits" for trait_count
        if any(x.startswith(base) or same_word(w, x) for x in words):
            return True
    return False


# A number's name in a parameter's description: "0 (off)", "3 (hottest)", "100 (fully open)". Not a part
# of a longer number or range ("16-30 (hot)", "1,000 (max)", "FM1 (first)"); only the description's first
# MAX_DESCRIPTION_SCAN characters are read (descriptions come from MCP servers too).
_MARK = re.compile(r"(?<![\w.-])(?<!\d,)(-?\d+(?:\.\d+)?)\s*\(([a-z][a-z ]{0,40})\)")
# Units a stated length (in millimeters) or weight (in grams) may be written in: metric, inches and feet, ounces and
# pounds.
_LENGTH_UNITS = (1, 10, 1000, 1_000_000, 25.4, 304.8)
_WEIGHT_UNITS = (1, 1000, 28.349523125, 453.59237)
_VOLUME_UNITS = (1, 10, 100, 1000)
# A one-word name given by example: "like 50 for halfway" (as the tune generator reads it too).
_LIKE_MARK = re.compile(r"\blike (-?\d+(?:\.\d+)?) for ([a-z]+)\b")
MAX_DESCRIPTION_SCAN = 2000
MAX_SAID_ENUM = 256
"""Enums with more values are lists of identifiers, not words a request says (and each value costs a scan)."""
# Words that name the ends of a parameter's range, whatever its description calls them ("min" is left out:
# "10 min" is a duration; "full" too: "the full album").
_TOP_WORDS = ("max", "maximum", "highest", "all the way up")
_BOTTOM_WORDS = ("minimum", "lowest", "all the way down")
# Marks that say how much, not where: only a range whose marked ends are these (or superlatives, "loudest") is
# turned "all the way up / down" in that direction. A window "from 0 (closed) to 100 (fully open)" rolled "all the
# way down" is open, so its ends take no direction.
_INTENSITY_MARKS = frozenset({"off", "muted", "mute", "max", "maximum", "min", "minimum", "full", "silent", "none",
                              "zero", "on"})
# Marks of an end that is no setting at all: "the lowest setting" or "minimum" of "0 (off) to 3 (hottest)" is 1.
_OFF_MARKS = frozenset({"off", "none"})
# Words that are particles of phrasal verbs ("turn it on") as often as prepositions ("the lamp on my desk").
PARTICLES = frozenset({"on", "off", "up", "down", "in", "out"})
# Verbs (and pronouns) after which such a word is the verb's particle: "turn on the fan", "switch it off".
_PARTICLE_VERBS = frozenset({"turn", "switch", "put", "flip", "power", "shut", "kick", "back", "get", "bring", "it",
                             "them", "start", "cut", "crank", "dial", "roll", "wind"})
# Words after which a particle still ends its clause ("turn it on please", "radio off and ...", "fan off, then ...").
_CLAUSE_END = frozenset({"please", "thanks", "thank", "now", "pls", "thx", "again", "and", "then", "but", "also",
                         "so", "for", "right", "too"})
# "don't", "do not", "never", "without": a value said under a negation is not wanted ("no" is left out: "no
# problem, turn it on", "no, turn it off" correct, they do not negate).
_NEGATION = re.compile(r"\b(?:not|never|nor|without|cannot|dont|doesnt|didnt|wont|cant)\b|n[’']t\b", re.IGNORECASE)
# Words and their opposites that tell a flag's two clauses apart (besides "un-", "dis-", "de-": "lock" / "unlock").
_OPPOSITES = frozenset({("on", "off"), ("open", "close"), ("start", "stop"), ("show", "hide"), ("up", "down"),
                        ("allow", "block"), ("include", "exclude"), ("pause", "resume"), ("raise", "lower"),
                        ("enter", "exit"), ("join", "leave"), ("accept", "reject")})
# Enum values that are function words ("in" for inches, "to", "a"): a request says them whatever it means.
_FUNCTION_VALUES = frozenset({"in", "at", "to", "of", "by", "for", "from", "with", "as", "a", "an", "the", "it",
                              "is", "or", "and", "me", "my", "i", "you", "be", "do", "so", "if", "no", "not"})


def _phrase_words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:\.[0-9]+)?", text.lower())


def _bound(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def number_names(schema: Any) -> dict[float, list[str]]:
    """The names a numeric parameter's values go by: its description's marks and the ends of its range.

    Args:
        schema: The parameter's JSON schema (``integer`` or ``number``, nullable too).

    Returns:
        Value to names: "Volume from 0 (muted) to 40 (loudest)" gives
        ``{0: ["muted", "minimum", ...], 40: ["loudest", "max", ...]}``. The
        range is the schema's ``minimum`` / ``maximum``, or else the lowest
        and highest marked numbers; ``{}`` for any other schema.
    """
    if not is_numeric(schema):
        return {}
    return _with_range_words(schema, _marks(schema))


def _with_range_words(schema: dict[str, Any], marks: dict[float, list[str]]) -> dict[float, list[str]]:
    """``marks`` (copied) plus the range's own words at its ends (:func:`number_names`)."""
    names = {number: list(words) for number, words in marks.items()}
    lo = _bound(schema.get("minimum", min(names) if len(names) > 1 else None))
    hi = _bound(schema.get("maximum", max(names) if len(names) > 1 else None))
    if lo is not None:
        names.setdefault(lo, []).extend(_BOTTOM_WORDS)
    if hi is not None:
        names.setdefault(hi, []).extend(_TOP_WORDS)
    return names


def _marks(schema: dict[str, Any]) -> dict[float, list[str]]:
    """The names a parameter's description gives its numbers: "0 (off)", "like 50 for halfway"."""
    names: dict[float, list[str]] = {}
    description = _description(schema)[:MAX_DESCRIPTION_SCAN].lower()
    for number, name in _MARK.findall(description) + _LIKE_MARK.findall(description):
        names.setdefault(float(number), []).append(name.strip())
    return names


def named_number(schema: Any, source: str) -> float | None:
    """The one value of a numeric parameter that ``source`` calls by its name, when it states no number for it.

    "open the windows halfway" names 50 of "from 0 (closed) to 100 (fully open), like 50 for halfway"; "turn the
    volume all the way up" names 40 of "from 0 (muted) to 40 (loudest)". The names are :func:`number_names`',
    except that the range's own words ("max", "lowest", "all the way up / down") name an end only when the
    range's marked ends say how much ("muted", "off", "loudest"), not where ("closed", "fully open": a window
    rolled all the way down is open) and not nothing (an unmarked ``days`` from 1 to 14 is not "the max
    temperature"). A particle ("on", "off", "up") counts only as a particle (:func:`particle_said`), and a
    request with a negation ("don't mute it") names nothing.

    Args:
        schema: The parameter's JSON schema.
        source: The request.

    Returns:
        The named value; None when no value or several are named, when the parameter's range is not known
        (a schema ``minimum`` / ``maximum`` or two marked numbers), or when the request states a number inside
        the parameter's range (it said the value as a number, or the name belongs to something else).
    """
    if not is_numeric(schema):
        return None
    marks = _marks(schema)
    names = _with_range_words(schema, marks)
    if len(names) < 2:
        return None  # no range: a lone mark is a note ("Default is 1 (annually)"), not a scale
    lo, hi = min(names), max(names)
    end_marks = [m for end in (lo, hi) for m in marks.get(end, [])]
    directed = bool(end_marks) and all(m in _INTENSITY_MARKS or m.endswith("est") for m in end_marks)
    if negated(source):
        return None
    off_end = bool(set(marks.get(lo, [])) & _OFF_MARKS)  # "the lowest setting" of a heater is on, not "0 (off)"
    named = {number for number, words in names.items()
             if any(_says_mark(w, source) for w in words
                    if (directed or w not in _TOP_WORDS + _BOTTOM_WORDS)
                    and not (number == lo and off_end and w in _BOTTOM_WORDS))}
    if len(named) != 1:
        return None
    whole = "number" not in _types(schema)
    if any(lo <= n <= hi and (n.is_integer() or not whole) for n in _said_numbers(source)):
        return None
    value = named.pop()
    return value if value.is_integer() or not whole else None


def negated(source: str) -> bool:
    """Whether ``source`` holds a negation ("don't", "do not", "never", "without")."""
    return _NEGATION.search(source) is not None


def particle_said(word: str, source: str) -> bool:
    """Whether ``source`` says the particle ``word`` as a verb's particle, not as a preposition.

    "turn the ac back on", "turn on the fan", "fan off" say "on" / "off"; "the lamp on my desk" does not.

    Args:
        word: One of :data:`PARTICLES`.
        source: The request.

    Returns:
        True when ``word`` ends a clause (before punctuation, "and", "then", "but", courtesy words) or follows a
        verb that takes it.
    """
    tokens = re.findall(r"[a-z0-9]+|[^\sa-z0-9]", source.lower())
    return any(t == word and (k + 1 == len(tokens) or not tokens[k + 1][0].isalnum() or tokens[k + 1] in _CLAUSE_END
                              or (k > 0 and tokens[k - 1] in _PARTICLE_VERBS))
               for k, t in enumerate(tokens))


def _says_mark(name: str, source: str) -> bool:
    """:func:`says_name` ("locked" says "lock", "unlock" does not), with a particle said only as one."""
    return particle_said(name, source) if name in PARTICLES else says_name(name, source)


# "True to lock the doors, False to unlock them": what each value of a flag does (lowercase description).
_FLAG_CLAUSE = re.compile(r"\b(true|false)\b(?:\s*\([^)]*\))?\s+to\s+([a-z][^,;.()]*?)"
                          r"(?=\s*(?:[,;.(]|$|\b(?:and|or|but)\s+(?:true|false)\b))")


def flag_clauses(desc: str, *, min_words: int = 2) -> dict[bool, str]:
    """What a flag's values do, from "True to lock the doors, False to unlock them" (lowercase description).

    Both values must be told, differently, each in at least ``min_words`` words ("True to enable" names no object,
    and a flag told on one side would never be trained on the other): otherwise none.

    Args:
        desc: The flag's description, lower case.
        min_words: The fewest words a clause may have; 1 where the tool names the object ("mute(on)": "True to
            mute, False to unmute").

    Returns:
        ``{True: "lock the doors", False: "unlock them"}``, or ``{}``.
    """
    found = {m.group(1) == "true": " ".join(m.group(2).split()) for m in _FLAG_CLAUSE.finditer(desc)}
    if set(found) != {True, False} or found[True] == found[False] or \
            min(len(c.split()) for c in found.values()) < min_words:
        return {}
    return found


def says_value(value: str, source: str) -> bool:
    """Whether ``source`` says ``value`` as whole words, case and punctuation aside.

    Args:
        value: An argument's value ("Rear-Left").
        source: The request ("open the rear left window").

    Returns:
        True when the value's words occur in the request in a row.
    """
    phrase = " ".join(_phrase_words(value))
    return bool(phrase) and f" {phrase} " in f" {' '.join(_phrase_words(source))} "


def said_enum(schema: Any, source: str) -> str | None:
    """The one value of a string enum that ``source`` says as whole words ("in fahrenheit", "on saturday").

    A value said inside a longer said value counts as that one ("rear left" says "left" too). Values that are
    function words ("in" for inches) or one letter ("m", "S") are never said by their word, particles ("on",
    "off") only as particles,
    and a request with a negation says none ("make it cooler, I don't want it off").

    Args:
        schema: The parameter's JSON schema.
        source: The request.

    Returns:
        The value as the enum spells it; None when no value or several are said (or the schema has no
        string enum of 2 to :data:`MAX_SAID_ENUM` values).
    """
    enum = schema.get("enum") if isinstance(schema, dict) else None
    if not isinstance(enum, list) or not 2 <= len(enum) <= MAX_SAID_ENUM:
        return None
    if negated(source):
        return None
    low = f" {' '.join(_phrase_words(source))} "
    said: dict[str, str] = {}
    for v in enum:
        phrase = " ".join(_phrase_words(v)) if isinstance(v, str) else ""
        if len(phrase) < 2 or phrase in _FUNCTION_VALUES:
            continue  # one letter ("m", "S") is also a piece of "I'm" or "let's"
        if particle_said(phrase, source) if phrase in PARTICLES else f" {phrase} " in low:
            said.setdefault(phrase, v)
    longest = [v for p, v in said.items() if not any(p != q and f" {p} " in f" {q} " for q in said)]
    return longest[0] if len(longest) == 1 else None


def said_flag(schema: Any, source: str) -> bool | None:
    """The value of a flag that ``source`` says by the word that tells its two clauses apart.

    "True to turn it on, False to turn it off" are told apart by "on" / "off": "turn the air conditioning back
    on" says ``True``. "True to lock the doors, False to unlock them": "lock" / "unlock" ("locked" is "lock",
    "unlock" is not). Only a word and its opposite tell clauses apart: "to stay off toll roads" against "to take
    the fastest route" has none.

    Args:
        schema: The parameter's JSON schema (a boolean with such a description).
        source: The request.

    Returns:
        The value whose word the request says and whose counterpart it does not; None otherwise (both or
        neither said, a description without both clauses, clauses not told apart by one word and its
        opposite, a request with a negation: "don't lock the doors"). "on" / "off" count only as particles
        (:func:`particle_said`): "the lamp on my desk" says neither.
    """
    if not isinstance(schema, dict) or "boolean" not in _types(schema):
        return None
    sides = flag_clauses(_description(schema)[:MAX_DESCRIPTION_SCAN].lower())
    if not sides:
        return None
    if negated(source):
        return None
    yes, no = set(sides[True].split()), set(sides[False].split())
    pairs = [(a, b) for a in yes - no for b in no - yes if _opposites(a, b)]
    if len(pairs) != 1:
        return None  # no word and its opposite tell the clauses apart ("to take the fastest route")
    says_yes, says_no = (_says_mark(w, source) for w in pairs[0])
    return says_yes if says_yes != says_no else None


def _opposites(a: str, b: str) -> bool:
    """"on" / "off", "lock" / "unlock", "arm" / "disarm", "open" / "close" ..."""
    return (a, b) in _OPPOSITES or (b, a) in _OPPOSITES or any(
        x == p + y for x, y in ((a, b), (b, a)) for p in ("un", "dis", "de"))


def _description(schema: dict[str, Any]) -> str:
    """A schema's description; "" when it has none or it is not text (a list or number is no description)."""
    desc = schema.get("description")
    return desc if isinstance(desc, str) else ""


def _inflects(a: str, b: str) -> bool:
    """``a`` and ``b`` are one word, or one begins the other and is 4+ letters ("mute" / "muted")."""
    short, long_ = sorted((a, b), key=len)
    return a == b or (len(short) >= MIN_PLURAL_LEN and long_.startswith(short))


def says_name(name: str, source: str) -> bool:
    """Whether ``source`` says ``name`` ("mute the speakers" says "muted"; "louder" is not "loudest").

    Args:
        name: A value's name (:func:`number_names`).
        source: The request.

    Returns:
        True when every word of ``name`` is in ``source`` (a word or its
        inflection); the range's multi-word names ("all the way up") only
        as the phrase.
    """
    want = _phrase_words(name)
    have = _phrase_words(source)
    if not want:
        return False
    if len(want) > 1 and f" {' '.join(want)} " in f" {' '.join(have)} ":
        return True
    if len(want) > 1 and name in _TOP_WORDS + _BOTTOM_WORDS:
        return False
    return all(any(_inflects(w, h) for h in have) for w in want)


def value_said(schema: Any, source: str) -> bool:
    """Whether ``source`` says a value of an optional parameter other than its default.

    Args:
        schema: The parameter's JSON schema.
        source: The request.

    Returns:
        True for an enum value said as whole words ("passenger temperature
        23.5" says ``zone``'s ``"passenger"``) or a number said by a name
        (:func:`number_names`: "turn off the passenger seat heater" says
        ``level``'s ``0 (off)``). The default is left out, since saying it
        needs no argument ("all" in "close all the windows").
    """
    if not isinstance(schema, dict):
        return False
    default = schema.get("default")
    low = f" {' '.join(_phrase_words(source))} "
    enum = schema.get("enum")
    for v in enum if isinstance(enum, list) else ():
        if isinstance(v, str) and v != default and _phrase_words(v) and f" {' '.join(_phrase_words(v))} " in low:
            return True
    said_default = _default_number(schema)
    for number, names in number_names(schema).items():
        if said_default == number:
            continue
        if any(says_name(n, source) for n in names):
            return True
    return False


def is_numeric(schema: Any) -> bool:
    """Whether a parameter's schema takes a number (``integer`` or ``number``, nullable too)."""
    return isinstance(schema, dict) and any(k in ("integer", "number") for k in _types(schema))


def plain_number_parameter(properties: Any, required: Sequence[str], source: str) -> str | None:
    """The optional numeric parameter that a number said plainly in ``source`` can only be for.

    "driver seat heating to one" says ``level`` of "Heat from 0 (off) to 3 (hottest)" although it names neither
    the parameter nor one of its marks. A number is read so only when nothing else could take it: no required
    parameter takes a number or free text (an address, a song title or a time may hold digits: "play maroon 5"),
    and exactly one optional numeric parameter's known range (:func:`number_names`) holds it.

    Args:
        properties: The tool's ``properties`` schema.
        required: Its required parameters.
        source: The request.

    Returns:
        The parameter's name, or None.
    """
    if not isinstance(properties, dict):
        return None
    for key in required:
        schema = properties.get(key)
        if is_numeric(schema) or _free_text(schema):
            return None
    said = _said_numbers(source)
    if not said:
        return None
    hits = [k for k, schema in properties.items() if k not in required and _number_in_range(schema, said)]
    return hits[0] if len(hits) == 1 else None


# "one" as a pronoun ("the one on the left", "no one else") is no number.
_PRONOUN_ONE = re.compile(r"\b(?:the|that|this|no|any|every|some|each|which|another|other)\s+one\b|\bone\s+(?:of|another)\b",
                          re.IGNORECASE)


def _said_numbers(source: str) -> list[float]:
    text = _PRONOUN_ONE.sub(" ", source)
    return [float(n) for n in written_numbers(text)] + [float(n) for n in spoken_numbers(text)]


def _free_text(schema: Any) -> bool:
    return isinstance(schema, dict) and "enum" not in schema and "string" in _types(schema)


def _number_in_range(schema: Any, said: Sequence[float]) -> bool:
    """A said number other than the default inside the range :func:`number_names` knows (whole for integers)."""
    ends = number_names(schema)
    if len(ends) < 2:
        return False
    lo, hi = min(ends), max(ends)
    default = _default_number(schema)
    whole = "number" not in _types(schema)
    return any(lo <= n <= hi and n != default and (n.is_integer() or not whole) for n in said)


def _default_number(schema: dict[str, Any]) -> float | None:
    """A parameter's default as a number ("2" too), or None (no default, a boolean, not a number)."""
    default = schema.get("default")
    try:
        return float(default) if default is not None and not isinstance(default, bool) else None
    except (TypeError, ValueError):
        return None


def _types(schema: dict[str, Any]) -> list[Any]:
    """A schema's ``type`` as a list (``["integer", "null"]`` stays; ``"integer"`` becomes ``["integer"]``)."""
    kinds = schema.get("type")
    return kinds if isinstance(kinds, list) else [kinds]


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _leaves(v)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _leaves(v)]
    return [value]


def argument_values(arguments: Any) -> list[Any]:
    """The leaf values of an argument object that a request could write (booleans and nulls left out:
    "turn on" writes no ``true``)."""
    return [x for x in _leaves(arguments) if not isinstance(x, bool) and x is not None]


def _measure_totals(source: str) -> list[tuple[float, tuple[float, ...]]]:
    """Each length, weight and volume ``source`` states, in millimeters, grams or millilitres, with the units a
    parameter may hold it in."""
    return [(sum(amount * unit for amount, unit in measure), units)
            for measures, units in ((spoken_lengths(source), _LENGTH_UNITS), (spoken_weights(source), _WEIGHT_UNITS),
                                    (spoken_volumes(source), _VOLUME_UNITS))
            for measure in measures]


def says_choice(value: str, enum: Sequence[Any], source: str) -> bool:
    """Whether ``source`` says enum member ``value`` the short way people say it, as the generator teaches it
    (``agent_sdk.tune.examples._short_values``): with a word or the whole value in its short form
    (:data:`~agent_sdk.agent.words.SHORT_FORMS`: "the veg bed" for "vegetable bed", "lounge lamp" for "living room
    lamp"), or a two-word place by its position alone where the position tells it apart and another member shares
    its noun ("mow the front" for "front lawn" beside "back lawn"), the position not followed by another noun ("open
    the front door", "the back garden" say no lawn). A negated request says none.

    Args:
        value: The member.
        enum: Every member of the enum (non-text members are ignored; more than :data:`MAX_SAID_ENUM`: none said).
        source: The request.

    Returns:
        True when the request says ``value`` so; False otherwise (also when it writes it in full: that is copied).
    """
    if len(enum) > MAX_SAID_ENUM or negated(source):
        return False
    said = f" {' '.join(re.findall(r'[a-z0-9]+', source.lower()))} "
    low = " ".join(re.findall(r"[a-z0-9]+", value.lower()))
    members = [" ".join(re.findall(r"[a-z0-9]+", m.lower())) for m in enum if isinstance(m, str)]

    def short_forms(member: str) -> list[str]:
        out = []
        for long, shorts in SHORT_FORMS.items():
            whole = re.compile(rf"\b{re.escape(long)}\b")
            if whole.search(member):
                out += [whole.sub(short, member) for short in shorts]
        return out

    longer = [f for m in members if m != low and f" {low} " in f" {m} " for f in [m, *short_forms(m)]]
    if any(f" {f} " in said for f in longer):  # "lounge lamp" is the living room lamp, not the living room
        return False
    if any(f" {f} " in said for f in short_forms(low)):
        return True
    words = low.split()
    if len(words) != 2 or words[0] not in POSITION_WORDS \
            or sum(m.split()[:1] == words[:1] for m in members) != 1 \
            or not any(m != low and m.split()[-1:] == words[1:] for m in members):
        return False
    after = "|".join(_AFTER_A_PLACE)
    return bool(re.search(rf" {words[0]} (?:(?:{after}) |[0-9]|$)", said))


def copy_coverage(arguments: Sequence[dict[str, Any]], source: str, *,
                  schemas: Sequence[Any] | None = None) -> float:
    """The share of a call's argument values that are stated in ``source``.

    A call that fits the request mostly takes its values from it; a call
    forced onto a request the tools do not fit has to invent them. Leaf
    values are compared as text, case-insensitively (numbers also against
    the request without thousands separators); booleans are not counted.
    What people say counts as well as what they write
    (:mod:`~agent_sdk.agent.spoken`): a number said in words ("seventy
    five" for ``75``, "ninety four point five" for ``94.5``), a duration in
    minutes ("two hours" for ``120``), and a time of day in any form ("six
    thirty am" or "half past six in the morning" for ``"6:30 am"``). With
    ``schemas``, so does a number by the name its parameter gives it
    (:func:`number_names`: "mute the speakers" for ``0 (muted)``, "max fan"
    for the top of the range).

    Args:
        arguments: The calls' argument objects.
        source: The user's request.
        schemas: Each call's ``parameters`` schema (aligned with ``arguments``), for the numbers' names.

    Returns:
        The share in [0, 1]; 1.0 when there are no values to check, 0.0 when
        there are no calls.
    """
    if not arguments:
        return 0.0
    low = source.lower()
    bare = low.replace(",", "")
    leaves = [x for args in arguments for x in argument_values(args)]
    if not leaves:
        return 1.0
    named: list[tuple[float, dict[float, list[str]]]] = []  # top-level numbers with the names their values go by
    choices: Counter[str] = Counter()  # top-level enum values the request says the short way ("the veg bed")
    for args, schema in zip(arguments, schemas or ()):
        props = schema.get("properties") if isinstance(schema, dict) else None
        if not isinstance(props, dict) or not isinstance(args, dict):
            continue
        for key, value in args.items():
            names = number_names(props.get(key))
            if names and isinstance(value, (int, float)) and not isinstance(value, bool):
                named.append((float(value), names))
            enum = props.get(key).get("enum") if isinstance(props.get(key), dict) else None
            if isinstance(value, str) and isinstance(enum, list) and value in enum and says_choice(value, enum, source):
                choices[value.lower()] += 1
    said_numbers: set[int] | None = None
    said_decimals: list[float] | None = None
    measured: list[tuple[float, tuple[float, ...]]] | None = None
    said_clocks = None
    hits = 0
    for x in leaves:
        if isinstance(x, float) and x.is_integer():
            x = int(x)
        text = str(x).lower()
        written = bool(text) and (text in low or text in bare)
        if not written and choices[text] > 0:  # each argument said short credits itself, not a copy of its text
            choices[text] -= 1
            written = True
        if written or any(v == x and any(says_name(n, source) for n in names.get(v, ())) for v, names in named):
            hits += 1
        elif isinstance(x, int):
            if said_numbers is None:
                said_numbers = set(spoken_numbers(source)) | {
                    int(n) for n in written_numbers(source) if re.fullmatch(r"-?\d{1,18}", n)}  # "minus 3" says -3
                for parts in spoken_durations(source):
                    seconds = duration_seconds(parts)
                    said_numbers |= {int(seconds // u) for u in (1, 60) if seconds % u == 0}
                # "half a meter" says 50 (centimeters) and 500 (millimeters), "one kilo" 1000 (grams), "two feet"
                # 61 (centimeters, the nearest whole the said-values step writes) and 24 (inches)
                if measured is None:
                    measured = _measure_totals(source)
                for total, units in measured:
                    said_numbers |= {whole for u in units if (whole := round(total / u)) > 0
                                     and abs(whole * u - total) <= NEAREST_SHARE * total}
            hits += x in said_numbers
        elif isinstance(x, float) and math.isfinite(x):
            if said_decimals is None:
                said_decimals = spoken_decimals(source)
                # "800 grams" says 0.8 (kilos), "a litre and a half" 1.5 (litres)
                if measured is None:
                    measured = _measure_totals(source)
                said_decimals = [*said_decimals, *(total / u for total, units in measured for u in units)]
            hits += any(abs(x - d) < 1e-9 * max(1.0, abs(x)) for d in said_decimals)
        elif isinstance(x, str) and (clock := parse_clock(x)) is not None:
            if said_clocks is None:
                said_clocks = spoken_clocks(source)
            hits += any(clock.same_as(c) for c in said_clocks)
    return hits / len(leaves)
