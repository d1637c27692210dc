"""The apply path's review 13 (recommendation -> Jobs API), on the emulator through the real
databricks-sdk gateway and a real store (SQLite and PostgreSQL).

Revert after a hand edit: before, any edit of the cluster since the apply (one Spark conf key) made
revert refuse and rebase, which dropped the apply's record, so the revert could never follow. Now an
edit of fields Trimtab does not own is kept and the owned ones go back; an edit of an owned field is
refused with what to do, and the record survives.

An import of many jobs: one job Databricks refused to update (400: its cluster policy fixes a field
onboarding sets) stopped the whole import. Now it is skipped with Databricks' message and the
others are imported.

A 403 on one job (the token lacks CAN_MANAGE on it, works everywhere else) read as a refused token:
the workspace was marked "error" and the apply restored a spec it never wrote. Now it is that job's
error, naming the permission, and the workspace stays ok (the emulator keeps per-job CAN_MANAGE).

Import's read-back compared the whole spec, so a service filling in defaults on read
(runtime_engine, enable_local_disk_encryption) failed the import after it wrote the job, leaving a
project half-recorded. Now only the paths written are judged, the spec read back is recorded, and a
read-back that does fail writes the clusters back and records nothing.

Custom tags: apply never checked Databricks' 45 limit (an owner's tags added after the import plus
Trimtab's two made 46) and the emulator took any number. Now the emulator refuses beyond 45 with a
400 and apply refuses before writing, naming the count.

The dashboard's recommendation diff lacked the trimtab:recommendation-id tag apply writes: both now
build the spec with `server.apply.proposed_spec`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.seed import aws_cluster
from server.apply import TagsFull, apply_recommendation, revert
from server.dashboard.views import project_page
from server.databricks import DatabricksGateway, DatabricksRejected, WorkspaceAuthError
from server.databricks.gateway import DatabricksPermissionDenied
from server.domain import ClusterConfig, Project, Recommendation
from server.errors import FailedPrecondition
from server.onboard import RECOMMENDATION_TAG
from server.services import recommendations, workspaces
from server.services.secrets import SecretBox
from server.spec import cluster_entry_update, find_cluster_spec
from server.store import Store
from tests.integration.conftest import WIRING, admin_post
from tests.integration.test_apply_review import NormalisingGateway
from tests.integration.test_review9_apply_revert import _edit, _live


def _job(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "job_clusters": [{"job_cluster_key": "main", "new_cluster": spec}],
            "tasks": [{"task_key": "main", "job_cluster_key": "main",
                       "spark_python_task": {"python_file": "dbfs:/jobs/etl.py"}}]}


def _import(store: Store, secrets: SecretBox, gateway: DatabricksGateway, spec: dict[str, Any]) -> Project:
    job_id = gateway.create_job(_job("etl", spec))
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    return imported.project


def _recommend(store: Store, project: Project, **fields: Any) -> Recommendation:
    config = ClusterConfig(**{"node_type_id": "r5.2xlarge", "driver_node_type_id": "m5.xlarge", "num_workers": 6,
                              "availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1, **fields})
    return store.recommendations.add(Recommendation(project_id=int(project.id or 0), config=config, reason="test"))


# ------------------------------------------------------------------ F1 revert after a hand edit


def test_revert_after_an_unrelated_edit_keeps_it_and_puts_the_sizing_back(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    project = _import(store, secrets, gateway, aws_cluster("m5.xlarge", 2))
    pid = int(project.id or 0)
    before = _live(gateway, project)
    rec = _recommend(store, project)
    apply_recommendation(store, gateway, pid)
    edited = _live(gateway, project)
    edited.setdefault("spark_conf", {})["spark.sql.adaptive.enabled"] = "true"
    _edit(gateway, project, edited)

    assert not revert(store, gateway, pid, dry_run=True).applied
    result = revert(store, gateway, pid)

    assert result.applied
    live = _live(gateway, project)
    assert live["spark_conf"]["spark.sql.adaptive.enabled"] == "true"  # the user's edit stays
    assert (live["node_type_id"], live["num_workers"]) == ("m5.xlarge", 2)
    assert "driver_node_type_id" not in live and RECOMMENDATION_TAG not in live["custom_tags"]
    assert {k: v for k, v in live.items() if k != "spark_conf"} == {k: v for k, v in before.items() if k != "spark_conf"}
    assert rec.id is not None and store.recommendations.get(rec.id).state == "reverted"
    stored = store.projects.get(pid)
    assert stored.current_spec == live and (stored.pending_apply or {}).get("reverted") is True


def test_revert_refused_over_an_edited_owned_field_keeps_the_record_and_says_what_to_do(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    project = _import(store, secrets, gateway, aws_cluster("m5.xlarge", 2))
    pid = int(project.id or 0)
    _recommend(store, project)
    apply_recommendation(store, gateway, pid)
    applied = _live(gateway, project)
    _edit(gateway, project, {**applied, "num_workers": 9})  # the owner resized by hand
    record = store.projects.get(pid).pending_apply

    for _ in range(2):  # refused the same way each time: nothing is lost by the first refusal
        with pytest.raises(FailedPrecondition) as refused:
            revert(store, gateway, pid)
        message = str(refused.value)
        assert "num_workers" in message and "edited outside Trimtab" in message
        assert "num_workers 6" in message and "num_workers 2" in message  # what Trimtab wrote, what was before
        assert "run the revert again" in message and "superseded" not in message
        assert store.projects.get(pid).pending_apply == record
        assert _live(gateway, project)["num_workers"] == 9

    _edit(gateway, project, applied)  # put back as Trimtab wrote it, as the message says
    assert revert(store, gateway, pid).applied
    assert (_live(gateway, project)["node_type_id"], _live(gateway, project)["num_workers"]) == ("m5.xlarge", 2)


# ------------------------------------------------------------------ F2 one job refused in an import of many


def _governed_spec(emulator: RunningWorkspace) -> dict[str, Any]:
    """A cluster under a policy that fixes the log destination: Databricks refuses the onboarding's."""
    policy = admin_post(emulator, "policies/clusters/create", {"name": "gov", "definition": json.dumps(
        {"cluster_log_conf.dbfs.destination": {"type": "fixed", "value": "dbfs:/governed-logs"}})})["policy_id"]
    spec = aws_cluster("m5.xlarge", 2)
    spec.pop("cluster_log_conf")
    spec["policy_id"] = policy
    return spec


