"""A job cluster whose key the job's owner renamed (`jobs/reset`: ``main`` -> ``etl_main``, or a task
``t1`` -> ``t2``, whose cluster key is ``task:<task_key>``) is the same cluster: it still carries its
project's ``trimtab:project-id`` tag. Before, the collector orphaned the project (the run made after the
rename was in no project), and an import made a new project of the new key, said it "came with Trimtab's
agent wiring and tags of project ...main (a copy of its job)", recorded Trimtab's own applied sizing as
found, and left the old project orphaned with the SLA (multi-workspace review, F1). Now the collector's
next poll and an import both move the project to the new key: its id, settings, runs, as-found spec and
apply record kept. A real copy (another job) is still a clone (test_review9_clone_import.py).

Real parts: the sandbox emulator through the real databricks-sdk, the real collector, the real gRPC server
and CLI, SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable

from sandbox.workspace import RunningWorkspace
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Project, ProjectSettings, Recommendation
from server.onboard import PROJECT_TAG
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.clone_jobs import applied, collector, run_collected
from tests.integration.conftest import WIRING, etl_job, sdk_client

SPEC = {"spark_version": "14.3.x-scala2.12", "node_type_id": "m5.xlarge", "num_workers": 2,
        "aws_attributes": {"availability": "ON_DEMAND"}, "custom_tags": {"team": "data-eng"}}

Cli = Callable[..., tuple[int, str, str]]


def rename(emulator: RunningWorkspace, job_id: int, old: str, new: str) -> None:
    """The owner's `jobs/reset` with the whole job as it is, one key renamed (the tasks follow it)."""
    client = sdk_client(emulator)
    settings = client.jobs.get(job_id).settings.as_dict()
    for entry in settings.get("job_clusters") or []:
        if entry["job_cluster_key"] == old:
            entry["job_cluster_key"] = new
    for task in settings["tasks"]:
        if task.get("job_cluster_key") == old:
            task["job_cluster_key"] = new
        if task["task_key"] == old.removeprefix("task:") and old.startswith("task:"):
            task["task_key"] = new.removeprefix("task:")
    client.api_client.do("POST", "/api/2.1/jobs/reset", body={"job_id": job_id, "new_settings": settings})


def job_projects(store: Store, job_id: int) -> list[Project]:
    return [p for p in store.projects.list("sbx") if p.job_id == job_id]


def test_an_import_after_a_key_rename_renames_the_project(
        trimtab: Cli, store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        cli_workspace: str, server_key: bytes) -> None:
    job_id = gateway.create_job(etl_job(copy.deepcopy(SPEC), name="etl-rename"))
    code, _, err = trimtab("workspace", "import", "sbx", "--job", str(job_id))
    assert code == 0, err
    code, _, err = trimtab("project", "set", f"sbx/{job_id}/main", "--sla", "20m", "--auto-apply", "on")
    assert code == 0, err
    (before,) = job_projects(store, job_id)
    rec = applied(store, gateway, before)  # Trimtab's own sizing on the job, m5d.2xlarge x2
    before = store.projects.get(int(before.id or 0))

    rename(emulator, job_id, "main", "etl_main")
    code, out, err = trimtab("workspace", "import", "sbx", "--job", str(job_id))
    assert code == 0, err
    assert f"renamed: sbx/{job_id}/main -> sbx/{job_id}/etl_main" in out, out
    assert "came with" not in out, out

    (after,) = job_projects(store, job_id)  # no second project, no orphan left behind
    assert (after.id, after.cluster_key, after.orphaned, after.detached) == (before.id, "etl_main", False, False)
    assert after.settings.sla_seconds == 1200 and after.settings.auto_apply
    # As found stays the cluster before Trimtab's sizing, not the m5d.2xlarge Trimtab applied.
    assert after.original_spec == before.original_spec and after.original_spec["node_type_id"] == "m5.xlarge"
    assert after.pending_apply == before.pending_apply and after.state == before.state

    # The runs under the new key are the project's, credited to its applied recommendation.
    run = run_collected(emulator, gateway, collector(store, SecretBox(server_key)), after)
    assert run.recommendation_id == rec.id and "user_edit" not in run.anomalies


def test_the_collector_follows_a_renamed_key_on_its_next_poll(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project) -> None:
    """No import: the run made between the rename and the poll is the project's, not lost."""
    rec = applied(store, gateway, daily)
    store.projects.update_settings(int(daily.id or 0), ProjectSettings(sla_seconds=1200, auto_apply=True))
    before = store.projects.get(int(daily.id or 0))
    rename(emulator, daily.job_id, "main", "etl_main")

    gateway.run_now(daily.job_id)
    assert emulator.wait_idle(60)
    runs = collector(store, secrets).poll_once()
    after = store.projects.get(int(daily.id or 0))
    assert (after.cluster_key, after.orphaned) == ("etl_main", False), after.state.get("orphaned_reason")
    assert [(r.project_id, r.recommendation_id) for r in runs] == [(daily.id, rec.id)]
    assert after.settings == before.settings and after.original_spec == before.original_spec
    assert len(job_projects(store, daily.job_id)) == 1

    # A later import finds the project at its new key: nothing to rename, nothing created.
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [daily.job_id], wiring=WIRING).projects
    assert (imported.project.id, imported.created, imported.diff) == (daily.id, False, "")


