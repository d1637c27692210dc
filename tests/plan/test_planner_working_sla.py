"""The working SLA a plan aims at while the owner's SLA is out of reach is stored with its
recommendation (`Recommendation.working_sla_s`) through the real planner, and reaches GetProject's
and GetTimeline's figures (`server.services`). Before, it was said only inside the reason: `project
show` and the timeline showed the 440 s SLA alone beside a cluster chosen for another."""

from __future__ import annotations

import dataclasses
import re

from server.api import messages
from server.costing.catalog import load_catalog
from server.plan.planner import plan_project
from server.services.projects import get_project
from server.services.timeline import get_timeline
from server.store import Store
from tests.plan.test_plan_sla_every_run import _project_with_history


def test_the_working_sla_is_stored_and_reaches_the_project_and_its_timeline(store: Store) -> None:
    catalog = load_catalog()
    # As tests/plan/test_plan_working_sla.py: 440 s is above the typical setup but out of reach.
    project, _ = _project_with_history(store, catalog, 440.0)
    pid = int(project.id or 0)
    rec = plan_project(store, pid, catalog)
    assert rec is not None
    said = re.search(r"aims at a (\d+)s working SLA", rec.reason)
    assert said is not None, rec.reason
    assert said is not None and rec.working_sla_s is not None
    assert abs(rec.working_sla_s - float(said.group(1))) <= 0.5  # the reason rounds to the second
    working = rec.working_sla_s
    assert working > 440.0
    assert store.recommendations.latest(pid).working_sla_s == working  # type: ignore[union-attr]

    shown = get_project(store, str(pid))
    assert shown.working_sla_s == working
    msg = messages.project(shown)
    assert msg.HasField("working_sla_seconds") and msg.working_sla_seconds == working
    assert msg.pending_recommendation.working_sla_seconds == working
    assert msg.pending_recommendation.currency == "USD"
    timeline = messages.timeline(get_timeline(store, str(pid)))
    assert timeline.working_sla_seconds == working and timeline.sla_seconds == 440.0


def test_no_working_sla_when_the_plan_aims_at_the_sla_or_the_sla_is_raised_past_it(store: Store) -> None:
    catalog = load_catalog()
    project, _ = _project_with_history(store, catalog, 440.0)
    pid = int(project.id or 0)
    working = plan_project(store, pid, catalog).working_sla_s  # type: ignore[union-attr]
    assert working is not None
    # Raised past it, not planned again yet: the stored figure is no longer what anything aims at.
    settings = store.projects.get(pid).settings
    store.projects.update_settings(pid, dataclasses.replace(settings, sla_seconds=working + 60.0))
    assert get_project(store, str(pid)).working_sla_s is None
    assert not messages.project(get_project(store, str(pid))).HasField("working_sla_seconds")
    # Off: the plan runs the fastest measured and aims at no working SLA.
    store.projects.update_settings(pid, dataclasses.replace(settings, working_sla=False))
    off = plan_project(store, pid, catalog)
    assert off is not None and off.working_sla_s is None
    assert store.recommendations.latest(pid).working_sla_s is None  # type: ignore[union-attr]
    assert get_project(store, str(pid)).working_sla_s is None
