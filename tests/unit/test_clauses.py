"""The part of a compound request the calls leave out (agent_sdk.agent.clauses)."""

from __future__ import annotations

from typing import Any

import pytest

from agent_sdk.agent.clauses import MAX_CLAUSE_REQUEST_CHARS, uncovered_clause, uncovered_part, written_in
from agent_sdk.agent.conversation import with_request

pytestmark = pytest.mark.unit

OFF_BEDROOM = ("turn_off_lights", {"room": "bedroom"})
ALARM_7 = ("set_alarm", {"time": "7:00 am"})


@pytest.mark.parametrize(("request_text", "calls", "clause"), [
    ("lights off in the bedroom and set an alarm for 7 am", [OFF_BEDROOM], "set an alarm for 7 am"),
    ("lights off in the bedroom and set an alarm for 7 am", [ALARM_7], "lights off in the bedroom"),  # said as "7 am"
    ("turn the bathroom light off and the kitchen light on", [("turn_off_lights", {"room": "bathroom"})],
     "the kitchen light on"),
    ("turn off the bedroom lights, then set a timer for 10 minutes", [OFF_BEDROOM], "set a timer for 10 minutes"),
    ("Turn off the bedroom lights. Also, please set a timer for 10 minutes.", [OFF_BEDROOM],
     "set a timer for 10 minutes"),
    ("tigers in Bangladesh for 5 years. Also provide the projection for tigers in Nepal",  # shared values are fine
     [("get_history", {"country": "Bangladesh", "species": "tigers", "years": 5})],
     "provide the projection for tigers in Nepal"),
])
def test_the_other_request_is_found(request_text: str, calls: list[tuple[str, dict[str, Any]]], clause: str) -> None:
    assert uncovered_clause(request_text, calls) == clause


@pytest.mark.parametrize(("request_text", "calls"), [
    ("turn off the bedroom lights", [OFF_BEDROOM]),  # nothing else asked
    ("turn off the bedroom lights and thanks", [OFF_BEDROOM]),  # courtesy
    ("turn off the bedroom lights, thank you so much!", [OFF_BEDROOM]),
    ("turn on the kitchen and bedroom lights", [("turn_on_lights", {"room": "kitchen"}),
                                               ("turn_on_lights", {"room": "bedroom"})]),  # every value on both sides
    ("add milk and eggs", [("add_to_shopping_list", {"item": "milk"})]),  # one word: a list's item, not a request
    ("set a timer for 10 minutes and 30 seconds", [("set_timer", {"minutes": 10})]),  # the rest of a value
    ("turn off the bedroom lights and the bedroom lights", [OFF_BEDROOM]),  # a restatement
    ("how's the system doing and what's the weather", [("system_status", {})]),  # no value to place the call
    ("set an alarm and turn off the lights", [("set_alarm", {"time": "6:00 am"})]),  # a value the request lacks
    ("", [OFF_BEDROOM]),
    ("turn off the bedroom lights and set an alarm", []),
])
def test_nothing_is_left_out(request_text: str, calls: list[tuple[str, dict[str, Any]]]) -> None:
    assert uncovered_clause(request_text, calls) is None


def test_hostile_requests() -> None:
    long = "turn off the bedroom lights and " + "set an alarm " * 100
    assert len(long) > MAX_CLAUSE_REQUEST_CHARS and uncovered_clause(long, [OFF_BEDROOM]) is None
    weird = [("t", {"a": {"b": [1, 2.0, None, True, "x", "bedroom"]}, "c": float("nan")})]
    assert uncovered_clause("bedroom 1 2 and then (((( play music", weird) == "(((( play music"
    assert uncovered_clause("bedroom \u00b2 and \u0663 and then play", [OFF_BEDROOM]) == "\u0663 and then play"
    for text in ("and and and and", ". . . .", "bedroom" + " and" * 200):
        uncovered_clause(text, [OFF_BEDROOM])  # no exception


def test_with_request_replaces_only_the_latest_user_message() -> None:
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c", "name": "x"}]
    out = with_request(msgs, "new")
    assert out[3] == {"role": "user", "content": "new", "name": "x"} and out[1]["content"] == "a"
    assert msgs[3]["content"] == "c"  # a copy
    assert with_request([{"role": "system", "content": "s"}], "new") == [{"role": "system", "content": "s"}]


# Found by review.
@pytest.mark.parametrize(("request_text", "calls", "clause"), [
    ("Grüße aus der Straße: turn off the lights in the bedroom and set an alarm for 7 am", [OFF_BEDROOM],
     "set an alarm for 7 am"),  # casefold() makes "ß" longer: cut the original text, then fold
    ("set a timer for 10 minutes and 30 seconds and then play jazz", [("set_timer", {"minutes": 10})],
     "play jazz"),  # a rejected clause is not the end
    ("turn off the kitchen lights and lock the kitchen door", [("turn_off_lights", {"room": "kitchen"})],
     "lock the kitchen door"),  # a shared value, new words
    ("turn off the bedroom lights as well as set an alarm for 7 am", [OFF_BEDROOM], "set an alarm for 7 am"),
    ("turn off the bedroom lights\nset an alarm for 7 am", [OFF_BEDROOM], "set an alarm for 7 am"),
])
def test_review_found_clauses(request_text: str, calls: list[tuple[str, dict[str, Any]]], clause: str) -> None:
    assert uncovered_clause(request_text, calls) == clause


@pytest.mark.parametrize(("request_text", "calls"), [
    ("Turn on the bedroom light please and thank you", [("turn_on_lights", {"room": "bedroom"})]),
    ("turn off the bedroom lights. Thanks so much, I really appreciate it", [OFF_BEDROOM]),
    ("turn off the bedroom lights, have a great day", [OFF_BEDROOM]),
    ("I have a circle. What is its area with radius 5?", [("area", {"radius": 5})]),  # context, not a request
    ("Calculate the BMI. The person weighs 70 kg and is 175 cm tall.", [("bmi", {"weight": 70, "height": 175})]),
    ("turn on the bedroom lights and make them bright", [("turn_on_lights", {"room": "bedroom"})]),  # a pronoun
])
def test_review_found_no_clause(request_text: str, calls: list[tuple[str, dict[str, Any]]]) -> None:
    assert uncovered_clause(request_text, calls) is None


def test_the_earlier_part_is_marked_and_odd_values_are_skipped() -> None:
    part = uncovered_part("lights off in the bedroom and set an alarm for 7 am", [ALARM_7])
    assert part is not None and part.earlier and part.text == "lights off in the bedroom"
    part = uncovered_part("lights off in the bedroom and set an alarm for 7 am", [OFF_BEDROOM])
    assert part is not None and not part.earlier
    huge = [("t", {"n": 10**5000, "x": float("inf"), "y": float("nan"), "room": "bedroom"})]
    assert uncovered_clause("turn off the bedroom lights and set an alarm for 7 am", huge) == "set an alarm for 7 am"
    many = [("t", {f"k{i}": f"{i % 12 + 1}:{i % 60:02d} pm" for i in range(5000)})]
    assert uncovered_clause("at 1:00 pm and then " + "x " * 200, many) is None  # bounded work, no clause
    assert written_in("set an alarm for 7 am", "7:00 am") and not written_in("set an alarm", 7)
