"""The argument-value biases on a tiny vocabulary: where decoding is in the JSON, which tokens gain."""

from __future__ import annotations

import numpy as np
import pytest

from agent_sdk.agent.call_format import HERMES
from agent_sdk.agent.copy_bias import CopyBias, ValueBias, chain_processors
from agent_sdk.agent.json_cursor import ArgumentCursor, scan_arguments
from agent_sdk.agent.request_features import (
    copy_coverage,
    mentioned,
    number_names,
    plain_number_parameter,
    says_name,
    value_said,
    written_numbers,
)

current_tool = HERMES.current_tool

pytestmark = pytest.mark.unit

HEAD = '<tool_call>\n{"name": "f", "arguments": '


class TinyTokenizer:
    """One token per vocabulary entry; ``decode`` joins their texts."""

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces
        self.vocab_size = len(pieces)

    def decode(self, ids: list[int]) -> str:
        return "".join(self.pieces[i] for i in ids)

    def ids(self, *pieces: str) -> list[int]:
        return [self.pieces.index(p) for p in pieces]


PIECES = [
    HEAD, "{", '"city', '"', ": ", '"', "Man", "hattan", "chester", ",", " ", "New", " York", '",', '"}', "}",
    "2", "0", "5", "Paris", "paris", "unit", "1", ' "', "]", "[", "zz", '"n', '"a', '"b', '"unit', "city",
]


@pytest.fixture()
def tok() -> TinyTokenizer:
    # '"' appears twice on purpose: two ids with the same text both count.
    return TinyTokenizer(PIECES)


def test_cursor_tracks_keys_values_numbers_and_nesting() -> None:
    assert not scan_arguments('<tool_call>\n{"name": "f').active
    cur = scan_arguments(HEAD + '{"city": "Man')
    assert (cur.active, cur.in_string, cur.is_key, cur.value, cur.depth) == (True, True, False, "Man", 1)
    cur = scan_arguments(HEAD + '{"n": 20')
    assert (cur.in_number, cur.value) == (True, "20")
    cur = scan_arguments(HEAD + '{"a": [1, {"b": "x\\"y"}], "c')
    assert (cur.in_string, cur.is_key, cur.value, cur.depth) == (True, True, "c", 1)
    cur = scan_arguments(HEAD + '{"a": [1, {"b": "x\\"y')
    assert (cur.value, cur.depth, cur.is_key) == ('x"y', 3, False)
    assert not scan_arguments(HEAD + '{"a": 1}').active


def test_cursor_copy_is_independent() -> None:
    cur = scan_arguments(HEAD + '{"a": 1')
    ahead = cur.copy()
    ahead.feed("}")
    assert cur.active and not ahead.active
    assert isinstance(ahead, ArgumentCursor)


def _gain(bias: CopyBias, tok: TinyTokenizer, text: str, *, top: str | None = None) -> dict[str, float]:
    """Text of each token whose logit changed, with the change (``top``: the model's own first choice)."""
    out = [tok.pieces.index(HEAD)] + [tok.pieces.index(p) for p in _split(text)]
    logits = np.zeros(tok.vocab_size, dtype=np.float32)
    if top is not None:
        logits[tok.pieces.index(top)] = 1.0
    before = logits.copy()
    new = bias(out, logits) - before
    assert np.array_equal(logits, before), "the input logits are not modified in place"
    changed: dict[str, float] = {}
    for i in np.nonzero(new)[0]:
        changed[tok.pieces[i]] = float(new[i])
    return changed


def _split(text: str) -> list[str]:
    """Greedy longest-match split of ``text`` into PIECES (test inputs only)."""
    out = []
    while text:
        best = max((p for p in PIECES if text.startswith(p)), key=len)
        out.append(best)
        text = text[len(best):]
    return out


def test_string_value_start_favours_words_of_the_request(tok: TinyTokenizer) -> None:
    bias = CopyBias(tok, "Weather in Paris, Manhattan", ValueBias(extend=3, start=1, end=2, number=0))
    gain = _gain(bias, tok, '{"city": "')
    assert gain["Paris"] == 1 and gain["paris"] == 1  # the word and its lower-case form
    assert gain["Man"] == 1
    assert "chester" not in gain and "zz" not in gain


