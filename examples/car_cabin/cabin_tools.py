"""Car cabin tools: climate, seats, windows, doors and trunk, navigation, phone, media, drive mode.

A second tool set, unlike the voice example's home: 19 tools that mix enums
(seats, zones, fan modes, media sources, drive modes), numbers with ranges
(temperature 16 to 30 °C, fan speed 1 to 7, volume 0 to 40, FM 87.5 to 108
MHz), free strings (destinations, contacts, songs, messages), booleans,
defaults and tools without arguments. Hand the file to the command line::

    agent-sdk run --tools examples/car_cabin/cabin_tools.py "set the temperature to 21 degrees"

The car is simulated: every tool changes :data:`cabin` (one :class:`Cabin`,
in memory; importing the file does nothing else) and returns one sentence
saying what it did, which an agent can read out as is. A value out of range
raises ``ValueError``, which the agent shows the model as the tool's error.
The docstrings are Google style because ``@tool`` reads them: the
``Args:`` lines (ranges, examples) are what the model and the tuning data
generator learn each argument from.
"""

from dataclasses import dataclass, field
from typing import Literal

from agent_sdk import tool

__all__ = [
    "Cabin",
    "cabin",
    "call_contact",
    "cancel_navigation",
    "check_range",
    "close_trunk",
    "navigate_to",
    "open_trunk",
    "play_music",
    "send_message",
    "set_air_conditioning",
    "set_door_locks",
    "set_drive_mode",
    "set_fan_mode",
    "set_fan_speed",
    "set_media_source",
    "set_seat_heating",
    "set_temperature",
    "set_volume",
    "set_window",
    "tune_radio",
]

Seat = Literal["driver", "passenger", "rear left", "rear right"]
Window = Literal["driver", "passenger", "rear left", "rear right", "all"]
Zone = Literal["driver", "passenger", "rear", "all"]
FanMode = Literal["auto", "face", "feet", "face and feet", "windshield"]
MediaSource = Literal["radio", "bluetooth", "usb"]
DriveMode = Literal["eco", "comfort", "sport"]

_SEATS: tuple[str, ...] = ("driver", "passenger", "rear left", "rear right")
_ZONES: tuple[str, ...] = ("driver", "passenger", "rear")
_ZONE_NAMES = {
    "driver": "on the driver side",
    "passenger": "on the passenger side",
    "rear": "in the rear",
    "all": "everywhere",
}
_SOURCE_NAMES = {"radio": "the radio", "bluetooth": "Bluetooth", "usb": "USB"}


@dataclass
class Cabin:
    """The simulated car the tools act on.

    Attributes:
        temperature_c: Climate zone → set temperature in °C.
        fan_speed: 1 (lowest) to 7.
        fan_mode: Where the air blows.
        air_conditioning: Whether the compressor is on.
        seat_heating: Seat → heat level, 0 (off) to 3.
        windows: Window → how far open, 0 (closed) to 100 percent.
        trunk_open: Whether the trunk is open.
        locked: Whether the doors are locked.
        destination: Where navigation is guiding to, or None.
        avoid_tolls: Whether the current route avoids toll roads.
        media_source: What the speakers play.
        radio_mhz: The FM station tuned.
        now_playing: The last song or artist asked for, or None.
        volume: Speaker volume, 0 to 40.
        drive_mode: The drive mode.
        fuel_percent: How full the tank is.
        tank_litres: The tank's size.
        litres_per_100km: Average consumption, for the range.
        calls: Contacts called, oldest first.
        messages: ``(contact, text)`` of every message sent, oldest first.
    """

    temperature_c: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_ZONES, 21.0))
    fan_speed: int = 3
    fan_mode: str = "auto"
    air_conditioning: bool = True
    seat_heating: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_SEATS, 0))
    windows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_SEATS, 0))
    trunk_open: bool = False
    locked: bool = True
    destination: str | None = None
    avoid_tolls: bool = False
    media_source: str = "radio"
    radio_mhz: float = 98.5
    now_playing: str | None = None
    volume: int = 12
    drive_mode: str = "comfort"
    fuel_percent: float = 62.0
    tank_litres: float = 50.0
    litres_per_100km: float = 6.5
    calls: list[str] = field(default_factory=list)
    messages: list[tuple[str, str]] = field(default_factory=list)


