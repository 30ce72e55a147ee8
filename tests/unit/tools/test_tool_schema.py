"""Schema snapshots: the exact JSON schema @tool derives for each supported type.

Each expected value is written out in full; a change to the canonical shape
(see agent_sdk/tools/schema.py) must show up here as a deliberate edit.
"""

from __future__ import annotations

import enum
import inspect
import json
from typing import Annotated, Any, Literal, Optional

import jsonschema
import pytest
from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import NotRequired, TypedDict

from agent_sdk.tools import Tool, tool
from agent_sdk.tools.schema import canonical_schema, unconstrained_paths

pytestmark = pytest.mark.unit


@tool
def get_weather(city: str, unit: Literal["c", "f"] = "c") -> str:
    """Current weather in a city.

    Args:
        city: City name, e.g. "Paris".
        unit: Temperature unit: c for Celsius,
            f for Fahrenheit.

    Returns:
        A sentence about the weather.
    """
    return f"18 degrees {unit} in {city}"


GET_WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": 'City name, e.g. "Paris".'},
        "unit": {
            "type": "string",
            "enum": ["c", "f"],
            "default": "c",
            "description": "Temperature unit: c for Celsius, f for Fahrenheit.",
        },
    },
    "required": ["city"],
    "additionalProperties": False,
}


def test_get_weather_schema_is_exact() -> None:
    assert get_weather.name == "get_weather"
    assert get_weather.description == "Current weather in a city."
    assert get_weather.parameters == GET_WEATHER_SCHEMA


def test_key_order_is_canonical() -> None:
    # Dict equality ignores order; the prompt and the grammar do not.
    assert json.dumps(get_weather.parameters) == (
        '{"type": "object", "properties": {'
        '"city": {"type": "string", "description": "City name, e.g. \\"Paris\\"."}, '
        '"unit": {"type": "string", "enum": ["c", "f"], "default": "c", '
        '"description": "Temperature unit: c for Celsius, f for Fahrenheit."}}, '
        '"required": ["city"], "additionalProperties": false}'
    )


def test_to_openai_form() -> None:
    assert get_weather.to_openai() == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city.",
            "parameters": GET_WEATHER_SCHEMA,
        },
    }
    # A copy: editing it does not change the tool.
    get_weather.to_openai()["function"]["parameters"]["properties"].clear()
    assert get_weather.parameters == GET_WEATHER_SCHEMA


class Color(enum.Enum):
    """A colour (the enum's docstring yields to the parameter's description)."""

    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Address(BaseModel):
    """A postal address."""

    street: str
    zip_code: int = Field(description="Five digits.")
    country: str = "FR"


class Order(BaseModel):
    address: Address
    items: list[str]


class Loose(BaseModel):
    model_config = ConfigDict(extra="allow")

    a: int


class Point(TypedDict):
    x: int
    y: int
    label: NotRequired[str]


class Node(BaseModel):
    value: int
    children: list[Node] = []


_EMPTY = inspect.Parameter.empty


def _tool_taking(annotation: Any, default: Any = _EMPTY) -> Tool[..., Any]:
    """A one-parameter tool ``takes(x)`` with the given hint and default."""

    def takes(x):  # type: ignore[no-untyped-def]
        return x

    takes.__annotations__ = {"x": annotation}
    if default is not _EMPTY:
        takes.__defaults__ = (default,)
    takes.__doc__ = "Takes a value.\n\nArgs:\n    x: The value.\n"
    return tool(takes)


