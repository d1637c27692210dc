"""A backfilled run of a job whose node types come from its cluster policy, its cluster purged since
(clusters/get and clusters/events no longer answer for it): priced on the policy's values the project
keeps, as the collector prices the same run (review 19); unpriced, and said why in its message, when
the kept copy names none. The emulator delivers the run's event log to dbfs:/cluster-logs; the
backfill reads it over real HTTP. SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

from sandbox.workspace import RunningWorkspace
from server.backfill import backfill
from server.collect.run_notes import GONE_NOTE
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Project, Run, Workspace
from server.plan.policy import POLICY_FILLS_KEY
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.test_dbx_policy_fills_collected import NODE_TYPES, _under_policy, run_purged


def _backfilled_purged_run(store: Store, secrets: SecretBox, emulator: RunningWorkspace,
                           gateway: DatabricksGateway, project: Project) -> Run:
    """A run of the project's job, its cluster purged before anything collected it; backfilled."""
    run_id = run_purged(emulator, gateway, project.job_id)
    report = backfill(store, project.name, "dbfs:/cluster-logs", catalog=load_catalog(),
                      gateway_for=lambda w: workspaces.gateway_for(store, secrets, w))
    assert report.runs_created == 1
    run = store.runs.get_by_databricks_run(int(project.id or 0), run_id)
    assert run is not None
    return run


def test_a_backfilled_run_whose_cluster_is_gone_is_priced_on_the_fills_its_project_keeps(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    project = _under_policy(store, secrets, emulator, gateway, job_ids[0], NODE_TYPES,
                            leave_out=("node_type_id", "driver_node_type_id"))
    run = _backfilled_purged_run(store, secrets, emulator, gateway, project)
    assert run.cost is not None and run.cost.total > 0 and GONE_NOTE in run.cost.note
    assert run.config is not None
    assert (run.config.node_type_id, run.config.driver_node_type_id) == ("m5d.xlarge", "r5d.xlarge")


def test_a_backfilled_run_whose_cluster_is_gone_is_stored_unpriced_naming_why(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    project = _under_policy(store, secrets, emulator, gateway, job_ids[0], NODE_TYPES,
                            leave_out=("node_type_id", "driver_node_type_id"))
    old = {k: v for k, v in project.state[POLICY_FILLS_KEY].items() if k == "policy_id"}
    project = store.projects.update(dataclasses.replace(
        project, state={**project.state, POLICY_FILLS_KEY: {**old, "fixed": {}, "defaults": {}}}))
    run = _backfilled_purged_run(store, secrets, emulator, gateway, project)
    assert run.cost is None
    # The collector's words for the same run: not silently unpriced.
    assert "node type" in run.message and "cluster policy" in run.message and "gone" in run.message