def test_a_renamed_task_key_is_followed_too(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: object) -> None:
    job_id = gateway.create_job({"name": "task-cluster", "tasks": [
        {"task_key": "t1", "new_cluster": copy.deepcopy(SPEC),
         "spark_python_task": {"python_file": "dbfs:/jobs/etl.py"}}]})
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    project = imported.project
    assert project.cluster_key == "task:t1"

    rename(emulator, job_id, "task:t1", "task:t2")
    gateway.run_now(job_id)
    assert emulator.wait_idle(60)
    runs = collector(store, secrets).poll_once()
    after = store.projects.get(int(project.id or 0))
    assert (after.cluster_key, after.orphaned) == ("task:t2", False), after.state.get("orphaned_reason")
    assert [r.project_id for r in runs] == [project.id]


def test_an_import_of_a_renamed_key_of_an_orphaned_project_renames_it(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project) -> None:
    """Orphaned already (by a server before this fix, or a poll while the key was briefly gone): the
    import names the rename and re-attaches the project at its new key. A dry run says so, changes nothing."""
    rename(emulator, daily.job_id, "main", "etl_main")
    store.projects.update(dataclasses.replace(store.projects.get(int(daily.id or 0)), orphaned=True))

    (dry,) = workspaces.import_jobs(store, secrets, "sbx", [daily.job_id], dry_run=True, wiring=WIRING).projects
    assert dry.diff.startswith(f"renamed: sbx/{daily.job_id}/main -> sbx/{daily.job_id}/etl_main"), dry.diff
    assert "came with" not in dry.diff and not dry.created
    assert store.projects.get(int(daily.id or 0)).cluster_key == "main"

    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [daily.job_id], wiring=WIRING).projects
    assert imported.diff.startswith(f"renamed: sbx/{daily.job_id}/main -> sbx/{daily.job_id}/etl_main")
    after = store.projects.get(int(daily.id or 0))
    assert (imported.project.id, after.cluster_key, after.orphaned) == (daily.id, "etl_main", False)
    assert after.original_spec == daily.original_spec


def test_a_copy_beside_the_cluster_in_the_same_job_is_still_a_clone(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project) -> None:
    """The old key still in the job: the tagged entry is a copy (a second project), not a rename."""
    client = sdk_client(emulator)
    settings = client.jobs.get(daily.job_id).settings.as_dict()
    (main,) = settings["job_clusters"]
    assert main["new_cluster"]["custom_tags"][PROJECT_TAG] == str(daily.id)
    settings["job_clusters"].append({"job_cluster_key": "copy", "new_cluster": copy.deepcopy(main["new_cluster"])})
    settings["tasks"].append({**copy.deepcopy(settings["tasks"][0]), "task_key": "second", "job_cluster_key": "copy"})
    client.api_client.do("POST", "/api/2.1/jobs/reset", body={"job_id": daily.job_id, "new_settings": settings})

    collector(store, secrets).poll_once()
    assert store.projects.get(int(daily.id or 0)).cluster_key == "main"
    done = workspaces.import_jobs(store, secrets, "sbx", [daily.job_id], wiring=WIRING).projects
    (copied,) = [i for i in done if i.created]
    assert copied.project.cluster_key == "copy" and "came with" in copied.diff
    assert store.projects.get(int(daily.id or 0)).cluster_key == "main"


def test_an_apply_that_finds_the_key_renamed_follows_it_and_does_not_orphan(
        trimtab: Cli, store: Store, emulator: RunningWorkspace, gateway: DatabricksGateway,
        cli_workspace: str) -> None:
    """Before the collector's poll: the apply moves the project to the new key, writes nothing, and the
    apply asked again writes the new key's cluster."""
    job_id = gateway.create_job(etl_job(copy.deepcopy(SPEC), name="etl-apply"))
    code, _, err = trimtab("workspace", "import", "sbx", "--job", str(job_id))
    assert code == 0, err
    (project,) = job_projects(store, job_id)
    store.recommendations.add(Recommendation(project_id=int(project.id or 0), reason="bigger", config=ClusterConfig(
        node_type_id="m5d.2xlarge", num_workers=2, availability="ON_DEMAND")))
    rename(emulator, job_id, "main", "etl_main")

    code, _, err = trimtab("recommendation", "apply", str(project.id))
    assert code == 1 and f"the project follows it as sbx/{job_id}/etl_main; nothing was written" in err, err
    after = store.projects.get(int(project.id or 0))
    assert (after.cluster_key, after.orphaned) == ("etl_main", False)
    code, _, err = trimtab("recommendation", "apply", str(project.id))
    assert code == 0, err
    live = find_cluster_spec(gateway.get_job(job_id)["settings"], "etl_main")
    assert live is not None and live["node_type_id"] == "m5d.2xlarge"