def test_string_value_extends_its_span_and_may_end_at_a_word_end(tok: TinyTokenizer) -> None:
    bias = CopyBias(tok, "Weather in Manhattan, New York", ValueBias(extend=3, start=1, end=2, number=0))
    gain = _gain(bias, tok, '{"city": "Man')
    assert gain == {"hattan": 3.0}  # not "chester"; no end in the middle of a word
    gain = _gain(bias, tok, '{"city": "Manhattan')
    assert gain[","] == 3.0 and gain['"'] == 2.0 and gain['",'] == 2.0 and gain['"}'] == 2.0
    gain = _gain(bias, tok, '{"city": "Manhattan, ')
    assert gain["New"] == 3.0  # the span goes on ...
    assert gain["Man"] == 1.0  # ... or a new word of the request starts


def test_keys_and_unknown_values_get_nothing(tok: TinyTokenizer) -> None:
    bias = CopyBias(tok, "Weather in Paris", ValueBias(extend=3, start=1, end=2, number=0))
    assert _gain(bias, tok, '{"city') == {}
    assert _gain(bias, tok, '{"city": "zz') == {}
    assert _gain(bias, tok, "") == {}  # before the arguments


def test_repeating_span_gets_no_bonus(tok: TinyTokenizer) -> None:
    bias = CopyBias(tok, "Paris", ValueBias(extend=3, start=0, end=0, number=0))
    assert _gain(bias, tok, '{"city": "Paris') == {}  # at the end of the request: nothing to extend
    bias = CopyBias(tok, "New York, the city", ValueBias(extend=3, start=0, end=0, number=0))
    assert _gain(bias, tok, '{"city": "New York New') == {}


def test_numbers_continue_as_written_without_thousands_separators(tok: TinyTokenizer) -> None:
    bias = CopyBias(tok, "income of $2,000,000 and 5 years", ValueBias(extend=0, start=0, end=0, number=4))
    # Twice the bonus while the digits so far are not a number of the request ("2" of 2,000,000).
    assert _gain(bias, tok, '{"n": 2') == {"0": 8.0}
    assert _gain(bias, tok, '{"n": 200') == {"0": 8.0}
    assert _gain(bias, tok, '{"n": 2000000') == {}
    assert _gain(bias, tok, '{"n": 5') == {}
    bias = CopyBias(tok, "2 cars, 20 million people", ValueBias(extend=0, start=0, end=0, number=4))
    assert _gain(bias, tok, '{"n": 2') == {"0": 4.0}  # 2 is a number of the request; 20000000 goes on from it
    assert _gain(bias, tok, '{"n": 20') == {"0": 8.0}  # "20 million" is 20000000, not 20


def test_request_numbers_drop_separators_and_apply_scale_words() -> None:
    assert written_numbers("$2,000,000 and 8.5 million km, -3.5, 12.5 thousand, 1.2345 Thousand, 3 billion, in 2020.") == [
        "2000000", "8500000", "-3.5", "12500", "1234.5", "3000000000", "2020",
    ]


def test_keep_bias_only_while_a_mentioned_optional_argument_is_missing(tok: TinyTokenizer) -> None:
    tools = [{"name": "f", "parameters": {"type": "object", "required": ["n"],
                                          "properties": {"n": {}, "city": {}, "unit": {}}}}]
    bias = CopyBias(tok, "in the city", ValueBias(extend=0, start=0, end=0, number=0, keep=2), tools=tools)
    assert bias.wanted == {"f": {"city"}}
    assert _gain(bias, tok, '{"n": 2') == {"}": -2.0}
    assert _gain(bias, tok, '{"n": "zz') == {'"}': -2.0}
    # where the model would end the value, going on to another key gains what closing loses
    # (a tuned model's closing can be 12 nats ahead); mid-value it does not ("23|.5", "san| francisco")
    assert _gain(bias, tok, '{"n": 2', top="}") == {"}": -2.0, ",": 2.0}
    assert _gain(bias, tok, '{"n": "zz', top='"') == {'"}': -2.0, '",': 2.0}
    assert _gain(bias, tok, '{"n": "zz', top=" ") == {'"}': -2.0}
    assert _gain(bias, tok, '{"n": 2', top="0") == {"}": -2.0}  # a number going on ("20")
    assert _gain(bias, tok, '{"n": [{"b": 1', top="}") == {}  # closes an inner object only
    assert _gain(bias, tok, '{"n": ["zz', top='"') == {}  # '",' goes on with the array, not to a key
    assert _gain(bias, tok, '{"n": 2, ') == {'"': 2.0, '"city': 2.0}  # as the next key, the mentioned one
    assert _gain(bias, tok, '{"n": 2, "city": "zz", "unit": 1') == {}  # nothing mentioned is missing
    closing_both = _gain(bias, tok, '{"n": [1')
    assert closing_both == {}  # "]" alone does not close the arguments; no "]}" token in this vocabulary
    unmentioned = CopyBias(tok, "zz", ValueBias(extend=0, start=0, end=0, number=0, keep=2), tools=tools)
    assert _gain(unmentioned, tok, '{"n": 2') == {}


