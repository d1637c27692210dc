"""Rebase after a hand edit Trimtab does not own (review 13), on the emulator through the real
databricks-sdk gateway, the real collector and a real store (SQLite and PostgreSQL).

Revert after an edit of a Spark conf key worked (the edit stays, the owned fields go back) only
until the collector's next run: it rebased on the edit, which dropped the apply's record, so revert
said "nothing to revert (no apply recorded)" for good. Now an edit of only fields Trimtab does not own
keeps the record, brought up to the edit (so later runs match it and are not taken for the edit
again), and a pending recommendation stays pending (an apply merges what it owns over the live spec,
so it keeps the edit); one that would write a drifted field back (spark_version) is superseded. An
edit of an owned field (a resize) drops the record as before: the person took over the sizing.
"""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace
from server.apply import apply_recommendation, revert
from server.clock import SystemClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Project, Recommendation, Run, Workspace
from server.errors import FailedPrecondition
from server.onboard import RECOMMENDATION_TAG
from server.plan.planner import edit_hold
from server.services import workspaces
from server.services.projects import update_settings
from server.services.savings import stored_project_savings
from server.services.secrets import SecretBox
from server.spec import cluster_entry_update, find_cluster_spec, spec_drift
from server.store import Store
from tests.integration.conftest import WIRING

CONF = "spark.sql.shuffle.partitions"
CONF_PATH = f"spark_conf.{CONF}"


