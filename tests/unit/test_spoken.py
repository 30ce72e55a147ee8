"""Spoken numbers, times of day and durations (agent_sdk/agent/spoken.py), and what they change downstream."""

from __future__ import annotations

import random

import pytest

from agent_sdk.agent.clauses import split_clauses
from agent_sdk.agent.request_features import copy_coverage, named_number, said_enum, said_flag
from agent_sdk.agent.rerank import request_numbers
from agent_sdk.agent.spoken import (
    Clock,
    parse_clock,
    spoken_clocks,
    spoken_decimals,
    spoken_durations,
    spoken_lengths,
    spoken_minutes,
    spoken_numbers,
    spoken_volumes,
    spoken_weights,
)
from agent_sdk.agent.spoken_values import (
    parameter_length_unit,
    parameter_unit,
    parameter_volume_unit,
    parameter_weight_unit,
    render_clock,
    said_values,
)
from agent_sdk.tune.examples import _clock_words
from agent_sdk.tune.phrasing import number_words

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("text", "want"), [
    ("bathroom light to seventy five percent", [75]),
    ("twenty-five", [25]),
    ("a hundred and five people", [105]),
    ("one thousand two hundred", [1200]),
    ("two to three eggs", [2, 3]),
    ("six oh five", [6, 5]),  # "oh" only inside a time, never a number of its own
    ("oh no", []),
    ("hundred", []),  # a scale word needs a number or "a" before it
    ("the one in the kitchen", [1]),
    ("one hundred thousand", [100000]),
    ("a hundred thousand and five", [100005]),
])
def test_spoken_numbers(text: str, want: list[int]) -> None:
    assert spoken_numbers(text) == want


def test_spoken_numbers_read_back_what_the_generator_spells() -> None:
    """number_words (tune/phrasing.py, written separately) spells; spoken_numbers must read every spelling back."""
    for n in list(range(121)) + [199, 250, 999, 1000, 1001, 2500, 9999]:
        for hyphen in (False, True):
            said = number_words(n, hyphen=hyphen)
            assert spoken_numbers(said) == [n], said


@pytest.mark.parametrize(("text", "want"), [
    ("wake me up at six thirty am", Clock(6, 30, True)),
    ("i need to be up at quarter past seven in the morning", Clock(7, 15, True)),
    ("set an alarm for quarter to six in the morning", Clock(5, 45, True)),
    ("twenty to eight tonight", Clock(19, 40, True)),
    ("six oh five pm", Clock(18, 5, True)),
    ("alarm at 7 am", Clock(7, 0, True)),
    ("set it for 6:30am please", Clock(6, 30, True)),
    ("at 18:45", Clock(18, 45, True)),
    ("seven o'clock", Clock(7, 0, False)),
    ("half past six", Clock(6, 30, False)),
    ("alarm at 7", Clock(7, 0, False)),
    ("quarter to one", Clock(12, 45, False)),
    ("twelve noon", Clock(12, 0, True)),
    ("at midnight", Clock(0, 0, True)),
    ("ten p.m.", Clock(22, 0, True)),
    ("set an alarm at 20 to 8", Clock(7, 40, False)),
    ("remind me at 10 past 5", Clock(5, 10, False)),
    ("twelve at night", Clock(0, 0, True)),
    ("at twelve tonight", Clock(0, 0, True)),
    ("2 at night", Clock(2, 0, True)),
    ("twenty to twelve p.m.", Clock(23, 40, True)),  # the resulting time's part of the day, as the generator says it
    ("seven o\u2019clock", Clock(7, 0, False)),
    ("wake me at 7 tomorrow", Clock(7, 0, False)),
])
def test_spoken_clocks(text: str, want: Clock) -> None:
    assert spoken_clocks(text) == [want]


@pytest.mark.parametrize("text", [
    "set a timer for seven minutes", "two to three eggs", "turn it up to five", "i have 7 cats", "six",
    "raise the volume by 5", "at $15 an hour", "at 20 percent", "at 20 %", "at 0", "for 2 30 minute walks",
    "the 12 30 train", "from 2 to 3 players",
])
def test_not_a_time(text: str) -> None:
    assert spoken_clocks(text) == []


def test_spoken_clocks_read_back_what_the_generator_says() -> None:
    """Every phrasing tune's generator gives a time (tune/examples.py) is read back as the digits it targets."""
    rng = random.Random(0)
    seen = 0
    for hour in range(24):
        for minute in range(0, 60, 5):
            for _ in range(4):
                got = _clock_words(f"{hour}:{minute:02d}", rng)
                if got is None:
                    continue
                said, target = got
                want = parse_clock(target)
                assert want is not None, target
                clocks = spoken_clocks(f"wake me at {said}")
                assert any(want.same_as(c) for c in clocks), (said, target, clocks)
                seen += 1
    assert seen > 500


@pytest.mark.parametrize(("value", "want"), [
    ("7 am", Clock(7, 0, True)), ("6:30 pm", Clock(18, 30, True)), ("12 am", Clock(0, 0, True)),
    ("12 pm", Clock(12, 0, True)), ("18:45", Clock(18, 45, True)), ("7:05a.m.", Clock(7, 5, True)),
    ("8:30", Clock(8, 30, False)), ("seven", None), ("7", None), ("13 pm", None), ("7:75 am", None), ("", None),
])
def test_parse_clock(value: str, want: Clock | None) -> None:
    assert parse_clock(value) == want


def test_same_as_leaves_an_unknown_half_of_the_day_open() -> None:
    assert Clock(6, 30, False).same_as(Clock(18, 30, True))
    assert Clock(6, 30, False).same_as(Clock(6, 30, True))
    assert not Clock(6, 30, True).same_as(Clock(18, 30, True))
    assert not Clock(6, 30, False).same_as(Clock(6, 15, False))


@pytest.mark.parametrize(("text", "want"), [
    ("countdown two hours", [120]), ("an hour and a half", [90]), ("half an hour", [30]),
    ("twenty five minutes", [25]), ("set it to 90 minutes", [90]), ("a timer for an hour", [60]),
    ("1 hour and 20 minutes", [80]), ("a 5 minute timer and a 10 minute one", [5, 10]), ("hours of fun", []),
    ("a quarter of an hour", [15]), ("three quarters of an hour", [45]), ("half of an hour", [30]),
    ("hang on a minute", []), ("wait a sec", []), ("just a second", []), ("back in a second", []),
    ("remind me in a minute", [1]), ("1.5 hours", [90]), ("1,000 minutes", [1000]), ("-2 minutes", []),
    ("$5 minutes", []), ("a couple of hours", [120]), ("two and a half hours", [150]), ("one and a half hours", [90]),
    ("half a minute", []), ("a minute and a half", []), ("half an hour and a minute", [31]),
    ("one point five hours", [90]), ("for two point five minutes", []),
])
def test_spoken_minutes(text: str, want: list[int]) -> None:
    assert spoken_minutes(text) == want


def test_half_a_unit_is_half() -> None:
    """"half a minute" is 30 seconds (it was read as a whole minute), "half a meter" 500 millimeters."""
    assert spoken_durations("wait for half a minute") == [[(0.5, 60)]]
    assert spoken_lengths("move back half a meter") == [[(0.5, 1000)]]


@pytest.mark.parametrize(("text", "want"), [
    ("move back half a meter", [500]), ("go straight ahead 1.5 meters", [1500]), ("drive 30cm", [300]),
    ("forward forty centimetres", [400]), ("five feet and two inches", [1574.8]), ("a meter and a half", [1500]),
    ("two feet", [609.6]), ("a couple of meters", [2000]), ("just a meter", [1000]), ("3 km", [3_000_000]),
    ("drive one point five meters backward", [1500]), ("go 10 m", []), ("put it in 5 minutes", []), ("in the garden", []), ("meters of cable", []),
    ("drive 2 meters and 30 cm", [2300]), ("drive 2 meters, then turn and drive 30 cm", [2000, 300]),
])
def test_spoken_lengths(text: str, want: list[float]) -> None:
    got = [sum(a * u for a, u in parts) for parts in spoken_lengths(text)]
    assert got == pytest.approx(want)


