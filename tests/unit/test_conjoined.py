"""One call per item of a list the request joins with "and" (agent_sdk.agent.conjoined)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from agent_sdk.agent.call_format import HERMES
from agent_sdk.agent.call_stages import CallContext, CallDraft, conjoined
from agent_sdk.agent.conjoined import MAX_ITEMS, conjoined_calls
from agent_sdk.agent.policy import DEFAULT_POLICY
from agent_sdk.runtime.engine import Generation
from agent_sdk.tools import load_tools

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
HOME = [t["function"] for t in load_tools(str(ROOT / "examples/voice_assistant/home_tools.py")).to_openai()]


def _tool(name: str, **props: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "description": "", "parameters": {
        "type": "object", "properties": props, "required": list(props)}}


FACTORIAL = _tool("math.factorial", number={"type": "integer"})
WEATHER = _tool("get_weather", location={"type": "string"})
DISTANCE = _tool("get_distance", start={"type": "string"}, end={"type": "string"})
PLAY = _tool("spotify.play", artist={"type": "string"}, duration={"type": "integer"})
PRESENT_VALUE = _tool("calculate_present_value", payment={"type": "number"}, years={"type": "integer"})


@pytest.mark.parametrize(("request_text", "call", "added"), [
    ("turn on the kitchen and living room lights", ("turn_on_lights", {"room": "kitchen"}),
     [("turn_on_lights", {"room": "living room"})]),
    ("turn on the kitchen and the living room", ("turn_on_lights", {"room": "kitchen"}),
     [("turn_on_lights", {"room": "living room"})]),
    ("Turn off the kitchen light and the bathroom light.", ("turn_off_lights", {"room": "kitchen"}),
     [("turn_off_lights", {"room": "bathroom"})]),
    ("turn on the kitchen and bathroom lights and set an alarm for 7", ("turn_on_lights", {"room": "kitchen"}),
     [("turn_on_lights", {"room": "bathroom"})]),
    ("dim the bedroom and kitchen to 20 percent", ("set_brightness", {"room": "bedroom", "percent": 20}),
     [("set_brightness", {"room": "kitchen", "percent": 20})]),
    ("add milk and eggs to the shopping list", ("add_to_shopping_list", {"item": "milk"}),
     [("add_to_shopping_list", {"item": "eggs"})]),
    ("add milk, eggs and some bread please", ("add_to_shopping_list", {"item": "milk"}),
     [("add_to_shopping_list", {"item": "eggs"}), ("add_to_shopping_list", {"item": "bread"})]),
    ("we need toilet paper, dish soap, and paper towels", ("add_to_shopping_list", {"item": "toilet paper"}),
     [("add_to_shopping_list", {"item": "dish soap"}), ("add_to_shopping_list", {"item": "paper towels"})]),
])
def test_a_list_of_items_gets_one_call_each(request_text: str, call: tuple[str, dict[str, Any]],
                                            added: list[tuple[str, dict[str, Any]]]) -> None:
    calls, n = conjoined_calls([call], HOME, request_text)
    assert calls == [call, *added] and n == len(added)


def test_items_before_the_models_value_keep_the_requests_order() -> None:
    calls, n = conjoined_calls([("turn_on_lights", {"room": "living room"})], HOME,
                               "turn on the kitchen and the living room")
    assert calls == [("turn_on_lights", {"room": "kitchen"}), ("turn_on_lights", {"room": "living room"})] and n == 1
    calls, _ = conjoined_calls([("math.factorial", {"number": 15})], [FACTORIAL], "Find the factorial of 5,10 and 15.")
    assert [a["number"] for _, a in calls] == [5, 10, 15]


@pytest.mark.parametrize(("request_text", "call"), [
    ("add milk and set a timer for 5 minutes", ("add_to_shopping_list", {"item": "milk"})),  # a second request
    ("add milk and i also need to call mom", ("add_to_shopping_list", {"item": "milk"})),
    ("turn off the kitchen light and the bathroom fan", ("turn_off_lights", {"room": "kitchen"})),  # not rooms
    ("lights off in the bedroom and set an alarm for 7 am", ("turn_off_lights", {"room": "bedroom"})),
    ("add mac and cheese", ("add_to_shopping_list", {"item": "mac and cheese"})),  # the model read one item
    ("turn on the kitchen lights", ("turn_on_lights", {"room": "kitchen"})),
    ("add milk to the list and then read it back", ("add_to_shopping_list", {"item": "milk"})),
    ("turn on the kitchen or the bedroom", ("turn_on_lights", {"room": "kitchen"})),  # a choice, not a list
    ("turn on the kitchen and the garage", ("turn_on_lights", {"room": "kitchen"})),  # not a room the tool has
    ("add milk and big fresh green organic apples", ("add_to_shopping_list", {"item": "milk"})),  # a clause
])
def test_what_is_not_a_list_of_the_arguments_items_changes_nothing(request_text: str,
                                                                  call: tuple[str, dict[str, Any]]) -> None:
    assert conjoined_calls([call], HOME, request_text) == ([call], 0)


def test_numbers_and_free_text_in_other_tools() -> None:
    calls, n = conjoined_calls([("get_weather", {"location": "Boston"})], [WEATHER],
                               "What's the weather in Boston and San Francisco?")
    assert calls[1] == ("get_weather", {"location": "San Francisco"}) and n == 1  # the request's own casing
    calls, n = conjoined_calls([("calculate_present_value", {"payment": 1000, "years": 10})], [PRESENT_VALUE],
                               "Present value of $1000 per year for 10, 20 and 30 years")
    assert [a["years"] for _, a in calls] == [10, 20, 30] and all(a["payment"] == 1000 for _, a in calls)
    # 5,000 is one number, not a list of 5 and 000.
    assert conjoined_calls([("math.factorial", {"number": 5})], [FACTORIAL], "factorial of 5,000") == (
        [("math.factorial", {"number": 5})], 0)


LOCATION = _tool("get_current_weather", location={"type": "string"}, unit={"type": "string"})
TRIANGLE = _tool("calculate_triangle_area", base={"type": "integer"}, height={"type": "integer"},
                 unit={"type": "string"})
ROUTE = _tool("get_shortest_driving_distance", origin={"type": "string"}, destination={"type": "string"})
INTERSECT = _tool("functions.intersect", function1={"type": "string"}, function2={"type": "string"})
WASTE = _tool("waste_calculation.calculate", location={"type": "string"})
FLIGHT = _tool("book_flight", departure_city={"type": "string"}, date={"type": "string"})
SEARCH = _tool("restaurant.search", location={"type": "string"})
IMAGE = _tool("image_processing.object_identification", image_url={"type": "string"})
BATTLE = _tool("euro_history.battle_details", battle_name={"type": "string"})
TIME = _tool("get_current_time", location={"type": "string"})


# Found on BFCL's simple_python, multiple, live_simple and parallel questions (the first 40 of each): a comma sets
# off a name's parts, "and" starts a clause, a value has characters between its words.
@pytest.mark.parametrize(("tool", "call", "request_text"), [
    (LOCATION, {"location": "Riga", "unit": "celsius"}, "Im at Riga, Latvia, Can you tell me the current temperature?"),
    (LOCATION, {"location": "Paris", "unit": "celsius"}, "Can you tell me the current temperature in Paris, France?"),
    (LOCATION, {"location": "Moscow", "unit": "celsius"}, "the weather in Moscow, specifying the temperature in C"),
    (LOCATION, {"location": "2020 Addison Street, Berkeley, CA", "unit": "c"},
     "I need a ride from 2020 Addison Street, Berkeley, CA, USA, and I can wait up to 600 seconds"),
    (TRIANGLE, {"base": 10, "height": 5, "unit": "units"},
     "Find the area of a triangle with a base of 10 units and height of 5 units."),
    (ROUTE, {"origin": "New York City", "destination": "Washington D.C."},
     "Find the shortest driving distance between New York City and Washington D.C."),
    (INTERSECT, {"function1": "y=3x+2", "function2": "y=2x+3"},
     "Find the intersection points of the functions y=3x+2 and y=2x+3."),
    (WASTE, {"location": "Los Angeles"},
     "how much waste a family of four generates in Los Angeles, assuming two children and two adults."),
    (FLIGHT, {"departure_city": "San Francisco", "date": "May 3rd 2022"},
     "Book a flight from San Francisco on May 3rd 2022 and another flight from Tokyo"),
    (SEARCH, {"location": "New York"}, "Find a Chinese restaurant in New York and suggest a high-rated one"),
    (IMAGE, {"image_url": "my_backyard_image_url"},
     "Identify objects in my_backyard_image_url and analyze the sentiment of today's journal entry"),
    (BATTLE, {"battle_name": "Battle of Waterloo"},
     "Find overview about the Battle of Waterloo and the signing of the Treaty of Tordesillas."),
])
def test_what_only_looks_like_a_list_changes_nothing(tool: dict[str, Any], call: dict[str, Any],
                                                    request_text: str) -> None:
    assert conjoined_calls([(tool["name"], call)], [tool], request_text)[1] == 0


def test_quoted_names_in_a_list() -> None:
    calls, n = conjoined_calls([("get_current_time", {"location": "Los Angeles"})], [TIME],
                               "In addition get the current time in 'Los Angeles' and 'London'.")
    assert calls[1] == ("get_current_time", {"location": "London"}) and n == 1
    calls, n = conjoined_calls([("get_current_time", {"location": "Los Angeles"})], [TIME],
                               "the time in Los Angeles, London and Tokyo")
    assert [a["location"] for _, a in calls] == ["Los Angeles", "London", "Tokyo"]


@pytest.mark.parametrize(("value", "request_text", "added"), [
    # Commas inside each name of the list: only what "and" joins.
    ("New York City", "Fetch the population of New York City, NY, and Los Angeles, CA from the database",
     ["Los Angeles"]),
    ("San Francisco", "concerts in San Francisco, California and New York, New York?", ["New York"]),
    ("Berlin", "the price of a Yamaha P125 piano in Berlin and Madrid's music stores.", ["Madrid"]),
    ("Berlin", "the price of a piano in Berlin and Madrid stores.", ["Madrid"]),
    ("4x+7", "the first one is '4x+7' and the second one is '2x+5'.", []),
])
def test_names_in_a_typed_list(value: str, request_text: str, added: list[str]) -> None:
    calls, n = conjoined_calls([("get_current_time", {"location": value})], [TIME], request_text)
    assert [a["location"] for _, a in calls[1:]] == added and n == len(added)


def test_values_some_call_holds_and_paired_lists_are_left_alone() -> None:
    # Both ends of a route are already arguments of the call.
    call = ("get_distance", {"start": "New York", "end": "Boston"})
    assert conjoined_calls([call], [DISTANCE], "distance between New York and Boston") == ([call], 0)
    # Two arguments each in a list ("respectively"): one copy of the call cannot pair them.
    call = ("spotify.play", {"artist": "Taylor Swift", "duration": 20})
    text = "Play Taylor Swift and Maroon 5 for 20 minutes and 15 minutes respectively"
    assert conjoined_calls([call], [PLAY], text) == ([call], 0)
    # The model already made both calls.
    both = [("turn_on_lights", {"room": "kitchen"}), ("turn_on_lights", {"room": "bedroom"})]
    assert conjoined_calls(both, HOME, "turn on the kitchen and bedroom lights") == (both, 0)


def test_a_new_call_must_validate_against_the_schema() -> None:
    short = _tool("add_item", item={"type": "string", "maxLength": 4})
    calls, n = conjoined_calls([("add_item", {"item": "milk"})], [short], "add milk and eggs and bananas")
    assert calls == [("add_item", {"item": "milk"}), ("add_item", {"item": "eggs"})] and n == 1
    bounded = _tool("set_volume", percent={"type": "integer", "minimum": 0, "maximum": 100})
    calls, n = conjoined_calls([("set_volume", {"percent": 20})], [bounded], "volume 20 and 300")
    assert n == 0


@pytest.mark.parametrize("schema", [
    {"type": "boolean"}, {"type": "array", "items": {"type": "string"}}, {"type": "string", "pattern": "^[a-z]+$"},
    {"const": "x"}, {"enum": [1, 2]}, {}, {"type": ["string", "null"]}, "not a schema",
])
def test_arguments_of_other_kinds_are_not_repeated(schema: Any) -> None:
    tool = {"name": "t", "parameters": {"type": "object", "properties": {"x": schema}}}
    assert conjoined_calls([("t", {"x": "milk"})], [tool], "milk and eggs")[1] == 0
    assert conjoined_calls([("t", {"x": True})], [tool], "true and false")[1] == 0


def test_hostile_requests_and_calls() -> None:
    call = ("add_to_shopping_list", {"item": "milk"})
    words = [f"thing{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(100)]
    calls, n = conjoined_calls([call], HOME, "add milk and " + " and ".join(words))
    assert n == MAX_ITEMS and [a["item"] for _, a in calls[1:]] == words[:MAX_ITEMS]  # bounded
    assert conjoined_calls([call], HOME, "add milk" + " and eggs" * 100)[1] == 1  # a repeated item once
    assert conjoined_calls([call], HOME, "milk and " * 10_000) == ([call], 0)  # past the length a command has
    assert conjoined_calls([call], HOME, "") == ([call], 0)
    assert conjoined_calls([], HOME, "add milk and eggs") == ([], 0)
    assert conjoined_calls([("no_such_tool", {"item": "milk"})], HOME, "milk and eggs")[1] == 0
    assert conjoined_calls([("add_to_shopping_list", {"item": float("nan")})], HOME, "nan and eggs")[1] == 0
    weird = ("turn_on_lights", {"room": "kitchen", "extra": {"nested": ["kitchen and bedroom"]}})
    assert conjoined_calls([weird], HOME, "kitchen and bedroom")[1] == 0  # fails the schema (no extra argument)
    odd = "\u00e9\u00e8 ,,, and and & & ; milk & eggs ()\"\" 3.4.5 1,2,3,"
    conjoined_calls([call], HOME, odd)  # no exception
    # Other scripts' digits (BFCL writes "0.01m\u00b2"): not numbers to read, never an error.
    area = _tool("calculate_resistance", length={"type": "number"}, area={"type": "number"})
    for text in ("a length of 5m and area 0.01m\u00b2 and 2\u00b2", "5 and \u0663 and \u00b2", "\u00b2\u00b3 and 5"):
        conjoined_calls([("calculate_resistance", {"length": 5, "area": 0.01})], [area], text)
        conjoined_calls([("math.factorial", {"number": 5})], [FACTORIAL], text)


def _ctx(request: str, *, parallel: bool = True) -> CallContext:
    # conjoined reads the request, the tools and the policy only.
    return CallContext(engine=None, prompt_ids=[], tools=HOME, choice="auto", max_tokens=64,  # type: ignore[arg-type]
                       policy=DEFAULT_POLICY.replace(parallel=parallel), call_format=HERMES, request=request,
                       answered=[], grammar_engine=None, grammar="")  # type: ignore[arg-type]


def test_the_post_step_adds_calls_only_where_parallel_calls_are_allowed() -> None:
    calls = [("turn_on_lights", {"room": "kitchen"})]
    text = HERMES.render_calls(calls)
    d = CallDraft(text=text, generation=Generation(text, [], "stop"), calls=calls)
    out = conjoined(_ctx("turn on the kitchen and bedroom lights"), d)
    assert out.calls == [*calls, ("turn_on_lights", {"room": "bedroom"})]
    assert conjoined(_ctx("turn on the kitchen and bedroom lights", parallel=False), d) is d
    assert conjoined(_ctx(""), d) is d
    assert sys.modules["agent_sdk.agent.conjoined"].conjoined_calls is conjoined_calls


VOLUME = _tool("set_volume", percent={"type": "integer", "minimum": 0, "maximum": 100})
GENRE = _tool("play_genre", genre={"type": "string"})


# Found by review: each turned right calls into wrong ones.
@pytest.mark.parametrize(("tools", "call", "request_text"), [
    ([VOLUME], ("set_volume", {"percent": 5}), "set volume between 5 and 10 percent"),  # a range
    (HOME, ("set_brightness", {"room": "kitchen", "percent": 20}), "dim the kitchen to between 20 and 30 percent"),
    ([WEATHER], ("get_weather", {"location": "Boston"}), "drive between Boston and Chicago"),
    ([FACTORIAL], ("math.factorial", {"number": 5}), "factorial of 5 and -10"),  # signs, exponents, operators
    ([FACTORIAL], ("math.factorial", {"number": 5}), "factorial of 5 and 1e3"),
    ([FACTORIAL], ("math.factorial", {"number": 5}), "factorial of 5 and 10^3"),
    ([FACTORIAL], ("math.factorial", {"number": 5}), "factorial of 5 and 3/4"),
    ([VOLUME], ("set_volume", {"percent": 30}), "it is 10:20 and 30 degrees, set volume to 30"),
    (HOME, ("turn_off_lights", {"room": "kitchen"}), "turn off the lights in the kitchen and the bathroom fan"),
    ([VOLUME], ("set_volume", {"percent": 30}), "set the volume to 30 and 10 minute timer"),
    (HOME, ("set_brightness", {"room": "kitchen", "percent": 20}),  # values paired with another argument
     "set the kitchen to 20 percent and 50 percent in the bedroom"),
    (HOME, ("set_brightness", {"room": "kitchen", "percent": 50}), "kitchen at 50 and 20 in the bedroom"),
    (HOME, ("add_to_shopping_list", {"item": "milk"}), "add milk and no eggs"),  # negations, fillers, verbs
    (HOME, ("add_to_shopping_list", {"item": "milk"}), "add milk and not eggs"),
    (HOME, ("add_to_shopping_list", {"item": "milk"}), "add milk and don't add eggs"),
    (HOME, ("add_to_shopping_list", {"item": "milk"}), "add milk and that's all"),
    (HOME, ("add_to_shopping_list", {"item": "milk"}), "add milk and let me know"),
    (HOME, ("add_to_shopping_list", {"item": "milk"}), "add milk and uh eggs"),
    (HOME, ("add_to_shopping_list", {"item": "milk"}), "add milk and sorry"),
    (HOME, ("add_to_shopping_list", {"item": "milk"}), "add milk and text mom"),
    ([WEATHER], ("get_weather", {"location": "Boston"}), "weather in Boston and Washington D.C."),  # periods in names
    ([WEATHER], ("get_weather", {"location": "Minneapolis"}), "weather in Minneapolis and St. Paul"),
    (HOME, ("turn_off_lights", {"room": "kitchen"}),  # the value written twice: which one the model read?
     "I'm leaving the kitchen and bedroom, turn off the kitchen"),
    ([LOCATION], ("get_current_weather", {"location": "Paris", "unit": "c"}), "Paris and Chicago in c and f"),
    (HOME, ("turn_off_lights", {"room": "bedroom"}), "turn off the bedroom lights and kitchen lights on"),
])
def test_what_review_found(tools: list[dict[str, Any]], call: tuple[str, dict[str, Any]], request_text: str) -> None:
    assert conjoined_calls([call], tools, request_text) == ([call], 0)


def test_a_particle_that_agrees_with_the_tool_keeps_the_list() -> None:
    out, n = conjoined_calls([("turn_off_lights", {"room": "kitchen"})], HOME, "turn the kitchen and bedroom lights off")
    assert out[1] == ("turn_off_lights", {"room": "bedroom"}) and n == 1


def test_cities_with_their_regions_and_the_models_casing() -> None:
    calls = [("get_weather", {"location": "Boston"}), ("get_weather", {"location": "San Francisco"})]
    assert conjoined_calls(calls, [WEATHER], "What's the weather like in Boston, MA and San Francisco, CA?") == (
        calls, 0)
    out, n = conjoined_calls([("get_weather", {"location": "Paris"})], [WEATHER], "Paris, France and Rome, Italy")
    assert [a["location"] for _, a in out] == ["Paris", "Rome"] and n == 1
    out, n = conjoined_calls([("get_weather", {"location": "Boston"})], [WEATHER], "WEATHER IN BOSTON AND CHICAGO")
    assert out[1] == ("get_weather", {"location": "Chicago"})


def test_numbers_keep_the_schemas_type_and_huge_ones_are_not_items() -> None:
    out, _ = conjoined_calls([("math.factorial", {"number": 5})], [FACTORIAL], "factorial of 5 and 6.0")
    assert out[1][1]["number"] == 6 and isinstance(out[1][1]["number"], int)
    out, _ = conjoined_calls([("calculate_present_value", {"payment": 1.5, "years": 10})], [PRESENT_VALUE],
                             "pay 1.5 and 2.25 for 10 years")
    assert [a["payment"] for _, a in out] == [1.5, 2.25]
    assert conjoined_calls([("math.factorial", {"number": 5})], [FACTORIAL], "factorial of 5 and " + "9" * 310)[1] == 0
    assert conjoined_calls([("math.factorial", {"number": 10**400})], [FACTORIAL], "factorial of 5 and 6")[1] == 0


def test_odd_calls_from_direct_use() -> None:
    for args in (None, [], "milk"):
        assert conjoined_calls([("add_to_shopping_list", args)], HOME, "milk and eggs")[1] == 0  # type: ignore[list-item]
    assert conjoined_calls([(["x"], {"item": "milk"})], HOME, "milk and eggs")[1] == 0  # type: ignore[list-item]
    nested = _tool("t", item={"type": "string"}, opts={"type": "object"})
    args = {"item": "milk", "opts": {"fast": True}}
    out, _ = conjoined_calls([("t", args)], [nested], "milk and eggs")
    assert out[1][1]["opts"] == {"fast": True} and out[1][1]["opts"] is not args["opts"]  # no shared state


def test_work_stays_linear_on_large_enums(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each token position is read at most once per argument (review: a 2,000-value enum of 10-word values took 25 s).
    from agent_sdk.agent import conjoined as mod

    reads: list[int] = []
    real = mod._Reader._core

    def counting(self: Any, i: int) -> Any:
        reads.append(i)
        return real(self, i)

    monkeypatch.setattr(mod._Reader, "_core", counting)
    values = [" ".join(f"w{i}x{k}" for k in range(10)) for i in range(2000)]
    tool = {"name": "t", "parameters": {"type": "object", "properties": {"v": {"enum": values}}}}
    text = (", ".join([values[0]] * 30) + " and " + values[1])[-2000:]
    conjoined_calls([("t", {"v": values[1]})], [tool], text)
    assert reads and len(reads) == len(set(reads)) <= len(mod._tokens(text))
