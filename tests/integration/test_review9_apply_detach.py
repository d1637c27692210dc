"""Detach takes Trimtab off the cluster and puts back the sizing it owns, starting from the live spec:
the user's own edits since the import (a newer runtime, Spark conf, an instance profile, an init
script of theirs) stay. Before, detach wrote the spec found at import whole, silently undoing them."""

from __future__ import annotations

import dataclasses
from typing import Any

from sandbox.workspace.seed import aws_cluster
from server.apply import ONBOARDED_KEY, apply_recommendation, restore_original
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Project, Recommendation
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import cluster_entry_update, find_cluster_spec
from server.store import Store
from tests.integration.conftest import WIRING

USER_SCRIPT = {"workspace": {"destination": "/Users/ana@example.com/init.sh"}}


def _import(store: Store, secrets: SecretBox, gateway: DatabricksGateway, spec: dict[str, Any]) -> Project:
    job_id = gateway.create_job({"name": "etl", "job_clusters": [{"job_cluster_key": "main", "new_cluster": spec}],
                                 "tasks": [{"task_key": "main", "job_cluster_key": "main",
                                            "spark_python_task": {"python_file": "dbfs:/jobs/etl.py"}}]})
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    return imported.project


def _live(gateway: DatabricksGateway, project: Project) -> dict[str, Any]:
    spec = find_cluster_spec(gateway.get_job(project.job_id)["settings"], project.cluster_key)
    assert spec is not None
    return spec


def _user_edit(gateway: DatabricksGateway, project: Project) -> dict[str, Any]:
    """The edits of s2 case 4 and an init script of the user's own: all the user's, none Trimtab's."""
    edited = _live(gateway, project)
    edited["spark_version"] = "16.4.x-scala2.12"
    edited["spark_conf"] = {"spark.x": "1"}
    edited["aws_attributes"]["instance_profile_arn"] = "arn:aws:iam::1:instance-profile/new"
    edited["init_scripts"] = [USER_SCRIPT, *edited["init_scripts"]]
    settings = gateway.get_job(project.job_id)["settings"]
    gateway.update_job(project.job_id, cluster_entry_update(settings, project.cluster_key, edited))
    return edited


def _users_own(spec: dict[str, Any]) -> tuple[Any, ...]:
    return (spec["spark_version"], spec.get("spark_conf"), spec["aws_attributes"].get("instance_profile_arn"),
            spec.get("init_scripts"))


def _without_trimtab(spec: dict[str, Any]) -> None:
    assert "spark_env_vars" not in spec and "trimtab:project-id" not in spec["custom_tags"]
    assert "trimtab:recommendation-id" not in spec["custom_tags"]
    assert WIRING.init_script not in (spec.get("init_scripts") or [])


