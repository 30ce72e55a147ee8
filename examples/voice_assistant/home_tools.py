"""Home tools for the voice assistant: lights, timers and alarms, a shopping list, volume, system status.

Reusable outside the voice example::

    from voice_assistant.home_tools import Home

    home = Home(data_dir=Path("~/.local/share/agent-sdk-voice").expanduser(), speak=print)
    agent = Agent(engine, tools=home.tools())

The same eleven tools are also defined at module level, acting on a default
home that the first tool call builds (``default_home``), so that the file can
be handed to the command line as it is::

    agent-sdk run --tools examples/voice_assistant/home_tools.py "turn on the kitchen lights"

Every tool that acts on the world returns one sentence saying what it did
("Turned on the kitchen lights."): the agent feeds it back to the model and
the voice assistant can speak it as is.

Lights drive GPIO pins through ``gpiozero`` (a PWM LED per room, so brightness
works); off a Pi, or without ``gpiozero``, they use gpiozero's mock pin
factory, or plain state when the package is missing. Timers and alarms are
real ``threading.Timer``s that call ``speak`` when they fire. The shopping
list is a JSON file written atomically (temporary file, fsync, rename), so a
power cut leaves either the old list or the new one, never half of one.
"""

import datetime as _dt
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agent_sdk import Tool, tool

__all__ = [
    "DEFAULT_LIGHT_PINS",
    "Home",
    "LightBank",
    "ShoppingList",
    "SystemInfo",
    "TimerBoard",
    "add_to_shopping_list",
    "atomic_write_text",
    "cancel_timers",
    "default_data_dir",
    "default_home",
    "parse_clock_time",
    "read_shopping_list",
    "remove_from_shopping_list",
    "set_alarm",
    "set_brightness",
    "set_timer",
    "set_volume",
    "system_status",
    "turn_off_lights",
    "turn_on_lights",
]

_log = logging.getLogger(__name__)

DEFAULT_LIGHT_PINS: dict[str, int] = {"kitchen": 17, "living room": 27, "bedroom": 22, "bathroom": 23}
"""Room name → BCM GPIO pin of its light (a PWM-capable pin, for brightness)."""


def atomic_write_text(path: Path, text: str) -> None:
    """Replaces ``path``'s content with ``text`` so that a crash leaves the old or the new file.

    Writes a temporary file in the same directory, flushes and fsyncs it,
    renames it over ``path`` and fsyncs the directory (the rename itself).

    Args:
        path: File to write.
        text: Its new content.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# ---------------------------------------------------------------- lights


class LightBank:
    """One dimmable light per room, on GPIO through gpiozero when it is installed.

    Args:
        pins: Room → BCM pin.
        pin_factory: A gpiozero pin factory; default: the real one on a Pi,
            otherwise gpiozero's ``MockFactory`` with PWM pins.
    """

    def __init__(self, pins: Mapping[str, int], *, pin_factory: Any = None) -> None:
        self.pins = dict(pins)
        self.level: dict[str, float] = {room: 0.0 for room in self.pins}
        self.backend = "state only (gpiozero not installed)"
        self._leds: dict[str, Any] = {}
        try:
            from gpiozero import PWMLED
        except ImportError:
            return
        factory = pin_factory if pin_factory is not None else _default_pin_factory()
        for room, pin in self.pins.items():
            self._leds[room] = PWMLED(pin, pin_factory=factory)
        self.backend = type(factory).__name__

    def set(self, room: str, level: float) -> None:
        """Sets a room's light to ``level`` (0 = off, 1 = full)."""
        self.level[room] = level
        if room in self._leds:
            self._leds[room].value = level

    def pin_value(self, room: str) -> float | None:
        """What the GPIO pin outputs now (None without gpiozero)."""
        return float(self._leds[room].value) if room in self._leds else None

    def close(self) -> None:
        """Releases the pins."""
        for led in self._leds.values():
            led.close()
        self._leds.clear()


def _default_pin_factory() -> Any:
    """The real pin factory on a Pi (a GPIO chip and a driver present); the mock one elsewhere."""
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    if Path("/dev/gpiochip0").exists() and Path("/proc/device-tree/model").exists():
        try:
            from gpiozero import Device

            Device.ensure_pin_factory()
            if Device.pin_factory is not None:
                return Device.pin_factory
        except Exception as exc:  # noqa: BLE001 - gpiozero raises several types when no driver works
            _log.warning("GPIO pins unusable (%s): lights are simulated with mock pins", exc)
    return MockFactory(pin_class=MockPWMPin)


