"""Garden tools: watering zones, the greenhouse, the robot mower, the pond, cameras and a harvest log.

A sixth tool set, written to judge the tuning-data generator on tools it was
not developed on: its held-out set (``tests/data/garden_heldout.jsonl``) and
development set (``data/garden_dev.jsonl``) were written with the tools,
before the first tune and before any generated request for them was read
(docs/tuning.md, "A sixth tool set"). 18 tools for a Pi in a shed, the kind
of app people wire to relays and sensors: enums (watering zones, days,
lawns, cameras), numbers with ranges and units (minutes 1 to 60, days 1 to
7, percent 10 to 100, degrees 5 to 30 with halves, millilitres 50 to 2000,
millimetres 20 to 80, kilos with decimals), a clock time, a free string (the
crop picked), booleans with a second value (grow lights on for some hours)
and tools without arguments; several of them close to each other on purpose
("water the lawn" is not "mow the lawn", "stop watering" is not "skip
watering"). Hand the file to the command line::

    agent-sdk run --tools examples/garden/garden_tools.py "water the vegetable bed for ten minutes"

The garden is simulated: every tool acts on (or reads) :data:`garden` (one
:class:`Garden`, in memory; importing the file does nothing else) and returns
one sentence saying what it did. An invalid value raises ``ValueError``,
which the agent shows the model as the tool's error.
"""

from dataclasses import dataclass, field
from typing import Literal

from agent_sdk import tool

__all__ = [
    "Garden",
    "close_vent",
    "dock_mower",
    "feed_plants",
    "garden",
    "grow_lights",
    "log_harvest",
    "open_vent",
    "pond_pump",
    "set_frost_alert",
    "set_greenhouse_heater",
    "set_watering_schedule",
    "skip_watering",
    "soil_moisture",
    "start_mower",
    "stop_watering",
    "take_garden_photo",
    "tank_level",
    "water_zone",
    "weather_forecast",
]

Zone = Literal["front lawn", "back lawn", "vegetable bed", "flower bed"]
Days = Literal["daily", "every other day", "weekdays", "weekends"]
Lawn = Literal["front lawn", "back lawn", "both lawns"]
Camera = Literal["greenhouse", "vegetable bed", "front gate"]
Day = Literal["today", "tomorrow"]


@dataclass
class Garden:
    """The simulated garden the tools act on.

    Attributes:
        watering: Zone → minutes of watering left; empty when nothing is watered.
        schedules: Zone → (clock time, days) of its scheduled watering.
        skip_days: Days the schedules are skipped for, 0 when they run.
        vent_percent: How far the greenhouse roof vent is open, 0 when closed.
        heater_celsius: The greenhouse heater's target temperature.
        lights_hours: Hours the grow lights stay on, 0 when off.
        fed_ml: Zone → millilitres of fertilizer added to its next watering.
        mower: Where the robot mower is: "docked" or the lawn it is cutting.
        mower_height_mm: The mower's cutting height.
        pump_on: Whether the pond pump runs.
        frost_celsius: The night temperature that raises a frost alert.
        harvest: (crop, kilos) written down, oldest first.
        photos: Cameras a picture was taken with, oldest first.
    """

    watering: dict[str, int] = field(default_factory=dict)
    schedules: dict[str, tuple[str, str]] = field(default_factory=dict)
    skip_days: int = 0
    vent_percent: int = 0
    heater_celsius: float = 12.0
    lights_hours: int = 0
    fed_ml: dict[str, int] = field(default_factory=dict)
    mower: str = "docked"
    mower_height_mm: int = 40
    pump_on: bool = True
    frost_celsius: int = 2
    harvest: list[tuple[str, float]] = field(default_factory=list)
    photos: list[str] = field(default_factory=list)


garden = Garden()
"""The garden every tool in this file acts on; it starts as a quiet morning would find it."""

_MOISTURE = {"front lawn": 31, "back lawn": 24, "vegetable bed": 18, "flower bed": 42}
_FORECAST = {"today": "sunny, 21 °C, no rain", "tomorrow": "showers in the afternoon, 16 °C, 8 mm of rain"}
_TANK_LITRES, _TANK_FULL = 640, 1000


def _in_range(value: float, low: float, high: float, what: str) -> float:
    if not low <= value <= high:
        raise ValueError(f"{what} is {low:g} to {high:g}, got {value:g}")
    return value


def _said(text: str, what: str) -> str:
    text = text.strip()
    if not text:
        raise ValueError(f"say {what}")
    return text


# ---------------------------------------------------------------- watering


@tool
def water_zone(zone: Zone, minutes: int) -> str:
    """Water one zone of the garden now.

    Args:
        zone: "front lawn", "back lawn", "vegetable bed" or "flower bed".
        minutes: How long to water, from 1 to 60 minutes.
    """
    garden.watering[zone] = int(_in_range(minutes, 1, 60, "the watering"))
    return f"Watering the {zone} for {minutes} minutes."


@tool
def stop_watering() -> str:
    """Stop all watering that is running now; the schedules stay."""
    stopped = sorted(garden.watering)
    garden.watering.clear()
    return f"Stopped watering the {' and the '.join(stopped)}." if stopped else "Nothing was being watered."