SNAPSHOTS: list[tuple[str, Any, Any, dict[str, Any]]] = [
    (
        "str",
        str,
        _EMPTY,
        {
            "type": "object",
            "properties": {"x": {"type": "string", "description": "The value."}},
            "required": ["x"],
            "additionalProperties": False,
        },
    ),
    (
        "int",
        int,
        _EMPTY,
        {
            "type": "object",
            "properties": {"x": {"type": "integer", "description": "The value."}},
            "required": ["x"],
            "additionalProperties": False,
        },
    ),
    (
        "float with default",
        float,
        0.5,
        {
            "type": "object",
            "properties": {"x": {"type": "number", "default": 0.5, "description": "The value."}},
            "additionalProperties": False,
        },
    ),
    (
        "bool with default",
        bool,
        False,
        {
            "type": "object",
            "properties": {"x": {"type": "boolean", "default": False, "description": "The value."}},
            "additionalProperties": False,
        },
    ),
    (
        "str literal",
        Literal["on", "off"],
        _EMPTY,
        {
            "type": "object",
            "properties": {"x": {"type": "string", "enum": ["on", "off"], "description": "The value."}},
            "required": ["x"],
            "additionalProperties": False,
        },
    ),
    (
        "int literal",
        Literal[1, 2, 3],
        2,
        {
            "type": "object",
            "properties": {"x": {"type": "integer", "enum": [1, 2, 3], "default": 2, "description": "The value."}},
            "additionalProperties": False,
        },
    ),
    (
        "single literal",
        Literal["only"],
        _EMPTY,
        {
            "type": "object",
            "properties": {"x": {"type": "string", "const": "only", "description": "The value."}},
            "required": ["x"],
            "additionalProperties": False,
        },
    ),
    (
        "enum with member default",
        Color,
        Color.GREEN,
        {
            "type": "object",
            "properties": {
                "x": {"type": "string", "enum": ["red", "green"], "default": "green", "description": "The value."}
            },
            "additionalProperties": False,
        },
    ),
    (
        "int enum",
        Level,
        _EMPTY,
        {
            "type": "object",
            "properties": {"x": {"type": "integer", "enum": [1, 2], "description": "The value."}},
            "required": ["x"],
            "additionalProperties": False,
        },
    ),
    (
        "Optional[int] = None",
        Optional[int],  # noqa: UP045  (the spelling under test)
        None,
        {
            "type": "object",
            "properties": {"x": {"type": ["integer", "null"], "default": None, "description": "The value."}},
            "additionalProperties": False,
        },
    ),
    (
        "str | None, required",
        str | None,
        _EMPTY,
        {
            "type": "object",
            "properties": {"x": {"type": ["string", "null"], "description": "The value."}},
            "required": ["x"],
            "additionalProperties": False,
        },
    ),
    (
        "Literal | None",
        Literal["a", "b"] | None,
        None,
        {
            "type": "object",
            "properties": {
                "x": {
                    "anyOf": [{"type": "string", "enum": ["a", "b"]}, {"type": "null"}],
                    "default": None,
                    "description": "The value.",
                }
            },
            "additionalProperties": False,
        },
    ),
    (
        "list[int]",
        list[int],
        _EMPTY,
        {
            "type": "object",
            "properties": {"x": {"type": "array", "items": {"type": "integer"}, "description": "The value."}},
            "required": ["x"],
            "additionalProperties": False,
        },
    ),
    (
        "list[Literal] with default",
        list[Literal["a", "b"]],
        ["a"],
        {
            "type": "object",
            "properties": {
                "x": {
                    "type": "array",
                    "items": {"type": "string", "enum": ["a", "b"]},
                    "default": ["a"],
                    "description": "The value.",
                }
            },
            "additionalProperties": False,
        },
    ),
    (
        "dict[str, float]",
        dict[str, float],
        _EMPTY,
        {
            "type": "object",
            "properties": {
                "x": {"type": "object", "additionalProperties": {"type": "number"}, "description": "The value."}
            },
            "required": ["x"],
            "additionalProperties": False,
        },
    ),
    (
        "nested pydantic model",
        Address,
        _EMPTY,
        {
            "type": "object",
            "properties": {
                "x": {
                    "type": "object",
                    "properties": {
                        "street": {"type": "string"},
                        "zip_code": {"type": "integer", "description": "Five digits."},
                        "country": {"type": "string", "default": "FR"},
                    },
                    "required": ["street", "zip_code"],
                    "additionalProperties": False,
                    "description": "The value.",
                }
            },
            "required": ["x"],
            "additionalProperties": False,
        },
    ),
    (
        "model inside a model (defs inlined)",
        Order,
        _EMPTY,
        {
            "type": "object",
            "properties": {
                "x": {
                    "type": "object",
                    "properties": {
                        "address": {
                            "type": "object",
                            "properties": {
                                "street": {"type": "string"},
                                "zip_code": {"type": "integer", "description": "Five digits."},
                                "country": {"type": "string", "default": "FR"},
                            },
                            "required": ["street", "zip_code"],
                            "additionalProperties": False,
                            "description": "A postal address.",
                        },
                        "items": {"type": "array", "items": {"type": "string"}},
                    },
                    "required": ["address", "items"],
                    "additionalProperties": False,
                    "description": "The value.",
                }
            },
            "required": ["x"],
            "additionalProperties": False,
        },
    ),
    (
        "list of models",
        list[Address],
        _EMPTY,
        {
            "type": "object",
            "properties": {
                "x": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "street": {"type": "string"},
                            "zip_code": {"type": "integer", "description": "Five digits."},
                            "country": {"type": "string", "default": "FR"},
                        },
                        "required": ["street", "zip_code"],
                        "additionalProperties": False,
                        "description": "A postal address.",
                    },
                    "description": "The value.",
                }
            },
            "required": ["x"],
            "additionalProperties": False,
        },
    ),
    (
        "model with extra=allow is closed too",
        Loose,
        _EMPTY,
        {
            "type": "object",
            "properties": {
                "x": {
                    "type": "object",
                    "properties": {"a": {"type": "integer"}},
                    "required": ["a"],
                    "additionalProperties": False,
                    "description": "The value.",
                }
            },
            "required": ["x"],
            "additionalProperties": False,
        },
    ),
    (
        "TypedDict with NotRequired",
        Point,
        _EMPTY,
        {
            "type": "object",
            "properties": {
                "x": {
                    "type": "object",
                    "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}, "label": {"type": "string"}},
                    "required": ["x", "y"],
                    "additionalProperties": False,
                    "description": "The value.",
                }
            },
            "required": ["x"],
            "additionalProperties": False,
        },
    ),
    (
        "Annotated constraints",
        Annotated[int, Field(ge=1, le=10)],
        5,
        {
            "type": "object",
            "properties": {
                "x": {"type": "integer", "minimum": 1, "maximum": 10, "default": 5, "description": "The value."}
            },
            "additionalProperties": False,
        },
    ),
    (
        "union of scalars",
        int | str,
        _EMPTY,
        {
            "type": "object",
            "properties": {"x": {"type": ["integer", "string"], "description": "The value."}},
            "required": ["x"],
            "additionalProperties": False,
        },
    ),
    (
        "recursive model keeps one $defs entry",
        Node,
        _EMPTY,
        {
            "type": "object",
            "properties": {"x": {"$ref": "#/$defs/Node", "description": "The value."}},
            "required": ["x"],
            "additionalProperties": False,
            "$defs": {
                "Node": {
                    "type": "object",
                    "properties": {
                        "value": {"type": "integer"},
                        "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}, "default": []},
                    },
                    "required": ["value"],
                    "additionalProperties": False,
                }
            },
        },
    ),
]