@pytest.mark.parametrize(("arguments", "request_text", "want"), [
    ({"centimeters": 50}, "move back half a meter", 1.0),
    ({"distance_mm": 1500}, "go ahead 1.5 meters", 1.0),
    ({"centimeters": 5}, "move back half a meter", 0.0),
    ({"time": "6:30 am"}, "wake me up at six thirty am", 1.0),
    ({"time": "7:15 am"}, "quarter past seven in the morning", 1.0),
    ({"time": "7:30 am"}, "quarter past seven in the morning", 0.0),
    ({"time": "6:30 pm"}, "wake me up at six thirty am", 0.0),
    ({"room": "bathroom", "percent": 75}, "bathroom light to seventy five percent please", 1.0),
    ({"room": "bathroom", "percent": 70}, "bathroom light to seventy five percent please", 0.5),
    ({"minutes": 5}, "remind me in five minutes", 1.0),
    ({"minutes": 120}, "countdown two hours", 1.0),
    ({"minutes": 30}, "start a timer for an hour", 0.0),
    ({"item": "7 am"}, "buy seven apples", 0.0),  # a clock-like string needs a time of day, not a number
    ({"frequency": 94.5}, "put on ninety four point five fm", 1.0),
    ({"frequency": 94.4}, "put on ninety four point five fm", 0.0),
    ({"celsius": 22.5}, "make it 22 point 5", 1.0),
    ({"celsius": 22.5}, "make it twenty two and a half", 0.0),  # not read (yet): no decimal said with "point"
])
def test_copy_coverage_counts_what_is_said(arguments: dict, request_text: str, want: float) -> None:
    assert copy_coverage([arguments], request_text) == want


def test_request_numbers_read_compound_number_words() -> None:
    assert request_numbers("set it to seventy five, or 80") == ["80", "75"]
    assert request_numbers("switch the station to eighty nine point one") == ["89", "1", "89.1"]


@pytest.mark.parametrize(("text", "want"), [
    ("put on ninety four point five fm", [94.5]),
    ("one hundred and one point one", [101.1]),
    ("set it to 22 point 5", [22.5]),
    ("one point oh five and then two point two five", [1.05, 2.25]),
    ("at this point two people", []),  # no number before "point"
    ("five point", []),
    ("the point is five", []),
    ("set it to 21.5", []),  # written decimals are read as text, not here
    # What a review found in the first version: never from the middle of a number, nor an idiom or a scale.
    ("put on one oh one point one", [101.1]),  # digits one by one: 101.1, not 1.1
    ("one oh three point seven fm", [103.7]),
    ("at one point three of us left", []),
    ("twenty one point two three four five six seven eight", []),
    ("five point five million", []),
    ("minus three point five", [-3.5]),
])
def test_spoken_decimals(text: str, want: list[float]) -> None:
    assert spoken_decimals(text) == want


def test_spoken_decimals_read_back_what_the_generator_says() -> None:
    """The generator says a documented decimal as "ninety four point five" (tune/examples.py, _say_number)."""
    from agent_sdk.tune.examples import _say_number

    rng = random.Random(0)
    for tenths in range(875, 1081):
        n = tenths / 10
        said = [_say_number(n, rng, decimals=True) for _ in range(12)]
        for text in said:
            if "point" in text:
                assert spoken_decimals(text) == [n], text


_TOOLS = [
    {"name": "set_timer", "parameters": {"type": "object", "properties": {
        "minutes": {"type": "integer", "minimum": 0, "maximum": 1440}, "seconds": {"type": "integer"}}}},
    {"name": "wait", "parameters": {"type": "object", "properties": {"timeout_seconds": {"type": "number"}}}},
    {"name": "set_alarm", "parameters": {"type": "object", "properties": {"time": {"type": "string"}}}},
    {"name": "set_slot", "parameters": {"type": "object", "properties": {
        "time": {"type": "string", "pattern": "^[0-9:]+$"}, "min_price": {"type": "integer"}}}},
]


@pytest.mark.parametrize(("call", "request_text", "want"), [
    (("set_timer", {"minutes": 2}), "countdown two hours", {"minutes": 120}),
    (("set_timer", {"minutes": 30}), "start a timer for an hour", {"minutes": 60}),
    (("set_timer", {"minutes": 1, "seconds": 0}), "timer for 1 minute 30 seconds", {"minutes": 1, "seconds": 30}),
    (("set_timer", {"minutes": 1}), "timer for 1 minute 30 seconds", {"minutes": 1}),  # seconds not written: kept
    (("set_timer", {"minutes": 0, "seconds": 90}), "ninety seconds", {"minutes": 0, "seconds": 90}),  # adds up
    (("set_timer", {"minutes": 15}), "set a timer for a quarter of an hour", {"minutes": 15}),
    (("set_timer", {"minutes": 20}), "three quarters of an hour", {"minutes": 45}),
    (("set_timer", {"minutes": 5}), "hang on a minute, timer for 5", {"minutes": 5}),  # an idiom, not a minute
    (("set_timer", {"minutes": 5}), "wait a sec, timer for 5", {"minutes": 5}),
    (("set_timer", {"minutes": 15}), "set a timer for 1.5 hours", {"minutes": 90}),
    (("set_timer", {"minutes": 10}), "count down 1,000 minutes", {"minutes": 1000}),
    (("set_timer", {"minutes": 2}), "a couple of hours", {"minutes": 120}),
    (("set_timer", {"minutes": 3}), "two and a half minutes", {"minutes": 3}),  # 2.5: not an integer
    (("set_timer", {"minutes": 5}), "every 15 minutes", {"minutes": 15}),
    (("set_timer", {"minutes": 1}), "a minute and a half", {"minutes": 1}),  # 1.5 is not an integer: unchanged
    (("set_timer", {"minutes": 2}), "timer for two days", {"minutes": 2}),  # not a unit we read
    (("set_timer", {"minutes": 5}), "set it for 30 hours", {"minutes": 5}),  # 1800 > maximum: unchanged
    (("wait", {"timeout_seconds": 2}), "wait up to two minutes", {"timeout_seconds": 120}),
    (("set_alarm", {"time": "7:30 am"}), "quarter past seven in the morning", {"time": "7:15 am"}),
    (("set_alarm", {"time": "6 AM"}), "set an alarm for quarter to six in the morning", {"time": "5:45 AM"}),
    (("set_alarm", {"time": "6:30 pm"}), "half past six", {"time": "6:30 pm"}),  # the same time: kept
    (("set_alarm", {"time": "18:00"}), "wake me at six thirty", {"time": "18:30"}),
    (("set_alarm", {"time": "dinner"}), "half past six", {"time": "dinner"}),  # not a clock: kept
    (("set_alarm", {"time": "7 am"}), "at 7 am or 8 am", {"time": "7 am"}),  # two times: kept
    (("set_slot", {"time": "7:30", "min_price": 3}), "quarter past seven, 3 minutes", {"time": "7:30", "min_price": 3}),
    (("set_alarm", {"time": "6:30 am"}), "wake me up 30 minutes before 7 am", {"time": "6:30 am"}),  # related: kept
    (("set_alarm", {"time": "7:40 am"}), "set an alarm at 20 to 8", {"time": "7:40 am"}),
    (("set_alarm", {"time": "5:10"}), "remind me at 10 past 5", {"time": "5:10"}),
    (("set_alarm", {"time": "7 am"}), "raise the volume by 5", {"time": "7 am"}),
    (("set_alarm", {"time": "7 am"}), "at 20 percent", {"time": "7 am"}),
    (("set_alarm", {"time": "12 am"}), "twelve at night", {"time": "12 am"}),
    (("set_alarm", {"time": "11 pm"}), "twelve at night", {"time": "12 am"}),
    (("set_alarm", {"time": "00:30"}), "half past twelve", {"time": "00:30"}),
    (("set_alarm", {"time": "12:30"}), "half past twelve", {"time": "12:30"}),
    (("set_alarm", {"time": "7 am"}), "at 7 30", {"time": "7:30 am"}),
])
def test_said_values(call: tuple[str, dict], request_text: str, want: dict) -> None:
    (got,), changed = said_values([call], _TOOLS, request_text)
    assert got == (call[0], want)
    assert changed == sum(want.get(k) != call[1].get(k) for k in want)


