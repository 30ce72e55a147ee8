"""Example tools for `agent-sdk run --tools examples/tools/weather.py`."""

from __future__ import annotations

from typing import Literal

from agent_sdk import tool

_FAKE_WEATHER = {"paris": (21, "sunny"), "london": (14, "rainy"), "tokyo": (18, "cloudy")}


@tool
def get_weather(city: str, unit: Literal["c", "f"]) -> dict[str, object]:
    """Get the current weather in a city.

    Args:
        city: The city name, e.g. Paris.
        unit: Temperature unit, "c" for celsius or "f" for fahrenheit.
    """
    temp_c, sky = _FAKE_WEATHER.get(city.lower(), (20, "clear"))
    temp = temp_c if unit == "c" else round(temp_c * 9 / 5 + 32)
    return {"city": city, "temperature": temp, "unit": unit, "conditions": sky}
