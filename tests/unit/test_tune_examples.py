"""Training requests generated from tools: coverage, valid calls, negatives, pairs, variety, user examples."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from voice_assistant.home_tools import Home, parse_clock_time

from agent_sdk.errors import UserError
from agent_sdk.tune import phrasing as ph
from agent_sdk.tune.examples import USER_WEIGHT, Example, example_stats, generate_examples, load_user_examples

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def home_tools(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    home = Home(data_dir=tmp_path_factory.mktemp("home"), speak=lambda _: None)
    tools = home.tools()
    home.close()
    return tools


@pytest.fixture(scope="module")
def home_examples(home_tools: list[Any]) -> list[Example]:
    return generate_examples(home_tools, count=2000, seed=0)


def _fn(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": properties, "required": required, "additionalProperties": False}}}


MEDIA = [
    _fn("play_song", "Play a song by its title.",
        {"title": {"type": "string", "description": "The song title."},
         "source": {"type": "string", "enum": ["spotify", "radio", "bluetooth"], "description": "Where from."}},
        ["title"]),
    _fn("set_media_volume", "Set the playback volume.",
        {"level": {"type": "integer", "minimum": 0, "maximum": 10, "description": "Volume level."}}, ["level"]),
    _fn("pause_playback", "Pause the music.", {}, []),
    # The plain {name, description, parameters} form is accepted too.
    {"name": "switch_source", "description": "Switch the audio source.", "parameters": {
        "type": "object", "properties": {"source": {"type": "string", "enum": ["spotify", "radio", "bluetooth", "tv"]}},
        "required": ["source"]}},
    _fn("create_ticket", "Create a support ticket.",
        {"title": {"type": "string", "description": "Short summary."},
         "priority": {"type": "string", "enum": ["low", "medium", "high"]},
         "urgent": {"type": "boolean", "description": "Page the on-call engineer."}},
        ["title", "priority"]),
]

WEATHER = [
    _fn("get_weather", "Get the weather forecast for a city.",
        {"city": {"type": "string", "description": 'City name, e.g. "Paris".'},
         "days": {"type": "integer", "description": "Days ahead, between 1 and 7."}}, ["city"]),
    _fn("turn_on_lights", "Turn on the lights in a room.",
        {"room": {"type": "string", "enum": ["kitchen", "bedroom"]}}, ["room"]),
]


def _schemas(tools: list[Any]) -> dict[str, Draft202012Validator]:
    out = {}
    for t in tools:
        spec = t.to_openai()["function"] if hasattr(t, "to_openai") else t.get("function", t)
        out[spec["name"]] = Draft202012Validator(spec["parameters"])
    return out


def _enums(tools: list[Any]) -> dict[tuple[str, str], list[str]]:
    out = {}
    for t in tools:
        spec = t.to_openai()["function"] if hasattr(t, "to_openai") else t.get("function", t)
        for name, p in spec["parameters"].get("properties", {}).items():
            if "enum" in p:
                out[spec["name"], name] = p["enum"]
    return out


@pytest.mark.parametrize("which", ["home", "media"])
def test_every_tool_and_enum_value_is_covered_with_valid_calls(which: str, home_tools: list[Any]) -> None:
    tools = home_tools if which == "home" else MEDIA
    examples = generate_examples(tools, count=2000 if which == "home" else 800, seed=3)
    validators = _schemas(tools)
    per_tool: dict[str, int] = defaultdict(int)
    per_value: dict[tuple[str, str, str], int] = defaultdict(int)
    for e in examples:
        assert e.source in ("generated", "negative") and e.weight == 1.0
        for call in e.calls:
            assert set(call) == {"name", "arguments"}
            validators[call["name"]].validate(call["arguments"])
            per_tool[call["name"]] += 1
            for k, v in call["arguments"].items():
                per_value[call["name"], k, str(v)] += 1
    assert set(per_tool) == set(validators)
    assert min(per_tool.values()) >= 30
    for (tool, param), values in _enums(tools).items():
        for v in values:
            assert per_value[tool, param, v] >= 5, (tool, param, v)


def test_home_counts_shares_negatives_and_pairs(home_examples: list[Example], home_tools: list[Any]) -> None:
    assert len(home_examples) == 2000
    negatives = [e for e in home_examples if not e.calls]
    pairs = [e for e in home_examples if len(e.calls) == 2]
    assert all(e.source == "negative" for e in negatives)
    assert all(e.source == "generated" for e in home_examples if e.calls)
    assert abs(len(negatives) - 400) <= 20
    assert abs(len(pairs) - 240) <= 20
    validators = _schemas(home_tools)
    same_tool = 0
    for e in pairs:
        first, second = e.calls
        validators[first["name"]].validate(first["arguments"])
        validators[second["name"]].validate(second["arguments"])
        if first["name"] == second["name"]:  # "kitchen and bedroom lights on": only the room differs
            same_tool += 1
            a, b = first["arguments"], second["arguments"]
            assert a["room"] != b["room"] and a["room"] in e.query and b["room"] in e.query
            assert {k: v for k, v in a.items() if k != "room"} == {k: v for k, v in b.items() if k != "room"}
    assert 5 <= same_tool <= 0.3 * len(pairs)


def test_string_targets_are_written_in_the_request(home_examples: list[Example]) -> None:
    """Every string target is in the request, in its own words or the one short form people use for it ("the
    lounge" for the living room, some of the time)."""
    short = {"living room": "lounge"}
    shortened = 0
    for e in home_examples:
        for call in e.calls:
            for k, v in call["arguments"].items():
                if isinstance(v, str) and call["name"] != "set_brightness" and k != "time":
                    q = e.query.lower()
                    assert v.lower() in q or short.get(v.lower(), "@") in q, (e.query, call)
                    shortened += v.lower() not in q
    living = sum(c["arguments"].get("room") == "living room" for e in home_examples for c in e.calls)
    assert 0 < shortened < 0.3 * living


def test_times_are_said_in_digits_and_in_words_with_the_documented_target(home_examples: list[Example]) -> None:
    """"quarter to eight in the morning" -> "7:45 am": the target is what the tool parses, checked by the tool's own
    parser against the words (an independent reading of the request)."""
    alarms = [(e.query.lower(), c["arguments"]["time"]) for e in home_examples for c in e.calls
              if c["name"] == "set_alarm"]
    in_words = [(q, t) for q, t in alarms if t.lower() not in q]
    assert 0.15 * len(alarms) < len(in_words) < 0.6 * len(alarms)
    names = ["twelve", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven"]
    for q, t in in_words:
        hour, minute = parse_clock_time(t)
        assert re.fullmatch(r"\d{1,2}(:\d{2})? [ap]m", t), t
        evening = bool(re.search(r"(?<![a-z])(pm|p\.m\.|afternoon|evening|tonight|at night)(?![a-z])", q))
        morning = bool(re.search(r"(?<![a-z])(am|a\.m\.|morning|midnight)(?![a-z])", q))
        noon = bool(re.search(r"\b(noon|midday)\b", q))
        assert evening or morning or noon, q
        says = {h for h, name in enumerate(names) if re.search(rf"\b{name}\b", q)}  # hours (mod 12) named

        if "quarter to" in q or re.search(r"\b(five|ten|twenty|twenty five) to\b", q):
            assert minute >= 35 and (hour + 1) % 12 in says, (q, t)
        elif "half past" in q:
            assert minute == 30 and hour % 12 in says, (q, t)
        elif "quarter past" in q:
            assert minute == 15 and hour % 12 in says, (q, t)
        elif noon:
            assert (hour, minute) == (12, 0)
        elif "midnight" in q:
            assert (hour, minute) == (0, 0)
        else:  # "seven thirty", "six oh five", "four o'clock"
            assert hour % 12 in says, (q, t)
        assert (hour >= 12) == (evening and not morning or noon), (q, t)


def test_long_timers_are_said_in_hours(home_examples: list[Example]) -> None:
    timers = [(e.query.lower(), c["arguments"]) for e in home_examples for c in e.calls if c["name"] == "set_timer"]
    long = [(q, a) for q, a in timers if a["minutes"] >= 120 and not a.get("seconds")]
    assert long and all("hour" in q for q, a in long if str(a["minutes"]) not in q)
    assert all(a["minutes"] in (120, 180) for _, a in long)


def test_numbers_are_said_as_digits_and_as_words(home_examples: list[Example]) -> None:
    volume = [e for e in home_examples if len(e.calls) == 1 and e.calls[0]["name"] == "set_volume"]
    with_digits = [e for e in volume if str(e.calls[0]["arguments"]["percent"]) in e.query]
    assert 0.3 * len(volume) < len(with_digits) < 0.9 * len(volume)
    assert all(isinstance(e.calls[0]["arguments"]["percent"], int) for e in volume)
    assert any("twenty" in e.query or "fifty" in e.query or "thirty" in e.query for e in volume)


def test_optional_arguments_are_sometimes_given(home_examples: list[Example]) -> None:
    timers = [c["arguments"] for e in home_examples for c in e.calls if c["name"] == "set_timer"]
    with_seconds = sum("seconds" in a for a in timers)
    assert 0.15 * len(timers) < with_seconds < 0.7 * len(timers)


def test_deterministic_for_a_seed_and_different_for_another(home_tools: list[Any]) -> None:
    a = generate_examples(home_tools, count=300, seed=7)
    b = generate_examples(home_tools, count=300, seed=7)
    c = generate_examples(home_tools, count=300, seed=8)
    assert a == b
    assert len({e.query for e in a} & {e.query for e in c}) < 60


CORE_VARIETY = 0.4
"""Share of a tool's requests whose core (values, numbers and dressing removed) no other request repeats."""


def _template(e: Example) -> str:
    """The request with its argument values and numbers blanked: what a model could memorize."""
    text = e.query.lower()
    for call in e.calls:
        for v in call["arguments"].values():
            if isinstance(v, str):
                text = text.replace(v.lower(), " _ ")
    text = re.sub(r"\d+%?|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|[a-z]+teen|twenty|"
                  r"thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred)\b", " # ", text)
    return " ".join(re.findall(r"[a-z_#']+", text))


# Words that dress a request up without changing what it asks: wake words, fillers, politeness.
_DRESSING = set(re.findall(r"\S+", (
    "hey hi hello ok okay so um uh alright right well yeah hmm oh and computer assistant there buddy excuse me quick "
    "one please pls thanks thank you thx cheers can could would will you i'd like to want need go ahead just quickly "
    "now for if don't mind asap real do a favor kindly be able wondering was let's i")))


def test_variety_is_real(home_examples: list[Example]) -> None:
    queries = [e.query.lower().strip(" .!?") for e in home_examples]
    assert len(set(queries)) >= 0.95 * len(queries)
    by_tool: dict[str, list[Example]] = defaultdict(list)
    for e in home_examples:
        if len(e.calls) == 1:
            by_tool[e.calls[0]["name"]].append(e)
    for name, examples in by_tool.items():
        templates = [_template(e) for e in examples]
        # Two thirds of the requests must differ from every other one once values and numbers are blanked.
        assert len(set(templates)) >= 0.9 * len(templates), name
        trigrams = {tuple(t.split()[i:i + 3]) for t in templates for i in range(len(t.split()) - 2)}
        assert len(trigrams) >= 200, (name, len(trigrams))
        # Stripped of its dressing, the request itself still varies.
        cores = [" ".join(w for w in t.split() if w not in _DRESSING) for t in templates]
        assert len(set(cores)) >= CORE_VARIETY * len(cores), (name, len(set(cores)) / len(cores))
        # The request's core (its first words once fillers are gone) varies too: not one verb for all.
        openings = {" ".join(t.split()[:2]) for t in templates}
        assert len(openings) >= 25, (name, len(openings))


def test_negatives_and_near_misses(home_examples: list[Example]) -> None:
    negatives = [e.query.lower() for e in home_examples if not e.calls]
    assert any("garage" in q or "basement" in q or "attic" in q or "office" in q for q in negatives)
    assert any("joke" in q or "how are you" in q for q in negatives)
    assert any("capital" in q or "who wrote" in q or "how many" in q for q in negatives)
    assert any("email" in q or "pizza" in q or "flight" in q or "call " in q for q in negatives)
    assert any(re.search(r"weather|forecast|umbrella|rain", q) for q in negatives)
    assert any("what time" in q or "date" in q for q in negatives)
    # No room outside the enum is ever the target of a call.
    rooms = {"kitchen", "living room", "bedroom", "bathroom"}
    for e in home_examples:
        for call in e.calls:
            if "room" in call["arguments"]:
                assert call["arguments"]["room"] in rooms


def test_a_weather_tool_gets_no_weather_negatives() -> None:
    examples = generate_examples(WEATHER, count=600, seed=1)
    negatives = [e.query.lower() for e in examples if not e.calls]
    assert len(negatives) >= 100
    assert not [q for q in negatives if re.search(r"\b(weather|forecast|rain|umbrella|snow)", q)]
    weather = [e for e in examples if e.calls and e.calls[0]["name"] == "get_weather"]
    assert weather and all(1 <= c["arguments"].get("days", 1) <= 7 for e in weather for c in e.calls)
    from agent_sdk.tune.phrasing import DEVICES

    assert any(re.search(rf"\b{d}\b", q) for d in DEVICES for q in negatives)  # "turn on the kettle" beside lights


def test_stats(home_examples: list[Example], home_tools: list[Any]) -> None:
    stats = example_stats(home_examples, tools=home_tools)
    assert stats["total"] == 2000 and stats["distinct_queries"] == 2000
    assert stats["negatives"] == stats["by_source"]["negative"]
    assert set(stats["per_tool"]) == {t.name for t in home_tools}
    assert {k for k in stats["per_enum_value"] if k.startswith("turn_on_lights.room=")} == {
        f"turn_on_lights.room={r}" for r in ("kitchen", "living room", "bedroom", "bathroom")}
    assert not [k for k in stats["per_enum_value"] if k.startswith("add_to_shopping_list")]
    assert json.loads(json.dumps(stats)) == stats


def test_user_examples_are_expanded_and_weighted(tmp_path: Path, home_tools: list[Any]) -> None:
    path = tmp_path / "mine.jsonl"
    rows = [
        {"q": "dim the {room} to {percent} percent",
         "calls": [{"name": "set_brightness", "arguments": {"room": "{room}", "percent": "{percent}"}}]},
        {"q": "what's the meaning of life", "calls": []},
        {"q": "get {item} and {minutes} minute timer", "calls": [
            {"name": "add_to_shopping_list", "arguments": {"item": "{item}"}},
            {"name": "set_timer", "arguments": {"minutes": "{minutes}"}}]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    examples = load_user_examples(path, home_tools, seed=0, expansions=4)
    assert all(e.source == "user" and e.weight == USER_WEIGHT for e in examples)
    dims = [e for e in examples if e.calls and e.calls[0]["name"] == "set_brightness"]
    assert 2 <= len(dims) <= 4
    for e in dims:
        args = e.calls[0]["arguments"]
        assert isinstance(args["percent"], int) and 0 <= args["percent"] <= 100
        assert args["room"] in e.query and "{" not in e.query
    assert [e for e in examples if e.query == "what's the meaning of life" and e.calls == ()]
    pairs = [e for e in examples if len(e.calls) == 2]
    assert pairs and all(e.calls[0]["arguments"]["item"] in e.query for e in pairs)
    # The user's examples go into the set as they are and are never repeated by generated ones.
    mixed = generate_examples(home_tools, count=200, user_examples=examples, seed=0)
    assert [e for e in mixed if e.source == "user"] and len({e.query for e in mixed}) == len(mixed)


def test_user_examples_from_several_files_keep_a_request_once(tmp_path: Path, home_tools: list[Any]) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text('{"q": "lights on in the kitchen", "calls": [{"name": "turn_on_lights", '
                     '"arguments": {"room": "kitchen"}}]}\n{"q": "tell me a joke", "calls": []}\n')
    # The voice example's command sets write the request as "text".
    second.write_text('{"id": "x1", "text": "Tell me a joke!", "calls": []}\n'
                      '{"id": "x2", "text": "read my shopping list", "calls": [{"name": "read_shopping_list"}]}\n')
    examples = load_user_examples([first, second], home_tools)
    assert [e.query for e in examples] == ["lights on in the kitchen", "tell me a joke", "read my shopping list"]
    assert examples[2].calls == ({"name": "read_shopping_list", "arguments": {}},)
    # One file in a list reads as the file alone (same seed, same slot values).
    assert load_user_examples([first], home_tools) == load_user_examples(first, home_tools)


def test_user_examples_that_are_not_text_raise(tmp_path: Path, home_tools: list[Any]) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_bytes(b'{"q": "caf\xe9", "calls": []}\n')
    with pytest.raises(UserError, match=r"mine\.jsonl.*not UTF-8"):
        load_user_examples(path, home_tools)
    with pytest.raises(UserError, match="cannot read"):
        load_user_examples([tmp_path / "missing.jsonl"], home_tools)


@pytest.mark.parametrize(("line", "problem"), [
    ("not json", "not JSON"),
    ('{"q": "open the pod bay doors", "calls": [{"name": "open_doors", "arguments": {}}]}', "unknown tool"),
    ('{"q": "lights on in the {place}", "calls": [{"name": "turn_on_lights", "arguments": {"room": "{place}"}}]}',
     "no parameter named 'place'"),
    ('{"q": "lights on in the garage", "calls": [{"name": "turn_on_lights", "arguments": {"room": "garage"}}]}',
     "invalid arguments"),
    ('{"query": "hi"}', "expected"),
])
def test_bad_user_lines_name_the_file_and_line(tmp_path: Path, home_tools: list[Any], line: str,
                                               problem: str) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text('{"q": "thanks", "calls": []}\n\n' + line + "\n")
    with pytest.raises(UserError, match=rf"mine\.jsonl:3: .*{re.escape(problem)}"):
        load_user_examples(path, home_tools)


def test_bad_options_and_tools_raise() -> None:
    with pytest.raises(UserError, match="negative_share"):
        generate_examples(MEDIA, negative_share=0.9, pair_share=0.2)
    with pytest.raises(UserError, match="duplicate"):
        generate_examples([MEDIA[0], MEDIA[0]])
    with pytest.raises(UserError, match="a tool must be"):
        generate_examples([42])


def test_the_module_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, agent_sdk.tune.examples; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_a_documented_minute_range_above_ninety_is_drawn_across_the_range() -> None:
    """Random minute counts stop at 90 only for ranges that start below it; a range of 100 to 500 keeps its spread."""
    roast = [_fn("start_roast_timer", "Start the oven's roast timer.",
                 {"minutes": {"type": "integer", "description": "Minutes to roast, from 100 to 500."}}, ["minutes"])]
    minutes = {c["arguments"]["minutes"] for e in generate_examples(roast, count=200, seed=0) for c in e.calls}
    assert minutes and all(100 <= m <= 500 for m in minutes) and max(minutes) > 200


# Tools whose descriptions say what their values mean (the car cabin example's conventions).
CAR = [
    _fn("set_door_locks", "Lock or unlock all the doors.",
        {"locked": {"type": "boolean", "description": "True to lock the doors, False to unlock them."}}, ["locked"]),
    _fn("set_air_conditioning", "Turn the air conditioning on or off.",
        {"on": {"type": "boolean", "description": "True to turn it on, False to turn it off."}}, ["on"]),
    _fn("set_window", "Open or close a window.",
        {"window": {"type": "string", "enum": ["driver", "passenger", "all"], "description": "Which window."},
         "open_percent": {"type": "integer", "description":
                          "How far open, from 0 (closed) to 100 (fully open), like 50 for halfway."}},
        ["window", "open_percent"]),
    _fn("set_fan_speed", "Set how hard the climate fan blows.",
        {"speed": {"type": "integer", "description": "Fan speed from 1 (gentlest) to 7 (strongest)."}}, ["speed"]),
    _fn("tune_radio", "Tune the FM radio to a station.",
        {"frequency": {"type": "number", "description": "The station's frequency in MHz, from 87.5 to 108, like 101.1."}},
        ["frequency"]),
    _fn("navigate_to", "Start route guidance to a place.",
        {"destination": {"type": "string", "description": 'A place, like "the airport".'},
         "avoid_tolls": {"type": "boolean", "description":
                         "True to stay off toll roads; False (the default) to take the fastest route."}},
        ["destination"]),
    _fn("call_contact", "Phone one of the contacts on the paired phone.",
        {"name": {"type": "string", "description": 'The contact\'s name as saved, like "Mom" or "Dave Miller".'}},
        ["name"]),
    _fn("send_message", "Send a text message from the paired phone.",
        {"contact": {"type": "string", "description": 'Who gets it, like "Sarah".'},
         "text": {"type": "string", "description": 'The message, in the user\'s words, like "running late".'}},
        ["contact", "text"]),
    _fn("set_fan_mode", "Choose where the climate air blows.",
        {"mode": {"type": "string", "enum": ["auto", "face", "feet", "windshield"], "description":
                  '"auto", "face", "feet", or "windshield" (to clear a fogged windshield).'}}, ["mode"]),
    _fn("set_media_source", "Switch what the speakers play.",
        {"source": {"type": "string", "enum": ["radio", "bluetooth", "usb"], "description":
                    '"radio" (the default), "bluetooth" (the phone), or "usb" (a USB stick).'}}, ["source"]),
    _fn("set_seat_heating", "Heat a seat, or turn its heating off.",
        {"seat": {"type": "string", "enum": ["driver", "passenger"], "description": "Which seat."},
         "level": {"type": "integer", "default": 2, "description": "Heat from 0 (off) to 3 (hottest); 2 when not said."}},
        ["seat"]),
    _fn("set_temperature", "Set the climate control's temperature.",
        {"celsius": {"type": "number", "description": "Temperature in degrees Celsius, from 16 to 30."},
         "zone": {"type": "string", "enum": ["driver", "passenger", "rear", "all"], "description": "Which side."}},
        ["celsius"]),
    _fn("open_trunk", "Open the trunk.", {}, []),
    _fn("set_volume", "Set the speaker volume.",
        {"level": {"type": "integer", "description": "Volume from 0 (muted) to 40 (loudest)."}}, ["level"]),
]


@pytest.fixture(scope="module")
def car_examples() -> list[Example]:
    return generate_examples(CAR, count=1500, seed=0, state_questions=True)


def _calls_of(examples: list[Example], name: str) -> list[tuple[str, dict[str, Any]]]:
    return [(e.query.lower(), c["arguments"]) for e in examples if len(e.calls) == 1
            for c in e.calls if c["name"] == name]


def test_a_flag_is_said_as_what_its_description_says_each_value_does(car_examples: list[Example]) -> None:
    """"True to lock the doors, False to unlock them": a request never says "lock" for False or "unlock" for True."""
    locks = _calls_of(car_examples, "set_door_locks")
    assert len(locks) >= 20
    for query, args in locks:
        assert ("unlock" in query) == (args["locked"] is False), query
        assert "with locked" not in query and "locked on" not in query, query
    ac = _calls_of(car_examples, "set_air_conditioning")
    assert len(ac) >= 20
    for query, args in ac:
        words = re.findall(r"[a-z]+", query)
        assert ("on" in words) == args["on"] and ("off" in words) != args["on"], query
        # "turn it on": the pronoun is the tool's object, said in full or as people shorten it.
        assert re.search(r"air conditioning|air conditioner|\bac\b|a/c|air con\b|aircon", query), query
    assert any(re.search(r"\bac\b", q) for q, _ in ac) and any("air conditioning" in q for q, _ in ac)
    # An optional flag closes the request with its clause.
    routes = [(q, a) for q, a in _calls_of(car_examples, "navigate_to") if "avoid_tolls" in a]
    assert routes
    for query, args in routes:
        said = "stay off toll roads" if args["avoid_tolls"] else "take the fastest route"
        assert said in query, query


def test_a_range_with_named_ends_is_the_documented_range(car_examples: list[Example]) -> None:
    """"from 1 (gentlest) to 7 (strongest)" is 1 to 7 (its parentheses once hid the range: speeds up to 20)."""
    speeds = [a["speed"] for _, a in _calls_of(car_examples, "set_fan_speed")]
    assert speeds and min(speeds) >= 1 and max(speeds) <= 7 and len(set(speeds)) == 7
    named = [q for q, a in _calls_of(car_examples, "set_fan_speed") if "strongest" in q or "gentlest" in q]
    assert named and all(("strongest" in q) == (a["speed"] == 7)
                         for q, a in _calls_of(car_examples, "set_fan_speed") if q in named)


def test_a_verb_naming_one_value_is_used_for_that_value_only(car_examples: list[Example]) -> None:
    """"Open or close a window" with "0 (closed)": "close" means 0, and says it without a number."""
    windows = _calls_of(car_examples, "set_window")
    closes = [(q, a) for q, a in windows if re.search(r"\bclose\b", q)]
    assert closes and all(a["open_percent"] == 0 for _, a in closes)
    assert any(not re.search(r"\d|zero|percent", q) for q, _ in closes)  # "close the driver window"
    opens = [(q, a) for q, a in windows if re.search(r"\bopen\b", q)]
    assert opens and all(a["open_percent"] > 0 for _, a in opens)
    # The enum that picks the window is said before it: "the driver window", "all the windows".
    assert sum(bool(re.search(r"\b(driver|passenger) window\b|\ball (the )?windows\b", q)) for q, _ in windows) \
        >= len(windows) * 0.6
    assert not any("with window" in q or "window: " in q for q, _ in windows)


def test_a_documented_decimal_is_drawn_and_said(car_examples: list[Example]) -> None:
    """"like 101.1": frequencies with one decimal, some said in words ("ninety four point five")."""
    stations = _calls_of(car_examples, "tune_radio")
    decimals = [(q, a["frequency"]) for q, a in stations if not float(a["frequency"]).is_integer()]
    assert len(decimals) >= len(stations) // 4
    assert all(87.5 <= f <= 108 and round(f, 1) == f for _, f in decimals)
    assert any(" point " in q for q, _ in decimals)


def test_odd_descriptions_never_make_a_request_say_other_than_its_call() -> None:
    """What a review found in the first version: each case now reads right or falls back to the parameter's name."""
    tools = [
        _fn("set_volume", "Set the volume.",
            {"level": {"type": "integer", "description": "Volume level (0-10)."}}, ["level"]),
        _fn("set_wifi", "Switch the wifi.", {"on": {"type": "boolean", "description": "True to enable, False to disable."}},
            ["on"]),
        _fn("set_clock", "Set the clock style.",
            {"h24": {"type": "boolean", "description": "True to lock and false to unlock"}}, ["h24"]),
        _fn("set_door_lock", "Lock or unlock a door.",
            {"door": {"type": "string", "enum": ["front", "back"]},
             "locked": {"type": "boolean", "description": "True to lock it, False to unlock it."}}, ["door", "locked"]),
        _fn("set_route", "Plan a route to a place.",
            {"place": {"type": "string", "description": 'Like "the airport".'},
             "avoid": {"type": "boolean", "description": "True to avoid them; False to take the fastest route."}},
            ["place"]),
        _fn("set_vents", "Set the vents.",
            {"front": {"type": "integer", "description": "from 0 (off) to 5"},
             "rear": {"type": "integer", "description": "from 0 (off) to 5"}}, ["front", "rear"]),
    ]
    examples = generate_examples(tools, count=600, seed=1)
    by_tool: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for e in examples:
        if len(e.calls) == 1:
            by_tool[e.calls[0]["name"]].append((e.query.lower(), e.calls[0]["arguments"]))
    assert {a["level"] for _, a in by_tool["set_volume"]} <= set(range(11))  # "(0-10)" is the range
    assert not any(q.strip(" ?!.") in ("enable", "disable") for q, _ in by_tool["set_wifi"])  # no bare verb
    assert {a["h24"] for _, a in by_tool["set_clock"]} == {True, False}  # a clause run-on is no clause
    assert not any("false to" in q for q, _ in by_tool["set_clock"])
    locks = by_tool["set_door_lock"]
    assert locks and all(("unlock" in q) == (a["locked"] is False) for q, a in locks)  # other arguments kept
    assert not any("avoid the fastest route" in q for q, _ in by_tool["set_route"])
    for q, a in by_tool["set_vents"]:  # two numbers named "off": one of them said by a verb at most
        assert sum(v == 0 for v in a.values()) >= ("off" in q.split()), q


def test_calls_routes_and_stations_are_asked_with_their_own_verbs(car_examples: list[Example]) -> None:
    """A call is not "sent" ("call" once joined the send verbs: "fire off dave miller"), a route is not "created"
    ("set up a navigate to the airport"), the name's verb is not its object ("tune the tune radio"), and a description
    that goes on with a clause ("Set how hard the climate fan blows") gives no object ("climate fan blows")."""
    calls = _calls_of(car_examples, "call_contact")
    assert len(calls) >= 20
    for query, args in calls:
        assert args["name"].lower() in query, query
        assert not re.search(r"\b(send|shoot|fire off|write|text|one of)\b", query), query
    assert {v for q, _ in calls for v in ("call", "ring", "phone", "dial") if re.search(rf"\b{v}\b", q)} == \
        {"call", "ring", "phone", "dial"}
    routes = _calls_of(car_examples, "navigate_to")
    for query, args in routes:
        assert args["destination"].lower() in query, query
        assert not re.search(r"\ba navigate\b|\bplace for\b|\bnavigate for\b", query), query
    assert sum(" to " + a["destination"].lower() in q for q, a in routes) >= len(routes) * 0.8
    for query, _ in _calls_of(car_examples, "tune_radio"):
        assert not re.search(r"\btune (the |my |a )?tune\b", query), query
    for query, _ in _calls_of(car_examples, "set_fan_speed") + _calls_of(car_examples, "set_fan_mode"):
        assert "blows" not in query, query
    texts = _calls_of(car_examples, "send_message")
    assert any(re.match(rf"(\w+ )*text {re.escape(a['contact'].lower())} ", q) for q, a in texts)


def test_an_enum_value_is_said_by_its_gloss_for_that_value_only(car_examples: list[Example]) -> None:
    """'"windshield" (to clear a fogged windshield)' is a request of its own; '"usb" (a USB stick)' names the value;
    "(the default)" is no gloss."""
    modes = _calls_of(car_examples, "set_fan_mode")
    fogged = [(q, a) for q, a in modes if "clear a fogged windshield" in q]
    assert fogged and all(a["mode"] == "windshield" for _, a in fogged)
    assert any("mode" not in q for q, _ in fogged)
    sources = _calls_of(car_examples, "set_media_source")
    assert any("usb stick" in q for q, _ in sources)
    assert all(a["source"] == "usb" for q, a in sources if "usb stick" in q)
    assert all(a["source"] == "bluetooth" for q, a in sources if "the phone" in q)
    assert not any(re.search(r"\bthe (the|a)\b|the default", q) for q, _ in sources)


def test_a_setter_whose_default_turns_it_on_is_asked_to_turn_it_on(car_examples: list[Example]) -> None:
    """Seat heat "from 0 (off) to 3, 2 when not said": without a level the request heats or turns on the seat
    ("bring the driver seat" said nothing)."""
    seats = _calls_of(car_examples, "set_seat_heating")
    bare = [q for q, a in seats if "level" not in a]
    assert len(bare) >= 10
    for query in bare:
        assert re.search(r"\bheat\b|\bon\b", query), query
    assert not any(re.search(r"\b(create|set up|start)\b", q) for q, _ in seats)


def test_open_is_not_unlock_and_all_is_not_paired(car_examples: list[Example]) -> None:
    """"unlock the trunk" asks for another thing; "the rear and all" is not two zones."""
    assert not any("unlock" in q for q, _ in _calls_of(car_examples, "open_trunk"))
    pairs = [e for e in car_examples if len(e.calls) == 2 and e.calls[0]["name"] == e.calls[1]["name"]]
    assert pairs
    assert not any("all" in (c["arguments"].get("zone"), c["arguments"].get("window")) for e in pairs for c in e.calls)


def test_questions_about_a_state_the_tools_only_set_are_declined(car_examples: list[Example]) -> None:
    """"are the doors locked" / "is the trunk open": the tools change these, none reads them, so no call."""
    negatives = [e.query.lower() for e in car_examples if not e.calls]
    asked = [q for q in negatives if re.search(r"\b(is|are) the (doors|trunk|air conditioning)\b", q)]
    assert asked
    assert any(re.search(r"\bdoors (are )?(still )?(locked|unlocked)\b", q) for q in asked)
    assert any(re.search(r"\b(is|if|leave) the trunk (is )?(still )?(open|closed)\b", q)  # "check if the trunk is"
               for q in negatives)
    assert not any(re.search(r"\b(is|are) the .* (lock|unlock|turn|close)\b", q) for q in asked)
    calls = [e.query.lower() for e in car_examples if e.calls]
    assert not any(re.match(r"(\w+ ){0,3}(is|are) the (doors|trunk)\b", q) for q in calls)
    # A tool that reads the doors serves the question: then it is not generated as one to decline.
    reader = _fn("get_door_status", "Report whether the doors are locked.", {}, [])
    with_reader = generate_examples([CAR[0], reader], count=400, seed=0, state_questions=True)
    assert not any(re.search(r"\bdoors (are )?(still )?(locked|unlocked)\b", e.query.lower())
                   for e in generate_examples(CAR, count=400, seed=0) if not e.calls)  # off by default
    assert not any(re.search(r"\bdoors (are )?(still )?(locked|unlocked)\b", e.query.lower())
                   for e in with_reader if not e.calls)


def test_the_ends_of_a_range_are_said_as_people_say_them(car_examples: list[Example]) -> None:
    """"0 (muted)" is "mute the volume"; a range's top is "all the way up" or "max out" (never for a window, whose
    "up" means closed)."""
    volumes = _calls_of(car_examples, "set_volume")
    mutes = [(q, a) for q, a in volumes if re.search(r"\bmute\b", q)]
    assert mutes and all(a["level"] == 0 for _, a in mutes)
    ups = [(q, a) for q, a in volumes + _calls_of(car_examples, "set_fan_speed")
           if "all the way up" in q or "up all the way" in q or "max out" in q]
    assert ups and all(a.get("level", a.get("speed")) in (40, 7) for _, a in ups)
    downs = [(q, a) for q, a in volumes if "all the way down" in q or "down all the way" in q]
    assert all(a["level"] == 0 for _, a in downs)
    windows = _calls_of(car_examples, "set_window")
    assert not any("all the way" in q for q, _ in windows)
    halfway = [(q, a) for q, a in windows if "halfway" in q]  # "like 50 for halfway"
    assert halfway and all(a["open_percent"] == 50 and "to halfway" not in q for q, a in halfway)


@pytest.mark.parametrize(("description", "verbs", "objects"), [
    ("Turn on the kitchen lights.", ["turn on"], ["kitchen lights"]),
    ("Dim or brighten the lights in a room.", ["dim", "brighten"], ["lights"]),
    ("Phone one of the contacts on the paired phone.", ["phone"], ["contact"]),  # not "phone one of"; one contact
    ("Pick one of the presets.", ["pick"], ["preset"]),
    ("Play one of the user's saved playlists.", ["play"], ["saved playlist"]),  # the user is "my"
    ("Play music: a song, an artist or a genre.", [], []),  # a colon spells the object out: the name says it
    ("Set how hard the climate fan blows.", ["set"], []),  # a clause, not "climate fan blows"
    ("Choose where the climate air blows.", ["choose"], []),
])
def test_a_description_gives_its_verbs_and_objects(description: str, verbs: list[str], objects: list[str]) -> None:
    from agent_sdk.tune.examples import _parse_description

    got_verbs, _, got_objects, _ = _parse_description(description)
    assert (got_verbs, got_objects) == (verbs, objects)


def test_review_cases_read_right_or_fall_back() -> None:
    """What a review of the call/navigate families, glosses, marks and state questions found in their first versions."""
    tools = [
        _fn("phone_number_lookup", "Look up the phone number of a business.",
            {"business": {"type": "string", "description": "Business name"}}, ["business"]),
        _fn("route_ticket", "Route a support ticket to a team.",
            {"team": {"type": "string", "enum": ["billing", "sales"]}}, ["team"]),
        _fn("ring_doorbell", "Ring the front doorbell chime.", {}, []),
        _fn("plan_route", "Plan a route between two places.",
            {"origin": {"type": "string", "description": "Where from."},
             "destination": {"type": "string", "description": "Where to."}}, ["origin", "destination"]),
        _fn("set_drive_mode", "Change how the car drives.",
            {"mode": {"type": "string", "enum": ["comfort", "sport", "dynamic"], "description":
                      '"comfort", "sport" (the same as "dynamic"), "dynamic" (to be removed in v2)'}}, ["mode"]),
        _fn("set_unit", "Choose the display unit.",
            {"unit": {"type": "string", "enum": ["celsius", "fahrenheit"],
                      "description": 'Either "celsius" or "fahrenheit" (the display unit).'}}, ["unit"]),
        _fn("set_seat_heater", "Enable or disable a seat heater.",
            {"seat": {"type": "string", "enum": ["driver", "passenger"], "description": "Which seat."},
             "level": {"type": "integer", "default": 2, "description": "Heat from 0 (off) to 3 (hottest)."}}, ["seat"]),
        _fn("set_blinds", "Set the blinds position.",
            {"position": {"type": "integer", "description": "From 0 (closed) to 100 (raised)."}}, ["position"]),
        _fn("set_shade", "Set the sunshade position.",
            {"position": {"type": "integer", "description": "From 0 (fully open) to 100 (fully shut)."}}, ["position"]),
        _fn("set_heater", "Turn the heater on or off.",
            {"on": {"type": "boolean", "description": "True to turn on the heater, False to turn off the heater."}},
            ["on"]),
        CAR[0],  # set_door_locks
        _fn("is_door_locked", "Whether the doors are locked.", {}, []),
    ]
    examples = generate_examples(tools, count=1500, seed=0, state_questions=True)
    for query, _ in (_calls_of(examples, "phone_number_lookup") + _calls_of(examples, "route_ticket")
                     + _calls_of(examples, "ring_doorbell")):
        assert not re.search(r"\b(call|dial|navigate to|take me to|get me to|a ring)\b", query), query
    routes = [(q, a) for q, a in _calls_of(examples, "plan_route") if a["origin"] != a["destination"]]
    assert routes
    for query, args in routes:
        assert not re.search(rf"\b(to|for) {re.escape(args['origin'].lower())}\b", query), query
    for query, args in _calls_of(examples, "set_drive_mode") + _calls_of(examples, "set_unit"):
        assert (args.get("mode") or args.get("unit")) in query, query  # notes in parentheses are no glosses
    for query, args in _calls_of(examples, "set_seat_heater"):
        assert "level" in args or "disable" not in query, query
    for query, _ in _calls_of(examples, "set_blinds"):
        assert not re.search(r"\b(clos|rais)\b", query), query
    assert not any("all the way" in q or "max out" in q for q, _ in _calls_of(examples, "set_shade"))
    negatives = [e.query.lower() for e in examples if not e.calls]
    heater = [q for q in negatives if "heater" in q and re.search(r"\b(is|if)\b", q)]
    assert heater and all(re.search(r"heater (is )?(still )?(on|off)\b", q) for q in heater), heater[:5]
    assert not any(re.search(r"\bdoors (are )?(still )?(locked|unlocked)\b", q) for q in negatives)  # is_door_locked
    from agent_sdk.tune.examples import _parse_description

    assert _parse_description("Take care of the plants.")[0] == ["take care of"]


CAR_PARTS = [
    _fn("set_seat_heating", "Heat the driver's or passenger's seat.",
        {"seat": {"type": "string", "enum": ["driver", "passenger"]},
         "level": {"type": "integer", "minimum": 0, "maximum": 3}}, ["seat", "level"]),
    _fn("open_trunk", "Open the car's trunk.", {}, []),
    _fn("set_wipers", "Run the windshield wipers.",
        {"speed": {"type": "string", "enum": ["off", "slow", "fast"]}}, ["speed"]),
]


def _words_of(tools: list[Any]) -> set[str]:
    from agent_sdk.tune.examples import _build_tools

    return set().union(*(t.words for t in _build_tools(tools)))


def test_a_car_tool_set_gets_the_car_features_it_lacks_and_never_one_it_has() -> None:
    """"flash the high beams" beside seat and trunk tools is declined; "start the wipers" is not, with a wipers tool."""
    from agent_sdk.tune.examples import domain_features

    names = {n for ns, _ in domain_features(_words_of(CAR_PARTS)) for n in ns}
    assert {"the high beams", "the horn", "the sunroof", "cruise control"} <= names
    assert not {n for n in names if "wiper" in n}  # set_wipers serves them
    negatives = [e.query.lower() for e in generate_examples(CAR_PARTS, count=1500, seed=0) if not e.calls]
    assert any(re.search(r"beams|horn|sunroof|cruise|hazard|mirror", q) for q in negatives)
    assert not [q for q in negatives if "wiper" in q]
    # A domain needs two of its cues: the weather and media tools get no car features, the home tools none either.
    assert not {n for ns, _ in domain_features(_words_of(WEATHER)) for n in ns} & names


def test_home_tools_get_home_features_not_car_ones(home_tools: list[Any]) -> None:
    from agent_sdk.tune.examples import domain_features

    names = {n for ns, _ in domain_features(_words_of(home_tools)) for n in ns}
    assert "the blinds" in names and "the dishwasher" in names
    assert "the high beams" not in names and "the horn" not in names
    assert not [n for n in names if "light" in n]  # the home's own lights are served


def test_one_word_meets_one_cue_and_a_feature_named_by_a_synonym_is_served() -> None:
    """"contact" and "contacts" are one cue (a CRM gets no phone negatives); a roof tool serves "open the sunroof"."""
    from agent_sdk.tune.examples import domain_features

    assert domain_features({"contact", "contacts"}) == [] and domain_features({"room", "rooms"}) == []
    roof = [*CAR_PARTS, _fn("open_roof", "Open the panoramic roof.", {}, []),
            _fn("end_call", "End the current call.", {}, []), _fn("set_headlamps", "Switch the headlamps.", {}, [])]
    names = {n for ns, _ in domain_features(_words_of(roof)) for n in ns}
    assert not {"the sunroof", "the headlights", "the call"} & names and "the horn" in names


def test_no_negative_names_a_tool_object_by_the_generator_s_own_alternatives() -> None:
    """"ac" is how the generator says "air conditioning": an on/off air-conditioning tool never declines "ac on"."""
    ac = [_fn("turn_on_air_conditioning", "Turn on the air conditioning.", {}, []),
          _fn("turn_off_air_conditioning", "Turn off the air conditioning.", {}, [])]
    examples = generate_examples(ac, count=600, seed=0)
    assert any(re.search(r"\bac\b", e.query.lower()) for e in examples if e.calls)
    assert not [e.query for e in examples if not e.calls and re.search(r"\bac\b|a/c|air con", e.query.lower())]


def test_the_same_seed_gives_the_same_examples_in_any_process() -> None:
    """Nothing in the generator may depend on set order (string hashes change per process): a resumed tune checks
    the data's hash against the checkpoint's. Four processes with other hash seeds, the car example's tools."""
    import hashlib
    import os
    import subprocess
    import sys

    code = ("import hashlib, json; from agent_sdk.tools.loading import load_tools; "
            "from agent_sdk.tune.examples import generate_examples; "
            "ex = generate_examples(load_tools('examples/car_cabin/cabin_tools.py'), count=600, seed=3); "
            "print(hashlib.sha256(json.dumps([[e.query, e.calls] for e in ex]).encode()).hexdigest())")
    root = Path(__file__).resolve().parents[2]
    digests = set()
    for hash_seed in ("1", "2", "3", "4"):  # string hashes order sets differently in each (a pair may agree by luck)
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                             check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1 and len(next(iter(digests))) == len(hashlib.sha256().hexdigest())


# Tools named for their own verb, which no verb family covers (the home robot example's shapes).
ROBOT = [
    _fn("drive", "Drive the robot straight ahead or back.",
        {"direction": {"type": "string", "enum": ["forward", "backward"]},
         "centimeters": {"type": "integer", "description": "How far, from 1 to 300 centimeters."}},
        ["direction", "centimeters"]),
    _fn("go_to", "Send the robot to a room.",
        {"place": {"type": "string", "enum": ["kitchen", "bedroom", "garden"]}}, ["place"]),
    _fn("pick_up", "Pick up an object with the arm.",
        {"item": {"type": "string", "description": 'What to pick up, like "my keys".'}}, ["item"]),
    _fn("put_down", "Put down what the arm is holding.", {}, []),
    _fn("follow_me", "Make the robot follow the person, or stop following.",
        {"on": {"type": "boolean", "description": "True to start following, False to stop."}}, ["on"]),
    _fn("say", "Say something aloud through the robot's speaker.",
        {"text": {"type": "string", "description": 'What to say, like "dinner is ready".'}}, ["text"]),
    _fn("set_speed", "Set how fast the robot drives.",
        {"speed": {"type": "string", "enum": ["slow", "fast"]}}, ["speed"]),
]


def test_tools_named_for_their_own_verb_are_asked_with_it() -> None:
    """"pick up my keys", "go to the kitchen", "drive forward 50 cm": not the verb families' "switch up the object"
    or "send the go" (a name's first word that is some family's key, "pick", "put", or a description's "send")."""
    examples = generate_examples(ROBOT, count=700, seed=0)
    by_tool: dict[str, list[str]] = defaultdict(list)
    for e in examples:
        if len(e.calls) == 1:
            by_tool[e.calls[0]["name"]].append(e.query.lower())
    verbs = {"drive": "drive", "go_to": "go to", "pick_up": "pick up", "put_down": "put down", "say": "say"}
    for name, verb in verbs.items():
        queries = by_tool[name]
        assert len(queries) >= 20, name
        # typos aside ("picck up"), every request says the tool's verb or another way to say it ("grab", "head to"),
        # the tool's own verb at least a third of the time, and never twice ("drive drive")
        ways = [verb] + [w.replace(" *", "") for w in ph.VERB_ALTERNATIVES[verb]]
        said = [q for q in queries if any(w in q for w in ways) or re.search(r"\b(put|set) it down", q)]
        assert len(said) >= 0.8 * len(queries), (name, [q for q in queries if q not in said][:5])
        assert sum(verb in q for q in queries) >= len(queries) / 3, name
        assert len({w.split()[0] for w in ways if any(w in q for q in queries)}) >= 3, name  # not one verb only
        assert not any(f"{verb} {verb}" in q for q in queries), name
    for name in ("pick_up", "say"):  # the object right after the verb: "pick up oat milk", "say happy birthday"
        values = [(e.query.lower(), e.calls[0]["arguments"]) for e in examples if len(e.calls) == 1
                  and e.calls[0]["name"] == name]
        ways = [verbs[name]] + [w.replace(" *", "") for w in ph.VERB_ALTERNATIVES[verbs[name]]]
        after = [q for q, a in values if any(f"{w} {next(iter(a.values())).lower()}" in q for w in ways)]
        assert len(after) >= 0.8 * len(values), name
    # a tool acting on what it holds, with nothing to name: "put it down", "drop it", never "put down it"
    downs = by_tool["put_down"]
    assert any(re.search(r"\bput it down\b", q) for q in downs) and any(re.search(r"\bdrop it\b", q) for q in downs)
    assert not any(re.search(r"\bdown it\b|let go of[.!?]?$|\bthe it\b", q) for q in downs)
    # the unit a number's parameter is named for is said with it, most of the time
    drives = by_tool["drive"]
    assert sum(("centimeter" in q or " cm" in q) for q in drives) >= 0.4 * len(drives)
    # a flag that stops what the tool's name does: "follow me" / "stop following me"
    for e in examples:
        for c in e.calls:
            if c["name"] == "follow_me" and len(e.calls) == 1:
                q = e.query.lower()
                stops = re.search(r"\b(stop|quit|no more)\b|\bdon'?t follow", q) is not None
                assert stops == (c["arguments"]["on"] is False), e.query
    # the same count said once: "drive 1 centimeter", never "1 centimeters"
    ones = [e.query.lower() for e in examples if len(e.calls) == 1 and e.calls[0]["name"] == "drive"
            and e.calls[0]["arguments"]["centimeters"] == 1]
    assert ones and not any("centimeters" in q for q in ones)


def test_which_names_are_their_own_verb() -> None:
    """Names a verb family covers keep its verbs; a flag is "stop doing it" only when it turns the action on or off."""
    from agent_sdk.tune.examples import _build_tool, _ing

    def family(name: str, description: str, properties: dict[str, Any] | None = None) -> str:
        return _build_tool(_fn(name, description, properties or {}, [])["function"]).family

    assert family("turn_up_volume", "Turn up the volume.") == "increase"  # raise, boost ... stay
    assert family("set_speed", "Set how fast the robot drives.") == "set"
    assert family("stop_moving", "Stop the robot where it is.") == "own"
    assert family("start_meeting", "Create a meeting about a topic.",
                  {"topic": {"type": "string"}}) != "own"  # "meeting" is what the description creates
    assert family("pick_up", "Pick up the phone.") == "own"
    assert family("drive", "Drive somewhere.") == "own"  # no article after the verb: still not "drive drive"
    to_city = [e.query.lower() for e in generate_examples(
        [_fn("drive", "Drive somewhere.", {"city": {"type": "string", "description": 'A city, like "Oslo".'}},
             ["city"])], count=60, seed=0) if e.calls]
    ways = ["drive"] + ph.VERB_ALTERNATIVES["drive"]  # "drive to berlin", "head to oslo"
    assert sum(any(f"{w} to " in q for w in ways) for q in to_city) >= 0.7 * len(to_city) > 0
    assert sum("drive to " in q for q in to_city) >= len(to_city) / 3
    assert [_ing(w) for w in ("follow me", "drive", "stop", "quit", "tie", "open")] == [
        "following me", "driving", "stopping", "quitting", "tying", "opening"]
    tools = [
        _fn("pick_up", "Pick up the phone.", {}, []),
        _fn("stop_moving", "Stop the robot where it is.", {}, []),
        _fn("drive", "Drive the robot.", {"reverse": {"type": "boolean", "description": "Drive backwards."}},
            ["reverse"]),
        _fn("start_patrol", "Patrol the house.", {"rounds": {"type": "integer", "minimum": 1, "maximum": 3}}, []),
    ]
    queries = defaultdict(list)
    for e in generate_examples(tools, count=400, seed=1):
        if len(e.calls) == 1:
            queries[e.calls[0]["name"]].append((e.query.lower(), e.calls[0]["arguments"]))
    picks = [re.sub(r"\b(the|my) ", "", q) for q, _ in queries["pick_up"]]  # "pick up the phone", "grab my phone"
    ways = ["pick up"] + [w.replace("*", "phone") for w in ph.VERB_ALTERNATIVES["pick up"]]
    assert sum(any(w.replace("* ", "") + " phone" in q or w in q for w in ways) and "phone" in q
               for q in picks) >= 0.7 * len(picks)
    assert sum("pick up phone" in q for q in picks) >= len(picks) / 3
    stops = [q for q, _ in queries["stop_moving"]]  # "stop moving", "stop", "halt" (typos aside): never "all movings"
    ways = ["stop"] + ph.VERB_ALTERNATIVES["stop moving"]
    assert sum(any(w in q for w in ways) for q in stops) >= 0.9 * len(stops) > 0
    assert not any("moving" in q.replace("stop moving", "") for q, _ in queries["stop_moving"])
    assert not any(re.search(r"\b(stop|quit|don'?t) driv", q) for q, _ in queries["drive"])  # reverse=False is not
    assert not any("house" in q for q, _ in queries["start_patrol"])  # what is patrolled names no patrol


def test_round_lengths_are_also_said_in_the_larger_unit() -> None:
    """``centimeters=150`` is sometimes asked "1.5 meters" / "a meter and a half", as people say round lengths; the
    agent's spoken values read every such request back to the call's value (the generator and the reader agree)."""
    from agent_sdk.agent.spoken_values import said_values

    drive = ROBOT[0]["function"]
    examples = generate_examples([drive], count=600, seed=3)
    larger = [e for e in examples if re.search(r"\bmeters?\b", e.query.lower())]
    assert 0.03 * len(examples) <= len(larger) <= 0.3 * len(examples)
    assert any("half a meter" in e.query.lower() for e in larger) or any("and a half" in e.query.lower() for e in larger)
    tool = {"name": "drive", "parameters": drive["parameters"]}
    for e in larger:
        want = e.calls[0]["arguments"]
        assert want["centimeters"] % 50 == 0, e.query
        wrong = {**want, "centimeters": 1 if want["centimeters"] != 1 else 2}
        got, _ = said_values([("drive", wrong)], [tool], e.query)
        assert got == [("drive", want)], e.query


def test_round_volumes_are_also_said_in_litres() -> None:
    """``millilitres=1500`` is sometimes asked "a litre and a half" / "1.5 litres" (the garden's development set asked
    so, "a litre and a half of fertilizer", and the tuned model declined it); the agent's spoken values read each back
    to the call's value."""
    from agent_sdk.agent.spoken_values import said_values
    from agent_sdk.tools.loading import load_tools

    feed = next(t["function"] for t in load_tools("examples/garden/garden_tools.py").to_openai()
                if t["function"]["name"] == "feed_plants")
    examples = generate_examples([feed], count=600, seed=3)
    larger = [e for e in examples if e.calls and re.search(r"\b(litres?|liters?)\b", e.query.lower())]
    assert 0.03 * len(examples) <= len(larger) <= 0.3 * len(examples)
    assert any("and a half" in e.query.lower() or "half a li" in e.query.lower() for e in larger)
    # "How much fertilizer" names what the measure is of: about half the amounts said with a unit say it too
    calls = [e for e in examples if e.calls]
    of = [e.query for e in calls if "of fertilizer" in e.query]
    assert 0.2 * len(calls) <= len(of) <= 0.6 * len(calls)
    assert all(re.search(r"\b(ml|millilitres?|litres?|and a half) of fertilizer", q) for q in of)  # never "500 of"
    more = [e.query for seed in range(4) for e in generate_examples([feed], count=600, seed=seed)]
    assert any("a litre and a half of fertilizer" in q for q in more)  # the development set's words
    tool = {"name": "feed_plants", "parameters": feed["parameters"]}
    for e in larger:
        want = e.calls[0]["arguments"]
        assert want["millilitres"] % 500 == 0, e.query
        wrong = {**want, "millilitres": 100}
        got, _ = said_values([("feed_plants", wrong)], [tool], e.query)
        assert got == [("feed_plants", want)], e.query


def test_a_measure_is_said_with_its_substance_only_when_one_noun_names_it() -> None:
    """"How much fertilizer, in ml" names what the measure is of; "How much you want to pour" and "How much ground
    coffee" do not (a clause, an adjective), and a substance the tool's name says is not said twice ("dispense water
    500 ml of water"). A review's invented descriptions."""
    def tool(name: str, desc: str) -> dict[str, Any]:
        return {"name": name, "description": "Pour something.", "parameters": {
            "type": "object", "properties": {"ml": {"type": "integer", "description": desc}}, "required": ["ml"]}}

    cases = {"pour_drink": ("How much you want to pour, from 50 to 900 ml.", None),
             "dose_coffee": ("How much ground coffee, from 50 to 900 ml.", None),
             "dispense_water": ("How much water, from 50 to 900 ml.", None),
             "pour_feed": ("How much plant food, from 50 to 900 ml.", None),
             "top_up": ("How much oil, from 50 to 900 ml.", "oil")}
    for name, (desc, substance) in cases.items():
        queries = [e.query.lower() for e in generate_examples([tool(name, desc)], count=300, seed=1) if e.calls]
        said = [q for q in queries if re.search(r"\bml of\b|millilit\w* of\b|lit\w* of\b", q)]
        if substance is None:
            assert not said, (name, said[:3])
        else:
            assert len(said) >= 0.15 * len(queries) and all(f"of {substance}" in q for q in said), (name, said[:3])


def _kitchen_requests(seed: int = 0, count: int = 1500) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    from agent_sdk.tools.loading import load_tools

    specs = [t["function"] for t in load_tools("examples/smart_kitchen/kitchen_tools.py").to_openai()]
    by_tool: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for e in generate_examples(specs, count=count, seed=seed):
        if len(e.calls) == 1:
            by_tool[e.calls[0]["name"]].append((e.query.lower(), e.calls[0]["arguments"]))
    return by_tool


def test_appliance_tools_are_asked_as_people_ask_appliances() -> None:
    """The fourth tool set's lessons (docs/tuning.md, "a fourth tool set, the smart kitchen"): a machine is started,
    not created; a delay is a wait before it; a machine's status is not the system's; a range said as "1 or 2" holds; a tool named
    for a noun-verb ("microwave") is asked with it; "Turn the oven off." names the oven, not "oven off"."""
    by_tool = _kitchen_requests()
    starts = [q for q, _ in by_tool["start_dishwasher"]]
    assert starts and not any(re.search(r"\b(create|give me|make|set up) (a|the|my)? ?dishwasher", q) for q in starts)
    for q, args in by_tool["start_dishwasher"]:
        if args.get("delay_hours"):  # "in 3 hours", "3 hours from now": never "for 3 hours"
            assert not re.search(r"\bfor \S+ hours?\b", q) and re.search(r"\bin |from now|after |delay", q), q
            assert "minute" not in q, q
    assert not any(re.search(r"\b(cpu|system|ram|uptime|memory)\b", q) for q, _ in by_tool["dishwasher_status"])
    assert {a.get("cups", 1) for _, a in by_tool["brew_coffee"]} <= {1, 2}
    assert sum(q.split()[0:1] == ["microwave"] or " microwave " in f" {q} " and "in the microwave" not in q
               for q, _ in by_tool["microwave"]) >= 5
    assert not any("off off" in q or re.search(r"\bturn (the |my )?oven\b(?! off)", q) for q, _ in by_tool["turn_off_oven"])


def test_values_follow_the_docstring_and_the_parameter_kind() -> None:
    """A food is a food ("what to defrost" names no person), a dish a dish; objects whose docstring examples carry
    a determiner ("the red cup", "my keys") are drawn and taken with one ("my book")."""
    from agent_sdk.tune.examples import _build_tool

    by_tool = _kitchen_requests()
    people = {"mom", "dad", "alex", "sarah", "john", "emma"}
    for name, key in (("defrost", "food"), ("find_recipe", "dish")):
        values = {a[key] for _, a in by_tool[name]}
        assert values and not values & people and not values & {"test", "hello world", "something"}, name
    pick = _build_tool(ROBOT[2]["function"])  # pick_up: 'What to pick up, like "my keys".'
    assert all(v.split()[0] in ("my", "the", "a", "an", "your", "some") for v in pick.params[0].values)


def test_weights_and_seconds_are_said_as_people_say_them_and_read_back() -> None:
    """"defrost 500 grams of chicken", "a kilo of ...", "microwave it for 2 minutes": the agent's spoken values read
    each back to the call's value, so the generator and the reader agree."""
    from agent_sdk.agent.spoken_values import said_values
    from agent_sdk.tools.loading import load_tools

    specs = {t["function"]["name"]: t["function"] for t in
             load_tools("examples/smart_kitchen/kitchen_tools.py").to_openai()}
    by_tool = _kitchen_requests(seed=5)
    defrosts = by_tool["defrost"]
    assert sum(" of " in q for q, _ in defrosts) >= 0.2 * len(defrosts)
    assert any(re.search(r"\b(kilos?|kg|kilograms?)\b", q) for q, _ in defrosts)
    seconds = by_tool["microwave"]
    assert any(re.search(r"\bminutes?\b", q) for q, _ in seconds)
    from agent_sdk.agent.spoken import spoken_durations, spoken_weights

    read = 0
    for name, key, reader in (("defrost", "grams", spoken_weights), ("microwave", "seconds", spoken_durations)):
        tool = {"name": name, "parameters": specs[name]["parameters"]}
        for q, want in by_tool[name]:
            if not re.search(r"\b(kilos?|kg|kilograms?|minutes?)\b", q) or not reader(q):
                continue  # said in the parameter's own unit, or a typo in the amount ("fie minutes")
            read += 1
            wrong = {**want, key: 7}
            got, _ = said_values([(name, wrong)], [tool], q)
            assert got == [(name, want)], q
    assert read >= 10


def test_a_choice_that_names_the_thing_made_is_asked_as_that_thing() -> None:
    """"a strong latte please", "two espressos": brew_coffee's drink is what is made; a robot's direction is not
    ("a forward please" never)."""
    by_tool = _kitchen_requests(seed=2)
    drinks = ("espresso", "americano", "cappuccino", "latte", "flat white")
    alone = [q for q, a in by_tool["brew_coffee"] if "coffee" not in q and any(d in q for d in drinks)]
    assert len(alone) >= 0.2 * len(by_tool["brew_coffee"])
    assert not any(re.search(r"\ba (espresso|americano)", q) for q in alone)  # "an americano"
    for q, a in by_tool["brew_coffee"]:
        if a.get("cups") == 2 and re.search(r"\b(two|2) \w*\s?(latte|espresso|americano|cappuccino)s\b", q):
            break
    else:
        raise AssertionError("no request for two of a drink said as its plural")
    robot = generate_examples([t["function"] for t in ROBOT], count=600, seed=2)
    assert not any(re.search(r"\b(a|an) (forward|backward)\b", e.query.lower()) for e in robot)


def test_a_delay_beside_another_duration_and_other_shapes_after_review() -> None:
    """A delay is said as a wait only when every duration is one ("start the washer in 4 hours", never "for 80 min
    from now"); a tool named for waiting waits for its duration; a meal time is a time, not a food; one kilometre."""
    tools = [
        _fn("start_washer", "Start the washing machine.", {
            "delay_hours": {"type": "integer", "minimum": 0, "maximum": 12},
            "duration_minutes": {"type": "integer", "minimum": 30, "maximum": 120}}, ["delay_hours", "duration_minutes"]),
        _fn("wait", "Wait before the next step.", {"wait_seconds": {"type": "integer", "minimum": 5, "maximum": 50}},
            ["wait_seconds"]),
        _fn("log_meal", "Log a meal.", {"meal_time": {"type": "string", "description": 'When, like "7 pm".'}},
            ["meal_time"]),
        _fn("swim", "Swim a distance.", {"kilometres": {"type": "integer", "minimum": 1, "maximum": 3}},
            ["kilometres"]),
    ]
    queries: dict[str, list[str]] = defaultdict(list)
    for e in generate_examples(tools, count=600, seed=4):
        if len(e.calls) == 1:
            queries[e.calls[0]["name"]].append(e.query.lower())
    assert queries["start_washer"] and not any("from now" in q or re.search(r"\bin \S+ min", q)
                                               for q in queries["start_washer"])
    assert queries["wait"] and not any(re.search(r"\bwait in\b", q) for q in queries["wait"])
    from agent_sdk.tune.examples import _build_tool

    meal = _build_tool(tools[2]["function"]).params[0]
    assert meal.bank == "time"
    assert not any(re.search(r"\b(a|one|1) kilometres\b", q) for q in queries["swim"])


def test_media_commands_are_asked_as_commands_and_questions() -> None:
    """The fifth tool set's lessons (docs/tuning.md, "a fifth tool set"): a one-word name its description starts
    with is the command ("pause", never "freeze my pause"); a name that is a verb the thesaurus knows is asked with
    it and its alternatives ("fast forward 30 seconds", "skip ahead ..."; "like the track"); a verb with a
    preposition is no verb to say for a bare-verb name ("resume", never "resume my pause"); "Tell what is playing"
    is asked as the question "what is playing"."""
    from agent_sdk.tools.loading import load_tools
    from agent_sdk.tune.examples import _build_tool

    specs = [t["function"] for t in load_tools("examples/music_player/music_tools.py").to_openai()]
    tools = {s["name"]: _build_tool(s) for s in specs}
    assert [tools[n].family for n in ("pause", "resume", "fast_forward", "rewind", "like_track", "now_playing")] == [
        "own"] * 6
    assert tools["fast_forward"].verbs[0] == "fast forward" and tools["like_track"].verbs[0] == "like"
    by_tool: dict[str, list[str]] = defaultdict(list)
    for e in generate_examples(specs, count=1500, seed=0):
        if len(e.calls) == 1:
            by_tool[e.calls[0]["name"]].append(e.query.lower())
    assert not any(re.search(r"\b(my|the) pause\b", q) for q in by_tool["pause"] + by_tool["resume"])
    for name in ("fast_forward", "rewind"):
        assert by_tool[name] and not any(re.search(r"\b(the|my) (fast forward|rewind)\b|jump \w+ in\b", q)
                                         for q in by_tool[name])
    assert sum("fast forward" in q for q in by_tool["fast_forward"]) >= len(by_tool["fast_forward"]) / 3
    asked = by_tool["now_playing"]  # typos aside ("whta is playing"); its parts too ("who's the artist")
    question = r"(\w+,? ){0,3}(what('s| is) playing|(what|which) (track|song|tune|album) is playing|what's the|who)"
    assert asked and sum(bool(re.match(question, q)) for q in asked) >= 0.8 * len(asked)
    assert sum(bool(re.search(r"what('s| is) playing", q)) for q in asked) >= 0.3 * len(asked)
    assert not any(re.search(r"\bto wh?at\b|now playing", q) for q in by_tool["now_playing"])
    assert by_tool["like_track"] and not any(re.search(r"\b(the|my) like track\b", q) for q in by_tool["like_track"])


def test_the_media_rules_leave_other_shapes_alone() -> None:
    """After review: a one-word name a verb family claims keeps the family ("search(query)"); a reading tool whose
    name starts with a verb keeps reading ("water_level"); "dock at" keeps its preposition and object; "Tell what the
    robot is doing" is no question to ask as it is."""
    from agent_sdk.tune.examples import _build_tool

    def tool(name: str, description: str, properties: dict[str, Any] | None = None) -> Any:
        return _build_tool(_fn(name, description, properties or {}, list(properties or {}))["function"])

    search = tool("search", "Search the web.", {"query": {"type": "string"}})
    assert search.family == "search" and "look up" in search.verbs
    assert tool("water_level", "Report the water tank level.").family == "read"
    dock = tool("dock", "Dock at the charging station.")
    assert dock.family == "own" and dock.objects == ["charging station"]
    assert tool("status", "Tell what the robot is doing.").family == "read"


def test_media_values_said_where_they_belong() -> None:
    """The music's second lessons (docs/tuning.md): a string that names the container is said as one ("add this song
    to my workout playlist", never "add workout to my playlist"); a count with its thing ("skip 3 tracks", never
    "skip to the next track to 3"); a flag's one-word opposite ("unmute", never "don't mute"); a flag's noun phrase
    stops at its preposition ("play the queue in order", never "... in random order in order"); a name ending in a
    preposition says the place after it ("play it in the kitchen", never "play bedroom on"); a vague value is never
    said alone ("repeat to one", never "switch to one"); what the description calls current is "this" one; a
    name-like value is "called" ("play the playlist called workout", "play my workout playlist", never "with name
    workout"); a podcast's name from its own bank; "Stop the music after a while" is "stop the music in 30
    minutes", never "stop the sleep timer"."""
    from agent_sdk.tools.loading import load_tools
    from agent_sdk.tune.examples import _build_tool

    specs = [t["function"] for t in load_tools("examples/music_player/music_tools.py").to_openai()]
    tools = {s["name"]: _build_tool(s) for s in specs}
    assert tools["add_to_playlist"].params[0].role == "container" and tools["like_track"].det == "this"
    assert tools["mute"].params[0].clauses == {True: "mute", False: "unmute"}
    assert tools["set_shuffle"].params[0].clauses[False] == "play it in order"
    assert tools["next_track"].params[0].counted == ("tracks", "skip")
    calls: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for e in generate_examples(specs, count=3000, seed=0):
        if len(e.calls) == 1:
            calls[e.calls[0]["name"]].append((e.query.lower(), e.calls[0]["arguments"]))
    added = calls["add_to_playlist"]  # typos aside ("onnto")
    assert added and not any(re.search(rf"{a['playlist']} \w+ (my |the )?playlist\b", q) for q, a in added)
    assert sum(bool(re.search(rf"\b(to|on|onto|in) (my |the )?{a['playlist']}\b", q)) for q, a in added) \
        >= 0.8 * len(added)
    assert calls["next_track"] and not any(re.search(r"track to \w+", q) for q, _ in calls["next_track"])
    counted = [q for q, a in calls["next_track"] if a.get("count", 1) > 1]
    assert counted and all(re.search(r"(tracks|songs|tunes)\b", q) for q in counted)
    unmuted = [q for q, a in calls["mute"] if a.get("on") is False]
    assert unmuted and all("unmute" in q or "umnute" in q or "unmtue" in q or "nmute" in q for q in unmuted)
    assert not any(re.search(r"don't mute", q) for q, _ in calls["mute"])
    assert not any("random order in order" in q for q, _ in calls["set_shuffle"])
    assert any(re.search(r"shuffle (on|off)|(on|off) shuffle", q) for q, _ in calls["set_shuffle"])
    assert calls["play_on"] and not any(re.search(r"\b(the )?on\b(?! the)|in the everywhere", q)
                                        for q, _ in calls["play_on"])
    assert any(" it in the " in q for q, _ in calls["play_on"])
    vague = [q for q, a in calls["set_repeat"] if a["mode"] in ("one", "all", "off") and a["mode"] in q.split()]
    assert vague and all("repeat" in q for q in vague) and not any(" on off" in q for q in vague)
    assert not any(re.search(r"\bmy (track|song|tune)\b", q) for q, _ in calls["like_track"])
    played = [q for name in ("play_music", "play_playlist", "play_radio", "play_podcast") for q, _ in calls[name]]
    assert played and not any(re.search(r"\b(with )?(name|query)\b:?|user's|play music:", q) for q in played)
    assert any(re.search(r"\b(my|the) \w+( \w+)? playlist\b", q) for q, _ in calls["play_playlist"])
    shows = {a["show"] for _, a in calls["play_podcast"]}
    assert not shows & {"the kitchen", "the office", "the home"}  # a podcast's name, not "the" and a place
    timers = [q for q, _ in calls["set_sleep_timer"]]
    assert timers and not any(re.search(r"\bstop (the |my )?(sleep )?timer\b", q) for q in timers)
    assert sum(bool(re.search(r"stop the music (in|after) ", q)) for q in timers) >= len(timers) / 10


def test_the_second_media_rules_leave_other_shapes_alone() -> None:
    """After review of the second music rules: a string the name names without a preposition is still the thing
    added ("add_song(song)": "add jolene", never "add my track to jolene"); a one-word flag clause needs its verb on
    both sides ("True to mute, False to stop" says no "stop"); a count among other values stays with them, and its
    "ahead" is a skip's; a place that is no adverb is still "in the ..."; "this" is not for a reading tool's
    "current" object."""
    from agent_sdk.tune.examples import _build_tool, _singular

    def tool(name: str, description: str, properties: dict[str, Any]) -> Any:
        return _build_tool(_fn(name, description, properties, list(properties))["function"])

    song = tool("add_song", "Add a track to the queue.", {"song": {"type": "string"}})
    assert song.params[0].role == "object"
    mute = tool("mute", "Mute the sound.", {"on": {"type": "boolean", "description": "True to mute, False to stop."}})
    assert not mute.params[0].clauses
    weather = tool("get_weather", "Get the current weather.", {})
    assert weather.det == "this" and weather.family == "read"
    assert [_singular(w) for w in ("entries", "boxes", "glasses", "tracks", "series")] == [
        "entry", "box", "glass", "track", "series"]
    specs = [
        _fn("add_song", "Add a track to the queue.", {"song": {"type": "string"}}, ["song"]),
        _fn("delete_messages", "Delete messages from a contact.", {
            "contact": {"type": "string", "description": "Whose messages."},
            "count": {"type": "integer", "description": "How many messages to delete, from 1 to 20."}},
            ["contact", "count"]),
        _fn("lights_on", "Turn on the lights in a room.", {
            "room": {"type": "string", "enum": ["kitchen", "bedroom", "everywhere"]}}, ["room"]),
        _fn("get_weather", "Get the current weather.", {}, []),
    ]
    calls: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for e in generate_examples(specs, count=800, seed=2):
        if len(e.calls) == 1:
            calls[e.calls[0]["name"]].append((e.query.lower(), e.calls[0]["arguments"]))
    assert calls["add_song"] and not any(re.search(r"\bto (my |the )?" + re.escape(a["song"].lower()), q)
                                         for q, a in calls["add_song"])
    assert len(calls["delete_messages"]) >= 20  # a tool with a count and a name still gets requests
    assert not any(re.search(r"\b(ahead|forward) \w+ messages", q) for q, _ in calls["delete_messages"])
    rooms = [(q, a["room"]) for q, a in calls["lights_on"]]
    assert any(f"in the {r}" in q for q, r in rooms if r != "everywhere")
    assert not any(re.search(r"the everywhere|everywhere (light|lamp)", q) for q, _ in rooms)
    assert calls["get_weather"] and not any(re.search(r"\bthis (current )?weather", q) for q, _ in calls["get_weather"])


def test_garden_values_said_where_they_belong() -> None:
    """The garden's lessons (docs/tuning.md, 2026-12-07): units named by a parameter ("kilos", "millilitres") are
    said; "log" is a verb ("log 2 kilos of tomatoes", never "log the log harvest"); a crop from a produce bank, not
    "hello world"; "start_mower" starts a machine ("mow the back lawn", never "create a mower"); a camera or a lawn
    is no kind of thing made ("a greenhouse please" and "a back lawn" are no requests); a schedule is asked by the
    action it repeats, its days "on weekends", never "with weekends days" or "turn the watering schedule"; a zone
    that is the verb's object is the place ("water the back lawn"); "stop it" / "run the pump" is the pump; a
    negative number also "minus three"; alert tools never "warn the frost alert"; garden areas the tools do not
    have are near-miss negatives."""
    from agent_sdk.tools.loading import load_tools
    from agent_sdk.tune.examples import _build_tool

    specs = [t["function"] for t in load_tools("examples/garden/garden_tools.py").to_openai()]
    tools = {s["name"]: _build_tool(s) for s in specs}
    assert tools["log_harvest"].objects == ["harvest"] and tools["start_mower"].family == "own"
    assert tools["pond_pump"].params[0].clauses == {True: "run the pump", False: "stop it"}
    assert tools["set_watering_schedule"].scheduled == "water" and tools["water_zone"].place_object
    calls: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    negatives = []
    for e in generate_examples(specs, count=3000, seed=0):
        if len(e.calls) == 1:
            calls[e.calls[0]["name"]].append((e.query.lower(), e.calls[0]["arguments"]))
        elif not e.calls:
            negatives.append(e.query.lower())
    every = [q for pairs in calls.values() for q, _ in pairs]
    assert not any(re.search(r"\blog (the |my )?log\b|\bwarn (the |my )?frost\b|\bwith \w+ days\b|days: ", q)
                   for q in every)
    logged = calls["log_harvest"]
    assert logged and not any(a["crop"] in ("hello world", "something", "test", "the usual") for _, a in logged)
    assert sum(bool(re.search(r"\b(kilos?|kg|kilograms?)\b", q)) for q, _ in logged) >= 0.5 * len(logged)
    fed = calls["feed_plants"]
    assert sum(bool(re.search(r"\b(millilitres?|ml)\b", q)) for q, _ in fed) >= 0.5 * len(fed)
    mowed = [q for q, _ in calls["start_mower"]]
    assert mowed and not any(re.search(r"\b(create|make) (a|the|my) mower\b|^\W*(a|can i get a) (front|back|both)", q)
                             for q in mowed)
    assert any(re.search(r"\b(mow|cut) (the|both)\b", q) for q in mowed)
    photos = [q for q, _ in calls["take_garden_photo"]]
    assert photos and any("photo of the" in q or "picture of the" in q for q in photos)
    assert not any(re.fullmatch(r"\W*(a|an) (greenhouse|vegetable bed|front gate)\W*( please)?\W*", q) for q in photos)
    scheduled = [q for q, _ in calls["set_watering_schedule"]]
    assert not any(re.search(r"\b(turn|bring) (the |my )?watering schedule\b|\bwater (the |my )?watering", q)
                   for q in scheduled)
    assert any(re.search(r"\bwater the (front|back|vegetable|flower) \w+ (at|on|every|daily)\b", q) for q in scheduled)
    watered = [q for q, _ in calls["water_zone"]]
    assert sum(bool(re.search(r"\bwater (the |my )?(front lawn|back lawn|vegetable bed|flower bed) (for|\d)", q))
               for q in watered) >= len(watered) / 10
    frost = [(q, a["celsius"]) for q, a in calls["set_frost_alert"]]
    assert any(c < 0 and "minus" in q for q, c in frost) and any("below" in q for q, _ in frost)
    assert any(re.search(r"\b(orchard|hedge|rockery|allotment|shed|herb patch)\b", q) for q in negatives)
    grams = [(q, a["kilos"]) for q, a in logged if re.search(r"\d+ grams", q)]
    assert grams and all(k < 1 and f"{round(k * 1000)} grams" in q for q, k in grams)  # "800 grams" is 0.8 kilos
    assert any(re.search(r"\b(picked|harvested) .* of ", q) for q, _ in logged)
    assert any(re.search(r"\bhow (dry|wet) is the ", q) for q, _ in calls["soil_moisture"])
    assert not any(re.search(r"\b((in|for) the [a-z ]{3,25}) \1\b", q) for q in every)  # a read frame's tail once


def test_the_garden_rules_leave_other_shapes_alone() -> None:
    """A robot's "front" camera is where it sits (never "a photo of the front"); a kind named choice still makes
    the thing ("a strong latte please"); a frequency enum is said bare or after "on"."""
    from agent_sdk.tools.loading import load_tools

    robot = [t["function"] for t in load_tools("examples/home_robot/robot_tools.py").to_openai()]
    photos = [e.query.lower() for e in generate_examples(robot, count=3000, seed=0)
              if [c["name"] for c in e.calls] == ["take_photo"]]
    assert photos and not any(re.search(r"(photo|picture|shot) of the (front|arm)\b", q) for q in photos)
    assert any(re.search(r"the (front|arm) camera", q) for q in photos)
    kitchen = [t["function"] for t in load_tools("examples/smart_kitchen/kitchen_tools.py").to_openai()]
    coffees = [e.query.lower() for e in generate_examples(kitchen, count=3000, seed=0)
               if [c["name"] for c in e.calls] == ["brew_coffee"]]
    assert any(re.search(r"^\W*(a|an|two|three) \w+( \w+)? please", q) or re.search(r"\bcan i get (a|an) ", q)
               for q in coffees)
    alarm = _fn("set_alarm", "Set an alarm.", {
        "time": {"type": "string", "description": 'When, like "7 am".'},
        "days": {"type": "string", "enum": ["daily", "weekdays", "weekends", "every other day"]}}, ["time", "days"])
    said = [e.query.lower() for e in generate_examples([alarm], count=300, seed=0) if e.calls]
    weekend = [q for q in said if "weekends" in q]
    assert weekend and all(re.search(r"\bon weekends\b", q) for q in weekend)
    assert not any(re.search(r"\b(with|at) (daily|weekdays|weekends|every other day) days\b|days: ", q) for q in said)


def test_the_garden_rules_after_review() -> None:
    """Review cases (2026-12-07): a whole-number kilo parameter never gets "800 grams" or "2.5 kilos" (its target
    would be cut to 0 or 2); a run flag switched off says no duration; a schedule without a place keeps its verb
    ("feed the cat at 6 am"); an alert on grams is no temperature; "start_order" is no machine; a weekday enum is
    no frequency ("on saturday" is not "saturday" said bare)."""
    from agent_sdk.tune.examples import _build_tool

    def calls(tool: dict[str, Any], n: int = 300) -> list[tuple[str, dict[str, Any]]]:
        return [(e.query.lower(), e.calls[0]["arguments"]) for e in generate_examples([tool], count=n, seed=1)
                if e.calls]

    bag = _fn("check_luggage", "Check in a bag.", {"weight_kg": {"type": "integer", "minimum": 1, "maximum": 32}},
              ["weight_kg"])
    for q, a in calls(bag):
        said = re.findall(r"\d+(?:\.\d+)?", q)
        assert not re.search(r"\bgrams\b", q) and all(float(x).is_integer() for x in said), q
        assert not said or int(said[0]) == a["weight_kg"], q
    boost = _fn("boost_heater", "Run the heater at full power for a while.", {
        "on": {"type": "boolean", "description": "True to start the boost, False to stop it."},
        "hours": {"type": "integer", "minimum": 1, "maximum": 6, "description": "How long it runs."}}, ["on"])
    assert all("hours" not in a for _, a in calls(boost) if a["on"] is False)
    cat = _fn("set_feeding_schedule", "Feed the cat on a schedule.", {
        "time": {"type": "string", "description": 'When, like "7 am".'}}, ["time"])
    assert sum(q.startswith(("feed", "please feed")) or " feed " in q for q, _ in calls(cat)) > 0
    beans = _fn("set_low_stock_alert", "Alert me when the coffee beans fall below a level.", {
        "grams": {"type": "integer", "minimum": 50, "maximum": 1000}}, ["grams"])
    assert not any("temperature" in q for q, _ in calls(beans))
    assert _build_tool(_fn("start_order", "Begin a new grocery order.", {}, [])["function"]).family != "own"
    assert _build_tool(_fn("start_vacuum", "Clean the floors.", {}, [])["function"]).family == "own"
    bins = _fn("set_bin_day", "Set the day the bins go out.", {
        "day": {"type": "string", "enum": ["monday", "tuesday", "saturday"]}}, ["day"])
    assert not any(re.search(r"\bon (monday|tuesday|saturday)s\b", q) for q, _ in calls(bins))


def test_near_misses_by_verb_and_short_values() -> None:
    """Eighth-session rules (2026-12-07): a tool that sets an alert or takes photos draws requests no tool serves
    to cancel the alert, share the photo or take a video; a tool that sends messages draws "read me my last
    message"; none of them when a tool of the set cancels, reads or names the thing; a tool that opens one thing
    draws "open the shed"; an enum value is sometimes said short ("veg patch", "the front"), its target unchanged,
    and never where the short word would not tell the values apart."""
    alert = _fn("set_price_alert", "Warn me when a stock falls below a price.",
                {"price": {"type": "integer", "minimum": 1, "maximum": 1000}}, ["price"])
    photo = _fn("take_photo", "Take a photo with the door camera.", {}, [])
    send = _fn("send_message", "Send a text message.", {"contact": {"type": "string", "description": "Who to."},
                                                       "text": {"type": "string"}}, ["contact", "text"])
    hatch = _fn("open_hatch", "Open the roof hatch.", {}, [])

    def negatives(tools: list[dict[str, Any]]) -> list[str]:
        return [e.query.lower() for e in generate_examples(tools, count=3000, seed=2) if not e.calls]

    undo = re.compile(r"\b(cancel|delete|remove|clear|get rid of|turn off)\b.*\balert\b")
    read_back = re.compile(r"\b(read me my last|show me my|what was my last|go through my) (text )?messages?\b")
    got = negatives([alert, photo, send, hatch])
    assert any(undo.search(q) for q in got)
    assert any(re.search(r"\b(share|email|print|delete|copy)\b.*\bphoto\b", q) for q in got)
    assert any(re.search(r"\b(take|record) an? (selfie |panorama )?video\b", q) for q in got)
    assert any(read_back.search(q) for q in got)
    assert any(re.search(r"\bopen( up)? the (shed|gate|garage|window|blinds|curtains)\b", q) for q in got)
    # A tool that cancels the alerts, one that reads the messages: those requests are served, so never negatives.
    cancel = _fn("cancel_alerts", "Cancel every price alert.", {}, [])
    inbox = _fn("read_messages", "Read the newest text messages aloud.", {}, [])
    got = negatives([alert, photo, send, hatch, cancel, inbox])
    assert not any(undo.search(q) for q in got)
    assert not any(read_back.search(q) for q in got)

    water = _fn("water_zone", "Water one zone.", {
        "zone": {"type": "string", "enum": ["front yard", "back yard", "vegetable patch"]},
        "minutes": {"type": "integer", "minimum": 1, "maximum": 30}}, ["zone", "minutes"])
    calls = [(e.query.lower(), e.calls[0]["arguments"]["zone"]) for e in generate_examples([water], count=600, seed=3)
             if e.calls]
    short = [(q, z) for q, z in calls if z not in q]
    assert 0 < len(short) < 0.3 * len(calls)
    for q, z in short:
        assert re.search({"vegetable patch": r"\bveg(gie)? patch\b", "front yard": r"\bfront\b",
                          "back yard": r"\bback\b"}[z], q), (q, z)
    beds = _fn("water_bed", "Water one bed.", {
        "zone": {"type": "string", "enum": ["front lawn", "front bed", "back lawn"]},
        "minutes": {"type": "integer", "minimum": 1, "maximum": 30}}, ["zone", "minutes"])
    said = [(e.query.lower(), e.calls[0]["arguments"]["zone"]) for e in generate_examples([beds], count=600, seed=3)
            if e.calls]
    assert all(z in q for q, z in said if z.startswith("front"))  # "front" would not tell the two apart
    assert any(z not in q and re.search(r"\bback\b", q) for q, z in said if z == "back lawn")


def test_a_break_and_a_level_are_asked_the_way_people_ask() -> None:
    """A tool that skips something for a while is asked for a break ("no sprinklers for 2 days", "don't water for 3
    days"), the number of days its target; a tool reading how full a thing is, how much is in it ("how much is in
    the rain water tank"), never with the description's verb phrase ("charge the battery")."""
    skip = _fn("skip_watering", "Skip the scheduled watering for a few days, after rain for instance.",
               {"days": {"type": "integer", "minimum": 1, "maximum": 7}}, ["days"])
    got = [(e.query.lower(), e.calls[0]["arguments"]["days"]) for e in generate_examples([skip], count=400, seed=4)
           if e.calls]
    breaks = [(q, d) for q, d in got if re.search(r"\b(no (watering|sprinklers|irrigation)|don't water|hold off)\b", q)]
    assert breaks
    numbers = {"one": 1, "a": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}
    for q, d in breaks:
        assert not re.search(r"\bthe next (a|an|one) ", q), q
        m = re.search(r"\bfor (?:the next )?(\d|one|a|two|three|four|five|six|seven)\b", q)  # the unit may be typoed
        assert m and int(numbers.get(m.group(1), m.group(1) if m.group(1).isdigit() else 0)) == d, (q, d)
    tank = _fn("tank_level", "Report how full the rain water tank is.", {}, [])
    battery = _fn("battery_level", "Report how much charge the battery has left.", {}, [])
    asked = [e.query.lower() for e in generate_examples([tank, battery], count=600, seed=4) if e.calls]
    assert any(re.search(r"how (much is (left )?in|full is) the (rain water )?tank", q) for q in asked)
    assert not any("charge the battery" in q for q in asked)
    noise = _fn("noise_level", "Report the noise level in the room.", {}, [])
    assert not any(re.search(r"\b(full|empty|how much is)\b", e.query.lower())
                   for e in generate_examples([noise], count=300, seed=4) if e.calls)  # no tank to fill
    charging = _fn("skip_charging", "Skip charging the car for a few days.",
                   {"days": {"type": "integer", "minimum": 1, "maximum": 7}}, ["days"])
    assert not any("charg " in e.query.lower() for e in generate_examples([charging], count=300, seed=4))


def test_each_kind_of_near_miss_gets_its_share() -> None:
    """Near misses are drawn by kind (2026-12-07): tools with a room enum each add a generator of rooms they lack,
    which must not crowd out the one tool whose alert no tool cancels (the garden's training data had 94 near misses
    by place and one "cancel the frost alert" of 400 negatives before)."""
    rooms = {"type": "string", "enum": ["kitchen", "bedroom", "living room"]}
    tools = [_fn(f"{verb}_{thing}", f"{verb.capitalize()} the {thing} in a room.", {"room": rooms}, ["room"])
             for verb, thing in (("clean", "floor"), ("dust", "shelves"), ("air", "room"), ("check", "heater"))]
    tools.append(_fn("set_price_alert", "Warn me when a stock falls below a price.",
                     {"price": {"type": "integer", "minimum": 1, "maximum": 1000}}, ["price"]))
    neg = [e.query.lower() for e in generate_examples(tools, count=2000, seed=5) if not e.calls]
    undo = sum(bool(re.search(r"\b(cancel|delete|remove|clear|get rid of|turn off)\b.*\balert\b", q)) for q in neg)
    lacked = ["bathroom", "garage", "basement", "attic", "hallway", "office", "dining room", "porch", "garden", "patio",
              "laundry room", "nursery", "guest room", "study", "hall", "den", "driveway", "backyard", "closet",
              "pantry", "balcony"]
    places = sum(bool(re.search(rf"\b({'|'.join(lacked)})\b", q)) for q in neg)
    assert undo >= 0.1 * len(neg), (undo, places, len(neg))  # measured 52 of 400 (28 drawn per generator)
    assert places >= undo  # places still come first