def test_said_values_leave_two_durations_alone() -> None:
    calls = [("set_timer", {"minutes": 5}), ("set_timer", {"minutes": 5})]
    assert said_values(calls, _TOOLS, "a 5 minute timer and a 10 minute one") == (calls, 0)


@pytest.mark.parametrize(("calls", "request_text"), [
    ([("set_timer", {"minutes": 5}), ("set_timer", {"minutes": 5})], "set timers for 5 and 10 minutes"),
    ([("set_alarm", {"time": "6:30 am"}), ("set_alarm", {"time": "6:30 am"})], "alarms at 6:30 am and again at 7"),
    ([("set_alarm", {"time": "6:30 am"}), ("set_timer", {"minutes": 5})], "alarm at six thirty am and a timer"),
    ([("book", {"start_time": "3 pm", "end_time": "3 pm"})], "book it from 2 to 3 pm"),
    ([("book", {"start_time": "3 pm", "end_time": "4 pm"})], "book the room at 3 pm"),
    ([("shift", {"offset_seconds": -2})], "shift the subtitles by -2 seconds"),
])
def test_said_values_change_nothing_when_the_place_is_not_one(calls: list, request_text: str) -> None:
    """One stated value, one place for it: two calls or two clock arguments, related times and signs keep the call."""
    tools = _TOOLS + [
        {"name": "book", "parameters": {"type": "object", "properties": {
            "start_time": {"type": "string"}, "end_time": {"type": "string"}}}},
        {"name": "shift", "parameters": {"type": "object", "properties": {"offset_seconds": {"type": "integer"}}}},
    ]
    assert said_values(calls, tools, request_text) == (calls, 0)


def test_a_time_said_once_split_over_two_calls_is_one_call() -> None:
    """home dev d087: the model set two alarms, "quarter" and "6:30 am", for "quarter to six in the morning"."""
    calls = [("set_alarm", {"time": "quarter"}), ("set_alarm", {"time": "6:30 am"})]
    assert said_values(calls, _TOOLS, "set an alarm for quarter to six in the morning") == (
        [("set_alarm", {"time": "5:45 am"})], 2)
    assert said_values(calls[::-1], _TOOLS, "set an alarm for quarter to six") == ([("set_alarm", {"time": "5:45 am"})], 2)
    pieces = [("set_alarm", {"time": "six in the morning"}), ("set_alarm", {"time": "5:45 am"})]
    assert said_values(pieces, _TOOLS, "wake me at quarter to six in the morning")[0] == [pieces[1]]


@pytest.mark.parametrize(("calls", "request_text"), [
    # two times said: two alarms
    ([("set_alarm", {"time": "quarter"}), ("set_alarm", {"time": "6:30 am"})], "alarms at quarter to six and at 7"),
    # neither value a clock, or both
    ([("set_alarm", {"time": "early"}), ("set_alarm", {"time": "late"})], "wake me at quarter to six"),
    ([("set_alarm", {"time": "5 am"}), ("set_alarm", {"time": "6:30 am"})], "wake me at quarter to six"),
    # related times, and calls that differ in more than the time
    ([("set_alarm", {"time": "soon"}), ("set_alarm", {"time": "6 am"})], "an alarm 10 minutes before 6 am"),
    ([("book", {"start_time": "lunch", "end_time": "2 pm"}), ("book", {"start_time": "3 pm", "end_time": "4 pm"})],
     "book the room at 3 pm"),
    # two tools
    ([("set_alarm", {"time": "quarter"}), ("book", {"start_time": "6 am", "end_time": "7 am"})], "at quarter to six"),
    # the other value is something asked for, not a piece of the time (the review's cases)
    ([("set_alarm", {"time": "6 am"}), ("set_alarm", {"time": "sunrise"})], "set an alarm at 6 am and one at sunrise"),
    ([("set_alarm", {"time": "7 am"}), ("set_alarm", {"time": "7 am weekdays"})], "alarm at 7 am on weekdays"),
    ([("send", {"message": "6 pm"}), ("send", {"message": "bring the cake"})], "text Ann 6 pm, and bring the cake"),
    ([("add_item", {"item": "milk"}), ("add_item", {"item": "7 pm"})], "add milk to the list and remind 7 pm"),
    # clock words the request does not say
    ([("set_alarm", {"time": "half"}), ("set_alarm", {"time": "5:45 am"})], "alarm at quarter to six"),
])
def test_calls_of_one_time_stay_apart_unless_one_is_a_piece(calls: list, request_text: str) -> None:
    tools = _TOOLS + [{"name": "book", "parameters": {"type": "object", "properties": {
        "start_time": {"type": "string"}, "end_time": {"type": "string"}}}}] + [
        {"name": n, "parameters": {"type": "object", "properties": {k: {"type": "string"}}}}
        for n, k in (("send", "message"), ("add_item", "item"))]
    got, _ = said_values(calls, tools, request_text)
    assert len(got) == len(calls)


@pytest.mark.parametrize(("properties", "arguments", "request_text", "want"), [
    ({"hours": {"type": "integer"}, "minutes": {"type": "integer"}}, {"hours": 1, "minutes": 30}, "90 minutes",
     {"hours": 1, "minutes": 30}),  # adds up: kept
    ({"hours": {"type": "integer"}, "minutes": {"type": "integer"}}, {"hours": 2, "minutes": 0},
     "an hour and a half", {"hours": 1, "minutes": 30}),
    ({"hours": {"type": "integer"}, "minutes": {"type": "integer"}}, {"minutes": 120}, "two hours", {"minutes": 120}),
    ({"minutes": {"type": "integer", "multipleOf": 15}}, {"minutes": 15}, "20 minutes", {"minutes": 15}),
    ({"minutes": {"type": "integer", "maximum": 60}}, {"minutes": 5}, "two hours", {"minutes": 5}),
    ({"hour": {"type": "integer"}, "minute": {"type": "integer"}, "snooze_minutes": {"type": "integer"}},
     {"hour": 7, "minute": 30, "snooze_minutes": 5}, "alarm for 7:30 with a 10 minute snooze",
     {"hour": 7, "minute": 30, "snooze_minutes": 10}),
    ({"start_hour": {"type": "integer"}, "duration_minutes": {"type": "integer"}},
     {"start_hour": 15, "duration_minutes": 60}, "book the room at 3 pm for 2 hours",
     {"start_hour": 15, "duration_minutes": 120}),
    ({"rate_per_hour": {"type": "number"}, "hours_worked": {"type": "number"}},
     {"rate_per_hour": 15, "hours_worked": 4}, "40 hours at $15 per hour", {"rate_per_hour": 15, "hours_worked": 40}),
    ({"speed_km_per_hour": {"type": "number"}}, {"speed_km_per_hour": 60}, "60 km/h for 2 hours",
     {"speed_km_per_hour": 60}),
    ({"time": {"type": "string", "maxLength": 4}}, {"time": "7am"}, "quarter past seven am", {"time": "7am"}),
])
def test_said_values_respect_the_schema_and_the_names(properties: dict, arguments: dict, request_text: str,
                                                       want: dict) -> None:
    tools = [{"name": "t", "parameters": {"type": "object", "properties": properties}}]
    (got,), _ = said_values([("t", arguments)], tools, request_text)
    assert got == ("t", want)


@pytest.mark.parametrize("parameters", [None, [], {"type": "object"}, {"properties": "x"},
                                        {"type": "object", "properties": {"minutes": {"type": ["integer", "null"]}}},
                                        {"type": "object", "properties": {"minutes": {"$ref": "#/nope"}}}])
def test_said_values_survive_odd_schemas(parameters: object) -> None:
    calls = [("t", {"minutes": 2, "time": "7 am", "flag": True, "nested": {"minutes": 1}})]
    got, changed = said_values(calls, [{"name": "t", "parameters": parameters}], "two hours at quarter past seven am")
    assert changed in (0, 1) and got[0][1]["flag"] is True and got[0][1]["nested"] == {"minutes": 1}


