"""ToolRegistry: unique names, OpenAI import/export, execution that turns every failure into a result."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import enum
import json
import time
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from agent_sdk.errors import ToolArgumentError, ToolDefinitionError, ToolError, UserError
from agent_sdk.tools import Tool, ToolRegistry, ToolResult, tool

pytestmark = pytest.mark.unit


class Unit(enum.Enum):
    C = "c"
    F = "f"


class Reading(BaseModel):
    city: str
    degrees: float


@tool
def get_weather(city: str, unit: Unit = Unit.C) -> Reading:
    """Current weather in a city.

    Args:
        city: City name.
        unit: Temperature unit.
    """
    return Reading(city=city, degrees=18.0 if unit is Unit.C else 64.4)


@tool(requires_confirmation=True)
def set_alarm(time: str, label: str = "") -> str:
    """Sets an alarm.

    Args:
        time: HH:MM.
        label: What the alarm is for.
    """
    return f"alarm set for {time}"


@tool
async def fetch(url: str) -> dict[str, Any]:
    """Fetches a page.

    Args:
        url: The address.
    """
    await asyncio.sleep(0)
    return {"url": url, "status": 200}


@tool
def explode(reason: str) -> None:
    """Always fails.

    Args:
        reason: Why.
    """
    raise ValueError(reason)


@tool
def refuse(city: str) -> None:
    """Fails with a message for the model.

    Args:
        city: City name.
    """
    raise ToolError(f"no weather station in {city}")


@tool(timeout=0.2)
def slow_sync() -> str:
    """Sleeps for two seconds."""
    time.sleep(2)
    return "done"


@tool(timeout=0.2)
async def slow_async() -> str:
    """Sleeps for two seconds."""
    await asyncio.sleep(2)
    return "done"


@tool(timeout=1.0)
def raises_timeout_error() -> None:
    """Fails with its own TimeoutError, well within its time."""
    raise TimeoutError("the device did not answer")


def _registry() -> ToolRegistry:
    return ToolRegistry([get_weather, set_alarm, fetch, explode, refuse, slow_sync, slow_async, raises_timeout_error])


# ---------------------------------------------------------------- registration


def test_lookup() -> None:
    registry = ToolRegistry([get_weather, set_alarm])
    assert registry.names == ["get_weather", "set_alarm"]
    assert len(registry) == 2 and bool(registry)
    assert list(registry) == [get_weather, set_alarm]
    assert registry.get("set_alarm") is set_alarm
    assert "get_weather" in registry and get_weather in registry
    assert "fetch" not in registry and fetch not in registry and 42 not in registry
    assert not ToolRegistry()


def test_get_unknown_suggests_a_close_name() -> None:
    with pytest.raises(ToolError, match=r"unknown tool 'get_wether'; did you mean 'get_weather'\?"):
        _registry().get("get_wether")


def test_duplicate_names_raise() -> None:
    registry = ToolRegistry([get_weather])
    with pytest.raises(ToolDefinitionError, match="a tool named 'get_weather' is already registered") as info:
        registry.register(get_weather)
    assert isinstance(info.value, UserError)

    @tool(name="get_weather")
    def other(city: str) -> str:
        """Another weather tool.

        Args:
            city: City name.
        """
        return city

    with pytest.raises(ToolDefinitionError):
        registry.register(other)
    with pytest.raises(ToolDefinitionError):
        ToolRegistry([get_weather, other])
    assert registry.names == ["get_weather"]  # nothing renamed, nothing replaced


def test_register_makes_tools_of_functions_and_works_as_decorator() -> None:
    registry = ToolRegistry()

    @registry.register
    def lights(on: bool) -> str:
        """Switches the lights.

        Args:
            on: On or off.
        """
        return "on" if on else "off"

    assert isinstance(lights, Tool)
    assert registry.get("lights") is lights
    assert lights(True) == "on"

    def undocumented(x: int) -> int:
        return x

    with pytest.raises(ToolDefinitionError):
        registry.register(undocumented)


def test_validate_through_the_registry() -> None:
    registry = _registry()
    assert registry.validate("get_weather", {"city": "Oslo", "unit": "f"}) == {"city": "Oslo", "unit": Unit.F}
    with pytest.raises(ToolArgumentError):
        registry.validate("get_weather", {})
    with pytest.raises(ToolError, match="unknown tool"):
        registry.validate("nope", {})


# ---------------------------------------------------------------- OpenAI format


def test_openai_round_trip_with_implementations() -> None:
    registry = ToolRegistry([get_weather, set_alarm, fetch])
    exported = registry.to_openai()
    assert [t["function"]["name"] for t in exported] == ["get_weather", "set_alarm", "fetch"]
    assert exported[0] == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name."},
                    "unit": {"type": "string", "enum": ["c", "f"], "default": "c", "description": "Temperature unit."},
                },
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }
    imported = ToolRegistry.from_openai(exported, implementations={t.name: t for t in registry})
    assert imported.to_openai() == exported
    # A Tool implementation still converts (enum member, not string) and lends its flags.
    assert imported.validate("get_weather", {"city": "Oslo", "unit": "f"}) == {"city": "Oslo", "unit": Unit.F}
    assert imported.get("set_alarm").requires_confirmation
    result = imported.execute_sync("get_weather", {"city": "Oslo", "unit": "f"})
    assert result.ok and result.content == Reading(city="Oslo", degrees=64.4)
    assert asyncio.run(imported.execute("fetch", {"url": "u"})).content == {"url": "u", "status": 200}


def test_declared_only_tools() -> None:
    spec = {
        "type": "function",
        "function": {
            "name": "turn_on",
            "description": "Turns a device on.",
            "parameters": {
                "type": "object",
                "properties": {
                    "device": {"type": "string", "enum": ["lamp", "fan"]},
                    "level": {"type": "integer", "minimum": 1},
                },
                "required": ["device"],
                "additionalProperties": False,
            },
        },
    }
    registry = ToolRegistry.from_openai([spec])
    declared = registry.get("turn_on")
    assert not declared.has_implementation and repr(declared) == "<Tool turn_on(device, level) (declared only)>"
    assert registry.to_openai() == [spec]
    assert declared.validate({"device": "fan"}) == {"device": "fan"}
    with pytest.raises(ToolArgumentError) as info:
        declared.validate({"device": "tv", "level": 0, "colour": "red", "speed": 1})
    assert info.value.problems == (
        'device: must be one of "lamp", "fan" (got "tv")',
        "level: 0 is less than the minimum of 1",
        "colour: unexpected argument (the parameters are: device, level)",
        "speed: unexpected argument (the parameters are: device, level)",
    )
    with pytest.raises(ToolArgumentError) as info:
        declared.validate({"level": "high"})
    assert info.value.problems == ('level: expected integer (got "high")', "device: missing required argument")
    with pytest.raises(ToolError, match="no implementation"):
        declared.run({"device": "fan"})
    with pytest.raises(ToolError, match="no implementation"):
        declared(device="fan")
    result = registry.execute_sync("turn_on", {"device": "fan"})
    assert not result.ok and result.error == "tool 'turn_on' has no implementation (it is declared by its schema only)"


def test_plain_callable_implementation_gets_arguments_unchanged() -> None:
    seen: list[dict[str, Any]] = []

    def turn_on(device: str, level: int = 1) -> str:
        seen.append({"device": device, "level": level})
        return "ok"

    spec = {
        "name": "turn_on",
        "parameters": {"type": "object", "properties": {"device": {"type": "string"}, "level": {"type": "integer"}}},
    }
    registry = ToolRegistry.from_openai([spec], implementations={"turn_on": turn_on})
    assert registry.get("turn_on").description == ""
    assert registry.execute_sync("turn_on", {"device": "fan"}).content == "ok"
    assert seen == [{"device": "fan", "level": 1}]


def test_bare_function_specs_and_missing_parameters() -> None:
    registry = ToolRegistry.from_openai([{"name": "ping", "description": "Pings."}])
    assert registry.to_openai() == [
        {
            "type": "function",
            "function": {"name": "ping", "description": "Pings.", "parameters": {"type": "object", "properties": {}}},
        }
    ]


def test_from_openai_reports_every_problem() -> None:
    def needs_more(device: str, mode: str) -> None: ...

    with pytest.raises(ToolDefinitionError) as info:
        ToolRegistry.from_openai(
            [
                {"type": "function", "function": {"name": "bad name", "parameters": {"type": "object"}}},
                {"type": "function", "function": {"name": "no_object", "parameters": {"type": "string"}}},
                {
                    "type": "function",
                    "function": {
                        "name": "bad_schema",
                        "parameters": {"type": "object", "properties": {"a": {"type": "wat"}}},
                    },
                },
                {"type": "retrieval"},
                {"type": "function", "function": "dup"},
                {"name": "dup"},
                {"name": "dup"},
                {
                    "name": "turn_on",
                    "parameters": {
                        "type": "object",
                        "properties": {"device": {"type": "string"}, "speed": {"type": "integer"}},
                        "required": ["speed"],
                    },
                },
                "not a tool",  # type: ignore[list-item]
            ],
            implementations={"ghost": print, "turn_on": needs_more},
        )
    assert info.value.problems == (
        "tools[0]: the name 'bad name' is not a valid tool name: use 1 to 64 letters, digits, '_', '-' or '.' (not first)",
        "no_object: the parameters must be a JSON schema of type 'object'",
        "bad_schema: invalid parameters schema at properties/a/type: 'wat' is not valid under any of the given schemas",
        "tools[3]: unsupported tool type 'retrieval' (only 'function')",
        "tools[4]: 'function' must be a JSON object",
        "dup: a tool named 'dup' is already registered; give one of them another name",
        "turn_on: the implementation does not accept the declared parameter 'speed'",
        "turn_on: the implementation requires 'mode', which the schema does not declare",
        "tools[8]: a tool spec must be a JSON object, got 'not a tool'",
        "an implementation is given for 'ghost', but no tool has that name",
    )


# ---------------------------------------------------------------- execution


def test_success_sync_and_async() -> None:
    registry = _registry()
    result = registry.execute_sync("get_weather", {"city": "Paris"})
    assert result.ok and result.error is None
    assert result.content == Reading(city="Paris", degrees=18.0)
    assert result.name == "get_weather" and result.arguments == {"city": "Paris"}
    assert result.elapsed_s >= 0
    assert result.to_message() == '{"city": "Paris", "degrees": 18.0}'

    result = asyncio.run(registry.execute("fetch", {"url": "https://example.org"}))
    assert result.ok and result.content == {"url": "https://example.org", "status": 200}
    # Each path also runs the other kind of function.
    assert registry.execute_sync("fetch", {"url": "a"}).content == {"url": "a", "status": 200}
    assert asyncio.run(registry.execute("get_weather", {"city": "Rome"})).content.city == "Rome"


def test_failures_become_results() -> None:
    registry = _registry()
    cases = {
        ("get_wether", '{"city": "Paris"}'): "unknown tool 'get_wether'; did you mean 'get_weather'? (available tools:"
        " get_weather, set_alarm, fetch, explode, refuse, slow_sync, slow_async, raises_timeout_error)",
        ("get_weather", '{"town": "Paris"}'): "invalid arguments for tool 'get_weather':\n"
        "- city: missing required argument\n"
        "- town: unexpected argument (the parameters are: city, unit)",
        ("explode", '{"reason": "boom"}'): "tool 'explode' failed: ValueError: boom",
        ("refuse", '{"city": "Atlantis"}'): "no weather station in Atlantis",
        ("raises_timeout_error", "{}"): "tool 'raises_timeout_error' failed: TimeoutError: the device did not answer",
    }
    for (name, arguments), error in cases.items():
        for result in (
            registry.execute_sync(name, json.loads(arguments)),
            asyncio.run(registry.execute(name, json.loads(arguments))),
        ):
            assert not result.ok, name
            assert result.content is None
            assert result.error == error
            assert result.to_message() == f"Error: {error}"
    explode_result = registry.execute_sync("explode", {"reason": "boom"})
    assert isinstance(explode_result.exception, ValueError)


def test_non_object_arguments_become_an_error_result() -> None:
    result = _registry().execute_sync("get_weather", ["Paris"])  # type: ignore[arg-type]
    assert not result.ok
    assert (
        result.error == "invalid arguments for tool 'get_weather':\n- arguments must be a JSON object (got [\"Paris\"])"
    )


@pytest.mark.parametrize("name", ["slow_sync", "slow_async"])
def test_timeouts_become_results_quickly(name: str) -> None:
    registry = _registry()
    for run in (lambda: registry.execute_sync(name, {}), lambda: asyncio.run(registry.execute(name, {}))):
        start = time.perf_counter()
        result = run()
        elapsed = time.perf_counter() - start
        assert elapsed < 1.0
        assert not result.ok
        assert result.error == f"tool {name!r} timed out after 0.2 s"
        assert 0.15 < result.elapsed_s < 1.0


def test_tool_run_raises_on_timeout() -> None:
    with pytest.raises(ToolError, match="timed out after 0.2 s"):
        slow_sync.run({})
    with pytest.raises(ToolError, match="timed out after 0.2 s"):
        asyncio.run(slow_async.arun({}))


def test_timeout_leaves_fast_calls_alone() -> None:
    @tool(timeout=5)
    def quick(x: int) -> int:
        """Doubles.

        Args:
            x: A number.
        """
        return 2 * x

    assert quick.run({"x": 2}) == 4
    assert asyncio.run(quick.arun({"x": 3})) == 6


def test_async_tool_runs_synchronously_inside_a_running_loop() -> None:
    async def main() -> Any:
        return fetch.run({"url": "inside"})  # blocks this loop, but works

    assert asyncio.run(main()) == {"url": "inside", "status": 200}


@pytest.mark.parametrize("timeout", [None, 5.0])
def test_cancelling_execute_cancels_the_tool(timeout: float | None) -> None:
    events: list[str] = []

    @tool(timeout=timeout)
    async def wait_long() -> None:
        """Waits ten seconds."""
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    async def main() -> None:
        task = asyncio.ensure_future(ToolRegistry([wait_long]).execute("wait_long", {}))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.01)  # let the tool's own task see its cancellation

    asyncio.run(main())
    assert events == ["cancelled"]


# ---------------------------------------------------------------- results


@dataclasses.dataclass
class Point:
    x: int
    y: int


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("plain text", "plain text"),
        ({"a": [1, 2], "b": None}, '{"a": [1, 2], "b": null}'),
        ([1, "two"], '[1, "two"]'),
        ((1, 2), "[1, 2]"),
        (Reading(city="Zürich", degrees=3.5), '{"city": "Zürich", "degrees": 3.5}'),
        (Point(1, 2), '{"x": 1, "y": 2}'),
        (Unit.F, '"f"'),
        (None, "null"),
        (True, "true"),
        (42, "42"),
        (2.5, "2.5"),
        ({"when": datetime.date(2024, 1, 2)}, '{"when": "2024-01-02"}'),
        ({"odd": object}, '{"odd": "<class \'object\'>"}'),
    ],
)
def test_to_message(content: Any, message: str) -> None:
    assert ToolResult(name="t", arguments={}, ok=True, content=content).to_message() == message


def test_result_is_frozen_and_keyword_only() -> None:
    result = ToolResult(name="t", arguments={}, ok=False, error="bad")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.ok = True  # type: ignore[misc]
    with pytest.raises(TypeError):
        ToolResult("t", {}, False)  # type: ignore[misc]
    assert result.to_message() == "Error: bad"


def test_literal_tool_through_registry() -> None:
    @tool
    def mode(value: Literal["eco", "boost"]) -> str:
        """Sets the mode.

        Args:
            value: The mode.
        """
        return value

    registry = ToolRegistry([mode])
    assert registry.execute_sync("mode", {"value": "eco"}).to_message() == "eco"
    assert registry.execute_sync("mode", {"value": "turbo"}).error == (
        "invalid arguments for tool 'mode':\n- value: Input should be 'eco' or 'boost' (got \"turbo\")"
    )
