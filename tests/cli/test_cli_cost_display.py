"""`run show` prints the whole cost breakdown; `recommendation show` the storage advice and projected saving."""

from __future__ import annotations

import json

import pytest

from server.domain import ClusterConfig, CostBreakdown, Project, Recommendation, Run
from server.store import Store
from tests.cli.conftest import Trimtab

SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12"}
ESTIMATE = CostBreakdown(dbu_cost=3.25, compute_cost=2.5, storage_cost=0.75, total=6.5, dbus=5.0,
                         source="estimate", used_by_models="estimate", cost_per_input_gb=0.65,
                         note="cloud bill not available yet (billing lags by hours)")
BILLED = CostBreakdown(dbu_cost=3.25, compute_cost=2.5, storage_cost=0.75, total=6.85, dbus=5.0,
                       source="billed", used_by_models="billed", billed_cloud_cost=3.6, cost_per_input_gb=0.685,
                       note="compute+storage from the cloud bill")


@pytest.fixture
def project(cli_store: Store) -> Project:
    return cli_store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="nightly",
                                          current_spec=SPEC, original_spec=SPEC))


def _run(store: Store, project: Project, n: int, cost: CostBreakdown) -> Run:
    return store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=n, start_ms=1_700_000_000_000,
                              runtime_s=600.0, input_bytes=10 * 10**9, cost=cost,
                              config=ClusterConfig(node_type_id="m5.xlarge", num_workers=4, spec=SPEC)))


def _line(out: str, start: str) -> str:
    (found,) = [line for line in out.splitlines() if line.strip().startswith(start)]
    return found


def test_run_show_prints_parts_estimate_against_bill_and_cost_per_gb(trimtab: Trimtab, project: Project,
                                                                     cli_store: Store) -> None:
    estimated = _run(cli_store, project, 1, ESTIMATE)
    code, out, _ = trimtab("run", "show", str(estimated.id))
    assert code == 0
    assert "cost $6.50 (estimate; models learn from the estimate)" in out
    assert "3.25" in _line(out, "DBU") and "5.00 DBU" in _line(out, "DBU")
    assert "2.50" in _line(out, "compute") and "0.75" in _line(out, "storage")
    assert "no cloud bill yet" in _line(out, "billed")
    assert "$0.6500" in _line(out, "per input GB")
    assert "billing lags" in _line(out, "note:")

    billed = _run(cli_store, project, 2, BILLED)
    code, out, _ = trimtab("run", "show", str(billed.id))
    assert code == 0 and "cost $6.85 (billed; models learn from the bill)" in out
    bill = _line(out, "billed")
    assert "3.60" in bill and "estimate 3.25" in bill and "+0.35" in bill
    assert "$0.6850" in _line(out, "per input GB")
    code, out, _ = trimtab("--json", "run", "show", str(billed.id))
    cost = json.loads(out)["cost"]
    assert (cost["billed_cloud_cost"], cost["used_by_models"], cost["source"]) == (3.6, "billed", "billed")


def test_recommendation_show_prints_storage_advice_and_projected_saving(trimtab: Trimtab, project: Project,
                                                                        cli_store: Store) -> None:
    pid = int(project.id or 0)
    cli_store.recommendations.add(Recommendation(
        project_id=pid, config=ClusterConfig(node_type_id="r5.xlarge", num_workers=3), reason="less memory spill",
        storage_advice="gp2 -> gp3: same throughput for 20% less", projected_monthly_saving=123.456,
        predicted_cost=0.4321, cost_interval=(0.3, 0.61)))
    code, out, _ = trimtab("recommendation", "show", str(pid))
    assert code == 0
    assert "$0.43/run, 90% interval [$0.30, $0.61]" in _line(out, "cost:")
    assert "gp2 -> gp3: same throughput for 20% less" in _line(out, "storage:")
    assert "$123.46 per month (projected, disks only)" in _line(out, "storage saving:")

    cli_store.recommendations.add(Recommendation(project_id=pid, config=ClusterConfig(node_type_id="r5.xlarge",
                                                                                      num_workers=2)))
    code, out, _ = trimtab("recommendation", "show", str(pid))
    assert code == 0 and "r5.xlarge x 2 workers" in out and "storage:" not in out and "saving:" not in out