# ---------------------------------------------------------------- timers


@dataclass
class _Pending:
    label: str
    due: float  # time.monotonic() when it fires
    timer: threading.Timer


@dataclass
class TimerBoard:
    """Timers and alarms that speak when they fire.

    Attributes:
        speak: Called with the announcement when one fires.
        fired: Announcements made so far (newest last).
    """

    speak: Callable[[str], None]
    fired: list[str] = field(default_factory=list)
    _pending: dict[int, _Pending] = field(default_factory=dict)
    _next_id: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, seconds: float, label: str) -> int:
        """Starts a timer; returns its id."""
        with self._lock:
            ident = self._next_id
            self._next_id += 1
            t = threading.Timer(seconds, self._fire, args=(ident,))
            t.daemon = True
            self._pending[ident] = _Pending(label, time.monotonic() + seconds, t)
        t.start()
        return ident

    def _fire(self, ident: int) -> None:
        with self._lock:
            pending = self._pending.pop(ident, None)
        if pending is None:
            return
        message = f"Your {pending.label} is done."
        self.fired.append(message)
        self.speak(message)

    def pending(self) -> list[tuple[str, float]]:
        """``(label, seconds left)`` of every timer not yet fired, soonest first."""
        now = time.monotonic()
        with self._lock:
            items = [(p.label, max(0.0, p.due - now)) for p in self._pending.values()]
        return sorted(items, key=lambda x: x[1])

    def cancel_all(self) -> int:
        """Cancels every pending timer and alarm; returns how many."""
        with self._lock:
            pending = list(self._pending.values())
            self._pending.clear()
        for p in pending:
            p.timer.cancel()
        return len(pending)


# ---------------------------------------------------------------- shopping list


