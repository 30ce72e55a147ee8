"""Smart kitchen tools: the oven, coffee machine, kettle, microwave, dishwasher, fridge, hood, scale and recipes.

A fourth tool set, written to judge the tuning-data generator on tools it
was not developed on: its held-out set (``tests/data/kitchen_heldout.jsonl``)
and development set (``data/kitchen_dev.jsonl``) were written with the
tools, before the first tune and before any generated request for them was
read (docs/tuning.md, "the generator judged on two tool sets"). 15 tools
named the way appliance makers name them, many for a verb of their own ("preheat",
"brew", "defrost", "grind", "microwave"), with enums (oven modes, drinks,
strengths, programs, power levels), numbers with ranges and units (50 to
250 °C, 1 to 240 minutes, 5 to 1800 seconds, 50 to 3000 grams), free
strings (a food, a dish) and tools without arguments. Hand the file to the
command line::

    agent-sdk run --tools examples/smart_kitchen/kitchen_tools.py "preheat the oven to 180"

The kitchen is simulated: every tool changes :data:`kitchen` (one
:class:`Kitchen`, in memory; importing the file does nothing else) and
returns one sentence saying what it did. A value out of range raises
``ValueError``, which the agent shows the model as the tool's error.
"""

from dataclasses import dataclass, field
from typing import Literal

from agent_sdk import tool

__all__ = [
    "Kitchen",
    "boil_kettle",
    "brew_coffee",
    "defrost",
    "dishwasher_status",
    "find_recipe",
    "fridge_contents",
    "grind_beans",
    "kitchen",
    "microwave",
    "preheat_oven",
    "read_scale",
    "set_fridge_temperature",
    "set_hood_fan",
    "set_oven_timer",
    "start_dishwasher",
    "turn_off_oven",
]

OvenMode = Literal["bake", "fan", "grill"]
Drink = Literal["espresso", "americano", "cappuccino", "latte", "flat white"]
Strength = Literal["mild", "normal", "strong"]
Program = Literal["eco", "quick", "intensive"]
Power = Literal["low", "medium", "high"]


@dataclass
class Kitchen:
    """The simulated kitchen the tools act on.

    Attributes:
        oven_celsius: The oven's set temperature, 0 when off.
        oven_mode: How the oven heats.
        oven_timer_minutes: Minutes left on the oven's timer, 0 when none.
        kettle_celsius: The temperature the kettle last boiled to.
        drinks: The coffees made, oldest first.
        ground_grams: Coffee ground so far.
        microwave_runs: ``(seconds, power)`` per microwave run, oldest first.
        defrosted: ``(food, grams)`` per defrost, oldest first.
        dishwasher_program: The running program, or None.
        dishwasher_minutes_left: Minutes until the dishwasher is done.
        fridge_celsius: The fridge's set temperature.
        fridge: What is in the fridge.
        hood_level: The cooker hood fan, 0 (off) to 3.
        scale_grams: What lies on the kitchen scale.
        recipes_looked_up: Dishes looked up, oldest first.
    """

    oven_celsius: int = 0
    oven_mode: str = "fan"
    oven_timer_minutes: int = 0
    kettle_celsius: int = 0
    drinks: list[str] = field(default_factory=list)
    ground_grams: int = 0
    microwave_runs: list[tuple[int, str]] = field(default_factory=list)
    defrosted: list[tuple[str, int]] = field(default_factory=list)
    dishwasher_program: str | None = None
    dishwasher_minutes_left: int = 0
    fridge_celsius: int = 4
    fridge: list[str] = field(default_factory=lambda: ["milk", "eggs", "butter", "cheddar", "half a lemon"])
    hood_level: int = 0
    scale_grams: int = 250
    recipes_looked_up: list[str] = field(default_factory=list)


kitchen = Kitchen()
"""The kitchen every tool in this file acts on."""

_PROGRAM_MINUTES = {"eco": 180, "quick": 30, "intensive": 140}


def _in_range(value: int, low: int, high: int, what: str) -> int:
    if not low <= value <= high:
        raise ValueError(f"{what} is {low} to {high}, got {value}")
    return value


def _required(text: str, what: str) -> str:
    text = text.strip()
    if not text:
        raise ValueError(f"say {what}")
    return text


# ---------------------------------------------------------------- oven


@tool
def preheat_oven(celsius: int, mode: OvenMode = "fan") -> str:
    """Preheat the oven to a temperature.

    Args:
        celsius: The temperature, from 50 to 250 degrees Celsius, like 180 for most cakes.
        mode: "bake" (top and bottom heat), "fan" (the default) or "grill".
    """
    kitchen.oven_celsius = _in_range(celsius, 50, 250, "the oven temperature")
    kitchen.oven_mode = mode
    return f"Preheating the oven to {celsius} degrees ({mode})."


@tool
def turn_off_oven() -> str:
    """Turn the oven off."""
    kitchen.oven_celsius = 0
    kitchen.oven_timer_minutes = 0
    return "The oven is off."


