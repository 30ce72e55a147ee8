"""Yes/no questions about a state, and tool names that change state (agent_sdk/agent/state_questions.py)."""

from __future__ import annotations

import pytest

from agent_sdk.agent.state_questions import asks_state, changes_state

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("request_text", "expected"),
    [
        ("are the doors locked", True),
        ("Is the trunk open?", True),
        ("hey computer, is the ac on", True),  # greetings and wake words first
        ("um so did I leave the kitchen lights on", True),
        ("do you know if the windows are closed", True),
        ("can you tell me whether the seat heater is on", True),
        ("isn't the radio on", True),
        ("is it possible to open the trunk", False),  # polite requests
        ("are you able to lock the doors", False),
        ("is there a way to close all the windows", False),
        ("is it ok to open the windows", False),
        ("open the trunk", False),
        ("can you open the trunk", False),
        ("what's the tire pressure", False),
        ("lock the doors, is that ok", False),  # a command first
        ("is", False),
        ("", False),
        ("hey hey hey hey hey is the trunk open", False),  # at most four lead words are skipped
    ],
)
def test_asks_state(request_text: str, expected: bool) -> None:
    assert asks_state(request_text) is expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("set_window", True), ("open_trunk", True), ("turnOnLights", True), ("home.lock_doors", True),
        ("check_range", False), ("system_status", False), ("get_weather", False), ("is_door_locked", False),
        ("", False), ("x", False),
    ],
)
def test_changes_state(name: str, expected: bool) -> None:
    assert changes_state(name) is expected
