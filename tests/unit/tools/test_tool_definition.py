"""@tool: the result still calls like the function; definition mistakes raise once, listing all."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, Literal

import pytest

from agent_sdk.errors import AgentSDKError, ToolDefinitionError, ToolError, UserError
from agent_sdk.tools import Tool, tool

pytestmark = pytest.mark.unit


class Opaque:
    """A class pydantic cannot validate or describe."""


_CONCRETE = "; use a concrete type instead of Any, object, bare list or dict"


def _problems(fn: Callable[..., Any], **options: Any) -> tuple[str, ...]:
    with pytest.raises(ToolDefinitionError) as info:
        tool(**options)(fn)
    return info.value.problems


# ---------------------------------------------------------------- the Tool object


def test_tool_calls_like_the_function_and_keeps_its_identity() -> None:
    @tool
    def add(a: int, b: int = 2) -> int:
        """Adds two numbers.

        Args:
            a: First number.
            b: Second number.
        """
        return a + b

    assert isinstance(add, Tool)
    assert add(1) == 3
    assert add(1, b=5) == 6
    assert add.__name__ == "add"
    assert add.__doc__ is not None and add.__doc__.startswith("Adds two numbers.")
    assert add.__wrapped__(2, 2) == 4  # type: ignore[attr-defined]
    assert (add.name, add.requires_confirmation, add.timeout, add.is_async) == ("add", False, None, False)
    assert add.has_implementation
    assert repr(add) == "<Tool add(a, b)>"


def test_async_tool_still_returns_a_coroutine_when_called() -> None:
    @tool
    async def fetch(url: str) -> str:
        """Fetches a page.

        Args:
            url: The address.
        """
        await asyncio.sleep(0)
        return url.upper()

    assert fetch.is_async
    assert asyncio.run(fetch("a")) == "A"


def test_options_with_parentheses() -> None:
    @tool(name="lights_on", description="Turns the lights on.", requires_confirmation=True, timeout=2.5)
    def switch(room: str) -> None:
        """Ignored summary.

        Args:
            room: Which room.
        """

    assert (switch.name, switch.description) == ("lights_on", "Turns the lights on.")
    assert switch.requires_confirmation is True
    assert switch.timeout == 2.5

    @tool()
    def nothing() -> None:
        """Does nothing."""

    assert nothing.name == "nothing"


def test_description_is_the_text_before_the_first_section() -> None:
    @tool
    def alarm(time: str) -> None:
        """Sets an alarm.

        The alarm rings once, at the next
        occurrence of the time:
        - today if still ahead,
        - tomorrow otherwise.

        Args:
            time (str): Time of day as HH:MM, e.g.
                "07:30". Seconds are not supported.

        Raises:
            ValueError: Never.
        """

    assert alarm.description == (
        "Sets an alarm.\n\nThe alarm rings once, at the next occurrence of the time:\n"
        "- today if still ahead,\n- tomorrow otherwise."
    )
    assert alarm.parameters["properties"]["time"]["description"] == (
        'Time of day as HH:MM, e.g. "07:30". Seconds are not supported.'
    )


def test_description_option_stands_in_for_a_missing_docstring() -> None:
    made = tool(name="hello", description="Says hello.")(lambda: "hello")
    assert (made.name, made.description, made.run({})) == ("hello", "Says hello.", "hello")


def test_description_option_does_not_excuse_undocumented_parameters() -> None:
    def greet(name: str) -> str:
        return f"hello {name}"

    assert _problems(greet, description="Greets someone.") == (
        "parameter 'name' is not documented in the docstring's Args section",
    )


def test_positional_only_parameters_are_passed_by_position() -> None:
    @tool
    def power(base: float, /, exponent: int = 2) -> float:
        """Raises a number to a power.

        Args:
            base: The number.
            exponent: The power.
        """
        return base**exponent

    assert power.run({"base": 3, "exponent": 3}) == 27


def test_bound_method_and_callable_object() -> None:
    class Thermostat:
        def __init__(self) -> None:
            self.target = 20.0

        def set_target(self, celsius: float) -> float:
            """Sets the target temperature.

            Args:
                celsius: Degrees Celsius.
            """
            self.target = celsius
            return self.target

    class Counter:
        def __init__(self) -> None:
            self.count = 0

        def __call__(self, step: int = 1) -> int:
            """Counts up.

            Args:
                step: How much to add.
            """
            self.count += step
            return self.count

    thermostat = Thermostat()
    set_target = tool(thermostat.set_target)
    assert list(set_target.parameters["properties"]) == ["celsius"]
    assert set_target.run({"celsius": 21}) == 21.0 and thermostat.target == 21.0

    counter = tool(name="count")(Counter())
    assert counter.description == "Counts up."
    assert counter.run({"step": 3}) == 3


def test_async_callable_object_is_async() -> None:
    class Pinger:
        async def __call__(self) -> str:
            """Pings."""
            return "pong"

    made = tool(name="ping")(Pinger())
    assert made.is_async
    assert made.run({}) == "pong"


# ---------------------------------------------------------------- definition errors


def test_every_problem_is_reported_at_once() -> None:
    def messy(a, b: object, c: int, *args: int, d: Opaque, e: int = None, **kwargs: str):  # type: ignore[no-untyped-def,assignment]  # noqa: RUF013
        """Args:
        a: Documented but untyped.
        b: Anything.
        ghost: Not a parameter.
        e: Wrong default.
        d: Opaque.
        """

    with pytest.raises(ToolDefinitionError) as info:
        tool(messy)
    err = info.value
    assert isinstance(err, ToolError) and isinstance(err, UserError) and isinstance(err, AgentSDKError)
    assert err.problems == (
        "no description: write a docstring whose first paragraph says what the tool does, or pass description=...",
        "parameter 'a' has no type hint",
        "parameter 'c' is not documented in the docstring's Args section",
        "parameter '*args' is not supported: a tool takes named arguments only",
        "parameter '**kwargs' is not supported: a tool takes named arguments only",
        "the docstring's Args section documents 'ghost', which is not a parameter",
        f"parameter 'b': its type object lets any JSON value through (at b){_CONCRETE}",
        (
            "parameter 'd' has an unsupported type Opaque: Unable to generate pydantic-core schema for"
            " <class 'test_tool_definition.Opaque'>. Set `arbitrary_types_allowed=True` in the model_config to ignore"
            " this error or implement `__get_pydantic_core_schema__` on your type to fully support it."
        ),
        "parameter 'e': the default None does not match the type int (Input should be a valid integer)",
    )
    message = str(err)
    assert message.startswith("tool 'messy' (")
    assert "9 problems\n- no description" in message
    assert all(f"- {p}" in message for p in err.problems)


def test_type_problems_are_reported_per_parameter() -> None:
    # Once every type builds, the schema-level checks run and also report everything.
    def loose(a: object, b: Any, c: list, d: dict[str, Any], e: int = None, f: Literal["x", "y"] = "z") -> None:  # type: ignore[type-arg,assignment]  # noqa: RUF013
        """Too loose.

        Args:
            a: A.
            b: B.
            c: C.
            d: D.
            e: E.
            f: F.
        """

    assert _problems(loose) == (
        f"parameter 'a': its type object lets any JSON value through (at a){_CONCRETE}",
        f"parameter 'b': its type Any lets any JSON value through (at b){_CONCRETE}",
        f"parameter 'c': its type list lets any JSON value through (at c[]){_CONCRETE}",
        f"parameter 'd': its type dict[str, Any] lets any JSON value through (at d{{}}){_CONCRETE}",
        "parameter 'e': the default None does not match the type int (Input should be a valid integer)",
        "parameter 'f': the default 'z' does not match the type Literal['x', 'y'] (Input should be 'x' or 'y')",
    )


def test_unsupported_types_callable_and_lambda() -> None:
    def f(cb: Callable[[int], int], weird: (lambda: int)) -> None:  # type: ignore[valid-type]
        """Takes odd things.

        Args:
            cb: A callback.
            weird: A lambda used as a type.
        """

    problems = _problems(f)
    assert len(problems) == 2
    assert problems[0].startswith("parameter 'weird' has an unsupported type: <function ")
    assert problems[0].endswith(" is a function, not a type")
    assert problems[1] == (
        "parameter 'cb' has an unsupported type collections.abc.Callable[[int], int]:"
        " Cannot generate a JsonSchema for core_schema.CallableSchema"
    )


def test_non_json_default_is_a_problem() -> None:
    sentinel = Opaque()

    def f(x: int | Opaque = sentinel) -> None:  # type: ignore[assignment]
        """Takes x.

        Args:
            x: X.
        """

    [problem] = _problems(f)
    assert problem.startswith("parameter 'x' has an unsupported type")


def test_unresolvable_hint_is_a_problem() -> None:
    def f(x: NotDefinedAnywhere) -> None:  # type: ignore[name-defined]  # noqa: F821
        """Takes x.

        Args:
            x: X.
        """

    assert _problems(f) == (
        (
            "parameter 'x': cannot resolve the type hint 'NotDefinedAnywhere' (NameError: name 'NotDefinedAnywhere'"
            " is not defined); types used in tool signatures must be importable from the function's module"
        ),
    )


def test_docstring_problems() -> None:
    def f(x: int, y: int) -> None:
        """Does f.

        Args:
            x: First.
            x: Again.
            y:
            this line is not an entry
        """

    assert _problems(f) == (
        "parameter 'x' is documented twice in Args",
        "cannot parse the Args line 'this line is not an entry' (expected 'name: description')",
        "parameter 'y' has an empty description in Args",
    )


def test_name_and_option_problems() -> None:
    def f() -> None:
        """Does f."""

    assert _problems(f, name="has space", timeout=0, requires_confirmation="yes") == (
        "the name 'has space' is not a valid tool name: use 1 to 64 letters, digits, '_', '-' or '.' (not first)",
        "requires_confirmation must be True or False, got 'yes'",
        "timeout must be a positive number of seconds or None, got 0",
    )
    assert _problems(f, timeout=float("inf")) == ("timeout must be a positive number of seconds or None, got inf",)


def test_lambda_needs_a_name_and_description() -> None:
    assert _problems(lambda: 1) == (
        "the name '<lambda>' is not a valid tool name: use 1 to 64 letters, digits, '_', '-' or '.' (not first)",
        "no description: write a docstring whose first paragraph says what the tool does, or pass description=...",
    )


def test_partial_without_name() -> None:
    def f(x: int) -> int:
        """F.

        Args:
            x: X.
        """
        return x

    problems = _problems(functools.partial(f, 1))
    assert "the callable has no __name__: pass name=..." in problems


@pytest.mark.parametrize("thing", [int, Opaque, 42, "text"])
def test_not_a_function(thing: Any) -> None:
    with pytest.raises(ToolDefinitionError, match="@tool expects a function"):
        tool(thing)


def test_decorating_twice_is_an_error() -> None:
    @tool
    def f() -> None:
        """F."""

    with pytest.raises(ToolDefinitionError, match="already a tool"):
        tool(f)


# --------------------------------------------------------------------------- module layout


def test_public_names_stay_importable_from_the_decorator_module() -> None:
    from agent_sdk.tools import decorator

    for name in ("ArgumentValidator", "Tool", "is_valid_tool_name", "tool"):
        assert name in decorator.__all__ and hasattr(decorator, name)
    assert decorator.Tool is Tool and decorator.tool is tool


def test_tool_modules_import_no_private_names_from_each_other() -> None:
    import ast
    from pathlib import Path

    import agent_sdk.tools

    package = Path(agent_sdk.tools.__file__).parent
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("agent_sdk"):
                private = [alias.name for alias in node.names if alias.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from {node.module}"


def test_positional_only_parameters_are_public() -> None:
    def power(base: float, /, exponent: float = 2.0) -> float:
        """Raises a number to a power.

        Args:
            base: The number.
            exponent: The power.
        """
        return base**exponent

    assert tool(power).positional_only == ("base",)
    assert tool(power).run({"base": 3, "exponent": 3}) == 27