@tool
def set_oven_timer(minutes: int) -> str:
    """Set the oven's timer, which turns the oven off when it runs out.

    Args:
        minutes: How long, from 1 to 240 minutes.
    """
    kitchen.oven_timer_minutes = _in_range(minutes, 1, 240, "the oven timer")
    return f"The oven turns off in {minutes} minutes."


# ---------------------------------------------------------------- drinks


@tool
def brew_coffee(drink: Drink, cups: int = 1, strength: Strength = "normal") -> str:
    """Brew coffee with the coffee machine.

    Args:
        drink: "espresso", "americano", "cappuccino", "latte" or "flat white".
        cups: How many, 1 or 2; 1 when not said.
        strength: "mild", "normal" (the default) or "strong".
    """
    _in_range(cups, 1, 2, "the number of cups")
    kitchen.drinks.extend([drink] * cups)
    return f"Brewing {cups} {strength} {drink}{'s' if cups > 1 else ''}."


@tool
def grind_beans(grams: int) -> str:
    """Grind coffee beans.

    Args:
        grams: How much, from 5 to 50 grams, like 18 for a double shot.
    """
    kitchen.ground_grams += _in_range(grams, 5, 50, "the grinder's dose")
    return f"Grinding {grams} grams of beans."


@tool
def boil_kettle(celsius: int = 100) -> str:
    """Boil water in the kettle.

    Args:
        celsius: The water temperature, from 40 to 100 degrees Celsius, like 80 for green tea; 100 when not said.
    """
    kitchen.kettle_celsius = _in_range(celsius, 40, 100, "the kettle temperature")
    return f"Heating the kettle to {celsius} degrees."


# ---------------------------------------------------------------- microwave


@tool
def microwave(seconds: int, power: Power = "high") -> str:
    """Heat food in the microwave.

    Args:
        seconds: How long, from 5 to 1800 seconds, like 90 for a minute and a half.
        power: "low", "medium" or "high" (the default).
    """
    kitchen.microwave_runs.append((_in_range(seconds, 5, 1800, "the microwave time"), power))
    return f"Microwaving for {seconds} seconds on {power}."


@tool
def defrost(food: str, grams: int) -> str:
    """Defrost frozen food in the microwave by its weight.

    Args:
        food: What to defrost, like "chicken breasts" or "bread".
        grams: Its weight, from 50 to 3000 grams.
    """
    food = _required(food, "what to defrost")
    kitchen.defrosted.append((food, _in_range(grams, 50, 3000, "the weight")))
    return f"Defrosting {grams} grams of {food}."


# ---------------------------------------------------------------- dishwasher, fridge, hood, scale


@tool
def start_dishwasher(program: Program = "eco", delay_hours: int = 0) -> str:
    """Start the dishwasher.

    Args:
        program: "eco" (the default), "quick" or "intensive".
        delay_hours: Hours to wait before it starts, from 0 to 12; 0 when not said.
    """
    _in_range(delay_hours, 0, 12, "the delay")
    kitchen.dishwasher_program = program
    kitchen.dishwasher_minutes_left = delay_hours * 60 + _PROGRAM_MINUTES[program]
    later = f" in {delay_hours} hours" if delay_hours else ""
    return f"The dishwasher starts the {program} program{later}."


@tool
def dishwasher_status() -> str:
    """Tell whether the dishwasher is running and how long it has left."""
    if kitchen.dishwasher_program is None:
        return "The dishwasher is not running."
    return f"The {kitchen.dishwasher_program} program has {kitchen.dishwasher_minutes_left} minutes left."


@tool
def set_fridge_temperature(celsius: int) -> str:
    """Set the fridge's temperature.

    Args:
        celsius: From 1 to 8 degrees Celsius, like 4 for most food.
    """
    kitchen.fridge_celsius = _in_range(celsius, 1, 8, "the fridge temperature")
    return f"The fridge is set to {celsius} degrees."


@tool
def fridge_contents() -> str:
    """List what is in the fridge."""
    return "In the fridge: " + ", ".join(kitchen.fridge) + "."


@tool
def set_hood_fan(level: int) -> str:
    """Set the cooker hood's extractor fan.

    Args:
        level: From 0 (off) to 3 (strongest).
    """
    kitchen.hood_level = _in_range(level, 0, 3, "the hood fan level")
    return "The hood fan is off." if level == 0 else f"The hood fan is on level {level}."


@tool
def read_scale() -> str:
    """Read the weight on the kitchen scale."""
    return f"The scale reads {kitchen.scale_grams} grams."


@tool
def find_recipe(dish: str) -> str:
    """Look up a recipe for a dish.

    Args:
        dish: The dish, like "banana bread" or "chicken curry".
    """
    dish = _required(dish, "which dish")
    kitchen.recipes_looked_up.append(dish)
    return f"Here is a recipe for {dish}."
