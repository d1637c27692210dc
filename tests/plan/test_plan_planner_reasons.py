"""What a stored recommendation's reason says, on a real store: a change point names the run the
way `trimtab run list` shows it (its id and start), not its position in the history; a fixed size
that replaces autoscaling says so; a re-plan after the settings changed follows them."""

from __future__ import annotations

import dataclasses

from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Project, ProjectSettings, Run, Workspace
from server.plan.planner import Planner, plan_project
from server.services.projects import update_settings
from server.services.recommendations import get_recommendation
from server.services.savings import stored_changes
from server.spec import config_from_spec
from server.timeline import ChangePoint

SPEC = {
    "spark_version": "15.4.x-scala2.12",
    "node_type_id": "m5.2xlarge",
    "num_workers": 12,
    "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1},
}
DAY_MS = 86_400_000
START_MS = 1_796_444_220_000  # 2026-12-05 04:17 UTC


def _run(store, project: Project, n: int, config: ClusterConfig, gb: float) -> Run:
    runtime = 600.0 * gb / 100.0
    return store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=1000 + n,
                              start_ms=START_MS + n * DAY_MS, end_ms=START_MS + n * DAY_MS + int(runtime * 1000),
                              runtime_s=runtime, outcome="succeeded", config=config,
                              input_bytes=int(gb * 1e9)))


def _optimizing(store, job_id: int) -> tuple[Project, ClusterConfig]:
    """A project optimizing after four runs of 100 GB on its cluster as found."""
    project = store.projects.add(Project(workspace="ws", job_id=job_id, cluster_key="main", current_spec=SPEC,
                                         original_spec=SPEC, settings=ProjectSettings(sla_seconds=4000.0,
                                                                                      spot_allowed=False)))
    config = config_from_spec(SPEC)
    for n in range(4):
        _run(store, project, n, config, 100.0)
    return store.projects.update(dataclasses.replace(store.projects.get(int(project.id or 0)),
                                                     phase="optimizing")), config


def test_a_change_point_names_the_run_by_its_id_and_start(store) -> None:
    project, config = _optimizing(store, 1)
    shifted = _run(store, project, 4, config, 300.0)
    rec = plan_project(store, int(project.id or 0), load_catalog())
    assert rec is not None
    assert rec.reason.startswith(f"input size shifted 3.00x at run {shifted.id} of 2026-12-09 04:17 UTC: "
                                 "learning again. "), rec.reason
    # Kept as data on the recommendation (timelines and savings read it there), and on the next ones
    # of the segment too, whose reasons no longer name it.
    assert (rec.change_run_id, rec.change_kind) == (shifted.id, "input_shift")
    for n in range(5, 9):
        _run(store, project, n, config, 300.0)
        later = plan_project(store, int(project.id or 0), load_catalog())
        assert later is not None and (later.change_run_id, later.change_kind) == (shifted.id, "input_shift")
    assert "shifted" not in later.reason, later.reason
    assert stored_changes(store, project) == [ChangePoint(int(shifted.id or 0), "input_shift")]


def test_a_one_off_input_night_withdraws_the_change_point_it_made(store) -> None:
    # Review rev14d F1: a backfill night (3x the input) was a change point while it was the latest
    # run; the next night, back to the usual size, shows it was a one-off, so the change point is
    # withdrawn from the recommendations that kept it (savings and timelines cut there) and no new
    # one starts at the night after.
    project, config = _optimizing(store, 3)
    backfill = _run(store, project, 4, config, 300.0)
    rec = plan_project(store, int(project.id or 0), load_catalog())
    assert rec is not None and (rec.change_run_id, rec.change_kind) == (backfill.id, "input_shift")
    _run(store, project, 5, config, 100.0)
    after = plan_project(store, int(project.id or 0), load_catalog())
    assert after is not None and (after.change_run_id, after.change_kind) == (None, None)
    assert "shifted" not in after.reason, after.reason
    assert stored_changes(store, project) == []
    kept = store.recommendations.get(int(rec.id or 0))
    # Its words stay; the kind says it was withdrawn (a server start's refill must not read them back).
    assert (kept.change_run_id, kept.change_kind) == (None, "withdrawn") and kept.reason == rec.reason


def test_no_change_point_stores_none(store) -> None:
    project = store.projects.add(Project(workspace="ws", job_id=2, cluster_key="main", current_spec=SPEC,
                                         original_spec=SPEC, settings=ProjectSettings(sla_seconds=4000.0)))
    for n in range(3):
        _run(store, project, n, config_from_spec(SPEC), 100.0)
    rec = plan_project(store, int(project.id or 0), load_catalog())
    assert rec is not None and (rec.change_run_id, rec.change_kind) == (None, None)
    assert stored_changes(store, project) == []


AUTOSCALE = {**{k: v for k, v in SPEC.items() if k != "num_workers"}, "autoscale": {"min_workers": 4, "max_workers": 16}}


def _autoscaling_project(store, keep: bool) -> Project:
    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", current_spec=AUTOSCALE,
                                         original_spec=AUTOSCALE, settings=ProjectSettings(
                                             sla_seconds=4000.0, spot_allowed=False, keep_autoscaling=keep)))
    _run(store, project, 0, config_from_spec(AUTOSCALE), 100.0)
    return project