def test_an_import_of_every_job_skips_the_one_databricks_refuses_and_imports_the_others(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: object) -> None:
    governed = gateway.create_job(_job("governed", _governed_spec(emulator)))
    plain = [gateway.create_job(_job(f"plain-{n}", aws_cluster("m5.xlarge", n))) for n in (2, 3)]
    untouched = find_cluster_spec(gateway.get_job(governed)["settings"], "main")

    result = workspaces.import_jobs(store, secrets, "sbx", [], wiring=WIRING)

    assert {p.project.job_id for p in result.projects} >= set(plain)
    (refused,) = [s for s in result.skipped if s.job_id == governed]
    assert refused.job_name == "governed" and "dbfs:/governed-logs" in refused.reason
    assert "Databricks refused" in refused.reason and not refused.not_found
    assert governed not in {p.job_id for p in store.projects.list()}
    assert {p.job_id for p in store.projects.list()} == {p.project.job_id for p in result.projects}
    assert find_cluster_spec(gateway.get_job(governed)["settings"], "main") == untouched


def test_the_cli_reports_the_refused_job_and_imports_the_others(
        trimtab: Callable[..., tuple[int, str, str]], cli_workspace: str, emulator: RunningWorkspace,
        gateway: DatabricksGateway, store: Store) -> None:
    governed = gateway.create_job(_job("governed", _governed_spec(emulator)))
    plain = gateway.create_job(_job("plain", aws_cluster("m5.xlarge", 2)))

    code, out, err = trimtab("workspace", "import", "sbx")

    # Exit 0 as for any job skipped for what it is (only a --job not in the workspace fails it).
    assert code == 0, err
    assert f"skipped         job {governed} (governed): Databricks refused" in out
    assert "dbfs:/governed-logs" in out
    assert "created" in out and f"sbx/{plain}/main" in out
    assert [p.job_id for p in store.projects.list()] == [plain]


# ------------------------------------------------------------------ F3 a 403 on one job is that job's


def _confirm(store: Store, project_id: int) -> None:
    """The apply confirmed, as the collector does at its first run (the next apply may follow)."""
    stored = store.projects.get(project_id)
    store.projects.update(dataclasses.replace(stored, pending_apply={**(stored.pending_apply or {}), "confirmed": True}))


