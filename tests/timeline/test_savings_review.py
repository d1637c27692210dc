"""Savings a reviewer found misleading (docs/savings.md), on a real store (SQLite and PostgreSQL):
a revert to the cluster as found, a change of the workspace's plan, and figures resting on few runs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from server.costing.catalog import load_catalog
from server.costing.reconcile import BilledAmounts, with_bill
from server.domain import CostBreakdown, Workspace
from server.services.savings import ProjectSavings, project_savings
from server.store import Store
from tests.timeline.runs import run
from tests.timeline.test_savings_store import Job, _estimate

CATALOG = load_catalog()


def _priced(dbus: float, plan: str, compute: float) -> CostBreakdown:
    """A catalog estimate of a jobs-SKU run on AWS: its DBUs at `plan`'s $/DBU, plus compute."""
    dbu_cost = dbus * CATALOG.dbu_rate("aws", plan, "jobs")
    return CostBreakdown(dbu_cost=dbu_cost, compute_cost=compute, total=dbu_cost + compute, dbus=dbus)


def _workspace(store: Store, plan: str) -> None:
    """The job's workspace ("ws", the name Job's project lives in) on `plan`, or moved to it."""
    try:
        store.workspaces.get("ws")
    except Exception:  # noqa: BLE001 - first call: not there yet
        store.workspaces.add(Workspace(name="ws", host="https://ws.example", cloud="aws", plan=plan,
                                       region="us-east-1"), token_encrypted="x")
        return
    store.workspaces.set_pricing("ws", cloud="aws", plan=plan, region="us-east-1")


# ---------------------------------------------------------------- 1. a revert to the cluster as found


def test_after_a_revert_to_the_cluster_as_found_the_cost_now_is_the_originals(any_store: Store) -> None:
    # Review: after `recommendation revert` the job ran as found, yet savings showed 10 % and a yearly
    # projection from the last 3 Trimtab runs, "no succeeded run within the SLA yet" for a project with
    # no SLA and nothing applied.
    job = Job(any_store, sla_seconds=None)
    for _ in range(3):
        job.run(_estimate(1.00))
    rec = job.recommendation()
    job.applied(rec)
    for _ in range(3):
        job.run(_estimate(0.90), rec=rec)
    job.applied(None)  # trimtab recommendation revert: back to the cluster as found
    s = job.savings()
    assert s.current_source == "original" and s.current_recommendation_id is None
    assert s.current_cost_per_run == pytest.approx(s.baseline_cost_per_run)
    assert s.saving_fraction == pytest.approx(0.0) and s.projected_annual == pytest.approx(0.0)
    assert s.saved_to_date == pytest.approx(0.30)  # what the Trimtab runs saved stays theirs
    assert not s.has_sla
    # The runs after the revert are the cluster as found: baseline runs, the cost now too.
    job.run(_estimate(1.10))
    s = job.savings()
    assert s.current_source == "original" and s.baseline_runs == 4 == s.current_runs
    assert s.current_cost_per_run == pytest.approx(s.baseline_cost_per_run) == pytest.approx(4.10 / 4)
    assert s.projected_annual == pytest.approx(0.0)


def test_after_a_detach_the_cost_now_is_the_originals(any_store: Store) -> None:
    # `project detach` puts the cluster back as found too (and clears pending_apply): the savings read
    # the last Trimtab run's recommendation as applied and projected a saving the job no longer makes.
    job = Job(any_store, sla_seconds=None)
    for _ in range(3):
        job.run(_estimate(1.00))
    rec = job.recommendation()
    job.applied(rec)
    for _ in range(3):
        job.run(_estimate(0.60), rec=rec)
    project = any_store.projects.get(job.pid)
    any_store.projects.update(dataclasses.replace(project, detached=True, pending_apply=None))
    s = job.savings()
    assert s.current_source == "original" and s.current_recommendation_id is None
    assert s.projected_annual == pytest.approx(0.0)
    assert s.saved_to_date == pytest.approx(1.20)
    # Re-attached by `workspace import --job`: still on the cluster as found until an apply (the import
    # records it as a revert; before, the recommendation from before the detach read as applied).
    project = any_store.projects.get(job.pid)
    any_store.projects.update(dataclasses.replace(project, detached=False, pending_apply={
        "recommendation_id": None, "applied_spec": {}, "confirmed": True, "reverted": True, "reattached": True}))
    s = job.savings()
    assert s.current_source == "original" and s.projected_annual == pytest.approx(0.0)


