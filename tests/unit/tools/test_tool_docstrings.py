"""The Google docstring parser behind @tool: description, Args entries, problems."""

from __future__ import annotations

import keyword
import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_sdk.tools.docstrings import ParsedDocstring, parse_google_docstring

pytestmark = pytest.mark.unit


def test_full_docstring() -> None:
    doc = """Sets the thermostat.

    Heats or cools until the target is reached,
    then holds it.

    Args:
        target (float): Degrees Celsius; the
            thermostat rounds to half a degree.
        mode: One of "heat" or "cool".
        *args: Ignored extras.

    Returns:
        The new target.

    Raises:
        ValueError: Out of range.
    """
    assert parse_google_docstring(doc) == ParsedDocstring(
        description="Sets the thermostat.\n\nHeats or cools until the target is reached, then holds it.",
        params={
            "target": "Degrees Celsius; the thermostat rounds to half a degree.",
            "mode": 'One of "heat" or "cool".',
            "args": "Ignored extras.",
        },
    )


def test_summary_on_the_first_line_and_no_sections() -> None:
    assert parse_google_docstring("Pings the device.") == ParsedDocstring("Pings the device.")
    assert parse_google_docstring(None) == ParsedDocstring("")
    assert parse_google_docstring("   \n  ") == ParsedDocstring("")


def test_description_on_the_next_line_and_section_aliases() -> None:
    doc = """Does x.

    Arguments:
        a:
            The a, described below its name.
    Parameters:
        b (dict[str, tuple[int, int]], optional): The b.
    """
    assert parse_google_docstring(doc).params == {"a": "The a, described below its name.", "b": "The b."}


def test_a_colon_inside_the_type_or_text() -> None:
    doc = """Does x.

    Args:
        when (str): Time as HH:MM, e.g. 07:30.
        url: An address like https://example.org/a:b.
    """
    assert parse_google_docstring(doc).params == {
        "when": "Time as HH:MM, e.g. 07:30.",
        "url": "An address like https://example.org/a:b.",
    }


def test_list_items_keep_their_lines() -> None:
    doc = """Plays music.

    Sources:
    - radio,
    - local files
      in ~/Music.
    """
    # "Sources:" is not a known section, so it stays in the description.
    assert parse_google_docstring(doc).description == "Plays music.\n\nSources:\n- radio,\n- local files in ~/Music."


def test_problems_are_collected() -> None:
    doc = """Does x.

    Args:
        a: First.
        a: Again.
        b:
        not an entry
    """
    assert parse_google_docstring(doc).problems == (
        "parameter 'a' is documented twice in Args",
        "cannot parse the Args line 'not an entry' (expected 'name: description')",
        "parameter 'b' has an empty description in Args",
    )


_WORD = st.from_regex(r"[a-z][a-z0-9,.()'\"]{0,9}", fullmatch=True)
_NAME = st.from_regex(r"[a-z_][a-z0-9_]{0,11}", fullmatch=True).filter(lambda n: not keyword.iskeyword(n))


@given(
    entries=st.dictionaries(_NAME, st.lists(_WORD, min_size=1, max_size=25), min_size=1, max_size=5),
    width=st.integers(20, 60),
    typed=st.booleans(),
)
def test_wrapped_args_round_trip(entries: dict[str, list[str]], width: int, typed: bool) -> None:
    # However an entry is wrapped, continuation lines join back into the same text.
    lines = ["Summary line.", "", "Args:"]
    for name, words in entries.items():
        head = f"{name} (int): " if typed else f"{name}: "
        wrapped = textwrap.wrap(" ".join(words), width=width, break_long_words=False, break_on_hyphens=False)
        lines.append("    " + head + wrapped[0])
        lines += ["        " + w for w in wrapped[1:]]
    lines += ["", "Returns:", "    Nothing."]
    parsed = parse_google_docstring("\n".join(lines))
    assert parsed.problems == ()
    assert parsed.description == "Summary line."
    assert parsed.params == {name: " ".join(words) for name, words in entries.items()}