@pytest.mark.parametrize(("label", "annotation", "default", "expected"), SNAPSHOTS, ids=[s[0] for s in SNAPSHOTS])
def test_schema_snapshot(label: str, annotation: Any, default: Any, expected: dict[str, Any]) -> None:
    made = _tool_taking(annotation, default)
    assert made.parameters == expected
    jsonschema.Draft202012Validator.check_schema(made.parameters)


@pytest.mark.parametrize(("label", "annotation", "default", "expected"), SNAPSHOTS, ids=[s[0] for s in SNAPSHOTS])
def test_snapshot_key_order(label: str, annotation: Any, default: Any, expected: dict[str, Any]) -> None:
    # json.dumps keeps insertion order, so equal strings mean equal key order everywhere.
    assert json.dumps(_tool_taking(annotation, default).parameters) == json.dumps(expected)


@pytest.mark.parametrize(("label", "annotation", "default", "expected"), SNAPSHOTS, ids=[s[0] for s in SNAPSHOTS])
def test_snapshot_compiles_as_a_grammar(label: str, annotation: Any, default: Any, expected: dict[str, Any]) -> None:
    # The decoder is constrained by these schemas; llguidance must take each one without warnings.
    llguidance = pytest.importorskip("llguidance")
    grammar = llguidance.grammar_from("json_schema", json.dumps(expected))
    # (problems found?, messages); an unknown keyword or format would show up here.
    assert llguidance.LLMatcher.validate_grammar_with_warnings(grammar) == (False, [])