class _Job:
    """One imported job on the emulator, its runs collected as the server does (no planner: the
    recommendations are the test's own)."""

    def __init__(self, store: Store, secrets: SecretBox, job_id: int, emulator: RunningWorkspace,
                 gateway: DatabricksGateway) -> None:
        (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
        self.project: Project = imported.project
        self.pid = int(self.project.id or 0)
        self._store, self._secrets, self._emulator, self._gateway = store, secrets, emulator, gateway
        self._collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws),
                                    clock=SystemClock(), catalog=load_catalog())

    def live(self) -> dict[str, Any]:
        spec = find_cluster_spec(self._gateway.get_job(self.project.job_id)["settings"], self.project.cluster_key)
        assert spec is not None
        return spec

    def edit(self, **fields: Any) -> dict[str, Any]:
        """The owner edits the cluster in Databricks (``spark_conf`` keys are added to the conf)."""
        edited = self.live()
        conf = fields.pop("spark_conf", None)
        if conf:
            edited["spark_conf"] = {**(edited.get("spark_conf") or {}), **conf}
        edited.update(fields)
        settings = self._gateway.get_job(self.project.job_id)["settings"]
        self._gateway.update_job(self.project.job_id, cluster_entry_update(settings, self.project.cluster_key, edited))
        return edited

    def run(self) -> Run:
        self._gateway.run_now(self.project.job_id)
        assert self._emulator.wait_idle(120)
        (run,) = self._collector.poll_once()
        return run

    def reimport(self) -> None:
        workspaces.import_jobs(self._store, self._secrets, "sbx", [self.project.job_id], wiring=WIRING)

    def hold(self) -> str:
        """Why auto-apply is paused now (turned on for the question)."""
        update_settings(self._store, str(self.pid), {"auto_apply": True})
        return edit_hold(self.stored(), self._store.runs.history(self.pid))

    def stored(self) -> Project:
        return self._store.projects.get(self.pid)

    def recommend(self, **fields: Any) -> Recommendation:
        config = ClusterConfig(**{"node_type_id": "r5.2xlarge", "driver_node_type_id": "m5.xlarge", "num_workers": 6,
                                  "availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1, **fields})
        return self._store.recommendations.add(Recommendation(project_id=self.pid, config=config, reason="test"))


@pytest.fixture
def job(store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int], emulator: RunningWorkspace,
        gateway: DatabricksGateway) -> _Job:
    return _Job(store, secrets, job_ids[0], emulator, gateway)


def _owned(spec: dict[str, Any]) -> tuple[Any, ...]:
    attrs = spec.get("aws_attributes") or {}
    return (spec.get("node_type_id"), spec.get("driver_node_type_id"), spec.get("num_workers"),
            spec.get("autoscale"), attrs.get("availability"), attrs.get("first_on_demand"))


def test_revert_after_the_collector_rebased_on_a_spark_conf_edit(
        store: Store, gateway: DatabricksGateway, job: _Job) -> None:
    before = job.live()
    rec = job.recommend()
    assert apply_recommendation(store, gateway, job.pid).applied
    run = job.run()
    assert run.recommendation_id == rec.id and "user_edit" not in run.anomalies
    assert (job.stored().pending_apply or {}).get("confirmed") is True

    job.edit(spark_conf={CONF: "64"})
    run = job.run()  # the collector finds the edit and rebases on it

    assert "user_edit" in run.anomalies
    stored = job.stored()
    assert stored.state["user_edit_paths"] == [CONF_PATH]  # the auto-apply hold's record, as before
    record = stored.pending_apply or {}
    assert record.get("recommendation_id") == rec.id and record.get("confirmed") is True
    assert record["applied_spec"]["spark_conf"][CONF] == "64"  # brought up to the edit
    assert f"you edited the cluster ({CONF_PATH}) before run {run.id} " in job.hold()  # still paused
    assert not spec_drift(job.live(), record["applied_spec"])
    # The next runs match the spec adopted: the edit is not found again, the record stays.
    for _ in range(2):
        run = job.run()
        assert "user_edit" not in run.anomalies and run.recommendation_id == rec.id
        assert job.stored().pending_apply == record
        assert not spec_drift(job.live(), job.stored().current_spec)

    result = revert(store, gateway, job.pid)

    assert result.applied, result.message
    live = job.live()
    assert live["spark_conf"][CONF] == "64"  # the owner's edit stays
    assert _owned(live) == _owned(before)  # the sizing Trimtab wrote goes back
    assert RECOMMENDATION_TAG not in (live.get("custom_tags") or {})
    assert rec.id is not None and store.recommendations.get(rec.id).state == "reverted"
    run = job.run()  # on the reverted cluster: Trimtab's write, no edit
    assert "user_edit" not in run.anomalies and run.recommendation_id is None
    assert (job.stored().pending_apply or {}).get("confirmed") is True


def test_an_edit_before_the_applys_first_run_is_kept_and_that_run_confirms_it(
        store: Store, gateway: DatabricksGateway, job: _Job) -> None:
    before = job.live()
    rec = job.recommend()
    assert apply_recommendation(store, gateway, job.pid).applied
    job.edit(spark_conf={CONF: "64"})

    run = job.run()  # ran the recommendation's cluster, with the owner's conf

    assert "user_edit" in run.anomalies and run.recommendation_id == rec.id
    record = job.stored().pending_apply or {}
    assert record.get("recommendation_id") == rec.id and record.get("confirmed") is True
    # Confirmed from the spec adopted, not the spec before the edit: not found again at the next run.
    assert not spec_drift(job.live(), job.stored().current_spec)
    assert "user_edit" not in job.run().anomalies
    assert revert(store, gateway, job.pid).applied
    assert job.live()["spark_conf"][CONF] == "64" and _owned(job.live()) == _owned(before)


def test_a_resize_by_hand_still_ends_the_record_and_revert_has_nothing_to_go_back_to(
        store: Store, gateway: DatabricksGateway, job: _Job) -> None:
    job.recommend()
    assert apply_recommendation(store, gateway, job.pid).applied
    job.run()
    waiting = job.recommend(num_workers=4)
    job.edit(num_workers=9, spark_conf={CONF: "64"})

    run = job.run()

    assert "user_edit" in run.anomalies
    stored = job.stored()
    assert stored.pending_apply is None  # the person took over the sizing
    assert stored.state["user_edit_paths"] == ["num_workers", CONF_PATH]
    assert waiting.id is not None and store.recommendations.get(waiting.id).state == "superseded"
    with pytest.raises(FailedPrecondition, match="nothing to revert \\(no apply recorded\\)"):
        revert(store, gateway, job.pid)
    assert job.live()["num_workers"] == 9


def test_a_pending_recommendation_outlives_a_spark_conf_edit_and_its_apply_keeps_the_edit(
        store: Store, gateway: DatabricksGateway, job: _Job) -> None:
    job.recommend()
    assert apply_recommendation(store, gateway, job.pid).applied
    job.run()
    waiting = job.recommend(num_workers=4)
    job.edit(spark_conf={CONF: "64"})

    # The apply finds the edit first: it rebases and stops, as before; the recommendation is kept
    # (an apply merges only what it owns over the live spec, so writing it keeps the edit).
    with pytest.raises(FailedPrecondition, match="edited outside Trimtab") as refused:
        apply_recommendation(store, gateway, job.pid)
    assert "superseded" not in str(refused.value)
    assert waiting.id is not None and store.recommendations.get(waiting.id).state == "pending"
    assert job.stored().state["user_edit_paths"] == [CONF_PATH]

    assert apply_recommendation(store, gateway, job.pid).applied
    live = job.live()
    assert live["spark_conf"][CONF] == "64" and live["num_workers"] == 4
    assert "user_edit" not in job.run().anomalies


def test_a_spark_version_edit_supersedes_the_pending_recommendation_that_would_write_it_back(
        store: Store, gateway: DatabricksGateway, job: _Job) -> None:
    job.recommend()
    assert apply_recommendation(store, gateway, job.pid).applied
    job.run()
    # Planned on the old spec: it carries the job's spark_version then, which its apply writes.
    waiting = job.recommend(num_workers=4, spark_version=job.live()["spark_version"])
    job.edit(spark_version="16.4.x-scala2.12")

    run = job.run()

    assert "user_edit" in run.anomalies
    assert waiting.id is not None and store.recommendations.get(waiting.id).state == "superseded"
    assert (job.stored().pending_apply or {}).get("previous_spec")  # not an owned field: revert still can
    assert revert(store, gateway, job.pid).applied
    assert job.live()["spark_version"] == "16.4.x-scala2.12"


def test_savings_after_a_revert_to_the_cluster_as_found_and_a_conf_edit_read_it_as_found(
        store: Store, gateway: DatabricksGateway, job: _Job) -> None:
    # The kept record changes what savings reads as on the job: a revert to the cluster as found
    # names no recommendation. Dropped, savings took the reverted recommendation's runs for today's.
    assert job.run().recommendation_id is None  # the cluster as found: the baseline
    rec = job.recommend()
    assert apply_recommendation(store, gateway, job.pid).applied
    assert job.run().recommendation_id == rec.id
    assert revert(store, gateway, job.pid).applied
    assert job.run().recommendation_id is None
    job.edit(spark_conf={CONF: "64"})
    assert "user_edit" in job.run().anomalies

    savings = stored_project_savings(store, job.stored())

    assert savings is not None
    assert savings.current_source == "original" and savings.current_recommendation_id is None
    assert savings.user_edited_runs == 1 and savings.trimtab_runs == 1


def test_a_conf_edit_on_trimtabs_cluster_keeps_its_saving(store: Store, gateway: DatabricksGateway, job: _Job) -> None:
    # Only an edit of the cluster Trimtab decides (node types, size, availability) puts the job on the
    # owner's cluster, with no saving now (`savings.on_user_config`); a Spark conf edit leaves it on
    # the recommendation applied.
    assert job.run().recommendation_id is None
    rec = job.recommend()
    assert apply_recommendation(store, gateway, job.pid).applied
    assert job.run().recommendation_id == rec.id
    job.edit(spark_conf={CONF: "64"})
    assert "user_edit" in job.run().anomalies

    savings = stored_project_savings(store, job.stored())

    assert savings is not None and savings.user_edited_runs == 1
    assert savings.current_source != "user_edit" and savings.user_config_since_run_id is None


def test_an_edit_an_import_finds_before_any_run_since_the_apply_drops_the_record_and_holds(
        store: Store, gateway: DatabricksGateway, job: _Job) -> None:
    # No run has shown the edit: a record kept from before it would read as the owner's answer to it
    # (an apply recorded at or after the edit) and end the auto-apply hold, so it goes, as before.
    job.recommend()
    assert apply_recommendation(store, gateway, job.pid).applied
    job.edit(spark_conf={CONF: "64"})

    job.reimport()

    stored = job.stored()
    assert stored.pending_apply is None and stored.state["user_edit_paths"] == [CONF_PATH]
    assert "found by an apply or an import before any run used it" in job.hold()
    assert "user_edit" not in job.run().anomalies  # the run matches the spec adopted