def test_value_bias_enabled_and_chain() -> None:
    assert ValueBias().enabled()
    assert not ValueBias(extend=0, start=0, end=0, number=0, keep=0, loop=0).enabled()
    assert chain_processors(None, None) is None

    def add1(out: list[int], x: np.ndarray) -> np.ndarray:
        return x + 1

    def double(out: list[int], x: np.ndarray) -> np.ndarray:
        return x * 2

    assert chain_processors(add1) is add1
    both = chain_processors(add1, None, double)
    assert both is not None
    assert both([], np.zeros(2)).tolist() == [2.0, 2.0]


@pytest.mark.parametrize(
    ("name", "request_text", "expected"),
    [
        ("equal_variance", "assuming equal variance", True),
        ("trait_count", "Find three personality traits", True),
        ("fullName", "the full name of the king", True),
        ("include_opponent", "including its opponent", True),
        ("include_opponent", "include everything", False),  # generic words do not count
        ("max_distance", "within 10 miles", False),
        ("min_humidity", "the humidity in Miami", False),  # the tool's topic, see below
    ],
)
def test_mentioned_matches_words_of_parameter_names(name: str, request_text: str, expected: bool) -> None:
    assert mentioned(name, request_text, tool="weather.humidity_forecast") is expected


ZONE = {"type": "string", "enum": ["driver", "passenger", "rear", "all"], "default": "all"}
LEVEL = {"type": "integer", "default": 2, "description": "Heat from 0 (off) to 3 (hottest); 2 when not said."}


@pytest.mark.parametrize(
    ("schema", "request_text", "expected"),
    [
        (ZONE, "passenger temperature 23.5 please", True),  # an enum value, as a word
        (ZONE, "set the REAR to 22", True),
        (ZONE, "close all the windows", False),  # the default says nothing
        (ZONE, "the passengers are cold", False),  # whole words only
        (LEVEL, "turn off the passenger seat heater", True),  # a number the description names
        (LEVEL, "make it the hottest", True),
        (LEVEL, "heat the driver seat", False),
        ({**LEVEL, "default": "0"}, "turn off the seat heater", False),  # a default written as a string
        ({**LEVEL, "default": 0}, "turn off the seat heater", False),  # "off" is then the default
        ({"type": "string"}, "anything at all", False),
        ("not a schema", "off", False),
    ],
)
def test_value_said_finds_optional_values_the_request_says(schema: object, request_text: str,
                                                           expected: bool) -> None:
    assert value_said(schema, request_text) is expected


VOLUME = {"type": "integer", "description": "Volume from 0 (muted) to 40 (loudest)."}


