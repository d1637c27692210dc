"""A cluster policy's `dbus_per_hour` cap and a required attribute over real HTTP: the emulator enforces
them on jobs/create, reset and update, and the planner's recommendations stay inside them so auto-apply
goes through; the same plan made with the judge's check off is refused by the workspace. SQLite and
PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

import server.plan.planner as planner_module
import server.plan.policy as policy_module
from sandbox.nodes import get_node_type
from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.databricks.errors import DatabricksRejected
from server.domain import ClusterConfig, Project, Recommendation, Run, Workspace
from server.plan.planner import Planner
from server.services import workspaces
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.spec import config_from_spec, find_cluster_spec
from server.store import Store
from tests.integration.conftest import WIRING, admin_post

START_MS = 1_796_444_220_000  # 2026-12-05 04:17 UTC
# The first seeded job's cluster is m5d.xlarge x 4 (0.69 DBU/h each, driver on the same type): 3.45 DBU/h.
# The cap lets it grow to 5 workers (4.14) and keeps out most of the space a 12-worker bound opens.
DBU_CAP = 4.5
CAPPED = {"dbus_per_hour": {"type": "range", "maxValue": DBU_CAP}}
# The project's bounds start at 5 workers: under the cap only m5d.xlarge x5 and c5d.xlarge x5-6 remain
# (the driver m5d.xlarge), so most of what the learning phase would try is over it.
MIN_WORKERS = 5
# The autoscaling seeded job (m5d.2xlarge, 2-8): a policy that needs autoscale, not a fixed size.
AUTOSCALE_ONLY = {"autoscale.max_workers": {"type": "range", "maxValue": 8}}
AUTOSCALING_JOB = 4  # index in the seeded jobs (sandbox.workspace.seed)


def _create_policy(emulator: RunningWorkspace, name: str, definition: dict[str, Any]) -> str:
    return str(admin_post(emulator, "policies/clusters/create",
                     {"name": name, "definition": json.dumps(definition)})["policy_id"])


def _dbus(spec: dict[str, Any]) -> float:
    """The cluster's DBUs per hour at most, from the emulator's node catalog (Databricks' published rates)."""
    node = get_node_type(spec["node_type_id"])
    driver = get_node_type(spec.get("driver_node_type_id") or spec["node_type_id"])
    workers = (spec.get("autoscale") or {}).get("max_workers", spec.get("num_workers", 0))
    return driver.dbus_per_hour + workers * node.dbus_per_hour


def _put(gateway: DatabricksGateway, job_id: int, key: str, spec: dict[str, Any]) -> None:
    gateway.update_job(job_id, {"job_clusters": [{"job_cluster_key": key, "new_cluster": spec}]})


# ------------------------------------------------------------------ the emulator


def test_the_emulator_enforces_dbus_per_hour_required_attributes_and_defaults(
        emulator: RunningWorkspace, gateway: DatabricksGateway, job_ids: list[int]) -> None:
    capped = _create_policy(emulator, "capped", CAPPED)
    job_id = job_ids[0]
    settings = gateway.get_job(job_id)["settings"]
    spec = {**find_cluster_spec(settings, "main"), "policy_id": capped}  # type: ignore[dict-item]
    _put(gateway, job_id, "main", spec)  # 3.45 DBU/h: inside
    refusals: list[tuple[dict[str, Any], str]] = [
        ({"num_workers": 6}, 'Validation failed for dbus_per_hour, the value must be at most 4.5 (is "4.83")'),
        ({"num_workers": 3, "driver_node_type_id": "m5d.4xlarge"},  # the driver counts: 2.76 + 3 x 0.69
         'Validation failed for dbus_per_hour, the value must be at most 4.5 (is "4.83")'),
        # Autoscaling counts every worker it may add.
        ({"num_workers": None, "autoscale": {"min_workers": 1, "max_workers": 6}},
         'Validation failed for dbus_per_hour, the value must be at most 4.5 (is "4.83")'),
        # Photon burns 2.9 times the DBUs (AWS): 5 x 0.69 x 2.9 = 10.005.
        ({"runtime_engine": "PHOTON"}, 'the value must be at most 4.5 (is "10.005")'),
    ]
    for change, message in refusals:
        bad = {k: v for k, v in {**spec, **change}.items() if v is not None}
        with pytest.raises(DatabricksRejected, match="Cluster validation error") as err:
            _put(gateway, job_id, "main", bad)
        assert message in str(err.value), (change, str(err.value))
    with pytest.raises(DatabricksRejected, match="Validation failed for dbus_per_hour"):
        gateway.create_job({**settings, "job_clusters": [{"job_cluster_key": "main",
                                                           "new_cluster": {**spec, "num_workers": 9}}]})

    # A rule makes its attribute required; a default fills it only when the spec asks for defaults.
    required = _create_policy(emulator, "autoscale-only", {
        "autoscale.max_workers": {"type": "range", "maxValue": 8},
        "autotermination_minutes": {"type": "range", "maxValue": 60, "defaultValue": 30},
        "cluster_type": {"type": "fixed", "value": "job"}})
    fixed_size = {**spec, "policy_id": required, "autotermination_minutes": 20}
    with pytest.raises(DatabricksRejected) as err:
        _put(gateway, job_id, "main", fixed_size)
    assert "Validation failed for autoscale.max_workers, the value must be present" in str(err.value)
    autoscaling = {k: v for k, v in fixed_size.items() if k != "num_workers"} | {
        "autoscale": {"min_workers": 1, "max_workers": 8}}
    _put(gateway, job_id, "main", autoscaling)
    no_autotermination = {k: v for k, v in autoscaling.items() if k != "autotermination_minutes"}
    with pytest.raises(DatabricksRejected, match="Validation failed for autotermination_minutes, the value must "
                                                 "be present"):
        gateway._do("POST", "/api/2.2/jobs/reset", body={"job_id": job_id, "new_settings": {
            **settings, "job_clusters": [{"job_cluster_key": "main", "new_cluster": no_autotermination}]}})
    _put(gateway, job_id, "main", {**no_autotermination, "apply_policy_default_values": True})
    assert find_cluster_spec(gateway.get_job(job_id)["settings"], "main") == \
        {**no_autotermination, "apply_policy_default_values": True}
    # The default is what the cluster gets, so the rule judges it.
    bad_default = _create_policy(emulator, "bad-default", {
        "autotermination_minutes": {"type": "range", "maxValue": 60, "defaultValue": 90}})
    with pytest.raises(DatabricksRejected, match='Validation failed for autotermination_minutes, the value must be '
                                                 'at most 60 \\(is "90"\\)'):
        _put(gateway, job_id, "main", {**no_autotermination, "policy_id": bad_default,
                                       "apply_policy_default_values": True})


# ------------------------------------------------------------------ the planner and auto-apply


@dataclasses.dataclass
class _Imported:
    pid: int
    job_id: int
    key: str
    planner: Planner
    clock: FakeClock
    gateway: DatabricksGateway


def _import_under(store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
                  job_id: int, key: str, definition: dict[str, Any], name: str, **settings: Any) -> _Imported:
    policy_id = _create_policy(emulator, name, definition)
    spec = find_cluster_spec(gateway.get_job(job_id)["settings"], key)
    assert spec is not None
    _put(gateway, job_id, key, {**spec, "policy_id": policy_id})
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    pid = int(imported.project.id or 0)
    update_settings(store, str(pid), {"auto_apply": True, "spot_allowed": True, "max_workers": 12, **settings})
    clock = FakeClock(START_MS)
    planner = Planner(store, load_catalog(), lambda ws: workspaces.gateway_for(store, secrets, ws), clock=clock)
    return _Imported(pid, job_id, key, planner, clock, gateway)


def _run(store: Store, project: Project, n: int) -> Run:
    return store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=n, start_ms=n * 86_400_000,
                              end_ms=n * 86_400_000 + 1_500_000, runtime_s=1500.0, outcome="succeeded",
                              config=config_from_spec(project.current_spec)))