@tool
def set_watering_schedule(zone: Zone, time: str, days: Days = "daily") -> str:
    """Water a zone on a schedule.

    Args:
        zone: "front lawn", "back lawn", "vegetable bed" or "flower bed".
        time: When to water, on a 12-hour clock, like "6 am" or "7:30 pm".
        days: "daily" (the default), "every other day", "weekdays" or "weekends".
    """
    garden.schedules[zone] = (_said(time, "when to water"), days)
    return f"The {zone} is watered at {time}, {days}."


@tool
def skip_watering(days: int) -> str:
    """Skip the scheduled watering for a few days, after rain for instance.

    Args:
        days: For how many days, from 1 to 7.
    """
    garden.skip_days = int(_in_range(days, 1, 7, "the days to skip"))
    return f"Scheduled watering skipped for {days} day{'s' if days > 1 else ''}."


@tool
def soil_moisture(zone: Zone) -> str:
    """Report how wet the soil is in one zone.

    Args:
        zone: "front lawn", "back lawn", "vegetable bed" or "flower bed".
    """
    return f"The soil in the {zone} is at {_MOISTURE[zone]}% moisture."


@tool
def feed_plants(zone: Zone, millilitres: int) -> str:
    """Add liquid fertilizer to a zone's next watering.

    Args:
        zone: "front lawn", "back lawn", "vegetable bed" or "flower bed".
        millilitres: How much fertilizer, from 50 to 2000 millilitres, like 250.
    """
    garden.fed_ml[zone] = int(_in_range(millilitres, 50, 2000, "the fertilizer"))
    return f"{millilitres} ml of fertilizer go into the {zone}'s next watering."


@tool
def tank_level() -> str:
    """Report how full the rain water tank is."""
    return f"The rain water tank is {100 * _TANK_LITRES // _TANK_FULL}% full ({_TANK_LITRES} litres)."


# ---------------------------------------------------------------- the greenhouse


@tool
def open_vent(percent: int = 100) -> str:
    """Open the greenhouse roof vent.

    Args:
        percent: How far, from 10 to 100 percent; fully (100) when not said.
    """
    garden.vent_percent = int(_in_range(percent, 10, 100, "the vent opening"))
    return "The roof vent is fully open." if percent == 100 else f"The roof vent is {percent}% open."


@tool
def close_vent() -> str:
    """Close the greenhouse roof vent."""
    garden.vent_percent = 0
    return "The roof vent is closed."


@tool
def set_greenhouse_heater(celsius: float) -> str:
    """Set the temperature the greenhouse heater keeps.

    Args:
        celsius: From 5 to 30 degrees, in steps of 0.5, like 12.5.
    """
    if _in_range(celsius, 5, 30, "the heater") * 2 != int(celsius * 2):
        raise ValueError(f"the heater is set in steps of 0.5 degrees, got {celsius:g}")
    garden.heater_celsius = celsius
    return f"The greenhouse heater keeps {celsius:g} °C."


@tool
def grow_lights(on: bool, hours: int = 12) -> str:
    """Switch the greenhouse grow lights on or off.

    Args:
        on: True to switch the lights on, False to switch them off.
        hours: How long they stay on, from 1 to 18 hours; 12 when not said.
    """
    garden.lights_hours = int(_in_range(hours, 1, 18, "the light hours")) if on else 0
    return f"The grow lights are on for {hours} hours." if on else "The grow lights are off."


# ---------------------------------------------------------------- the mower, the pond, the cameras


@tool
def start_mower(lawn: Lawn, height_mm: int = 40) -> str:
    """Send the robot mower out to cut the grass.

    Args:
        lawn: "front lawn", "back lawn" or "both lawns".
        height_mm: The cutting height, from 20 to 80 millimetres; 40 when not said.
    """
    garden.mower_height_mm = int(_in_range(height_mm, 20, 80, "the cutting height"))
    garden.mower = lawn
    return f"The mower is cutting the {lawn} at {height_mm} mm."


@tool
def dock_mower() -> str:
    """Send the robot mower back to its charging station."""
    garden.mower = "docked"
    return "The mower is heading back to its station."


@tool
def pond_pump(on: bool) -> str:
    """Turn the pond pump on or off.

    Args:
        on: True to run the pump, False to stop it.
    """
    garden.pump_on = on
    return f"The pond pump is {'on' if on else 'off'}."


@tool
def take_garden_photo(camera: Camera) -> str:
    """Take a picture with one of the garden cameras.

    Args:
        camera: "greenhouse", "vegetable bed" or "front gate".
    """
    garden.photos.append(camera)
    return f"Took a picture with the {camera} camera."


# ---------------------------------------------------------------- weather, frost and the harvest log


@tool
def weather_forecast(day: Day = "today") -> str:
    """Tell the weather forecast for the garden.

    Args:
        day: "today" (the default) or "tomorrow".
    """
    return f"{day.capitalize()}: {_FORECAST[day]}."


@tool
def set_frost_alert(celsius: int) -> str:
    """Warn when the temperature at night falls below a level.

    Args:
        celsius: The level, from -10 to 5 degrees.
    """
    garden.frost_celsius = int(_in_range(celsius, -10, 5, "the frost level"))
    return f"A frost alert goes off below {celsius} °C."


@tool
def log_harvest(crop: str, kilos: float) -> str:
    """Write down what was picked and how much it weighed.

    Args:
        crop: What was picked, like "tomatoes" or "runner beans".
        kilos: Its weight, from 0.1 to 50 kilograms, like 1.5.
    """
    garden.harvest.append((_said(crop, "what was picked"), _in_range(kilos, 0.1, 50, "the weight")))
    return f"Logged {kilos:g} kg of {crop}."