cabin = Cabin()
"""The car every tool in this file acts on."""


def _required(text: str, what: str) -> str:
    text = text.strip()
    if not text:
        raise ValueError(f"say {what}")
    return text


def _number(value: float) -> str:
    return f"{value:g}"


# ---------------------------------------------------------------- climate


@tool
def set_temperature(celsius: float, zone: Zone = "all") -> str:
    """Set the climate control's temperature.

    Args:
        celsius: Temperature in degrees Celsius, from 16 to 30, like 21 or 22.5.
        zone: Which side of the cabin: "driver", "passenger", "rear", or "all" (the default) for everyone.
    """
    if not 16 <= celsius <= 30:
        raise ValueError(f"the temperature must be 16 to 30 degrees, got {_number(celsius)}")
    zones = _ZONES if zone == "all" else (zone,)
    for z in zones:
        cabin.temperature_c[z] = float(celsius)
    return f"Set the temperature to {_number(celsius)} degrees {_ZONE_NAMES[zone]}."


@tool
def set_fan_speed(speed: int) -> str:
    """Set how hard the climate fan blows.

    Args:
        speed: Fan speed from 1 (gentlest) to 7 (strongest).
    """
    if not 1 <= speed <= 7:
        raise ValueError(f"the fan speed must be 1 to 7, got {speed}")
    cabin.fan_speed = speed
    return f"Set the fan to speed {speed}."


@tool
def set_fan_mode(mode: FanMode) -> str:
    """Choose where the climate air blows.

    Args:
        mode: "auto", "face", "feet", "face and feet", or "windshield" (to clear a fogged windshield).
    """
    cabin.fan_mode = mode
    if mode == "auto":
        return "The fan now picks where the air goes."
    return f"The air now blows on the {mode}." if mode == "windshield" else f"The air now blows at your {mode}."


@tool
def set_air_conditioning(on: bool) -> str:
    """Turn the air conditioning on or off.

    Args:
        on: True to turn it on, False to turn it off.
    """
    cabin.air_conditioning = on
    return f"Turned the air conditioning {'on' if on else 'off'}."


# ---------------------------------------------------------------- seats, windows, doors


@tool
def set_seat_heating(seat: Seat, level: int = 2) -> str:
    """Heat a seat, or turn its heating off.

    Args:
        seat: Which seat: "driver", "passenger", "rear left" or "rear right".
        level: Heat from 0 (off) to 3 (hottest); 2 when not said.
    """
    if not 0 <= level <= 3:
        raise ValueError(f"the seat heating level must be 0 to 3, got {level}")
    cabin.seat_heating[seat] = level
    if level == 0:
        return f"Turned off the {seat} seat heating."
    return f"Set the {seat} seat heating to level {level}."


@tool
def set_window(window: Window, open_percent: int) -> str:
    """Open or close a window.

    Args:
        window: Which window: "driver", "passenger", "rear left", "rear right", or "all".
        open_percent: How far open, from 0 (closed) to 100 (fully open), like 50 for halfway.
    """
    if not 0 <= open_percent <= 100:
        raise ValueError(f"a window opens 0 to 100 percent, got {open_percent}")
    windows = _SEATS if window == "all" else (window,)
    for w in windows:
        cabin.windows[w] = open_percent
    name = "all the windows" if window == "all" else f"the {window} window"
    if open_percent == 0:
        return f"Closed {name}."
    return f"Opened {name} {'fully' if open_percent == 100 else f'{open_percent} percent'}."


@tool
def open_trunk() -> str:
    """Open the trunk."""
    if cabin.trunk_open:
        return "The trunk is already open."
    cabin.trunk_open = True
    return "Opened the trunk."


@tool
def close_trunk() -> str:
    """Close the trunk."""
    if not cabin.trunk_open:
        return "The trunk is already closed."
    cabin.trunk_open = False
    return "Closed the trunk."