def test_numbers_go_by_their_marks_and_the_ends_of_their_range() -> None:
    names = number_names(VOLUME)
    assert set(names) == {0.0, 40.0}
    assert names[0.0][0] == "muted" and "minimum" in names[0.0] and "lowest" in names[0.0]
    assert names[40.0][0] == "loudest" and "max" in names[40.0] and "all the way up" in names[40.0]
    assert set(number_names({"type": "integer", "minimum": 1, "maximum": 7})) == {1.0, 7.0}
    assert number_names({"type": "integer", "description": "Fan speed, 3 (medium)."}) == {3.0: ["medium"]}
    assert number_names({"type": "string", "description": "0 (off)"}) == {}
    assert number_names({"type": ["integer", "null"], "description": "0 (off) to 3 (hottest)"})[0.0][0] == "off"
    assert number_names({"type": "number", "description": "16-30 (hot), 1,000 (max), FM1 (first)"}) == {}
    assert [names[0] for names in number_names({"type": "integer", "description": "0 (off),1 (low),2 (high)"}
                                               ).values()] == ["off", "low", "high"]  # no space after the commas
    assert number_names({"type": "number", "description": "-5 (coldest) or 0.5 (half)"}) == {
        -5.0: ["coldest", *names[0.0][1:]], 0.5: ["half", *names[40.0][1:]]}
    assert set(number_names({"type": "integer", "minimum": float("nan"), "maximum": True})) == set()
    huge = {"type": "integer", "description": "9" * 100_000 + " (max)"}
    assert number_names(huge) == {}  # read no further than MAX_DESCRIPTION_SCAN characters
    assert number_names(None) == {}
    assert says_name("muted", "mute the speakers") and says_name("fully open", "open it fully")
    assert says_name("all the way up", "turn it all the way up") and not says_name("all the way up", "all of it up")
    assert not says_name("all the way up", "up the way all")  # the range's phrases in order only
    assert says_name("off", "turn the passenger seat heater off.")  # a sentence's full stop is not the word's
    assert not says_name("loudest", "louder please")  # a comparative names no end of the range
    assert not says_name("off", "turn on the office lights")


def test_coverage_counts_a_number_said_by_its_name() -> None:
    """ "mute the speakers" says ``level: 0``: the ``auto`` decision reads it as a value the request states."""
    schema = {"type": "object", "properties": {"level": VOLUME}}
    assert copy_coverage([{"level": 0}], "mute the speakers") == 0.0  # without the schema: nothing written
    assert copy_coverage([{"level": 0}], "mute the speakers", schemas=[schema]) == 1.0
    assert copy_coverage([{"level": 40}], "max volume", schemas=[schema]) == 1.0
    assert copy_coverage([{"level": 40}], "turn the volume all the way up", schemas=[schema]) == 1.0
    assert copy_coverage([{"level": 30}], "max volume", schemas=[schema]) == 0.0  # 30 has no name said
    assert copy_coverage([{"level": 0}], "volume up", schemas=[schema]) == 0.0
    assert copy_coverage([{"level": 0}], "mute", schemas=[None]) == 0.0  # a tool without a schema: as before


def test_an_optional_value_said_is_kept(tok: TinyTokenizer) -> None:
    """ "passenger temperature 23.5": the call may not close without ``zone`` at no cost."""
    tools = [{"name": "f", "parameters": {"type": "object", "required": ["n"], "properties": {"n": {}, "zone": ZONE}}}]
    keep = ValueBias(extend=0, start=0, end=0, number=0, keep=2, loop=0)
    assert CopyBias(tok, "passenger temperature 23.5", keep, tools=tools).wanted == {"f": {"zone"}}
    assert CopyBias(tok, "temperature 23.5 for all", keep, tools=tools).wanted == {"f": set()}
    assert CopyBias(tok, "Set it to 23.5 for the passenger.", keep, tools=tools).wanted == {"f": {"zone"}}
    # the grammar writes keys in the schema's order: once a later key is written, zone cannot come
    later = [{"name": "f", "parameters": {"type": "object", "required": ["n"],
                                          "properties": {"n": {}, "zone": ZONE, "b": {}, "c": {}}}}]
    bias = CopyBias(tok, "passenger temperature 23.5", keep, tools=later)
    assert _gain(bias, tok, '{"n": 2', top="}") == {"}": -2.0, ",": 2.0}
    assert _gain(bias, tok, '{"n": 2,"b": 1', top="}") == {}


SEAT = {"seat": ZONE, "level": LEVEL}


@pytest.mark.parametrize(
    ("request_text", "expected"),
    [
        ("my seat is too hot, driver seat heating to one", "level"),  # a number in the range, in words
        ("driver seat heat 3", "level"),  # in digits
        ("heat the driver seat", None),  # no number
        ("heat the driver seat to 2", None),  # the default needs no argument
        ("heat the driver seat to 9", None),  # outside the range the description gives
        ("heat the driver seat to 2.5", None),  # an integer parameter takes no fraction
        ("heat the driver seat, no one else's", None),  # "one" as a pronoun
        ("heat the one on the left", None),
    ],
)
def test_a_number_said_plainly_is_an_optional_parameter_s_value_in_its_range(request_text: str,
                                                                            expected: str | None) -> None:
    assert plain_number_parameter(SEAT, ["seat"], request_text) == expected
    assert not value_said(LEVEL, request_text)  # by name or mark only


