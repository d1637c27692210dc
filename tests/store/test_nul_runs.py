"""Text from outside with a NUL character in it (Databricks' JSON ``\\u0000``, a cloud's error): PostgreSQL
text columns cannot hold NUL (SQLite can), so a run whose cluster id held one failed its write, and the
collector's poll of the whole workspace with it, on PostgreSQL only. Every text column a row is made
with goes through one rule (`server.store.convert.storable_row`): NUL is stored as U+FFFD, alike on
both engines."""

from __future__ import annotations

import dataclasses

from server.domain import ClusterConfig, CostBreakdown, Project, Recommendation, Run, Workspace
from server.store import Store

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "r5d.2xlarge", "num_workers": 2}


def _project(store: Store) -> Project:
    return store.projects.add(Project(workspace="sbx", job_id=5, cluster_key="main", job_name="j",
                                      current_spec=SPEC, original_spec=SPEC))


def test_a_run_with_nul_in_its_cluster_id_message_and_cost_note_is_stored_on_both_engines(store: Store) -> None:
    project = _project(store)
    cost = CostBreakdown(total=1.0, note="bill said: no\x00rows")
    run = store.runs.add(Run(project_id=project.id or 0, databricks_run_id=7, cluster_id="1207-\x00abc", start_ms=0,
                             end_ms=60_000, runtime_s=60.0, outcome="failed", message="init: no\x00such package",
                             cost=cost))

    stored = store.runs.get(run.id or 0)
    assert (stored.cluster_id, stored.message) == ("1207-\ufffdabc", "init: no\ufffdsuch package")
    assert stored.cost is not None and stored.cost.note == "bill said: no\ufffdrows"

    # An update (a repair) and a new cost (a bill) are written by the same rule.
    store.runs.update(dataclasses.replace(stored, cluster_id="1208-\x00def", message="again\x00"))
    store.runs.set_cost(run.id or 0, dataclasses.replace(cost, note="billed\x00"))
    again = store.runs.get(run.id or 0)
    assert (again.cluster_id, again.message) == ("1208-\ufffddef", "again\ufffd")
    assert again.cost is not None and again.cost.note == "billed\ufffd"


def test_a_workspace_error_with_nul_is_recorded_on_both_engines(store: Store) -> None:
    store.workspaces.add(Workspace(name="prod", host="https://p", cloud="aws"), "tok", "creds")

    assert store.workspaces.set_status("prod", "ok", "job 12 (nul\x00name) not collected: no\x00access") is not None
    assert store.workspaces.get("prod").last_error == "job 12 (nul\ufffdname) not collected: no\ufffdaccess"
    assert store.workspaces.record_bill_read("prod", "creds", failed_at_ms=100, error="Access\x00Denied")
    assert store.workspaces.get("prod").bill_read_error == "Access\ufffdDenied"


def test_a_recommendation_reason_with_nul_is_stored_on_both_engines(store: Store) -> None:
    project = _project(store)
    rec = store.recommendations.add(Recommendation(project_id=project.id or 0, config=ClusterConfig("r5d.xlarge"),
                                                   reason="job nul\x00name ran slower"))
    assert store.recommendations.get(rec.id or 0).reason == "job nul\ufffdname ran slower"


def test_the_rule_rewrites_text_only() -> None:
    from server.store.convert import storable_row

    row = {"cluster_id": "a\x00b", "runtime_s": 1.5, "config": {"k": "v\x00"}, "setup_s": None}
    # JSON columns are stored as JSON text, where NUL is written \u0000: PostgreSQL's json type takes it.
    assert storable_row(row) == {"cluster_id": "a\ufffdb", "runtime_s": 1.5, "config": {"k": "v\x00"},
                                 "setup_s": None}