class _CountingUpdates:
    """The real gateway, counting jobs/update calls (a refused apply must not send a restore)."""

    def __init__(self, inner: DatabricksGateway) -> None:
        self._inner = inner
        self.updates = 0

    def update_job(self, job_id: int, new_settings: dict[str, Any]) -> None:
        self.updates += 1
        self._inner.update_job(job_id, new_settings)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_job_the_token_may_not_manage_fails_its_apply_revert_and_detach_alone(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: object) -> None:
    project = _import(store, secrets, gateway, aws_cluster("m5.xlarge", 2))
    other = _import(store, secrets, gateway, aws_cluster("m5.xlarge", 3))
    pid = int(project.id or 0)
    rec = _recommend(store, project)
    apply_recommendation(store, gateway, pid)
    _confirm(store, pid)
    _recommend(store, project, num_workers=4)
    _recommend(store, other)
    applied = _live(gateway, project)
    emulator.set_job_manage(project.job_id, False)

    for call in (recommendations.apply_recommendation, recommendations.revert_recommendation,
                 recommendations.detach_project):
        with pytest.raises(DatabricksPermissionDenied) as refused:
            call(store, secrets, project.name)
        assert refused.value.code == "PERMISSION_DENIED"
        assert f"needs CAN_MANAGE on job {project.job_id}" in str(refused.value)
        assert "Manage permissions" in str(refused.value)  # Databricks' own words follow
        assert store.workspaces.get("sbx").status == "ok"  # the token is fine: not "refused"
    assert _live(gateway, project) == applied
    stored = store.projects.get(pid)
    assert not stored.detached and (stored.pending_apply or {}).get("recommendation_id") == rec.id

    counting = _CountingUpdates(gateway)
    with pytest.raises(DatabricksPermissionDenied):
        apply_recommendation(store, counting, pid)  # type: ignore[arg-type]
    assert counting.updates == 1  # nothing was written, so no restore was sent
    # The workspace's other jobs are still applied to.
    assert recommendations.apply_recommendation(store, secrets, other.name).applied


def test_a_revoked_token_still_marks_the_workspace(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: object) -> None:
    project = _import(store, secrets, gateway, aws_cluster("m5.xlarge", 2))
    _recommend(store, project)
    emulator.revoke_token(emulator.token)
    with pytest.raises(WorkspaceAuthError):
        recommendations.apply_recommendation(store, secrets, project.name)
    assert store.workspaces.get("sbx").status == "error"


def test_an_import_skips_the_job_the_token_may_not_manage(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: object) -> None:
    locked = gateway.create_job(_job("locked", aws_cluster("m5.xlarge", 2)))
    plain = gateway.create_job(_job("plain", aws_cluster("m5.xlarge", 2)))
    emulator.set_job_manage(locked, False)
    result = workspaces.import_jobs(store, secrets, "sbx", [locked, plain], wiring=WIRING)
    assert [p.project.job_id for p in result.projects] == [plain]
    (skipped,) = result.skipped
    assert skipped.job_id == locked and "needs CAN_MANAGE" in skipped.reason
    assert store.workspaces.get("sbx").status == "ok"


def test_the_cli_says_which_job_needs_can_manage_and_the_workspace_stays_ok(
        trimtab: Callable[..., tuple[int, str, str]], cli_workspace: str, emulator: RunningWorkspace,
        gateway: DatabricksGateway, store: Store) -> None:
    job_id = gateway.create_job(_job("locked", aws_cluster("m5.xlarge", 2)))
    code, _, err = trimtab("workspace", "import", "sbx", "--job", str(job_id))
    assert code == 0, err
    (project,) = store.projects.list()
    _recommend(store, project)
    emulator.set_job_manage(job_id, False)

    code, _, err = trimtab("recommendation", "apply", project.name)

    assert code == 1
    assert f"needs CAN_MANAGE on job {job_id}" in err and "refused the token" not in err
    code, out, _ = trimtab("workspace", "list")
    assert code == 0 and " ok " in out and "error" not in out


# ------------------------------------------------------------------ F4 import's read-back


def _normalising(monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], override: dict[str, Any]) -> None:
    """The services' gateways answer jobs/get as a service that fills in (``extra``) or changes
    (``override``) fields on its side once a spec is written (`NormalisingGateway`)."""
    real = workspaces._integration.gateway_factory
    seen = {"written": False}

    class Service(NormalisingGateway):
        # One service for every gateway the services build: once written, every read fills in.
        @property  # type: ignore[override]
        def written(self) -> bool:
            return seen["written"]

        @written.setter
        def written(self, value: bool) -> None:
            seen["written"] = seen["written"] or value

    monkeypatch.setattr(workspaces._integration, "gateway_factory",
                        lambda cfg, clock: Service(real(cfg, clock), extra, override))