def test_a_plain_number_is_left_alone_when_another_parameter_could_take_it() -> None:
    # A required number or free text may hold it ("play maroon 5", "alarm for 7 am", "12 main street").
    volume = {"type": "integer", "minimum": 0, "maximum": 40}
    assert plain_number_parameter({"query": {"type": "string"}, "volume": volume}, ["query"], "play maroon 5") is None
    assert plain_number_parameter({"minutes": {"type": "integer"}, "level": LEVEL}, ["minutes"], "3 minutes") is None
    # Two optional numbers whose ranges both hold it: which one is meant is not known.
    minutes = {"type": "integer", "minimum": 1, "maximum": 60}
    assert plain_number_parameter({**SEAT, "minutes": minutes}, ["seat"], "heat the driver seat for 1 minute") is None
    assert plain_number_parameter({**SEAT, "minutes": minutes}, ["seat"], "driver seat heat to 3") is None
    assert plain_number_parameter({**SEAT, "minutes": minutes}, ["seat"], "driver seat for 30 minutes") == "minutes"
    assert plain_number_parameter({"seat": ZONE, "level": {**LEVEL, "default": "2"}}, ["seat"], "seat to 2") is None
    assert plain_number_parameter({"level": {"type": "integer", "default": 2}}, [], "heat it to 1") is None  # no range
    assert plain_number_parameter("not a schema", [], "1") is None


def test_a_plain_number_makes_its_parameter_wanted(tok: TinyTokenizer) -> None:
    """ "seat heating to one" wants ``level``; "timer for 5 minutes" gives its number to the required ``minutes``."""
    keep = ValueBias(extend=0, start=0, end=0, number=0, keep=2, loop=0)
    seat = [{"name": "f", "parameters": {"type": "object", "required": ["seat"], "properties": SEAT}}]
    assert CopyBias(tok, "driver seat heating to one", keep, tools=seat).wanted == {"f": {"level"}}
    timer = [{"name": "t", "parameters": {"type": "object", "required": ["minutes"], "properties": {
        "minutes": {"type": "integer"}, "seconds": {"type": "integer", "minimum": 0, "maximum": 59, "default": 0}}}}]
    assert CopyBias(tok, "timer for 5 minutes", keep, tools=timer).wanted == {"t": set()}


def test_current_tool_is_the_last_call_being_written() -> None:
    text = HEAD + '{"a": 1}}\n</tool_call>\n<tool_call>\n{"name": "g.h", "arguments": {"b'
    assert current_tool(text) == "g.h"
    assert current_tool("<tool_call>\n{") is None
    assert scan_arguments(text).keys == []
    assert scan_arguments(HEAD + '{"a": 1, "b": {"c": 2}, "d": "x').keys == ["a", "b", "d"]


def test_mentioned_flag_is_favoured_true(tok: TinyTokenizer) -> None:
    tools = [{"name": "f", "parameters": {"type": "object", "properties": {"unit": {"type": "boolean"}}}}]
    pieces = [*PIECES, "true", "tr", "false", ":", " true"]
    tiny = TinyTokenizer(pieces)
    bias = CopyBias(tiny, "with units", ValueBias(extend=0, start=0, end=0, number=0, keep=2, loop=0), tools=tools)
    out = [pieces.index(p) for p in (HEAD, "{", '"unit', '"', ": ")]
    new = bias(out, np.zeros(tiny.vocab_size, dtype=np.float32))
    assert {pieces[i]: float(new[i]) for i in np.nonzero(new)[0]} == {"true": 2.0, "tr": 2.0}
    out = [pieces.index(p) for p in (HEAD, "{", '"unit', '"', ":")]  # the space may come with the value
    new = bias(out, np.zeros(tiny.vocab_size, dtype=np.float32))
    assert {pieces[i]: float(new[i]) for i in np.nonzero(new)[0]} == {" true": 2.0, " ": 2.0}


