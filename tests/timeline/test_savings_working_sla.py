"""Savings while the SLA is out of reach: the plan applied then is made against a working SLA
(`models.decide._working_sla`), so every one of its runs misses the owner's SLA by design. "Now" is
those runs, said so, not the "recent" fallback whose "none within the SLA yet" never ended."""

from __future__ import annotations

import pytest

from server.api import messages
from server.cli.savings import now_from, project_notes
from server.dashboard.pages import _now_from
from server.services.savings import get_savings
from server.store import Store
from tests.timeline.test_savings_store import Job, _estimate


def test_a_working_sla_plans_runs_are_the_cost_now(any_store: Store) -> None:
    job = Job(any_store, sla_seconds=518.0)  # 0.9 x what the fastest cluster does
    for _ in range(3):
        job.run(_estimate(3.00), runtime_s=580)  # the cluster as found: the fastest, dearest
    chase = job.recommendation()
    job.applied(chase)
    for _ in range(3):
        job.run(_estimate(3.10), rec=chase, runtime_s=575)  # the likeliest, chasing the SLA
    working = job.recommendation()
    job.applied(working)
    job.run(_estimate(1.40), rec=working, runtime_s=700, outcome="failed")  # not a run of what it costs
    for _ in range(5):
        job.run(_estimate(1.70), rec=working, runtime_s=650)  # under the 720 s working SLA
    s = job.savings()
    assert (s.current_source, s.current_recommendation_id, s.current_runs) == ("applied_over_sla", working, 5)
    assert s.current_over_sla_runs == 5
    assert s.current_cost_per_run == pytest.approx(1.70)
    assert s.saving_fraction == pytest.approx(1 - 1.70 / 3.00)
    assert now_from(s) == f"rec {working} (5, over SLA)"
    [note] = [n for n in project_notes(s, s.has_sla) if "over the SLA" in n]
    assert "its 5 succeeded run(s)" in note and "yet" not in note
    assert _now_from(s).startswith(f"recommendation {working} (5 runs, every one over the SLA")
    # The gRPC reply carries it, and the CLI reads it from there.
    [sent] = messages.savings(get_savings(any_store, str(job.pid))).projects
    assert (sent.current_source, sent.current_recommendation_id) == ("applied_over_sla", str(working))
    assert now_from(sent) == f"rec {working} (5, over SLA)"


def test_one_run_within_the_sla_makes_it_applied_with_the_misses_counted(any_store: Store) -> None:
    job = Job(any_store, sla_seconds=1000.0)
    job.run(_estimate(1.00), runtime_s=800)
    rec = job.recommendation()
    job.applied(rec)
    job.run(_estimate(0.50), rec=rec, runtime_s=1200)
    job.run(_estimate(0.60), rec=rec, runtime_s=900)
    s = job.savings()
    assert (s.current_source, s.current_runs, s.current_over_sla_runs) == ("applied", 2, 1)
    assert s.current_cost_per_run == pytest.approx(0.55)
