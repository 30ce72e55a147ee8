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
        ("isn\u2019t the radio on", True),  # a phone keyboard's apostrophe
        ("'is the trunk open'", True),
        ("isnt the radio on", True),
        ("did you lock the doors", True),  # about what was done, not a request
        ("are the windows open? close them", False),  # a command after the question
        ("Is the AC on? Turn it off.", False),
        ("are the doors locked, lock them", False),
        ("is the trunk open? if not open it", False),
        ("is there any chance you could open the trunk", False),
        ("is it at all possible to open the sunroof", False),
        ("does it make sense to open the sunroof", False),
        ("is it all right to open the windows", False),
        ("are we able to open the trunk", False),
    ],
)
def test_asks_state(request_text: str, expected: bool) -> None:
    assert asks_state(request_text) is expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("set_window", True), ("open_trunk", True), ("turnOnLights", True), ("home.lock_doors", True),
        ("check_range", False), ("system_status", False), ("get_weather", False), ("is_door_locked", False),
        ("lock_status", False), ("call_history", False), ("order_status_check", False),  # readers named by a verb
        ("", False), ("x", False),
    ],
)
def test_changes_state(name: str, expected: bool) -> None:
    assert changes_state(name) is expected


def test_a_changing_tool_must_name_what_the_question_asks_about() -> None:
    assert changes_state("open_trunk", "is the trunk open") and changes_state("set_door_locks", "are the doors locked")
    assert changes_state("turn_on_lights", "did I leave the lights on")
    assert not changes_state("add", "does 5 plus 3 equal 8")  # a pure function named with a verb
    assert not changes_state("create_histogram", "is the data normally distributed")
    assert not changes_state("open_trunk", "are the doors locked")