def test_copy_coverage_counts_values_written_in_the_request() -> None:
    request = "Weather in Paris on 2024-05-01, budget $2,000, in celsius"
    assert copy_coverage([{"city": "paris", "unit": "celsius"}], request) == 1.0
    assert copy_coverage([{"city": "Paris", "budget": 2000.0, "verbose": True}], request) == 1.0  # bools not counted
    assert copy_coverage([{"city": "London", "days": [2024, 7]}], request) == pytest.approx(1 / 3)
    assert copy_coverage([{}], request) == 1.0
    assert copy_coverage([], request) == 0.0


def test_cursor_tracks_array_items() -> None:
    cur = scan_arguments(HEAD + '{"a": ["x", {"b": [1, 2]}, "y"')
    assert cur.items == [['"x"', ' {"b": [1, 2]}', ' "y"']]
    assert not cur.item_repeats()
    assert scan_arguments(HEAD + '{"a": ["x", "y", "x"').item_repeats()
    assert not scan_arguments(HEAD + '{"a": ["x", "y", "x').item_repeats()  # still inside the string
    assert scan_arguments(HEAD + '{"a": ["x"], "c": 1').items == []


def test_loop_guard_ends_values_that_repeat(tok: TinyTokenizer) -> None:
    bias = CopyBias(tok, "the cities", ValueBias(extend=0, start=0, end=0, number=0, keep=0, loop=8))
    assert _gain(bias, tok, '{"n": ["Paris", "city", "Paris"') == {"]": 8.0}  # an item came round again
    assert _gain(bias, tok, '{"n": ["Paris", "city"') == {}
    looping = _gain(bias, tok, '{"n": "New York New York New York')
    assert looping['"'] == 8.0 and looping['",'] == 8.0 and looping['"}'] == 8.0
    assert _gain(bias, tok, '{"n": "New York, Paris') == {}
    assert _gain(bias, tok, '{"n": ' + "2" * 12) == {"2": -8.0, "0": -8.0, "5": -8.0, "1": -8.0}
    assert _gain(bias, tok, '{"n": ' + "2" * 11) == {}
    long_number = CopyBias(tok, "pay 20000000000000 now", ValueBias(extend=0, start=0, end=0, number=0, keep=0, loop=8))
    assert _gain(long_number, tok, '{"n": ' + "2" * 14) == {}  # the request writes one that long


def test_loop_guard_closes_a_repeated_string_item_with_its_array() -> None:
    pieces = [HEAD, "{", '"n', '": ', "[", '"', "Paris", "city", '",', '"]', '", ', "]"]
    tok = TinyTokenizer(pieces)
    bias = CopyBias(tok, "the cities", ValueBias(extend=0, start=0, end=0, number=0, keep=0, loop=8))
    text = '{"n": ["Paris", "city", "Paris'
    out = [0] + tok.ids("{", '"n', '": ', "[", '"', "Paris", '", ', '"', "city", '", ', '"', "Paris")
    assert tok.decode(out[1:]) == text
    new = bias(out, np.zeros(len(pieces), dtype=np.float32))
    assert {pieces[i]: float(new[i]) for i in np.nonzero(new)[0]} == {'"]': 8.0, '",': -8.0, '", ': -8.0}
    out = [0] + tok.ids("{", '"n', '": ', "[", '"', "Paris", '", ', '"', "city")
    assert not np.any(bias(out, np.zeros(len(pieces), dtype=np.float32)))


def test_a_value_does_not_start_as_a_string_of_punctuation() -> None:
    pieces = [HEAD, "{", '"n', '": ', "[", '"', '",', '"]', '"}', "1", '"a']
    tok = TinyTokenizer(pieces)
    bias = CopyBias(tok, "the cities", ValueBias(extend=0, start=0, end=0, number=0, keep=0, loop=8))
    for before in (("{", '"n', '": ', "["), ("{", '"n', '": ')):
        new = bias([0] + tok.ids(*before), np.zeros(len(pieces), dtype=np.float32))
        assert {pieces[i]: float(new[i]) for i in np.nonzero(new)[0]} == {'",': -8.0, '"]': -8.0, '"}': -8.0, '": ': -8.0}
    # Inside a string '",' is the normal way to end it.
    assert not np.any(bias([0] + tok.ids("{", '"n', '": ', '"a'), np.zeros(len(pieces), dtype=np.float32)))