def _plan_runs(store: Store, gateway: DatabricksGateway, it: _Imported, runs: int,
               check: Callable[[ClusterConfig], None]) -> list[Recommendation]:
    """Plan and auto-apply after ``runs`` runs, ``check``-ing each recommendation; the recommendations."""
    recs = []
    for n in range(1, runs + 1):
        rec = it.planner.after_run(_run(store, store.projects.get(it.pid), n))
        got = store.projects.get(it.pid)
        assert got.problem is None, got.problem
        assert rec is not None
        check(rec.config)
        recs.append(rec)
        if rec.state == "applied":  # accepted by the emulator's enforcement
            live = find_cluster_spec(gateway.get_job(it.job_id)["settings"], it.key)
            assert live is not None
            store.projects.update(dataclasses.replace(got, current_spec=live, pending_apply=None))
        it.clock.advance(60)
    return recs


def _refused_without_the_check(store: Store, it: _Imported, runs: int = 6) -> str:
    """Plan after up to ``runs`` runs with the judge's check off until an auto-apply is refused (the
    learning phase tries configurations across the space, most of which the policy refuses); the
    problem the project keeps."""
    for n in range(1, runs + 1):
        it.planner.after_run(_run(store, store.projects.get(it.pid), n))
        got = store.projects.get(it.pid)
        if got.problem is not None:
            assert got.problem.step == "apply", got.problem
            return got.problem.message
        if got.pending_apply is not None:  # applied: its run has come in
            live = find_cluster_spec(it.gateway.get_job(it.job_id)["settings"], it.key)
            store.projects.update(dataclasses.replace(got, current_spec=live or got.current_spec, pending_apply=None))
        it.clock.advance(60)
    raise AssertionError("no plan made without the check was refused")


