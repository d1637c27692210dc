"""A rejected or reverted change of the disks alone stays turned down (review diffrev, 2).

`config_id_of` names the workers' configuration, not its EBS volumes: for a recommendation of the
storage advice alone the turned-down id was the very cluster the job keeps, so `_with_rejected`
skipped it, recorded no driver (the same), and the next plan advised the same disks again. The
volumes are now remembered for those workers (`TURNED_DOWN_VOLUMES_KEY`), the advice keeps the live
ones while the job runs on them, and the reason says why. Real parts: the sandbox workspace emulator
over HTTP, the real gateway, import, apply, revert and planner, both store engines."""

from __future__ import annotations

import dataclasses
from typing import Any

from server.apply import REJECTED_KEY, apply_recommendation, reject, revert
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Project, ProjectSettings, Recommendation
from server.plan.candidates import config_id_of, driver_of
from server.plan.driver import TURNED_DOWN_DRIVERS_KEY
from server.plan.planner import plan_project
from server.plan.storage import TURNED_DOWN_VOLUMES_KEY, volume_set
from server.services.secrets import SecretBox
from server.spec import config_from_spec, find_cluster_spec
from server.store import Store
from tests.integration.conftest import import_etl_job
from tests.plan.test_review14_ebs_workers import _run

# Two 500 GB gp2 volumes a node on 4 workers that write 800 GB of shuffle: the advice is one 300 GB
# volume a node (200 GB with 50% headroom), nothing else changing when the workers are kept.
SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "c6i.xlarge", "driver_node_type_id": "c6i.xlarge",
        "num_workers": 4, "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1,
                                             "ebs_volume_type": "GENERAL_PURPOSE_SSD", "ebs_volume_count": 2,
                                             "ebs_volume_size": 500}}
LIVE_VOLUMES = ["GENERAL_PURPOSE_SSD", 2, 500]


def _project(store: Store, secrets: SecretBox, gateway: DatabricksGateway) -> Project:
    """The job imported, its owner keeping the workers (this family and count only), two runs on it."""
    project = import_etl_job(store, secrets, gateway, SPEC)
    store.projects.update_settings(int(project.id or 0), ProjectSettings(
        allowed_families=("c6i",), min_workers=4, max_workers=4, spot_allowed=False))
    for n in (1, 2):
        _run(store, store.projects.get(int(project.id or 0)), n, 800)
    return store.projects.get(int(project.id or 0))


def _disks_only(store: Store, project: Project) -> Recommendation:
    """The plan's recommendation: the job's own workers and driver, new disks (stored, pending)."""
    planned = plan_project(store, int(project.id or 0), load_catalog())
    assert planned is not None
    live = config_from_spec(project.current_spec, cloud="aws")
    assert (config_id_of(planned.config), driver_of(planned.config)) == (config_id_of(live), driver_of(live))
    assert volume_set(planned.config) == ["GENERAL_PURPOSE_SSD", 1, 300], planned.storage_advice
    assert planned.storage_advice
    return planned


def _live(gateway: DatabricksGateway, project: Project) -> dict[str, Any]:
    spec = find_cluster_spec(gateway.get_job(project.job_id)["settings"], project.cluster_key)
    assert spec is not None
    return spec


def _check_turned_down(store: Store, project: Project, n: int) -> None:
    pid = int(project.id or 0)
    after = store.projects.get(pid)
    kept = config_from_spec(after.current_spec, cloud="aws")
    assert volume_set(kept) == LIVE_VOLUMES
    # The job's own workers and driver are not banned: only their volume change is remembered.
    assert config_id_of(kept) not in (after.state.get(REJECTED_KEY) or [])
    assert not after.state.get(TURNED_DOWN_DRIVERS_KEY)
    assert after.state[TURNED_DOWN_VOLUMES_KEY] == [
        {"workers": config_id_of(kept), "volumes": ["GENERAL_PURPOSE_SSD", 1, 300], "from": LIVE_VOLUMES}]
    _run(store, after, n, 800)  # the same disk use again, then its plan
    again = plan_project(store, pid, load_catalog())
    assert again is not None
    assert config_id_of(again.config) == config_id_of(kept)
    assert volume_set(again.config) == LIVE_VOLUMES, again.reason
    assert again.storage_advice == ""
    assert ("the volume change for c6i.xlarge x 4 workers (to 1x GENERAL_PURPOSE_SSD 300 GB) was turned down"
            in again.reason), again.reason


def test_a_rejected_disk_only_change_is_not_recommended_again(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    project = _project(store, secrets, gateway)
    rec = store.recommendations.add(_disks_only(store, project))
    reject(store, int(project.id or 0))
    assert store.recommendations.get(int(rec.id or 0)).state == "rejected"
    _check_turned_down(store, project, 3)


def test_a_reverted_disk_only_change_is_not_recommended_again(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    project = _project(store, secrets, gateway)
    rec = store.recommendations.add(_disks_only(store, project))
    apply_recommendation(store, gateway, int(project.id or 0))
    assert _live(gateway, project)["aws_attributes"]["ebs_volume_size"] == 300
    revert(store, gateway, int(project.id or 0))
    live = _live(gateway, project)["aws_attributes"]
    assert (live["ebs_volume_count"], live["ebs_volume_size"]) == (2, 500)
    assert store.recommendations.get(int(rec.id or 0)).state == "reverted"
    _check_turned_down(store, project, 3)


def test_applying_the_disks_by_hand_lifts_the_refusal(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    project = _project(store, secrets, gateway)
    rec = store.recommendations.add(_disks_only(store, project))
    reject(store, int(project.id or 0))
    assert store.projects.get(int(project.id or 0)).state[TURNED_DOWN_VOLUMES_KEY]
    store.recommendations.add(dataclasses.replace(rec, id=None, state="pending"))
    apply_recommendation(store, gateway, int(project.id or 0))
    assert not store.projects.get(int(project.id or 0)).state.get(TURNED_DOWN_VOLUMES_KEY)


def test_the_disks_are_advised_again_once_the_job_runs_on_other_volumes(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    # The refusal was of a change from the volumes the job had then: the owner's own new disks are
    # no longer what was kept, so the advice sizes them again.
    project = _project(store, secrets, gateway)
    store.recommendations.add(_disks_only(store, project))
    reject(store, int(project.id or 0))
    edited = store.projects.get(int(project.id or 0))
    spec = {**edited.current_spec, "aws_attributes": {**edited.current_spec["aws_attributes"], "ebs_volume_count": 3}}
    store.projects.update(dataclasses.replace(edited, current_spec=spec))
    _run(store, store.projects.get(int(project.id or 0)), 3, 800)
    again = plan_project(store, int(project.id or 0), load_catalog())
    assert again is not None and volume_set(again.config) == ["GENERAL_PURPOSE_SSD", 1, 300], again.reason
    assert "was turned down" not in again.reason


def test_state_from_before_the_key_plans_as_before(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    project = _project(store, secrets, gateway)
    assert TURNED_DOWN_VOLUMES_KEY not in project.state
    _disks_only(store, project)
