"""The hand-written held-out sets (tests/data/*_heldout.jsonl) against the tools they are for.

Every expected call must name a tool of the set, validate against its schema
and run on the real tools without error; the counts the sets promise (lines,
requests no tool serves, lines per tool) must hold. See tests/data/README.md.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from voice_assistant.home_tools import Home, parse_clock_time

from agent_sdk import Tool
from agent_sdk.tools.loading import load_tools
from agent_sdk.tune.heldout import MATCH_KINDS, load_heldout, same_calls

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
HOME_TOOLS = ROOT / "examples" / "voice_assistant" / "home_tools.py"
CABIN_TOOLS = ROOT / "examples" / "car_cabin" / "cabin_tools.py"
OLD_HOME_SET = ROOT / "examples" / "voice_assistant" / "data" / "home_commands.jsonl"
DEV_HOME_SET = ROOT / "examples" / "voice_assistant" / "data" / "home_dev.jsonl"
DEV_CABIN_SET = ROOT / "examples" / "car_cabin" / "data" / "cabin_dev.jsonl"
HOME_EXAMPLES = ROOT / "examples" / "voice_assistant" / "data" / "home_examples.jsonl"
CABIN_EXAMPLES = ROOT / "examples" / "car_cabin" / "data" / "cabin_examples.jsonl"
ROBOT_TOOLS = ROOT / "examples" / "home_robot" / "robot_tools.py"
DEV_ROBOT_SET = ROOT / "examples" / "home_robot" / "data" / "robot_dev.jsonl"
KITCHEN_TOOLS = ROOT / "examples" / "smart_kitchen" / "kitchen_tools.py"
DEV_KITCHEN_SET = ROOT / "examples" / "smart_kitchen" / "data" / "kitchen_dev.jsonl"
MUSIC_TOOLS = ROOT / "examples" / "music_player" / "music_tools.py"
DEV_MUSIC_SET = ROOT / "examples" / "music_player" / "data" / "music_dev.jsonl"
GARDEN_TOOLS = ROOT / "examples" / "garden" / "garden_tools.py"
DEV_GARDEN_SET = ROOT / "examples" / "garden" / "data" / "garden_dev.jsonl"

CLOCK_FORM = re.compile(r"^(1[0-2]|[1-9])(:[0-5]\d)? (am|pm)$")

# name → (file, tools file, id prefix, min lines, min no-tool lines, min lines per tool)
SETS = {
    "home": ("home_heldout.jsonl", HOME_TOOLS, "h", 110, 25, 6),
    "cabin": ("cabin_heldout.jsonl", CABIN_TOOLS, "c", 100, 20, 4),
    "robot": ("robot_heldout.jsonl", ROBOT_TOOLS, "r", 100, 20, 4),
    "kitchen": ("kitchen_heldout.jsonl", KITCHEN_TOOLS, "k", 100, 20, 3),
    "music": ("music_heldout.jsonl", MUSIC_TOOLS, "m", 120, 22, 4),
    "garden": ("garden_heldout.jsonl", GARDEN_TOOLS, "g", 120, 22, 4),
    # Not held out: the hand-written requests tuning-data changes are judged on (an absolute path).
    "home-dev": (DEV_HOME_SET, HOME_TOOLS, "d", 80, 25, 3),
    "cabin-dev": (DEV_CABIN_SET, CABIN_TOOLS, "e", 80, 20, 2),
    "robot-dev": (DEV_ROBOT_SET, ROBOT_TOOLS, "s", 60, 15, 3),
    "kitchen-dev": (DEV_KITCHEN_SET, KITCHEN_TOOLS, "j", 60, 15, 2),
    "music-dev": (DEV_MUSIC_SET, MUSIC_TOOLS, "p", 60, 15, 2),
    "garden-dev": (DEV_GARDEN_SET, GARDEN_TOOLS, "n", 60, 15, 2),
}
HELD_OUT = ("home", "cabin", "robot", "kitchen", "music", "garden")
# The most held-out lines the generator may write by coincidence, per set (measured at seeds 0 and 1: home 2, cabin 5
# since the near misses by verb, robot 7, kitchen 1, music 7 since "unmute" and "shuffle on" are said as such, garden
# 3), one more than measured.
COINCIDENCES = {"home": 3, "cabin": 6, "robot": 8, "kitchen": 2, "music": 8, "garden": 4}
# Lines of more than five words a generic frame has written word for word (each named in the test's output).
LONGER_COINCIDENCES = {"garden": {"take a picture of the greenhouse"}}


def _rows(name: str) -> list[dict[str, Any]]:
    path = DATA / SETS[name][0]
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        assert line.strip(), f"{path.name}:{n}: blank line"
        rows.append(json.loads(line))
    return rows


def _tools(name: str) -> dict[str, Tool[..., Any]]:
    return {t.name: t for t in load_tools(str(SETS[name][1]))}


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", "", text.casefold()).split())


@pytest.mark.parametrize("name", list(SETS))
def test_lines_are_well_formed(name: str) -> None:
    prefix = SETS[name][2]
    rows = _rows(name)
    ids = [r.get("id") for r in rows]
    assert len(set(ids)) == len(ids), [i for i, k in Counter(ids).items() if k > 1]
    for row in rows:
        where = row.get("id")
        assert set(row) <= {"id", "q", "calls", "match"} and {"id", "q", "calls"} <= set(row), where
        assert isinstance(row["id"], str) and re.fullmatch(rf"{prefix}\d{{3}}", row["id"]), where
        assert isinstance(row["q"], str) and row["q"].strip() == row["q"] and row["q"], where
        assert isinstance(row["calls"], list), where
        for call in row["calls"]:
            assert set(call) == {"name", "arguments"} and isinstance(call["arguments"], dict), where
        match = row.get("match", {})
        arguments = {a for call in row["calls"] for a in call["arguments"]}
        assert isinstance(match, dict), where
        assert match or "match" not in row, f"{where}: an empty match is left out"
        for argument, kind in match.items():
            assert kind in MATCH_KINDS, (where, kind)
            assert argument in arguments, (where, argument)


@pytest.mark.parametrize("name", list(SETS))
def test_the_scorer_reads_every_line_and_each_answer_scores_right(name: str) -> None:
    rows = load_heldout(DATA / SETS[name][0])
    assert [r.id for r in rows] == [r["id"] for r in _rows(name)]
    for row in rows:
        shouted = [
            {"name": c["name"], "arguments": {k: v.upper() if k in row.match else v for k, v in c["arguments"].items()}}
            for c in reversed(row.calls)
        ]
        assert same_calls(shouted, row.calls, match=row.match), row.id


@pytest.mark.parametrize("name", list(SETS))
def test_no_duplicate_queries(name: str) -> None:
    seen = Counter(_words(r["q"]) for r in _rows(name))
    assert [q for q, n in seen.items() if n > 1] == []


@pytest.mark.parametrize("name", list(SETS))
def test_every_call_validates_against_its_tool(name: str) -> None:
    tools = _tools(name)
    problems = []
    for row in _rows(name):
        for call in row["calls"]:
            tool = tools.get(call["name"])
            if tool is None:
                problems.append(f"{row['id']}: no tool {call['name']!r}")
                continue
            try:
                tool.validate(call["arguments"])
            except Exception as exc:  # noqa: BLE001 - every bad line is listed, not just the first
                problems.append(f"{row['id']}: {exc}")
    assert problems == []


@pytest.mark.parametrize("name", list(SETS))
def test_counts(name: str) -> None:
    _, _, _, min_lines, min_negatives, min_per_tool = SETS[name]
    rows = _rows(name)
    per_tool = Counter(call["name"] for row in rows for call in {c["name"]: c for c in row["calls"]}.values())
    negatives = sum(1 for row in rows if not row["calls"])
    assert len(rows) >= min_lines
    assert negatives >= min_negatives
    thin = {t: per_tool[t] for t in _tools(name) if per_tool[t] < min_per_tool}
    assert thin == {}, f"tools with fewer than {min_per_tool} lines"


@pytest.mark.parametrize("name", ["home", "home-dev"])
def test_home_lines_run_on_a_real_home(name: str, tmp_path: Path) -> None:
    """Ranges, rooms and alarm times are right: each expected call runs without error."""
    home = Home(data_dir=tmp_path, speak=lambda _: None)
    try:
        tools = {t.name: t for t in home.tools()}
        failures = []
        for row in _rows(name):
            for call in row["calls"]:
                try:
                    tools[call["name"]].run(call["arguments"])
                except Exception as exc:  # noqa: BLE001
                    failures.append(f"{row['id']}: {exc}")
    finally:
        home.close()
    assert failures == []


@pytest.mark.parametrize(
    "name", ["cabin", "cabin-dev", "robot", "robot-dev", "kitchen", "kitchen-dev", "music", "music-dev", "garden",
             "garden-dev"]
)
def test_cabin_robot_kitchen_and_music_lines_run_on_their_tools(name: str) -> None:
    tools = _tools(name)  # a fresh import: its own simulated car, robot, kitchen or player
    failures = []
    for row in _rows(name):
        for call in row["calls"]:
            try:
                if name.startswith("robot") and call["name"] == "pick_up":  # the arm holds one thing at a time
                    tools["put_down"].run({})
                tools[call["name"]].run(call["arguments"])
            except Exception as exc:  # noqa: BLE001
                failures.append(f"{row['id']}: {exc}")
    assert failures == []


def test_home_covers_every_room() -> None:
    rooms = Counter(c["arguments"]["room"] for row in _rows("home") for c in row["calls"] if "room" in c["arguments"])
    assert set(rooms) == {"kitchen", "living room", "bedroom", "bathroom"}
    assert min(rooms.values()) >= 4


@pytest.mark.parametrize("name", list(SETS))
def test_match_hints_fit_their_values(name: str) -> None:
    for row in _rows(name):
        for argument, kind in row.get("match", {}).items():
            values = [c["arguments"][argument] for c in row["calls"] if argument in c["arguments"]]
            for value in values:
                if kind == "clock":
                    assert CLOCK_FORM.match(value), (row["id"], value)
                    parse_clock_time(value)
                else:  # expected free strings are written lowercase, as said
                    assert value == value.casefold().strip(), (row["id"], value)


@pytest.mark.parametrize("name", ["home", "home-dev"])
def test_home_free_strings_and_times_carry_match_hints(name: str) -> None:
    for row in _rows(name):
        for call in row["calls"]:
            for argument in ("item", "time"):
                if argument in call["arguments"]:
                    assert argument in row.get("match", {}), (row["id"], argument)


def _old_set_words() -> set[str]:
    return {_words(json.loads(line)["text"]) for line in OLD_HOME_SET.read_text(encoding="utf-8").splitlines() if line}


def test_home_set_shares_no_sentence_with_the_older_threshold_set() -> None:
    assert [r["id"] for r in _rows("home") if _words(r["q"]) in _old_set_words()] == []


def test_the_development_set_shares_no_sentence_with_the_held_out_sets() -> None:
    seen = {_words(r["q"]) for r in _rows("home")} | _old_set_words()
    assert [r["id"] for r in _rows("home-dev") if _words(r["q"]) in seen] == []
    seen = {_words(r["q"]) for r in _rows("cabin")}
    assert [r["id"] for r in _rows("cabin-dev") if _words(r["q"]) in seen] == []
    seen = {_words(r["q"]) for r in _rows("robot")}
    assert [r["id"] for r in _rows("robot-dev") if _words(r["q"]) in seen] == []
    seen = {_words(r["q"]) for r in _rows("kitchen")}
    assert [r["id"] for r in _rows("kitchen-dev") if _words(r["q"]) in seen] == []
    seen = {_words(r["q"]) for r in _rows("music")}
    assert [r["id"] for r in _rows("music-dev") if _words(r["q"]) in seen] == []
    seen = {_words(r["q"]) for r in _rows("garden")}
    assert [r["id"] for r in _rows("garden-dev") if _words(r["q"]) in seen] == []


@pytest.mark.parametrize("name", HELD_OUT)
def test_the_generator_never_writes_a_held_out_request(name: str) -> None:
    """What the tuned model is scored on is not what it was trained on (word for word, case and punctuation aside).

    The generator never reads these files; a short, plain command ("system status", "lock the doors") can still come
    out of it by coincidence, as it would from any user: such lines are at most five words, and at most
    :data:`COINCIDENCES` per set (measured at seeds 0 and 1: 2 of 138 home lines, both two- or four-word commands; 3
    of 124 cabin lines since flags are said as their descriptions say, 5 since the near misses by verb of 2026-12-07
    (eighth session) write "open the glovebox" and "read me my last text", requests no tool serves, seen in this
    test's output; 7 of 101 robot lines since tools named for their verb are asked with it and the set has many bare
    commands, two of them also in the generator's banks of requests no tool serves; up to 7 of 130 music lines, bare
    commands such as "unmute", since tools named for their verb are asked with it and their opposites; 3 of 131
    garden lines since its rules of 2026-12-07, commands of two to six words such as "turn off the pond pump" and,
    since the near misses by verb moved the generator's draws, "take a picture of the greenhouse" (the camera
    frame's plain form, allowed by name in :data:`LONGER_COINCIDENCES`), seen in this test's output; reported beside
    the scores in docs/tuning.md). A longer line never.
    """
    from agent_sdk.tune.examples import generate_examples

    specs = [t["function"] for t in load_tools(str(SETS[name][1])).to_openai()]
    held = {_words(r["q"]) for r in _rows(name)}
    for seed in (0, 1):  # the default seed and another
        generated = {_words(e.query) for e in generate_examples(specs, count=3000, seed=seed)}
        same = held & generated
        assert len(same) <= COINCIDENCES[name], sorted(same)
        assert all(len(q.split()) <= 5 or q in LONGER_COINCIDENCES.get(name, ()) for q in same), sorted(same)


@pytest.mark.parametrize(("examples_file", "name"), [(HOME_EXAMPLES, "home"), (CABIN_EXAMPLES, "cabin")])
def test_the_examples_own_tuning_lines_load_and_stay_clear_of_the_scored_sets(examples_file: Path, name: str) -> None:
    """The developer's examples the voice and cabin examples tune with (``--examples``) are training data.

    Every line loads as tuning examples (tools, slots, schemas), and no expanded request comes close to a
    held-out or development line: at most three quarters of its words in common with any of them (word-set
    Jaccard under 0.75), so neither set measures requests the model was shown.
    """
    from agent_sdk.tune.examples import load_user_examples

    tools = list(load_tools(str(SETS[name][1])))
    examples = load_user_examples(examples_file, tools)
    assert len(examples) >= 150 and sum(1 for e in examples if not e.calls) >= 30
    assert {c["name"] for e in examples for c in e.calls} == set(_tools(name))
    scored = [set(_words(r["q"]).split()) for n in (name, f"{name}-dev") for r in _rows(n)]
    close = []
    for e in examples:
        words = set(_words(e.query).split())
        if any(len(words & s) / len(words | s) >= 0.75 for s in scored):
            close.append(e.query)
    assert close == []