def test_a_revert_to_an_earlier_recommendation_is_that_recommendations_cost(any_store: Store) -> None:
    job = Job(any_store, sla_seconds=None)
    job.run(_estimate(1.00))
    first, second = job.recommendation(), job.recommendation()
    job.applied(first)
    job.run(_estimate(0.70), rec=first)
    job.applied(second)
    job.run(_estimate(0.90), rec=second)
    job.applied(first)  # a revert of `second` writes `first` back (its previous_recommendation_id)
    s = job.savings()
    assert (s.current_source, s.current_recommendation_id) == ("applied", first)
    assert s.current_cost_per_run == pytest.approx(0.70)


def test_the_cli_notes_fit_a_project_without_an_sla_and_a_revert() -> None:
    from protos.trimtab.v1 import admin_pb2
    from server.cli.savings import now_from, project_notes

    recent = admin_pb2.ProjectSavings(project_name="p", current_source="recent", current_runs=3)
    assert project_notes(recent, has_sla=False) == [
        "the recommendation applied now has no succeeded run yet: now/run is the last 3 succeeded Trimtab runs, "
        "learning trials included"]
    assert "no succeeded run within the SLA yet" in project_notes(recent, has_sla=True)[0]
    assert "within the SLA, when the project has one" in project_notes(recent, has_sla=None)[0]
    reverted = admin_pb2.ProjectSavings(project_name="p", current_source="original", current_runs=4)
    assert now_from(reverted) == "as found (4)"
    assert project_notes(reverted) == ["reverted to the cluster as found: now/run is the cost before Trimtab, so "
                                       "no saving now; saved to date keeps what Trimtab's runs saved"]


# ---------------------------------------------------------------- 2. one price list on both sides


def test_a_move_to_a_dearer_plan_moves_both_sides_alike(any_store: Store) -> None:
    # Review: after `workspace set sb --plan enterprise` new runs were priced at $0.20/DBU and the
    # baseline stayed at premium's $0.15: the saving fell with no change by Trimtab.
    job = Job(any_store, sla_seconds=None)
    _workspace(any_store, "premium")
    for _ in range(3):
        job.run(_priced(10, "premium", 1.0))  # 1.50 + 1.00
    rec = job.recommendation()
    job.applied(rec)
    job.run(_priced(6, "premium", 0.6), rec=rec)  # 0.90 + 0.60
    before = job.savings()
    assert before.saving_fraction == pytest.approx(1 - 1.5 / 2.5) and before.repriced_runs == 0
    _workspace(any_store, "enterprise")
    for _ in range(2):
        job.run(_priced(6, "enterprise", 0.6), rec=rec)  # 1.20 + 0.60
    after = job.savings()
    # Both sides at enterprise's $0.20: 3.00 before, 1.80 now. Stored prices would say 2.50 vs 1.70 (32 %).
    assert after.baseline_cost_per_run == pytest.approx(3.00)
    assert after.current_cost_per_run == pytest.approx(1.80)
    assert after.saving_fraction == pytest.approx(before.saving_fraction)
    assert after.repriced_runs == 4  # the three baseline runs and the first Trimtab run, priced at premium
    assert after.saved_to_date == pytest.approx(3 * (3.00 - 1.80))


