"""`run show`'s ``billed`` line says whether a bill is still to come: not for a workspace without
billing credentials, a pool-backed cluster or a cost summed over several clusters (review revC F9)."""

from __future__ import annotations

import pytest

from server.costing.billing import NOTE_NO_CREDENTIALS, NOTE_NOT_LANDED
from server.costing.notes import NOTE_NO_BILL_FMT, NOTE_POOL
from server.costing.recost import several_clusters_note
from server.domain import CostBreakdown, Project, Run
from server.store import Store
from tests.cli.conftest import Trimtab

SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12"}


@pytest.mark.parametrize(("note", "said"), [
    (NOTE_NOT_LANDED, "no cloud bill yet: compute+storage are the estimate"),
    (f"{NOTE_NO_CREDENTIALS} (catalog 2026.11.24-1)",
     "no cloud credentials on the workspace: compute+storage stay the estimate"),
    (f"{NOTE_POOL} (catalog 2026.11.24-1)", "pool-backed cluster: its bill cannot be told apart"),
    (f"{NOTE_NOT_LANDED}; {several_clusters_note(2, 'repaired', billed=False)}",
     "summed over several clusters: not re-costed from a bill"),
    (NOTE_NO_BILL_FMT.format(settle_h=48), "no cloud bill found for the cluster: compute+storage stay the estimate"),
])
def test_the_billed_line_says_what_will_happen(trimtab: Trimtab, cli_store: Store, note: str, said: str) -> None:
    project = cli_store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="nightly",
                                             current_spec=SPEC, original_spec=SPEC))
    run = cli_store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=1, start_ms=1_700_000_000_000,
                                 runtime_s=600.0, cost=CostBreakdown(dbu_cost=1.0, compute_cost=2.0, total=3.0,
                                                                     note=note)))
    code, out, _ = trimtab("run", "show", str(run.id))
    assert code == 0
    (billed,) = [line for line in out.splitlines() if line.strip().startswith("billed")]
    assert said in billed
    if said.startswith("no cloud bill yet"):
        return
    assert "yet" not in billed  # nothing promises a bill that will not come
