"""The agent tests' recording servicer (tests/agent/conftest.py) sees a predicate hold when no call
comes: what a predicate reads may change outside the servicer."""

from __future__ import annotations

import threading
import time

from tests.agent.conftest import RecordingIngest


def test_wait_for_returns_soon_after_a_predicate_that_no_call_changes_holds() -> None:
    servicer = RecordingIngest()
    done = threading.Event()
    timer = threading.Timer(0.2, done.set)  # as an agent process writing its checkpoint
    timer.start()
    started = time.monotonic()
    try:
        assert servicer.wait_for(done.is_set, 20)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 5  # it waited out its 20 s timeout


def test_wait_for_gives_the_predicates_last_value_at_its_timeout() -> None:
    assert RecordingIngest().wait_for(lambda: [], 0.2) == []