def test_an_import_on_a_service_that_fills_in_defaults_is_recorded_as_the_job_holds_it(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object,
        monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = gateway.create_job(_job("etl", aws_cluster("m5.xlarge", 2)))
    _normalising(monkeypatch, {"runtime_engine": "STANDARD", "enable_local_disk_encryption": False}, {})

    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects

    project = store.projects.get(int(imported.project.id or 0))
    assert project.current_spec["runtime_engine"] == "STANDARD"  # as read back, not as sent
    assert project.current_spec["enable_local_disk_encryption"] is False
    # Imported again: the defaults are no user's edit (no rebase, no auto-apply hold).
    workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING)
    assert "user_edit_paths" not in store.projects.get(int(project.id or 0)).state
    _recommend(store, project)
    assert recommendations.apply_recommendation(store, secrets, project.name).applied


def test_an_onboarding_that_does_not_read_back_is_undone_and_the_job_skipped(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object,
        monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = gateway.create_job(_job("etl", aws_cluster("m5.xlarge", 2)))
    as_found = find_cluster_spec(gateway.get_job(job_id)["settings"], "main")
    # A written path read back otherwise: the service did not take the wiring.
    _normalising(monkeypatch, {}, {"spark_env_vars": {"TRIMTAB_SERVER": "elsewhere:1"}})

    result = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING)

    assert not result.projects
    (skipped,) = result.skipped
    assert "spark_env_vars.TRIMTAB_SERVER differ" in skipped.reason
    assert find_cluster_spec(gateway.get_job(job_id)["settings"], "main") == as_found  # written back
    assert job_id not in {p.job_id for p in store.projects.list()}  # nothing half-recorded


# ------------------------------------------------------------------ F5 the 45 custom_tags limit


def test_the_emulator_refuses_more_than_45_custom_tags_as_databricks_does(
        gateway: DatabricksGateway, connected: object) -> None:
    spec = aws_cluster("m5.xlarge", 2)
    spec["custom_tags"] = {f"t{i}": "x" for i in range(46)}
    with pytest.raises(DatabricksRejected, match="46 custom tags; Databricks allows at most 45"):
        gateway.create_job(_job("tagged", spec))
    spec["custom_tags"] = {f"t{i}": "x" for i in range(45)}
    job_id = gateway.create_job(_job("tagged", spec))
    settings = gateway.get_job(job_id)["settings"]
    live = find_cluster_spec(settings, "main")
    assert live is not None
    live["custom_tags"]["one-more"] = "x"
    with pytest.raises(DatabricksRejected, match="INVALID_PARAMETER_VALUE|custom_tags"):
        gateway.update_job(job_id, cluster_entry_update(settings, "main", live))


def test_an_apply_that_would_pass_45_custom_tags_is_refused_saying_so(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    spec = aws_cluster("m5.xlarge", 2)
    spec["custom_tags"] = {f"t{i}": "x" for i in range(40)}
    project = _import(store, secrets, gateway, spec)
    pid = int(project.id or 0)
    # The owner adds 4 tags after the import: 44 of theirs + the project tag = 45, still valid; the
    # recommendation tag would make 46.
    edited = _live(gateway, project)
    edited["custom_tags"].update({f"u{i}": "y" for i in range(4)})
    _edit(gateway, project, edited)
    _recommend(store, project)
    with pytest.raises(FailedPrecondition, match="edited outside Trimtab"):
        apply_recommendation(store, gateway, pid)  # the edit is adopted first
    rec = _recommend(store, project)

    for dry_run in (True, False):
        with pytest.raises(TagsFull) as refused:
            apply_recommendation(store, gateway, pid, dry_run=dry_run)
        assert refused.value.code == "FAILED_PRECONDITION"
        assert "44 custom_tags" in str(refused.value) and "at most 43" in str(refused.value)
    assert _live(gateway, project) == edited
    assert rec.id is not None and store.recommendations.get(rec.id).state == "pending"


# ------------------------------------------------------------------ F6 the dashboard's diff


def test_the_dashboards_diff_is_the_one_apply_writes_tag_included(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    project = _import(store, secrets, gateway, aws_cluster("m5.xlarge", 2))
    pid = int(project.id or 0)
    rec = _recommend(store, project, node_type_id="m5.xlarge", num_workers=4)

    shown = project_page(store, pid).diff

    assert f'"{RECOMMENDATION_TAG}": "{rec.id}"' in shown
    assert shown == apply_recommendation(store, gateway, pid, dry_run=True).diff
    assert shown == apply_recommendation(store, gateway, pid).diff
