"""How tools are shown to the model: types, signatures, the system prompt and its token cost."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Literal

import pytest
from tokenizers import Tokenizer

from agent_sdk.agent.call_format import HERMES
from agent_sdk.agent.prompting import DEFAULT_SYSTEM, render_tools, render_type, system_prompt
from agent_sdk.models.checkpoint_io import read_gguf
from agent_sdk.models.mobilellm.mobilellm_loader import gguf_tokenizer
from agent_sdk.tools import ToolRegistry, tool

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("schema", "rendered"),
    [
        ({"type": "string"}, "string"),
        ({"type": "integer"}, "int"),
        ({"type": "number"}, "float"),
        ({"type": "boolean"}, "bool"),
        ({"type": "null"}, "null"),
        ({}, "any"),
        ({"$ref": "#/$defs/Thing"}, "any"),
        ({"type": "string", "enum": ["c", "f"]}, '"c" | "f"'),
        ({"enum": [1, 2, None]}, "1 | 2 | null"),
        ({"const": "on"}, '"on"'),
        ({"type": "array", "items": {"type": "string"}}, "list[string]"),
        ({"type": "array", "items": {"type": "array", "items": {"type": "integer"}}}, "list[list[int]]"),
        ({"type": "array", "items": {"type": "string", "enum": ["mon", "tue"]}}, 'list["mon" | "tue"]'),
        ({"type": "array"}, "list"),
        (
            {
                "type": "object",
                "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                "required": ["name"],
            },
            "{name: string, age?: int}",
        ),
        ({"type": "object"}, "object"),
        ({"type": "object", "additionalProperties": {"type": "number"}}, "dict[string, float]"),
        ({"type": "object", "additionalProperties": True}, "object"),
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, "string | int"),
        ({"oneOf": [{"type": "boolean"}, {"type": "array", "items": {"type": "number"}}]}, "bool | list[float]"),
        ({"type": ["string", "null"]}, "string | null"),
        ({"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}, "int | null"),
        ({"type": ["array", "null"], "items": {"type": "integer"}}, "list[int] | null"),
    ],
)
def test_render_type(schema: dict[str, Any], rendered: str) -> None:
    assert render_type(schema) == rendered


def test_render_type_shows_non_ascii_values_as_the_model_must_write_them() -> None:
    assert render_type({"type": "string", "enum": ["café", "거실"]}) == '"café" | "거실"'


WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.\n",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name, e.g. Paris."},
            "unit": {"type": "string", "enum": ["c", "f"], "default": "c", "description": " Temperature unit. "},
            "days": {"type": "integer", "description": "Forecast days."},
            "hourly": {"type": "boolean", "default": False},
            "region": {"type": ["string", "null"], "default": None},
        },
        "required": ["city"],
        "additionalProperties": False,
    },
}
CLOCK = {"name": "get_time", "parameters": {"type": "object", "properties": {}}}


def test_render_tools_shows_signature_defaults_optional_and_descriptions() -> None:
    assert render_tools([WEATHER]) == (
        'get_weather(city: string, unit: "c" | "f" = "c", days: int (optional), hourly: bool = false, '
        "region: string | null = null)\n"
        "  Current weather for a city.\n"
        "  - city: City name, e.g. Paris.\n"
        "  - unit: Temperature unit.\n"
        "  - days: Forecast days."
    )


def test_render_tools_one_block_per_tool_in_order() -> None:
    text = render_tools([CLOCK, WEATHER, {"name": "ping"}])
    lines = text.splitlines()
    assert lines[0] == "get_time()"
    assert lines[1].startswith("get_weather(city: string, ")
    assert lines[-1] == "ping()"
    assert text.index("get_time(") < text.index("get_weather(") < text.index("ping(")


def test_system_prompt_without_tools_is_just_the_system_text() -> None:
    assert system_prompt([], "  You are a terse assistant.\n") == "You are a terse assistant."
    assert system_prompt([]) == DEFAULT_SYSTEM
    assert system_prompt([], None) == DEFAULT_SYSTEM


def test_system_prompt_with_tools_lists_them_and_shows_the_call_format() -> None:
    text = system_prompt([WEATHER, CLOCK], "You control a smart home.")
    assert text.startswith("You control a smart home.\n\n")
    assert render_tools([WEATHER, CLOCK]) in text
    # The example call is written exactly as the tool-call grammar will force it.
    assert HERMES.open + '{"name": "' in text
    assert '"arguments": {' in text
    assert "}}" + HERMES.close in text
    assert text.index("get_time()") < text.index(HERMES.open)


@pytest.fixture(scope="module")
def smollm2_tokenizer(smollm2_gguf: Path) -> Tokenizer:
    raw, _ = gguf_tokenizer(read_gguf(smollm2_gguf), smollm2_gguf)
    return Tokenizer.from_str(raw.decode())


@tool
def get_weather(city: str, unit: Literal["c", "f"] = "c") -> str:
    """Get the current weather in a city.

    Args:
        city: The city name, e.g. Paris.
        unit: Temperature unit, "c" for celsius or "f" for fahrenheit.
    """
    return f"18 degrees {unit} in {city}"


def test_rendered_tools_cost_fewer_tokens_than_their_json_schema(smollm2_tokenizer: Tokenizer) -> None:
    spec = ToolRegistry([get_weather]).to_openai()[0]["function"]  # what the agent renders

    def n_tokens(text: str) -> int:
        return len(smollm2_tokenizer.encode(text, add_special_tokens=False).ids)

    rendered, raw = n_tokens(render_tools([spec])), n_tokens(json.dumps(spec))
    assert rendered < 0.75 * raw, f"rendered tools: {rendered} tokens, json.dumps(tool): {raw} tokens"
    # The same holds for the whole system prompt against one that embeds the raw schema.
    with_json = system_prompt([spec]).replace(render_tools([spec]), json.dumps(spec))
    assert n_tokens(system_prompt([spec])) < n_tokens(with_json)


def test_compact_listing_keeps_signatures_and_drops_descriptions() -> None:
    from agent_sdk.agent.prompting import render_tools, system_prompt

    tools = [{"name": "turn_on_lights", "description": "Turn on the lights in a room.",
              "parameters": {"type": "object", "properties": {
                  "room": {"type": "string", "enum": ["kitchen", "bedroom"], "description": "The room."}},
                  "required": ["room"]}}]
    full = render_tools(tools)
    compact = render_tools(tools, listing="compact")
    assert compact == 'turn_on_lights(room: "kitchen" | "bedroom")'
    assert full.startswith(compact) and "Turn on the lights" in full and "Turn on the lights" not in compact
    assert compact in system_prompt(tools, tool_listing="compact")


def test_names_listing_lists_each_name_once_and_nothing_else() -> None:
    tools = [
        {"name": "turn_on_lights", "description": "Turn on the lights.",
         "parameters": {"type": "object", "properties": {"room": {"type": "string", "enum": ["kitchen"]}}}},
        {"name": "set_timer", "description": "Start a timer.",
         "parameters": {"type": "object", "properties": {"minutes": {"type": "integer"}}, "required": ["minutes"]}},
    ]
    assert render_tools(tools, listing="names") == "turn_on_lights\nset_timer"
    prompt = system_prompt(tools, tool_listing="names")
    assert "turn_on_lights\nset_timer\n" in prompt and "room" not in prompt and "Start a timer" not in prompt
    assert len(prompt) < len(system_prompt(tools, tool_listing="compact"))


def test_tools_a_bundle_was_not_tuned_on_are_listed_in_full() -> None:
    from agent_sdk.agent.prompting import bundle_tuned_tools

    tools = [
        {"name": "turn_on_lights", "description": "Turn on the lights.",
         "parameters": {"type": "object", "properties": {"room": {"type": "string", "description": "Which room."}}}},
        {"name": "water_plants", "description": "Water the plants.",
         "parameters": {"type": "object", "properties": {"zone": {"type": "string", "description": "Which bed."}}}},
    ]
    manifest = {"tuning": {"tools": {"names": ["turn_on_lights"], "schema_sha256": "0" * 64}}}
    tuned = bundle_tuned_tools(manifest)
    assert tuned == {"turn_on_lights": None}  # a bundle tuned before tools' digests were recorded: names only
    for listing in ("names", "compact"):
        text = render_tools(tools, listing=listing, tuned_tools=tuned)
        assert "Turn on the lights" not in text and "Which room" not in text
        assert text.endswith(render_tools(tools[1:], listing="full"))
    assert render_tools(tools, listing="names", tuned_tools=tuned).startswith("turn_on_lights\nwater_plants(")
    assert render_tools(tools, listing="full", tuned_tools=tuned) == render_tools(tools, listing="full")
    assert "Water the plants" in system_prompt(tools, tool_listing="names", tuned_tools=tuned)
    # no tuning recorded: every tool by the listing (full, for such a bundle)
    for none in (None, {}, {"tuning": None}, "x", ["tuning"]):
        assert bundle_tuned_tools(none) is None  # type: ignore[arg-type]
    # a tuning record without a readable list of names: every tool in full, the safe side
    for bad in ({"tuning": {"tools": {"names": "turn_on_lights"}}}, {"tuning": {"tools": {"names": [1, 2]}}},
                {"tuning": {"tools": []}}, {"tuning": {"tools": ["turn_on_lights"]}}, {"tuning": "x"},
                {"tuning": {"tools": {"names": None}}}, {"tuning": {}}):
        assert bundle_tuned_tools(bad) == {}  # type: ignore[arg-type]
        assert render_tools(tools, listing="names", tuned_tools=bundle_tuned_tools(bad)) == render_tools(tools)
    # a plain set of names works as the record does
    assert render_tools(tools, listing="names", tuned_tools=frozenset({"turn_on_lights"})) == \
        render_tools(tools, listing="names", tuned_tools=tuned)


def test_a_tool_changed_since_the_tune_is_listed_in_full() -> None:
    """Each tool's digest is recorded; a tool whose description or parameters differ now is not the one learned."""
    from agent_sdk.agent.prompting import bundle_tuned_tools, tool_digest
    from agent_sdk.jsonschema_repair import repair_schema

    lights = {"name": "turn_on_lights", "description": "Turn on the lights.",
              "parameters": {"type": "object", "properties": {"room": {"type": "string", "enum": ["kitchen"]}}}}
    timer = {"name": "set_timer", "description": "Start a timer.",
             "parameters": {"type": "object", "properties": {"minutes": {"type": "integer"}}}}
    manifest = {"tuning": {"tools": {"names": ["turn_on_lights", "set_timer"],
                                     "digests": {"turn_on_lights": tool_digest(lights), "set_timer": tool_digest(timer)}}}}
    tuned = bundle_tuned_tools(manifest)
    assert render_tools([lights, timer], listing="names", tuned_tools=tuned) == "turn_on_lights\nset_timer"
    # what no listing shows (other keys, titles, closed objects, whitespace) does not make it another tool
    same = {**lights, "description": " Turn on the lights.\n", "strict": True,
            "parameters": {**lights["parameters"], "additionalProperties": False, "title": "Lights",
                           "properties": {"room": {"type": "string", "enum": ["kitchen"], "title": "Room"}}}}
    assert tool_digest(same) == tool_digest(lights)
    assert render_tools([same], listing="names", tuned_tools=tuned) == "turn_on_lights"
    # the same tool as the call step sees it: parameters left out, or a schema it repairs ("1" for an integer)
    assert tool_digest({"name": "stop", "description": "Stop."}) == tool_digest(
        {"name": "stop", "description": "Stop.", "parameters": {"type": "object", "properties": {}}})
    loose = {"name": "pick", "description": "Pick one.", "parameters": {
        "type": "object", "properties": {"n": {"type": "int", "enum": ["1", "2"]}}}}
    repaired, notes = repair_schema(loose["parameters"])
    assert notes and repaired != loose["parameters"]
    assert tool_digest(loose) == tool_digest({**loose, "parameters": repaired})
    assert tool_digest(loose) != tool_digest({**loose, "parameters": {
        "type": "object", "properties": {"n": {"type": "integer", "enum": [1, 3]}}}})
    # a new enum value, a changed description: listed in full beside the unchanged tool
    more_rooms = {**lights, "parameters": {"type": "object",
                                           "properties": {"room": {"type": "string", "enum": ["kitchen", "attic"]}}}}
    reworded = {**timer, "description": "Start a countdown."}
    for changed, unchanged in ((more_rooms, timer), (reworded, lights)):
        assert tool_digest(changed) != tuned[changed["name"]]  # type: ignore[index]
        text = render_tools([changed, unchanged], listing="names", tuned_tools=tuned)
        assert render_tools([changed], listing="full") in text and f"\n{unchanged['name']}" in f"\n{text}"
        assert render_tools([unchanged], listing="full") not in text
    # which ones changed, by name; an agent warns once per tool (the prompt shows it only in full)
    from types import SimpleNamespace

    from agent_sdk.agent.backends import LocalBackend
    from agent_sdk.agent.prompting import changed_tools
    from agent_sdk.errors import TunedToolWarning

    assert changed_tools([more_rooms, timer, {"name": "new_tool"}], tuned) == ["turn_on_lights"]
    assert changed_tools([lights, same, timer], tuned) == []
    assert changed_tools([more_rooms], frozenset({"turn_on_lights"})) == [] == changed_tools([more_rooms], None)
    names_bundle = SimpleNamespace(manifest={**manifest, "prompt": {"tool_listing": "names"}})
    backend = LocalBackend(names_bundle, call_format=HERMES)  # type: ignore[arg-type]
    with pytest.warns(TunedToolWarning, match="'set_timer' has changed since this bundle was tuned") as caught:
        backend.system_message([lights, reworded], None)
    assert caught[0].filename == __file__  # the caller's line, not the SDK's
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        backend.system_message([lights, reworded], None)  # once per tool
        backend.system_message([lights, timer], None)  # unchanged tools: silent
    # a digest record that does not cover every name, or is not text: every tool in full
    for bad in ({"turn_on_lights": tool_digest(lights)}, {"turn_on_lights": 1, "set_timer": 2}, ["x"]):
        record = {"tuning": {"tools": {"names": ["turn_on_lights", "set_timer"], "digests": bad}}}
        assert bundle_tuned_tools(record) == {}
        assert render_tools([lights, timer], listing="names", tuned_tools=bundle_tuned_tools(record)) == \
            render_tools([lights, timer])


def test_bundle_tool_listing_reads_the_manifest_and_refuses_unknown_ones() -> None:
    from agent_sdk.agent.prompting import bundle_tool_listing
    from agent_sdk.errors import UserError

    assert bundle_tool_listing(None) == "full"
    assert bundle_tool_listing({"name": "x"}) == "full"
    assert bundle_tool_listing({"prompt": {"tool_listing": "compact"}}) == "compact"
    with pytest.raises(UserError, match="names-only"):
        bundle_tool_listing({"prompt": {"tool_listing": "names-only"}})
    for malformed in ({"prompt": "names"}, {"prompt": ["names"]}, {"prompt": {"tool_listing": ["names"]}}):
        with pytest.raises(UserError, match="malformed prompt|does not know"):
            bundle_tool_listing(malformed)
    with pytest.raises(UserError):
        render_tools_unknown()


def render_tools_unknown() -> None:
    from agent_sdk.agent.prompting import render_tools

    render_tools([], listing="everything")
