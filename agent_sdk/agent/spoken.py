"""Numbers, times of day and durations as people say them.

Speech-to-text writes "seventy five percent", "six thirty am", "quarter
past seven in the morning" and "two hours"; tools take ``75``, ``"6:30 am"``
and ``minutes=120``. The ``auto`` decision asks how much of a call the
request states (:func:`~agent_sdk.agent.request_features.copy_coverage`) and
re-ranking offers the request's numbers as candidates, so both read the
request through these parsers as well as through its digits.

Only what is unambiguous is read: number words (``"twenty-five"``,
``"a hundred and five"``), clock times with an hour and a minute or a
day-half (``"six thirty am"``, ``"half past six"``, ``"7 in the evening"``),
and whole amounts of hours and minutes (``"two hours"``, ``"an hour and a
half"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "UNIT_SECONDS", "Clock", "duration_seconds", "parse_clock", "spoken_clocks", "spoken_durations", "spoken_minutes",
    "spoken_numbers",
]

_UNITS = {
    "zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_SCALE = {"hundred": 100, "thousand": 1000}
_TOKEN = re.compile(r"\d+(?::\d{2})?|[a-z]+(?:'[a-z]+)?")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower().replace("-", " "))


def _number_at(words: list[str], i: int) -> tuple[int, int] | None:
    """The number spoken from ``words[i]``, and the index after it; None when none starts there.

    "a hundred" counts ("a" before a scale word); "oh" counts only inside a
    number ("six oh five"), never alone.
    """
    total, current, j, seen = 0, 0, i, False
    last = ""  # "unit", "tens", "scale"
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
        elif w in _SCALE and seen and last != "scale":
            if w == "hundred":
                current *= 100
            else:
                total, current = total + current * _SCALE[w], 0
            last = "scale"
        else:
            break
        seen = True
        j += 1
    if not seen:
        return None
    return total + current, j


def spoken_numbers(text: str) -> list[int]:
    """The numbers ``text`` says in words, in order, without repeats ("seventy five" → 75).

    Digits are not read here (see
    :func:`~agent_sdk.agent.request_features.written_numbers`).
    """
    words = _tokens(text)
    out: list[int] = []
    i = 0
    while i < len(words):
        got = _number_at(words, i)
        if got is None:
            i += 1
            continue
        n, i = got
        if n not in out:
            out.append(n)
    return out


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


_DIGIT_CLOCK = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*([ap])\.?\s*m?\.?\s*$|^\s*(\d{1,2}):(\d{2})\s*$", re.IGNORECASE)


def _with_half(hour: int, minute: int, half: str | None) -> Clock | None:
    if not 0 <= minute <= 59:
        return None
    if half is None:
        if 13 <= hour <= 23 or hour == 0:
            return Clock(hour, minute, True)
        return Clock(hour, minute, False) if 1 <= hour <= 12 else None
    if not 1 <= hour <= 12:
        return None
    return Clock(hour % 12 + (12 if half == "p" else 0), minute, True)


def parse_clock(value: str) -> Clock | None:
    """A time of day written in digits ("7 am", "6:30 pm", "18:45", "7:05a.m."); None for anything else."""
    m = _DIGIT_CLOCK.match(value)
    if not m:
        return None
    if m.group(1) is not None:
        return _with_half(int(m.group(1)), int(m.group(2) or 0), m.group(3).lower())
    return _with_half(int(m.group(4)), int(m.group(5)), None)


_HALF_WORDS = {
    ("am",): "a", ("a", "m"): "a", ("pm",): "p", ("p", "m"): "p", ("in", "the", "morning"): "a",
    ("in", "the", "afternoon"): "p", ("in", "the", "evening"): "p", ("at", "night"): "p", ("tonight",): "p",
    ("this", "morning"): "a", ("this", "afternoon"): "p", ("this", "evening"): "p", ("tomorrow", "morning"): "a",
}


def _half_at(words: list[str], j: int) -> tuple[str | None, int]:
    for phrase, half in _HALF_WORDS.items():
        if tuple(words[j:j + len(phrase)]) == phrase:
            return half, j + len(phrase)
    return None, j


def _hour_at(words: list[str], i: int) -> tuple[int, int] | None:
    """An hour (1-12 in words, or 0-23 in digits) at ``words[i]``."""
    w = words[i] if i < len(words) else ""
    if w.isdigit():
        return (int(w), i + 1) if 0 <= int(w) <= 23 else None
    if w in _UNITS and 1 <= _UNITS[w] <= 12:
        return _UNITS[w], i + 1
    return None


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


def _clock_at(words: list[str], i: int) -> tuple[Clock, int] | None:
    w = words[i]
    # "half past six", "quarter to seven", "ten past five", "twenty to eight"
    offset: int | None = None
    j = i
    if w == "half" and i + 1 < len(words) and words[i + 1] == "past":
        offset, j = 30, i + 2
    elif w == "quarter" and i + 1 < len(words) and words[i + 1] in ("past", "to", "after", "til", "till"):
        offset, j = (15 if words[i + 1] in ("past", "after") else -15), i + 2
    elif w == "a" and i + 2 < len(words) and words[i + 1] == "quarter" and words[i + 2] in ("past", "to", "after"):
        offset, j = (15 if words[i + 2] in ("past", "after") else -15), i + 3
    else:
        got = _number_at(words, i)
        if got is not None and 1 <= got[0] <= 59 and got[1] < len(words):
            unit = got[1] < len(words) and words[got[1]] in ("minutes", "minute")
            k = got[1] + unit
            # "ten past five", "seven minutes to nine"; not "two to three eggs"
            if k < len(words) and words[k] in ("past", "to", "after") and (unit or got[0] % 5 == 0):
                offset, j = (got[0] if words[k] in ("past", "after") else -got[0]), k + 1
    if offset is not None:
        hour = _hour_at(words, j)
        if hour is None:
            return None
        h, j = hour
        half, j = _half_at(words, j)
        minute = offset % 60
        h = h if offset > 0 else h - 1
        if half is None and h == 0:
            h = 12
        clock = _with_half(h if half is None else (h - 1) % 12 + 1, minute, half)
        return (clock, j) if clock else None
    # "six thirty am", "seven o'clock", "7 in the evening", "noon", "midnight"
    if w in ("noon", "midday"):
        return Clock(12, 0, True), i + 1
    if w == "midnight":
        return Clock(0, 0, True), i + 1
    hour = _hour_at(words, i)
    if hour is None:
        return None
    h, j = hour
    minute = 0
    explicit = False
    if j < len(words) and words[j] in ("o'clock", "oclock"):
        j, explicit = j + 1, True
    else:
        got = _minute_at(words, j)
        if got is not None:
            (minute, j), explicit = got, True
    half, j = _half_at(words, j)
    after_at = i > 0 and words[i - 1] in ("at", "by", "until", "till")
    if half is None and not explicit and not (words[i].isdigit() and after_at):
        return None  # a bare "six" is a number, not a time; "at 7" is one
    if half is None and words[i].isdigit() and not after_at and words[i - 1:i] != ["for"]:
        return None
    clock = _with_half(h, minute, half)
    return (clock, j) if clock else None


def spoken_clocks(text: str) -> list[Clock]:
    """The times of day ``text`` states in words or digits ("six thirty am", "quarter past 7 in the morning")."""
    words = _tokens(text)
    out: list[Clock] = []
    i = 0
    while i < len(words):
        if ":" in words[i]:
            h, m = words[i].split(":")
            half, j = _half_at(words, i + 1)
            clock = _with_half(int(h), int(m), half)
            if clock is not None:
                out.append(clock)
            i = j if clock is not None else i + 1
            continue
        got = _clock_at(words, i)
        if got is None:
            i += 1
            continue
        clock, i = got
        if clock not in out:
            out.append(clock)
    return out


# Seconds in each unit a duration is said in.
UNIT_SECONDS = {
    "hour": 3600, "hours": 3600, "hr": 3600, "hrs": 3600, "minute": 60, "minutes": 60, "min": 60, "mins": 60,
    "second": 1, "seconds": 1, "sec": 1, "secs": 1,
}


def _amount_before(words: list[str], i: int) -> tuple[float, int] | None:
    """The amount said right before the unit at ``words[i]``, and where it starts."""
    before = words[i - 1] if i > 0 else ""
    if before in ("an", "a", "one"):
        if i >= 2 and words[i - 2] == "half" and before == "an":
            return 0.5, i - 2  # "half an hour"
        return 1, i - 1
    if before.isdigit():
        return int(before), i - 1
    for start in range(max(0, i - 4), i):  # the number that ends right before the unit ("twenty five minutes")
        got = _number_at(words, start)
        if got is not None and got[1] == i:
            return got[0], start
    return None


def spoken_durations(text: str) -> list[list[tuple[float, int]]]:
    """The durations ``text`` states, each as its parts ``(amount, seconds per unit)``.

    Parts said one after the other (optionally joined by "and") are one
    duration: "1 hour and 20 minutes" is ``[[(1, 3600), (20, 60)]]``, "an
    hour and a half" ``[[(1.5, 3600)]]``; "a 5 minute timer and a 10 minute
    one" holds two durations.
    """
    words = _tokens(text)
    out: list[list[tuple[float, int]]] = []
    last_end = -2
    for i, w in enumerate(words):
        if w not in UNIT_SECONDS:
            continue
        got = _amount_before(words, i)
        if got is None:
            continue
        amount, start = got
        end = i + 1
        if words[i + 1:i + 4] == ["and", "a", "half"]:
            amount, end = amount + 0.5, i + 4
        part = (amount, UNIT_SECONDS[w])
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
