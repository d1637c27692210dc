"""`--json` has every field, zeros included, and 64-bit numbers as numbers (review rev15a finding 3).

Protobuf's JSON left out every field at its default: an unpriced run's timeline cost 0 was missing,
an empty savings report printed only {"currency": "USD", "waiting": []}, and int64 ids came out as strings.
"""

from __future__ import annotations

import json

from server.domain import ClusterConfig, CostBreakdown, Project, Run
from server.store import Store
from tests.cli.conftest import NIGHTLY_SPEC, Trimtab

START_MS = 1_796_000_000_000


def _runs(store: Store, project: Project) -> None:
    config = ClusterConfig(node_type_id="m5.xlarge", num_workers=4, spec=NIGHTLY_SPEC)
    store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=9_007_199_254_740_000,
                       start_ms=START_MS, end_ms=START_MS + 600_000, runtime_s=600.0, config=config,
                       cost=CostBreakdown(total=1.5, dbus=2.0)))
    store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=7, start_ms=START_MS + 86_400_000,
                       end_ms=START_MS + 86_400_000 + 600_000, runtime_s=600.0, config=config))  # unpriced


def test_an_unpriced_run_reads_cost_0_marked_unpriced_and_ids_are_numbers(trimtab: Trimtab, cli_store: Store,
                                                                         nightly: Project) -> None:
    _runs(cli_store, nightly)
    code, out, _ = trimtab("--json", "timeline", str(nightly.id))
    assert code == 0
    points = json.loads(out)["points"]
    assert [p["cost"] for p in points] == [1.5, 0.0]
    assert "unpriced" in points[1]["anomalies"] and "unpriced" not in points[0]["anomalies"]
    assert points[0]["start_time_ms"] == START_MS  # a number, not "1796000000000"
    code, out, _ = trimtab("--json", "run", "list", str(nightly.id))
    runs = json.loads(out)["runs"]
    assert [r["databricks_run_id"] for r in runs] == [7, 9_007_199_254_740_000]
    assert "cost" not in runs[0] and runs[1]["cost"]["total"] == 1.5  # unset: unknown, not free
    assert runs[0]["anomalies"] == [] and runs[0]["recommendation_id"] == ""


def test_an_empty_savings_report_has_its_totals(trimtab: Trimtab, nightly: Project) -> None:
    code, out, _ = trimtab("--json", "savings")
    assert code == 0
    assert json.loads(out) == {"projects": [], "total_saved_to_date": 0.0, "total_projected_annual": 0.0,
                               "currency": "USD", "waiting": []}
