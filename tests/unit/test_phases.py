"""The phase recorder: exclusive times, nested paths, nothing recorded outside a recording."""

from __future__ import annotations

import threading
import time

import pytest

from agent_sdk.runtime.phases import PhaseRecorder, phase, recording


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_nested_phases_are_exclusive_and_named_by_path() -> None:
    with recording() as rec:
        t0 = time.perf_counter()
        with phase("rerank"):
            _busy(0.01)
            with phase("prefill"):
                _busy(0.02)
            with phase("prefill"):
                _busy(0.01)
        with phase("prefill"):
            _busy(0.01)
        wall = time.perf_counter() - t0
    assert set(rec.seconds) == {"rerank", "rerank/prefill", "prefill"}
    assert rec.counts == {"rerank": 1, "rerank/prefill": 2, "prefill": 1}
    # exclusive: the outer phase does not count what ran inside its children
    assert 0.01 <= rec.seconds["rerank"] < 0.02
    assert rec.seconds["rerank/prefill"] >= 0.03
    assert rec.total() <= wall
    assert rec.by_top()["rerank"] == pytest.approx(rec.seconds["rerank"] + rec.seconds["rerank/prefill"])


def test_nothing_is_recorded_outside_a_recording() -> None:
    rec_outer = PhaseRecorder()
    with phase("decode"):
        pass
    assert rec_outer.seconds == {}
    with recording() as rec:
        pass
    with phase("decode"):
        pass
    assert rec.seconds == {}


def test_an_exception_closes_the_phase() -> None:
    with recording() as rec:
        with pytest.raises(ValueError), phase("tool"):
            raise ValueError("boom")
        with phase("decode"):
            pass
    assert set(rec.seconds) == {"tool", "decode"}  # "decode" is not nested under the failed "tool"


def test_recordings_are_per_thread() -> None:
    seen: dict[str, dict[str, int]] = {}

    def worker(name: str) -> None:
        with recording() as rec:
            for _ in range(50):
                with phase(name):
                    pass
        seen[name] = dict(rec.counts)

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"a": {"a": 50}, "b": {"b": 50}}