@pytest.mark.parametrize(("name", "schema", "want"), [
    ("minutes", {"type": "integer"}, 60), ("timeout_seconds", {"type": "number"}, 1), ("hours", {"type": "integer"}, 3600),
    ("min_price", {"type": "integer"}, None), ("minutes", {"type": "string"}, None),
    ("minutes", {"type": "integer", "enum": [1, 5]}, None), ("seconds_per_minute", {"type": "integer"}, None),
    ("minute", {"type": "integer"}, None), ("start_hour", {"type": "integer"}, None),
    ("rate_per_hour", {"type": "number"}, None), ("requests_per_minute", {"type": "integer"}, None),
    ("durationMinutes", {"type": "integer"}, 60),
])
def test_parameter_unit(name: str, schema: dict, want: int | None) -> None:
    assert parameter_unit(name, schema) == want


@pytest.mark.parametrize(("name", "schema", "want"), [
    ("centimeters", {"type": "integer"}, 10), ("distance_cm", {"type": "number"}, 10), ("depthMm", {"type": "integer"}, 1),
    ("height_inches", {"type": "number"}, 25.4), ("feet", {"type": "integer"}, 304.8), ("km", {"type": "number"}, 1e6),
    ("meters", {"type": "integer"}, 1000), ("distance_m", {"type": "number"}, None), ("inch", {"type": "integer"}, None),
    ("speed_km_per_hour", {"type": "number"}, None), ("centimeters", {"type": "string"}, None),
    ("start_km", {"type": "integer"}, None), ("centimeters", {"type": "integer", "enum": [10, 20]}, None),
    ("cm_or_inches", {"type": "number"}, None), ("minutes", {"type": "integer"}, None),
])
def test_parameter_length_unit(name: str, schema: dict, want: float | None) -> None:
    assert parameter_length_unit(name, schema) == want


DRIVE = {"name": "drive", "parameters": {"type": "object", "properties": {
    "direction": {"type": "string", "enum": ["forward", "backward"]},
    "centimeters": {"type": "integer", "minimum": 1, "maximum": 300}}, "required": ["direction", "centimeters"]}}
SHELF = {"name": "place_shelf", "parameters": {"type": "object", "properties": {
    "height_feet": {"type": "integer"}, "height_inches": {"type": "number"}}}}


@pytest.mark.parametrize(("tool", "arguments", "request_text", "want"), [
    (DRIVE, {"direction": "backward", "centimeters": 5}, "move back half a meter", {"centimeters": 50}),
    (DRIVE, {"direction": "forward", "centimeters": 1}, "go straight ahead 1.5 meters", {"centimeters": 150}),
    (DRIVE, {"direction": "forward", "centimeters": 2}, "drive forward two feet", {"centimeters": 61}),
    (DRIVE, {"direction": "forward", "centimeters": 3}, "roll three inches", {"centimeters": 8}),
    (DRIVE, {"direction": "forward", "centimeters": 1}, "drive an inch", None),  # 2.54 is no whole centimeter
    (DRIVE, {"direction": "forward", "centimeters": 4}, "drive 4 meters", None),  # 400 is over the maximum
    (DRIVE, {"direction": "forward", "centimeters": 30}, "drive 30 cm", None),  # already right
    (DRIVE, {"direction": "forward", "centimeters": 2}, "drive 2 meters then 1 meter", None),  # two lengths
    (DRIVE, {"direction": "forward", "centimeters": 10}, "go 10 m", None),  # "m" may be minutes
    (SHELF, {"height_feet": 5}, "put it five feet two inches up", {"height_feet": 5}),  # only one of them written
    (SHELF, {"height_feet": 1, "height_inches": 1}, "put it five feet two inches up",
     {"height_feet": 5, "height_inches": 2}),
    (SHELF, {"height_feet": 1, "height_inches": 1}, "one and a half meters up",
     {"height_feet": 4, "height_inches": pytest.approx(11.0551181)}),  # a number parameter takes the fraction
])
def test_said_values_put_a_stated_length(tool: dict, arguments: dict, request_text: str, want: dict | None) -> None:
    """A length said in another unit than the parameter's is converted; nothing changes where it is not one, does not
    fit the schema or is already right."""
    got, changed = said_values([(tool["name"], arguments)], [tool], request_text)
    if want is None:
        assert changed == 0 and got == [(tool["name"], arguments)]
    else:
        assert got[0][1] == {**arguments, **want}


def test_render_clock_keeps_the_written_style() -> None:
    assert render_clock(Clock(7, 15, True), "07:30") == "07:15"
    assert render_clock(Clock(19, 5, True), "7PM") == "7:05PM"
    assert render_clock(Clock(7, 0, True), "6:30 a.m.") == "7:00 a.m."
    assert render_clock(Clock(6, 30, False), "7 pm") == "6:30 pm"
    assert render_clock(Clock(7, 0, True), "dinner") is None


def test_hostile_requests_are_read_without_error() -> None:
    rng = random.Random(3)
    words = ["quarter", "past", "to", "half", "an", "hour", "a", "and", "oh", "twelve", "am", "p", "m", "7", ":", "12:99",
             "99:00", "hundred", "thousand", "-", "minutes", "in", "the", "morning", "ünïcode", "\x00", "noon"]
    for _ in range(200):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(0, 40)))
        for clock in spoken_clocks(text):
            assert 0 <= clock.hour <= 23 and 0 <= clock.minute <= 59
        spoken_numbers(text)
        spoken_decimals(text)
        spoken_minutes(text)
        said_values([("set_alarm", {"time": "7 am"}), ("set_timer", {"minutes": 3})], _TOOLS, text)
    digits = "9" * 5000  # int() refuses over 4,300 digits: never reached
    for text in (digits, f"at {digits}", f"{digits} hours", f"{digits}:30 am", f"at 7:{digits}", f"{digits}.5 hours"):
        assert spoken_clocks(text) == [] and spoken_durations(text) == []
        assert said_values([("set_timer", {"minutes": 3}), ("set_alarm", {"time": "7 am"})], _TOOLS, text)[1] == 0
        copy_coverage([{"minutes": 3}], text)
        assert spoken_decimals(f"{text} point five") == [] and spoken_decimals(f"five point {text}") == []
    assert spoken_decimals("one point " + "nine " * 5000) == []  # more digits than a stated value has
    assert parse_clock("7 a" + " " * 50000 + "x") is None  # no backtracking over long values
    big = "quarter past seven and a half hours " * 5000  # 180 KB
    assert spoken_clocks(big)[0] == Clock(7, 15, False)
    assert said_values([("set_alarm", {"time": "7 am"})], _TOOLS, big)[1] == 1


_WINDOW = {"type": "integer", "description": "How far open, from 0 (closed) to 100 (fully open), like 50 for halfway."}
_VOLUME = {"type": "integer", "description": "Volume from 0 (muted) to 40 (loudest)."}
_SPEED = {"type": "integer", "minimum": 0, "maximum": 5, "description": "Fan speed."}


@pytest.mark.parametrize(("schema", "request_text", "want"), [
    (_WINDOW, "open all the windows halfway", 50),
    (_WINDOW, "close the windows", 0),
    (_WINDOW, "open the window fully", 100),
    (_WINDOW, "set the window to the maximum", None),  # the ends say where: "maximum" of what is not known
    (_WINDOW, "roll the driver window all the way down", None),  # the ends say where, not how much: down is open
    (_WINDOW, "open the window", None),  # "fully open" needs both words
    (_WINDOW, "close the window halfway", None),  # two values named
    (_WINDOW, "open it to 30 percent, about halfway", None),  # a number in the range is stated
    (_VOLUME, "turn the volume all the way up", 40),
    (_VOLUME, "turn the volume all the way down", 0),
    (_VOLUME, "volume to max", 40),
    (_VOLUME, "mute the speakers", 0),
    (_VOLUME, "the loudest please", 40),
    (_VOLUME, "unmute", None),
    (_VOLUME, "volume to 30", None),
    (_VOLUME, "louder", None),
    (_SPEED, "fan to max", None),  # unmarked bounds: "max" may be anything's ("the max temperature")
    (_SPEED, "fan all the way up", None),  # no marked ends: which way "up" goes is not known
    ({"type": "integer", "description": "Default is 1 (annually)."}, "with an annual rate, compounded monthly", None),
    ({"type": "string", "description": "0 (off) to 3 (high)"}, "turn it off", None),
    ({"type": "integer", "description": "from 1 (low) to 3 (high)"}, "set it to 1.5, high", 3),  # 1.5 is no whole number
    ({"type": "number", "description": "from 1 (low) to 3 (high)"}, "set it to 1.5, high", None),
])
def test_named_number(schema: dict, request_text: str, want: int | None) -> None:
    assert named_number(schema, request_text) == want


