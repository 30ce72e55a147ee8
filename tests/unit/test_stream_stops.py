"""What a stream holds back while a stop string may be starting (``runtime.decode._stop_prefix_len``)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_sdk.runtime.decode import _find_stop, _stop_prefix_len

pytestmark = pytest.mark.unit


def test_only_an_end_that_begins_a_stop_string_is_held() -> None:
    stop = ("<start_function_response>",)
    assert _stop_prefix_len("The weather is sunny.", stop) == 0  # streamed at once, not 24 characters late
    assert _stop_prefix_len("It is 15 C <start_fun", stop) == len("<start_fun")
    assert _stop_prefix_len("a <", stop) == 1
    assert _stop_prefix_len("", stop) == 0
    assert _stop_prefix_len("abc", ()) == 0
    assert _stop_prefix_len("xxEN", ("END", "NNN")) == 2  # the longest of several candidates
    assert _stop_prefix_len("xxEND", ("END",)) == 0  # a whole stop string is _find_stop's, not held


@settings(max_examples=400, deadline=None)
@given(
    text=st.text(alphabet="ab<>", max_size=12),
    more=st.text(alphabet="ab<>", max_size=8),
    stops=st.lists(st.text(alphabet="ab<>", min_size=1, max_size=4), min_size=1, max_size=3),
)
def test_what_is_streamed_never_holds_part_of_a_later_stop(text: str, more: str, stops: list[str]) -> None:
    # whatever comes next, a stop string first found later starts inside the held end, never in what was streamed
    stops_t = tuple(stops)
    if _find_stop(text, stops_t) is not None:
        return
    where = _find_stop(text + more, stops_t)
    if where is not None:
        assert where >= len(text) - _stop_prefix_len(text, stops_t)