@tool
def set_door_locks(locked: bool) -> str:
    """Lock or unlock all the doors.

    Args:
        locked: True to lock the doors, False to unlock them.
    """
    cabin.locked = locked
    return "Locked the doors." if locked else "Unlocked the doors."


# ---------------------------------------------------------------- navigation and phone


@tool
def navigate_to(destination: str, avoid_tolls: bool = False) -> str:
    """Start route guidance to a place.

    Args:
        destination: An address, a place or a kind of place, like "123 Main Street", "the airport" or "nearest gas station".
        avoid_tolls: True to stay off toll roads; False (the default) to take the fastest route.
    """
    cabin.destination = _required(destination, "where to go")
    cabin.avoid_tolls = avoid_tolls
    return f"Navigating to {cabin.destination}{', avoiding tolls' if avoid_tolls else ''}."


@tool
def cancel_navigation() -> str:
    """Stop the current route guidance."""
    if cabin.destination is None:
        return "There was no route to cancel."
    cabin.destination = None
    return "Stopped the route guidance."


@tool
def call_contact(name: str) -> str:
    """Phone one of the contacts on the paired phone.

    Args:
        name: The contact's name as saved, like "Mom" or "Dave Miller".
    """
    name = _required(name, "whom to call")
    cabin.calls.append(name)
    return f"Calling {name}."


@tool
def send_message(contact: str, text: str) -> str:
    """Send a text message from the paired phone.

    Args:
        contact: Who gets it, like "Sarah".
        text: The message, in the user's words, like "running ten minutes late".
    """
    contact = _required(contact, "whom to text")
    text = _required(text, "what the message says")
    cabin.messages.append((contact, text))
    return f'Sent "{text}" to {contact}.'


# ---------------------------------------------------------------- media


@tool
def play_music(query: str) -> str:
    """Find and play music from the phone's library over Bluetooth.

    Args:
        query: A song, artist, album or playlist, like "hotel california" or "taylor swift".
    """
    cabin.now_playing = _required(query, "what to play")
    cabin.media_source = "bluetooth"
    return f"Playing {cabin.now_playing}."


@tool
def set_media_source(source: MediaSource) -> str:
    """Switch what the speakers play.

    Args:
        source: "radio", "bluetooth" (the phone), or "usb" (a USB stick).
    """
    cabin.media_source = source
    return f"Switched to {_SOURCE_NAMES[source]}."


@tool
def tune_radio(frequency: float) -> str:
    """Tune the FM radio to a station.

    Args:
        frequency: The station's frequency in MHz, from 87.5 to 108, like 101.1.
    """
    if not 87.5 <= frequency <= 108.0:
        raise ValueError(f"FM stations are 87.5 to 108 MHz, got {_number(frequency)}")
    cabin.radio_mhz = float(frequency)
    cabin.media_source = "radio"
    return f"Tuned the radio to {_number(frequency)} FM."


@tool
def set_volume(level: int) -> str:
    """Set the speaker volume.

    Args:
        level: Volume from 0 (muted) to 40 (loudest).
    """
    if not 0 <= level <= 40:
        raise ValueError(f"the volume must be 0 to 40, got {level}")
    cabin.volume = level
    return "Muted the speakers." if level == 0 else f"Set the volume to {level}."


# ---------------------------------------------------------------- the car


@tool
def set_drive_mode(mode: DriveMode) -> str:
    """Change how the car drives.

    Args:
        mode: "eco" (saves fuel), "comfort" (the everyday mode) or "sport" (sharper throttle and steering).
    """
    cabin.drive_mode = mode
    return f"Switched to {mode} mode."


@tool
def check_range() -> str:
    """Report the fuel level and how far the car can go before it needs to refuel."""
    litres = cabin.tank_litres * cabin.fuel_percent / 100
    km = litres / cabin.litres_per_100km * 100
    return f"The tank is {cabin.fuel_percent:.0f} percent full: about {km:.0f} kilometres of range."
