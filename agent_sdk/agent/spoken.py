"""Numbers, times of day and durations as people say them.

Speech-to-text writes "seventy five percent", "six thirty am", "quarter
past seven in the morning" and "two hours"; tools take ``75``, ``"6:30 am"``
and ``minutes=120``. The ``auto`` decision asks how much of a call the
request states (:func:`~agent_sdk.agent.request_features.copy_coverage`),
re-ranking offers the request's numbers as candidates, and the ``said``
post-step (:mod:`agent_sdk.agent.spoken_values`) puts a stated duration or
time into a call, so all three read the request through these parsers as
well as through its digits.

Only what is unambiguous is read: number words (``"twenty-five"``, ``"a
hundred and five"``), decimals said with "point" (``"ninety four point
five"``), clock times with a minute, "o'clock" or a part of the
day (``"six thirty am"``, ``"half past six"``, ``"ten to 8 tonight"``), or
digits after "at" that nothing else claims (``"alarm at 7"``, not ``"at 20
percent"``), and amounts of hours, minutes and seconds (``"two hours"``,
``"an hour and a half"``, ``"a quarter of an hour"``, ``"1.5 hours"``; not
``"hang on a minute"``) and of lengths (``"half a meter"``, ``"1.5 meters"``,
``"two feet"``, ``"30 cm"``; not "m" or "in", minutes and a preposition as
often as meters and inches) and of weights (``"one kilo"``, ``"500 g"``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "NEAREST_SHARE", "UNIT_GRAMS", "UNIT_MILLILITRES", "UNIT_MILLIMETERS", "UNIT_SECONDS", "Clock", "duration_seconds",
    "parse_clock", "spoken_clocks", "spoken_decimals", "spoken_durations", "spoken_lengths", "spoken_minutes",
    "spoken_numbers", "spoken_volumes", "spoken_weights",
]

_UNITS = {
    "zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_SCALE = {"hundred": 100, "thousand": 1000}
T = TypeVar("T")

# Digits longer than this are not read as an amount or a time (and never reach int()).
MAX_DIGITS = 6

# A token: a number as written (a currency sign, a minus, thousands separators, decimals or a clock's minutes
# kept with it, so "$15", "-2", "1,000", "1.5" and "6:30" are one token each), a word, or a percent sign.
_TOKEN = re.compile(r"[$£€]?-?\d[\d,]*(?:\.\d+)?(?::\d+)?|[a-z]+(?:'[a-z]+)?|%")


def _tokens(text: str) -> list[str]:
    text = text.lower().replace("\u2019", "'")
    return _TOKEN.findall(re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text))


def _small_int(token: str) -> int | None:
    """A token of plain digits (at most :data:`MAX_DIGITS`) as an int, else None."""
    return int(token) if token.isdigit() and len(token) <= MAX_DIGITS else None


_AMOUNT = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")


def _amount_token(token: str) -> float | None:
    """A written amount ("90", "1.5", "1,000"), else None: signed, currency and clock tokens are not amounts."""
    if not _AMOUNT.fullmatch(token) or len(token.replace(",", "").split(".")[0]) > MAX_DIGITS:
        return None
    return float(token.replace(",", ""))


def _number_at(words: list[str], i: int) -> tuple[int, int] | None:
    """The number spoken in words from ``words[i]``, and the index after it; None when none starts there.

    "a hundred" counts ("a" before a scale word), "one hundred thousand" is
    100,000; "oh" is never a number here (see :func:`_minute_at`).
    """
    total, current, j, seen = 0, 0, i, False
    last, last_scale = "", ""  # last: "unit", "tens" or "scale"
    while j < len(words):
        w = words[j]
        if w == "a" and not seen and j + 1 < len(words) and words[j + 1] in _SCALE:
            current, seen, last, j = 1, True, "unit", j + 1
            continue
        if w == "and" and seen and last == "scale" and j + 1 < len(words) and (
                words[j + 1] in _UNITS or words[j + 1] in _TENS):
            j += 1
            continue
        if w in _TENS and last in ("", "scale"):
            current += _TENS[w]
            last = "tens"
        elif w in _UNITS and w != "oh" and (last in ("", "scale") or (last == "tens" and _UNITS[w] < 10)):
            current += _UNITS[w]
            last = "unit"
        elif w in _SCALE and seen and (last != "scale" or (w == "thousand" and last_scale == "hundred")):
            if w == "hundred":
                current *= 100
            else:
                total, current = total + current * _SCALE[w], 0
            last, last_scale = "scale", w
        else:
            break
        seen = True
        j += 1
    if not seen:
        return None
    return total + current, j


def _scan(words: list[str], read_at: Callable[[list[str], int], tuple[T, int] | None]) -> list[T]:
    """What ``read_at`` reads from each word on (skipping what it consumed), in order, without repeats."""
    out: list[T] = []
    i = 0
    while i < len(words):
        got = read_at(words, i)
        if got is None:
            i += 1
            continue
        value, i = got
        if value not in out:
            out.append(value)
    return out


def _decimal_at(words: list[str], i: int) -> tuple[float, int] | None:
    """A decimal said with "point" from ``words[i]`` ("ninety four point five", "22 point 5"), and the index after.

    The whole part is number words or plain digits; after "point" come single digits, each said alone ("eighty
    nine point one", "one point oh five"). None when no such decimal starts there.
    """
    if i > 0 and (_digit(words[i - 1]) is not None or words[i - 1] in _TENS or words[i - 1] in _SCALE
                  or words[i - 1] == "point"):
        return None  # not from the middle of a number ("one oh one point one" is 101.1, never 1.1)
    if i > 0 and words[i - 1] == "at" and words[i] == "one":
        return None  # "at one point three of us left"
    got = _digit_run_at(words, i) or _number_at(words, i)
    if got is None:
        n = _small_int(words[i])
        got = (n, i + 1) if n is not None else None
    if got is None:
        return None
    whole, j = got
    if j >= len(words) or words[j] != "point":
        return None
    digits = []
    k = j + 1
    while k < len(words) and (d := _digit(words[k])) is not None:
        digits.append(str(d))
        k += 1
    if not digits or len(digits) > MAX_DIGITS or (k < len(words) and words[k] in _BIG_SCALES):
        return None  # too long to be a stated value, or "five point five million"
    sign = -1 if i > 0 and words[i - 1] in ("minus", "negative") else 1
    return sign * float(f"{whole}.{''.join(digits)}"), k


_BIG_SCALES = {"hundred", "thousand", "million", "billion", "trillion"}
_MINUS = frozenset({"minus", "negative"})


def _digit(word: str) -> int | None:
    """A single digit said or written ("oh" and "zero" are 0), else None."""
    if word in _UNITS and _UNITS[word] < 10:
        return _UNITS[word]
    return int(word) if word.isdigit() and len(word) == 1 else None


def _digit_run_at(words: list[str], i: int) -> tuple[int, int] | None:
    """Digits said one by one before "point" ("one oh one point one": 101), else None."""
    digits: list[str] = []
    j = i
    while j < len(words) and (d := _digit(words[j])) is not None and len(digits) < MAX_DIGITS:
        digits.append(str(d))
        j += 1
    if len(digits) < 2 or j >= len(words) or words[j] != "point" or digits[0] == "0":
        return None
    return int("".join(digits)), j


def spoken_decimals(text: str) -> list[float]:
    """The decimals ``text`` says with "point", in order, without repeats ("ninety four point five" → 94.5)."""
    return _scan(_tokens(text), _decimal_at)


def spoken_numbers(text: str) -> list[int]:
    """The numbers ``text`` says in words, in order, without repeats ("seventy five" → 75).

    Digits are not read here (see
    :func:`~agent_sdk.agent.request_features.written_numbers`). A number
    after "minus" or "negative" is negative ("minus three" → -3).
    """
    return _scan(_tokens(text), _signed_number_at)


def _signed_number_at(words: list[str], i: int) -> tuple[int, int] | None:
    """:func:`_number_at`, negated after "minus" or "negative" ("minus three" → -3, read from "minus")."""
    if words[i] in _MINUS and i + 1 < len(words) and (got := _number_at(words, i + 1)) is not None:
        return -got[0], got[1]
    return _number_at(words, i)


@dataclass(frozen=True)
class Clock:
    """A time of day.

    Attributes:
        hour: 0-23 when the half of the day is known, else 1-12.
        minute: 0-59.
        half_known: Whether am/pm (or a 24-hour hour) was given.
    """

    hour: int
    minute: int
    half_known: bool

    def same_as(self, other: Clock) -> bool:
        """Whether two clock readings can be the same time (an unknown half of the day matches either)."""
        if self.minute != other.minute:
            return False
        if self.half_known and other.half_known:
            return self.hour == other.hour
        return self.hour % 12 == other.hour % 12


# A clock written in digits: "7 am", "6:30 pm", "7:05a.m.", "18:45". One optional space between its parts (no run of
# optional spaces: the pattern must not backtrack over long inputs).
_DIGIT_CLOCK = re.compile(r"(\d{1,2})(?::(\d{2}))? ?([ap])\.?m?\.?|(\d{1,2}):(\d{2})", re.IGNORECASE)
_MAX_CLOCK_LEN = 16


def _to_24(hour: int, half: str) -> int:
    """A 1-12 hour in a half of the day: ``a`` (am), ``p`` (pm) or ``n`` (at night: 12 is midnight, 1-4 after it)."""
    if half == "a":
        return hour % 12
    if half == "p":
        return hour % 12 + 12
    return 0 if hour == 12 else hour if hour <= 4 else hour % 12 + 12


def _with_half(hour: int, minute: int, half: str | None) -> Clock | None:
    if not 0 <= minute <= 59:
        return None
    if half is None:
        if 13 <= hour <= 23 or hour == 0:
            return Clock(hour, minute, True)
        return Clock(hour, minute, False) if 1 <= hour <= 12 else None
    if not 1 <= hour <= 12:
        return None
    return Clock(_to_24(hour, half), minute, True)


def parse_clock(value: str) -> Clock | None:
    """A time of day written in digits ("7 am", "6:30 pm", "18:45", "7:05a.m."); None for anything else."""
    value = value.strip()
    if len(value) > _MAX_CLOCK_LEN:
        return None
    m = _DIGIT_CLOCK.fullmatch(value)
    if not m:
        return None
    if m.group(1) is not None:
        return _with_half(int(m.group(1)), int(m.group(2) or 0), m.group(3).lower())
    return _with_half(int(m.group(4)), int(m.group(5)), None)


_HALF_WORDS = {
    ("am",): "a", ("a", "m"): "a", ("pm",): "p", ("p", "m"): "p", ("in", "the", "morning"): "a",
    ("in", "the", "afternoon"): "p", ("in", "the", "evening"): "p", ("at", "night"): "n", ("tonight",): "n",
    ("this", "morning"): "a", ("this", "afternoon"): "p", ("this", "evening"): "p", ("tomorrow", "morning"): "a",
}

# Words after "at N" that make N something other than a time ("at 20 percent", "at 15 an hour", "at 5 to 6").
_NOT_A_TIME_AFTER = frozenset(
    ["%", "percent", "per", "degrees", "degree", "dollars", "dollar", "euros", "euro", "pounds", "pound", "bucks", "cents", "a", "an", "each", "to", "past", "after", "till", "til", "times", "x", "points", "point", "kph", "mph", "km", "miles", "meters", "metres", "feet", "kilos", "kg", "grams", "people", "persons", "items"]
)


def _half_at(words: list[str], j: int) -> tuple[str | None, int]:
    for phrase, half in _HALF_WORDS.items():
        if tuple(words[j:j + len(phrase)]) == phrase:
            return half, j + len(phrase)
    return None, j


def _hour_word(words: list[str], i: int) -> int | None:
    """An hour of a 12-hour clock at ``words[i]``, in words or digits."""
    w = words[i] if i < len(words) else ""
    n = _small_int(w) if w.isdigit() and len(w) <= 2 else _UNITS.get(w)
    return n if n is not None and 1 <= n <= 12 else None


def _minute_at(words: list[str], i: int) -> tuple[int, int] | None:
    """A minute after an hour: "thirty", "forty five", "oh five", "05"."""
    w = words[i] if i < len(words) else ""
    if w.isdigit() and len(w) == 2:
        return int(w), i + 1
    if w == "oh" and i + 1 < len(words) and words[i + 1] in _UNITS and 1 <= _UNITS[words[i + 1]] <= 9:
        return _UNITS[words[i + 1]], i + 2
    if w in _TENS and _TENS[w] < 60 or (w in _UNITS and 10 <= _UNITS[w] <= 19):
        got = _number_at(words, i)
        if got is not None and 10 <= got[0] <= 59:
            return got
    return None


def _offset_at(words: list[str], i: int) -> tuple[int, int] | None:
    """Minutes before (negative) or after an hour: "half past", "a quarter to", "ten past", "20 to", "seven minutes to"."""
    w = words[i]
    nxt = words[i + 1] if i + 1 < len(words) else ""
    if w == "half" and nxt == "past":
        return 30, i + 2
    if w == "quarter" and nxt in ("past", "to", "after", "til", "till"):
        return (15 if nxt in ("past", "after") else -15), i + 2
    if w == "a" and nxt == "quarter" and i + 2 < len(words) and words[i + 2] in ("past", "to", "after"):
        return (15 if words[i + 2] in ("past", "after") else -15), i + 3
    if w.isdigit() and len(w) <= 2:
        n, k = int(w), i + 1
    else:
        got = _number_at(words, i)
        if got is None:
            return None
        n, k = got
    if not 1 <= n <= 59:
        return None
    unit = k < len(words) and words[k] in ("minutes", "minute")
    k += unit
    # "ten past five", "seven minutes to nine", "20 to 8"; not "two to three eggs" or "from 2 to 3"
    if k < len(words) and words[k] in ("past", "to", "after") and (unit or n % 5 == 0):
        return (n if words[k] in ("past", "after") else -n), k + 1
    return None


def _clock_at(words: list[str], i: int) -> tuple[Clock, int] | None:
    """The time of day said from ``words[i]``, and the index after it; None when none starts there."""
    if re.fullmatch(r"\d{1,2}:\d{2}", words[i]):  # "6:30", "6:30 pm"
        h, m = words[i].split(":")
        half, j = _half_at(words, i + 1)
        clock = _with_half(int(h), int(m), half)
        return (clock, j) if clock else None
    offset = _offset_at(words, i)
    if offset is not None:
        minutes, j = offset
        hour = _hour_word(words, j)
        if hour is None:
            return None
        half, j = _half_at(words, j + 1)
        total = (hour % 12 * 60 + minutes) % 720
        h12 = total // 60 or 12
        # The part of the day is the resulting time's, as people say it: "twenty to twelve pm" is 11:40 pm.
        return Clock(h12 if half is None else _to_24(h12, half), total % 60, half is not None), j
    w = words[i]
    if w in ("noon", "midday"):
        return Clock(12, 0, True), i + 1
    if w == "midnight":
        return Clock(0, 0, True), i + 1
    digits = w.isdigit()
    hour = (_small_int(w) if digits and len(w) <= 2 else _UNITS.get(w))
    if hour is None or not (0 <= hour <= 23 if digits else 1 <= hour <= 12):
        return None
    j, minute, explicit = i + 1, 0, False
    if j < len(words) and words[j] in ("o'clock", "oclock"):
        j, explicit = j + 1, True
    else:
        got = _minute_at(words, j)
        if got is not None:
            (minute, j), explicit = got, True
    half, j = _half_at(words, j)
    after_at = i > 0 and words[i - 1] == "at"
    if half is None:
        if digits and not after_at:
            return None  # "7 30 people", "the 12 30 train": a time in digits needs "at", ":" or am/pm
        if not explicit and not (digits and after_at and hour >= 1 and (
                j >= len(words) or words[j] not in _NOT_A_TIME_AFTER)):
            return None  # a bare "six" is a number, "at 7" a time, "at 20 percent" not
    clock = _with_half(hour, minute, half)
    return (clock, j) if clock else None


def spoken_clocks(text: str) -> list[Clock]:
    """The times of day ``text`` states in words or digits ("six thirty am", "quarter past 7 in the morning")."""
    return _scan(_tokens(text), _clock_at)


# Seconds in each unit a duration is said in.
UNIT_SECONDS = {
    "hour": 3600, "hours": 3600, "hr": 3600, "hrs": 3600, "minute": 60, "minutes": 60, "min": 60, "mins": 60,
    "second": 1, "seconds": 1, "sec": 1, "secs": 1,
}

# Millimeters in each unit a length is said in. Not "m" (minutes as often) or "in" (a preposition far more often).
UNIT_MILLIMETERS: dict[str, float] = {
    "millimeter": 1, "millimeters": 1, "millimetre": 1, "millimetres": 1, "mm": 1,
    "centimeter": 10, "centimeters": 10, "centimetre": 10, "centimetres": 10, "cm": 10, "cms": 10,
    "meter": 1000, "meters": 1000, "metre": 1000, "metres": 1000,
    "kilometer": 1_000_000, "kilometers": 1_000_000, "kilometre": 1_000_000, "kilometres": 1_000_000, "km": 1_000_000,
    "inch": 25.4, "inches": 25.4, "foot": 304.8, "feet": 304.8, "ft": 304.8, "yard": 914.4, "yards": 914.4,
    "mile": 1_609_344, "miles": 1_609_344,
}

NEAREST_SHARE = 0.05
"""How far a stated length or weight may move to fit a whole-number parameter (and still count as said): "three
inches" (7.62 cm) into whole centimeters is 8, "an inch" (2.54 cm) is not 3."""

# Grams in each unit a weight is said in.
UNIT_GRAMS: dict[str, float] = {
    "milligram": 0.001, "milligrams": 0.001, "mg": 0.001, "gram": 1, "grams": 1, "gramme": 1, "grammes": 1, "g": 1,
    "kilogram": 1000, "kilograms": 1000, "kilo": 1000, "kilos": 1000, "kg": 1000, "kgs": 1000,
    "pound": 453.59237, "pounds": 453.59237, "lb": 453.59237, "lbs": 453.59237,
    "ounce": 28.349523125, "ounces": 28.349523125, "oz": 28.349523125,
}

# Millilitres in each unit a volume is said in: metric only ("a cup", "a pint" and "a gallon" differ by country; not
# "l", a letter as often).
UNIT_MILLILITRES: dict[str, float] = {
    "millilitre": 1, "millilitres": 1, "milliliter": 1, "milliliters": 1, "ml": 1, "mls": 1,
    "centilitre": 10, "centilitres": 10, "centiliter": 10, "centiliters": 10, "cl": 10,
    "decilitre": 100, "decilitres": 100, "deciliter": 100, "deciliters": 100,
    "litre": 1000, "litres": 1000, "liter": 1000, "liters": 1000,
}

# "hang on a minute", "wait a sec", "just a second": "a" before a unit that is no amount of time.
_IDIOM_BEFORE_A = frozenset({"on", "wait", "just", "me", "moment"})

# Fractions of a unit said before "of a/an <unit>": "a quarter of an hour", "three quarters of an hour".
_FRACTIONS = {("a", "quarter"): 0.25, ("quarter",): 0.25, ("three", "quarters"): 0.75, ("half",): 0.5,
              ("a", "half"): 0.5}


def _amount_before(words: list[str], i: int) -> tuple[float, int] | None:
    """The amount said right before the unit at ``words[i]``, and where it starts; None when there is none."""
    before = words[i - 1] if i > 0 else ""
    for start in range(max(0, i - 8), i - 2):  # a decimal said with "point" ("one point five meters")
        dec = _decimal_at(words, start)
        if dec is not None and dec[1] == i:
            return dec[0], start
    if i >= 2 and words[i - 2] == "point":
        return None  # "point five meters": no whole part said, nothing read
    # "sixty one centimeters", "a hundred and one grams": "one" ends a longer number, read below
    ends_number = before == "one" and i >= 2 and (words[i - 2] in _TENS or words[i - 2] in _BIG_SCALES
                                                  or words[i - 2] == "and" or _digit(words[i - 2]) is not None)
    if before in ("an", "a", "one") and not ends_number:
        if i >= 2 and words[i - 2] == "of":  # "a quarter of an hour", "three quarters of an hour"
            for phrase, share in _FRACTIONS.items():
                k = i - 2 - len(phrase)
                if k >= 0 and tuple(words[k:i - 2]) == phrase:
                    return share, k
            return None
        if before != "one" and (words[i] in ("sec", "secs", "min", "mins") or (
                words[i] == "second" and i >= 2 and words[i - 2] == "in")):
            return None  # "in a sec", "back in a second", "half a sec"
        if i >= 2 and words[i - 2] == "half" and before in ("an", "a"):
            return 0.5, i - 2  # "half an hour", "half a minute", "half a meter"
        if before != "one" and i >= 2 and words[i - 2] in _IDIOM_BEFORE_A and words[i] in UNIT_SECONDS:
            return None
        return 1, i - 1
    if i >= 3 and words[i - 3:i] == ["a", "couple", "of"]:
        return 2, i - 3
    if i >= 4 and words[i - 3:i] == ["and", "a", "half"]:  # "two and a half hours", "1 and a half minutes"
        whole = _amount_before(words, i - 3)
        return (whole[0] + 0.5, whole[1]) if whole is not None else None
    amount = _amount_token(before)
    if amount is not None:
        return (None if i >= 2 and words[i - 2] == "point" else (amount, i - 1))
    # the longest number that ends right before the unit ("twenty five minutes", "two hundred and fifty five cm")
    for start in range(max(0, i - _MAX_NUMBER_WORDS), i):
        got = _number_at(words, start)
        if got is not None and got[1] == i and (start == 0 or words[start - 1] != "point"):
            return got[0], start
    return None


_MAX_NUMBER_WORDS = 10  # "one thousand two hundred and twenty five": the words a spoken amount may take


def spoken_durations(text: str) -> list[list[tuple[float, int]]]:
    """The durations ``text`` states, each as its parts ``(amount, seconds per unit)``.

    Parts said one after the other (optionally joined by "and") are one
    duration: "1 hour and 20 minutes" is ``[[(1, 3600), (20, 60)]]``, "an
    hour and a half" ``[[(1.5, 3600)]]``; "a 5 minute timer and a 10 minute
    one" holds two durations.
    """
    return _measures(text, UNIT_SECONDS)  # type: ignore[arg-type, return-value]  # int units in, int units out


def spoken_lengths(text: str) -> list[list[tuple[float, float]]]:
    """The lengths ``text`` states, each as its parts ``(amount, millimeters per unit)``, as :func:`spoken_durations`.

    "half a meter" is ``[[(0.5, 1000)]]``, "five feet and two inches" ``[[(5, 304.8), (2, 25.4)]]``.
    """
    return _measures(text, UNIT_MILLIMETERS)


def spoken_weights(text: str) -> list[list[tuple[float, float]]]:
    """The weights ``text`` states, each as its parts ``(amount, grams per unit)``, as :func:`spoken_durations`.

    "one kilo" is ``[[(1, 1000)]]``, "1.5 kg" ``[[(1.5, 1000)]]``, "half a pound" ``[[(0.5, 453.59237)]]``.
    """
    return _measures(text, UNIT_GRAMS)


def spoken_volumes(text: str) -> list[list[tuple[float, float]]]:
    """The volumes ``text`` states, each as its parts ``(amount, millilitres per unit)``, as :func:`spoken_durations`.

    "a litre and a half" is ``[[(1.5, 1000)]]``, "250 ml" ``[[(250, 1)]]``, "half a liter" ``[[(0.5, 1000)]]``.
    """
    return _measures(text, UNIT_MILLILITRES)


def _measures(text: str, units: dict[str, float]) -> list[list[tuple[float, float]]]:
    """The amounts of ``units`` ``text`` states, parts said one after the other joined (see :func:`spoken_durations`)."""
    words = _tokens(text)
    out: list[list[tuple[float, float]]] = []
    last_end = -2
    for i, w in enumerate(words):
        if w not in units:
            continue
        got = _amount_before(words, i)
        if got is None:
            continue
        amount, start = got
        end = i + 1
        if words[i + 1:i + 4] == ["and", "a", "half"]:
            amount, end = amount + 0.5, i + 4
        part = (amount, units[w])
        joined = out and (start == last_end or (start == last_end + 1 and words[last_end] == "and"))
        if joined:
            out[-1].append(part)
        else:
            out.append([part])
        last_end = end
    return out


def duration_seconds(parts: list[tuple[float, int]]) -> float:
    """The length of a duration of :func:`spoken_durations`, in seconds."""
    return sum(amount * unit for amount, unit in parts)


def spoken_minutes(text: str) -> list[int]:
    """Whole-minute durations ``text`` states ("two hours" → 120, "an hour and a half" → 90, "90 minutes" → 90)."""
    out: list[int] = []
    for parts in spoken_durations(text):
        seconds = duration_seconds(parts)
        if seconds % 60 == 0 and int(seconds // 60) not in out:
            out.append(int(seconds // 60))
    return out
