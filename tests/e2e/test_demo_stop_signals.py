"""A stop signal whose KeyboardInterrupt Python dropped still stops the demo's round.

Python runs a signal handler between any two bytecodes; when they belong to a finalizer (a
`__del__`, a weakref callback) an exception it raises is printed as "Exception ignored" and
dropped. The demo's handler marks the demo as stopping when it raises, so a dropped interrupt left
it playing every round and ignoring every later signal as "still cancelling": under CI load a
closed terminal (SIGHUP) ended with the full summary. The round now raises it again where it waits.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from server.demo import _StopSignals


@pytest.fixture(autouse=True)
def _sigterm_not_ignored() -> Iterator[None]:
    # A signal ignored when the demo starts stays ignored (`nohup`, `&`): the suite itself may run so.
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Finalizer:
    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100_000):  # the handler runs here, between two of these bytecodes
            pass


# pytest reports the dropped exception as this warning (Python prints "Exception ignored in ...").
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_interrupt_raised_inside_a_finalizer_is_raised_again_where_the_round_waits(
        capfd: pytest.CaptureFixture[str]) -> None:
    before = signal.getsignal(signal.SIGTERM)
    with _StopSignals() as stop:
        _Finalizer()  # collected at once: its __del__ runs and drops the handler's interrupt
        assert stop.stopping  # and we are here: the interrupt was dropped
        with pytest.raises(KeyboardInterrupt):
            stop.check()
        stop.check()  # once: the round has it now
        os.kill(os.getpid(), signal.SIGTERM)  # later signals are ignored while the cancel goes on
        stop.check()
        assert "SIGTERM ignored: still cancelling" in capfd.readouterr().err
    assert signal.getsignal(signal.SIGTERM) == before


def test_an_interrupt_the_round_caught_is_not_raised_again() -> None:
    with _StopSignals() as stop:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(100_000):
                pass
        stop.seen()
        stop.check()