def test_detach_keeps_the_users_edits_since_the_import(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    original = aws_cluster("m5d.xlarge", 4)
    project = _import(store, secrets, gateway, original)
    _user_edit(gateway, project)
    dry = restore_original(store, gateway, int(project.id or 0), dry_run=True)
    assert '-  "spark_version"' not in dry.diff and '"TRIMTAB_SERVER"' in dry.diff

    assert restore_original(store, gateway, int(project.id or 0)).applied
    live = _live(gateway, project)
    assert _users_own(live) == ("16.4.x-scala2.12", {"spark.x": "1"}, "arn:aws:iam::1:instance-profile/new",
                                [USER_SCRIPT])
    _without_trimtab(live)
    assert live["custom_tags"] == {"team": "data-eng"} and live["cluster_log_conf"] == original["cluster_log_conf"]
    stored = store.projects.get(int(project.id or 0))
    assert stored.detached and stored.current_spec == live


def test_detach_puts_back_the_sizing_trimtab_applied(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    original = aws_cluster("m5d.xlarge", autoscale=(2, 8))
    project = _import(store, secrets, gateway, original)
    store.recommendations.add(Recommendation(project_id=int(project.id or 0), reason="test", config=ClusterConfig(
        node_type_id="r5d.xlarge", driver_node_type_id="m5d.xlarge", num_workers=3, availability="ON_DEMAND",
        first_on_demand=1)))
    apply_recommendation(store, gateway, int(project.id or 0))
    _user_edit(gateway, project)  # after the apply: the collector or the next apply would rebase on it
    restore_original(store, gateway, int(project.id or 0))
    live = _live(gateway, project)
    assert (live["node_type_id"], live["autoscale"], "num_workers" in live, "driver_node_type_id" in live) == \
        ("m5d.xlarge", {"min_workers": 2, "max_workers": 8}, False, False)
    assert live["aws_attributes"] == {**original["aws_attributes"],
                                      "instance_profile_arn": "arn:aws:iam::1:instance-profile/new"}
    assert _users_own(live)[:2] == ("16.4.x-scala2.12", {"spark.x": "1"})
    _without_trimtab(live)


def test_detach_takes_off_the_log_delivery_the_import_added(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    original = {k: v for k, v in aws_cluster("m5d.xlarge", 4).items() if k != "cluster_log_conf"}
    project = _import(store, secrets, gateway, original)
    assert "cluster_log_conf" in _live(gateway, project)
    restore_original(store, gateway, int(project.id or 0))
    assert _live(gateway, project) == original


def test_a_log_delivery_the_user_changed_since_stays(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    original = {k: v for k, v in aws_cluster("m5d.xlarge", 4).items() if k != "cluster_log_conf"}
    project = _import(store, secrets, gateway, original)
    edited = {**_live(gateway, project), "cluster_log_conf": {"dbfs": {"destination": "dbfs:/team-logs"}}}
    gateway.update_job(project.job_id, cluster_entry_update(gateway.get_job(project.job_id)["settings"], "main",
                                                            edited))
    restore_original(store, gateway, int(project.id or 0))
    assert _live(gateway, project)["cluster_log_conf"] == {"dbfs": {"destination": "dbfs:/team-logs"}}


def test_a_project_imported_before_the_record_still_loses_trimtabs_script(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    original = aws_cluster("m5d.xlarge", 4)
    project = _import(store, secrets, gateway, original)
    stored = store.projects.get(int(project.id or 0))
    state = {k: v for k, v in stored.state.items() if k != ONBOARDED_KEY}
    store.projects.update(dataclasses.replace(stored, state=state))  # as an older server left it
    restore_original(store, gateway, int(project.id or 0))
    assert _live(gateway, project) == original


# Diff 9 review: detach put back the sizing and node types of the first import whenever any apply had
# been recorded, without checking the live cluster still held what Trimtab wrote: a resize the user
# made after Trimtab's apply, or before a re-attach, was undone. Each field Trimtab owns goes back
# only where it still holds Trimtab's last write, to what it was before Trimtab's first write.


def _resize(gateway: DatabricksGateway, project: Project, **fields: Any) -> None:
    edited = {**_live(gateway, project), **fields}
    settings = gateway.get_job(project.job_id)["settings"]
    gateway.update_job(project.job_id, cluster_entry_update(settings, project.cluster_key, edited))


def _apply(store: Store, gateway: DatabricksGateway, project: Project, node_type: str, workers: int) -> None:
    store.recommendations.add(Recommendation(project_id=int(project.id or 0), reason="test", config=ClusterConfig(
        node_type_id=node_type, driver_node_type_id="m5d.xlarge", num_workers=workers, availability="ON_DEMAND",
        first_on_demand=1)))
    assert apply_recommendation(store, gateway, int(project.id or 0)).applied


def test_detach_keeps_a_resize_made_after_trimtabs_apply(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    original = aws_cluster("m5d.xlarge", 4)
    project = _import(store, secrets, gateway, original)
    _apply(store, gateway, project, "r5d.xlarge", 3)
    _resize(gateway, project, num_workers=12)  # the user's, after Trimtab's apply
    # Trimtab finds the edit (an import does, as the collector and the next apply would): rebased on it.
    workspaces.import_jobs(store, secrets, "sbx", [project.job_id], wiring=WIRING)
    rebased = store.projects.get(int(project.id or 0))
    assert rebased.state["user_edit_paths"] == ["num_workers"] and rebased.pending_apply is None
    restore_original(store, gateway, int(project.id or 0))
    live = _live(gateway, project)
    # The resize stays; the node types and availability Trimtab wrote, untouched by the user, go back.
    assert (live["num_workers"], live["node_type_id"], "driver_node_type_id" in live) == (12, "m5d.xlarge", False)
    assert live["aws_attributes"] == original["aws_attributes"]
    _without_trimtab(live)


def test_detach_after_a_rebase_on_another_edit_still_puts_back_trimtabs_sizing(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    original = aws_cluster("m5d.xlarge", 4)
    project = _import(store, secrets, gateway, original)
    _apply(store, gateway, project, "r5d.xlarge", 3)
    _user_edit(gateway, project)  # not the sizing
    workspaces.import_jobs(store, secrets, "sbx", [project.job_id], wiring=WIRING)
    assert store.projects.get(int(project.id or 0)).pending_apply is None  # rebased
    restore_original(store, gateway, int(project.id or 0))
    live = _live(gateway, project)
    assert (live["num_workers"], live["node_type_id"], "driver_node_type_id" in live) == (4, "m5d.xlarge", False)
    assert _users_own(live)[0] == "16.4.x-scala2.12"


def test_detach_after_a_reattach_keeps_the_users_resize(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    project = _import(store, secrets, gateway, aws_cluster("m5d.xlarge", 4))
    pid = int(project.id or 0)
    _apply(store, gateway, project, "m5d.xlarge", 3)
    restore_original(store, gateway, pid)
    assert _live(gateway, project)["num_workers"] == 4
    _resize(gateway, project, num_workers=10, node_type_id="r5d.xlarge")  # the user's, Trimtab not there
    workspaces.import_jobs(store, secrets, "sbx", [project.job_id], wiring=WIRING, reattach=True)
    assert store.projects.get(pid).pending_apply["reattached"]  # type: ignore[index]
    restore_original(store, gateway, pid)  # Trimtab wrote no sizing since the re-attach
    live = _live(gateway, project)
    assert (live["num_workers"], live["node_type_id"]) == (10, "r5d.xlarge")
    _without_trimtab(live)


def test_detach_after_a_reattach_and_an_apply_puts_back_the_sizing_found_at_the_reattach(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    project = _import(store, secrets, gateway, aws_cluster("m5d.xlarge", 4))
    pid = int(project.id or 0)
    restore_original(store, gateway, pid)
    _resize(gateway, project, num_workers=10, node_type_id="r5d.xlarge")
    workspaces.import_jobs(store, secrets, "sbx", [project.job_id], wiring=WIRING, reattach=True)
    stored = store.projects.get(pid)
    # A run used the re-attached spec, so an apply may follow (the record is confirmed).
    _apply(store, gateway, stored, "m5d.xlarge", 3)
    restore_original(store, gateway, pid)
    live = _live(gateway, project)
    assert (live["num_workers"], live["node_type_id"]) == (10, "r5d.xlarge")  # not the first import's 4 x m5d
