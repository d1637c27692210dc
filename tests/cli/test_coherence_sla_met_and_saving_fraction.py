"""What docs/operations.md and the tables say, a script reads too (review "coherence"), through the real
CLI and gRPC server:

- `project list` has the "SLA met" column the docs name (only `--json` carried sla_met_fraction);
- `savings --json` carries the saving the SAVING column shows (`saving_fraction`): a script computing
  1 - now/before read 2% for a project whose owner edited the cluster, where the table said 0%."""

from __future__ import annotations

import json

import pytest

from server.domain import ClusterConfig, CostBreakdown, Project, ProjectSettings, Recommendation, Run
from server.store import Store
from tests.cli.conftest import Trimtab

SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12"}
DAY_MS = 86_400_000


def _cost(total: float) -> CostBreakdown:
    return CostBreakdown(dbu_cost=total / 2, compute_cost=total / 2, total=total, dbus=total)


def _project(store: Store, job_id: int, sla: float | None) -> Project:
    return store.projects.add(Project(workspace="prod", job_id=job_id, cluster_key="main", job_name=f"job{job_id}",
                                      current_spec=SPEC, original_spec=SPEC, created_at_ms=1,
                                      settings=ProjectSettings(sla_seconds=sla)))


def _runs(store: Store, project: Project, edited: bool) -> None:
    """Three runs as found ($1.00), three of a recommendation ($0.80), then, when ``edited``, a run
    of a cluster the owner set outside Trimtab ($0.98: 2% under as found, and no saving of Trimtab's)."""
    pid = int(project.id or 0)
    rec = store.recommendations.add(Recommendation(project_id=pid, config=ClusterConfig(node_type_id="m5.xlarge",
                                                                                       num_workers=3)))
    found = ClusterConfig(node_type_id="m5.xlarge", num_workers=4, spec=SPEC)
    tuned = ClusterConfig(node_type_id="m5.xlarge", num_workers=3, spec={**SPEC, "num_workers": 3})
    owners = ClusterConfig(node_type_id="r5.2xlarge", num_workers=9,
                           spec={**SPEC, "node_type_id": "r5.2xlarge", "num_workers": 9})
    plan: list[tuple[ClusterConfig, float, float, int | None, tuple[str, ...]]] = [
        (found, 1.0, 600.0, None, ()), (found, 1.0, 800.0, None, ()), (found, 1.0, 600.0, None, ()),
        (tuned, 0.8, 650.0, rec.id, ()), (tuned, 0.8, 650.0, rec.id, ()), (tuned, 0.8, 650.0, rec.id, ())]
    if edited:
        plan.append((owners, 0.98, 500.0, rec.id, ("user_edit",)))
    for n, (config, cost, runtime, rec_id, anomalies) in enumerate(plan, start=1):
        start = 1_700_000_000_000 + n * DAY_MS
        store.runs.add(Run(project_id=pid, databricks_run_id=n, start_ms=start, end_ms=start + int(runtime * 1000),
                           runtime_s=runtime, cost=_cost(cost), config=config, recommendation_id=rec_id,
                           anomalies=anomalies))


@pytest.fixture
def projects(cli_store: Store) -> tuple[Project, Project]:
    edited, tuned = _project(cli_store, 1, 700.0), _project(cli_store, 2, None)
    _runs(cli_store, edited, edited=True)
    _runs(cli_store, tuned, edited=False)
    return edited, tuned


def test_project_list_shows_the_share_of_runs_that_met_the_sla(trimtab: Trimtab,
                                                              projects: tuple[Project, Project]) -> None:
    edited, tuned = projects
    code, out, err = trimtab("--json", "project", "list")
    assert code == 0, err
    fractions = {p["id"]: p.get("sla_met_fraction") for p in json.loads(out)}
    assert fractions == {str(edited.id): pytest.approx(6 / 7), str(tuned.id): None}  # no SLA: none judged
    code, out, err = trimtab("project", "list")
    assert code == 0, err
    header, *rows = out.splitlines()
    assert "SLA MET" in header
    met = header.index("SLA MET")
    cells = {row.split()[0]: row[met:].split()[0] for row in rows if row.split()[0].isdigit()}
    assert cells == {str(edited.id): "86%", str(tuned.id): "-"}


def test_savings_json_carries_the_saving_the_table_shows(trimtab: Trimtab, projects: tuple[Project, Project]) -> None:
    edited, tuned = projects
    code, out, err = trimtab("--json", "savings")
    assert code == 0, err
    rows = {p["project_id"]: p for p in json.loads(out)["projects"]}
    mine, trimtabs = rows[str(edited.id)], rows[str(tuned.id)]
    assert mine["current_source"] == "user_edit"
    assert 1 - mine["current_cost_per_run"] / mine["baseline_cost_per_run"] == pytest.approx(0.02)
    assert mine["saving_fraction"] == 0.0  # the owner's cluster is no saving of Trimtab's
    assert trimtabs["saving_fraction"] == pytest.approx(0.2)
    code, out, err = trimtab("savings")
    assert code == 0, err
    ids = {str(edited.id), str(tuned.id)}
    saving = {line.split()[0]: line.split()[4] for line in out.splitlines() if line.split()[:1] and line.split()[0] in ids}
    assert saving == {str(edited.id): "0%", str(tuned.id): "20%"}
