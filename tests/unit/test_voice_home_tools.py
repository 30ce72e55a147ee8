"""Home tools of the voice example: lights on GPIO mock pins, timers that fire, the shopping list on disk."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from voice_assistant.home_tools import Home, ShoppingList, SystemInfo, atomic_write_text, parse_clock_time

pytestmark = pytest.mark.unit


@pytest.fixture
def home(tmp_path: Path):  # type: ignore[no-untyped-def]
    said: list[str] = []
    h = Home(data_dir=tmp_path, speak=said.append)
    h.said = said  # type: ignore[attr-defined]
    yield h
    h.close()


def _tools(home: Home) -> dict:  # type: ignore[type-arg]
    return {t.name: t for t in home.tools()}


def test_rooms_are_an_enum_in_the_schema(home: Home) -> None:
    schema = _tools(home)["turn_on_lights"].parameters
    assert schema["properties"]["room"]["enum"] == ["kitchen", "living room", "bedroom", "bathroom"]
    assert schema["required"] == ["room"]


def test_lights_drive_the_gpio_pins(home: Home) -> None:
    tools = _tools(home)
    assert tools["turn_on_lights"].run({"room": "kitchen"}) == "Turned on the kitchen lights."
    assert home.lights.pin_value("kitchen") == 1.0
    assert home.lights.pin_value("bedroom") == 0.0
    assert tools["set_brightness"].run({"room": "bedroom", "percent": 40}) == "Set the bedroom lights to 40 percent."
    assert home.lights.pin_value("bedroom") == pytest.approx(0.4)
    tools["turn_off_lights"].run({"room": "kitchen"})
    assert home.lights.pin_value("kitchen") == 0.0
    assert "Mock" in home.lights.backend


def test_unknown_room_and_bad_brightness_are_tool_errors(home: Home) -> None:
    reg_result = home.tools()
    from agent_sdk import ToolRegistry

    reg = ToolRegistry(reg_result)
    r = reg.execute_sync("turn_on_lights", {"room": "garage"})
    assert not r.ok and "garage" in (r.error or "")
    r = reg.execute_sync("set_brightness", {"room": "kitchen", "percent": 140})
    assert not r.ok and "0 to 100" in (r.error or "")
    assert home.lights.level["kitchen"] == 0.0  # nothing changed


def test_timer_fires_and_speaks(home: Home) -> None:
    done = threading.Event()
    home.timers.speak = lambda text: (home.said.append(text), done.set())  # type: ignore[attr-defined,func-returns-value]
    home.timers.start(0.05, "tea timer")
    assert [label for label, _ in home.timers.pending()] == ["tea timer"]
    assert done.wait(5)
    assert home.said == ["Your tea timer is done."]  # type: ignore[attr-defined]
    assert home.timers.pending() == []


def test_set_timer_tool_and_cancel(home: Home) -> None:
    tools = _tools(home)
    assert tools["set_timer"].run({"minutes": 5}) == "Started a timer for 5 minutes."
    assert tools["set_timer"].run({"minutes": 1, "seconds": 30}) == "Started a timer for 1 minute and 30 seconds."
    left = [s for _, s in home.timers.pending()]
    assert 85 < left[0] <= 90 and 295 < left[1] <= 300
    assert tools["cancel_timers"].run({}) == "Cancelled 2 timers."
    assert tools["cancel_timers"].run({}) == "There were no timers to cancel."
    with pytest.raises(ValueError, match="between 1 second and 24 hours"):
        tools["set_timer"].run({"minutes": 0})


@pytest.mark.parametrize(
    ("text", "expected"),
    [("7:30 am", (7, 30)), ("7 pm", (19, 0)), ("12 am", (0, 0)), ("12:15 p.m.", (12, 15)), ("19:05", (19, 5))],
)
def test_clock_times(text: str, expected: tuple[int, int]) -> None:
    assert parse_clock_time(text) == expected


@pytest.mark.parametrize("text", ["noon-ish", "25:00", "13 pm", "7:75", ""])
def test_bad_clock_times(text: str) -> None:
    with pytest.raises(ValueError):
        parse_clock_time(text)


def test_alarm_is_a_real_timer(home: Home) -> None:
    out = _tools(home)["set_alarm"].run({"time": "7:30 am"})
    assert out == "Set an alarm for 7:30 AM."
    [(label, left)] = home.timers.pending()
    assert label == "7:30 AM alarm" and 0 < left <= 24 * 3600


def test_shopping_list_persists(home: Home, tmp_path: Path) -> None:
    tools = _tools(home)
    assert tools["add_to_shopping_list"].run({"item": "milk"}) == "Added milk to the shopping list."
    assert tools["add_to_shopping_list"].run({"item": "Milk"}) == "Milk is already on the shopping list."
    tools["add_to_shopping_list"].run({"item": "eggs"})
    assert json.loads((tmp_path / "shopping_list.json").read_text()) == {"items": ["milk", "eggs"]}
    assert ShoppingList(tmp_path / "shopping_list.json").items == ["milk", "eggs"]  # a restart reads it back
    assert tools["read_shopping_list"].run({}) == "The shopping list has milk, eggs."
    assert tools["remove_from_shopping_list"].run({"item": "MILK"}) == "Removed MILK from the shopping list."
    assert tools["remove_from_shopping_list"].run({"item": "bread"}) == "bread was not on the shopping list."
    assert ShoppingList(tmp_path / "shopping_list.json").items == ["eggs"]


def test_atomic_write_keeps_the_old_file_when_the_rename_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "list.json"
    atomic_write_text(path, "old")

    def power_cut(src: str, dst: str) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", power_cut)
    with pytest.raises(OSError, match="power cut"):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["list.json"]  # no temporary left behind


def test_corrupt_shopping_list_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "shopping_list.json"
    path.write_text('{"items": ["milk"')
    with pytest.raises(ValueError, match="not a readable shopping list"):
        ShoppingList(path)
    path.write_text('{"items": [1, 2]}')
    with pytest.raises(ValueError, match="not a shopping list"):
        ShoppingList(path)
    assert path.read_text() == '{"items": [1, 2]}'


def test_system_status_reads_sys_and_proc(tmp_path: Path) -> None:
    (tmp_path / "temp").write_text("48312\n")
    (tmp_path / "meminfo").write_text("MemTotal:  8000000 kB\nMemFree: 10 kB\nMemAvailable:  4096000 kB\n")
    (tmp_path / "uptime").write_text("3725.4 100.0\n")
    home = Home(data_dir=tmp_path, system=SystemInfo(tmp_path / "temp", tmp_path / "meminfo", tmp_path / "uptime"))
    try:
        text = _tools(home)["system_status"].run({})
    finally:
        home.close()
    assert text == (
        "The CPU is at 48 degrees, 4000 of 7812 megabytes of memory are free, "
        "the system has been up for 1 hour and 2 minutes."
    )


def test_system_status_without_sensors(tmp_path: Path) -> None:
    missing = tmp_path / "none"
    home = Home(data_dir=tmp_path, system=SystemInfo(missing, missing, missing))
    try:
        assert home.status_sentence() == "System status is not available on this machine."
    finally:
        home.close()


def test_volume(home: Home) -> None:
    assert _tools(home)["set_volume"].run({"percent": 30}) == "Set the volume to 30 percent."
    assert home.volume == 30
    with pytest.raises(ValueError, match="0 to 100"):
        _tools(home)["set_volume"].run({"percent": -5})


def test_timers_fire_in_order(home: Home) -> None:
    got: list[str] = []
    lock = threading.Lock()

    def speak(text: str) -> None:
        with lock:
            got.append(text)

    home.timers.speak = speak
    home.timers.start(0.15, "second")
    home.timers.start(0.02, "first")
    deadline = time.monotonic() + 5
    while len(got) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert got == ["Your first is done.", "Your second is done."]