@pytest.mark.parametrize(("calls", "request_text", "want"), [
    ([("set_window", {"window": "all", "open_percent": 0})], "open all the windows halfway",
     [("set_window", {"window": "all", "open_percent": 50})]),
    ([("set_volume", {"level": 70})], "turn the volume all the way up", [("set_volume", {"level": 40})]),
    ([("set_volume", {"level": 40})], "turn the volume all the way up", [("set_volume", {"level": 40})]),  # right: kept
    ([("set_volume", {"level": 10})], "volume to 10, not max", [("set_volume", {"level": 10})]),  # a number stated
    ([("set_volume", {"level": 10}), ("set_window", {"window": "all", "open_percent": 100})],
     "volume to max and open the windows", [("set_volume", {"level": 40}),
                                            ("set_window", {"window": "all", "open_percent": 100})]),
    ([("set_volume", {"level": 10}), ("set_fan", {"speed": 2})],  # each call reads its own clause: "off" is
     "volume off and the fan to max", [("set_volume", {"level": 10}), ("set_fan", {"speed": 4})]),  # the fan's
    ([("set_window", {"window": "driver", "open_percent": 100}), ("set_volume", {"level": 10})],
     "close all the windows and the volume to 10", [("set_window", {"window": "all", "open_percent": 0}),
                                                    ("set_volume", {"level": 10})]),
    ([("set_fan", {"speed": 2})], "fan to the fastest", None),  # the schema's bounds refuse 5 (maximum 4 there)
])
def test_said_values_put_named_numbers(calls: list, request_text: str, want: list | None) -> None:
    tools = [
        {"name": "set_window", "parameters": {"type": "object", "properties": {
            "window": {"type": "string", "enum": ["driver", "all"]}, "open_percent": _WINDOW}}},
        {"name": "set_volume", "parameters": {"type": "object", "properties": {"level": _VOLUME}}},
        {"name": "set_fan", "parameters": {"type": "object", "properties": {
            "speed": {"type": "integer", "maximum": 4, "description": "from 0 (off) to 5 (fastest)"}}}},
    ]
    got, changed = said_values(calls, tools, request_text)
    assert got == (want if want is not None else calls)
    assert changed == _changed_values(got, calls)


_AC = {"type": "boolean", "description": "True to turn it on, False to turn it off."}


def _said_word(schema: dict, request_text: str) -> object:
    """What the request says for a parameter, by the reader its schema calls for."""
    if schema.get("type") == "boolean":
        return said_flag(schema, request_text)
    return said_enum(schema, request_text) if "enum" in schema else named_number(schema, request_text)


def _changed_values(got: list, calls: list) -> int:
    return sum(len(set(g[1].items()) - set(c[1].items())) for g, c in zip(got, calls, strict=True))
_LOCK = {"type": "boolean", "description": "True to lock the doors, False to unlock them."}
_TOLLS = {"type": "boolean", "description": "True to stay off toll roads; False (the default) to take the fastest route."}


@pytest.mark.parametrize(("schema", "request_text", "want"), [
    (_AC, "could you turn the air conditioning back on", True),
    (_AC, "turn off the ac", False),
    (_AC, "kill the ac", None),  # neither word
    (_AC, "turn off the light on the porch", False),  # "on" here is no particle
    (_LOCK, "unlock the doors", False),  # "unlock" is not "lock"
    (_LOCK, "lock the car doors", True),
    (_LOCK, "the doors should be locked", True),
    (_LOCK, "unlock the door locks", None),  # both
    (_TOLLS, "take the fastest route", None),  # the clauses differ first in "take": any request may say it
    (_TOLLS, "take me home and stay off the toll roads", None),  # both clauses' words
    ({"type": "boolean", "description": "True to enable, False to disable."}, "enable it", None),  # one-word clauses
    ({"type": "boolean", "description": "Whether to turn it on."}, "turn it on", None),
    ({"type": "string", "description": "True to turn it on, False to turn it off."}, "turn it on", None),
    ({"type": "boolean", "description": "True to turn it on, False to turn it on now."}, "turn it on", None),
])
def test_said_flag(schema: dict, request_text: str, want: bool | None) -> None:
    assert said_flag(schema, request_text) is want


@pytest.mark.parametrize(("calls", "request_text", "want"), [
    ([("set_ac", {"on": False})], "could you turn the air conditioning back on", [("set_ac", {"on": True})]),
    ([("set_ac", {"on": True})], "turn the ac on", [("set_ac", {"on": True})]),  # right: kept
    ([("set_ac", {"on": False}), ("set_locks", {"locked": True})], "air conditioning on and lock the doors",
     [("set_ac", {"on": True}), ("set_locks", {"locked": True})]),
    ([("set_ac", {"on": True}), ("set_locks", {"locked": True})], "ac off and turn on the alarm", None),  # both words
    ([("set_locks", {"locked": True})], "unlock the doors", [("set_locks", {"locked": False})]),
])
def test_said_values_put_said_flags(calls: list, request_text: str, want: list | None) -> None:
    tools = [{"name": "set_ac", "description": "Turn the air conditioning or ac on or off.",
              "parameters": {"type": "object", "properties": {"on": _AC}, "required": ["on"]}},
             {"name": "set_locks", "description": "Lock or unlock the doors.",
              "parameters": {"type": "object", "properties": {"locked": _LOCK}}}]
    got, changed = said_values(calls, tools, request_text)
    assert got == (want if want is not None else calls)
    assert changed == _changed_values(got, calls)


_UNIT = {"type": "string", "enum": ["celsius", "fahrenheit", "kelvin"]}
_WINDOWS = {"type": "string", "enum": ["driver", "passenger", "rear left", "rear right", "all"]}


@pytest.mark.parametrize(("schema", "request_text", "want"), [
    (_UNIT, "What's weather in Hyderabad in Fahrenheit", "fahrenheit"),
    (_UNIT, "weather in Oslo", None),
    (_UNIT, "celsius or fahrenheit, whichever", None),  # two said
    (_WINDOWS, "open the rear left window", "rear left"),  # "left" alone is no value; a longer said value wins
    ({"type": "string", "enum": ["left", "rear left"]}, "open the rear left window", "rear left"),
    ({"type": "string", "enum": ["PIZZA", "BURGER"]}, "the burger, please", "BURGER"),  # the enum's spelling
    ({"type": "string", "enum": ["on"]}, "turn it on", None),  # one value: nothing to choose
    ({"type": "string", "enum": [1, 2]}, "give me 2", None),
    ({"type": "string"}, "fahrenheit", None),
    ({"type": "string", "enum": ["fahrenheit", "celsius"]}, "fahrenheits", None),  # whole words only
])
def test_said_enum(schema: dict, request_text: str, want: str | None) -> None:
    assert said_enum(schema, request_text) == want