def test_recommendations_stay_under_the_dbus_per_hour_cap_and_auto_apply_goes_through(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    it = _import_under(store, secrets, emulator, gateway, job_ids[0], "main", CAPPED, "capped", min_workers=MIN_WORKERS)

    def under_the_cap(config: ClusterConfig) -> None:
        workers = config.autoscale_max or config.num_workers
        burn = get_node_type(config.driver_node_type_id or config.node_type_id).dbus_per_hour + \
            workers * get_node_type(config.node_type_id).dbus_per_hour
        assert burn <= DBU_CAP, (config, burn)

    recs = _plan_runs(store, gateway, it, 4, under_the_cap)
    assert any(rec.state == "applied" for rec in recs)
    assert all(rec.reason.endswith(": it caps dbus_per_hour at 4.5") for rec in recs), [r.reason for r in recs]
    live = find_cluster_spec(gateway.get_job(it.job_id)["settings"], "main")
    assert live is not None and _dbus(live) <= DBU_CAP


def test_without_the_dbus_check_the_workspace_refuses_the_plan(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """The same project and policy, the judge given no DBU rates (its dbus check off): the plan leaves the
    cap and the emulator refuses the apply, so the check is what keeps auto-apply working."""
    monkeypatch.setattr(planner_module, "dbu_rates", lambda catalog, pricing: None)
    it = _import_under(store, secrets, emulator, gateway, job_ids[0], "main", CAPPED, "capped", min_workers=MIN_WORKERS)
    message = _refused_without_the_check(store, it)
    assert "Validation failed for dbus_per_hour, the value must be at most 4.5" in message
    live = find_cluster_spec(gateway.get_job(it.job_id)["settings"], "main")
    assert live is not None and _dbus(live) <= DBU_CAP  # the job is left inside the cap


def test_a_required_autoscale_attribute_keeps_the_plan_autoscaling(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    it = _import_under(store, secrets, emulator, gateway, job_ids[AUTOSCALING_JOB], "auto", AUTOSCALE_ONLY,
                       "autoscale-only")

    def autoscaling(config: ClusterConfig) -> None:
        assert config.autoscale_max > 0 and config.num_workers == 0, config

    # keep_autoscaling is off, so the space is fixed-size but for the cluster's own range: the policy
    # leaves only that (nothing to apply), and the reason names the rule.
    recs = _plan_runs(store, gateway, it, 2, autoscaling)
    assert all("allows no other configuration within the project's bounds (requires autoscale.max_workers)"
               in rec.reason for rec in recs), [r.reason for r in recs]
    live = find_cluster_spec(gateway.get_job(it.job_id)["settings"], "auto")
    assert live is not None and live["autoscale"] == {"min_workers": 2, "max_workers": 8}


def test_without_the_required_check_the_workspace_refuses_a_fixed_size_plan(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """The judge's required check off (every rule read as optional): a fixed-size plan, refused."""
    parse = policy_module.parse_rules
    monkeypatch.setattr(policy_module, "parse_rules",
                        lambda definition: {p: dataclasses.replace(r, optional=True)
                                            for p, r in parse(definition).items()})
    it = _import_under(store, secrets, emulator, gateway, job_ids[AUTOSCALING_JOB], "auto", AUTOSCALE_ONLY,
                       "autoscale-only")
    before = find_cluster_spec(gateway.get_job(it.job_id)["settings"], "auto")
    message = _refused_without_the_check(store, it)
    assert "Validation failed for autoscale.max_workers, the value must be present" in message
    assert find_cluster_spec(gateway.get_job(it.job_id)["settings"], "auto") == before
