"""`server.databricks.call_stop`: the waits between a Databricks call's tries keep the injected clock
(a FakeClock still advances at once) and end with `CallStopped` once the thread's stop is set."""

from __future__ import annotations

import threading

import pytest

from server.clock import FakeClock
from server.databricks.call_stop import CallStop, CallStopped, calls_end_on, current_stop, stoppable_sleep


def test_a_wait_outside_any_stop_is_the_clocks_sleep() -> None:
    clock = FakeClock()
    start = clock.monotonic()
    stoppable_sleep(clock, 30.0)
    assert clock.monotonic() - start == pytest.approx(30.0)


def test_a_wait_under_a_stop_not_set_lasts_its_whole_time_on_the_clock() -> None:
    clock = FakeClock()
    start = clock.monotonic()
    with calls_end_on(threading.Event()):
        stoppable_sleep(clock, 30.0)
    assert clock.monotonic() - start == pytest.approx(30.0)


def test_a_wait_ends_at_once_when_the_stop_is_set_and_the_thread_forgets_the_stop_after() -> None:
    stop = CallStop()

    class StoppingClock(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if self.monotonic() - start >= 1.0:
                stop.set()  # as the server's shutdown does, from another thread, a second in

    clock = StoppingClock()
    start = clock.monotonic()
    with calls_end_on(stop), pytest.raises(CallStopped):
        stoppable_sleep(clock, 30.0)
    assert clock.monotonic() - start < 1.5  # not the 30 s the wait was for
    assert current_stop() is None