@pytest.mark.parametrize(("calls", "request_text", "want"), [
    ([("weather", {"city": "Tel Aviv", "unit": "celsius"})], "weather in Tel Aviv in Fahrenheit",
     [("weather", {"city": "Tel Aviv", "unit": "fahrenheit"})]),
    ([("weather", {"city": "Oslo", "unit": "celsius"})], "weather in Oslo, celsius not fahrenheit", None),  # said
    ([("weather", {"city": "Oslo", "unit": "celsius"})], "weather in Oslo", None),  # nothing said: the model's
    ([("weather", {"city": "Oslo", "unit": "celsius"}), ("weather", {"city": "Rome", "unit": "celsius"})],
     "Oslo and Rome in fahrenheit", [("weather", {"city": "Oslo", "unit": "fahrenheit"}),
                                     ("weather", {"city": "Rome", "unit": "fahrenheit"})]),  # said for both
    ([("weather", {"city": "Oslo", "unit": "celsius"}), ("weather", {"city": "Rome", "unit": "kelvin"})],
     "Oslo and Rome in fahrenheit", None),  # written differently: two things asked for, left alone
    ([("weather", {"city": "Oslo", "unit": "celsius"}), ("weather", {"city": "Rome", "unit": "celsius"})],
     "Oslo in celsius and Rome in fahrenheit", None),  # two said: left to the model
    ([("set_window", {"window": "driver", "open_percent": 50})], "open all the windows halfway",
     [("set_window", {"window": "all", "open_percent": 50})]),
])
def test_said_values_put_said_enum_values(calls: list, request_text: str, want: list | None) -> None:
    tools = [{"name": "weather", "parameters": {"type": "object", "properties": {
                 "city": {"type": "string"}, "unit": _UNIT}}},
             {"name": "set_window", "parameters": {"type": "object", "properties": {
                 "window": _WINDOWS, "open_percent": _WINDOW}}}]
    got, changed = said_values(calls, tools, request_text)
    assert got == (want if want is not None else calls)
    assert changed == _changed_values(got, calls)


_DAY = {"type": "string", "enum": ["today", "tomorrow", "weekend"], "default": "today"}
_PRIORITY = {"type": "string", "enum": ["low", "normal", "high"]}


@pytest.mark.parametrize(("calls", "request_text", "want"), [
    ([("forecast", {})], "what will the weather be tomorrow", [("forecast", {"day": "tomorrow"})]),
    ([("forecast", {})], "what's the weather like today", None),  # the default: nothing to add
    ([("forecast", {})], "what's the weather", None),  # nothing said
    ([("forecast", {})], "weather, but not for tomorrow", None),  # negated
    ([("forecast", {})], "weather for today or tomorrow", None),  # two said: left to the model
    ([("text", {"contact": "mom", "body": "I'm feeling high energy"})], "text mom I'm feeling high energy",
     None),  # a word of the message is no priority
    ([("text", {"contact": "mom", "body": "call me"})], "urgent text to mom, high priority: call me",
     [("text", {"contact": "mom", "body": "call me", "priority": "high"})]),
    ([("convert", {"amount": 5, "from_unit": "celsius"})], "convert 5 degrees to fahrenheit",
     None),  # another parameter takes it too: which one is left to the model
    ([("heat", {"celsius": 23})], "it's a bit cool in here, set the heating to 23", None),  # review, 2026-12-07
    ([("heat", {"celsius": 23})], "set the heating to 23 in cool mode", [("heat", {"celsius": 23, "mode": "cool"})]),
    ([("heat", {"celsius": 23})], "heating on cool at 23", [("heat", {"celsius": 23, "mode": "cool"})]),
    ([("play", {"query": "Queen"})], "play all songs by Queen", None),  # "all" is no repeat mode here
    ([("play", {"query": "Queen"})], "play Queen, repeat all", [("play", {"query": "Queen", "repeat": "all"})]),
    ([("photo", {})], "take a photo of the back garden", None),  # a place, not the back camera
    ([("photo", {})], "take a photo with the back camera", [("photo", {"camera": "back"})]),
])
def test_said_values_fill_an_optional_choice_left_out(calls: list, request_text: str, want: list | None) -> None:
    """An optional enum parameter the model left out gets the one value the request says, never its default, never
    a word of another argument's text, never a value another parameter also takes."""
    tools = [{"name": "forecast", "parameters": {"type": "object", "properties": {"day": _DAY}}},
             {"name": "text", "parameters": {"type": "object", "properties": {
                 "contact": {"type": "string"}, "body": {"type": "string"}, "priority": _PRIORITY},
                 "required": ["contact", "body"]}},
             {"name": "convert", "parameters": {"type": "object", "properties": {
                 "amount": {"type": "number"}, "from_unit": _UNIT, "to_unit": _UNIT}, "required": ["amount"]}},
             {"name": "heat", "parameters": {"type": "object", "properties": {
                 "celsius": {"type": "integer"}, "mode": {"type": "string", "enum": ["heat", "cool", "auto"]}},
                 "required": ["celsius"]}},
             {"name": "play", "parameters": {"type": "object", "properties": {
                 "query": {"type": "string"}, "repeat": {"type": "string", "enum": ["off", "one", "all"]}},
                 "required": ["query"]}},
             {"name": "photo", "parameters": {"type": "object", "properties": {
                 "camera": {"type": "string", "enum": ["front", "back", "arm"], "default": "front"}}}}]
    got, changed = said_values(calls, tools, request_text)
    assert got == (want if want is not None else calls)
    assert changed == (0 if want is None else 1)


def test_said_values_leave_a_value_the_request_says_in_other_words() -> None:
    """A written value the request says is kept even when another enum value is said too ("the driver's side, not
    all of them" says "driver"): only a value the request does not say at all is replaced."""
    tools = [{"name": "set_window", "parameters": {"type": "object", "properties": {"window": _WINDOWS}}}]
    calls = [("set_window", {"window": "driver"})]
    assert said_values(calls, tools, "just the driver window, not all of them") == (calls, 0)


@pytest.mark.parametrize(("request_text", "want"), [
    ("lock the doors and close all the windows", ["lock the doors", "close all the windows"]),
    ("turn off the ac, then roll the window down. thanks!", ["turn off the ac", "roll the window down"]),
    ("weather in Oslo", ["weather in Oslo"]),
    ("and thank you", []),
])
def test_split_clauses(request_text: str, want: list[str]) -> None:
    assert split_clauses(request_text) == want


def test_said_values_survive_hostile_schemas_and_requests() -> None:
    """Odd enum members, non-text descriptions, huge enums and descriptions (an MCP server's schemas): no crash,
    and nothing is made up."""
    props = {"u": {"enum": [None, {"a": 1}, ["x"], "celsius", "fahrenheit"]},
             "f": {"type": "boolean", "description": 123},
             "n": {"type": "integer", "description": ["0 (off)", "9 (max)"]}}
    got, changed = said_values([("t", {"u": "celsius", "f": True, "n": 3})],
                               [{"name": "t", "parameters": {"type": "object", "properties": props}}], "in fahrenheit, off")
    assert got == [("t", {"u": "fahrenheit", "f": True, "n": 3})] and changed == 1
    huge = {"type": "string", "enum": [f"v{i}" for i in range(100_000)] + ["fahrenheit"]}
    assert said_enum(huge, "in fahrenheit") is None  # more values than MAX_SAID_ENUM: left to the grammar
    flag = {"type": "boolean", "description": ("True to " + "a" * 5000 + " ") * 200 + "False to x y"}
    assert said_flag(flag, "turn it on") is None
    assert named_number({"type": "integer", "description": "like 5 for x " * 10_000}, "x " * 10_000) is None


@pytest.mark.parametrize(("schema", "request_text", "want"), [
    (_LOCK, "don't lock the doors", None),
    (_VOLUME, "don't mute it", None),
    ({"type": "integer", "minimum": 1, "maximum": 14}, "what's the max temperature in Paris today", None),
    ({"type": "integer", "minimum": 1, "maximum": 50}, "find the highest rated restaurants in Rome", None),
    (_AC, "kill the lamp on my desk", None),
    (_AC, "shut down the lights on the porch", None),
    (_AC, "turn the ac back on please", True),
    (_AC, "switch it off", False),
    (_TOLLS, "take me home and avoid the tolls", None),
    ({"type": "string", "enum": ["in", "ft", "cm", "m"]}, "how tall is 180 centimeters in feet", None),
    ({"type": "string", "enum": ["cool", "heat", "auto", "off"]}, "make it cooler, I don't want it off", None),
    ({"type": "string", "enum": ["cool", "heat", "auto", "off"]}, "turn the heat off", None),  # both said
    ({"type": "string", "enum": ["cool", "heat", "auto", "off"]}, "switch it off", "off"),
    ({"type": "string", "enum": ["cool", "heat", "auto", "off"]}, "put it on heat", "heat"),
])
def test_said_words_keep_out_of_prepositions_negations_and_bare_bounds(schema: dict, request_text: str,
                                                                       want: object) -> None:
    """What a review found replacing right values: prepositions read as particles or values, negated requests,
    a bound's word for an unmarked range, flag clauses told apart by a verb anything starts with."""
    assert _said_word(schema, request_text) == want