def test_repriced_runs_and_the_plan_are_in_the_reply_and_under_the_table(any_store: Store) -> None:
    # Review rev15a F4: savings re-priced the DBUs of runs collected before `workspace set --plan`
    # while `run list` kept their stored costs, and nothing in the reply or the table said so.
    from server.api import messages
    from server.cli.context import message_dict
    from server.cli.savings import project_notes
    from server.services.savings import get_savings

    job = Job(any_store, sla_seconds=None)
    _workspace(any_store, "premium")
    for _ in range(3):
        job.run(_priced(10, "premium", 1.0))
    rec = job.recommendation()
    job.applied(rec)
    job.run(_priced(6, "premium", 0.6), rec=rec)
    [same] = messages.savings(get_savings(any_store, str(job.pid))).projects
    assert (same.repriced_runs, same.dbu_plan) == (0, "premium")
    assert not any("another plan" in n for n in project_notes(same))
    _workspace(any_store, "enterprise")
    [moved] = messages.savings(get_savings(any_store, str(job.pid))).projects
    assert (moved.repriced_runs, moved.dbu_plan) == (4, "enterprise")
    assert message_dict(moved)["repriced_runs"] == 4
    assert ("4 run(s) priced under another plan when collected are compared here with their DBUs at the "
            "workspace's plan now (enterprise), so both sides use one price list; `run list` and the timeline "
            "show their stored costs") in project_notes(moved)
    # The stored costs stay as they were: what `run list` shows.
    assert any_store.runs.history(job.pid)[0].cost == _priced(10, "premium", 1.0)


def test_billed_runs_keep_their_bill_and_have_their_dbus_repriced(any_store: Store) -> None:
    job = Job(any_store, sla_seconds=None)
    _workspace(any_store, "enterprise")

    def billed(dbus: float, plan: str, cloud_bill: float) -> CostBreakdown:
        return with_bill(_priced(dbus, plan, cloud_bill * 0.9),
                         BilledAmounts(compute=cloud_bill, storage=0.0, other=0.0, currency="USD"))

    job.run(billed(10, "premium", 1.0))
    rec = job.recommendation()
    job.applied(rec)
    job.run(billed(6, "enterprise", 0.5), rec=rec)
    s = job.savings()
    assert s.cost_basis == "billed"
    assert s.baseline_cost_per_run == pytest.approx(10 * 0.20 + 1.0)
    assert s.current_cost_per_run == pytest.approx(6 * 0.20 + 0.5)


def test_without_a_workspace_or_a_dbu_count_the_stored_costs_are_compared() -> None:
    base = dataclasses.replace(run(1, 900, None), cost=CostBreakdown(dbu_cost=1.0, total=2.0))  # no DBU count
    trial = dataclasses.replace(run(2, 900, None, rec=1), cost=CostBreakdown(dbu_cost=0.6, total=1.2, dbus=4))
    from server.domain import Project

    project = Project(workspace="ws", job_id=1, cluster_key="main", id=1)
    s = project_savings(project, [base, trial], lambda sku: 0.5)
    assert s is not None
    assert s.baseline_cost_per_run == pytest.approx(2.0)  # kept: nothing to re-price it from
    assert s.current_cost_per_run == pytest.approx(1.2 - 0.6 + 4 * 0.5)
    plain = project_savings(project, [base, trial])
    assert plain is not None and plain.current_cost_per_run == pytest.approx(1.2)


# ---------------------------------------------------------------- 3. preliminary figures


def _savings(baseline: int, trimtab: int) -> ProjectSavings:
    from server.domain import Project

    runs = [run(i, 900, 1.0) for i in range(baseline)]
    runs += [run(baseline + i, 900, 0.35, rec=1) for i in range(trimtab)]
    s = project_savings(Project(workspace="ws", job_id=1, cluster_key="main", id=1), runs)
    assert s is not None
    return s


@pytest.mark.parametrize(("baseline", "trimtab", "preliminary"),
                         [(1, 1, True), (3, 2, True), (2, 3, True), (3, 3, False), (5, 4, False)])
def test_a_saving_on_fewer_than_three_runs_a_side_is_preliminary(baseline: int, trimtab: int,
                                                                 preliminary: bool) -> None:
    s = _savings(baseline, trimtab)
    assert (s.baseline_runs, s.current_runs, s.preliminary) == (baseline, trimtab, preliminary)