def test_a_fixed_size_recommendation_for_an_autoscaling_cluster_says_autoscaling_goes_and_how_to_keep_it(
        store) -> None:
    project = _autoscaling_project(store, keep=False)
    rec = plan_project(store, int(project.id or 0), load_catalog())
    assert rec is not None and rec.config.autoscale_max == 0
    workers = rec.config.num_workers
    assert (f"autoscaling (4-16 workers today) becomes a fixed {workers} worker{'s' if workers != 1 else ''}, "
            f"as the project does not keep autoscaling (`trimtab project set {project.name} --keep-autoscaling on` "
            "keeps it)") in rec.reason


def test_an_autoscaling_recommendation_says_nothing_of_autoscaling(store) -> None:
    project = _autoscaling_project(store, keep=True)
    rec = plan_project(store, int(project.id or 0), load_catalog())
    assert rec is not None and rec.config.autoscale_max > 0
    assert "autoscaling" not in rec.reason


def _no_gateway(workspace: Workspace) -> DatabricksGateway:
    raise AssertionError("a cluster without a policy or pool asks the workspace nothing")


def test_replanning_after_the_sla_changed_gives_a_recommendation_under_the_new_sla(store) -> None:
    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", current_spec=SPEC,
                                         original_spec=SPEC, settings=ProjectSettings(sla_seconds=4000.0,
                                                                                      spot_allowed=False)))
    pid = int(project.id or 0)
    planner = Planner(store, load_catalog(), _no_gateway)
    assert planner.replan(pid) is None  # no run yet: nothing is planned before the first one
    for n in range(3):
        _run(store, project, n, config_from_spec(SPEC), 100.0)
    old = plan_project(store, pid, load_catalog())
    assert old is not None and "4000s SLA" in old.reason
    update_settings(store, str(pid), {"sla_seconds": 900.0})
    new = planner.replan(pid)
    assert new is not None and "900s SLA" in new.reason and "4000s" not in new.reason
    assert get_recommendation(store, str(pid)).id == new.id
    assert store.recommendations.get(int(old.id or 0)).state == "superseded"


def test_a_failed_replan_is_kept_as_the_projects_plan_problem_and_not_raised(store) -> None:
    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", current_spec=SPEC,
                                         original_spec=SPEC, settings=ProjectSettings(sla_seconds=4000.0)))
    pid = int(project.id or 0)
    newest = _run(store, project, 0, config_from_spec(SPEC), 100.0)
    assert plan_project(store, pid, load_catalog()) is not None
    # The cluster names a policy, which cannot be read now: planning without it is refused.
    store.projects.update(dataclasses.replace(store.projects.get(pid), current_spec={**SPEC, "policy_id": "p1"}))

    def unreachable(workspace: Workspace) -> DatabricksGateway:
        raise ConnectionError("workspace unreachable")

    update_settings(store, str(pid), {"sla_seconds": 900.0})
    assert Planner(store, load_catalog(), unreachable).replan(pid) is None
    problem = store.projects.get(pid).problem
    assert problem is not None and problem.step == "plan" and problem.run_id == newest.id
    assert "workspace unreachable" in problem.message


def test_a_replan_that_cannot_take_the_lock_does_not_raise(store, monkeypatch) -> None:
    # Review: the lock is taken outside the planning's try; another server holding the project
    # too long made UpdateProjectSettings answer UNAVAILABLE though the settings were saved.
    import server.apply as apply_module
    from server.errors import Unavailable

    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", current_spec=SPEC,
                                         original_spec=SPEC, settings=ProjectSettings(sla_seconds=4000.0)))
    pid = int(project.id or 0)
    _run(store, project, 0, config_from_spec(SPEC), 100.0)
    assert plan_project(store, pid, load_catalog()) is not None

    def held(project_id: int, store=None):
        raise Unavailable(f"project {project_id} is locked by another Trimtab server")

    monkeypatch.setattr(apply_module, "project_lock", held)
    assert Planner(store, load_catalog(), lambda ws: None).replan(pid) is None


def test_a_reason_names_clusters_as_a_person_reads_them(store) -> None:
    # Reasons named candidates by their key ("c5d.xlargexas3-5-spot") and gave bare amounts.
    from server.plan.candidates import config_id_of
    from server.spec import config_label as label_of

    project = store.projects.add(Project(workspace="ws", job_id=1, cluster_key="main", current_spec=SPEC,
                                         original_spec=SPEC, settings=ProjectSettings(sla_seconds=4000.0)))
    for n in range(3):
        _run(store, project, n, config_from_spec(SPEC), 100.0)
    rec = plan_project(store, int(project.id or 0), load_catalog())
    assert rec is not None
    assert label_of(rec.config) in rec.reason and config_id_of(rec.config) not in rec.reason, rec.reason
    assert "$" in rec.reason
    assert label_of(ClusterConfig(node_type_id="c5d.xlarge", autoscale_min=3, autoscale_max=5,
                                  availability="SPOT_WITH_FALLBACK", first_on_demand=3)) == \
        "c5d.xlarge x autoscale 3-5 workers, spot (first 2 workers on demand)"
    assert label_of(ClusterConfig(node_type_id="m5.xlarge", num_workers=1)) == "m5.xlarge x 1 worker"
    assert label_of(ClusterConfig(node_type_id="m5.xlarge", availability="SPOT")) == "m5.xlarge, single node"
    assert label_of(ClusterConfig(node_type_id="m5.xlarge", num_workers=2, availability="SPOT", first_on_demand=9)) \
        == "m5.xlarge x 2 workers, spot requested but every node on demand (first_on_demand)"
    assert label_of(ClusterConfig(node_type_id="m5.xlarge", num_workers=2, availability="SPOT",
                                  first_on_demand=0)) == "m5.xlarge x 2 workers, spot (the driver too)"