def test_said_values_keep_the_other_parameters_value_and_the_other_clauses_words() -> None:
    tools = [
        {"name": "convert_currency", "description": "Convert money between currencies.", "parameters": {
            "type": "object", "properties": {"amount": {"type": "number"},
                                             "from_currency": {"type": "string", "enum": ["USD", "EUR", "GBP"]},
                                             "to_currency": {"type": "string", "enum": ["USD", "EUR", "GBP"]}}}},
        {"name": "set_fan", "description": "Set the fan speed.", "parameters": {"type": "object", "properties": {
            "speed": {"type": "integer", "description": "From 0 (off) to 5 (max)."}}}},
        {"name": "set_lights", "description": "Switch the lights.", "parameters": {"type": "object", "properties": {
            "on": _AC}}},
    ]
    call = [("convert_currency", {"amount": 100, "from_currency": "USD", "to_currency": "EUR"})]
    assert said_values(call, tools, "convert 100 dollars to EUR") == (call, 0)  # EUR is to_currency's
    fan = [("set_fan", {"speed": 3})]
    assert said_values(fan, tools, "switch off the lights and turn on the fan") == (fan, 0)  # "off" is the lights'
    assert said_values(fan, tools, "turn the fan off") == ([("set_fan", {"speed": 0})], 1)
    lights = [("set_lights", {"on": False})]
    assert said_values(lights, tools, "kill the lamp on my desk") == (lights, 0)
    long = "turn the fan off " + "and so on " * 300
    assert said_values(fan, tools, long) == (fan, 0)  # longer than MAX_SAID_REQUEST_CHARS: read as written


@pytest.mark.parametrize(("schema", "request_text", "want"), [
    ({"type": "boolean", "description": "True to turn the heater on, False to turn it off."}, "turn the heater off",
     False),  # the clauses differ first in "the" / "it": the opposites are "on" / "off"
    ({"type": "boolean", "description": "True to turn the heater on, False to turn it off."}, "turn it on", True),
    ({"type": "boolean", "description": "True to switch on the lights, False to switch them off"}, "lights off",
     False),
    ({"type": "boolean", "description": "True to arm the alarm, False to disarm it"}, "disarm the alarm", False),
    ({"type": "integer", "description": "Heat from 0 (off) to 3 (hottest)."}, "seat heater on the lowest setting",
     None),  # the lowest setting of a heater is on: not "0 (off)"
    ({"type": "integer", "description": "Heat from 0 (off) to 3 (hottest)."}, "seat heat to the max", 3),
    ({"type": "string", "enum": ["S", "M", "L", "XL"]}, "I'm after a blue shirt in large", None),  # "I'm" holds no M
    ({"type": "string", "enum": ["s", "m", "h", "d"]}, "I'd like a 5 minute timer", None),
    (_AC, "no problem, turn it on", True),  # "no" is no negation
    (_AC, "turn the radio off and turn on the wipers", None),  # "off" ends its clause: both said
])
def test_said_words_after_the_second_review(schema: dict, request_text: str, want: object) -> None:
    assert _said_word(schema, request_text) == want


def test_said_values_read_neither_free_text_nor_the_part_after_but() -> None:
    tools = [
        {"name": "send_message", "description": "Send a text message.", "parameters": {"type": "object", "properties": {
            "to": {"type": "string"}, "body": {"type": "string"},
            "priority": {"type": "string", "enum": ["low", "normal", "high"]}}}},
        {"name": "set_fan", "description": "Set the fan speed.", "parameters": {"type": "object", "properties": {
            "speed": {"type": "integer", "description": "From 0 (off) to 5 (max)."}}}},
        {"name": "set_ac", "description": "Turn the ac or air conditioning on or off.", "parameters": {
            "type": "object", "properties": {"on": _AC}}},
        {"name": "radio_power", "description": "Turn the radio on or off.", "parameters": {
            "type": "object", "properties": {"on": _AC}}},
    ]
    msg = [("send_message", {"to": "mom", "body": "I'm running low on gas", "priority": "normal"})]
    assert said_values(msg, tools, "text mom that I'm running low on gas") == (msg, 0)
    fan = [("set_fan", {"speed": 2})]
    assert said_values(fan, tools, "turn off the air conditioning but keep the fan running") == (fan, 0)
    radio = [("radio_power", {"on": False})]
    assert said_values(radio, tools, "turn the radio off and turn on the wipers") == (radio, 0)


@pytest.mark.parametrize(("text", "want"), [
    ("defrost the minced beef, one kilo", [1000]), ("thaw 1.5 kg of pork", [1500]), ("300 g of prawns", [300]),
    ("half a pound of butter", [226.796185]), ("two kilos and 200 grams", [2200]), ("a couple of ounces", [56.69904625]),
    ("grind 18 grams", [18]), ("pounds of fun", []), ("kilo", []),
])
def test_spoken_weights(text: str, want: list[float]) -> None:
    got = [sum(a * u for a, u in parts) for parts in spoken_weights(text)]
    assert got == pytest.approx(want)


@pytest.mark.parametrize(("name", "want"), [
    ("grams", 1), ("weight_kg", 1000), ("weightGrams", 1), ("pounds", 453.59237), ("oz", 28.349523125),
    ("g", None), ("kilo", None), ("grams_per_liter", None), ("kg_or_lbs", None),
])
def test_parameter_weight_unit(name: str, want: float | None) -> None:
    assert parameter_weight_unit(name, {"type": "integer"}) == want


@pytest.mark.parametrize(("text", "want"), [
    ("feed the flower bed a litre and a half", [1500]), ("250 ml of feed", [250]), ("half a liter", [500]),
    ("two litres and 200 millilitres", [2200]), ("three quarters of a litre", [750]), ("5 cl", [50]),
    ("1.5 l", []), ("litres", []), ("the liter of the law", []),
])
def test_spoken_volumes(text: str, want: list[float]) -> None:
    got = [sum(a * u for a, u in parts) for parts in spoken_volumes(text)]
    assert got == pytest.approx(want)


@pytest.mark.parametrize(("name", "want"), [
    ("millilitres", 1), ("water_ml", 1), ("liters", 1000), ("volumeMl", 1), ("volume", None), ("l", None),
    ("ml_per_minute", None),
])
def test_parameter_volume_unit(name: str, want: float | None) -> None:
    assert parameter_volume_unit(name, {"type": "integer"}) == want


def test_a_stated_volume_goes_into_a_volume_parameter() -> None:
    """The garden's "a litre and a half" (development set): the model wrote 100 into ``millilitres``."""
    tools = [{"name": "feed_plants", "parameters": {"type": "object", "properties": {
        "zone": {"type": "string", "enum": ["flower bed"]},
        "millilitres": {"type": "integer", "minimum": 50, "maximum": 2000}}, "required": ["zone", "millilitres"]}}]
    wrote = [("feed_plants", {"zone": "flower bed", "millilitres": 100})]
    assert said_values(wrote, tools, "feed the flower bed a litre and a half") == (
        [("feed_plants", {"zone": "flower bed", "millilitres": 1500})], 1)
    assert said_values(wrote, tools, "feed the flower bed 5 litres") == (wrote, 0)  # over the maximum: kept
    assert copy_coverage([{"millilitres": 1500}], "a litre and a half for the flower bed") == 1.0


