"""A reverted or rejected driver-only change stays turned down (review: coherence).

`config_id_of` names the workers' configuration, not the driver: for a driver-only change the
turned-down id was the very cluster the job went back to, so nothing was remembered, and the driver
sizer proposed the same driver again at the next plan (auto-apply wrote it after one run: rec 43
rejected a c6i.xlarge driver, rec 68 applied it). The driver is now remembered for those workers,
and the workers' configuration, which the job keeps, is not banned."""

from __future__ import annotations

import dataclasses
from typing import Any

from sandbox.workspace.seed import aws_cluster
from server.apply import REJECTED_KEY, apply_recommendation, reject, revert
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import DriverPeaks, IngestEvent, Project, Recommendation
from server.plan.candidates import config_id_of, driver_of
from server.plan.driver import TURNED_DOWN_DRIVERS_KEY
from server.plan.planner import plan_project
from server.services.secrets import SecretBox
from server.spec import config_from_spec, find_cluster_spec
from server.store import Store
from tests.integration.conftest import import_etl_job
from tests.plan.stored_runs import store_run

GIB = 1024**3


def _run_with_a_small_driver_heap(store: Store, project: Project, n: int) -> None:
    """Run ``n`` on the project's cluster, its driver's heap peaking at half a GiB (its heartbeats)."""
    store_run(store, store.projects.get(int(project.id or 0)), n, [IngestEvent(
        application_id=f"ctx-{n}", key=f"driver/{n}/100", kind="DriverPeaks",
        body=DriverPeaks(f"ctx-{n}", {"JVMHeapMemory": GIB // 2, "TotalGCTime": 100}), payload=b"d")])


def _job_with_a_driver_only_change(store: Store, secrets: SecretBox,
                                   gateway: DatabricksGateway) -> tuple[Project, Recommendation, str]:
    """An imported job two of whose runs left the driver's heap small, and the recommendation that
    changes its driver alone (`_driver_only`)."""
    project = import_etl_job(store, secrets, gateway, aws_cluster("m5d.2xlarge", 4, availability="ON_DEMAND"))
    for n in (1, 2):
        _run_with_a_small_driver_heap(store, project, n)
    rec, driver = _driver_only(store, project)
    return project, rec, driver


def _driver_only(store: Store, project: Project) -> tuple[Recommendation, str]:
    """The smaller driver the sizer wants, as a recommendation that changes nothing else (rec 43)."""
    planned = plan_project(store, int(project.id or 0), load_catalog())
    assert planned is not None
    current = config_from_spec(store.projects.get(int(project.id or 0)).current_spec)
    wanted = driver_of(planned.config)
    assert wanted != driver_of(current), planned.reason
    rec = store.recommendations.add(Recommendation(
        project_id=int(project.id or 0), config=dataclasses.replace(current, driver_node_type_id=wanted),
        reason="driver only"))
    return rec, wanted


def _live(gateway: DatabricksGateway, project: Project) -> dict[str, Any]:
    spec = find_cluster_spec(gateway.get_job(project.job_id)["settings"], project.cluster_key)
    assert spec is not None
    return spec


def _check_turned_down(store: Store, project: Project, driver: str, n: int) -> None:
    pid = int(project.id or 0)
    after = store.projects.get(pid)
    kept = config_from_spec(after.current_spec)
    assert config_id_of(kept) not in (after.state.get(REJECTED_KEY) or [])  # the job's own workers stay
    assert {"workers": config_id_of(kept), "driver": driver} in after.state[TURNED_DOWN_DRIVERS_KEY]
    _run_with_a_small_driver_heap(store, after, n)  # the next run on the cluster gone back to, then its plan
    again = plan_project(store, pid, load_catalog())
    assert again is not None
    assert driver_of(again.config) != driver, again.reason
    assert f"{driver} was turned down as its driver" in again.reason, again.reason


def test_a_reverted_driver_only_change_is_not_recommended_again(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    project, rec, driver = _job_with_a_driver_only_change(store, secrets, gateway)
    apply_recommendation(store, gateway, int(project.id or 0))
    assert _live(gateway, project)["driver_node_type_id"] == driver
    revert(store, gateway, int(project.id or 0))
    assert _live(gateway, project).get("driver_node_type_id", "m5d.2xlarge") == "m5d.2xlarge"
    assert store.recommendations.get(int(rec.id or 0)).state == "reverted"
    _check_turned_down(store, project, driver, 3)


def test_a_rejected_driver_only_change_is_not_recommended_again(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    project, rec, driver = _job_with_a_driver_only_change(store, secrets, gateway)
    reject(store, int(project.id or 0))
    assert store.recommendations.get(int(rec.id or 0)).state == "rejected"
    _check_turned_down(store, project, driver, 3)


def test_applying_the_driver_by_hand_lifts_the_refusal(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    project, rec, driver = _job_with_a_driver_only_change(store, secrets, gateway)
    reject(store, int(project.id or 0))
    store.recommendations.add(dataclasses.replace(rec, id=None, state="pending"))
    apply_recommendation(store, gateway, int(project.id or 0))
    assert not store.projects.get(int(project.id or 0)).state.get(TURNED_DOWN_DRIVERS_KEY)