class ShoppingList:
    """A shopping list kept in a JSON file (``{"items": [...]}``), written atomically.

    Args:
        path: The file; created on first write.

    Raises:
        ValueError: If the file exists but is not a shopping list (it is left untouched).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ValueError(f"{path} is not a readable shopping list ({exc}); fix or move it") from exc
            items = data.get("items") if isinstance(data, dict) else None
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise ValueError(f'{path} is not a shopping list: expected {{"items": ["..."]}}')
            self.items = items

    def add(self, item: str) -> bool:
        """Adds ``item`` unless present (case-insensitive); returns whether it was added."""
        if any(i.lower() == item.lower() for i in self.items):
            return False
        self.items.append(item)
        self._save()
        return True

    def remove(self, item: str) -> bool:
        """Removes ``item`` (case-insensitive); returns whether it was there."""
        kept = [i for i in self.items if i.lower() != item.lower()]
        if len(kept) == len(self.items):
            return False
        self.items = kept
        self._save()
        return True

    def _save(self) -> None:
        atomic_write_text(self.path, json.dumps({"items": self.items}, indent=1) + "\n")


# ---------------------------------------------------------------- system status


@dataclass(frozen=True)
class SystemInfo:
    """Where the system facts are read (overridable for tests and other boards).

    Attributes:
        thermal: The CPU temperature file, in millidegrees Celsius.
        meminfo: ``/proc/meminfo``.
        uptime: ``/proc/uptime``.
    """

    thermal: Path = Path("/sys/class/thermal/thermal_zone0/temp")
    meminfo: Path = Path("/proc/meminfo")
    uptime: Path = Path("/proc/uptime")

    def cpu_temperature_c(self) -> float | None:
        """CPU temperature in °C, or None where the board has no sensor file."""
        try:
            return int(self.thermal.read_text().strip()) / 1000.0
        except (OSError, ValueError):
            return None

    def memory_mb(self) -> tuple[int, int] | None:
        """``(available, total)`` MiB, or None if unreadable."""
        try:
            fields = dict(line.split(":", 1) for line in self.meminfo.read_text().splitlines() if ":" in line)
            return int(fields["MemAvailable"].split()[0]) // 1024, int(fields["MemTotal"].split()[0]) // 1024
        except (OSError, KeyError, ValueError, IndexError):
            return None

    def uptime_s(self) -> float | None:
        """Seconds since boot, or None if unreadable."""
        try:
            return float(self.uptime.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None


# ---------------------------------------------------------------- the home


def _say_duration(seconds: float) -> str:
    seconds = round(seconds)
    parts = []
    for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            parts.append(f"{n} {unit}{'s' if n != 1 else ''}")
    return " and ".join(parts) or "0 seconds"


_TIME = re.compile(r"^\s*(\d{1,2})(?:[:.](\d{2}))?\s*(a\.?m\.?|p\.?m\.?)?\s*$", re.IGNORECASE)


def parse_clock_time(text: str) -> tuple[int, int]:
    """``"7:30 am"``, ``"19:05"``, ``"7 pm"`` → ``(hour, minute)`` on a 24-hour clock.

    Raises:
        ValueError: With the accepted forms, for anything else.
    """
    m = _TIME.match(text)
    if not m:
        raise ValueError(f"cannot read the time {text!r}: say it like 7:30 am, 7 pm or 19:05")
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    suffix = (m.group(3) or "").lower().replace(".", "")
    if minute > 59 or hour > 23 or (suffix and not 1 <= hour <= 12):
        raise ValueError(f"{text!r} is not a time of day")
    if suffix == "pm" and hour != 12:
        hour += 12
    elif suffix == "am" and hour == 12:
        hour = 0
    return hour, minute


class Home:
    """The state the home tools act on, and the tools themselves.

    Args:
        data_dir: Where the shopping list is kept.
        speak: Says a sentence (timers and alarms call it when they fire).
        light_pins: Room → GPIO pin; the rooms the model may name.
        pin_factory: A gpiozero pin factory (default: real on a Pi, mock elsewhere).
        system: Where system facts are read.
        mixer: Run ``amixer`` to set the speaker volume (when it is installed).
    """

    def __init__(
        self,
        *,
        data_dir: Path,
        speak: Callable[[str], None] = print,
        light_pins: Mapping[str, int] = DEFAULT_LIGHT_PINS,
        pin_factory: Any = None,
        system: SystemInfo | None = None,
        mixer: bool = False,
    ) -> None:
        self.lights = LightBank(light_pins, pin_factory=pin_factory)
        self.timers = TimerBoard(speak)
        self.shopping = ShoppingList(data_dir / "shopping_list.json")
        self.system = system or SystemInfo()
        self.volume = 50
        self.mixer = mixer and shutil.which("amixer") is not None
        self.started = time.monotonic()

    def close(self) -> None:
        """Cancels pending timers and releases the GPIO pins."""
        self.timers.cancel_all()
        self.lights.close()

    def tools(self) -> list[Tool[..., Any]]:
        """The tools, bound to this home, for ``Agent(engine, tools=home.tools())``."""
        return _make_tools(tuple(self.lights.pins), lambda: self)

    def status_sentence(self) -> str:
        """CPU temperature, memory and uptime as one sentence (unknown parts left out)."""
        parts = []
        temp = self.system.cpu_temperature_c()
        if temp is not None:
            parts.append(f"the CPU is at {temp:.0f} degrees")
        mem = self.system.memory_mb()
        if mem is not None:
            parts.append(f"{mem[0]} of {mem[1]} megabytes of memory are free")
        up = self.system.uptime_s()
        if up is not None:
            parts.append(f"the system has been up for {_say_duration(up - up % 60 if up >= 60 else up)}")
        if not parts:
            return "System status is not available on this machine."
        text = ", ".join(parts)
        return text[0].upper() + text[1:] + "."


def _make_tools(rooms: tuple[str, ...], get_home: Callable[[], Home]) -> list[Tool[..., Any]]:
    """The home tools for these rooms, acting on the home ``get_home()`` returns when one is called.

    One definition serves :meth:`Home.tools` (a home already built) and the
    module-level tools (a default home built on first use), so their names,
    docstrings and schemas cannot drift apart.
    """
    # The rooms become an enum in the schema: the grammar lets the model name only these.
    Room = Literal[rooms]  # type: ignore[valid-type]

    @tool
    def turn_on_lights(room: Room) -> str:  # type: ignore[valid-type]
        """Turn on the lights in a room.

        Args:
            room: The room.
        """
        home = get_home()
        home.lights.set(room, 1.0)
        return f"Turned on the {room} lights."

    @tool
    def turn_off_lights(room: Room) -> str:  # type: ignore[valid-type]
        """Turn off the lights in a room.

        Args:
            room: The room.
        """
        home = get_home()
        home.lights.set(room, 0.0)
        return f"Turned off the {room} lights."

    @tool
    def set_brightness(room: Room, percent: int) -> str:  # type: ignore[valid-type]
        """Dim or brighten the lights in a room.

        Args:
            room: The room.
            percent: Brightness from 0 to 100.
        """
        if not 0 <= percent <= 100:
            raise ValueError(f"brightness must be 0 to 100 percent, got {percent}")
        home = get_home()
        home.lights.set(room, percent / 100.0)
        return f"Set the {room} lights to {percent} percent."

    @tool
    def set_timer(minutes: int, seconds: int = 0) -> str:
        """Start a countdown timer.

        Args:
            minutes: Minutes to count down.
            seconds: Extra seconds.
        """
        total = minutes * 60 + seconds
        if total <= 0 or total > 24 * 3600:
            raise ValueError("a timer must run between 1 second and 24 hours")
        home = get_home()
        home.timers.start(total, f"{_say_duration(total)} timer")
        return f"Started a timer for {_say_duration(total)}."

    @tool
    def set_alarm(time: str) -> str:
        """Set an alarm for a time of day.

        Args:
            time: The time, like "7:30 am".
        """
        hour, minute = parse_clock_time(time)
        now = _dt.datetime.now()
        due = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if due <= now:
            due += _dt.timedelta(days=1)
        said = due.strftime("%I:%M %p").lstrip("0")
        home = get_home()
        home.timers.start((due - now).total_seconds(), f"{said} alarm")
        return f"Set an alarm for {said}."

    @tool
    def cancel_timers() -> str:
        """Cancel every running timer and alarm."""
        home = get_home()
        n = home.timers.cancel_all()
        return f"Cancelled {n} timer{'s' if n != 1 else ''}." if n else "There were no timers to cancel."

    @tool
    def add_to_shopping_list(item: str) -> str:
        """Add an item to the shopping list.

        Args:
            item: What to buy, like "milk".
        """
        item = item.strip()
        if not item:
            raise ValueError("say what to add")
        home = get_home()
        if home.shopping.add(item):
            return f"Added {item} to the shopping list."
        return f"{item} is already on the shopping list."

    @tool
    def remove_from_shopping_list(item: str) -> str:
        """Remove an item from the shopping list.

        Args:
            item: The item to remove.
        """
        home = get_home()
        if home.shopping.remove(item.strip()):
            return f"Removed {item.strip()} from the shopping list."
        return f"{item.strip()} was not on the shopping list."

    @tool
    def read_shopping_list() -> str:
        """Read out the shopping list."""
        home = get_home()
        items = home.shopping.items
        return "The shopping list has " + ", ".join(items) + "." if items else "The shopping list is empty."

    @tool
    def set_volume(percent: int) -> str:
        """Set the speaker volume.

        Args:
            percent: Volume from 0 to 100.
        """
        if not 0 <= percent <= 100:
            raise ValueError(f"volume must be 0 to 100 percent, got {percent}")
        home = get_home()
        home.volume = percent
        if home.mixer:
            subprocess.run(["amixer", "-q", "sset", "Master", f"{percent}%"], check=False, timeout=5)
        return f"Set the volume to {percent} percent."

    @tool
    def system_status() -> str:
        """Report the CPU temperature, free memory and uptime."""
        home = get_home()
        return home.status_sentence()

    return [
        turn_on_lights,
        turn_off_lights,
        set_brightness,
        set_timer,
        set_alarm,
        cancel_timers,
        add_to_shopping_list,
        remove_from_shopping_list,
        read_shopping_list,
        set_volume,
        system_status,
    ]


# ---------------------------------------------------------------- module-level tools


def default_data_dir() -> Path:
    """Where the default home keeps its shopping list: ``$XDG_DATA_HOME/agent-sdk-voice``.

    ``~/.local/share/agent-sdk-voice`` when ``XDG_DATA_HOME`` is unset or
    empty; the same folder ``main.py`` uses by default.
    """
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "agent-sdk-voice"


_default_home: Home | None = None
_default_home_lock = threading.Lock()


def default_home() -> Home:
    """The home the module-level tools act on: built by the first tool call, then reused.

    Built on first use rather than at import, so that importing this file
    (``load_tools`` does, and so does ``agent-sdk tune``, which never runs a
    tool) opens no GPIO pin and writes no file. It speaks with ``print`` and
    leaves the system mixer alone.
    """
    global _default_home
    with _default_home_lock:  # two threads' first calls must not both claim the pins
        if _default_home is None:
            _default_home = Home(data_dir=default_data_dir())
        return _default_home


# What ``agent-sdk run --tools examples/voice_assistant/home_tools.py`` finds:
# the same tools as ``Home(...).tools()``, for the default rooms and home.
(
    turn_on_lights,
    turn_off_lights,
    set_brightness,
    set_timer,
    set_alarm,
    cancel_timers,
    add_to_shopping_list,
    remove_from_shopping_list,
    read_shopping_list,
    set_volume,
    system_status,
) = _make_tools(tuple(DEFAULT_LIGHT_PINS), default_home)