def test_negative_numbers_and_converted_decimals_are_read() -> None:
    """"minus three" and "minus 3" say -3; "800 grams" says 0.8 (kilos), "half a kilo" 0.5 (review, 2026-12-07)."""
    from agent_sdk.agent.request_features import written_numbers

    assert spoken_numbers("warn me below minus three") == [-3]
    assert written_numbers("below minus 3 and 4") == ["-3", "4"]
    assert written_numbers("a minus sign, then 3") == ["3"]
    for text in ("warn me below minus three", "frost alert at minus 3", "below -3 please"):
        assert copy_coverage([{"celsius": -3}], text) == 1.0, text
    assert copy_coverage([{"kilos": 0.8, "crop": "tomatoes"}], "log 800 grams of tomatoes") == 1.0
    assert copy_coverage([{"kilos": 0.5}], "half a kilo") == 1.0
    assert copy_coverage([{"liters": 1.5}], "add a litre and a half") == 1.0


DEFROST = {"name": "defrost", "parameters": {"type": "object", "properties": {
    "food": {"type": "string"}, "grams": {"type": "integer", "minimum": 50, "maximum": 3000}},
    "required": ["food", "grams"]}}


@pytest.mark.parametrize(("request_text", "wrote", "want"), [
    ("defrost the minced beef, one kilo", 1, 1000), ("thaw 1.5 kg of pork shoulder", 15, 1500),
    ("defrost a pound of shrimp", 1, 454), ("defrost 500 grams of chicken", 500, None),
    ("defrost 5 kilos of ice", 5, None),  # 5000 is over the maximum
    ("defrost 1 kilo of peas and 2 kilos of corn", 1, None),  # two weights
])
def test_said_values_put_a_stated_weight(request_text: str, wrote: int, want: int | None) -> None:
    got, changed = said_values([("defrost", {"food": "x", "grams": wrote})], [DEFROST], request_text)
    assert got[0][1]["grams"] == (wrote if want is None else want)
    assert changed == (want is not None)


@pytest.mark.parametrize(("text", "want"), [
    ("drive sixty one centimeters", [610]), ("two point one meters", [2100]), ("a hundred and one centimeters", [1010]),
    ("two hundred and fifty five centimeters", [2550]), ("point five meters", []), ("at one point five meters", []),
])
def test_long_and_decimal_lengths_are_read_whole(text: str, want: list[float]) -> None:
    """A number that ends in "one" or runs past four words is read whole, never its tail ("sixty one" is not "one")."""
    assert [sum(a * u for a, u in parts) for parts in spoken_lengths(text)] == pytest.approx(want)


def test_long_spoken_amounts_are_read_whole() -> None:
    assert spoken_weights("one thousand two hundred and twenty g") == [[(1220, 1)]]
    assert spoken_durations("three hundred and ninety four seconds") == [[(394, 1)]]
    assert spoken_durations("half a sec") == [] and spoken_durations("twenty one minutes") == [[(21, 60)]]


@pytest.mark.parametrize(("request_text", "wrote"), [
    ("drive sixty one centimeters", 61), ("go two hundred and fifty five centimeters", 255),
])
def test_said_values_keep_a_length_already_right(request_text: str, wrote: int) -> None:
    got, changed = said_values([("drive", {"direction": "forward", "centimeters": wrote})], [DRIVE], request_text)
    assert changed == 0 and got[0][1]["centimeters"] == wrote


def test_a_number_parameter_takes_a_fraction_and_odd_types_are_no_unit() -> None:
    tool = {"name": "weigh", "parameters": {"type": "object", "properties": {"weight_kg": {"type": "number"}}}}
    got, _ = said_values([("weigh", {"weight_kg": 15})], [tool], "it weighs 1.5 kg")
    assert got[0][1]["weight_kg"] == pytest.approx(1.5)
    got, _ = said_values([("weigh", {"weight_kg": 3})], [tool], "300 grams of flour")
    assert got[0][1]["weight_kg"] == pytest.approx(0.3)
    hours = {"name": "t", "parameters": {"type": "object", "properties": {"hours": {"type": "number"}}}}
    assert said_values([("t", {"hours": 1})], [hours], "for an hour and a half")[0][0][1]["hours"] == 1.5
    for odd in ({"type": {"x": 1}}, {"type": [["integer"]]}, {"type": None}):
        assert parameter_length_unit("centimeters", odd) is None  # type: ignore[arg-type]
    assert parameter_length_unit("height_at_cm", {"type": "integer"}) is None


@pytest.mark.parametrize(("arguments", "request_text"), [
    ({"centimeters": 61}, "drive forward two feet"), ({"grams": 454}, "defrost a pound of shrimp"),
    ({"inches": 12}, "move it a foot"), ({"centimeters": 150}, "one point five meters"),
])
def test_copy_coverage_counts_a_converted_length_or_weight(arguments: dict, request_text: str) -> None:
    assert copy_coverage([arguments], request_text) == 1.0


_ZONES = ["front lawn", "back lawn", "vegetable bed", "flower bed"]


@pytest.mark.parametrize(("value", "request_text", "want"), [
    ("front lawn", "mow the front at 35 mm", True),  # "front" sets it apart from "back lawn"
    ("vegetable bed", "soak the veggie bed for forty minutes", True),  # a short form people say
    ("vegetable bed", "veg bed every other day at 5:30", True),
    ("flower bed", "water the bed", False),  # "bed" is also the vegetable bed's
    ("back lawn", "water the front", False),
    ("front lawn", "water the lawn", False),
    ("front lawn", "the frontier", False),  # whole words only
    ("front lawn", "water the front 10 minutes", True),
    ("front lawn", "open the front door", False),  # review, 2026-12-07: another noun after the position
    ("back lawn", "water the back garden", False),
    ("front lawn", "don't water the front", False),  # negated
])
def test_says_choice(value: str, request_text: str, want: bool) -> None:
    from agent_sdk.agent.request_features import says_choice

    assert says_choice(value, [*_ZONES, 3, None], request_text) is want


def test_says_choice_only_the_short_ways_taught() -> None:
    """Review cases (2026-12-07): a word that merely differs ("3" in "zone 3") says nothing; a short form of a longer
    member says that one ("lounge lamp" is the living room lamp, not the living room); a huge enum is not read."""
    from agent_sdk.agent.request_features import MAX_SAID_ENUM, says_choice

    assert not says_choice("zone 3", ["zone 1", "zone 2", "zone 3"], "water zone 2 for 3 minutes")
    assert not says_choice("10 min", ["10 min", "20 min"], "remind me in 10 hours")
    assert says_choice("living room lamp", ["living room lamp", "kitchen lamp"], "lounge lamp on")
    assert not says_choice("living room", ["living room", "living room lamp"], "lounge lamp on")
    assert says_choice("living room", ["living room", "kitchen"], "lounge lights on")
    huge = [f"v{i}" for i in range(MAX_SAID_ENUM)] + ["front lawn", "back lawn"]
    assert not says_choice("front lawn", huge, "mow the front")
    schema = {"type": "object", "properties": {"zone": {"type": "string", "enum": _ZONES}, "note": {"type": "string"}}}
    assert copy_coverage([{"zone": "front lawn", "note": "front lawn"}], "mow the front", schemas=[schema]) == 0.5


def test_copy_coverage_credits_a_choice_said_short() -> None:
    """A call whose enum value the request says the short way ("the veg bed") copied its values (2026-12-07: the
    garden bundle called "soak the veggie bed for forty minutes" right and declined it at half coverage)."""
    schema = {"type": "object", "properties": {"zone": {"type": "string", "enum": _ZONES},
                                               "minutes": {"type": "integer"}}}
    args = [{"zone": "vegetable bed", "minutes": 40}]
    assert copy_coverage(args, "soak the veggie bed for forty minutes", schemas=[schema]) == 1.0
    assert copy_coverage(args, "soak the veggie bed for forty minutes") == 0.5  # no schema: not known as a choice
    assert copy_coverage([{"zone": "flower bed", "minutes": 40}], "soak the bed for forty minutes",
                         schemas=[schema]) == 0.5
