"""Concurrent `trimtab savings` (GetSavings over real gRPC, PostgreSQL) read the runs once: the others wait
for the first, holding no connection, and find its figures kept. 20 concurrent calls each read every run
(12-62 s apiece at 327,000 runs) and ran the 8+8 pool dry: "UNAVAILABLE: database connections all in
use", and "did not answer within 60s" though PostgreSQL was answering."""

from __future__ import annotations

import threading
from typing import Any

from protos.trimtab.v1 import admin_pb2
from server.services.savings import savings_from_history
from tests.server.conftest import StartHarness
from tests.timeline.test_savings_kept_reads import _filled, figure_reads


def test_concurrent_calls_read_the_runs_once(start_harness: StartHarness, migrated_postgres_url: str) -> None:
    h = start_harness(migrated_postgres_url)
    _filled(h.store)
    answers: list[Any] = []
    go = threading.Barrier(8)

    def call() -> None:
        go.wait()
        answers.append(h.projects.GetSavings(admin_pb2.GetSavingsRequest(), metadata=h.admin, timeout=120))

    with figure_reads(h.store) as reads:
        callers = [threading.Thread(target=call) for _ in range(8)]
        for t in callers:
            t.start()
        for t in callers:
            t.join()
    assert len(answers) == 8 and all(a == answers[0] for a in answers)
    assert len(answers[0].projects) == len(savings_from_history(h.store).projects)
    assert len(reads) == 1, f"{len(reads)} reads of every run's figures for 8 concurrent calls"