def test_the_cli_shows_the_runs_behind_a_saving() -> None:
    from types import SimpleNamespace

    from protos.trimtab.v1 import admin_pb2
    from server.cli.savings import runs_behind

    # The reply names the runs now; a reply that also names the baseline's shows both sides.
    assert runs_behind(admin_pb2.ProjectSavings(current_runs=1)) == " (1 run now, preliminary)"
    assert runs_behind(admin_pb2.ProjectSavings(current_runs=3)) == ""
    # A server that predates both counts says nothing of either: not "0 runs now, preliminary".
    assert runs_behind(admin_pb2.ProjectSavings(current_cost_per_run=0.25)) == ""
    assert runs_behind(SimpleNamespace(baseline_runs=1, current_runs=1)) == " (1 vs 1 runs, preliminary)"
    assert runs_behind(SimpleNamespace(baseline_runs=4, current_runs=3)) == " (4 vs 3 runs)"
    # The server's verdict wins where it gives one: enough runs, but a baseline extrapolated far.
    extrapolated = admin_pb2.ProjectSavings(baseline_runs=4, current_runs=3, preliminary=True)
    assert runs_behind(extrapolated) == " (4 vs 3 runs, preliminary)"


def test_the_demo_summary_says_how_many_runs_a_saving_rests_on() -> None:
    from types import SimpleNamespace

    from server.cli.demo import _saving

    early = SimpleNamespace(saving_fraction=0.65, baseline_runs=1, current_runs=1, preliminary=True)
    assert _saving(early) == "65% (1 vs 1 runs, preliminary)"
    firm = SimpleNamespace(saving_fraction=0.3, baseline_runs=3, current_runs=4, preliminary=False)
    assert _saving(firm) == "30% (3 vs 4 runs)"
    assert _saving(SimpleNamespace(saving_fraction=None)) == "-"


def test_the_cli_against_a_server_after_a_revert_and_without_an_sla(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from server.domain import ProjectSettings
    from tests.timeline.seed import cli, serving

    with serving(tmp_path) as (running, token, store):
        project = store.projects.find("ws/42/main")
        # No SLA, and a recommendation no run has used yet is the one applied: the fallback, said plainly.
        store.projects.update_settings(int(project.id or 0), ProjectSettings(sla_seconds=None))
        store.projects.update(dataclasses.replace(project, pending_apply={
            "recommendation_id": 5, "applied_after_run_id": 1009, "confirmed": False}))
        code, text = cli(capsys, running, token, "savings")
        assert code == 0, text
        assert ("ws/42/main: the recommendation applied now has no succeeded run yet: now/run is the last 3 "
                "succeeded Trimtab runs") in text
        assert "within the SLA yet" not in text
        code, text = cli(capsys, running, token, "--json", "savings", "ws/42/main")
        assert json.loads(text)["projects"][0]["has_sla"] is False  # said, not left out as unknown
        # `recommendation revert` back to the cluster as found: no saving now, nothing projected.
        project = store.projects.find("ws/42/main")
        store.projects.update(dataclasses.replace(project, pending_apply={
            "recommendation_id": None, "reverted": True, "applied_after_run_id": 1009, "confirmed": False}))
        code, text = cli(capsys, running, token, "savings")
        assert code == 0, text
        row = next(line for line in text.splitlines() if "ws/42/main" in line)
        # Baseline 10.0 and 10.4 (2 runs): before = now = $10.20, saving 0 %, preliminary.
        assert row.count("$10.20") == 2 and "0% (2 vs 2 runs, preliminary)" in row and "as found (2)" in row
        assert "ws/42/main: reverted to the cluster as found: now/run is the cost before Trimtab" in text
        code, text = cli(capsys, running, token, "--json", "savings", "ws/42/main")
        p = json.loads(text)["projects"][0]
        assert p["current_source"] == "original" and p.get("projected_annual", 0.0) == pytest.approx(0.0)


def test_the_cli_says_how_an_unmeasured_baseline_was_reached() -> None:
    from protos.trimtab.v1 import admin_pb2
    from server.cli.savings import project_notes

    note = "before/run at today's 40 GB of input is extrapolated from the cluster as found's runs at 10 GB"
    assert note in project_notes(admin_pb2.ProjectSavings(baseline_note=note, current_source="applied"))
    assert project_notes(admin_pb2.ProjectSavings(current_source="applied")) == []