def test_no_parameters() -> None:
    @tool
    def ping() -> str:
        """Checks that the device answers."""
        return "pong"

    assert ping.parameters == {"type": "object", "properties": {}, "additionalProperties": False}
    assert ping.run({}) == "pong"


def test_parameter_names_that_clash_with_pydantic() -> None:
    @tool
    def query(json: str, model_config: int = 1, _private: bool = False) -> str:
        """Runs a query.

        Args:
            json: A JSON document.
            model_config: A number.
            _private: A flag.
        """
        return f"{json}{model_config}{_private}"

    assert list(query.parameters["properties"]) == ["json", "model_config", "_private"]
    assert query.validate({"json": "{}"}) == {"json": "{}", "model_config": 1, "_private": False}
    assert query.run({"json": "a", "_private": True}) == "a1True"


def test_annotated_field_description_documents_a_parameter() -> None:
    @tool
    def dim(level: Annotated[int, Field(ge=0, le=100, description="Brightness in percent.")]) -> None:
        """Dims the lights."""

    assert dim.parameters["properties"]["level"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 100,
        "description": "Brightness in percent.",
    }


def test_args_description_wins_over_annotated_description() -> None:
    @tool
    def dim(level: Annotated[int, Field(description="From the hint.")]) -> None:
        """Dims the lights.

        Args:
            level: From the docstring.
        """

    assert dim.parameters["properties"]["level"]["description"] == "From the docstring."


def test_canonical_schema_keeps_a_property_called_title() -> None:
    raw = {
        "title": "Args",
        "type": "object",
        "properties": {"title": {"title": "Title", "type": "string", "default": "title"}},
        "required": [],
    }
    assert canonical_schema(raw) == {
        "type": "object",
        "properties": {"title": {"type": "string", "default": "title"}},
        "required": [],
        "additionalProperties": False,
    }


def test_canonical_schema_merges_a_lone_allof_and_keeps_sibling_description() -> None:
    raw = {
        "$defs": {"Color": {"title": "Color", "enum": ["red"], "type": "string", "description": "Enum doc."}},
        "type": "object",
        "properties": {"c": {"allOf": [{"$ref": "#/$defs/Color"}], "description": "Param doc."}},
    }
    assert canonical_schema(raw)["properties"]["c"] == {"type": "string", "enum": ["red"], "description": "Param doc."}


def test_unconstrained_paths() -> None:
    assert unconstrained_paths({}, "x") == ["x"]
    assert unconstrained_paths({"type": "array", "items": {}}, "x") == ["x[]"]
    assert unconstrained_paths({"type": "object", "additionalProperties": True}, "x") == ["x{}"]
    assert unconstrained_paths({"type": "object", "properties": {"a": {"description": "d"}}}, "x") == ["x.a"]
    assert unconstrained_paths({"type": "object", "additionalProperties": {"type": "integer"}}, "x") == []
    assert unconstrained_paths({"anyOf": [{"type": "null"}, True]}, "x") == ["x"]
