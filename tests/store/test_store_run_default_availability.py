"""runs.config availability (0013): runs stored before the cloud's default availability was read record it
(SPOT_WITH_FALLBACK on AWS, ON_DEMAND on Azure) when their spec leaves it unset; runs whose spec names
one, on a pool, or of a workspace no longer known keep what they had; the spec is never touched, and
the downgrade puts back what the older code recorded (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from server.collect.collector import PRICED_ON_DEMAND_NOTE
from server.plan.candidates import config_id_of
from server.store import migrate, open_store
from tests.store.conftest import downgraded_to, seeded_at

BARE = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 4}
RUNS: list[tuple[str, dict[str, Any], str, int]] = [
    # (workspace, spec, availability recorded before 0013, its first_on_demand)
    ("aws-ws", BARE, "", 0),
    ("aws-ws", {**BARE, "aws_attributes": {"zone_id": "auto", "first_on_demand": 2}}, "", 2),
    ("aws-ws", {**BARE, "aws_attributes": {"availability": "ON_DEMAND"}}, "ON_DEMAND", 1),
    ("aws-ws", {**BARE, "instance_pool_id": "p-1"}, "", 0),
    ("az-ws", {**BARE, "node_type_id": "Standard_D4ds_v5"}, "", 0),
    ("gone-ws", BARE, "", 0),
]


def _seed(conn: sa.Connection) -> list[int]:
    for name, cloud in (("aws-ws", "aws"), ("az-ws", "azure")):
        conn.execute(sa.text(
            "INSERT INTO workspaces (name, host, cloud, plan, region, token_encrypted, token_masked, status, "
            "last_error, created_at_ms, auto_import) VALUES "
            f"('{name}', 'https://{name}', '{cloud}', 'premium', '', 'x', '', 'ok', '', 5, false)"))
    projects = sa.table("projects", *(sa.column(c) for c in (
        "id", "workspace", "job_id", "cluster_key", "job_name", "phase", "orphaned", "detached", "created_at_ms")),
        sa.column("settings", sa.JSON()), sa.column("original_spec", sa.JSON()),
        sa.column("current_spec", sa.JSON()), sa.column("project_state", sa.JSON()))
    runs = sa.table("runs", *(sa.column(c) for c in (
        "project_id", "databricks_run_id", "cluster_id", "start_ms", "end_ms", "runtime_s", "outcome", "phase",
        "created_at_ms")), sa.column("anomalies", sa.JSON()), sa.column("config", sa.JSON()))
    pids = {}
    for i, name in enumerate(("aws-ws", "az-ws", "gone-ws")):
        conn.execute(projects.insert().values(
            workspace=name, job_id=40 + i, cluster_key="main", job_name="etl", phase="learning", orphaned=False,
            detached=False, created_at_ms=5, settings={}, original_spec={}, current_spec={}, project_state={}))
        pids[name] = int(conn.execute(sa.text(f"SELECT id FROM projects WHERE job_id = {40 + i}")).scalar_one())
    for n, (workspace, spec, availability, first) in enumerate(RUNS):
        config = {"node_type_id": spec["node_type_id"], "driver_node_type_id": "", "num_workers": 4,
                  "autoscale_min": 0, "autoscale_max": 0, "availability": availability, "first_on_demand": first,
                  "ebs_volume_type": "", "ebs_volume_count": 0, "ebs_volume_size_gb": 0,
                  "spark_version": spec["spark_version"], "spec": spec}
        conn.execute(runs.insert().values(
            project_id=pids[workspace], databricks_run_id=900 + n, cluster_id="c-1", start_ms=1000 + n,
            end_ms=2000 + n, runtime_s=1.0, outcome="succeeded", phase="learning", created_at_ms=5, anomalies=[],
            config=config))
    # Costs as the older code stored them: each worker on demand.
    for n, note in ((0, ""), (2, "estimate"), (4, "")):
        run_id = int(conn.execute(sa.text(f"SELECT id FROM runs WHERE databricks_run_id = {900 + n}")).scalar_one())
        conn.execute(sa.text(
            "INSERT INTO run_costs (run_id, dbu_cost, compute_cost, storage_cost, total, dbus, currency, source, "
            f"used_by_models, note) VALUES ({run_id}, 0.1, 0.2, 0.01, 0.31, 1.0, 'USD', 'estimate', 'estimate', "
            f"'{note}')"))
    return [pids[w] for w in ("aws-ws", "az-ws", "gone-ws")]


def _configs(store: Any, pids: list[int]) -> list[tuple[str, int]]:
    runs = sorted((r for pid in pids for r in store.runs.history(pid)), key=lambda r: r.databricks_run_id)
    return [(r.config.availability, r.config.first_on_demand) for r in runs]


def test_upgrade_from_0012_records_the_clouds_default_and_downgrade_takes_it_back(db_url: str) -> None:
    pids = seeded_at(db_url, "0012", _seed)
    store = open_store(db_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        assert _configs(store, pids) == [
            ("SPOT_WITH_FALLBACK", 1),  # AWS, nothing set: the backend default
            ("SPOT_WITH_FALLBACK", 2),  # the first_on_demand the spec sets stays
            ("ON_DEMAND", 1),  # named in the spec: as it was
            ("", 0),  # a pool decides
            ("ON_DEMAND", 1),  # Azure's default
            ("", 0),  # no workspace left to say the cloud
        ]
        first = store.runs.history(pids[0])[0]
        assert first.config is not None and first.config.spec == BARE  # the spec as the run had it
        assert config_id_of(first.config) == "m5d.xlargex4-spot"
        # Its cost, priced with on-demand workers, is kept and says so (the collector prices it again
        # while the cluster's events are there); costs of runs whose reading did not change are untouched.
        assert first.cost is not None and first.cost.total == 0.31 and first.cost.note == PRICED_ON_DEMAND_NOTE
        notes = {r.databricks_run_id: r.cost.note for pid in pids for r in store.runs.history(pid) if r.cost}
        assert notes == {900: PRICED_ON_DEMAND_NOTE, 902: "estimate", 904: ""}
    finally:
        store.close()
    engine = downgraded_to(db_url, "0012")
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT databricks_run_id, config FROM runs ORDER BY databricks_run_id")).all()
        got = [(_json(c)["availability"], _json(c)["first_on_demand"]) for _, c in rows]
        assert got == [(a, f) for _, _, a, f in RUNS]
        with engine.connect() as conn:
            notes = conn.execute(sa.text("SELECT note FROM run_costs ORDER BY run_id")).scalars().all()
        assert notes == ["", "estimate", ""]
    finally:
        engine.dispose()


def _json(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else value
