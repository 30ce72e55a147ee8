"""Tool schemas llguidance refuses: repaired when the intent is plain, else left out, on the real llguidance.

No model: the grammar engine is built on the small byte-level BPE tokenizer of
the test fixtures, and call texts are tokenized and fed to a real matcher.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tokenizers import Tokenizer

from agent_sdk.constrain.grammar import GrammarEngine, GrammarError
from agent_sdk.constrain.schema_repair import repair_schema, usable_tools
from agent_sdk.agent.call_format import HERMES
from agent_sdk.errors import AgentSDKError, UserError
from tests.fixtures.checkpoints import build_bpe_tokenizer

pytestmark = pytest.mark.unit


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties) if required is None else required}


TICKETS: dict[str, Any] = {
    "name": "book_tickets",
    "description": "Books tickets.",
    "parameters": _object(
        {
            "event": {"type": "string"},
            "number_of_tickets": {"type": "integer", "enum": [str(n) for n in range(1, 10)]},
        }
    ),
}
WEATHER: dict[str, Any] = {
    "name": "get_weather",
    "description": "Weather.",
    "parameters": _object({"city": {"type": "string"}}),
}
TOO_SHORT: dict[str, Any] = {
    "name": "impossible_length",
    "parameters": _object({"code": {"type": "string", "minLength": 5, "maxLength": 2}}),
}
NO_VALUES: dict[str, Any] = {"name": "impossible_enum", "parameters": _object({"choice": {"enum": []}})}


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return build_bpe_tokenizer()


def _engine(tokenizer: Tokenizer) -> GrammarEngine:
    return GrammarEngine(tokenizer.to_str(), vocab_size=tokenizer.get_vocab_size(), eos_token_ids=[2])


@pytest.fixture(scope="module")
def engine(tokenizer: Tokenizer) -> GrammarEngine:
    return _engine(tokenizer)


def _accepts(engine: GrammarEngine, tokenizer: Tokenizer, grammar: str, text: str) -> bool:
    """Whether the real matcher takes every token of ``text`` and ends accepting."""
    constraint = engine.constraint(grammar)
    for token in tokenizer.encode(text, add_special_tokens=False).ids:
        try:
            constraint.accept(token)
        except AgentSDKError:
            return False
    return constraint.is_accepting()


def _call(name: str, arguments: str) -> str:
    return '<tool_call>\n{"name": "' + name + '", "arguments": ' + arguments + "}\n</tool_call>"


# --------------------------------------------------------------------------- repair_schema


def test_llguidance_refuses_an_integer_enum_of_strings(engine: GrammarEngine) -> None:
    # The failure being repaired: one such tool breaks the grammar of every tool.
    with pytest.raises(GrammarError, match="number_of_tickets' is unsatisfiable"):
        engine.lark_grammar(HERMES.grammar([WEATHER, TICKETS]))


def test_an_integer_enum_of_strings_becomes_integers() -> None:
    original = copy.deepcopy(TICKETS["parameters"])
    schema, warnings = repair_schema(TICKETS["parameters"])
    assert schema["properties"]["number_of_tickets"] == {"type": "integer", "enum": list(range(1, 10))}
    assert schema["properties"]["event"] == {"type": "string"}
    assert list(schema["properties"]) == ["event", "number_of_tickets"]
    [warning] = warnings
    assert warning.startswith("#/properties/number_of_tickets: enum values")
    assert "'integer'" in warning and "[1, 2, 3" in warning
    assert TICKETS["parameters"] == original  # the input is not changed


@pytest.mark.parametrize(
    ("subschema", "repaired"),
    [
        ({"type": "integer", "enum": ["-3", "0", "12"]}, {"type": "integer", "enum": [-3, 0, 12]}),
        ({"type": "integer", "enum": ["1", 2, 3.0]}, {"type": "integer", "enum": [1, 2, 3]}),
        ({"type": "integer", "enum": ["1", 1]}, {"type": "integer", "enum": [1]}),
        ({"type": "number", "enum": ["1.5", "2", "-1e3"]}, {"type": "number", "enum": [1.5, 2, -1000.0]}),
        ({"type": "boolean", "enum": ["true", "False"]}, {"type": "boolean", "enum": [True, False]}),
        ({"type": "string", "enum": [1, 2.5, "x"]}, {"type": "string", "enum": ["1", "2.5", "x"]}),
        ({"type": "integer", "const": "7"}, {"type": "integer", "const": 7}),
        ({"type": "boolean", "const": "TRUE"}, {"type": "boolean", "const": True}),
        ({"type": "string", "const": 3}, {"type": "string", "const": "3"}),
        ({"type": "integer", "default": "5"}, {"type": "integer", "default": 5}),
        ({"type": "integer", "default": "five"}, {"type": "integer"}),
        ({"type": "string", "enum": ["a", "b"], "default": "c"}, {"type": "string", "enum": ["a", "b"]}),
        ({"type": "integer", "enum": ["1", "2"], "default": "2"}, {"type": "integer", "enum": [1, 2], "default": 2}),
        ({"type": "integer", "minimum": 0, "default": -1}, {"type": "integer", "minimum": 0}),
        ({"type": "int"}, {"type": "integer"}),
        ({"type": "Float"}, {"type": "number"}),
        ({"type": "String"}, {"type": "string"}),
        ({"type": ["int", "null"]}, {"type": ["integer", "null"]}),
        ({"type": "any", "description": "x"}, {"description": "x"}),
        (
            {"type": "dict", "properties": {"a": {"type": "bool", "default": "false"}}},
            {"type": "object", "properties": {"a": {"type": "boolean", "default": False}}},
        ),
        ({"type": "tuple", "items": {"type": "str"}}, {"type": "array", "items": {"type": "string"}}),
    ],
)
def test_what_has_one_reading_is_repaired(subschema: dict[str, Any], repaired: dict[str, Any]) -> None:
    schema, warnings = repair_schema(_object({"p": subschema}))
    assert schema["properties"]["p"] == repaired
    assert warnings and all(w.startswith("#/properties/p") for w in warnings)
    assert all(type(a) is type(b) for a, b in zip(schema["properties"]["p"].get("enum", []), repaired.get("enum", [])))


@pytest.mark.parametrize(
    "subschema",
    [
        {"type": "integer", "enum": ["1", "one"]},  # not every value converts: which was meant?
        {"type": "integer", "enum": ["1.0"]},  # not an integer literal
        {"type": "integer", "enum": ["01"]},
        {"type": "integer", "enum": [True]},  # a boolean is no integer
        {"type": "boolean", "enum": ["yes"]},
        {"type": "boolean", "enum": [1, 0]},
        {"type": "string", "enum": [True, None]},
        {"type": "number", "enum": ["1e999"]},
        {"type": ["integer", "string"], "enum": ["1", 2]},  # valid as it is
        {"type": "string", "minLength": 5, "maxLength": 2},  # impossible: nothing to read it as
        {"enum": []},
        {"type": "integer", "enum": [1, 2], "default": 1},
        {"type": "integer", "default": 3.0},
        {"type": "frobnicate"},  # an unknown type name is not guessed at
        {"not": {"type": "integer", "enum": ["1"]}},  # a repair under "not" would change what it excludes
        {"type": "object", "default": {"a": 1}},
    ],
)
def test_what_is_ambiguous_or_fine_is_left_alone(subschema: dict[str, Any]) -> None:
    schema = _object({"p": subschema})
    repaired, warnings = repair_schema(schema)
    assert repaired is schema
    assert warnings == []


def test_repairs_reach_nested_schemas_and_definitions() -> None:
    schema = {
        "type": "object",
        "properties": {
            "seat": {"$ref": "#/$defs/Seat"},
            "rows": {"type": "array", "items": {"type": "integer", "enum": ["1", "2"]}},
            "either": {"anyOf": [{"type": "boolean", "const": "false"}, {"type": "null"}]},
            "pair": {"type": "array", "prefixItems": [{"type": "string", "enum": [1]}]},
            "extra": {"type": "object", "additionalProperties": {"type": "number", "enum": ["0.5"]}},
        },
        "$defs": {"Seat": {"type": "integer", "enum": ["10", "20"], "default": "30"}},
    }
    repaired, warnings = repair_schema(schema)
    assert repaired["$defs"]["Seat"] == {"type": "integer", "enum": [10, 20]}
    assert repaired["properties"]["rows"]["items"]["enum"] == [1, 2]
    assert repaired["properties"]["either"]["anyOf"][0]["const"] is False
    assert repaired["properties"]["pair"]["prefixItems"][0]["enum"] == ["1"]
    assert repaired["properties"]["extra"]["additionalProperties"]["enum"] == [0.5]
    paths = [warning.split(":")[0] for warning in warnings]
    assert paths == [
        "#/properties/rows/items",
        "#/properties/either/anyOf/0",
        "#/properties/pair/prefixItems/0",
        "#/properties/extra/additionalProperties",
        "#/$defs/Seat",
        "#/$defs/Seat",
    ]


def test_a_default_is_checked_against_referenced_definitions() -> None:
    schema = {
        "type": "object",
        "properties": {"unit": {"$ref": "#/$defs/Unit", "default": "kelvin"}},
        "$defs": {"Unit": {"type": "string", "enum": ["c", "f"]}},
    }
    repaired, [warning] = repair_schema(schema)
    assert repaired["properties"]["unit"] == {"$ref": "#/$defs/Unit"}
    assert warning == '#/properties/unit: default "kelvin" does not fit the schema; dropped'


def test_non_schemas_pass_through() -> None:
    values: list[Any] = [True, False, None, [], "x"]
    for value in values:
        assert repair_schema(value) == (value, [])


# --------------------------------------------------------------------------- usable_tools, real llguidance


def test_an_integer_enum_of_strings_is_repaired_and_callable(engine: GrammarEngine, tokenizer: Tokenizer) -> None:
    tools = [WEATHER, TICKETS]
    usable, warnings = usable_tools(engine, tools)
    assert [tool["name"] for tool in usable] == ["get_weather", "book_tickets"]
    assert usable[0] is WEATHER  # nothing to repair: passed on as it is
    assert usable[1]["description"] == "Books tickets."
    assert usable[1]["parameters"]["properties"]["number_of_tickets"]["enum"] == list(range(1, 10))
    assert TICKETS["parameters"]["properties"]["number_of_tickets"]["enum"][0] == "1"  # input unchanged
    [warning] = warnings
    assert warning.startswith("tool 'book_tickets': #/properties/number_of_tickets: enum values")

    grammar = engine.lark_grammar(HERMES.grammar(usable))
    assert _accepts(engine, tokenizer, grammar, _call("book_tickets", '{"event": "Opera", "number_of_tickets": 3}'))
    assert not _accepts(
        engine, tokenizer, grammar, _call("book_tickets", '{"event": "Opera", "number_of_tickets": "3"}')
    )
    assert not _accepts(engine, tokenizer, grammar, _call("book_tickets", '{"event": "Opera", "number_of_tickets": 0}'))
    assert _accepts(engine, tokenizer, grammar, _call("get_weather", '{"city": "Paris"}'))


@pytest.mark.parametrize("bad", [TOO_SHORT, NO_VALUES], ids=["minLength>maxLength", "empty enum"])
def test_an_impossible_schema_is_left_out_and_the_good_tool_stays_callable(
    engine: GrammarEngine, tokenizer: Tokenizer, bad: dict[str, Any]
) -> None:
    with pytest.raises(GrammarError):
        engine.lark_grammar(HERMES.grammar([WEATHER, bad]))
    usable, warnings = usable_tools(engine, [bad, WEATHER])
    assert usable == [WEATHER]
    [warning] = warnings
    assert warning.startswith(f"tool {bad['name']!r} left out: ")
    assert "unsatisfiable" in warning
    assert "\n" not in warning and "%json" not in warning  # the reason, not the grammar listing

    grammar = engine.lark_grammar(HERMES.grammar(usable))
    assert _accepts(engine, tokenizer, grammar, _call("get_weather", '{"city": "Paris"}'))
    assert not _accepts(engine, tokenizer, grammar, _call(bad["name"], "{}"))


def test_a_pattern_llguidance_cannot_compile_is_left_out_with_its_reason(engine: GrammarEngine) -> None:
    lookahead = {"name": "coded", "parameters": _object({"code": {"type": "string", "pattern": "(?=a)a"}})}
    usable, [warning] = usable_tools(engine, [lookahead, WEATHER])
    assert usable == [WEATHER]
    assert warning.startswith("tool 'coded' left out: ") and "look-around" in warning


@pytest.mark.parametrize(
    ("tool", "reason"),
    [
        ({"parameters": _object({})}, "needs a 'name'"),
        ({"name": "f", "parameters": "object"}, "'parameters' must be a JSON schema object"),
        ({"name": "f", "parameters": _object({"x": {"type": "number", "maximum": float("nan")}})}, "not JSON"),
    ],
)
def test_malformed_tools_are_left_out(engine: GrammarEngine, tool: dict[str, Any], reason: str) -> None:
    usable, [warning] = usable_tools(engine, [tool, WEATHER])
    assert usable == [WEATHER]
    assert "left out" in warning and reason in warning


def test_a_tool_without_parameters_is_usable(engine: GrammarEngine) -> None:
    bare = {"name": "now", "description": "The time."}
    assert usable_tools(engine, [bare]) == ([bare], [])


def test_strict_mode_raises_listing_every_unusable_tool(engine: GrammarEngine) -> None:
    with pytest.raises(GrammarError) as info:
        usable_tools(engine, [TOO_SHORT, WEATHER, TICKETS, NO_VALUES], strict=True)
    assert isinstance(info.value, UserError)
    message = str(info.value)
    assert message.startswith("2 tools cannot be constrained by the grammar engine:")
    assert "- tool 'impossible_length': " in message and "- tool 'impossible_enum': " in message
    assert "book_tickets" not in message and "get_weather" not in message
    # Repairs are not failures: strict mode still makes them.
    usable, [warning] = usable_tools(engine, [WEATHER, TICKETS], strict=True)
    assert [tool["name"] for tool in usable] == ["get_weather", "book_tickets"]
    assert "number_of_tickets" in warning


def test_results_are_cached_by_schema(tokenizer: Tokenizer, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engine(tokenizer)
    compiled: list[str] = []
    real = engine.lark_grammar

    def counting(lark: str) -> str:
        compiled.append(lark)
        return real(lark)

    monkeypatch.setattr(engine, "lark_grammar", counting)
    tools = [WEATHER, TICKETS, TOO_SHORT]
    first = usable_tools(engine, tools)
    assert len(compiled) == 3
    again = usable_tools(engine, copy.deepcopy(tools))  # equal tools, new objects: same hash
    assert again == first and len(compiled) == 3
    changed = copy.deepcopy(WEATHER)
    changed["parameters"]["properties"]["city"]["maxLength"] = 40
    usable_tools(engine, [changed])
    assert len(compiled) == 4
    # A cached repair is not shared: changing one result does not change the next.
    again[0][1]["parameters"]["properties"]["number_of_tickets"]["enum"].append(99)
    assert usable_tools(engine, tools)[0][1]["parameters"]["properties"]["number_of_tickets"]["enum"][-1] == 9


def test_an_imported_tool_is_repaired_so_validation_matches_the_grammar() -> None:
    from agent_sdk.tools import Tool

    spec = {"name": "buy", "parameters": _object({"n": {"type": "integer", "enum": ["1", "2"]}})}
    tool = Tool.from_openai(spec)
    assert tool.parameters["properties"]["n"]["enum"] == [1, 2]
    assert tool.schema_repairs and "#/properties/n" in tool.schema_repairs[0]
    assert tool.validate({"n": 1}) == {"n": 1}  # what the repaired grammar lets the model write
    with pytest.raises(AgentSDKError):
        tool.validate({"n": "1"})
    assert Tool.from_openai({"name": "ok", "parameters": _object({"a": {"type": "string"}})}).schema_repairs == ()
