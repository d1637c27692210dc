"""A run priced again gets the peak workers its cluster's events show only when it has none (pure)."""

from __future__ import annotations

from server.collect.reprice import with_peak
from server.domain import Run

BEFORE_0024 = Run(project_id=1, databricks_run_id=7, cluster_id="c", runtime_s=300.0, outcome="succeeded")


def test_a_run_without_a_peak_gets_the_one_its_events_show() -> None:
    assert with_peak(BEFORE_0024, 5).peak_workers == 5


def test_a_stored_peak_stays_and_no_events_change_nothing() -> None:
    known = with_peak(BEFORE_0024, 5)
    assert with_peak(known, 8) is known  # its collection's (or its repair's) count
    assert with_peak(BEFORE_0024, None) is BEFORE_0024  # the events are gone: still unknown
