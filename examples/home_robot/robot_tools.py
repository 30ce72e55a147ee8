"""Home robot tools: driving, places, the arm, camera, lights, voice, patrols and the battery.

A third tool set, written to check the tuning method on tools it was never
developed on: its held-out set (``tests/data/robot_heldout.jsonl``) was
written before the first tune, and no choice of the tuning-data generator
was made while looking at it (docs/tuning.md, "A third tool set"). 16 tools
that mix enums (directions, places, speeds, cameras, colours), numbers with
ranges (distance 1 to 300 cm, angle 1 to 360 degrees, volume 0 to 10,
rounds 1 to 10), free strings (objects, what to say), a boolean and tools
without arguments. Hand the file to the command line::

    agent-sdk run --tools examples/home_robot/robot_tools.py "drive forward 50 centimeters"

The robot is simulated: every tool changes :data:`robot` (one :class:`Robot`,
in memory; importing the file does nothing else) and returns one sentence
saying what it did. A value out of range raises ``ValueError``, which the
agent shows the model as the tool's error.
"""

from dataclasses import dataclass, field
from typing import Literal

from agent_sdk import tool

__all__ = [
    "Robot",
    "battery_level",
    "drive",
    "find_object",
    "follow_me",
    "go_to",
    "pick_up",
    "put_down",
    "return_to_dock",
    "robot",
    "say",
    "set_led_color",
    "set_speed",
    "set_volume",
    "start_patrol",
    "stop_moving",
    "take_photo",
    "turn",
]

Direction = Literal["forward", "backward"]
Side = Literal["left", "right"]
Place = Literal["kitchen", "living room", "bedroom", "bathroom", "hallway", "front door", "garden"]
Speed = Literal["slow", "normal", "fast"]
Camera = Literal["front", "arm"]
Color = Literal["red", "green", "blue", "yellow", "white", "purple", "off"]


@dataclass
class Robot:
    """The simulated robot the tools act on.

    Attributes:
        place: Where the robot is ("dock" when charging).
        heading_deg: Its heading, 0 to 359 degrees, clockwise.
        odometer_cm: How far it has driven.
        speed: How fast it drives.
        holding: What the arm holds, or None.
        led: The LED ring's colour.
        volume: Speaker volume, 0 to 10.
        following: Whether it follows the person who asked.
        patrol_rounds: Rounds of the house left to patrol.
        battery_percent: Charge left.
        photos: The cameras of the photos taken, oldest first.
        said: Everything it said aloud, oldest first.
    """

    place: str = "dock"
    heading_deg: int = 0
    odometer_cm: int = 0
    speed: str = "normal"
    holding: str | None = None
    led: str = "white"
    volume: int = 5
    following: bool = False
    patrol_rounds: int = 0
    battery_percent: int = 81
    photos: list[str] = field(default_factory=list)
    said: list[str] = field(default_factory=list)


robot = Robot()
"""The robot every tool in this file acts on."""


def _required(text: str, what: str) -> str:
    text = text.strip()
    if not text:
        raise ValueError(f"say {what}")
    return text


# ---------------------------------------------------------------- moving


@tool
def drive(direction: Direction, centimeters: int) -> str:
    """Drive the robot straight ahead or back.

    Args:
        direction: "forward" or "backward".
        centimeters: How far, from 1 to 300 centimeters, like 50 or 100 for a meter.
    """
    if not 1 <= centimeters <= 300:
        raise ValueError(f"the robot drives 1 to 300 centimeters at a time, got {centimeters}")
    robot.odometer_cm += centimeters
    robot.place = "on the way"
    return f"Drove {direction} {centimeters} centimeters."


@tool
def turn(side: Side, degrees: int = 90) -> str:
    """Turn the robot on the spot.

    Args:
        side: "left" or "right".
        degrees: How far to turn, from 1 to 360 degrees, like 90 or 180 to turn around; 90 when not said.
    """
    if not 1 <= degrees <= 360:
        raise ValueError(f"the robot turns 1 to 360 degrees, got {degrees}")
    step = degrees if side == "right" else -degrees
    robot.heading_deg = (robot.heading_deg + step) % 360
    return f"Turned {side} {degrees} degrees."


