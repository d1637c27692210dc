"""GetSavings stops computing when its call ends (the client's deadline passed, or it went away): it kept
reading and computing every project for nobody, holding a worker thread and the database, while the
client's retry started the same work again beside it. A call sharing the computation (`savings_kept`'s
flight) still gets its answer when the caller whose thread computes gives up."""

from __future__ import annotations

import threading
import time
from typing import Any

import grpc
import pytest
import sqlalchemy as sa

from benchmarks.savings import fill
from protos.trimtab.v1 import admin_pb2
from server.domain import Workspace
from server.services import savings_kept
from server.services.savings import savings_from_history
from server.store import Store
from tests.server.conftest import StartHarness
from tests.timeline.test_savings_kept_reads import FIGURES, figure_reads

PROJECTS = 150  # ~1 s of computing on one core: many times the short deadline below
SHORT_S = 0.3


def _filled(store: Store) -> Store:
    store.workspaces.add(Workspace(name="ws", host="https://ws.example", cloud="aws", plan="premium",
                                   region="us-east-1"), token_encrypted="x")
    fill(store, PROJECTS, 40)
    return store


def _in_flight(store: Store, callers: int = 1) -> bool:
    """A flight is under way with this many callers on it."""
    with savings_kept._LOCK:
        return any(len(f.stops) >= callers for f in savings_kept._FLIGHTS.get(store, []))


def _abandoned(store: Store) -> bool:
    """Every flight under way is one whose callers all gave up (the server saw the call end)."""
    with savings_kept._LOCK:
        flights = savings_kept._FLIGHTS.get(store, [])
        return bool(flights) and all(f.abandoned() for f in flights)


def _wait(condition: Any, within_s: float = 60.0) -> None:
    """Until ``condition()`` holds: the server's worker thread ends after the client's call did."""
    ends = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < ends, "still waiting"
        time.sleep(0.01)


def test_a_call_past_its_deadline_stops_computing(start_harness: StartHarness) -> None:
    h = start_harness()
    _filled(h.store)
    # The runs' read is held until the call is over and its flight abandoned: on a quiet machine the
    # whole computation could otherwise end inside the short deadline, and nothing would be shown.
    released = threading.Event()

    def hold(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if FIGURES in statement:
            released.wait(60)

    sa.event.listen(h.store.engine, "before_cursor_execute", hold)
    try:
        with pytest.raises(grpc.RpcError) as caught:
            h.projects.GetSavings(admin_pb2.GetSavingsRequest(), metadata=h.admin, timeout=SHORT_S)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        _wait(lambda: _abandoned(h.store))
    finally:
        released.set()
        sa.event.remove(h.store.engine, "before_cursor_execute", hold)
    _wait(lambda: not _in_flight(h.store))
    made = len(savings_kept._KEPT.get(h.store, {}))
    assert made < PROJECTS, f"all {made} projects computed after the client gave up"


def test_a_caller_sharing_the_flight_gets_its_answer_when_the_first_gives_up(start_harness: StartHarness) -> None:
    h = start_harness()
    _filled(h.store)
    answers: list[Any] = []
    with figure_reads(h.store) as reads:
        first = h.projects.GetSavings.future(admin_pb2.GetSavingsRequest(), metadata=h.admin, timeout=120)
        _wait(lambda: _in_flight(h.store))
        second = threading.Thread(target=lambda: answers.append(h.projects.GetSavings(
            admin_pb2.GetSavingsRequest(), metadata=h.admin, timeout=120)))
        second.start()
        # The first caller gives up once the second waits on its flight (cancelled: on a deadline of its
        # own, a loaded machine could end it before the second arrived, and the second would read anew).
        _wait(lambda: _in_flight(h.store, callers=2))
        assert first.cancel(), "the first call ended before it was cancelled"
        second.join()
    assert first.cancelled()
    assert len(answers) == 1 and len(answers[0].projects) == len(savings_from_history(h.store).projects)
    # The flight went on for the second caller: the runs were read once, not again after a stop.
    assert len(reads) == 1, f"{len(reads)} reads of every run's figures"
