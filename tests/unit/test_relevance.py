"""Word overlap between a request and a tool: the `auto` decision's relevance input."""

from __future__ import annotations

import pytest

from agent_sdk.agent.auto import call_relevance
from agent_sdk.agent.relevance import tool_relevance, word_overlap
from agent_sdk.agent.words import content_words, same_word

pytestmark = pytest.mark.unit

AREA = {"name": "calculate_triangle_area", "description": "Calculate the area of a triangle given its base and height."}
WEATHER = {"name": "weather.getForecast", "description": "Get the weather forecast for a city."}


def test_content_words_split_identifiers_and_drop_function_words() -> None:
    assert content_words("calculate_triangle_area") == ["triangle", "area"]
    assert content_words("weather.getForecast") == ["weather", "forecast"]
    assert content_words("What is the area of the area?") == ["area"]
    assert content_words("") == []


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("detailed", "details", True),
        ("standardize", "standardization", True),
        ("toll", "tolls", True),
        ("avoid", "avoided", True),
        ("area", "area", True),
        ("area", "arena", False),
        ("cat", "category", False),  # too short to match by prefix
        ("weather", "whether", False),
    ],
)
def test_same_word_by_stem(a: str, b: str, expected: bool) -> None:
    assert same_word(a, b) is expected
    assert same_word(b, a) is expected


def test_word_overlap_is_a_share_of_the_words() -> None:
    assert word_overlap(["triangle", "area"], "Find the area of a triangle with base 10.") == 1.0
    assert word_overlap(["triangle", "area"], "Find the area of a circle.") == 0.5
    assert word_overlap([], "anything") == 0.0


def test_tool_relevance_separates_fitting_and_unrelated_tools() -> None:
    request = "What is the area of a triangle with base 10 and height 5?"
    assert tool_relevance(AREA, request) == 1.0
    assert tool_relevance(WEATHER, request) == 0.0
    # Name and description count half each; a tool without a description is judged by its name.
    assert tool_relevance(AREA, "How big is a triangle?") == pytest.approx((0.5 + 1 / 4) / 2)
    assert tool_relevance({"name": "get_weather"}, "weather in Paris") == 1.0


def test_call_relevance_averages_the_called_tools() -> None:
    request = "Weather forecast for Paris, and the area of a triangle with base 3 and height 4"
    assert call_relevance(["calculate_triangle_area", "weather.getForecast"], [AREA, WEATHER], request) == pytest.approx(
        (tool_relevance(AREA, request) + tool_relevance(WEATHER, request)) / 2
    )
    assert call_relevance([], [AREA], request) == 0.0
    assert call_relevance(["unknown"], [AREA], request) == 0.0