@tool
def go_to(place: Place) -> str:
    """Send the robot to a room or place in the house.

    Args:
        place: "kitchen", "living room", "bedroom", "bathroom", "hallway", "front door" or "garden".
    """
    robot.place = place
    return f"Going to the {place}."


@tool
def return_to_dock() -> str:
    """Send the robot back to its charging dock."""
    robot.place = "dock"
    robot.following = False
    robot.patrol_rounds = 0
    return "Going back to the charging dock."


@tool
def stop_moving() -> str:
    """Stop the robot where it is."""
    robot.following = False
    robot.patrol_rounds = 0
    return "Stopped."


@tool
def set_speed(speed: Speed) -> str:
    """Set how fast the robot drives.

    Args:
        speed: "slow", "normal" or "fast".
    """
    robot.speed = speed
    return f"Driving {speed} from now on."


@tool
def follow_me(on: bool) -> str:
    """Make the robot follow the person, or stop following.

    Args:
        on: True to start following, False to stop.
    """
    robot.following = on
    return "Following you." if on else "Stopped following you."


@tool
def start_patrol(rounds: int = 1) -> str:
    """Patrol the house, checking every room.

    Args:
        rounds: How many times to go round the house, from 1 to 10; 1 when not said.
    """
    if not 1 <= rounds <= 10:
        raise ValueError(f"a patrol is 1 to 10 rounds, got {rounds}")
    robot.patrol_rounds = rounds
    return f"Patrolling the house {'once' if rounds == 1 else f'{rounds} times'}."


# ---------------------------------------------------------------- the arm and camera


@tool
def pick_up(item: str) -> str:
    """Pick up an object with the arm.

    Args:
        item: What to pick up, like "the red cup" or "my keys".
    """
    item = _required(item, "what to pick up")
    if robot.holding is not None:
        raise ValueError(f"the arm already holds {robot.holding}; put it down first")
    robot.holding = item
    return f"Picked up {item}."


@tool
def put_down() -> str:
    """Put down what the arm is holding."""
    if robot.holding is None:
        return "The arm holds nothing."
    item, robot.holding = robot.holding, None
    return f"Put down {item}."


@tool
def find_object(item: str) -> str:
    """Look around the house for an object with the camera.

    Args:
        item: What to look for, like "my glasses" or "the remote".
    """
    item = _required(item, "what to look for")
    return f"Looking for {item}."


@tool
def take_photo(camera: Camera = "front") -> str:
    """Take a photo.

    Args:
        camera: "front" (the default) or "arm" (the camera on the arm, for close-ups).
    """
    robot.photos.append(camera)
    return f"Took a photo with the {camera} camera."


# ---------------------------------------------------------------- lights, voice, battery


@tool
def set_led_color(color: Color) -> str:
    """Set the colour of the robot's LED ring, or turn it off.

    Args:
        color: "red", "green", "blue", "yellow", "white", "purple", or "off" to turn the lights off.
    """
    robot.led = color
    return "Turned the LED ring off." if color == "off" else f"The LED ring is {color} now."


@tool
def say(text: str) -> str:
    """Say something aloud through the robot's speaker.

    Args:
        text: What to say, like "dinner is ready".
    """
    text = _required(text, "what to say")
    robot.said.append(text)
    return f"Said: {text}"


@tool
def set_volume(level: int) -> str:
    """Set the speaker volume.

    Args:
        level: Volume from 0 (muted) to 10 (loudest), like 5 for half.
    """
    if not 0 <= level <= 10:
        raise ValueError(f"the volume is 0 to 10, got {level}")
    robot.volume = level
    return "Muted." if level == 0 else f"Volume {level}."


@tool
def battery_level() -> str:
    """Report how much charge the battery has left."""
    return f"The battery is at {robot.battery_percent} percent."
